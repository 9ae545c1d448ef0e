//! Dense symbol ids in byte-wise sorted order of their names: the one
//! place where "sums over maps run in sorted key order" (SPEC §0) is turned
//! into a permutation, once at start-up.
//!
//! Hot path: [`SymbolOrder::sum`] allocates nothing.

use super::SymbolId;

/// Dense symbol ids listed in byte-wise sorted order of their names.
///
/// Built once at start-up from the interned names; stages that sum over
/// symbols "in sorted order" (SPEC §0) iterate this permutation instead of
/// sorting strings per cycle. Shared by sizing, the risk guardrails and the
/// paper broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolOrder {
    sorted: Box<[SymbolId]>,
}

/// Why a list of ids is not a permutation of `0..n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolOrderError {
    #[error("symbol id {id} appears twice in the sorted order: each id 0..{len} must appear once")]
    Duplicate { id: u16, len: usize },
    #[error("symbol id {id} is out of range: the sorted order has {len} ids, so ids must be below {len}")]
    OutOfRange { id: u16, len: usize },
    #[error("{len} symbols: at most 65536 fit a dense SymbolId")]
    TooMany { len: usize },
}

impl SymbolOrder {
    /// The order of `names`, where `names[i]` is the symbol with id `i`
    /// (caller order). Cold path: sorts once.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<SymbolOrder, SymbolOrderError> {
        if names.len() > usize::from(u16::MAX) + 1 {
            return Err(SymbolOrderError::TooMany { len: names.len() });
        }
        let mut ids: Vec<usize> = (0..names.len()).collect();
        ids.sort_by(|&a, &b| {
            names[a]
                .as_ref()
                .as_bytes()
                .cmp(names[b].as_ref().as_bytes())
        });
        Ok(SymbolOrder {
            sorted: ids.into_iter().map(|i| SymbolId(i as u16)).collect(),
        })
    }

    /// An order given directly as ids; must be a permutation of `0..len`.
    pub fn from_sorted_ids(ids: &[SymbolId]) -> Result<SymbolOrder, SymbolOrderError> {
        let len = ids.len();
        if len > usize::from(u16::MAX) + 1 {
            return Err(SymbolOrderError::TooMany { len });
        }
        let mut seen = vec![false; len];
        for id in ids {
            let slot = seen
                .get_mut(id.index())
                .ok_or(SymbolOrderError::OutOfRange { id: id.0, len })?;
            if *slot {
                return Err(SymbolOrderError::Duplicate { id: id.0, len });
            }
            *slot = true;
        }
        Ok(SymbolOrder { sorted: ids.into() })
    }

    /// Number of symbols.
    #[inline]
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether there are no symbols.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Ids in byte-wise sorted order of their names.
    #[inline]
    pub fn ids(&self) -> &[SymbolId] {
        &self.sorted
    }

    /// `Σ f(id)` over every symbol, added left to right in sorted order,
    /// starting from `0.0`.
    #[inline]
    pub fn sum(&self, mut f: impl FnMut(SymbolId) -> f64) -> f64 {
        let mut total = 0.0;
        for &id in self.sorted.iter() {
            total += f(id);
        }
        total
    }
}
