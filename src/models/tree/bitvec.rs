//! Bit-vector evaluation of a tree ensemble (QuickScorer's exit-leaf rule,
//! every split compared, eight trees side by side in the lanes of AVX2
//! registers): the fastest evaluator, for `f32` rows of up to
//! [`MAX_FEATURES`] features and trees of up to [`MAX_LEAVES`] leaves, on
//! x86-64 CPUs with AVX2. CPUs with AVX-512 (F, VL) run the same kernel
//! with one two-table permute in place of two to seven AVX2 instructions.
//! Both are chosen at run time (`is_x86_feature_detected!`); elsewhere the
//! [`super::Compiled`] walk serves. LLVM ends each kernel with
//! `vzeroupper`, so the SSE code that runs next pays no state-transition
//! penalty (see `onnx.rs` on tract's kernels, which do not).
//!
//! Built at load (cold) from validated arrays; [`Bitvec::sum`] runs on the
//! engine thread and is hot path: no allocation, no blocking, no logging,
//! no panic.
//!
//! # The exit-leaf rule
//!
//! Number a tree's leaves left to right. A split is *false* for a row when
//! the walk would go right (`x > threshold`): then no leaf of its left
//! subtree can be the exit. Give each split a mask with the bits of its
//! left subtree's leaves cleared; the AND of the masks of the false splits
//! keeps the exit leaf's bit, and it is the lowest bit left (Lucchese et al.,
//! "QuickScorer", SIGIR 2015). No split depends on another: eight
//! consecutive trees take one lane each, and one instruction compares one
//! split of each of them; a group of eight trees costs a few vector
//! instructions per split of its largest tree, and no walk.
//!
//! # Exactness
//!
//! Rows are `f32`. For an `f32` value `x` and a threshold `t` (an `f64`,
//! never NaN), `x <= t` exactly when `x <= t↓`, where `t↓` is the largest
//! `f32` (or infinity) not above `t`: so the comparisons run in `f32`
//! against thresholds rounded down once at load, and decide exactly as
//! LightGBM's `f64` comparison does. Values with `|x| <= kZeroThreshold`
//! are zero, as in `tree.rs`. Rows with a NaN and ensembles with
//! zero-as-missing splits never come here. The leaf outputs are summed in
//! tree order from 0.0, so the sum is bit-identical to the walks'.

use super::{ChildRef, Node, K_ZERO_THRESHOLD, MISSING_TYPE_MASK, MISSING_ZERO};

/// Longest row: four AVX registers of eight `f32` (two of sixteen).
pub const MAX_FEATURES: usize = 32;

/// Largest tree: one bit per leaf in a `u32` mask.
pub const MAX_LEAVES: usize = 32;

/// Trees side by side: splits compared per instruction.
const LANES: usize = 8;

/// One split of each of eight trees (lane `t`: tree `t` of the group):
/// where it reads the row, its threshold rounded down to `f32`, and its
/// mask. Padding lanes compare against `+inf` (never false) with an
/// all-ones mask. 96 bytes, no padding: `.ltw` files map onto `[Octet]`.
#[repr(C, align(32))]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Octet {
    /// Bits 0–4: the feature (AVX-512 permutes read them all, AVX2
    /// permutes bits 0–2, its lane in a register of eight); bit 31: bit 3
    /// of the feature, bit 30: bit 4 (which register of eight, for the AVX2
    /// blends).
    index: [i32; LANES],
    /// `t↓` (see the module doc).
    threshold: [f32; LANES],
    /// All ones but the split's left-subtree leaves.
    mask: [u32; LANES],
}

impl Octet {
    const PADDING: Octet = Octet {
        index: [0; LANES],
        threshold: [f32::INFINITY; LANES],
        mask: [u32::MAX; LANES],
    };
}

/// Up to eight consecutive trees: their splits are `octets` starting at
/// `first` (one octet per split of the largest), tree `t`'s leaf outputs,
/// left to right, start at `leaves[t]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    first: u32,
    octets: u32,
    trees: u32,
    leaves: [u32; LANES],
}

/// The bit-vector layout of an ensemble, whatever the CPU: the octets, the
/// groups, and the leaf outputs of every tree left to right, trees in
/// summation order.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    octets: Vec<Octet>,
    groups: Vec<Group>,
    leaves: Vec<f64>,
}

/// The three arrays the kernels read.
#[derive(Clone, Copy)]
struct Arrays<'a> {
    octets: &'a [Octet],
    groups: &'a [Group],
    leaves: &'a [f64],
}

/// One split, for the layout: threshold, feature, its subtree's first
/// leaf, its right subtree's first leaf.
type Split = (f64, u32, u32, u32);

impl Layout {
    /// Lays out validated arrays; `None` when rows are longer than
    /// [`MAX_FEATURES`], a tree has more than [`MAX_LEAVES`] leaves or a
    /// split treats zero as missing.
    fn new(n_features: usize, nodes: &[Node], leaf_values: &[f64], roots: &[u32]) -> Option<Self> {
        let zero_missing = nodes
            .iter()
            .any(|n| n.decision & MISSING_TYPE_MASK == MISSING_ZERO);
        if n_features > MAX_FEATURES || zero_missing {
            return None;
        }
        let mut octets = Vec::new();
        let mut groups = Vec::with_capacity(roots.len().div_ceil(LANES));
        let mut leaves = Vec::with_capacity(leaf_values.len());
        let mut stack: Vec<(u32, Option<usize>)> = Vec::new();
        for group_roots in roots.chunks(LANES) {
            let mut group = Group {
                first: u32::try_from(octets.len()).ok()?,
                octets: 0,
                trees: group_roots.len() as u32,
                leaves: [0; LANES],
            };
            let mut trees: Vec<Vec<Split>> = Vec::with_capacity(LANES);
            for (lane, &root) in group_roots.iter().enumerate() {
                *group.leaves.get_mut(lane)? = u32::try_from(leaves.len()).ok()?;
                let splits = tree_splits(root, nodes, leaf_values, &mut leaves, &mut stack)?;
                group.octets = group.octets.max(splits.len() as u32);
                trees.push(splits);
            }
            for k in 0..group.octets as usize {
                let mut octet = Octet::PADDING;
                for (lane, splits) in trees.iter().enumerate() {
                    if let Some(&(threshold, feature, first, right)) = splits.get(k) {
                        *octet.index.get_mut(lane)? = lane_index(feature)?;
                        *octet.threshold.get_mut(lane)? = round_down(threshold);
                        *octet.mask.get_mut(lane)? = !range_bits(first, right);
                    }
                }
                octets.push(octet);
            }
            groups.push(group);
        }
        Some(Layout {
            octets,
            groups,
            leaves,
        })
    }
}

/// A tree ensemble laid out for bit-vector evaluation, owning its arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Bitvec {
    n_features: usize,
    /// The CPU has AVX-512 F and VL: [`x86::sum512`] serves.
    avx512: bool,
    octets: Box<[Octet]>,
    groups: Box<[Group]>,
    leaves: Box<[f64]>,
}

impl Bitvec {
    /// Lays out validated arrays. `None` when the CPU lacks AVX2, rows are
    /// longer than [`MAX_FEATURES`] or a tree has more than [`MAX_LEAVES`]
    /// leaves. Cold.
    pub(super) fn new(
        n_features: usize,
        nodes: &[Node],
        leaf_values: &[f64],
        roots: &[u32],
    ) -> Option<Self> {
        if !avx2() {
            return None;
        }
        let layout = Layout::new(n_features, nodes, leaf_values, roots)?;
        Some(Bitvec {
            n_features,
            avx512: avx512(),
            octets: layout.octets.into(),
            groups: layout.groups.into(),
            leaves: layout.leaves.into(),
        })
    }

    /// The tree sum of an `f32` row, bit-identical to the walks'; `None`
    /// when the row has the wrong length or a NaN (the caller walks).
    #[inline]
    pub fn sum(&self, row: &[f32]) -> Option<f64> {
        let arrays = Arrays {
            octets: &self.octets,
            groups: &self.groups,
            leaves: &self.leaves,
        };
        // `new` checked AVX2.
        evaluate(self.n_features, self.avx512, arrays, row)
    }
}

/// The bit-vector section of a memory-mapped `.ltw` tree file: the octets
/// and the leaf outputs read in place (the file stores every tree's leaves
/// left to right, see [`octets_for_file`]), the small group table derived
/// at open. Evaluates as [`Bitvec`].
#[derive(Debug, Clone, PartialEq)]
pub struct MappedBitvec<'a> {
    n_features: usize,
    /// The CPU has AVX2; without it the caller walks the arrays.
    avx2: bool,
    avx512: bool,
    octets: &'a [Octet],
    groups: Box<[Group]>,
    leaves: &'a [f64],
}

/// Why a file's bit-vector section cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BitvecError {
    /// The ensemble does not fit the layout (rows or trees too large).
    #[error(
        "the ensemble does not fit the bit-vector layout (at most {MAX_FEATURES} features, \
         {MAX_LEAVES} leaves per tree, no zero-as-missing split)"
    )]
    DoesNotFit,
    /// The leaves are not stored left to right, tree after tree.
    #[error("the leaf values are not stored left to right, tree after tree")]
    LeafOrder,
    /// The section differs from the layout of the trees.
    #[error("the bit-vector section holds {found} octets that differ from the trees' layout of {expected} (first difference at octet {at})")]
    Mismatch {
        found: usize,
        expected: usize,
        at: usize,
    },
}

impl<'a> MappedBitvec<'a> {
    /// Checks `octets` against the layout of validated arrays, rebuilt here
    /// and compared bit for bit (a transient allocation, dropped before
    /// returning: nothing of the file is kept in a copy). Cold.
    pub fn new(
        n_features: usize,
        nodes: &[Node],
        leaf_values: &'a [f64],
        roots: &[u32],
        octets: &'a [Octet],
    ) -> Result<Self, BitvecError> {
        let layout =
            Layout::new(n_features, nodes, leaf_values, roots).ok_or(BitvecError::DoesNotFit)?;
        if bytemuck::cast_slice::<f64, u8>(&layout.leaves)
            != bytemuck::cast_slice::<f64, u8>(leaf_values)
        {
            return Err(BitvecError::LeafOrder);
        }
        let differs = layout
            .octets
            .iter()
            .zip(octets)
            .position(|(a, b)| bytemuck::bytes_of(a) != bytemuck::bytes_of(b));
        if differs.is_some() || layout.octets.len() != octets.len() {
            return Err(BitvecError::Mismatch {
                found: octets.len(),
                expected: layout.octets.len(),
                at: differs.unwrap_or(layout.octets.len().min(octets.len())),
            });
        }
        Ok(MappedBitvec {
            n_features,
            avx2: avx2(),
            avx512: avx512(),
            octets,
            groups: layout.groups.into(),
            leaves: leaf_values,
        })
    }

    /// As [`Bitvec::sum`]; also `None` on a CPU without AVX2.
    #[inline]
    pub fn sum(&self, row: &[f32]) -> Option<f64> {
        if !self.avx2 {
            return None;
        }
        let arrays = Arrays {
            octets: self.octets,
            groups: &self.groups,
            leaves: self.leaves,
        };
        evaluate(self.n_features, self.avx512, arrays, row)
    }
}

/// The octets a `.ltw` tree file stores for validated arrays, when they
/// fit the layout and their leaves are stored left to right, tree after
/// tree (as `model.txt` loading stores them); `None` otherwise. Cold.
pub fn octets_for_file(
    n_features: usize,
    nodes: &[Node],
    leaf_values: &[f64],
    roots: &[u32],
) -> Option<Vec<Octet>> {
    let layout = Layout::new(n_features, nodes, leaf_values, roots)?;
    let in_order = bytemuck::cast_slice::<f64, u8>(&layout.leaves)
        == bytemuck::cast_slice::<f64, u8>(leaf_values);
    in_order.then_some(layout.octets)
}

/// Prepares the row and runs the kernel for the CPU. The caller has
/// checked that the CPU has AVX2.
#[inline(always)]
fn evaluate(n_features: usize, avx512: bool, arrays: Arrays<'_>, row: &[f32]) -> Option<f64> {
    let xs = prepare(n_features, row)?;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: every caller holds a value built only when `avx2()` was
        // true (`Bitvec::new`) or checks it (`MappedBitvec::sum`), and
        // `avx512` is `avx512()`: the CPU has the features each kernel is
        // compiled for.
        unsafe {
            match (avx512, n_features) {
                (_, 0..=8) => x86::sum::<1>(arrays, &xs),
                (false, 9..=16) => x86::sum::<2>(arrays, &xs),
                (false, _) => x86::sum::<4>(arrays, &xs),
                (true, 9..=16) => x86::sum512::<2>(arrays, &xs),
                (true, _) => x86::sum512::<4>(arrays, &xs),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (avx512, arrays, xs);
        None
    }
}

/// The row in [`MAX_FEATURES`] slots, values with `|x| <= kZeroThreshold`
/// zeroed; `None` for a NaN or the wrong length.
#[inline(always)]
fn prepare(n_features: usize, row: &[f32]) -> Option<[f32; MAX_FEATURES]> {
    if row.len() != n_features {
        return None;
    }
    let mut xs = [0.0f32; MAX_FEATURES];
    let mut nan = false;
    for (d, &x) in xs.iter_mut().zip(row) {
        nan |= x.is_nan();
        // |x| <= kZeroThreshold is zero (LightGBM drops it).
        *d = if f64::from(x.abs()) <= K_ZERO_THRESHOLD {
            0.0
        } else {
            x
        };
    }
    (!nan).then_some(xs)
}

/// The splits of the tree at `root` with their leaf ranges, its leaf
/// outputs appended to `leaves` left to right; `None` past
/// [`MAX_LEAVES`] leaves.
fn tree_splits(
    root: u32,
    nodes: &[Node],
    leaf_values: &[f64],
    leaves: &mut Vec<f64>,
    stack: &mut Vec<(u32, Option<usize>)>,
) -> Option<Vec<Split>> {
    let mut splits: Vec<Split> = Vec::new();
    let mut leaf = 0u32;
    // Preorder, left before right: leaves come out left to right. A right
    // child records where its parent's right subtree starts.
    stack.clear();
    stack.push((root, None));
    while let Some((raw, parent)) = stack.pop() {
        if let Some(p) = parent {
            splits.get_mut(p)?.3 = leaf;
        }
        match ChildRef::decode(raw) {
            ChildRef::Leaf(i) => {
                leaves.push(*leaf_values.get(i as usize)?);
                leaf += 1;
            }
            ChildRef::Node(i) => {
                let node = nodes.get(i as usize)?;
                stack.push((node.right, Some(splits.len())));
                stack.push((node.left, None));
                splits.push((node.threshold, node.feature, leaf, 0));
            }
        }
    }
    (leaf as usize <= MAX_LEAVES).then_some(splits)
}

/// Whether this CPU runs the AVX2 kernel.
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the AVX-512 kernel.
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The lane index of a feature (see [`Octet::index`]); `None` past
/// [`MAX_FEATURES`].
fn lane_index(feature: u32) -> Option<i32> {
    if feature as usize >= MAX_FEATURES {
        return None;
    }
    let bits = feature | ((feature >> 4) & 1) << 30 | ((feature >> 3) & 1) << 31;
    Some(bits as i32)
}

/// Bits `first..end` set (`end <= 32`).
fn range_bits(first: u32, end: u32) -> u32 {
    let below = |n: u32| if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    below(end) & !below(first)
}

/// The largest `f32` (or infinity) not above `t`: for every `f32` `x`,
/// `x <= t` exactly when `x <= round_down(t)`.
fn round_down(t: f64) -> f32 {
    let near = t as f32;
    if f64::from(near) > t {
        near.next_down()
    } else {
        near
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Arrays, Octet, LANES, MAX_FEATURES};

    /// The AVX2 kernel: the row in `REGS` registers of eight features.
    ///
    /// LLVM ends the function with `vzeroupper`, so the SSE code that
    /// follows pays no transition penalty.
    #[target_feature(enable = "avx2")]
    pub(super) fn sum<const REGS: usize>(b: Arrays<'_>, xs: &[f32; MAX_FEATURES]) -> Option<f64> {
        let reg = |i: usize| {
            let part = xs.get(8 * i..8 * i + 8).unwrap_or(&[0.0; 8]);
            // SAFETY: `part` holds eight `f32`; the load is unaligned.
            unsafe { _mm256_loadu_ps(part.as_ptr()) }
        };
        let (x0, x1, x2, x3) = (reg(0), reg(1), reg(2), reg(3));
        let ones = _mm256_set1_epi32(-1);
        let mut sum = 0.0;
        let mut bits = [0u32; LANES];
        for group in b.groups.iter() {
            let first = group.first as usize;
            let mut acc = ones;
            for o in b.octets.get(first..first + group.octets as usize)? {
                let (index, threshold, mask) = load(o);
                // The row values the eight splits read.
                let lo = _mm256_permutevar8x32_ps(x0, index);
                let x = match REGS {
                    1 => lo,
                    2 => {
                        let hi = _mm256_permutevar8x32_ps(x1, index);
                        _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(index))
                    }
                    _ => {
                        let sign = _mm256_castsi256_ps(index);
                        let a = _mm256_blendv_ps(lo, _mm256_permutevar8x32_ps(x1, index), sign);
                        let c = _mm256_blendv_ps(
                            _mm256_permutevar8x32_ps(x2, index),
                            _mm256_permutevar8x32_ps(x3, index),
                            sign,
                        );
                        let bit4 = _mm256_castsi256_ps(_mm256_slli_epi32::<1>(index));
                        _mm256_blendv_ps(a, c, bit4)
                    }
                };
                // False splits (the walk goes right) clear their masks'
                // zero bits: acc &= !(false & !mask).
                let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(x, threshold));
                acc = _mm256_andnot_si256(_mm256_andnot_si256(mask, right), acc);
            }
            // SAFETY: `bits` is 32 bytes; the store is unaligned.
            unsafe { _mm256_storeu_si256(bits.as_mut_ptr().cast(), acc) };
            for (&word, &base) in bits.iter().zip(&group.leaves).take(group.trees as usize) {
                let leaf = base as usize + word.trailing_zeros() as usize;
                sum += *b.leaves.get(leaf)?;
            }
        }
        Some(sum)
    }

    /// The same kernel with AVX-512 (F, VL) two-table permutes: one
    /// instruction picks the eight values from the whole row (16 or 32
    /// features) where the AVX2 kernel needs two to seven. Otherwise the
    /// same instructions in the same order, so the same bits.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) fn sum512<const REGS: usize>(
        b: Arrays<'_>,
        xs: &[f32; MAX_FEATURES],
    ) -> Option<f64> {
        let reg = |i: usize| {
            let part = xs.get(8 * i..8 * i + 8).unwrap_or(&[0.0; 8]);
            // SAFETY: `part` holds eight `f32`; the load is unaligned.
            unsafe { _mm256_loadu_ps(part.as_ptr()) }
        };
        let (x0, x1) = (reg(0), reg(1));
        let wide = |i: usize| {
            let part = xs.get(16 * i..16 * i + 16).unwrap_or(&[0.0; 16]);
            // SAFETY: `part` holds sixteen `f32`; the load is unaligned.
            unsafe { _mm512_loadu_ps(part.as_ptr()) }
        };
        let (lo16, hi16) = (wide(0), wide(1));
        let ones = _mm256_set1_epi32(-1);
        let mut sum = 0.0;
        let mut bits = [0u32; LANES];
        for group in b.groups.iter() {
            let first = group.first as usize;
            let mut acc = ones;
            for o in b.octets.get(first..first + group.octets as usize)? {
                let (index, threshold, mask) = load(o);
                let x = match REGS {
                    1 => _mm256_permutevar8x32_ps(x0, index),
                    2 => _mm256_permutex2var_ps(x0, index, x1),
                    _ => _mm512_castps512_ps256(_mm512_permutex2var_ps(
                        lo16,
                        _mm512_castsi256_si512(index),
                        hi16,
                    )),
                };
                let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(x, threshold));
                acc = _mm256_andnot_si256(_mm256_andnot_si256(mask, right), acc);
            }
            // SAFETY: `bits` is 32 bytes; the store is unaligned.
            unsafe { _mm256_storeu_si256(bits.as_mut_ptr().cast(), acc) };
            for (&word, &base) in bits.iter().zip(&group.leaves).take(group.trees as usize) {
                let leaf = base as usize + word.trailing_zeros() as usize;
                sum += *b.leaves.get(leaf)?;
            }
        }
        Some(sum)
    }

    /// An octet's three vectors.
    #[inline(always)]
    fn load(o: &Octet) -> (__m256i, __m256, __m256i) {
        // SAFETY: each field is 32 bytes at a 32-byte-aligned address
        // (`Octet` is `repr(C, align(32))` and every field is 32 bytes).
        unsafe {
            (
                _mm256_load_si256(o.index.as_ptr().cast()),
                _mm256_load_ps(o.threshold.as_ptr()),
                _mm256_load_si256(o.mask.as_ptr().cast()),
            )
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::super::testgen::{forest, reference, row};
    use super::super::MISSING_NAN;
    use super::*;
    use crate::testkit::SplitMix;

    /// Both kernels, whichever the dispatch would pick, on every register
    /// count, against the definition.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn both_kernels_give_the_definitions_sum_bit_for_bit() {
        if !avx2() {
            return;
        }
        let cuts = [-1.0, -0.25, 0.0, 1e-38, 0.1, 0.5, 1.0 / 3.0, 2.5, 1e30];
        let mut rng = SplitMix::new(13);
        let mut checked = 0;
        for (n_features, trees, leaves) in [
            (3, 9, 8),
            (8, 17, 32),
            (12, 40, 8),
            (16, 8, 31),
            (20, 33, 16),
            (32, 24, 32),
        ] {
            let f = forest(&mut rng, n_features, trees, leaves, &cuts, MISSING_NAN);
            let b = Bitvec::new(n_features, &f.nodes, &f.leaves, &f.roots).expect("fits");
            let arrays = Arrays {
                octets: &b.octets,
                groups: &b.groups,
                leaves: &b.leaves,
            };
            for _ in 0..60 {
                let x = row(&mut rng, n_features, &cuts, false);
                let want = reference(&f, &x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
                let xs = prepare(n_features, &x).expect("no NaN");
                // SAFETY: AVX2 checked above.
                let avx2 = unsafe {
                    match n_features {
                        0..=8 => x86::sum::<1>(arrays, &xs),
                        9..=16 => x86::sum::<2>(arrays, &xs),
                        _ => x86::sum::<4>(arrays, &xs),
                    }
                };
                assert_eq!(avx2.map(f64::to_bits), Some(want.to_bits()), "AVX2 {x:?}");
                if avx512() {
                    // SAFETY: AVX-512 F and VL checked just above.
                    let wide = unsafe {
                        match n_features {
                            0..=16 => x86::sum512::<2>(arrays, &xs),
                            _ => x86::sum512::<4>(arrays, &xs),
                        }
                    };
                    assert_eq!(
                        wide.map(f64::to_bits),
                        Some(want.to_bits()),
                        "AVX-512 {x:?}"
                    );
                }
                assert_eq!(b.sum(&x).map(f64::to_bits), Some(want.to_bits()));
                checked += 1;
            }
        }
        assert_eq!(checked, 360);
    }

    #[test]
    fn round_down_decides_as_the_f64_comparison() {
        let thresholds = [
            0.1,
            -0.1,
            1.642_799_794_673_92,
            0.5,
            -0.0,
            0.0,
            1e-40,
            -1e-40,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from(f32::MAX),
            f64::from(f32::MIN_POSITIVE) / 3.0,
        ];
        for t in thresholds {
            let d = round_down(t);
            assert!(f64::from(d) <= t, "{t}");
            // The next f32 up is above t: nothing between.
            if d != f32::INFINITY {
                assert!(f64::from(d.next_up()) > t, "{t}");
            }
            let near = t as f32;
            for x in [
                near,
                near.next_up(),
                near.next_down(),
                d,
                d.next_up(),
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ] {
                assert_eq!(x <= d, f64::from(x) <= t, "x {x:e}, t {t:e}");
            }
        }
    }

    #[test]
    fn lane_indices_and_masks() {
        assert_eq!(lane_index(5), Some(5));
        assert_eq!(lane_index(13), Some(13 | i32::MIN));
        assert_eq!(lane_index(21), Some(21 | 1 << 30));
        assert_eq!(lane_index(31), Some(31 | 1 << 30 | i32::MIN));
        assert_eq!(lane_index(32), None);
        assert_eq!(range_bits(0, 3), 0b111);
        assert_eq!(range_bits(2, 4), 0b1100);
        assert_eq!(range_bits(0, 32), u32::MAX);
        assert_eq!(range_bits(31, 32), 1 << 31);
    }
}
