//! The replay's symbol table: names given at start-up interned as dense
//! [`SymbolId`]s (id = position in the list), and the per-name tally of rows
//! whose symbol is not in the list.
//!
//! Feed thread. Resolving a known name allocates nothing; the first row of
//! an unknown name allocates its entry and logs one warning.

use std::collections::HashMap;
use std::path::Path;

use super::ReplayError;
use crate::types::SymbolId;

/// A symbol seen in the data but not in the replay's symbol list: its rows
/// are skipped and counted here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSymbol {
    /// The symbol as it appears in the file.
    pub name: String,
    /// Rows skipped for it, over all files.
    pub rows: u64,
    /// Where it first appeared: the file's index in the replay's path list
    /// and the 1-based line number (the header is line 1).
    pub first_file: usize,
    pub first_line: u64,
}

/// Known names → ids, and the unknown-name tally.
pub(super) struct SymbolTable {
    names: Vec<String>,
    ids: HashMap<String, SymbolId>,
    /// The id of the last name resolved: files usually repeat one symbol
    /// for many rows, so most lookups are one string comparison.
    last: Option<SymbolId>,
    unknown: Vec<UnknownSymbol>,
    unknown_ids: HashMap<String, usize>,
    last_unknown: Option<usize>,
}

impl SymbolTable {
    /// Interns `symbols`; id = index. Empty, duplicate or too many names are
    /// errors.
    pub fn new(symbols: &[String]) -> Result<SymbolTable, ReplayError> {
        if symbols.is_empty() {
            return Err(ReplayError::NoSymbols);
        }
        if symbols.len() > usize::from(u16::MAX) + 1 {
            return Err(ReplayError::TooManySymbols(symbols.len()));
        }
        let mut ids = HashMap::with_capacity(symbols.len());
        for (i, name) in symbols.iter().enumerate() {
            let id = SymbolId(u16::try_from(i).map_err(|_| ReplayError::TooManySymbols(i))?);
            if ids.insert(name.clone(), id).is_some() {
                return Err(ReplayError::DuplicateSymbol(name.clone()));
            }
        }
        Ok(SymbolTable {
            names: symbols.to_vec(),
            ids,
            last: None,
            unknown: Vec::new(),
            unknown_ids: HashMap::new(),
            last_unknown: None,
        })
    }

    /// The names, in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of a known name.
    #[inline]
    pub fn resolve(&mut self, name: &str) -> Option<SymbolId> {
        if let Some(id) = self.last {
            if self.names.get(id.index()).is_some_and(|n| n == name) {
                return Some(id);
            }
        }
        let id = self.ids.get(name).copied()?;
        self.last = Some(id);
        Some(id)
    }

    /// Counts one row of an unknown name; the first row of each name is
    /// logged with its file and line.
    pub fn note_unknown(&mut self, name: &str, file_index: usize, path: &Path, line: u64) {
        if let Some(entry) = self.last_unknown.and_then(|i| self.unknown.get_mut(i)) {
            if entry.name == name {
                entry.rows += 1;
                return;
            }
        }
        if let Some(&i) = self.unknown_ids.get(name) {
            if let Some(entry) = self.unknown.get_mut(i) {
                entry.rows += 1;
            }
            self.last_unknown = Some(i);
            return;
        }
        log::warn!(
            "{}:{line}: symbol {name:?} is not among the replay's symbols; \
             its rows are skipped (add it to --symbols to replay it)",
            path.display()
        );
        let i = self.unknown.len();
        self.unknown.push(UnknownSymbol {
            name: name.to_owned(),
            rows: 1,
            first_file: file_index,
            first_line: line,
        });
        self.unknown_ids.insert(name.to_owned(), i);
        self.last_unknown = Some(i);
    }

    /// Unknown names in order of first appearance.
    pub fn unknown(&self) -> &[UnknownSymbol] {
        &self.unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ids_are_positions_and_unknowns_are_tallied_per_name() {
        let mut t = SymbolTable::new(&names(&["SPY", "QQQ"])).unwrap();
        assert_eq!(t.resolve("QQQ"), Some(SymbolId(1)));
        assert_eq!(t.resolve("QQQ"), Some(SymbolId(1)));
        assert_eq!(t.resolve("SPY"), Some(SymbolId(0)));
        assert_eq!(t.resolve("IWM"), None);
        let p = Path::new("f.csv");
        t.note_unknown("IWM", 0, p, 2);
        t.note_unknown("IWM", 0, p, 3);
        t.note_unknown("DIA", 1, p, 7);
        t.note_unknown("IWM", 1, p, 9);
        assert_eq!(
            t.unknown(),
            &[
                UnknownSymbol {
                    name: "IWM".into(),
                    rows: 3,
                    first_file: 0,
                    first_line: 2
                },
                UnknownSymbol {
                    name: "DIA".into(),
                    rows: 1,
                    first_file: 1,
                    first_line: 7
                }
            ]
        );
    }

    #[test]
    fn empty_and_duplicate_lists_are_refused() {
        assert!(matches!(SymbolTable::new(&[]), Err(ReplayError::NoSymbols)));
        assert!(matches!(
            SymbolTable::new(&names(&["SPY", "SPY"])),
            Err(ReplayError::DuplicateSymbol(s)) if s == "SPY"
        ));
    }
}
