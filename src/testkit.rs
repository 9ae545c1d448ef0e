//! Scripted scenarios: a deterministic universe of symbols, models, quotes,
//! bars and model outputs for benchmarks, the zero-allocation test and other
//! tests that need a whole decision without real models or feeds.
//!
//! Construction allocates; [`Scenario::step`] and [`Scenario::input`] do not,
//! so a warmed-up loop over them measures only the pipeline. The numbers are
//! from a seeded splitmix64 generator: two scenarios with the same seed are
//! identical.

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

use crate::horizon::HorizonSet;
use crate::pipeline::decision::{
    DecisionPipeline, ModelLayout, PipelineError, PipelineParams, ReturnModel, SymbolInput,
};
use crate::pipeline::gate::{BarrierResolver, Quote};
use crate::types::SymbolOrder;
use crate::types::{Frac, HorizonId, ModelId, Nanos, Qty, SymbolId};

/// 2024-01-02T15:00:00Z, the scenarios' first decision time.
pub const START: Nanos = Nanos(1_704_207_600_000_000_000);

/// Bar closes kept per symbol (enough for the default volatility window).
const CLOSES: usize = 32;

/// Deterministic splitmix64 generator.
#[derive(Clone, Copy, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A universe of symbols and models with scripted market data and outputs.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub params: PipelineParams,
    pub layout: ModelLayout,
    pub symbols: Vec<String>,
    pub time: Nanos,
    /// Per symbol: the last closes, oldest first.
    pub closes: Vec<[f64; CLOSES]>,
    pub quotes: Vec<Quote>,
    /// Per symbol: one raw output per model id.
    pub outputs: Vec<Vec<f64>>,
    pub positions: Vec<Qty>,
    /// Per model: +1 for return models (signal follows the latent), or the
    /// barrier kind's base probability.
    model_kind: Vec<ModelKind>,
    rng: SplitMix,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelKind {
    Return { noise: f64 },
    Barrier { base: f64 },
}

impl Scenario {
    /// `n_symbols` symbols, the given horizons × families of return models,
    /// and (with `barriers`) peak and valley classifiers for the base
    /// horizon. Sizing uses `max_weight` 0.15 so that signals trade.
    pub fn new(
        n_symbols: usize,
        horizons: &[&str],
        families: &[&str],
        barriers: bool,
        seed: u64,
    ) -> Scenario {
        let set = HorizonSet::parse(horizons).unwrap_or_else(|_| HorizonSet::default_set());
        let base_label = set.get(set.base()).label.clone();
        // Model ids in byte-wise sorted "<target>/<family>" order.
        let mut names: Vec<(String, String, Option<HorizonId>)> = Vec::new();
        for (h, horizon) in set.iter() {
            for f in families {
                names.push((format!("fwd_ret_{}", horizon.label), f.to_string(), Some(h)));
            }
        }
        if barriers {
            for kind in ["will_peak_", "will_valley_"] {
                names.push((format!("{kind}{base_label}"), families[0].to_string(), None));
            }
        }
        names.sort_by(|a, b| format!("{}/{}", a.0, a.1).cmp(&format!("{}/{}", b.0, b.1)));
        let mut rng = SplitMix::new(seed);
        let mut return_models = Vec::new();
        let mut model_kind = Vec::new();
        for (i, (target, _, h)) in names.iter().enumerate() {
            match h {
                Some(h) => {
                    return_models.push(ReturnModel {
                        id: ModelId(i as u16),
                        horizon: *h,
                        ic_prior: Some(0.3 + 0.2 * rng.unit().abs()),
                    });
                    model_kind.push(ModelKind::Return {
                        noise: 0.2 + 0.1 * rng.unit().abs(),
                    });
                }
                None => model_kind.push(ModelKind::Barrier {
                    base: if target.starts_with("will_peak_") {
                        0.3
                    } else {
                        0.25
                    },
                }),
            }
        }
        let barrier =
            BarrierResolver::new(names.iter().map(|(t, f, _)| (t.as_str(), f.as_str())), &set);
        let n_models = names.len();
        let mut params = PipelineParams::default();
        params.sizing.max_weight = Frac(0.15);
        let symbols: Vec<String> = (0..n_symbols).map(|i| format!("S{i:03}")).collect();
        let mut closes = vec![[0.0; CLOSES]; n_symbols];
        for c in &mut closes {
            let mut p = 100.0 + 50.0 * rng.unit().abs();
            for x in c.iter_mut() {
                p *= 1.0 + 0.002 * rng.unit();
                *x = p;
            }
        }
        let quotes = closes
            .iter()
            .map(|c| {
                let mid = c[CLOSES - 1];
                Quote {
                    bid: mid * (1.0 - 1e-4),
                    ask: mid * (1.0 + 1e-4),
                    time: Some(START),
                }
            })
            .collect();
        let mut s = Scenario {
            params,
            layout: ModelLayout {
                horizons: set,
                return_models,
                barrier,
                n_models,
            },
            symbols,
            time: START,
            closes,
            quotes,
            outputs: vec![vec![0.0; n_models]; n_symbols],
            positions: vec![Qty::ZERO; n_symbols],
            model_kind,
            rng,
        };
        s.script_outputs();
        s
    }

    /// The default universe of the benches: 6 horizons × 3 families with
    /// base-horizon barrier classifiers.
    pub fn full(n_symbols: usize, seed: u64) -> Scenario {
        Scenario::new(
            n_symbols,
            &["5m", "10m", "15m", "30m", "60m", "1d"],
            &["LightGBM", "MLP", "Ridge"],
            true,
            seed,
        )
    }

    /// The symbols' dense order for sizing and risk.
    pub fn order(&self) -> SymbolOrder {
        SymbolOrder::from_names(&self.symbols)
            .unwrap_or_else(|_| unreachable!("scenario symbols are unique"))
    }

    /// A decision pipeline for this universe.
    pub fn pipeline(&self) -> Result<DecisionPipeline, PipelineError> {
        // Enough for the longest horizon (1d = 390 one-minute steps).
        let pending = self.symbols.len() * self.layout.n_models * 512;
        DecisionPipeline::new(&self.params, &self.layout, self.order(), pending)
    }

    /// Advance one minute: new bar closes, quotes and outputs. No allocation.
    pub fn step(&mut self) {
        self.time = self.time.saturating_add(Nanos::from_secs(60));
        for (c, q) in self.closes.iter_mut().zip(&mut self.quotes) {
            c.copy_within(1.., 0);
            let p = c[CLOSES - 2] * (1.0 + 0.002 * self.rng.unit());
            c[CLOSES - 1] = p;
            *q = Quote {
                bid: p * (1.0 - 1e-4),
                ask: p * (1.0 + 1e-4),
                time: Some(self.time),
            };
        }
        self.script_outputs();
    }

    fn script_outputs(&mut self) {
        for out in &mut self.outputs {
            let latent = 0.002 * self.rng.unit();
            for (o, kind) in out.iter_mut().zip(&self.model_kind) {
                *o = match *kind {
                    ModelKind::Return { noise } => latent * (1.0 + noise * self.rng.unit()),
                    ModelKind::Barrier { base } => base + 0.2 * self.rng.unit(),
                };
            }
        }
    }

    /// Symbol `i`'s input at the current step, with its current weight at
    /// portfolio value `pv`.
    pub fn input(&self, i: usize, pv: f64) -> SymbolInput<'_> {
        let mid = self.quotes[i].mid();
        SymbolInput {
            symbol: SymbolId(i as u16),
            quote: Some(&self.quotes[i]),
            closes: &self.closes[i],
            data_time: self.time,
            adv_usd: Some(5.0e8),
            outputs: &self.outputs[i],
            position: self.positions[i],
            current_weight: self.positions[i].as_f64() * mid / pv,
            remember: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::decision::SymbolDecision;
    use crate::types::Decision;

    #[test]
    fn same_seed_same_scenario() {
        let mut a = Scenario::full(3, 7);
        let mut b = Scenario::full(3, 7);
        a.step();
        b.step();
        assert_eq!(a.outputs, b.outputs);
        assert_eq!(a.closes, b.closes);
        assert_eq!(a.layout.n_models, 6 * 3 + 2);
    }

    /// Over a scripted session the pipeline reaches every outcome class:
    /// trades, holds and (with the barrier classifiers) gate decisions.
    #[test]
    fn scripted_session_trades_and_holds() {
        let mut s = Scenario::full(4, 11);
        let mut p = s.pipeline().unwrap();
        let mut d = vec![SymbolDecision::EMPTY; 4];
        let (mut trades, mut holds) = (0, 0);
        for _ in 0..200 {
            s.step();
            p.begin_cycle(s.time, 1e5, &[], |i| Some(s.quotes[i.index()].mid()));
            for (i, out) in d.iter_mut().enumerate() {
                p.decide(&s.input(i, 1e5), out);
            }
            p.size_cycle(&mut d).unwrap();
            for x in &d {
                match x.decision {
                    Decision::Trade => trades += 1,
                    _ => holds += 1,
                }
            }
        }
        assert!(trades > 0 && holds > 0, "trades {trades}, holds {holds}");
    }
}
