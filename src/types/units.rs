//! Unit newtypes: time in nanoseconds, basis points, fractions, percents and
//! share quantities. Mixing bps with fractions or percents was the original
//! system's worst bug class; these types make the conversions explicit.
//!
//! Hot path: all methods are `const` or trivial, allocation-free.

use std::fmt;

/// Nanoseconds since the Unix epoch (UTC), or a duration in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);
    pub const PER_SEC: u64 = 1_000_000_000;
    pub const PER_MILLI: u64 = 1_000_000;
    pub const PER_MICRO: u64 = 1_000;

    /// A duration of whole seconds.
    #[inline]
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s * Self::PER_SEC)
    }

    /// A duration of whole milliseconds.
    #[inline]
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms * Self::PER_MILLI)
    }

    /// Signed difference `self − earlier` in seconds (negative when `self` is
    /// before `earlier`). Exact to the nanosecond for spans under ~104 days.
    #[inline]
    pub fn secs_since(self, earlier: Nanos) -> f64 {
        let d = self.0 as i128 - earlier.0 as i128;
        d as f64 / Self::PER_SEC as f64
    }

    /// Signed difference `self − earlier` in milliseconds.
    #[inline]
    pub fn millis_since(self, earlier: Nanos) -> f64 {
        let d = self.0 as i128 - earlier.0 as i128;
        d as f64 / Self::PER_MILLI as f64
    }

    /// `self + d`, saturating at the end of representable time.
    #[inline]
    pub const fn saturating_add(self, d: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(d.0))
    }
}

/// Basis points: 1 bps = 1e-4.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Bps(pub f64);

impl Bps {
    /// The same amount as a decimal fraction.
    #[inline]
    pub fn to_frac(self) -> Frac {
        Frac(self.0 * 1e-4)
    }
}

/// A decimal fraction: 0.02 means two percent.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Frac(pub f64);

impl Frac {
    /// The same amount in basis points.
    #[inline]
    pub fn to_bps(self) -> Bps {
        Bps(self.0 * 1e4)
    }
}

/// A percentage as written in config (`2.0` means two percent). Converted to
/// a [`Frac`] once at load time; never used in arithmetic directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Pct(pub f64);

impl Pct {
    /// The same amount as a decimal fraction (`pct / 100`).
    #[inline]
    pub fn to_frac(self) -> Frac {
        Frac(self.0 / 100.0)
    }
}

/// A signed share quantity (+ long / buy, − short / sell).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

impl Qty {
    pub const ZERO: Qty = Qty(0);

    /// The quantity as a float for notional arithmetic.
    #[inline]
    pub fn as_f64(self) -> f64 {
        self.0 as f64
    }

    /// Absolute size.
    #[inline]
    pub const fn abs(self) -> Qty {
        Qty(self.0.abs())
    }

    /// `-1`, `0` or `+1`.
    #[inline]
    pub const fn signum(self) -> i64 {
        self.0.signum()
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_differences() {
        let a = Nanos(1_000_000_000);
        let b = Nanos(1_050_000_000);
        assert_eq!(b.secs_since(a), 0.05);
        assert_eq!(a.secs_since(b), -0.05);
        assert_eq!(b.millis_since(a), 50.0);
    }

    #[test]
    fn unit_conversions() {
        assert_eq!(Pct(2.0).to_frac(), Frac(0.02));
        assert_eq!(Bps(5.0).to_frac(), Frac(5.0 * 1e-4));
        assert_eq!(Frac(0.0002).to_bps(), Bps(0.0002 * 1e4));
        assert_eq!(Qty(-7).abs(), Qty(7));
    }
}
