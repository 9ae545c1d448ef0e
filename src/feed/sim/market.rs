//! [`MarketSim`]: the deterministic market generator. It owns every
//! symbol's state and hands out [`SimEvent`]s (quotes, then the bars they
//! make) one at a time, in time order, until the last session ends.
//!
//! The dynamics, per quote step of each symbol (`quotes_per_bar` steps per
//! bar):
//! - **volatility**: a per-step σ from `annual_vol`, times an intraday
//!   U-shaped multiplier (high at the open and close, low at midday; mean 1
//!   over the session), times a slowly mean-reverting log-normal regime
//!   (AR(1) in the log, half-life `regime_half_life_sessions`, mean 1);
//! - **efficient price**: a log random walk; each step's shock is
//!   `beta·market + idiosyncratic`, the market shock shared by every symbol
//!   at that step, so returns are correlated through `beta`;
//! - **jumps**: Poisson (`jump_intensity` per session), size uniform in
//!   `[0.5, 1.5]·jump_size`, random sign; permanent;
//! - **predictability (mean reversion)**: the quoted mid is the efficient
//!   price times `exp(e)`, `e` an AR(1) pricing error with stationary
//!   standard deviation `reversion` one-bar volatilities and half-life
//!   `reversion_half_life_bars`. Part of every recent move reverses, so
//!   past returns, moving-average ratios and band positions predict the
//!   next bars' returns with the opposite sign: models trained on the
//!   features find a positive IC. Nothing else is predictable;
//! - **spread** (bps): the symbol's base, times a shape that widens at the
//!   open (×2.5 at 09:30, back to ×1 within half an hour) and into the
//!   close, times the volatility regime, times log-normal noise reverting
//!   within a few bars, times `1 + excess` where each jump adds 2 to the
//!   excess, which halves every 5 bars;
//! - **quotes**: bid = mid − spread/2 rounded down to the cent, ask = mid +
//!   spread/2 rounded up, at least one cent apart, at jittered microsecond
//!   times (one per `bar/quotes_per_bar` slot of the bar);
//! - **overnight**: between sessions the efficient price gaps by
//!   `overnight_vol` of a session's standard deviation (market and
//!   idiosyncratic parts).
//!
//! Bars: open = the first quote's mid `(bid+ask)/2`, high/low over the
//! bar's quote mids, close = the last; volume in whole shares =
//! `adv_usd/close` spread over the session's bars with the same U shape,
//! times the square root of the regime, log-normal noise and the jump
//! excess. A bar is stamped with its END time and follows its last quote.
//!
//! Feed thread (or a cold tool such as the dataset writer), hot path after
//! [`MarketSim::new`]: no allocation, no blocking, no logging. Same
//! parameters → the same events, bit for bit (on one platform: the
//! dynamics use `exp`/`ln`/`cos` from the platform's math library).

use crate::horizon::SESSION_MINUTES;
use crate::market::Bar;
use crate::types::{Nanos, SymbolId};

use super::params::{SimError, SimParams, SESSIONS_PER_YEAR};
use super::rng::{derive_seed, name_key, Rng};

/// One simulated market event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SimEvent {
    /// A top-of-book quote: cent prices, `bid < ask`, microsecond time.
    Quote {
        symbol: SymbolId,
        bid: f64,
        ask: f64,
        time: Nanos,
    },
    /// A bar of quote mids, stamped with its end time.
    Bar {
        symbol: SymbolId,
        end: Nanos,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
    },
}

impl SimEvent {
    /// The event's time (a bar's end).
    pub fn time(&self) -> Nanos {
        match *self {
            SimEvent::Quote { time, .. } => time,
            SimEvent::Bar { end, .. } => end,
        }
    }

    /// The event's symbol.
    pub fn symbol(&self) -> SymbolId {
        match *self {
            SimEvent::Quote { symbol, .. } | SimEvent::Bar { symbol, .. } => symbol,
        }
    }

    /// A bar event as the engine's [`Bar`]; `None` for a quote.
    pub fn bar(&self) -> Option<(SymbolId, Bar)> {
        match *self {
            SimEvent::Quote { .. } => None,
            SimEvent::Bar {
                symbol,
                end,
                open,
                high,
                low,
                close,
                volume,
            } => Some((
                symbol,
                Bar {
                    end,
                    open,
                    high,
                    low,
                    close,
                    volume,
                },
            )),
        }
    }
}

/// Multiplier of the spread right after a jump is `1 + this`.
const JUMP_SPREAD_WIDENING: f64 = 2.0;
/// Half-life of the jump's spread widening, in bars.
const JUMP_SPREAD_HALF_LIFE_BARS: f64 = 5.0;
/// Standard deviation of the log spread noise.
const SPREAD_NOISE_VOL: f64 = 0.25;
/// Half-life of the log spread noise, in bars.
const SPREAD_NOISE_HALF_LIFE_BARS: f64 = 2.0;
/// Standard deviation of the log volume noise per bar.
const VOLUME_NOISE_VOL: f64 = 0.35;

/// Per-step constants of the dynamics, derived once from the parameters.
#[derive(Clone, Copy, Debug)]
struct Dynamics {
    jump_prob: f64,
    jump_size: f64,
    regime_phi: f64,
    regime_innov: f64,
    /// Mean correction of the regime multiplier: `regime_vol² / 2`.
    regime_half_var: f64,
    error_phi: f64,
    /// Pricing-error innovation per unit of the step's volatility.
    error_innov: f64,
    spread_phi: f64,
    spread_innov: f64,
    jump_decay: f64,
    /// Overnight gap, in per-step standard deviations of the efficient price.
    overnight_steps: f64,
}

/// One symbol's state and constants.
#[derive(Clone, Debug)]
struct Symbol {
    rng: Rng,
    /// `beta · market_vol`, per step.
    sigma_market: f64,
    /// Idiosyncratic volatility, per step.
    sigma_idio: f64,
    /// `annual_vol`, per step.
    sigma_total: f64,
    base_spread: f64,
    adv_usd: f64,
    /// Efficient log price.
    log_price: f64,
    /// Pricing error (log).
    error: f64,
    /// Log volatility regime.
    regime: f64,
    /// Log spread noise.
    spread_noise: f64,
    /// Spread widening left from jumps.
    jump_excess: f64,
    bar: BarAcc,
}

/// OHLC of quote mids over the bar being built.
#[derive(Clone, Copy, Debug)]
struct BarAcc {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

impl BarAcc {
    const EMPTY: BarAcc = BarAcc {
        open: f64::NAN,
        high: f64::NAN,
        low: f64::NAN,
        close: f64::NAN,
        volume: 0.0,
    };

    fn add(&mut self, mid: f64) {
        if self.open.is_nan() {
            *self = BarAcc {
                open: mid,
                high: mid,
                low: mid,
                close: mid,
                volume: 0.0,
            };
        } else {
            self.high = self.high.max(mid);
            self.low = self.low.min(mid);
            self.close = mid;
        }
    }
}

/// A generated quote waiting to be handed out.
#[derive(Clone, Copy, Debug)]
struct Pending {
    time: Nanos,
    symbol: SymbolId,
    bid: f64,
    ask: f64,
}

impl Symbol {
    /// One quote step: advance the regime, price, jumps, pricing error and
    /// spread; return the cent bid and ask and whether a jump happened.
    fn step(
        &mut self,
        market_shock: f64,
        vol_shape: f64,
        spread_shape: f64,
        c: &Dynamics,
    ) -> (f64, f64, bool) {
        let rng = &mut self.rng;
        self.regime = c.regime_phi * self.regime + c.regime_innov * rng.normal();
        let regime = (self.regime - c.regime_half_var).exp();
        let scale = vol_shape * regime;
        self.log_price +=
            scale * (self.sigma_market * market_shock + self.sigma_idio * rng.normal());
        self.jump_excess *= c.jump_decay;
        let jumped = rng.uniform() < c.jump_prob;
        if jumped {
            let size = c.jump_size * (0.5 + rng.uniform());
            let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
            self.log_price += sign * size;
            self.jump_excess += JUMP_SPREAD_WIDENING;
        }
        self.error =
            c.error_phi * self.error + c.error_innov * scale * self.sigma_total * rng.normal();
        self.spread_noise = c.spread_phi * self.spread_noise + c.spread_innov * rng.normal();
        let noise = (self.spread_noise - SPREAD_NOISE_VOL * SPREAD_NOISE_VOL / 2.0).exp();
        let spread = self.base_spread * spread_shape * regime * noise * (1.0 + self.jump_excess);
        let mid = (self.log_price + self.error).exp();
        let half = mid * spread / 2.0;
        let bid_cents = ((mid - half) * 100.0).floor().max(1.0);
        let ask_cents = ((mid + half) * 100.0).ceil().max(bid_cents + 1.0);
        (bid_cents / 100.0, ask_cents / 100.0, jumped)
    }

    /// The bar's volume in whole shares (≥ 1) at its close.
    fn volume(&mut self, per_bar_usd: f64, c: &Dynamics) -> f64 {
        let regime = (self.regime - c.regime_half_var).exp();
        let noise = (VOLUME_NOISE_VOL * self.rng.normal()
            - VOLUME_NOISE_VOL * VOLUME_NOISE_VOL / 2.0)
            .exp();
        let shares =
            per_bar_usd / self.bar.close * regime.sqrt() * noise * (1.0 + self.jump_excess);
        if shares.is_finite() {
            shares.round().max(1.0)
        } else {
            1.0
        }
    }
}

/// The market simulator: a pure, seeded event generator.
///
/// All memory is allocated by [`MarketSim::new`]; [`MarketSim::next_event`]
/// allocates nothing.
///
/// ```
/// use live_trading::feed::sim::{MarketSim, SimEvent, SimParams};
///
/// let mut params = SimParams::default();
/// params.days = 1;
/// params.select_symbols(&["SPY", "AAPL"]).unwrap();
/// let mut sim = MarketSim::new(params).unwrap();
/// assert_eq!(sim.symbols(), ["SPY", "AAPL"]);
/// let (mut quotes, mut bars) = (0, 0);
/// while let Some(event) = sim.next_event() {
///     match event {
///         SimEvent::Quote { bid, ask, .. } => {
///             assert!(bid < ask);
///             quotes += 1;
///         }
///         SimEvent::Bar { low, high, .. } => {
///             assert!(low <= high);
///             bars += 1;
///         }
///     }
/// }
/// assert_eq!(bars, 2 * 390);
/// assert_eq!(quotes, 6 * bars);
/// ```
#[derive(Clone, Debug)]
pub struct MarketSim {
    params: SimParams,
    names: Box<[String]>,
    symbols: Box<[Symbol]>,
    market: Rng,
    dynamics: Dynamics,
    /// UTC open of each trading day.
    opens: Box<[Nanos]>,
    /// Volatility multiplier per quote step of the session (mean 1).
    vol_shape: Box<[f64]>,
    /// Spread multiplier per quote step of the session (1 at midday).
    spread_shape: Box<[f64]>,
    /// Dollar volume per bar of the session, as a fraction of `adv_usd`.
    volume_shape: Box<[f64]>,
    quotes_per_bar: usize,
    bar_us: u64,
    /// The current bar's quotes, in event order.
    quotes: Box<[Pending]>,
    next_quote: usize,
    /// Bars of the current bar interval handed out so far (symbols count).
    next_bar_symbol: usize,
    bar_end: Nanos,
    /// Session of the next bar to generate.
    day: usize,
    /// Bar index in that session of the next bar to generate.
    bar: usize,
    jumps: u64,
}

impl MarketSim {
    /// A simulator at the first session's open.
    ///
    /// # Errors
    /// Any invalid parameter (see [`SimParams::validate`]).
    pub fn new(params: SimParams) -> Result<MarketSim, SimError> {
        params.validate()?;
        let opens = params.session_opens()?.into_boxed_slice();
        let q = params.quotes_per_bar as usize;
        let steps = params.steps_per_session() as usize;
        let bars = params.bars_per_session() as usize;
        let step_minutes = f64::from(params.bar_minutes) / q as f64;
        let steps_per_year = SESSIONS_PER_YEAR * steps as f64;
        let per_step = |annual: f64| annual / steps_per_year.sqrt();
        // AR(1) coefficient per step: the fraction of a deviation left after
        // one step, for a half-life given in steps.
        let phi = |half_life_steps: f64| 0.5f64.powf(1.0 / half_life_steps);
        let qf = q as f64;
        let regime_phi = phi(params.regime_half_life_sessions * steps as f64);
        let error_phi = phi(params.reversion_half_life_bars * qf);
        let spread_phi = phi(SPREAD_NOISE_HALF_LIFE_BARS * qf);
        let dynamics = Dynamics {
            jump_prob: params.jump_intensity / steps as f64,
            jump_size: params.jump_size.0,
            regime_phi,
            regime_innov: params.regime_vol * (1.0 - regime_phi * regime_phi).sqrt(),
            regime_half_var: params.regime_vol * params.regime_vol / 2.0,
            error_phi,
            // Stationary std `reversion · sqrt(q) · step σ` (one bar's σ).
            error_innov: params.reversion * qf.sqrt() * (1.0 - error_phi * error_phi).sqrt(),
            spread_phi,
            spread_innov: SPREAD_NOISE_VOL * (1.0 - spread_phi * spread_phi).sqrt(),
            jump_decay: phi(JUMP_SPREAD_HALF_LIFE_BARS * qf),
            overnight_steps: params.overnight_vol * (steps as f64).sqrt(),
        };
        let symbols = params
            .symbols
            .iter()
            .map(|s| {
                let market = s.beta * params.market_vol;
                let idio = (s.annual_vol * s.annual_vol - market * market)
                    .max(0.0)
                    .sqrt();
                let mut rng = Rng::new(derive_seed(params.seed, name_key(&s.name)));
                let regime = params.regime_vol * rng.normal();
                Symbol {
                    rng,
                    sigma_market: per_step(market),
                    sigma_idio: per_step(idio),
                    sigma_total: per_step(s.annual_vol),
                    base_spread: s.base_spread_bps.to_frac().0,
                    adv_usd: s.adv_usd,
                    log_price: s.start_price.ln(),
                    error: 0.0,
                    regime,
                    spread_noise: 0.0,
                    jump_excess: 0.0,
                    bar: BarAcc::EMPTY,
                }
            })
            .collect::<Box<[Symbol]>>();
        let minute_of_step = |i: usize| (i as f64 + 0.5) * step_minutes;
        let vol_shape = normalised((0..steps).map(|i| intraday_vol(minute_of_step(i))));
        let spread_shape = (0..steps)
            .map(|i| intraday_spread(minute_of_step(i)))
            .collect();
        let bar_minutes = f64::from(params.bar_minutes);
        let volume_shape =
            normalised((0..bars).map(|b| intraday_vol((b as f64 + 0.5) * bar_minutes)))
                .iter()
                .map(|w| w / bars as f64)
                .collect();
        let pending = Pending {
            time: Nanos::ZERO,
            symbol: SymbolId(0),
            bid: f64::NAN,
            ask: f64::NAN,
        };
        Ok(MarketSim {
            names: params.symbols.iter().map(|s| s.name.clone()).collect(),
            quotes: vec![pending; symbols.len() * q].into_boxed_slice(),
            next_quote: symbols.len() * q,
            next_bar_symbol: symbols.len(),
            bar_end: Nanos::ZERO,
            symbols,
            market: Rng::new(derive_seed(params.seed, name_key(""))),
            dynamics,
            opens,
            vol_shape,
            spread_shape,
            volume_shape,
            quotes_per_bar: q,
            bar_us: u64::from(params.bar_minutes) * 60_000_000,
            day: 0,
            bar: 0,
            jumps: 0,
            params,
        })
    }

    /// Symbol names; index = [`SymbolId`].
    pub fn symbols(&self) -> &[String] {
        &self.names
    }

    /// The parameters the simulator was built from.
    pub fn params(&self) -> &SimParams {
        &self.params
    }

    /// Jumps so far, over all symbols.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// The next event in time order; `None` after the last session.
    pub fn next_event(&mut self) -> Option<SimEvent> {
        loop {
            if let Some(q) = self.quotes.get(self.next_quote) {
                self.next_quote += 1;
                return Some(SimEvent::Quote {
                    symbol: q.symbol,
                    bid: q.bid,
                    ask: q.ask,
                    time: q.time,
                });
            }
            if let Some(s) = self.symbols.get(self.next_bar_symbol) {
                let symbol = SymbolId(self.next_bar_symbol as u16);
                self.next_bar_symbol += 1;
                return Some(SimEvent::Bar {
                    symbol,
                    end: self.bar_end,
                    open: s.bar.open,
                    high: s.bar.high,
                    low: s.bar.low,
                    close: s.bar.close,
                    volume: s.bar.volume,
                });
            }
            if !self.generate_bar() {
                return None;
            }
        }
    }

    /// Generate the next bar interval of every symbol: its quotes (sorted
    /// into event order) and its bars. `false` after the last session.
    fn generate_bar(&mut self) -> bool {
        if self.bar == self.volume_shape.len() {
            self.day += 1;
            self.bar = 0;
            if self.day < self.opens.len() {
                self.overnight_gap();
            }
        }
        let Some(&open) = self.opens.get(self.day) else {
            return false;
        };
        let start_us = open.0 / Nanos::PER_MICRO + self.bar as u64 * self.bar_us;
        let q = self.quotes_per_bar;
        let c = self.dynamics;
        for s in self.symbols.iter_mut() {
            s.bar = BarAcc::EMPTY;
        }
        for k in 0..q {
            let step = self.bar * q + k;
            let vol = self.vol_shape.get(step).copied().unwrap_or(1.0);
            let spread = self.spread_shape.get(step).copied().unwrap_or(1.0);
            let market_shock = self.market.normal();
            for (i, (s, slot)) in self
                .symbols
                .iter_mut()
                .zip(self.quotes.chunks_exact_mut(q))
                .enumerate()
            {
                let (bid, ask, jumped) = s.step(market_shock, vol, spread, &c);
                self.jumps += u64::from(jumped);
                s.bar.add((bid + ask) / 2.0);
                // Slot k of the bar, away from its edges: strictly inside
                // the bar and increasing with k.
                let at = (k as f64 + 0.02 + 0.96 * s.rng.uniform()) / q as f64;
                let offset_us = (at * self.bar_us as f64) as u64;
                if let Some(p) = slot.get_mut(k) {
                    *p = Pending {
                        time: Nanos((start_us + offset_us) * Nanos::PER_MICRO),
                        symbol: SymbolId(i as u16),
                        bid,
                        ask,
                    };
                }
            }
        }
        let per_bar = self.volume_shape.get(self.bar).copied().unwrap_or(0.0);
        for s in self.symbols.iter_mut() {
            s.bar.volume = s.volume(s.adv_usd * per_bar, &c);
        }
        self.quotes.sort_unstable_by_key(|p| (p.time, p.symbol));
        self.next_quote = 0;
        self.next_bar_symbol = 0;
        self.bar_end = Nanos((start_us + self.bar_us) * Nanos::PER_MICRO);
        self.bar += 1;
        true
    }

    /// The gap between two sessions: one step's shock scaled to
    /// `overnight_vol` of a session.
    fn overnight_gap(&mut self) {
        let market_shock = self.market.normal();
        let k = self.dynamics.overnight_steps;
        for s in self.symbols.iter_mut() {
            let shock = s.sigma_market * market_shock + s.sigma_idio * s.rng.normal();
            s.log_price += k * shock;
        }
    }
}

impl Iterator for MarketSim {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        self.next_event()
    }
}

/// Raw intraday volatility shape at `minute` after the open: a parabola
/// high at both ends plus a decaying burst over the first minutes.
fn intraday_vol(minute: f64) -> f64 {
    let x = minute / f64::from(SESSION_MINUTES);
    0.55 + 1.1 * (2.0 * x - 1.0).powi(2) + 0.9 * (-minute / 12.0).exp()
}

/// Spread multiplier at `minute` after the open: ×2.5 at the open, ×1 by
/// mid-morning, rising again over the last half hour.
fn intraday_spread(minute: f64) -> f64 {
    let to_close = f64::from(SESSION_MINUTES) - minute;
    1.0 + 1.5 * (-minute / 10.0).exp() + 0.5 * (-to_close / 15.0).exp()
}

/// The values scaled to mean 1.
fn normalised(values: impl Iterator<Item = f64>) -> Box<[f64]> {
    let v: Vec<f64> = values.collect();
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    v.iter().map(|x| x / mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(days: u32) -> SimParams {
        SimParams {
            days,
            ..SimParams::default()
        }
    }

    #[test]
    fn shapes_are_u_shaped_and_normalised() {
        let sim = MarketSim::new(small(1)).unwrap();
        let mean = sim.vol_shape.iter().sum::<f64>() / sim.vol_shape.len() as f64;
        assert!((mean - 1.0).abs() < 1e-12);
        let mid = sim.vol_shape.len() / 2;
        assert!(sim.vol_shape[0] > 2.0 * sim.vol_shape[mid]);
        assert!(sim.vol_shape[sim.vol_shape.len() - 1] > 2.0 * sim.vol_shape[mid]);
        assert!(sim.spread_shape[0] > 2.0 && (sim.spread_shape[mid] - 1.0).abs() < 1e-4);
        let total: f64 = sim.volume_shape.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ends_after_the_last_session_and_stays_ended() {
        let mut p = small(1);
        p.bar_minutes = 390;
        p.quotes_per_bar = 2;
        p.select_symbols(&["SPY"]).unwrap();
        let mut sim = MarketSim::new(p).unwrap();
        let events: Vec<_> = sim.by_ref().collect();
        assert_eq!(events.len(), 3);
        assert!(matches!(events[2], SimEvent::Bar { .. }));
        assert_eq!(sim.next_event(), None);
        assert_eq!(sim.next_event(), None);
    }

    #[test]
    fn quotes_stay_valid_for_a_penny_stock() {
        let mut p = small(1);
        p.select_symbols(&["SPY"]).unwrap();
        p.symbols[0].start_price = 0.011;
        let sim = MarketSim::new(p).unwrap();
        for e in sim {
            if let SimEvent::Quote { bid, ask, .. } = e {
                assert!(bid >= 0.01 && ask >= bid + 0.01 - 1e-12, "{bid} {ask}");
            }
        }
    }
}
