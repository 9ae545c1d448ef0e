//! Replay pacing: hold each event back until its place in a real-time
//! (or ×N real-time) schedule anchored at the first event.
//!
//! Feed thread only: it reads the wall clock and sleeps, which is why this
//! file opts out of the crate's clock lint. Never call it on the engine
//! thread.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use super::ReplayError;
use crate::types::Nanos;

/// The slowest pace accepted: 1000× slower than real time.
pub const MIN_SPEED: f64 = 1e-3;
/// How long before its due time an event stops sleeping and spins: sleeps
/// overshoot by tens of microseconds, spinning does not.
const SPIN: Duration = Duration::from_micros(100);

/// Paces a replay: `None` = as fast as possible; `Some(n)` = ×n real time.
#[derive(Debug)]
pub struct Pacer {
    speed: Option<f64>,
    /// Wall instant and event time of the first paced event.
    anchor: Option<(Instant, Nanos)>,
}

impl Pacer {
    /// A pacer at `speed` × real time, or unpaced for `None`. A speed must
    /// be finite and at least [`MIN_SPEED`].
    pub fn new(speed: Option<f64>) -> Result<Pacer, ReplayError> {
        if let Some(s) = speed {
            if !s.is_finite() || s < MIN_SPEED {
                return Err(ReplayError::Speed(s));
            }
        }
        Ok(Pacer {
            speed,
            anchor: None,
        })
    }

    /// The speed factor, `None` when unpaced.
    pub fn speed(&self) -> Option<f64> {
        self.speed
    }

    /// Wall time after the first event at which an event at `event_time`
    /// is due: `(event_time − first event time) / speed`, zero for events
    /// at or before the first. `None` when unpaced or before the first
    /// event.
    pub fn due_after_first(&self, event_time: Nanos) -> Option<Duration> {
        let speed = self.speed?;
        let (_, first) = self.anchor?;
        let span = event_time.0.saturating_sub(first.0) as f64 / Nanos::PER_SEC as f64;
        Some(Duration::try_from_secs_f64(span / speed).unwrap_or(Duration::MAX))
    }

    /// Returns when the event at `event_time` is due: sleeps, then spins the
    /// last ~100 µs. The first call anchors the schedule and returns at
    /// once; unpaced, every call returns at once.
    pub fn wait_until(&mut self, event_time: Nanos) {
        if self.speed.is_none() {
            return;
        }
        let Some((start, _)) = self.anchor else {
            self.anchor = Some((Instant::now(), event_time));
            return;
        };
        let Some(due) = self
            .due_after_first(event_time)
            .and_then(|d| start.checked_add(d))
        else {
            return;
        };
        loop {
            let now = Instant::now();
            if now >= due {
                return;
            }
            let left = due - now;
            if left > SPIN {
                std::thread::sleep(left - SPIN);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_are_validated() {
        assert!(Pacer::new(None).is_ok());
        assert!(Pacer::new(Some(1.0)).is_ok());
        assert!(Pacer::new(Some(MIN_SPEED)).is_ok());
        for bad in [0.0, -1.0, 1e-4, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(Pacer::new(Some(bad)), Err(ReplayError::Speed(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn schedule_is_event_span_over_speed() {
        let mut p = Pacer::new(Some(4.0)).unwrap();
        assert_eq!(p.due_after_first(Nanos::from_secs(8)), None, "not anchored");
        p.wait_until(Nanos::from_secs(100));
        assert_eq!(
            p.due_after_first(Nanos::from_secs(108)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.due_after_first(Nanos::from_secs(99)),
            Some(Duration::ZERO),
            "an event before the first is due at once"
        );
        let unpaced = Pacer::new(None).unwrap();
        assert_eq!(unpaced.due_after_first(Nanos(5)), None);
    }

    #[test]
    fn a_paced_event_is_not_released_early() {
        // ×1000: 20 ms of event time is 20 µs of wall time; the lower bound
        // is the contract (an upper bound would be a timing assertion).
        let mut p = Pacer::new(Some(1000.0)).unwrap();
        let start = Instant::now();
        p.wait_until(Nanos(0));
        p.wait_until(Nanos::from_millis(20));
        assert!(start.elapsed() >= Duration::from_micros(20));
    }
}
