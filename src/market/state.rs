//! Per-symbol market state on the engine thread: the last quote (exchange
//! and receive times), bars at the engine's bar interval (from the feed, or
//! aggregated from quote mids and trades when the feed sends none), the
//! as-of closes the volatility stage reads, and an average-daily-dollar-
//! volume estimate.
//!
//! Bars are stamped with their end (SPEC §2). An aggregated bar covers
//! `[k·interval, (k+1)·interval)` of event time and closes when an event at
//! or after its end arrives, or when the engine advances the clock past it
//! ([`MarketState::advance_to`]). Its open/high/low/close are quote mids
//! (trade prices count too); its volume is the traded size when trades were
//! seen, else the number of quote updates (an activity proxy, so that
//! volume features stay finite on quote-only data). ADV uses only real
//! volumes (feed bars and trades).
//!
//! Bad input never panics: an event for an unknown symbol id or older than
//! the symbol's last event is counted and ignored; a quote with a NaN,
//! non-positive or crossed price is kept as the symbol's last quote (the
//! spread gate holds on it with a reason code) but never marks a bar.
//!
//! Runs on the engine thread. Hot path: no allocation after construction,
//! no blocking, no logging.

use crate::feed::event::{MarketEvent, QuoteEvent};
use crate::market::bar::Bar;
use crate::market::window::Window;
use crate::types::{Nanos, SymbolId};

/// Sizes and intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarketParams {
    /// Engine bar interval.
    pub bar_interval: Nanos,
    /// Closes kept per symbol (`data.history_bars`).
    pub history_bars: usize,
    /// Trading days averaged for ADV.
    pub adv_days: usize,
    /// Offset of the session date from UTC, applied before splitting days
    /// for ADV (the exchange timezone's standard offset is close enough).
    pub day_offset: i64,
}

impl Default for MarketParams {
    fn default() -> Self {
        MarketParams {
            bar_interval: Nanos::from_secs(60),
            history_bars: 300,
            adv_days: 20,
            day_offset: -5 * 3600,
        }
    }
}

/// Counters of input the state refused or flagged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarketCounters {
    pub events: u64,
    pub quotes: u64,
    pub trades: u64,
    pub feed_bars: u64,
    pub bars_built: u64,
    /// Events for a symbol id outside the configured list.
    pub unknown_symbol: u64,
    /// Events older than the symbol's previous event.
    pub out_of_order: u64,
    /// Quotes with a NaN, infinite, non-positive or crossed price.
    pub bad_quotes: u64,
    /// Bars or trades with a NaN, infinite or non-positive price.
    pub bad_prices: u64,
}

#[derive(Clone, Copy, Debug)]
struct Building {
    /// Interval index `k` of `[k·interval, (k+1)·interval)`.
    slot: u64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    traded: f64,
    quotes: f64,
}

#[derive(Clone, Debug)]
struct Adv {
    day: i64,
    today: f64,
    days: Window<f64>,
}

impl Adv {
    fn add(&mut self, day: i64, dollars: f64) {
        if day != self.day {
            if self.today > 0.0 {
                self.days.push(self.today);
            }
            self.day = day;
            self.today = 0.0;
        }
        self.today += dollars;
    }

    fn estimate(&self) -> Option<f64> {
        let d = self.days.as_slice();
        (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
    }
}

/// One symbol's state.
#[derive(Clone, Debug)]
pub struct SymbolMarket {
    quote: Option<QuoteEvent>,
    last_time: Nanos,
    building: Option<Building>,
    /// Whether the feed sends this symbol's bars (then none are built).
    feed_bars: bool,
    closes: Window<f64>,
    last_bar: Option<Bar>,
    adv: Adv,
}

impl SymbolMarket {
    /// The last quote received (possibly invalid).
    pub fn quote(&self) -> Option<&QuoteEvent> {
        self.quote.as_ref()
    }

    /// As-of closes, oldest first.
    pub fn closes(&self) -> &[f64] {
        self.closes.as_slice()
    }

    /// The last finished bar.
    pub fn last_bar(&self) -> Option<&Bar> {
        self.last_bar.as_ref()
    }

    /// End of the last finished bar (0 before the first).
    pub fn data_time(&self) -> Nanos {
        self.last_bar.map_or(Nanos::ZERO, |b| b.end)
    }

    /// Average daily dollar volume over the finished days, if any.
    pub fn adv_usd(&self) -> Option<f64> {
        self.adv.estimate()
    }
}

/// Every symbol's market state.
#[derive(Clone, Debug)]
pub struct MarketState {
    params: MarketParams,
    symbols: Box<[SymbolMarket]>,
    counters: MarketCounters,
}

fn valid_price(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

impl MarketState {
    /// State for `n_symbols` symbols (ids `0..n`). Cold path.
    pub fn new(n_symbols: usize, params: MarketParams) -> MarketState {
        let one = SymbolMarket {
            quote: None,
            last_time: Nanos::ZERO,
            building: None,
            feed_bars: false,
            closes: Window::new(params.history_bars, f64::NAN),
            last_bar: None,
            adv: Adv {
                day: i64::MIN,
                today: 0.0,
                days: Window::new(params.adv_days, 0.0),
            },
        };
        MarketState {
            params,
            symbols: vec![one; n_symbols].into_boxed_slice(),
            counters: MarketCounters::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// One symbol's state.
    pub fn symbol(&self, id: SymbolId) -> Option<&SymbolMarket> {
        self.symbols.get(id.index())
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Declare that the feed sends every symbol's bars (the simulator, a
    /// replay with bar files): no bar is ever built from quotes, so a
    /// quote that precedes a symbol's first feed bar cannot start a
    /// duplicate of it. Cold: call before the first event.
    pub fn set_bars_from_feed(&mut self, from_feed: bool) {
        for s in self.symbols.iter_mut() {
            s.feed_bars = from_feed;
            s.building = None;
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &MarketCounters {
        &self.counters
    }

    /// Apply one event. Every bar it finishes (a feed bar, or built bars
    /// whose interval ended before the event) goes to `on_bar`, oldest
    /// first. Returns whether the event was accepted.
    pub fn on_event(
        &mut self,
        event: &MarketEvent,
        mut on_bar: impl FnMut(SymbolId, &Bar),
    ) -> bool {
        self.counters.events += 1;
        let id = event.symbol();
        let params = self.params;
        let Some(s) = self.symbols.get_mut(id.index()) else {
            self.counters.unknown_symbol += 1;
            return false;
        };
        let t = event.time();
        if t < s.last_time {
            self.counters.out_of_order += 1;
            return false;
        }
        s.last_time = t;
        match event {
            MarketEvent::Quote(q) => {
                self.counters.quotes += 1;
                s.quote = Some(*q);
                let valid = valid_price(q.bid) && valid_price(q.ask) && q.bid <= q.ask;
                if !valid {
                    self.counters.bad_quotes += 1;
                    return true;
                }
                if !s.feed_bars {
                    let built = close_due(s, id, t, &params, &mut on_bar);
                    self.counters.bars_built += built;
                    mark(s, t, (q.bid + q.ask) / 2.0, 0.0, true, &params);
                }
            }
            MarketEvent::Trade(tr) => {
                self.counters.trades += 1;
                if !valid_price(tr.price) || !tr.size.is_finite() || tr.size < 0.0 {
                    self.counters.bad_prices += 1;
                    return true;
                }
                if !s.feed_bars {
                    let built = close_due(s, id, t, &params, &mut on_bar);
                    self.counters.bars_built += built;
                    mark(s, t, tr.price, tr.size, false, &params);
                    s.adv.add(day_of(t, &params), tr.price * tr.size);
                }
            }
            MarketEvent::Bar(b) => {
                self.counters.feed_bars += 1;
                let bar = b.bar;
                if !valid_price(bar.close) {
                    self.counters.bad_prices += 1;
                    return true;
                }
                s.feed_bars = true;
                s.building = None;
                s.adv
                    .add(day_of(bar.end, &params), bar.close * bar.volume.max(0.0));
                finish(s, id, bar, &mut on_bar);
            }
        }
        true
    }

    /// Close every built bar whose interval ended at or before `t` (the
    /// engine calls it at each decision time, so that bars exist as of it).
    pub fn advance_to(&mut self, t: Nanos, mut on_bar: impl FnMut(SymbolId, &Bar)) {
        let params = self.params;
        for (i, s) in self.symbols.iter_mut().enumerate() {
            if !s.feed_bars {
                let built = close_due(s, SymbolId(i as u16), t, &params, &mut on_bar);
                self.counters.bars_built += built;
            }
        }
    }
}

fn day_of(t: Nanos, params: &MarketParams) -> i64 {
    let secs = (t.0 / Nanos::PER_SEC) as i64 + params.day_offset;
    secs.div_euclid(86_400)
}

fn slot_of(t: Nanos, params: &MarketParams) -> u64 {
    t.0 / params.bar_interval.0.max(1)
}

/// Close the building bar if its interval ended at or before `t`.
fn close_due(
    s: &mut SymbolMarket,
    id: SymbolId,
    t: Nanos,
    params: &MarketParams,
    on_bar: &mut impl FnMut(SymbolId, &Bar),
) -> u64 {
    let Some(b) = s.building else { return 0 };
    let end = Nanos((b.slot + 1).saturating_mul(params.bar_interval.0));
    if t < end {
        return 0;
    }
    s.building = None;
    let volume = if b.traded > 0.0 { b.traded } else { b.quotes };
    let bar = Bar {
        end,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume,
    };
    finish(s, id, bar, on_bar);
    1
}

fn finish(s: &mut SymbolMarket, id: SymbolId, bar: Bar, on_bar: &mut impl FnMut(SymbolId, &Bar)) {
    s.closes.push(bar.close);
    s.last_bar = Some(bar);
    on_bar(id, &bar);
}

/// Add a price to the building bar.
fn mark(s: &mut SymbolMarket, t: Nanos, price: f64, size: f64, quote: bool, params: &MarketParams) {
    let slot = slot_of(t, params);
    let b = s.building.get_or_insert(Building {
        slot,
        open: price,
        high: price,
        low: price,
        close: price,
        traded: 0.0,
        quotes: 0.0,
    });
    b.high = b.high.max(price);
    b.low = b.low.min(price);
    b.close = price;
    if quote {
        b.quotes += 1.0;
    } else {
        b.traded += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::event::{BarEvent, TradeEvent};

    const MIN: u64 = 60 * Nanos::PER_SEC;

    fn quote(s: u16, t: u64, bid: f64, ask: f64) -> MarketEvent {
        MarketEvent::Quote(QuoteEvent {
            symbol: SymbolId(s),
            bid,
            ask,
            bid_size: 1.0,
            ask_size: 1.0,
            exchange_time: Nanos(t),
            receive_time: Nanos(t),
        })
    }

    #[test]
    fn quotes_build_bars_at_interval_ends() {
        let mut m = MarketState::new(2, MarketParams::default());
        let mut bars = Vec::new();
        let t0 = 1_000 * MIN;
        m.on_event(&quote(0, t0 + 1, 10.0, 10.2), |s, b| bars.push((s, *b)));
        m.on_event(&quote(0, t0 + 30 * Nanos::PER_SEC, 10.4, 10.6), |s, b| {
            bars.push((s, *b))
        });
        m.on_event(&quote(0, t0 + 40 * Nanos::PER_SEC, 9.8, 10.0), |s, b| {
            bars.push((s, *b))
        });
        assert!(bars.is_empty(), "no bar before its end");
        // A quote in the next minute closes the first bar.
        m.on_event(&quote(0, t0 + MIN + 5, 10.0, 10.2), |s, b| {
            bars.push((s, *b))
        });
        assert_eq!(bars.len(), 1);
        let (s, b) = bars[0];
        assert_eq!(s, SymbolId(0));
        assert_eq!(b.end, Nanos(t0 + MIN));
        assert_eq!((b.open, b.high, b.low, b.close), (10.1, 10.5, 9.9, 9.9));
        assert_eq!(b.volume, 3.0, "quote count when no trades");
        // Advancing the clock closes the second bar.
        m.advance_to(Nanos(t0 + 2 * MIN), |s, b| bars.push((s, *b)));
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].1.end, Nanos(t0 + 2 * MIN));
        let sym = m.symbol(SymbolId(0)).unwrap();
        assert_eq!(sym.closes(), &[9.9, 10.1]);
        assert_eq!(sym.data_time(), Nanos(t0 + 2 * MIN));
        assert_eq!(m.counters().bars_built, 2);
    }

    #[test]
    fn bad_input_is_counted_never_fatal() {
        let mut m = MarketState::new(1, MarketParams::default());
        let mut n = 0;
        let t0 = 5 * MIN;
        assert!(m.on_event(&quote(0, t0, 10.0, 10.1), |_, _| n += 1));
        assert!(!m.on_event(&quote(3, t0, 10.0, 10.1), |_, _| n += 1));
        assert!(!m.on_event(&quote(0, t0 - 1, 10.0, 10.1), |_, _| n += 1));
        assert!(m.on_event(&quote(0, t0 + 1, 10.2, 10.1), |_, _| n += 1));
        assert!(m.on_event(&quote(0, t0 + 2, f64::NAN, 10.1), |_, _| n += 1));
        let c = *m.counters();
        assert_eq!((c.unknown_symbol, c.out_of_order, c.bad_quotes), (1, 1, 2));
        // The crossed/NaN quote is the last quote (the gate holds on it)...
        assert!(m.symbol(SymbolId(0)).unwrap().quote().unwrap().bid.is_nan());
        // ...but never entered a bar.
        m.advance_to(Nanos(t0 + MIN), |_, b| {
            assert_eq!(b.close, 10.05);
            n += 1;
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn feed_bars_replace_built_bars_and_feed_adv() {
        let p = MarketParams {
            day_offset: 0,
            ..MarketParams::default()
        };
        let mut m = MarketState::new(1, p);
        let day = 86_400 * Nanos::PER_SEC;
        let bar = |end: u64, close: f64, volume: f64| {
            MarketEvent::Bar(BarEvent {
                symbol: SymbolId(0),
                bar: Bar {
                    end: Nanos(end),
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume,
                },
                receive_time: Nanos(end),
            })
        };
        let mut seen = Vec::new();
        m.on_event(&bar(day + MIN, 10.0, 100.0), |_, b| seen.push(b.end));
        m.on_event(&quote(0, day + MIN + 1, 10.0, 10.2), |_, b| {
            seen.push(b.end)
        });
        m.advance_to(Nanos(day + 5 * MIN), |_, b| seen.push(b.end));
        assert_eq!(
            seen,
            vec![Nanos(day + MIN)],
            "no built bar next to feed bars"
        );
        assert_eq!(
            m.symbol(SymbolId(0)).unwrap().adv_usd(),
            None,
            "no finished day yet"
        );
        m.on_event(&bar(2 * day + MIN, 20.0, 50.0), |_, _| {});
        assert_eq!(m.symbol(SymbolId(0)).unwrap().adv_usd(), Some(1000.0));
        // Trades are ignored next to feed bars.
        let trade = MarketEvent::Trade(TradeEvent {
            symbol: SymbolId(0),
            price: 20.0,
            size: 1.0,
            exchange_time: Nanos(2 * day + 2 * MIN),
            receive_time: Nanos(2 * day + 2 * MIN),
        });
        m.on_event(&trade, |_, _| panic!("no bar from a trade"));
    }
}
