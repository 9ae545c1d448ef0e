//! Horizons and targets (SPEC §1): parsing `5m` / `2h` / `1d`, the sorted
//! configured horizon set, and the role and horizon of a model target name.
//!
//! Cold path: everything here runs at start-up; the engine works with dense
//! [`HorizonId`]s afterwards.

use crate::types::{HorizonId, Reason};

/// Minutes in one regular trading session (`1d`).
pub const SESSION_MINUTES: u32 = 390;

/// Most horizons a config may list (ids are `u8`, arrays are sized from it).
pub const MAX_HORIZONS: usize = 32;

/// Parse one horizon: strip, lowercase, `^(\d+)([mhd])$` with N ≥ 1;
/// `m`→N, `h`→60N, `d`→390N minutes.
pub fn parse_minutes(text: &str) -> Result<u32, Reason> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.len().saturating_sub(1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::InvalidHorizon);
    }
    let n: u32 = digits.parse().map_err(|_| Reason::InvalidHorizon)?;
    let per = match unit {
        "m" | "M" => 1,
        "h" | "H" => 60,
        "d" | "D" => SESSION_MINUTES,
        _ => return Err(Reason::InvalidHorizon),
    };
    if n == 0 {
        return Err(Reason::InvalidHorizon);
    }
    n.checked_mul(per).ok_or(Reason::InvalidHorizon)
}

/// What a model target predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetRole {
    /// A forward-return model of its horizon.
    Return,
    /// `will_peak_<h>`: probability the price peaks within the horizon.
    BarrierPeak,
    /// `will_valley_<h>`: probability the price bottoms within the horizon.
    BarrierValley,
}

impl TargetRole {
    /// The role's name in vectors (`return`, `barrier_peak`, `barrier_valley`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetRole::Return => "return",
            TargetRole::BarrierPeak => "barrier_peak",
            TargetRole::BarrierValley => "barrier_valley",
        }
    }
}

/// The horizon suffix of a target name (regex `(\d+[mhd])$`) and its role,
/// or `None` when the name has no such suffix.
pub fn target_horizon(target: &str) -> Option<(&str, TargetRole)> {
    let bytes = target.as_bytes();
    let unit = *bytes.last()?;
    if !matches!(unit, b'm' | b'h' | b'd') {
        return None;
    }
    let digits = bytes[..bytes.len() - 1]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let suffix = &target[target.len() - 1 - digits..];
    let role = if target.starts_with("will_peak_") {
        TargetRole::BarrierPeak
    } else if target.starts_with("will_valley_") {
        TargetRole::BarrierValley
    } else {
        TargetRole::Return
    };
    Some((suffix, role))
}

/// One configured horizon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// Canonical label: the configured text, trimmed and lower-cased.
    pub label: String,
    pub minutes: u32,
}

/// The configured horizons, sorted by minutes; index = [`HorizonId`]. The
/// first is the base horizon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HorizonSet {
    horizons: Vec<Horizon>,
}

/// Why a horizon list is not a valid config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HorizonSetError {
    #[error("{0:?} is not a horizon: expected N followed by m, h or d with N >= 1 (5m, 2h, 1d)")]
    Invalid(String),
    #[error("{0:?} and {1:?} are both {2} minutes: horizons must have distinct lengths")]
    Duplicate(String, String, u32),
    #[error("the list is empty: at least one horizon is needed")]
    Empty,
    #[error("{0} horizons: at most {MAX_HORIZONS} are supported")]
    TooMany(usize),
}

impl HorizonSet {
    /// Parse and sort a configured list.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<HorizonSet, HorizonSetError> {
        if items.is_empty() {
            return Err(HorizonSetError::Empty);
        }
        if items.len() > MAX_HORIZONS {
            return Err(HorizonSetError::TooMany(items.len()));
        }
        let mut horizons = Vec::with_capacity(items.len());
        for item in items {
            let text = item.as_ref();
            let minutes =
                parse_minutes(text).map_err(|_| HorizonSetError::Invalid(text.to_owned()))?;
            horizons.push(Horizon {
                label: text.trim().to_ascii_lowercase(),
                minutes,
            });
        }
        horizons.sort_by_key(|h| h.minutes);
        for pair in horizons.windows(2) {
            if pair[0].minutes == pair[1].minutes {
                return Err(HorizonSetError::Duplicate(
                    pair[0].label.clone(),
                    pair[1].label.clone(),
                    pair[0].minutes,
                ));
            }
        }
        Ok(HorizonSet { horizons })
    }

    /// The default list `5m,10m,15m,30m,60m,1d`.
    pub fn default_set() -> HorizonSet {
        HorizonSet::parse(&["5m", "10m", "15m", "30m", "60m", "1d"])
            .unwrap_or_else(|_| unreachable!("the default horizons are valid"))
    }

    /// Number of horizons.
    pub fn len(&self) -> usize {
        self.horizons.len()
    }

    /// Never true for a parsed set.
    pub fn is_empty(&self) -> bool {
        self.horizons.is_empty()
    }

    /// All horizons in ascending minutes.
    pub fn iter(&self) -> impl Iterator<Item = (HorizonId, &Horizon)> {
        self.horizons
            .iter()
            .enumerate()
            .map(|(i, h)| (HorizonId(i as u8), h))
    }

    /// The horizon with the given id.
    pub fn get(&self, id: HorizonId) -> &Horizon {
        &self.horizons[id.index()]
    }

    /// Minutes of horizon `id`.
    #[inline]
    pub fn minutes(&self, id: HorizonId) -> u32 {
        self.horizons[id.index()].minutes
    }

    /// The base (shortest) horizon.
    pub fn base(&self) -> HorizonId {
        HorizonId(0)
    }

    /// The id of a configured label (exact canonical text, e.g. `15m`).
    pub fn id_of(&self, label: &str) -> Option<HorizonId> {
        self.horizons
            .iter()
            .position(|h| h.label == label)
            .map(|i| HorizonId(i as u8))
    }

    /// Labels in ascending minutes.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.horizons.iter().map(|h| h.label.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_malformed() {
        assert_eq!(parse_minutes(" 15M "), Ok(15));
        assert_eq!(parse_minutes("2h"), Ok(120));
        assert_eq!(parse_minutes("3d"), Ok(1170));
        for bad in ["0m", "5min", "1.5h", "-5m", "m", "", "+5m", "99999999999m"] {
            assert_eq!(parse_minutes(bad), Err(Reason::InvalidHorizon), "{bad}");
        }
    }

    #[test]
    fn target_suffix_and_role() {
        assert_eq!(
            target_horizon("fwd_ret_5m"),
            Some(("5m", TargetRole::Return))
        );
        assert_eq!(
            target_horizon("will_valley_15m"),
            Some(("15m", TargetRole::BarrierValley))
        );
        assert_eq!(target_horizon("ret_5min"), None);
        assert_eq!(target_horizon("target"), None);
    }

    #[test]
    fn set_sorts_and_rejects_equal_lengths() {
        let s = HorizonSet::parse(&["1d", "60m", "5m"]).unwrap();
        assert_eq!(s.labels().collect::<Vec<_>>(), ["5m", "60m", "1d"]);
        assert_eq!(s.base(), HorizonId(0));
        assert_eq!(s.id_of("1d"), Some(HorizonId(2)));
        assert!(matches!(
            HorizonSet::parse(&["60m", "1h"]),
            Err(HorizonSetError::Duplicate(..))
        ));
        assert!(matches!(
            HorizonSet::parse::<&str>(&[]),
            Err(HorizonSetError::Empty)
        ));
    }
}
