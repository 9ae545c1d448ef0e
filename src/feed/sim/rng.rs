//! The simulator's seeded random numbers: splitmix64 bits, uniforms and
//! standard normals (Box–Muller). One generator per symbol and one for the
//! market factor, each seeded from the run seed, so a symbol's path depends
//! only on the seed, its name, its own parameters and the market factor.
//!
//! Feed thread, hot path: no allocation, no blocking, no logging.

/// splitmix64: 64 bits of state, a full period of 2^64.
#[derive(Clone, Debug)]
pub(super) struct Rng {
    state: u64,
}

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    pub(super) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Box–Muller, one value per two uniforms).
    pub(super) fn normal(&mut self) -> f64 {
        // `1 - u` is in (0, 1]: the logarithm stays finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A seed derived from the run seed and a stream key (splitmix64 finaliser
/// over both), so that nearby seeds give unrelated streams.
pub(super) fn derive_seed(seed: u64, key: u64) -> u64 {
    let mut r = Rng::new(seed ^ key.rotate_left(32));
    r.next_u64() ^ Rng::new(key).next_u64()
}

/// FNV-1a over the bytes of a symbol name: the stream key of its generator.
pub(super) fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniforms_and_normals_have_the_right_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let (mut su, mut sn, mut sn2) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            su += u;
            let z = r.normal();
            assert!(z.is_finite());
            sn += z;
            sn2 += z * z;
        }
        let n = f64::from(n);
        assert!((su / n - 0.5).abs() < 0.005);
        assert!((sn / n).abs() < 0.01);
        assert!((sn2 / n - 1.0).abs() < 0.02);
    }

    #[test]
    fn derived_streams_differ_by_seed_and_key() {
        let a = derive_seed(7, name_key("SPY"));
        assert_eq!(a, derive_seed(7, name_key("SPY")));
        assert_ne!(a, derive_seed(8, name_key("SPY")));
        assert_ne!(a, derive_seed(7, name_key("QQQ")));
        assert_ne!(name_key("AB"), name_key("BA"));
    }
}
