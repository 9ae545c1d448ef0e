//! Horizon blend (SPEC §9, stage `horizon_blend`): per horizon, the weights of
//! the models present in a decision (ridge on their calibrated-value
//! histories, then temperature), the blended score `S_h`, the horizon alpha
//! `α_h = σ_h·S_h` and the blend confidence.
//!
//! One [`HorizonBlender`] per horizon. Its model slots are the horizon's
//! return models in byte-wise sorted model-id order; each slot keeps a FIFO
//! history of calibrated values pooled across symbols (SPEC §21.9).
//!
//! Runs on the engine thread. Hot path: no allocation after construction, no
//! blocking, no logging.

use crate::pipeline::ridge::{RidgeError, RidgeOutcome, RidgeParams, RidgeSolver};
use crate::pipeline::standardize::Window;
use crate::pipeline::temperature::Temperature;

/// Blend parameters (`blending.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlendParams {
    /// `blending.history_size`: calibrated values kept per model (≥ min_history).
    pub history_size: usize,
    /// `blending.min_history`: history a model needs before ridge weighs it
    /// (≥ 1).
    pub min_history: usize,
}

impl Default for BlendParams {
    fn default() -> Self {
        BlendParams {
            history_size: 50,
            min_history: 5,
        }
    }
}

/// Why blend parameters are invalid (SPEC §20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlendParamsError {
    #[error("blending.min_history is {0}: must be an integer >= 1")]
    MinHistory(usize),
    #[error("blending.history_size is {history_size}: must be an integer >= blending.min_history = {min_history}")]
    HistorySize {
        history_size: usize,
        min_history: usize,
    },
}

impl BlendParams {
    /// Check the SPEC §20 ranges.
    pub fn validate(&self) -> Result<(), BlendParamsError> {
        if self.min_history < 1 {
            return Err(BlendParamsError::MinHistory(self.min_history));
        }
        if self.history_size < self.min_history {
            return Err(BlendParamsError::HistorySize {
                history_size: self.history_size,
                min_history: self.min_history,
            });
        }
        Ok(())
    }
}

/// One model's accepted output in a decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlendEntry {
    /// The model's slot in this blender (sorted model-id order).
    pub slot: usize,
    /// `z·overall` (SPEC §6).
    pub calibrated: f64,
    /// The model's IC (measured or prior, SPEC §6).
    pub ic: f64,
    /// The model's overall confidence.
    pub overall: f64,
    /// Demoted models are not present: no history, no weight.
    pub demoted: bool,
    /// Cost share for the ridge μ (the engine passes 0).
    pub cost_share: f64,
}

impl BlendEntry {
    /// Whether the entry takes part in the blend: not demoted, and a finite
    /// calibrated value (the engine never produces another; a non-finite one
    /// is treated as absent so it cannot poison the history).
    #[inline]
    pub fn is_present(&self) -> bool {
        !self.demoted && self.calibrated.is_finite()
    }
}

/// A horizon's blend in one decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HorizonBlend {
    /// `S_h = Σ w'·calibrated` (dimensionless).
    pub score: f64,
    /// `α_h = σ_h·S_h` (return units).
    pub alpha: f64,
    /// `Σ w'·overall` (trace only).
    pub confidence: f64,
    /// Present models.
    pub n_present: usize,
    /// Present models with enough history for ridge.
    pub n_ready: usize,
    /// How the ridge weights were obtained; `None` when no model was ready
    /// (uniform weights).
    pub ridge: Option<RidgeOutcome>,
}

/// Why a blend call was refused (a caller bug, never market data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlendError {
    #[error("entry slot {slot} is not below the blender's {slots} slots")]
    UnknownSlot { slot: usize, slots: usize },
    #[error("entry slot {slot} follows slot {previous}: entries must be in strictly ascending slot order")]
    SlotOrder { slot: usize, previous: usize },
    #[error("weights slice holds {len}, {needed} entries need one each")]
    OutputTooShort { needed: usize, len: usize },
    #[error("ridge: {0}")]
    Ridge(#[from] RidgeError),
}

/// The blender of one horizon.
#[derive(Clone, Debug)]
pub struct HorizonBlender {
    min_history: usize,
    temperature: Temperature,
    histories: Box<[Window]>,
    ridge: RidgeSolver,
    /// Slots of the ready models, in entry order.
    ready_slots: Box<[usize]>,
    ready_ic: Box<[f64]>,
    ready_cost: Box<[f64]>,
    ready_w: Box<[f64]>,
    /// Weights of the present models, in entry order.
    present_w: Box<[f64]>,
    /// Running correlation statistics while every history slides in step.
    lockstep: Lockstep,
}

/// The lockstep statistics are rebuilt exactly every this many window
/// lengths of pushes: the accumulated rounding stays around 1e-15 relative,
/// and the O(n²·L) rebuild lands on under 0.2 % of decisions (beyond p99).
const REBUILD_EVERY_WINDOWS: usize = 16;

/// Running statistics of the histories for the steady state in which every
/// model of the horizon is present in every decision and every history is
/// full, so that all windows slide by one value together.
///
/// Sums are of deviations from a per-model shift (the window mean at the
/// last exact rebuild), which keeps cancellation small; each push adds the
/// new value's terms and removes the evicted one's in O(n²) instead of
/// O(n²·L). The statistics are rebuilt exactly from the histories whenever
/// the lockstep begins and every `history_size` pushes, which bounds the
/// rounding drift far below SPEC's 1e-9 tolerance; a series is constant
/// (correlation 0) exactly when its trailing run of equal values covers
/// the window. Any decision that breaks the lockstep (a missing, demoted or
/// non-finite model, a history not yet full) takes the exact two-pass path
/// and invalidates the statistics.
#[derive(Clone, Debug)]
struct Lockstep {
    enabled: bool,
    valid: bool,
    since_rebuild: usize,
    shift: Box<[f64]>,
    sum: Box<[f64]>,
    /// Row-major n×n, upper triangle used: Σ d_i·d_j.
    cross: Box<[f64]>,
    /// Trailing run of equal values per history.
    run: Box<[usize]>,
    /// Deviations of the values leaving and entering, per history.
    old: Box<[f64]>,
    new: Box<[f64]>,
    /// The correlation matrix handed to the ridge solver, row-major n×n.
    corr: Box<[f64]>,
}

impl Lockstep {
    fn new(n: usize, history_size: usize) -> Lockstep {
        let v = |x: f64| vec![x; n].into_boxed_slice();
        Lockstep {
            // One model needs no correlation; under 3 values ridge is uniform.
            enabled: n >= 2 && history_size >= 3,
            valid: false,
            since_rebuild: 0,
            shift: v(0.0),
            sum: v(0.0),
            cross: vec![0.0; n * n].into_boxed_slice(),
            run: vec![0; n].into_boxed_slice(),
            old: v(0.0),
            new: v(0.0),
            corr: vec![0.0; n * n].into_boxed_slice(),
        }
    }

    /// Exact statistics from the histories (all full).
    fn rebuild(&mut self, histories: &[Window]) {
        let n = histories.len();
        for (i, h) in histories.iter().enumerate() {
            let x = h.as_slice();
            let mean = x.iter().sum::<f64>() / x.len() as f64;
            self.shift[i] = mean;
            self.sum[i] = x.iter().map(|v| v - mean).sum();
            let last = x.last().copied().unwrap_or(f64::NAN);
            self.run[i] = x.iter().rev().take_while(|&&v| v == last).count();
        }
        for i in 0..n {
            for j in i..n {
                let (xi, xj) = (histories[i].as_slice(), histories[j].as_slice());
                let (ci, cj) = (self.shift[i], self.shift[j]);
                self.cross[i * n + j] = xi.iter().zip(xj).map(|(a, b)| (a - ci) * (b - cj)).sum();
            }
        }
        self.valid = true;
        self.since_rebuild = 0;
    }

    /// Slide every window by one before the push: entry i's calibrated
    /// value enters history i, whose oldest value leaves. `histories` are
    /// full and `entries` cover every slot in order.
    fn slide(&mut self, histories: &[Window], entries: &[BlendEntry]) {
        let n = self.sum.len();
        for (i, (h, e)) in histories.iter().zip(entries).enumerate() {
            let x = h.as_slice();
            self.old[i] = x[0] - self.shift[i];
            self.new[i] = e.calibrated - self.shift[i];
            self.run[i] = if e.calibrated == x[x.len() - 1] {
                (self.run[i] + 1).min(x.len())
            } else {
                1
            };
        }
        for i in 0..n {
            self.sum[i] = self.sum[i] - self.old[i] + self.new[i];
            for j in i..n {
                let c = &mut self.cross[i * n + j];
                *c = *c - self.old[i] * self.old[j] + self.new[i] * self.new[j];
            }
        }
        self.since_rebuild += 1;
    }

    /// The Pearson matrix of windows of `len` values into `self.corr`;
    /// false when a variance is not positive for a non-constant series
    /// (the caller then takes the exact path).
    fn correlation(&mut self, len: usize) -> bool {
        let n = self.sum.len();
        let l = len as f64;
        let var = |s: &Self, i: usize| s.cross[i * n + i] - s.sum[i] * s.sum[i] / l;
        for i in 0..n {
            self.corr[i * n + i] = 1.0;
            for j in i + 1..n {
                let r = if self.run[i] >= len || self.run[j] >= len {
                    0.0
                } else {
                    let (vi, vj) = (var(self, i), var(self, j));
                    if !(vi > 0.0 && vj > 0.0) {
                        return false;
                    }
                    let cov = self.cross[i * n + j] - self.sum[i] * self.sum[j] / l;
                    let r = cov / (vi * vj).sqrt();
                    if r.is_nan() {
                        0.0
                    } else {
                        r.clamp(-1.0, 1.0)
                    }
                };
                self.corr[i * n + j] = r;
                self.corr[j * n + i] = r;
            }
        }
        true
    }
}

impl HorizonBlender {
    /// A blender with `n_slots` model slots, every history and all ridge
    /// scratch preallocated.
    pub fn new(
        params: &BlendParams,
        ridge: &RidgeParams,
        temperature: Temperature,
        n_slots: usize,
    ) -> HorizonBlender {
        let scratch = || vec![0.0; n_slots].into_boxed_slice();
        HorizonBlender {
            min_history: params.min_history,
            temperature,
            histories: (0..n_slots)
                .map(|_| Window::with_capacity(params.history_size))
                .collect(),
            ridge: RidgeSolver::with_history(ridge, n_slots, params.history_size),
            ready_slots: vec![0; n_slots].into_boxed_slice(),
            ready_ic: scratch(),
            ready_cost: scratch(),
            ready_w: scratch(),
            present_w: scratch(),
            lockstep: Lockstep::new(n_slots, params.history_size),
        }
    }

    /// Turn the lockstep running statistics off (every decision takes the
    /// exact two-pass correlation). For tests and benchmarks that compare
    /// the two.
    pub fn exact_only(mut self) -> HorizonBlender {
        self.lockstep.enabled = false;
        self.lockstep.valid = false;
        self
    }

    /// The horizon's temperature.
    pub fn temperature(&self) -> Temperature {
        self.temperature
    }

    /// Number of model slots.
    pub fn n_slots(&self) -> usize {
        self.histories.len()
    }

    /// History length of `slot` (0 for an unknown slot).
    pub fn history_len(&self, slot: usize) -> usize {
        self.histories.get(slot).map_or(0, Window::len)
    }

    /// Blend one decision (SPEC §9).
    ///
    /// `entries` are the models with an accepted output, in strictly
    /// ascending slot order. `weights[i]` receives entry i's final weight (0
    /// for an entry that is not [present](BlendEntry::is_present)). `Ok(None)`
    /// when no entry is present: the horizon has no alpha this decision.
    pub fn blend(
        &mut self,
        entries: &[BlendEntry],
        sigma_h: f64,
        weights: &mut [f64],
    ) -> Result<Option<HorizonBlend>, BlendError> {
        self.check(entries, weights.len())?;
        let weights = &mut weights[..entries.len()];
        weights.fill(0.0);

        // Lockstep: every slot present and every history full, so all
        // windows slide together (see `Lockstep`).
        let n_slots = self.histories.len();
        let lockstep = self.lockstep.enabled
            && entries.len() == n_slots
            && entries.iter().all(BlendEntry::is_present)
            && self.histories.iter().all(|h| h.len() == h.capacity());
        if lockstep && self.lockstep.valid {
            self.lockstep.slide(&self.histories, entries);
        } else if !lockstep {
            self.lockstep.valid = false;
        }

        // 1–2. Present models; their calibrated values join their histories.
        let mut n_present = 0;
        let mut n_ready = 0;
        for e in entries.iter().filter(|e| e.is_present()) {
            n_present += 1;
            let Some(h) = self.histories.get_mut(e.slot) else {
                continue;
            };
            h.push(e.calibrated);
            if h.len() >= self.min_history {
                self.ready_slots[n_ready] = e.slot;
                self.ready_ic[n_ready] = e.ic;
                self.ready_cost[n_ready] = e.cost_share;
                n_ready += 1;
            }
        }
        if n_present == 0 {
            return Ok(None);
        }

        // 3. Ridge over the ready models (present-but-not-ready get 0), or
        // uniform over the present ones when none is ready.
        let present_w = &mut self.present_w[..n_present];
        let ridge = if n_ready == 0 {
            present_w.fill(1.0 / n_present as f64);
            None
        } else {
            if lockstep
                && (!self.lockstep.valid
                    || self.lockstep.since_rebuild
                        >= REBUILD_EVERY_WINDOWS * self.histories[0].capacity())
            {
                self.lockstep.rebuild(&self.histories);
            }
            let histories = &self.histories;
            let slots = &self.ready_slots[..n_ready];
            let len = histories[0].len();
            let outcome = if lockstep && self.lockstep.correlation(len) {
                self.ridge.weights(
                    &self.ready_ic[..n_ready],
                    Some(&self.lockstep.corr),
                    Some(&self.ready_cost[..n_ready]),
                    &mut self.ready_w[..n_ready],
                )?
            } else {
                self.ridge.weights_from_history(
                    |r| {
                        slots
                            .get(r)
                            .and_then(|&s| histories.get(s))
                            .map_or(&[][..], Window::as_slice)
                    },
                    &self.ready_ic[..n_ready],
                    Some(&self.ready_cost[..n_ready]),
                    &mut self.ready_w[..n_ready],
                )?
            };
            let mut r = 0;
            let present = entries.iter().filter(|e| e.is_present());
            for (e, w) in present.zip(present_w.iter_mut()) {
                *w = if slots.get(r) == Some(&e.slot) {
                    r += 1;
                    self.ready_w[r - 1]
                } else {
                    0.0
                };
            }
            Some(outcome)
        };

        // 4. Temperature over the present models' weights.
        self.temperature.apply(present_w);

        // 5. Score, alpha and confidence in slot order.
        let (mut score, mut confidence) = (0.0, 0.0);
        let mut k = 0;
        for (e, w) in entries.iter().zip(weights.iter_mut()) {
            if e.is_present() {
                *w = present_w[k];
                k += 1;
                score += *w * e.calibrated;
                confidence += *w * e.overall;
            }
        }
        Ok(Some(HorizonBlend {
            score,
            alpha: sigma_h * score,
            confidence,
            n_present,
            n_ready,
            ridge,
        }))
    }

    /// Slots in range and strictly ascending; output long enough.
    fn check(&self, entries: &[BlendEntry], out_len: usize) -> Result<(), BlendError> {
        if out_len < entries.len() {
            return Err(BlendError::OutputTooShort {
                needed: entries.len(),
                len: out_len,
            });
        }
        let slots = self.histories.len();
        let mut previous: Option<usize> = None;
        for e in entries {
            if e.slot >= slots {
                return Err(BlendError::UnknownSlot {
                    slot: e.slot,
                    slots,
                });
            }
            if let Some(p) = previous.filter(|&p| e.slot <= p) {
                return Err(BlendError::SlotOrder {
                    slot: e.slot,
                    previous: p,
                });
            }
            previous = Some(e.slot);
        }
        Ok(())
    }

    /// Forget every history (a restart rebuilds statistics from scratch).
    pub fn reset(&mut self) {
        self.histories.iter_mut().for_each(Window::clear);
        self.lockstep.valid = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lockstep running statistics agree with the exact two-pass path
    /// over long random sequences: steady stretches, models missing,
    /// demoted or non-finite (breaking the lockstep), constant stretches
    /// and repeated values.
    #[test]
    fn lockstep_statistics_match_the_exact_path() {
        let params = BlendParams {
            history_size: 20,
            min_history: 5,
        };
        for n in [2usize, 3, 5] {
            let mut fast =
                HorizonBlender::new(&params, &RidgeParams::default(), Temperature::new(0.75), n);
            let mut exact = fast.clone().exact_only();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ n as u64;
            let mut rnd = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 11) as f64 / (1u64 << 53) as f64
            };
            let (mut wf, mut we) = (vec![0.0; n], vec![0.0; n]);
            let mut steady = 0;
            for step in 0..6_000 {
                let phase = (step / 500) % 4;
                let draws: Vec<(f64, f64)> = (0..n).map(|_| (rnd(), rnd())).collect();
                let entries: Vec<BlendEntry> = (0..n)
                    .map(|slot| {
                        let r = draws[slot].0;
                        let calibrated = match phase {
                            // A constant stretch for slot 0.
                            1 if slot == 0 => 0.25,
                            // Repeated values and an offset far from 0.
                            2 => 3.0 + (r * 4.0).floor() * 0.5,
                            _ => r - 0.5,
                        };
                        BlendEntry {
                            slot,
                            calibrated,
                            ic: 0.02 + 0.05 * slot as f64,
                            overall: 0.1,
                            demoted: phase == 3 && r < 0.02,
                            cost_share: 0.0,
                        }
                    })
                    // Now and then a model has no output at all.
                    .filter(|e| phase != 3 || draws[e.slot].1 > 0.05)
                    .collect();
                let a = fast.blend(&entries, 0.01, &mut wf).unwrap();
                let b = exact.blend(&entries, 0.01, &mut we).unwrap();
                if fast.lockstep.valid {
                    steady += 1;
                }
                match (a, b) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        let close = |x: f64, y: f64| (x - y).abs() <= 1e-11 * (1.0 + x.abs());
                        assert!(close(a.score, b.score), "step {step}: {a:?} vs {b:?}");
                        for (x, y) in wf.iter().zip(&we).take(entries.len()) {
                            assert!(close(*x, *y), "step {step}: {wf:?} vs {we:?}");
                        }
                    }
                    other => panic!("step {step}: {other:?}"),
                }
            }
            assert!(steady > 3_000, "lockstep must carry most steps: {steady}");
        }
    }

    fn entry(slot: usize, calibrated: f64, ic: f64) -> BlendEntry {
        BlendEntry {
            slot,
            calibrated,
            ic,
            overall: 0.02,
            demoted: false,
            cost_share: 0.0,
        }
    }

    fn blender(n_slots: usize, t: f64) -> HorizonBlender {
        HorizonBlender::new(
            &BlendParams::default(),
            &RidgeParams::default(),
            Temperature::new(t),
            n_slots,
        )
    }

    #[test]
    fn uniform_until_min_history_then_ridge() {
        let mut b = blender(2, 1.0);
        let mut w = [0.0; 2];
        for i in 0..4 {
            let x = i as f64 * 0.001;
            let out = b
                .blend(&[entry(0, x, 0.05), entry(1, -x, 0.02)], 0.002, &mut w)
                .unwrap()
                .unwrap();
            assert_eq!(w, [0.5, 0.5]);
            assert_eq!(out.ridge, None);
            assert_eq!(out.alpha, 0.002 * out.score);
        }
        let out = b
            .blend(&[entry(0, 0.01, 0.05), entry(1, 0.0, 0.02)], 0.002, &mut w)
            .unwrap()
            .unwrap();
        assert_eq!(out.n_ready, 2);
        assert!(out.ridge.is_some());
        assert!((w[0] + w[1] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn late_model_gets_zero_until_ready_and_demoted_model_is_absent() {
        let mut b = blender(3, 0.75);
        let mut w = [0.0; 3];
        for i in 0..5 {
            b.blend(&[entry(0, i as f64, 0.05)], 1.0, &mut w).unwrap();
        }
        let mut demoted = entry(2, 9.0, -0.3);
        demoted.demoted = true;
        let out = b
            .blend(
                &[entry(0, 1.0, 0.05), entry(1, 2.0, 0.03), demoted],
                1.0,
                &mut w,
            )
            .unwrap()
            .unwrap();
        assert_eq!(w, [1.0, 0.0, 0.0]);
        assert_eq!((out.n_present, out.n_ready), (2, 1));
        assert_eq!(out.score, 1.0);
        assert_eq!(b.history_len(2), 0);
    }

    #[test]
    fn nothing_present_is_no_alpha() {
        let mut b = blender(1, 1.0);
        let mut w = [7.0];
        assert_eq!(b.blend(&[], 1.0, &mut w), Ok(None));
        let mut e = entry(0, 1.0, 0.1);
        e.demoted = true;
        assert_eq!(b.blend(&[e], 1.0, &mut w), Ok(None));
        assert_eq!(w, [0.0]);
    }

    #[test]
    fn caller_errors_are_reported() {
        let mut b = blender(2, 1.0);
        let mut w = [0.0; 2];
        assert_eq!(
            b.blend(&[entry(2, 1.0, 0.1)], 1.0, &mut w),
            Err(BlendError::UnknownSlot { slot: 2, slots: 2 })
        );
        assert_eq!(
            b.blend(&[entry(1, 1.0, 0.1), entry(0, 1.0, 0.1)], 1.0, &mut w),
            Err(BlendError::SlotOrder {
                slot: 0,
                previous: 1
            })
        );
        assert_eq!(
            b.blend(&[entry(0, 1.0, 0.1), entry(1, 1.0, 0.1)], 1.0, &mut w[..1]),
            Err(BlendError::OutputTooShort { needed: 2, len: 1 })
        );
        assert_eq!(b.history_len(0), 0);
    }

    #[test]
    fn params_validation() {
        assert!(BlendParams::default().validate().is_ok());
        let bad = BlendParams {
            history_size: 3,
            min_history: 5,
        };
        assert!(matches!(
            bad.validate(),
            Err(BlendParamsError::HistorySize { .. })
        ));
    }
}
