//! Reconnect delays: exponential backoff with deterministic jitter.
//!
//! Runs on the feed thread, between connections (cold path). The jitter
//! comes from a seeded SplitMix64 generator, so the same seed gives the same
//! delays and the tests are repeatable.

use std::time::Duration;

/// Backoff settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffOptions {
    /// Delay before the first retry (before jitter). Default 100 ms.
    pub base: Duration,
    /// Largest delay (before jitter). Default 10 s.
    pub cap: Duration,
    /// Consecutive failed attempts before the feed gives up with
    /// [`WsError::GaveUp`](super::WsError::GaveUp); 0 = never give up.
    /// Default 0.
    pub max_attempts: u32,
    /// Seed of the jitter. Default 1.
    pub seed: u64,
}

impl Default for BackoffOptions {
    fn default() -> BackoffOptions {
        BackoffOptions {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            max_attempts: 0,
            seed: 1,
        }
    }
}

/// Exponential backoff with "equal jitter": attempt `n` (0-based) waits
/// `d/2 + U[0, d/2]` where `d = min(cap, base × 2^n)`.
#[derive(Clone, Debug)]
pub struct Backoff {
    options: BackoffOptions,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// A backoff with no failures yet.
    pub fn new(options: BackoffOptions) -> Backoff {
        Backoff {
            options,
            failures: 0,
            rng: options.seed,
        }
    }

    /// Consecutive failures since the last [`reset`](Self::reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection reached streaming: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records one failure and returns the delay before the next attempt,
    /// or `None` when `max_attempts` consecutive failures have been reached.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let attempt = self.failures;
        if self.options.max_attempts != 0 && attempt >= self.options.max_attempts {
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        let base = self.options.base.as_nanos();
        let cap = self.options.cap.as_nanos().max(1);
        let factor = 1u128.checked_shl(attempt.min(64)).unwrap_or(u128::MAX);
        let full = base.saturating_mul(factor).min(cap);
        let half = full / 2;
        // U[0, 1) with 53 bits, scaled onto [0, half].
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let jitter = (half as f64 * unit) as u128;
        let nanos = (full - half).saturating_add(jitter);
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// SplitMix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(max_attempts: u32, seed: u64) -> BackoffOptions {
        BackoffOptions {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts,
            seed,
        }
    }

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let mut b = Backoff::new(options(0, 9));
        let mut full = Duration::from_millis(100);
        for _ in 0..10 {
            let d = b.next_delay().expect("no attempt limit");
            assert!(
                d >= full / 2 && d <= full,
                "{d:?} outside [{:?}, {full:?}]",
                full / 2
            );
            full = (full * 2).min(Duration::from_secs(2));
        }
        assert_eq!(b.failures(), 10);
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let run = |seed| {
            let mut b = Backoff::new(options(0, seed));
            (0..6).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn gives_up_after_max_attempts_until_reset() {
        let mut b = Backoff::new(options(2, 1));
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_some());
        assert_eq!(b.next_delay(), None);
        b.reset();
        let d = b.next_delay().expect("reset starts over");
        assert!(d <= Duration::from_millis(100));
    }
}
