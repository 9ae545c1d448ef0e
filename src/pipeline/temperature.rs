//! Temperature (SPEC §8, stage `temperature`): per-horizon flattening of
//! blend weights, `w_i' = w_i^T / Σ w^T` for 0 < T < 1.
//!
//! [`TemperatureParams`] is resolved once at start-up; each horizon blender
//! holds one [`Temperature`] and applies it in place on its weight slice on
//! the engine thread. Hot path: no allocation, no blocking, no logging.

use crate::horizon::parse_minutes;
use crate::types::Reason;

/// `blending.temperature`: T per horizon, keyed by horizon minutes. A
/// horizon missing from the map uses 1.0 (no change).
#[derive(Clone, Debug, PartialEq)]
pub struct TemperatureParams {
    /// `(horizon minutes, T)` pairs.
    pub temperature: Vec<(u32, f64)>,
}

impl Default for TemperatureParams {
    /// 5m 0.75, 10m 0.85, 15m 0.9, every other horizon 1.0.
    fn default() -> Self {
        TemperatureParams {
            temperature: vec![(5, 0.75), (10, 0.85), (15, 0.9)],
        }
    }
}

/// Why a temperature map is invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TemperatureParamsError {
    #[error("blending.temperature key {0:?} is not a horizon: expected N followed by m, h or d")]
    Horizon(String),
    #[error("blending.temperature.{0} is {1}: must be a number, not NaN")]
    NotANumber(String, f64),
    #[error("blending.temperature has two entries for {0} minutes")]
    Duplicate(u32),
}

impl TemperatureParams {
    /// Build the map from `(horizon label, T)` pairs as written in config
    /// (`"5m" → 0.75`); labels are matched by minutes.
    pub fn from_labels<S: AsRef<str>>(
        entries: impl IntoIterator<Item = (S, f64)>,
    ) -> Result<TemperatureParams, TemperatureParamsError> {
        let mut temperature: Vec<(u32, f64)> = Vec::new();
        for (label, t) in entries {
            let label = label.as_ref();
            let minutes = parse_minutes(label)
                .map_err(|_: Reason| TemperatureParamsError::Horizon(label.to_owned()))?;
            if t.is_nan() {
                return Err(TemperatureParamsError::NotANumber(label.to_owned(), t));
            }
            if temperature.iter().any(|&(m, _)| m == minutes) {
                return Err(TemperatureParamsError::Duplicate(minutes));
            }
            temperature.push((minutes, t));
        }
        Ok(TemperatureParams { temperature })
    }

    /// T of a horizon of `minutes`; 1.0 when the map has no entry.
    pub fn for_minutes(&self, minutes: u32) -> f64 {
        self.temperature
            .iter()
            .find(|&&(m, _)| m == minutes)
            .map_or(1.0, |&(_, t)| t)
    }
}

/// One horizon's temperature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Temperature {
    t: f64,
}

impl Temperature {
    /// A temperature of `t`.
    pub const fn new(t: f64) -> Temperature {
        Temperature { t }
    }

    /// The temperature of a horizon of `minutes` under `params`.
    pub fn for_minutes(params: &TemperatureParams, minutes: u32) -> Temperature {
        Temperature::new(params.for_minutes(minutes))
    }

    /// T.
    pub const fn value(self) -> f64 {
        self.t
    }

    /// Apply in place (SPEC §8): T ≥ 1 (or NaN) leaves the weights unchanged
    /// (no renormalisation); T ≤ 0 sets every weight to 1/n; otherwise
    /// `w_i^T` for `w_i > 0`, else 0, divided by the sum. When no weight is
    /// positive the input is left unchanged. Empty slices are left alone.
    pub fn apply(self, weights: &mut [f64]) {
        let t = self.t;
        if weights.is_empty() || t.is_nan() || t >= 1.0 {
            return;
        }
        if t <= 0.0 {
            let uniform = 1.0 / weights.len() as f64;
            weights.iter_mut().for_each(|w| *w = uniform);
            return;
        }
        if !weights.iter().any(|&w| w > 0.0) {
            return;
        }
        let mut sum = 0.0;
        for w in weights.iter_mut() {
            *w = if *w > 0.0 { w.powf(t) } else { 0.0 };
            sum += *w;
        }
        weights.iter_mut().for_each(|w| *w /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15)
    }

    #[test]
    fn flattens_below_one() {
        let mut w = [0.6, 0.3, 0.1];
        Temperature::new(0.85).apply(&mut w);
        assert!(close(
            &w,
            &[0.5640659185427513, 0.31293516172447233, 0.12299891973277642]
        ));
    }

    #[test]
    fn one_or_more_passes_through_without_renormalising() {
        for t in [1.0, 1.5, f64::INFINITY, f64::NAN] {
            let mut w = [0.5, 0.7];
            Temperature::new(t).apply(&mut w);
            assert_eq!(w, [0.5, 0.7]);
        }
    }

    #[test]
    fn non_positive_t_is_uniform_including_zero_weights() {
        let mut w = [0.9, 0.1, 0.0];
        Temperature::new(0.0).apply(&mut w);
        assert_eq!(w, [1.0 / 3.0; 3]);
    }

    #[test]
    fn zero_and_negative_weights() {
        let mut w = [0.0, 0.0];
        Temperature::new(0.75).apply(&mut w);
        assert_eq!(w, [0.0, 0.0]);
        let mut w = [-0.2, 0.0];
        Temperature::new(0.75).apply(&mut w);
        assert_eq!(w, [-0.2, 0.0]);
        let mut w = [-0.2, 0.4, f64::NAN];
        Temperature::new(0.5).apply(&mut w);
        assert_eq!(w, [0.0, 1.0, 0.0]);
        let mut w: [f64; 0] = [];
        Temperature::new(0.0).apply(&mut w);
    }

    #[test]
    fn params_match_by_minutes_and_default_to_one() {
        let p = TemperatureParams::default();
        assert_eq!(p.for_minutes(5), 0.75);
        assert_eq!(p.for_minutes(30), 1.0);
        let p = TemperatureParams::from_labels([("1h", 0.5)]).unwrap();
        assert_eq!(Temperature::for_minutes(&p, 60).value(), 0.5);
        assert_eq!(p.for_minutes(5), 1.0);
        assert!(matches!(
            TemperatureParams::from_labels([("5min", 0.5)]),
            Err(TemperatureParamsError::Horizon(_))
        ));
        assert_eq!(
            TemperatureParams::from_labels([("60m", 0.5), ("1h", 0.4)]),
            Err(TemperatureParamsError::Duplicate(60))
        );
    }
}
