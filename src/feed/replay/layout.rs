//! The two CSV layouts replay reads, recognised from the header line, and
//! the parsing of one data row into typed values.
//!
//! Feed thread. Per row: no allocation (fields are borrowed slices of the
//! caller's line buffer), numbers parsed with `str::parse`.

use std::fmt;

/// The quotes header, exactly as the first line of a quotes file reads.
pub const QUOTES_HEADER: &str = "symbol,ts_utc_ns,bid,bid_size,ask,ask_size";
/// The bars header, exactly as the first line of a bars file reads.
pub const BARS_HEADER: &str = "symbol,ts_utc_ns,open,high,low,close,volume";

const QUOTES_COLUMNS: [&str; 6] = ["symbol", "ts_utc_ns", "bid", "bid_size", "ask", "ask_size"];
const BARS_COLUMNS: [&str; 7] = [
    "symbol",
    "ts_utc_ns",
    "open",
    "high",
    "low",
    "close",
    "volume",
];

/// Most fields a row of any layout has.
const MAX_FIELDS: usize = 7;

/// Which of the two layouts a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `symbol,ts_utc_ns,bid,bid_size,ask,ask_size`; ts = quote time.
    Quotes,
    /// `symbol,ts_utc_ns,open,high,low,close,volume`; ts = bar start.
    Bars,
}

impl Layout {
    /// The column names, in file order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Quotes => &QUOTES_COLUMNS,
            Layout::Bars => &BARS_COLUMNS,
        }
    }

    /// The header line.
    pub fn header(self) -> &'static str {
        match self {
            Layout::Quotes => QUOTES_HEADER,
            Layout::Bars => BARS_HEADER,
        }
    }

    /// The layout a header line names: the column names in order, compared
    /// without surrounding blanks and without regard to ASCII case; `None`
    /// for anything else. A leading UTF-8 byte-order mark and a trailing
    /// `\r` are ignored.
    pub fn detect(header: &str) -> Option<Layout> {
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        let header = header.trim_end_matches(['\r', '\n']);
        [Layout::Quotes, Layout::Bars].into_iter().find(|layout| {
            let mut names = header.split(',');
            layout.columns().iter().all(|c| {
                names
                    .next()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(c))
            }) && names.next().is_none()
        })
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Quotes => "quotes",
            Layout::Bars => "bars",
        })
    }
}

/// Why a row was rejected before it became an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowFault {
    /// The row has `found` comma-separated fields; the layout has `expected`.
    FieldCount { found: usize, expected: usize },
    /// The named column does not parse (an integer for `ts_utc_ns`, a
    /// decimal number for the others; an empty field is a parse failure).
    BadField { column: &'static str },
    /// `ts_utc_ns` is zero or negative.
    NonPositiveTime,
    /// `ts_utc_ns` plus the bar length does not fit in `u64` nanoseconds.
    TimeOverflow,
    /// The line is not valid UTF-8.
    NotUtf8,
    /// The line is longer than `limit` bytes (the rest of it is skipped).
    TooLong { limit: usize },
}

impl fmt::Display for RowFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RowFault::FieldCount { found, expected } => {
                write!(f, "{found} fields, expected {expected}")
            }
            RowFault::BadField { column } => write!(f, "{column} does not parse"),
            RowFault::NonPositiveTime => f.write_str("ts_utc_ns is zero or negative"),
            RowFault::TimeOverflow => f.write_str("ts_utc_ns + bar length overflows"),
            RowFault::NotUtf8 => f.write_str("the line is not UTF-8"),
            RowFault::TooLong { limit } => write!(f, "the line is longer than {limit} bytes"),
        }
    }
}

/// The comma-separated fields of one row, borrowed from the line.
pub struct Fields<'a> {
    fields: [&'a str; MAX_FIELDS],
    count: usize,
}

impl<'a> Fields<'a> {
    /// Splits `line` (no line terminator) into exactly `layout`'s fields,
    /// each trimmed of surrounding blanks.
    pub fn split(line: &'a str, layout: Layout) -> Result<Fields<'a>, RowFault> {
        let expected = layout.columns().len();
        let mut fields = [""; MAX_FIELDS];
        let mut found = 0;
        let mut start = 0;
        // One byte scan: `str::split(',')` costs a `memchr` and a `memcmp`
        // call per field, a third of the replay's time on short rows.
        // Slicing at an ASCII comma keeps UTF-8 boundaries.
        let bytes = line.as_bytes();
        for end in (0..bytes.len())
            .filter(|&i| bytes.get(i) == Some(&b','))
            .chain([bytes.len()])
        {
            if let Some(slot) = fields.get_mut(found) {
                *slot = line.get(start..end).unwrap_or("").trim_ascii();
            }
            found += 1;
            start = end + 1;
        }
        if found != expected {
            return Err(RowFault::FieldCount { found, expected });
        }
        Ok(Fields {
            fields,
            count: found,
        })
    }

    /// The symbol field.
    #[inline]
    pub fn symbol(&self) -> &'a str {
        self.fields[0]
    }

    /// The timestamp field as positive nanoseconds.
    pub fn time(&self) -> Result<u64, RowFault> {
        let ts: i64 = self.fields[1].parse().map_err(|_| RowFault::BadField {
            column: "ts_utc_ns",
        })?;
        if ts <= 0 {
            return Err(RowFault::NonPositiveTime);
        }
        Ok(ts.unsigned_abs())
    }

    /// The numeric fields after the timestamp (4 for quotes, 5 for bars),
    /// parsed into `out`; NaN and infinities parse (they are checked
    /// downstream, not rejected here).
    pub fn values(&self, layout: Layout, out: &mut [f64; 5]) -> Result<(), RowFault> {
        let columns = layout.columns();
        for i in 2..self.count {
            let column = columns.get(i).copied().unwrap_or("?");
            let value = self.fields[i]
                .parse::<f64>()
                .map_err(|_| RowFault::BadField { column })?;
            if let Some(slot) = out.get_mut(i - 2) {
                *slot = value;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_detected_with_bom_crlf_blanks_and_case() {
        assert_eq!(Layout::detect(QUOTES_HEADER), Some(Layout::Quotes));
        assert_eq!(Layout::detect(BARS_HEADER), Some(Layout::Bars));
        assert_eq!(
            Layout::detect("\u{feff}Symbol, TS_UTC_NS ,bid,bid_size,ask,ask_size\r\n"),
            Some(Layout::Quotes)
        );
        assert_eq!(Layout::detect("symbol,ts_utc_ns,bid,bid_size,ask"), None);
        assert_eq!(
            Layout::detect("symbol,ts_utc_ns,open,high,low,close,volume,extra"),
            None
        );
        assert_eq!(Layout::detect("SPY,1,2,3,4,5"), None);
        assert_eq!(Layout::detect(""), None);
    }

    #[test]
    fn rows_split_and_parse() {
        let f = Fields::split("SPY, 1000 ,1.5,100,1.6,200", Layout::Quotes).unwrap();
        assert_eq!(f.symbol(), "SPY");
        assert_eq!(f.time(), Ok(1000));
        let mut v = [0.0; 5];
        f.values(Layout::Quotes, &mut v).unwrap();
        assert_eq!(v[..4], [1.5, 100.0, 1.6, 200.0]);

        let f = Fields::split("SPY,5,1,2,0.5,1.5,NaN", Layout::Bars).unwrap();
        f.values(Layout::Bars, &mut v).unwrap();
        assert_eq!(v[..4], [1.0, 2.0, 0.5, 1.5]);
        assert!(v[4].is_nan());
    }

    #[test]
    fn bad_rows_name_the_fault() {
        assert_eq!(
            Fields::split("SPY,1,2,3", Layout::Quotes).err(),
            Some(RowFault::FieldCount {
                found: 4,
                expected: 6
            })
        );
        assert_eq!(
            Fields::split("a,b,c,d,e,f,g,h,i", Layout::Bars).err(),
            Some(RowFault::FieldCount {
                found: 9,
                expected: 7
            })
        );
        let f = Fields::split("SPY,12x,1,1,1,1", Layout::Quotes).unwrap();
        assert_eq!(
            f.time(),
            Err(RowFault::BadField {
                column: "ts_utc_ns"
            })
        );
        let f = Fields::split("SPY,-5,1,1,1,1", Layout::Quotes).unwrap();
        assert_eq!(f.time(), Err(RowFault::NonPositiveTime));
        let f = Fields::split("SPY,0,1,1,1,1", Layout::Quotes).unwrap();
        assert_eq!(f.time(), Err(RowFault::NonPositiveTime));
        let f = Fields::split("SPY,99999999999999999999,1,1,1,1", Layout::Quotes).unwrap();
        assert_eq!(
            f.time(),
            Err(RowFault::BadField {
                column: "ts_utc_ns"
            })
        );
        let f = Fields::split("SPY,5,1,,1,1", Layout::Quotes).unwrap();
        let mut v = [0.0; 5];
        assert_eq!(
            f.values(Layout::Quotes, &mut v),
            Err(RowFault::BadField { column: "bid_size" })
        );
    }
}
