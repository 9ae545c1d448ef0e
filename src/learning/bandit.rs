//! Exp3-IX bandit over the configured horizons (SPEC §17.1, §21.14).
//!
//! Owns the learning state (log-weights, update count `T`, pulls per arm),
//! the probabilities derived from it, and the blend schedule that turns them
//! into ensemble weights and arbiter preference factors.
//!
//! Runs on the engine thread. Hot path after [`Bandit::new`]: no allocation,
//! no blocking, no logging. Every array is sized once, from the number of
//! arms; [`Bandit::state`] and [`Bandit::restore`] are the cold-path
//! persistence edge.
//!
//! One arm per configured horizon, in ascending minutes, so arm `i` is
//! [`HorizonId`]`(i)`.
//!
//! ```
//! use live_trading::learning::bandit::{Bandit, BanditParams};
//! use live_trading::types::{Bps, HorizonId};
//!
//! let mut bandit = Bandit::new(3, BanditParams::default()).unwrap();
//! let step = bandit.update(HorizonId(0), Bps(12.5)).unwrap();
//! assert_eq!(step.t, 1);
//! assert!(bandit.probabilities()[0] < bandit.probabilities()[1]);
//! let mut pref = [0.0; 3];
//! bandit.preference_factors(&mut pref);
//! assert_eq!(pref, [1.0; 3]); // T < min_samples: no preference yet
//! ```

use serde::{Deserialize, Serialize};

use crate::horizon::MAX_HORIZONS;
use crate::types::{Bps, HorizonId};

/// Parameters of the bandit (config keys `online_learning.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BanditParams {
    /// `online_learning.enabled`: when false the factors are all 1.0 and
    /// [`Bandit::learn`] ignores rewards.
    pub enabled: bool,
    /// `online_learning.eta_max`: cap on the learning rate η (> 0).
    pub eta_max: f64,
    /// `online_learning.reward_clip_bps`: rewards are clipped to `[-R, R]` (> 0).
    pub reward_clip_bps: Bps,
    /// `online_learning.blend_ratio`: weight of the learned probabilities in
    /// the ensemble once ramped up, in `[0, 1]`.
    pub blend_ratio: f64,
    /// `online_learning.min_samples`: updates before any blending.
    pub min_samples: u64,
    /// `online_learning.ramp_up_samples`: updates over which the blend ramps
    /// from 0 to `blend_ratio`; `None` means `min_samples`.
    pub ramp_up_samples: Option<u64>,
}

impl Default for BanditParams {
    fn default() -> Self {
        BanditParams {
            enabled: true,
            eta_max: 0.07,
            reward_clip_bps: Bps(50.0),
            blend_ratio: 0.3,
            min_samples: 100,
            ramp_up_samples: None,
        }
    }
}

impl BanditParams {
    /// The effective blend `e` after `t` updates:
    /// 0 while `t < min_samples`; `blend_ratio` when the ramp is 0;
    /// else `blend_ratio · min(1, (t − min_samples)/ramp)`.
    pub fn effective_blend(&self, t: u64) -> f64 {
        if t < self.min_samples {
            return 0.0;
        }
        let ramp = self.ramp_up_samples.unwrap_or(self.min_samples);
        if ramp == 0 {
            return self.blend_ratio;
        }
        let progress = (t - self.min_samples) as f64 / ramp as f64;
        self.blend_ratio * progress.min(1.0)
    }
}

/// Why a [`Bandit`] cannot be built or restored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BanditConfigError {
    #[error("bandit needs between 1 and {MAX_HORIZONS} arms, got {0}")]
    ArmCount(usize),
    #[error("online_learning.eta_max must be a finite number > 0, got {0}")]
    EtaMax(f64),
    #[error("online_learning.reward_clip_bps must be a finite number > 0, got {0}")]
    RewardClip(f64),
    #[error("online_learning.blend_ratio must be in [0, 1], got {0}")]
    BlendRatio(f64),
    #[error("persisted bandit state has {found} {what}, the config has {arms} arms")]
    StateShape {
        what: &'static str,
        found: usize,
        arms: usize,
    },
    #[error("persisted bandit log-weight {0} is not finite")]
    StateLogWeight(f64),
}

/// Why one update was rejected; a rejected update changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum BanditError {
    #[error("arm {arm:?} is outside [0, {arms})")]
    ArmOutOfRange { arm: HorizonId, arms: usize },
    #[error("reward {0} bps is not finite")]
    InvalidReward(f64),
}

impl BanditError {
    /// The error's wire code (`arm_out_of_range`, `invalid_reward`).
    pub const fn code(&self) -> &'static str {
        match self {
            BanditError::ArmOutOfRange { .. } => "arm_out_of_range",
            BanditError::InvalidReward(_) => "invalid_reward",
        }
    }
}

/// The numbers of one accepted update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Update count after this update.
    pub t: u64,
    /// Probability of the pulled arm before the update.
    pub p_used: f64,
    /// Learning rate η of this update.
    pub eta: f64,
    /// Implicit-exploration term γ = η/2.
    pub gamma_ix: f64,
    /// Reward after clipping to `[-R, R]`, bps.
    pub reward_clipped: Bps,
    /// Loss `(R − r)/(2R)` in `[0, 1]`.
    pub loss: f64,
    /// Importance-weighted loss `loss/(p_used + γ)`.
    pub loss_estimate: f64,
}

/// The persistent part of the bandit: what `state/engine_state.json` keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditState {
    /// Log-weights per arm, shifted so the largest is 0.
    pub log_weights: Vec<f64>,
    /// Accepted updates.
    #[serde(rename = "T")]
    pub t: u64,
    /// Accepted updates per arm.
    pub pulls: Vec<u64>,
}

/// Exp3-IX over `K` arms with log-space weights (no overflow).
#[derive(Clone, Debug)]
pub struct Bandit {
    params: BanditParams,
    state: BanditState,
    /// `softmax(log_weights)`, kept current after every change.
    probabilities: Vec<f64>,
}

impl Bandit {
    /// A fresh bandit: log-weights 0, uniform probabilities, `T = 0`.
    pub fn new(arms: usize, params: BanditParams) -> Result<Bandit, BanditConfigError> {
        if arms == 0 || arms > MAX_HORIZONS {
            return Err(BanditConfigError::ArmCount(arms));
        }
        if !(params.eta_max.is_finite() && params.eta_max > 0.0) {
            return Err(BanditConfigError::EtaMax(params.eta_max));
        }
        let r = params.reward_clip_bps.0;
        if !(r.is_finite() && r > 0.0) {
            return Err(BanditConfigError::RewardClip(r));
        }
        if !(0.0..=1.0).contains(&params.blend_ratio) {
            return Err(BanditConfigError::BlendRatio(params.blend_ratio));
        }
        let mut bandit = Bandit {
            params,
            state: BanditState {
                log_weights: vec![0.0; arms],
                t: 0,
                pulls: vec![0; arms],
            },
            probabilities: vec![0.0; arms],
        };
        bandit.refresh_probabilities();
        Ok(bandit)
    }

    /// Replace the learning state with a persisted one (cold path, at
    /// start-up). The state must have one entry per arm and finite weights;
    /// on error nothing changes.
    pub fn restore(&mut self, state: &BanditState) -> Result<(), BanditConfigError> {
        let arms = self.arms();
        for (what, found) in [
            ("log-weights", state.log_weights.len()),
            ("pull counts", state.pulls.len()),
        ] {
            if found != arms {
                return Err(BanditConfigError::StateShape { what, found, arms });
            }
        }
        if let Some(&bad) = state.log_weights.iter().find(|w| !w.is_finite()) {
            return Err(BanditConfigError::StateLogWeight(bad));
        }
        self.state.log_weights.copy_from_slice(&state.log_weights);
        self.state.pulls.copy_from_slice(&state.pulls);
        self.state.t = state.t;
        shift_to_max_zero(&mut self.state.log_weights);
        self.refresh_probabilities();
        Ok(())
    }

    /// The persistent state, for serialisation.
    pub fn state(&self) -> &BanditState {
        &self.state
    }

    /// The parameters.
    pub fn params(&self) -> &BanditParams {
        &self.params
    }

    /// Number of arms `K`.
    pub fn arms(&self) -> usize {
        self.probabilities.len()
    }

    /// Accepted updates `T`.
    pub fn t(&self) -> u64 {
        self.state.t
    }

    /// Log-weights per arm (largest is 0).
    pub fn log_weights(&self) -> &[f64] {
        &self.state.log_weights
    }

    /// Accepted updates per arm.
    pub fn pulls(&self) -> &[u64] {
        &self.state.pulls
    }

    /// Current probabilities `softmax(log_weights)`.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    /// One Exp3-IX update of `arm` with reward `reward` (SPEC §17.1).
    /// Errors (`arm` outside `[0, K)`, non-finite reward) change nothing.
    pub fn update(&mut self, arm: HorizonId, reward: Bps) -> Result<StepReport, BanditError> {
        let arms = self.arms();
        let i = arm.index();
        let Some(&p_used) = self.probabilities.get(i) else {
            return Err(BanditError::ArmOutOfRange { arm, arms });
        };
        if !reward.0.is_finite() {
            return Err(BanditError::InvalidReward(reward.0));
        }
        self.state.t += 1;
        let eta = if arms == 1 {
            0.0
        } else {
            let k = arms as f64;
            self.params
                .eta_max
                .min((k.ln() / (k * self.state.t as f64)).sqrt())
        };
        let gamma_ix = eta / 2.0;
        let r_max = self.params.reward_clip_bps.0;
        let r = reward.0.clamp(-r_max, r_max);
        let loss = (r_max - r) / (2.0 * r_max);
        let loss_estimate = loss / (p_used + gamma_ix);
        if let Some(w) = self.state.log_weights.get_mut(i) {
            *w -= eta * loss_estimate;
        }
        if let Some(n) = self.state.pulls.get_mut(i) {
            *n += 1;
        }
        shift_to_max_zero(&mut self.state.log_weights);
        self.refresh_probabilities();
        Ok(StepReport {
            t: self.state.t,
            p_used,
            eta,
            gamma_ix,
            reward_clipped: Bps(r),
            loss,
            loss_estimate,
        })
    }

    /// Feed a closed episode's net reward (SPEC §17.2): updates only when
    /// learning is enabled and the episode carries an arm; `None` otherwise.
    pub fn learn(
        &mut self,
        arm: Option<HorizonId>,
        net: Bps,
    ) -> Option<Result<StepReport, BanditError>> {
        match arm {
            Some(arm) if self.params.enabled => Some(self.update(arm, net)),
            _ => None,
        }
    }

    /// The effective blend `e` at the current `T`; 0 when learning is off.
    pub fn effective_blend(&self) -> f64 {
        if self.params.enabled {
            self.params.effective_blend(self.state.t)
        } else {
            0.0
        }
    }

    /// Ensemble weight per arm, `(1−e)/K + e·p_h`, written into
    /// `out[..K]` (exactly `1/K` each when the factors are neutral).
    pub fn ensemble_weights(&self, out: &mut [f64]) {
        let k = self.arms() as f64;
        let e = self.effective_blend();
        let neutral = self.is_neutral(e);
        for (w, &p) in out.iter_mut().zip(&self.probabilities) {
            *w = if neutral {
                1.0 / k
            } else {
                (1.0 - e) / k + e * p
            };
        }
    }

    /// Arbiter preference factor per arm, `(1−e) + e·K·p_h`, written into
    /// `out[..K]`: exactly 1.0 when learning is off, `e = 0`, or all
    /// probabilities are equal.
    pub fn preference_factors(&self, out: &mut [f64]) {
        let k = self.arms() as f64;
        let e = self.effective_blend();
        let neutral = self.is_neutral(e);
        for (f, &p) in out.iter_mut().zip(&self.probabilities) {
            *f = if neutral { 1.0 } else { (1.0 - e) + e * k * p };
        }
    }

    fn is_neutral(&self, e: f64) -> bool {
        let first = self.probabilities.first().copied().unwrap_or(0.0);
        e == 0.0 || self.probabilities.iter().all(|&p| p == first)
    }

    fn refresh_probabilities(&mut self) {
        let max = max_of(&self.state.log_weights);
        let mut sum = 0.0;
        for (p, &w) in self.probabilities.iter_mut().zip(&self.state.log_weights) {
            *p = (w - max).exp();
            sum += *p;
        }
        for p in &mut self.probabilities {
            *p /= sum;
        }
    }
}

fn max_of(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn shift_to_max_zero(log_weights: &mut [f64]) {
    let max = max_of(log_weights);
    for w in log_weights {
        *w -= max;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_samples: u64, ramp: Option<u64>) -> BanditParams {
        BanditParams {
            min_samples,
            ramp_up_samples: ramp,
            ..BanditParams::default()
        }
    }

    #[test]
    fn first_update_matches_hand_computation() {
        let mut b = Bandit::new(6, BanditParams::default()).unwrap();
        let s = b.update(HorizonId(0), Bps(12.5)).unwrap();
        // η = min(0.07, sqrt(ln 6/6)) = 0.07, ℓ = 0.375, ℓ̂ = ℓ/(1/6 + 0.035).
        assert_eq!(s.eta, 0.07);
        assert_eq!(s.loss, 0.375);
        let expected = 0.375 / (1.0 / 6.0 + 0.035);
        assert!((s.loss_estimate - expected).abs() < 1e-15);
        assert!((b.log_weights()[0] + 0.07 * expected).abs() < 1e-15);
        assert_eq!(&b.log_weights()[1..], &[0.0; 5]);
        let total: f64 = b.probabilities().iter().sum();
        assert!((total - 1.0).abs() < 1e-15);
    }

    #[test]
    fn rejected_updates_change_nothing() {
        let mut b = Bandit::new(2, BanditParams::default()).unwrap();
        b.update(HorizonId(0), Bps(5.0)).unwrap();
        let before = b.state().clone();
        let probs = b.probabilities().to_vec();
        assert_eq!(
            b.update(HorizonId(2), Bps(1.0)),
            Err(BanditError::ArmOutOfRange {
                arm: HorizonId(2),
                arms: 2
            })
        );
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = b.update(HorizonId(1), Bps(bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_reward");
        }
        assert_eq!(b.state(), &before);
        assert_eq!(b.probabilities(), &probs[..]);
    }

    #[test]
    fn single_arm_never_learns() {
        let mut b = Bandit::new(1, params(0, None)).unwrap();
        let s = b.update(HorizonId(0), Bps(-80.0)).unwrap();
        assert_eq!((s.eta, s.gamma_ix), (0.0, 0.0));
        assert_eq!(s.reward_clipped, Bps(-50.0));
        assert_eq!(s.loss_estimate, 1.0);
        assert_eq!(b.log_weights(), &[0.0]);
        assert_eq!(b.probabilities(), &[1.0]);
    }

    #[test]
    fn extreme_losses_stay_finite() {
        let mut b = Bandit::new(2, params(0, Some(0))).unwrap();
        for _ in 0..10_000 {
            b.update(HorizonId(1), Bps(-1e9)).unwrap();
        }
        assert!(b.log_weights().iter().all(|w| w.is_finite()));
        assert_eq!(b.log_weights()[0], 0.0);
        let mut pref = [0.0; 2];
        b.preference_factors(&mut pref);
        assert!(pref.iter().all(|f| f.is_finite()));
        assert!(pref[0] > 1.0 && pref[1] < 1.0);
    }

    #[test]
    fn blend_schedule_ramps_then_saturates() {
        let p = BanditParams {
            blend_ratio: 0.5,
            ..params(10, Some(4))
        };
        let got: Vec<f64> = [0, 9, 10, 12, 14, 100]
            .iter()
            .map(|&t| p.effective_blend(t))
            .collect();
        assert_eq!(got, [0.0, 0.0, 0.0, 0.25, 0.5, 0.5]);
        assert_eq!(params(10, None).effective_blend(15), 0.3 * 0.5);
        assert_eq!(params(10, Some(0)).effective_blend(10), 0.3);
    }

    #[test]
    fn factors_are_neutral_when_off_early_or_uniform() {
        let mut b = Bandit::new(3, params(0, Some(0))).unwrap();
        let mut pref = [0.0; 3];
        let mut ens = [0.0; 3];
        b.preference_factors(&mut pref);
        b.ensemble_weights(&mut ens);
        assert_eq!(pref, [1.0; 3]);
        assert_eq!(ens, [1.0 / 3.0; 3]);

        b.update(HorizonId(2), Bps(-50.0)).unwrap();
        b.preference_factors(&mut pref);
        assert!(pref[2] < 1.0);
        b.ensemble_weights(&mut ens);
        assert!((ens.iter().sum::<f64>() - 1.0).abs() < 1e-15);

        let mut off = Bandit::new(
            3,
            BanditParams {
                enabled: false,
                ..params(0, Some(0))
            },
        )
        .unwrap();
        assert_eq!(off.learn(Some(HorizonId(2)), Bps(-50.0)), None);
        off.update(HorizonId(2), Bps(-50.0)).unwrap();
        off.preference_factors(&mut pref);
        assert_eq!(pref, [1.0; 3]);
    }

    #[test]
    fn learn_skips_episodes_without_arm() {
        let mut b = Bandit::new(2, BanditParams::default()).unwrap();
        assert_eq!(b.learn(None, Bps(10.0)), None);
        assert_eq!(b.t(), 0);
        assert!(b.learn(Some(HorizonId(1)), Bps(10.0)).unwrap().is_ok());
        assert_eq!(b.pulls(), &[0, 1]);
    }

    #[test]
    fn state_round_trips_through_json_and_restore_validates() {
        let mut b = Bandit::new(3, BanditParams::default()).unwrap();
        b.update(HorizonId(1), Bps(-20.0)).unwrap();
        let text = serde_json::to_string(b.state()).unwrap();
        assert!(text.contains("\"T\":1"));
        let back: BanditState = serde_json::from_str(&text).unwrap();
        let mut fresh = Bandit::new(3, BanditParams::default()).unwrap();
        fresh.restore(&back).unwrap();
        assert_eq!(fresh.state(), b.state());
        assert_eq!(fresh.probabilities(), b.probabilities());

        let mut two = Bandit::new(2, BanditParams::default()).unwrap();
        assert!(matches!(
            two.restore(&back),
            Err(BanditConfigError::StateShape { found: 3, .. })
        ));
        let nan = BanditState {
            log_weights: vec![0.0, f64::NAN, 0.0],
            ..back
        };
        assert!(fresh.restore(&nan).is_err());
        assert_eq!(fresh.state(), b.state());
    }

    #[test]
    fn rejects_bad_params() {
        assert_eq!(
            Bandit::new(0, BanditParams::default()).unwrap_err(),
            BanditConfigError::ArmCount(0)
        );
        let bad = BanditParams {
            eta_max: 0.0,
            ..BanditParams::default()
        };
        assert!(Bandit::new(2, bad).is_err());
        let bad = BanditParams {
            reward_clip_bps: Bps(f64::NAN),
            ..BanditParams::default()
        };
        assert!(Bandit::new(2, bad).is_err());
        let bad = BanditParams {
            blend_ratio: 1.5,
            ..BanditParams::default()
        };
        assert!(Bandit::new(2, bad).is_err());
    }
}
