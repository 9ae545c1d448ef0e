//! From the validated [`EngineConfig`] to each stage's parameters, in the
//! stages' internal units. Every engine component is built from these, so a
//! config key reaches its stage through exactly one path.
//!
//! Cold path: start-up only.

use super::EngineConfig;
use crate::broker::paper::PaperParams;
use crate::learning::bandit::BanditParams;
use crate::market::volatility::VolatilityParams;
use crate::pipeline::arbitrate::ArbiterParams;
use crate::pipeline::blend::BlendParams;
use crate::pipeline::confidence::ConfidenceParams;
use crate::pipeline::cost::CostParams;
use crate::pipeline::decision::PipelineParams;
use crate::pipeline::gate::{BarrierParams, SpreadGateParams};
use crate::pipeline::ridge::RidgeParams;
use crate::pipeline::risk::RiskLimits;
use crate::pipeline::size::SizingParams;
use crate::pipeline::standardize::StandardizeParams;
use crate::pipeline::temperature::TemperatureParams;
use crate::types::Nanos;

impl EngineConfig {
    /// Parameters of every decision stage.
    pub fn pipeline_params(&self) -> PipelineParams {
        let c = self;
        PipelineParams {
            spread_gate: SpreadGateParams {
                spread_max_bps: c.risk.spread_max_bps,
                quote_age_max_ms: c.risk.quote_age_max.0 as f64 / Nanos::PER_MILLI as f64,
                enabled: c.engine.enable_spread_gate,
            },
            volatility: VolatilityParams {
                vol_window: c.volatility.vol_window,
                bar_minutes: c.volatility.bar_minutes,
            },
            standardize: StandardizeParams {
                window_size: c.standardization.window_size,
                z_clip: c.standardization.z_clip,
            },
            confidence: ConfidenceParams {
                ic_window: c.confidence.ic_window,
                stability_window: c.confidence.stability_window,
                min_ic_pairs: c.confidence.min_ic_pairs,
                ic_floor: c.confidence.ic_floor,
                capacity_kappa: c.capacity_kappa,
            },
            blend: BlendParams {
                history_size: c.blending.history_size,
                min_history: c.blending.min_history,
            },
            ridge: RidgeParams {
                ridge_lambda: c.blending.ridge_lambda,
                cost_penalty: c.blending.cost_penalty,
                ic_floor: c.confidence.ic_floor,
                ..RidgeParams::default()
            },
            temperature: TemperatureParams {
                temperature: c
                    .horizons
                    .iter()
                    .map(|(id, h)| (h.minutes, c.blending.temperature(id)))
                    .collect(),
            },
            cost: CostParams {
                k1: c.cost_model.k1,
                k2: c.cost_model.k2,
                k3: c.cost_model.k3,
            },
            arbiter: ArbiterParams {
                entry_threshold_bps: c.arbitration.entry_threshold_bps,
                reserve_bps: c.arbitration.reserve_bps,
            },
            barrier: BarrierParams {
                g_min: c.barrier_gate.g_min,
                gamma: c.barrier_gate.gamma,
                delta: c.barrier_gate.delta,
                peak_threshold: c.barrier_gate.peak_threshold,
                valley_threshold: c.barrier_gate.valley_threshold,
                enabled: c.engine.enable_barrier_gate,
            },
            sizing: SizingParams {
                z_max: c.sizing.z_max,
                max_weight: c.sizing.max_weight,
                max_position: c.risk.max_position,
                gross_target: c.sizing.gross_target,
                no_trade_band: c.sizing.no_trade_band,
            },
        }
    }

    /// Risk limits of the guardrails (SPEC §15).
    pub fn risk_limits(&self) -> RiskLimits {
        RiskLimits {
            max_daily_loss: self.risk.max_daily_loss,
            max_drawdown: self.risk.max_drawdown,
            max_position: self.risk.max_position,
            max_gross: self.risk.max_gross_exposure,
            session_timezone: self.risk.session_timezone,
        }
    }

    /// Paper-broker parameters (SPEC §16).
    pub fn paper_params(&self) -> PaperParams {
        PaperParams {
            initial_cash: self.paper.initial_cash,
            slippage_bps: self.paper.slippage_bps,
            fee_bps: self.paper.fee_bps,
        }
    }

    /// Online-learning parameters (SPEC §17).
    pub fn bandit_params(&self) -> BanditParams {
        let l = &self.online_learning;
        BanditParams {
            enabled: l.enabled,
            eta_max: l.eta_max,
            reward_clip_bps: l.reward_clip_bps,
            blend_ratio: l.blend_ratio,
            min_samples: l.min_samples,
            ramp_up_samples: Some(l.ramp_up_samples),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Bps, Frac};

    /// The default config yields exactly every stage's SPEC defaults.
    #[test]
    fn default_config_gives_every_stage_default() {
        let c = EngineConfig::default();
        let mut p = c.pipeline_params();
        let spec = TemperatureParams::default();
        for (_, h) in c.horizons.iter() {
            assert_eq!(
                p.temperature.for_minutes(h.minutes),
                spec.for_minutes(h.minutes)
            );
        }
        p.temperature = spec;
        assert_eq!(p, PipelineParams::default());
        assert_eq!(c.paper_params(), PaperParams::default());
        let b = c.bandit_params();
        assert_eq!(b.ramp_up_samples, Some(b.min_samples));
        assert_eq!(
            BanditParams {
                ramp_up_samples: None,
                ..b
            },
            BanditParams::default()
        );
        assert_eq!(c.risk_limits(), RiskLimits::default());
    }

    /// Percent keys arrive as fractions; the one position limit feeds both
    /// sizing and risk.
    #[test]
    fn overrides_reach_their_stage_in_internal_units() {
        let mut m = serde_json::Map::new();
        m.insert("risk.max_position_pct".into(), 25.0.into());
        m.insert("risk.quote_age_max_ms".into(), 150.0.into());
        m.insert("arbitration.entry_threshold_bps".into(), 3.5.into());
        m.insert(
            "blending.temperature".into(),
            serde_json::json!({"5m": 0.5}),
        );
        let c = EngineConfig::from_overrides(&m).unwrap();
        let p = c.pipeline_params();
        assert_eq!(p.sizing.max_position, Frac(0.25));
        assert_eq!(c.risk_limits().max_position, Frac(0.25));
        assert_eq!(p.spread_gate.quote_age_max_ms, 150.0);
        assert_eq!(p.arbiter.entry_threshold_bps, Bps(3.5));
        assert_eq!(p.temperature.for_minutes(5), 0.5);
        assert_eq!(p.temperature.for_minutes(10), 1.0);
    }
}
