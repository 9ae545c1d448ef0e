//! The RFC 3339 timestamp parser for Alpaca's `t` fields: bytes in,
//! [`Nanos`] since the Unix epoch out, hand-written (no chrono, no string
//! allocation).
//!
//! Runs on the feed thread inside [`super::AlpacaDecoder::decode`]. Hot path:
//! no allocation, no blocking, no logging.
//!
//! # Accepted form
//!
//! `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`, nothing before or after it:
//!
//! - `T` may be written `t`, `Z` may be written `z`;
//! - the fraction has 1 to 9 digits (nanosecond resolution; a tenth digit is
//!   rejected rather than silently rounded);
//! - the calendar date must exist (month 1–12, day within the month, Feb 29
//!   only in leap years), hour 0–23, minute and second 0–59 (no leap second
//!   `:60`: the exchanges never send one), offset hour 0–23 and minute 0–59;
//! - the instant, after applying the offset, must lie between
//!   1970-01-01T00:00:00Z and the end of `u64` nanoseconds (2554-07-21).
//!
//! Anything else is `None`.

use crate::types::Nanos;

/// Length of `YYYY-MM-DDTHH:MM:SS`.
const BASE_LEN: usize = 19;
/// Most fraction digits accepted (nanoseconds).
const MAX_FRACTION_DIGITS: usize = 9;
const SECS_PER_DAY: i64 = 86_400;

/// The instant an RFC 3339 timestamp names, as nanoseconds since the Unix
/// epoch; `None` for anything outside the accepted form (see the module doc).
///
/// ```
/// use live_trading::feed::alpaca::parse_rfc3339;
/// use live_trading::types::Nanos;
///
/// assert_eq!(
///     parse_rfc3339(b"1970-01-01T00:00:01.5Z"),
///     Some(Nanos(1_500_000_000))
/// );
/// assert_eq!(
///     parse_rfc3339(b"1970-01-01T01:00:00+01:00"),
///     Some(Nanos(0))
/// );
/// assert_eq!(parse_rfc3339(b"2021-02-29T00:00:00Z"), None);
/// ```
pub fn parse_rfc3339(bytes: &[u8]) -> Option<Nanos> {
    let (base, rest) = bytes.split_at_checked(BASE_LEN)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, sep, h0, h1, b':', i0, i1, b':', s0, s1] =
        *base
    else {
        return None;
    };
    if sep != b'T' && sep != b't' {
        return None;
    }
    let year = digits4(y0, y1, y2, y3)?;
    let month = digits2(m0, m1)?;
    let day = digits2(d0, d1)?;
    let hour = digits2(h0, h1)?;
    let minute = digits2(i0, i1)?;
    let second = digits2(s0, s1)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let (fraction, zone) = split_fraction(rest)?;
    let offset_secs = parse_zone(zone)?;

    let days = days_from_civil(year, month, day);
    let local = days * SECS_PER_DAY + i64::from(hour) * 3600 + i64::from(minute) * 60;
    let utc = local + i64::from(second) - offset_secs;
    let utc = u64::try_from(utc).ok()?;
    utc.checked_mul(Nanos::PER_SEC)?
        .checked_add(fraction)
        .map(Nanos)
}

/// The fraction in nanoseconds and the bytes after it. No fraction is `0`;
/// a dot must be followed by 1 to 9 digits.
fn split_fraction(rest: &[u8]) -> Option<(u64, &[u8])> {
    let Some((&b'.', after_dot)) = rest.split_first() else {
        return Some((0, rest));
    };
    let digits = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_FRACTION_DIGITS {
        return None;
    }
    let (frac, zone) = after_dot.split_at_checked(digits)?;
    let mut value: u64 = 0;
    for &b in frac {
        value = value * 10 + u64::from(b - b'0');
    }
    // Scale to nanoseconds: 1 digit = 10^8 ns ... 9 digits = 1 ns.
    for _ in digits..MAX_FRACTION_DIGITS {
        value *= 10;
    }
    Some((value, zone))
}

/// The zone designator as seconds east of UTC: `Z`/`z` is 0, `+HH:MM` is
/// positive, `-HH:MM` negative. Nothing may follow it.
fn parse_zone(zone: &[u8]) -> Option<i64> {
    match *zone {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h0, h1, b':', m0, m1] => {
            let hours = digits2(h0, h1)?;
            let minutes = digits2(m0, m1)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = i64::from(hours) * 3600 + i64::from(minutes) * 60;
            Some(if sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

#[inline]
fn digit(b: u8) -> Option<u32> {
    if b.is_ascii_digit() {
        Some(u32::from(b - b'0'))
    } else {
        None
    }
}

#[inline]
fn digits2(a: u8, b: u8) -> Option<u32> {
    Some(digit(a)? * 10 + digit(b)?)
}

#[inline]
fn digits4(a: u8, b: u8, c: u8, d: u8) -> Option<u32> {
    Some(digits2(a, b)? * 100 + digits2(c, d)?)
}

#[inline]
fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Days in `month` (1–12) of `year`.
#[inline]
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative
/// before it). Howard Hinnant's `days_from_civil`, for years 0–9999.
#[inline]
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<u64> {
        parse_rfc3339(s.as_bytes()).map(|n| n.0)
    }

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("1970-01-01t00:00:00z"), Some(0));
        assert_eq!(p("1970-01-02T00:00:00Z"), Some(86_400 * Nanos::PER_SEC));
        // 2021-02-22T15:51:44Z = 1614009104 s (date -d ... +%s).
        assert_eq!(
            p("2021-02-22T15:51:44.208Z"),
            Some(1_614_009_104 * Nanos::PER_SEC + 208_000_000)
        );
        assert_eq!(
            p("2021-02-22T10:51:44.000000001-05:00"),
            Some(1_614_009_104 * Nanos::PER_SEC + 1)
        );
        assert_eq!(
            p("2000-02-29T00:00:00Z"),
            Some(951_782_400 * Nanos::PER_SEC)
        );
    }

    #[test]
    fn fraction_digits_scale_to_nanoseconds() {
        assert_eq!(p("1970-01-01T00:00:00.1Z"), Some(100_000_000));
        assert_eq!(p("1970-01-01T00:00:00.12Z"), Some(120_000_000));
        assert_eq!(p("1970-01-01T00:00:00.123456789Z"), Some(123_456_789));
        assert_eq!(p("1970-01-01T00:00:00.1234567890Z"), None);
        assert_eq!(p("1970-01-01T00:00:00.Z"), None);
    }

    #[test]
    fn calendar_and_clock_limits() {
        assert_eq!(p("2023-13-01T00:00:00Z"), None);
        assert_eq!(p("2023-00-01T00:00:00Z"), None);
        assert_eq!(p("2023-04-31T00:00:00Z"), None);
        assert_eq!(p("2023-02-29T00:00:00Z"), None);
        assert_eq!(p("1900-02-29T00:00:00Z"), None);
        assert!(p("2024-02-29T00:00:00Z").is_some());
        assert_eq!(p("2023-01-01T24:00:00Z"), None);
        assert_eq!(p("2023-01-01T00:60:00Z"), None);
        assert_eq!(p("2023-01-01T00:00:60Z"), None);
        assert_eq!(p("2023-01-01T00:00:00+24:00"), None);
        assert_eq!(p("2023-01-01T00:00:00+00:60"), None);
    }

    #[test]
    fn range_of_u64_nanoseconds() {
        assert_eq!(p("1969-12-31T23:59:59.999999999Z"), None);
        assert_eq!(p("1970-01-01T00:59:59+01:00"), None);
        assert_eq!(p("1969-12-31T23:00:00-01:00"), Some(0));
        // u64::MAX ns = 2554-07-21T23:34:33.709551615Z.
        assert_eq!(p("2554-07-21T23:34:33.709551615Z"), Some(u64::MAX));
        assert_eq!(p("2554-07-21T23:34:33.709551616Z"), None);
        assert_eq!(p("9999-12-31T23:59:59Z"), None);
    }
}
