//! Ridge blend weights (SPEC §7, stage `ridge_weights`): solve
//! `(C + λI) w = μ` with `μ_i = max(ic_i − cost_penalty·cost_i, ic_floor)`,
//! clip at 0, drop weights below `min_weight`, normalise.
//!
//! The engine's matrices are Pearson correlations plus λI, symmetric
//! positive definite, and are solved by Cholesky. Any other matrix (not
//! symmetric, or a Cholesky pivot that is not clearly positive) falls back to
//! Gaussian elimination with partial pivoting, whose exactly-zero pivot is
//! SPEC's "singular → uniform 1/n". All scratch is preallocated for a
//! maximum model count.
//!
//! Runs on the engine thread inside each horizon blender. Hot path: no
//! allocation after construction, no blocking, no logging.

/// Models per blend up to which the correlation matrix is computed in one
/// fused pass (a stack array of series).
const FUSED_MAX: usize = 8;

/// A correlation coefficient: NaN → 0, else clamped to [−1, 1].
#[inline]
fn clamp_r(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else {
        r.clamp(-1.0, 1.0)
    }
}

/// A Cholesky pivot at or below this fraction of its diagonal entry is not
/// trusted: the system goes to Gaussian elimination, which decides
/// singularity exactly as SPEC §7 states.
pub const CHOLESKY_MIN_PIVOT_RATIO: f64 = 1e-9;

/// Fewer tail-aligned history values than this → uniform weights.
pub const MIN_HISTORY_FOR_CORRELATION: usize = 3;

/// Ridge parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RidgeParams {
    /// `blending.ridge_lambda`: λ added to the diagonal (> 0).
    pub ridge_lambda: f64,
    /// `blending.cost_penalty`: weight of a model's cost share in μ (≥ 0).
    pub cost_penalty: f64,
    /// `confidence.ic_floor`: lower bound of μ.
    pub ic_floor: f64,
    /// Weights below this (after clipping at 0) are zeroed before
    /// normalising.
    pub min_weight: f64,
}

impl Default for RidgeParams {
    fn default() -> Self {
        RidgeParams {
            ridge_lambda: 0.15,
            cost_penalty: 0.5,
            ic_floor: 0.01,
            min_weight: 0.0,
        }
    }
}

/// Why ridge parameters are invalid (SPEC §20).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum RidgeParamsError {
    #[error("blending.ridge_lambda is {0}: must be a finite number > 0")]
    RidgeLambda(f64),
    #[error("blending.cost_penalty is {0}: must be a finite number >= 0")]
    CostPenalty(f64),
    #[error("ic_floor is {0}: must be a finite number")]
    IcFloor(f64),
    #[error("min_weight is {0}: must be a finite number >= 0")]
    MinWeight(f64),
}

impl RidgeParams {
    /// Check the SPEC §20 ranges.
    pub fn validate(&self) -> Result<(), RidgeParamsError> {
        if !(self.ridge_lambda.is_finite() && self.ridge_lambda > 0.0) {
            return Err(RidgeParamsError::RidgeLambda(self.ridge_lambda));
        }
        if !(self.cost_penalty.is_finite() && self.cost_penalty >= 0.0) {
            return Err(RidgeParamsError::CostPenalty(self.cost_penalty));
        }
        if !self.ic_floor.is_finite() {
            return Err(RidgeParamsError::IcFloor(self.ic_floor));
        }
        if !(self.min_weight.is_finite() && self.min_weight >= 0.0) {
            return Err(RidgeParamsError::MinWeight(self.min_weight));
        }
        Ok(())
    }
}

/// How a set of weights was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RidgeOutcome {
    /// No models: nothing written.
    Empty,
    /// One model: weight 1.0.
    Single,
    /// Solved by Cholesky (symmetric positive definite system).
    Cholesky,
    /// Solved by Gaussian elimination with partial pivoting.
    Gauss,
    /// Exactly zero pivot: uniform 1/n.
    Singular,
    /// Every clipped weight was 0 (sum ≤ 0): uniform 1/n.
    NoPositiveWeight,
    /// History too short for correlations (L < 3): uniform 1/n.
    ShortHistory,
}

/// Why weights could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RidgeError {
    #[error("{n} models: the solver was built for at most {max}")]
    TooManyModels { n: usize, max: usize },
    #[error("output slice holds {len} weights, {n} models need one each")]
    OutputTooShort { n: usize, len: usize },
}

/// Ridge weight solver with scratch for up to `n_max` models.
#[derive(Clone, Debug)]
pub struct RidgeSolver {
    params: RidgeParams,
    n_max: usize,
    /// `C + λI`, row-major with stride n.
    a: Box<[f64]>,
    /// Cholesky factor or elimination workspace, row-major with stride n.
    work: Box<[f64]>,
    /// μ.
    mu: Box<[f64]>,
    /// Right-hand side during elimination / forward substitution.
    rhs: Box<[f64]>,
    /// Per-series mean (history path).
    mean: Box<[f64]>,
    /// Per-series Σ(x − mean)² (history path).
    sum_sq: Box<[f64]>,
    /// Per-series "all values equal" (history path).
    constant: Box<[bool]>,
    /// History tails interleaved as `[t][series]` for the fused pass;
    /// holds `min(n_max, FUSED_MAX) × max_len` values.
    rows: Box<[f64]>,
    max_len: usize,
}

impl RidgeSolver {
    /// A solver for up to `n_max` models.
    pub fn new(params: &RidgeParams, n_max: usize) -> RidgeSolver {
        RidgeSolver::with_history(params, n_max, 0)
    }

    /// As [`RidgeSolver::new`], with scratch for the fused correlation pass
    /// over histories of up to `max_len` values (longer ones, or more than
    /// `FUSED_MAX` models, take the pair-by-pair pass: same result).
    pub fn with_history(params: &RidgeParams, n_max: usize, max_len: usize) -> RidgeSolver {
        let sq = n_max.saturating_mul(n_max);
        let fused = if n_max >= 2 { n_max.min(FUSED_MAX) } else { 0 };
        RidgeSolver {
            params: *params,
            n_max,
            a: vec![0.0; sq].into_boxed_slice(),
            work: vec![0.0; sq].into_boxed_slice(),
            mu: vec![0.0; n_max].into_boxed_slice(),
            rhs: vec![0.0; n_max].into_boxed_slice(),
            mean: vec![0.0; n_max].into_boxed_slice(),
            sum_sq: vec![0.0; n_max].into_boxed_slice(),
            constant: vec![false; n_max].into_boxed_slice(),
            rows: vec![0.0; fused.saturating_mul(max_len)].into_boxed_slice(),
            max_len: if fused == 0 { 0 } else { max_len },
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &RidgeParams {
        &self.params
    }

    /// Most models one call may weigh.
    pub fn max_models(&self) -> usize {
        self.n_max
    }

    /// Weights from a correlation matrix (SPEC §7 `weights`).
    ///
    /// `ic[i]` is model i's IC (non-finite counts as missing: 0); `n =
    /// ic.len()`. `cost[i]` is its cost share (`None`, or an entry past the
    /// end, is 0). `corr` is C row-major; `None`, a length other than n², or
    /// any NaN entry means the identity. Weights go to `out[..n]`.
    pub fn weights(
        &mut self,
        ic: &[f64],
        corr: Option<&[f64]>,
        cost: Option<&[f64]>,
        out: &mut [f64],
    ) -> Result<RidgeOutcome, RidgeError> {
        let n = ic.len();
        if let Some(early) = self.begin(n, out)? {
            return Ok(early);
        }
        let a = &mut self.a[..n * n];
        match corr {
            Some(c) if c.len() == n * n && !c.iter().any(|x| x.is_nan()) => {
                a.copy_from_slice(c);
            }
            _ => {
                a.fill(0.0);
                a.iter_mut().step_by(n + 1).for_each(|x| *x = 1.0);
            }
        }
        Ok(self.solve(n, ic, cost, out))
    }

    /// Weights from prediction histories (SPEC §7 "from history").
    ///
    /// `series(i)` is model i's history, oldest first, for `i < ic.len()`;
    /// only the last L values of each are used, L = the shortest length.
    /// L < 3 → uniform. C is the Pearson matrix of those tails, with an
    /// undefined correlation (a constant series) set to 0 off the diagonal
    /// and a diagonal of 1; `ic`, `cost` and `out` as in
    /// [`RidgeSolver::weights`].
    pub fn weights_from_history<'s, F>(
        &mut self,
        series: F,
        ic: &[f64],
        cost: Option<&[f64]>,
        out: &mut [f64],
    ) -> Result<RidgeOutcome, RidgeError>
    where
        F: Fn(usize) -> &'s [f64],
    {
        let n = ic.len();
        if let Some(early) = self.begin(n, out)? {
            return Ok(early);
        }
        let len = (0..n).map(|i| series(i).len()).min().unwrap_or(0);
        if len < MIN_HISTORY_FOR_CORRELATION {
            out[..n].fill(1.0 / n as f64);
            return Ok(RidgeOutcome::ShortHistory);
        }
        if n <= FUSED_MAX && len <= self.max_len {
            self.correlation_fused(n, len, &series);
        } else {
            self.correlation_pairwise(n, len, &series);
        }
        Ok(self.solve(n, ic, cost, out))
    }

    /// Pearson matrix of the last `len` values of `n ≤ FUSED_MAX` series
    /// into `self.a`, in two passes over time that advance every series
    /// (and every pair) together: the sums are independent chains kept in
    /// registers (one monomorphised copy per model count), while each one
    /// still adds in ascending time order, so the result is bit-identical
    /// to [`Self::correlation_pairwise`].
    fn correlation_fused<'s, F>(&mut self, n: usize, len: usize, series: &F)
    where
        F: Fn(usize) -> &'s [f64],
    {
        match n {
            2 => self.correlation_n::<2, F>(len, series),
            3 => self.correlation_n::<3, F>(len, series),
            4 => self.correlation_n::<4, F>(len, series),
            5 => self.correlation_n::<5, F>(len, series),
            6 => self.correlation_n::<6, F>(len, series),
            7 => self.correlation_n::<7, F>(len, series),
            8 => self.correlation_n::<8, F>(len, series),
            _ => self.correlation_pairwise(n, len, series),
        }
    }

    // Index loops on purpose: every series and pair advances in step.
    #[allow(clippy::needless_range_loop)]
    fn correlation_n<'s, const N: usize, F>(&mut self, len: usize, series: &F)
    where
        F: Fn(usize) -> &'s [f64],
    {
        // Interleave the tails as rows of N values: one row per time step.
        let rows = &mut self.rows[..N * len];
        for i in 0..N {
            let s = series(i);
            let tail = &s[s.len() - len..];
            for (row, &v) in rows.chunks_exact_mut(N).zip(tail) {
                row[i] = v;
            }
        }
        let rows = &self.rows[..N * len];
        let first: [f64; N] = std::array::from_fn(|i| rows[i]);
        let mut sum = [0.0; N];
        let mut constant = [true; N];
        for row in rows.chunks_exact(N) {
            for i in 0..N {
                sum[i] += row[i];
                constant[i] &= row[i] == first[i];
            }
        }
        let mean: [f64; N] = std::array::from_fn(|i| sum[i] / len as f64);
        let mut cross = [[0.0; N]; N];
        for row in rows.chunks_exact(N) {
            let d: [f64; N] = std::array::from_fn(|i| row[i] - mean[i]);
            for i in 0..N {
                for j in i..N {
                    cross[i][j] += d[i] * d[j];
                }
            }
        }
        for i in 0..N {
            self.a[i * N + i] = 1.0;
            for j in i + 1..N {
                let r = if constant[i] || constant[j] {
                    0.0
                } else {
                    clamp_r(cross[i][j] / (cross[i][i] * cross[j][j]).sqrt())
                };
                self.a[i * N + j] = r;
                self.a[j * N + i] = r;
            }
        }
    }

    /// Pearson matrix pair by pair, for any number of series.
    fn correlation_pairwise<'s, F>(&mut self, n: usize, len: usize, series: &F)
    where
        F: Fn(usize) -> &'s [f64],
    {
        let tail = |i: usize| {
            let s = series(i);
            &s[s.len() - len..]
        };
        for i in 0..n {
            let x = tail(i);
            let first = x[0];
            let mean = x.iter().sum::<f64>() / len as f64;
            self.mean[i] = mean;
            self.sum_sq[i] = x.iter().map(|v| (v - mean) * (v - mean)).sum();
            self.constant[i] = x.iter().all(|&v| v == first);
        }
        for i in 0..n {
            self.a[i * n + i] = 1.0;
            for j in i + 1..n {
                let r = if self.constant[i] || self.constant[j] {
                    0.0
                } else {
                    let (mi, mj) = (self.mean[i], self.mean[j]);
                    let sxy: f64 = tail(i)
                        .iter()
                        .zip(tail(j))
                        .map(|(x, y)| (x - mi) * (y - mj))
                        .sum();
                    clamp_r(sxy / (self.sum_sq[i] * self.sum_sq[j]).sqrt())
                };
                self.a[i * n + j] = r;
                self.a[j * n + i] = r;
            }
        }
    }

    /// Size checks and the n ≤ 1 cases; `Some` when already answered.
    fn begin(&self, n: usize, out: &mut [f64]) -> Result<Option<RidgeOutcome>, RidgeError> {
        if n > self.n_max {
            return Err(RidgeError::TooManyModels { n, max: self.n_max });
        }
        if out.len() < n {
            return Err(RidgeError::OutputTooShort { n, len: out.len() });
        }
        Ok(match n {
            0 => Some(RidgeOutcome::Empty),
            1 => {
                out[0] = 1.0;
                Some(RidgeOutcome::Single)
            }
            _ => None,
        })
    }

    /// With C in `a[..n²]` (2 ≤ n ≤ n_max, out.len() ≥ n): add λI, build μ,
    /// solve, clip, threshold and normalise into `out[..n]`.
    fn solve(
        &mut self,
        n: usize,
        ic: &[f64],
        cost: Option<&[f64]>,
        out: &mut [f64],
    ) -> RidgeOutcome {
        let p = self.params;
        for i in 0..n {
            self.a[i * n + i] += p.ridge_lambda;
            let ic_i = ic.get(i).copied().filter(|x| x.is_finite()).unwrap_or(0.0);
            let cost_i = cost
                .and_then(|c| c.get(i).copied())
                .filter(|x| x.is_finite())
                .unwrap_or(0.0);
            self.mu[i] = (ic_i - p.cost_penalty * cost_i).max(p.ic_floor);
        }
        let w = &mut out[..n];
        let outcome = if self.cholesky(n, w) {
            RidgeOutcome::Cholesky
        } else if self.gauss(n, w) {
            RidgeOutcome::Gauss
        } else {
            w.fill(1.0 / n as f64);
            return RidgeOutcome::Singular;
        };
        let mut sum = 0.0;
        for x in w.iter_mut() {
            if !(x.is_finite() && *x > 0.0) || *x < p.min_weight {
                *x = 0.0;
            }
            sum += *x;
        }
        if sum > 0.0 {
            w.iter_mut().for_each(|x| *x /= sum);
            outcome
        } else {
            w.fill(1.0 / n as f64);
            RidgeOutcome::NoPositiveWeight
        }
    }

    /// Solve `a w = μ` by Cholesky into `w`; false (w unspecified) when `a`
    /// is not symmetric or a pivot is not clearly positive.
    fn cholesky(&mut self, n: usize, w: &mut [f64]) -> bool {
        match n {
            2 => self.cholesky_n::<2>(w),
            3 => self.cholesky_n::<3>(w),
            4 => self.cholesky_n::<4>(w),
            5 => self.cholesky_n::<5>(w),
            6 => self.cholesky_n::<6>(w),
            7 => self.cholesky_n::<7>(w),
            8 => self.cholesky_n::<8>(w),
            _ => self.cholesky_dyn(n, w),
        }
    }

    /// [`Self::cholesky`] for a size known at compile time: the same
    /// operations in the same order (bit-identical), with the matrix on the
    /// stack and no bounds checks in the loops.
    // Index loops on purpose: they mirror the textbook recurrences.
    #[allow(clippy::needless_range_loop)]
    fn cholesky_n<const N: usize>(&mut self, w: &mut [f64]) -> bool {
        let (Some(a), Some(w)) = (self.a.get(..N * N), w.get_mut(..N)) else {
            return false;
        };
        let a: [[f64; N]; N] = std::array::from_fn(|i| std::array::from_fn(|j| a[i * N + j]));
        for i in 0..N {
            for j in i + 1..N {
                if a[i][j] != a[j][i] {
                    return false;
                }
            }
        }
        let mut l = [[0.0; N]; N];
        for j in 0..N {
            let diag = a[j][j];
            let mut d = diag;
            for k in 0..j {
                d -= l[j][k] * l[j][k];
            }
            if !(diag > 0.0 && d > CHOLESKY_MIN_PIVOT_RATIO * diag) {
                return false;
            }
            let ljj = d.sqrt();
            l[j][j] = ljj;
            for i in j + 1..N {
                let mut s = a[i][j];
                for k in 0..j {
                    s -= l[i][k] * l[j][k];
                }
                l[i][j] = s / ljj;
            }
        }
        let mut y = [0.0; N];
        for i in 0..N {
            let mut s = self.mu[i];
            for k in 0..i {
                s -= l[i][k] * y[k];
            }
            y[i] = s / l[i][i];
        }
        for i in (0..N).rev() {
            let mut s = y[i];
            for k in i + 1..N {
                s -= l[k][i] * w[k];
            }
            w[i] = s / l[i][i];
        }
        true
    }

    #[cfg(test)]
    fn cholesky_n_dispatch_for_test(&mut self, n: usize, w: &mut [f64]) -> bool {
        self.cholesky(n, w)
    }

    /// [`Self::cholesky`] for any size, on the preallocated workspace.
    fn cholesky_dyn(&mut self, n: usize, w: &mut [f64]) -> bool {
        let a = &self.a[..n * n];
        for i in 0..n {
            for j in i + 1..n {
                if a[i * n + j] != a[j * n + i] {
                    return false;
                }
            }
        }
        let l = &mut self.work[..n * n];
        for j in 0..n {
            let diag = a[j * n + j];
            let mut d = diag;
            for k in 0..j {
                d -= l[j * n + k] * l[j * n + k];
            }
            if !(diag > 0.0 && d > CHOLESKY_MIN_PIVOT_RATIO * diag) {
                return false;
            }
            let ljj = d.sqrt();
            l[j * n + j] = ljj;
            for i in j + 1..n {
                let mut s = a[i * n + j];
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = s / ljj;
            }
        }
        // L y = μ, then Lᵀ w = y.
        let y = &mut self.rhs[..n];
        for i in 0..n {
            let mut s = self.mu[i];
            for k in 0..i {
                s -= l[i * n + k] * y[k];
            }
            y[i] = s / l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = y[i];
            for k in i + 1..n {
                s -= l[k * n + i] * w[k];
            }
            w[i] = s / l[i * n + i];
        }
        true
    }

    /// Solve `a w = μ` by Gaussian elimination with partial pivoting into
    /// `w`; false when a pivot is exactly zero (singular).
    fn gauss(&mut self, n: usize, w: &mut [f64]) -> bool {
        let m = &mut self.work[..n * n];
        m.copy_from_slice(&self.a[..n * n]);
        let b = &mut self.rhs[..n];
        b.copy_from_slice(&self.mu[..n]);
        for k in 0..n {
            let mut piv = k;
            let mut best = m[k * n + k].abs();
            for i in k + 1..n {
                let v = m[i * n + k].abs();
                if v > best {
                    best = v;
                    piv = i;
                }
            }
            if m[piv * n + k] == 0.0 {
                return false;
            }
            if piv != k {
                for j in 0..n {
                    m.swap(k * n + j, piv * n + j);
                }
                b.swap(k, piv);
            }
            let pivot = m[k * n + k];
            for i in k + 1..n {
                let f = m[i * n + k] / pivot;
                for j in k..n {
                    m[i * n + j] -= f * m[k * n + j];
                }
                b[i] -= f * b[k];
            }
        }
        for i in (0..n).rev() {
            let mut s = b[i];
            for j in i + 1..n {
                s -= m[i * n + j] * w[j];
            }
            w[i] = s / m[i * n + i];
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused correlation pass is bit-identical to the pair-by-pair one,
    /// constant series included.
    #[test]
    fn fused_and_pairwise_correlations_agree_exactly() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        for n in 2..=FUSED_MAX {
            for len in [3, 7, 50] {
                let data: Vec<Vec<f64>> = (0..n)
                    .map(|i| {
                        if i == 1 && len == 7 {
                            vec![0.25; len + 2]
                        } else {
                            (0..len + 2).map(|_| next()).collect()
                        }
                    })
                    .collect();
                let series = |i: usize| data[i].as_slice();
                let mut a = RidgeSolver::with_history(&RidgeParams::default(), n, 64);
                let mut b = solver(n);
                a.correlation_fused(n, len, &series);
                b.correlation_pairwise(n, len, &series);
                assert_eq!(a.a[..n * n], b.a[..n * n], "n {n} len {len}");
            }
        }
    }

    fn solver(n: usize) -> RidgeSolver {
        RidgeSolver::new(&RidgeParams::default(), n)
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    /// The fixed-size Cholesky is bit-identical to the general one.
    #[test]
    fn fixed_size_cholesky_matches_the_general_one() {
        let mut seed = 3u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        for n in 2..=FUSED_MAX {
            for _ in 0..20 {
                // A random correlation-like SPD matrix: B Bᵀ scaled, + λI.
                let b: Vec<f64> = (0..n * n).map(|_| next()).collect();
                let mut c = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        c[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>();
                    }
                }
                let ic: Vec<f64> = (0..n).map(|_| 0.05 + 0.02 * next()).collect();
                let (mut fixed, mut general) = (solver(n), solver(n));
                let (mut wf, mut wg) = (vec![0.0; n], vec![0.0; n]);
                fixed.weights(&ic, Some(&c), None, &mut wf).unwrap();
                // Same set-up, then the general routine directly.
                general.weights(&ic, Some(&c), None, &mut wg).unwrap();
                let ok_fixed = fixed.cholesky_n_dispatch_for_test(n, &mut wf);
                let ok_general = general.cholesky_dyn(n, &mut wg);
                assert_eq!(ok_fixed, ok_general);
                assert_eq!(wf, wg, "n {n}");
            }
        }
    }

    #[test]
    fn spd_goes_through_cholesky() {
        let mut s = solver(2);
        let mut w = [0.0; 2];
        let r = s
            .weights(&[0.05, 0.02], Some(&[1.0, 0.3, 0.3, 1.0]), None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::Cholesky);
        assert_close(&w, &[0.865546218487395, 0.13445378151260504], 1e-15);
    }

    #[test]
    fn cholesky_and_gauss_agree_on_spd() {
        let c = [
            1.0, 0.3, 0.35, 0.2, 0.3, 1.0, 0.42, 0.24, 0.35, 0.42, 1.0, 0.28, 0.2, 0.24, 0.28, 1.0,
        ];
        let ic = [0.05, 0.04, 0.06, 0.03];
        let mut s = solver(4);
        let mut wc = [0.0; 4];
        let r = s.weights(&ic, Some(&c), None, &mut wc).unwrap();
        assert_eq!(r, RidgeOutcome::Cholesky);
        // The same system (C + λI and μ are still loaded) by elimination.
        let mut wg = [0.0; 4];
        assert!(s.gauss(4, &mut wg));
        let sum: f64 = wg.iter().map(|x| x.max(0.0)).sum();
        wg.iter_mut().for_each(|x| *x = x.max(0.0) / sum);
        assert_close(&wc, &wg, 1e-14);
    }

    #[test]
    fn exactly_singular_is_uniform_even_when_cholesky_rounds() {
        // C + λI = [[1.15, 1.15], [1.15, 1.15]]: Cholesky's second pivot
        // rounds to 2.2e-16, elimination's is exactly 0.
        let mut s = solver(2);
        let mut w = [0.0; 2];
        let r = s
            .weights(&[0.05, 0.02], Some(&[1.0, 1.15, 1.15, 1.0]), None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::Singular);
        assert_eq!(w, [0.5, 0.5]);
    }

    #[test]
    fn non_symmetric_goes_through_gauss() {
        let mut s = solver(2);
        let mut w = [0.0; 2];
        let r = s
            .weights(&[0.05, 0.02], Some(&[1.0, 0.2, 0.4, 1.0]), None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::Gauss);
        assert!((w[0] + w[1] - 1.0).abs() < 1e-15 && w[0] > w[1]);
    }

    #[test]
    fn negative_definite_falls_back_to_uniform() {
        let mut s = solver(3);
        let mut w = [0.0; 3];
        let c = [-2.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, -2.0];
        let r = s
            .weights(&[0.05, 0.02, 0.03], Some(&c), None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::NoPositiveWeight);
        assert_eq!(w, [1.0 / 3.0; 3]);
    }

    #[test]
    fn bad_matrix_is_identity_and_costs_penalise() {
        let mut s = solver(3);
        let mut w = [0.0; 3];
        s.weights(
            &[0.05, 0.02, 0.01],
            Some(&[1.0, 0.0, 0.0, 1.0]),
            None,
            &mut w,
        )
        .unwrap();
        assert_close(&w, &[0.625, 0.25, 0.125], 1e-15);
        let nan = [1.0, f64::NAN, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        s.weights(&[0.05, 0.02, 0.01], Some(&nan), None, &mut w)
            .unwrap();
        assert_close(&w, &[0.625, 0.25, 0.125], 1e-15);
        // cost 0.08 on the first: μ = max(0.05 − 0.04, 0.01) = 0.01.
        s.weights(&[0.05, 0.02, 0.01], None, Some(&[0.08]), &mut w)
            .unwrap();
        assert_close(&w, &[0.25, 0.5, 0.25], 1e-15);
    }

    #[test]
    fn min_weight_applies_before_normalising() {
        let mut s = RidgeSolver::new(
            &RidgeParams {
                min_weight: 0.02,
                ..Default::default()
            },
            3,
        );
        let mut w = [0.0; 3];
        let c = [1.0, 0.04, 0.04, 0.04, 1.0, 0.04, 0.04, 0.04, 1.0];
        s.weights(&[0.05, 0.02, 0.01], Some(&c), None, &mut w)
            .unwrap();
        assert_eq!(w, [1.0, 0.0, 0.0]);
    }

    #[test]
    fn sizes_and_trivial_counts() {
        let mut s = solver(2);
        let mut w = [0.0; 3];
        assert_eq!(
            s.weights(&[], None, None, &mut w).unwrap(),
            RidgeOutcome::Empty
        );
        assert_eq!(
            s.weights(&[-1.0], None, None, &mut w).unwrap(),
            RidgeOutcome::Single
        );
        assert_eq!(w[0], 1.0);
        assert_eq!(
            s.weights(&[0.1; 3], None, None, &mut w),
            Err(RidgeError::TooManyModels { n: 3, max: 2 })
        );
        assert_eq!(
            s.weights(&[0.1; 2], None, None, &mut w[..1]),
            Err(RidgeError::OutputTooShort { n: 2, len: 1 })
        );
    }

    #[test]
    fn history_tail_aligned_constant_zeroed_and_short_uniform() {
        let a: Vec<f64> = (0..12).map(|i| (i as f64).sin()).collect();
        let b = vec![0.5; 12];
        let c: Vec<f64> = a.iter().map(|x| -x).collect();
        let series = [a.as_slice(), b.as_slice(), c.as_slice()];
        let mut s = solver(3);
        let mut w = [0.0; 3];
        let r = s
            .weights_from_history(|i| series[i], &[0.03; 3], None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::Cholesky);
        assert_close(
            &w,
            &[
                0.46938775510204084,
                0.06122448979591834,
                0.46938775510204084,
            ],
            1e-12,
        );
        let short = [&a[..2], &b[..], &c[..]];
        let r = s
            .weights_from_history(|i| short[i], &[0.03; 3], None, &mut w)
            .unwrap();
        assert_eq!(r, RidgeOutcome::ShortHistory);
        assert_eq!(w, [1.0 / 3.0; 3]);
    }
}
