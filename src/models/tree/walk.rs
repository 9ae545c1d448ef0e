//! The compiled walk: a tree ensemble rearranged at load so that a step
//! of the walk is a few instructions without a branch. It serves rows
//! without NaN where the bit-vector evaluation (`bitvec.rs`) does not: CPUs
//! without AVX2, `f64` rows, rows longer than its 32 features, trees of
//! more than 32 leaves.
//!
//! Built at load (cold) from validated arrays; [`Compiled::sum`] runs on
//! the engine thread and is hot path: no allocation, no blocking, no
//! logging, no panic.
//!
//! # Layout
//!
//! Every tree in preorder, one 16-byte [`Step`] per split or leaf: a
//! split's left child is the next step, its right child is `right`; a leaf
//! holds its output and loops on itself (it reads a row slot that holds
//! NaN, so `x <= value` is false and the walk takes `right`, itself). A
//! group of [`LANES`] trees is walked side by side for exactly as many
//! steps as its deepest leaf needs, with no test for "at a leaf"; every
//! choice is a conditional move. Trees are taken [`CHUNK`] at a time in
//! summation order and sorted by depth inside a chunk, so that trees
//! walked side by side need about the same number of steps; their leaf
//! outputs land in a buffer in tree order and are summed in tree order
//! from 0.0, so the sum is bit-identical to the other walks'.
//!
//! The missing-value rules reduce to `x <= threshold` for the rows served
//! here (no NaN, no zero-as-missing split; values with `|x| <=
//! kZeroThreshold` are zeroed first), exactly as in `tree.rs`.

use super::{ChildRef, Node, K_ZERO_THRESHOLD, MAX_INDEX};

/// Trees walked side by side: their loads overlap instead of waiting on
/// each other.
const LANES: usize = 8;

/// One split or leaf (see the module doc), 16 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    /// Split: the threshold (left iff `x <= value`). Leaf: the output.
    value: f64,
    /// Split: the feature (below `n_features`). Leaf: [`NAN_SLOT`].
    feature: u32,
    /// Split: the right child's index. Leaf: its own index.
    right: u32,
}

/// The row slot a leaf reads: it always holds NaN. Rows of the walk have
/// fewer features than this.
const NAN_SLOT: u32 = 255;

/// Up to [`LANES`] trees of one chunk walked side by side: their roots,
/// where each leaf output goes in the chunk's buffer, and the number of
/// steps that brings every one of them to its leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    /// Root entries.
    starts: [u32; LANES],
    /// Each lane's tree, as its position in the chunk (summation order);
    /// [`CHUNK`] for a lane that walks a copy of another lane's tree.
    slots: [u8; LANES],
    /// The deepest leaf of the group's trees, in splits.
    depth: u32,
}

/// Up to [`CHUNK`] consecutive trees: `groups` groups from `first` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    /// First group.
    first: u32,
    /// Groups in the chunk.
    groups: u32,
    /// Trees in the chunk.
    trees: u32,
}

/// A tree ensemble compiled for the walk (see the module doc).
///
/// Construction places every root and every `right` inside `steps`, a
/// split's left child right after it, a split's feature below the row
/// length and a leaf's at `NAN_SLOT`, past it: every walk stays on its
/// tree's steps and ends on its leaf. The walk still checks each index (a
/// predicted branch); removing the check measured about 10 % and was not
/// worth an `unsafe` block on this fallback path.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    n_features: usize,
    steps: Box<[Step]>,
    groups: Box<[Group]>,
    chunks: Box<[Chunk]>,
}

impl Compiled {
    /// Compiles validated arrays; `None` when rows have [`NAN_SLOT`] or
    /// more features, or when the steps would not fit in 31 bits. Cold.
    pub(super) fn new(
        n_features: usize,
        nodes: &[Node],
        leaf_values: &[f64],
        roots: &[u32],
    ) -> Option<Self> {
        if n_features >= NAN_SLOT as usize || nodes.len() + leaf_values.len() > MAX_INDEX {
            return None;
        }
        let mut steps: Vec<Step> = Vec::with_capacity(nodes.len() + leaf_values.len());
        // (root entry, depth) per tree, in summation order
        let mut trees = Vec::with_capacity(roots.len());
        // (reference, its depth, the split whose `right` it is)
        let mut stack: Vec<(u32, u32, Option<usize>)> = Vec::new();
        for &root in roots {
            let start = steps.len() as u32;
            let mut deepest = 0;
            stack.push((root, 0, None));
            while let Some((raw, depth, parent)) = stack.pop() {
                let at = steps.len();
                if let Some(p) = parent {
                    steps.get_mut(p)?.right = at as u32;
                }
                match ChildRef::decode(raw) {
                    ChildRef::Leaf(i) => {
                        deepest = deepest.max(depth);
                        steps.push(Step {
                            value: *leaf_values.get(i as usize)?,
                            feature: NAN_SLOT,
                            right: at as u32,
                        });
                    }
                    ChildRef::Node(i) => {
                        let node = nodes.get(i as usize)?;
                        steps.push(Step {
                            value: node.threshold,
                            feature: node.feature,
                            right: at as u32, // set when the right child is placed
                        });
                        stack.push((node.right, depth + 1, Some(at)));
                        stack.push((node.left, depth + 1, None));
                    }
                }
            }
            trees.push((start, deepest));
        }
        let (mut groups, mut chunks) = (Vec::new(), Vec::new());
        for chunk in trees.chunks(CHUNK) {
            let mut order: Vec<usize> = (0..chunk.len()).collect();
            order.sort_by_key(|&i| chunk.get(i).map_or(0, |t| t.1));
            chunks.push(Chunk {
                first: groups.len() as u32,
                groups: order.len().div_ceil(LANES) as u32,
                trees: chunk.len() as u32,
            });
            for lanes in order.chunks(LANES) {
                let first = *lanes.first()?;
                let mut group = Group {
                    starts: [chunk.get(first)?.0; LANES],
                    slots: [CHUNK as u8; LANES],
                    depth: 0,
                };
                for (lane, &i) in lanes.iter().enumerate() {
                    let (start, depth) = *chunk.get(i)?;
                    *group.starts.get_mut(lane)? = start;
                    *group.slots.get_mut(lane)? = i as u8;
                    group.depth = group.depth.max(depth);
                }
                groups.push(group);
            }
        }
        Some(Compiled {
            n_features,
            steps: steps.into(),
            groups: groups.into(),
            chunks: chunks.into(),
        })
    }

    /// The tree sum of a row without NaN, bit-identical to the other
    /// walks'; `None` when the row has a NaN or the wrong length (the
    /// caller takes the general walk).
    #[inline]
    pub fn sum<T: Copy + Into<f64>>(&self, row: &[T]) -> Option<f64> {
        if row.len() != self.n_features {
            return None;
        }
        if row.len() < SMALL_ROW {
            self.walk::<SMALL_ROW, T>(row)
        } else {
            self.walk::<ROW_SLOTS, T>(row)
        }
    }

    /// Prepares the row in `N` slots (NaN past the row, so in
    /// [`NAN_SLOT`] masked to `N`) and walks every group.
    #[inline(always)]
    fn walk<const N: usize, T: Copy + Into<f64>>(&self, row: &[T]) -> Option<f64> {
        let mut xs = [f64::NAN; N];
        let mut nan = false;
        for (d, &v) in xs.iter_mut().zip(row) {
            let x: f64 = v.into();
            nan |= x.is_nan();
            // |x| <= kZeroThreshold is zero (LightGBM drops it).
            *d = if x.abs() <= K_ZERO_THRESHOLD { 0.0 } else { x };
        }
        if nan || row.len() >= N {
            return None;
        }
        let steps = &*self.steps;
        let mut sum = 0.0;
        for chunk in self.chunks.iter() {
            let first = chunk.first as usize;
            let groups = self.groups.get(first..first + chunk.groups as usize)?;
            let mut leaves = [0.0f64; CHUNK + 1];
            for group in groups {
                let mut at = group.starts.map(|s| s as usize);
                for _ in 0..group.depth {
                    for a in at.iter_mut() {
                        let step = steps.get(*a)?;
                        let x = xs[step.feature as usize & (N - 1)];
                        // A data-dependent branch would be mispredicted
                        // half the time: ask for a conditional move.
                        *a = std::hint::select_unpredictable(
                            x <= step.value,
                            *a + 1,
                            step.right as usize,
                        );
                    }
                }
                for (&a, &slot) in at.iter().zip(&group.slots) {
                    *leaves.get_mut(usize::from(slot))? = steps.get(a)?.value;
                }
            }
            for &v in leaves.iter().take(chunk.trees as usize) {
                sum += v;
            }
        }
        Some(sum)
    }
}

/// Trees per chunk; slot `CHUNK` of a chunk's buffer takes the outputs of
/// padding lanes.
const CHUNK: usize = 64;

/// Row slots for short rows (fewer features than this).
const SMALL_ROW: usize = 64;

/// Row slots for longer rows: [`NAN_SLOT`] + 1.
const ROW_SLOTS: usize = NAN_SLOT as usize + 1;
