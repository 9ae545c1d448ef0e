//! Barrier-probability resolution (SPEC §13, §21 points 2 and 8): which
//! classifier output feeds the gate for an entry on a given horizon.
//!
//! For each kind (peak, valley): target `will_<kind>_<selected>`, else
//! `will_<kind>_<base>`; within a target the first family in byte-wise
//! sorted order with a finite output, clamped to [0, 1]. A kind with no
//! such output is unavailable (`None`).
//!
//! [`BarrierResolver::new`] is cold (start-up, allocates): it matches target
//! names to configured horizons and sorts families once, storing per horizon
//! and kind the ordered classifier slots. [`BarrierResolver::resolve`] runs on
//! the engine thread per decision. Hot path: no allocation, no blocking, no
//! logging, no string work.

use super::barrier::BarrierProbs;
use crate::horizon::HorizonSet;
use crate::types::HorizonId;

const PEAK: usize = 0;
const VALLEY: usize = 1;
const KIND_PREFIX: [&str; 2] = ["will_peak_", "will_valley_"];

/// Resolved probabilities and the classifier slots they came from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BarrierResolution {
    pub probs: BarrierProbs,
    /// Slot of the peak classifier used, `None` when unavailable.
    pub source_peak: Option<usize>,
    /// Slot of the valley classifier used, `None` when unavailable.
    pub source_valley: Option<usize>,
}

/// Per-horizon, per-kind classifier slots in sorted family order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarrierResolver {
    /// `ranges[h][kind]` = `[start, end)` into `slots`.
    ranges: Vec<[[usize; 2]; 2]>,
    slots: Vec<usize>,
}

impl BarrierResolver {
    /// Build from the loaded models as `(target, family)` pairs; the i-th
    /// pair is slot i of the outputs passed to [`BarrierResolver::resolve`].
    /// Pairs whose target is not exactly `will_peak_<h>` or
    /// `will_valley_<h>` for a configured horizon label `h` are ignored, so
    /// the engine may pass its whole model table (in `ModelId` order) and its
    /// per-model output slice.
    pub fn new<'a, I>(models: I, horizons: &HorizonSet) -> BarrierResolver
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut found: Vec<(usize, usize, &str, usize)> = models
            .into_iter()
            .enumerate()
            .filter_map(|(slot, (target, family))| {
                KIND_PREFIX.iter().enumerate().find_map(|(kind, prefix)| {
                    let label = target.strip_prefix(prefix)?;
                    let h = horizons.id_of(label)?;
                    Some((h.index(), kind, family, slot))
                })
            })
            .collect();
        found.sort_unstable();
        let mut ranges = vec![[[0usize; 2]; 2]; horizons.len()];
        let mut slots = Vec::with_capacity(found.len());
        for (h, h_ranges) in ranges.iter_mut().enumerate() {
            for (kind, range) in h_ranges.iter_mut().enumerate() {
                let start = slots.len();
                slots.extend(
                    found
                        .iter()
                        .filter(|f| f.0 == h && f.1 == kind)
                        .map(|f| f.3),
                );
                *range = [start, slots.len()];
            }
        }
        BarrierResolver { ranges, slots }
    }

    /// Whether any barrier classifier matched a configured horizon.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Resolve the probabilities for an entry on `selected`, falling back to
    /// `base` per kind. `outputs[slot]` is the raw output of that classifier
    /// this decision, NaN (or any non-finite value) when it produced none;
    /// slots past the end of `outputs` count as no output.
    pub fn resolve(
        &self,
        outputs: &[f64],
        selected: HorizonId,
        base: HorizonId,
    ) -> BarrierResolution {
        let pick = |kind| {
            self.first_finite(outputs, selected, kind)
                .or_else(|| self.first_finite(outputs, base, kind))
        };
        let peak = pick(PEAK);
        let valley = pick(VALLEY);
        BarrierResolution {
            probs: BarrierProbs {
                p_peak: peak.map(|(p, _)| p),
                p_valley: valley.map(|(p, _)| p),
            },
            source_peak: peak.map(|(_, s)| s),
            source_valley: valley.map(|(_, s)| s),
        }
    }

    /// The first finite output among horizon `h`'s classifiers of `kind`,
    /// clamped to [0, 1], with its slot.
    fn first_finite(&self, outputs: &[f64], h: HorizonId, kind: usize) -> Option<(f64, usize)> {
        let [start, end] = *self.ranges.get(h.index())?.get(kind)?;
        self.slots.get(start..end)?.iter().find_map(|&slot| {
            let raw = *outputs.get(slot)?;
            raw.is_finite().then_some((raw.clamp(0.0, 1.0), slot))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: [(&str, &str); 7] = [
        ("fwd_ret_5m", "LightGBM"),
        ("will_peak_15m", "XGBoost"),
        ("will_peak_15m", "LightGBM"),
        ("will_valley_15m", "LightGBM"),
        ("will_peak_5m", "LightGBM"),
        ("will_valley_5m", "MLP"),
        ("will_peak_2h", "LightGBM"),
    ];

    fn resolver() -> BarrierResolver {
        BarrierResolver::new(MODELS, &HorizonSet::default_set())
    }

    fn id(label: &str) -> HorizonId {
        HorizonSet::default_set().id_of(label).unwrap()
    }

    #[test]
    fn selected_horizon_first_family_in_sorted_order() {
        let out = [0.0, 0.7, 0.4, 0.2, 0.1, 0.3, 0.9];
        let r = resolver().resolve(&out, id("15m"), id("5m"));
        assert_eq!(r.probs.p_peak, Some(0.4));
        assert_eq!(r.source_peak, Some(2)); // LightGBM sorts before XGBoost
        assert_eq!((r.probs.p_valley, r.source_valley), (Some(0.2), Some(3)));
    }

    #[test]
    fn missing_outputs_fall_through_to_next_family_then_base() {
        let nan = f64::NAN;
        let out = [0.0, 0.7, nan, nan, 0.1, 1.5, 0.9];
        let r = resolver().resolve(&out, id("15m"), id("5m"));
        assert_eq!((r.probs.p_peak, r.source_peak), (Some(0.7), Some(1)));
        // valley falls back to the base horizon and is clamped
        assert_eq!((r.probs.p_valley, r.source_valley), (Some(1.0), Some(5)));
        let r = resolver().resolve(&[0.0, nan, nan, nan, -0.2], id("15m"), id("5m"));
        assert_eq!((r.probs.p_peak, r.source_peak), (Some(0.0), Some(4)));
        assert_eq!(r.probs.p_valley, None);
    }

    #[test]
    fn unconfigured_horizons_and_return_models_are_ignored() {
        let r = resolver();
        assert!(!r.is_empty());
        // will_peak_2h is not configured, fwd_ret_5m is not a classifier.
        let out = [0.9, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, 0.9];
        assert_eq!(
            r.resolve(&out, id("60m"), id("5m")),
            BarrierResolution::default()
        );
        let empty = BarrierResolver::new([("fwd_ret_5m", "A")], &HorizonSet::default_set());
        assert!(empty.is_empty());
    }

    #[test]
    fn out_of_range_ids_and_short_outputs_never_panic() {
        let r = resolver();
        assert_eq!(
            r.resolve(&[], id("15m"), id("5m")),
            BarrierResolution::default()
        );
        let far = HorizonId(200);
        assert_eq!(r.resolve(&[0.5; 7], far, far), BarrierResolution::default());
    }
}
