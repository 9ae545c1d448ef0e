//! Flat tree ensembles: the form every tree back-end is converted into at
//! load, and their evaluation for one row.
//!
//! Built on the start-up thread (from `model.txt`, or read in place from the
//! memory-mapped `.ltw` weight file); evaluated on the engine thread.
//! Evaluation is hot path: no allocation, no blocking, no logging, no
//! recursion, no panic.
//!
//! # Evaluation
//!
//! Three evaluators compute the same sum, bit for bit; the first that
//! serves a row takes it:
//!
//! 1. [`Bitvec`] (`tree/bitvec.rs`): every split compared, eight trees side
//!    by side in AVX2 registers (AVX-512 permutes where the CPU has them),
//!    the exit leaf found from bit masks. `f32` rows without NaN of at most
//!    32 features, trees of at most 32 leaves, no zero-as-missing split, a
//!    CPU with AVX2 (detected at run time).
//! 2. [`Compiled`] (`tree/walk.rs`): the trees rearranged for a walk of a
//!    few branch-free instructions per step. Rows without NaN of fewer than
//!    255 features, no zero-as-missing split.
//! 3. [`TreeView`]'s walk over the arrays below, with every missing-value
//!    rule: everything else.
//!
//! [`TreeEnsemble`] (owned arrays) builds the first two at load. A `.ltw`
//! file is read in place: its [`TreeView`] over the memory map, and the
//! bit-vector layout when the file carries it as a section
//! ([`MappedBitvec`], checked against the trees at open); the compiled walk
//! is not built for it, since it would copy the weights.
//!
//! # Layout
//!
//! Three flat arrays hold the whole ensemble; indices are global (across trees):
//!
//! - `nodes: [Node]` — the internal (split) nodes of every tree. The nodes of
//!   one tree are contiguous, its root first; a tree of `L` leaves spans
//!   `L - 1` nodes.
//! - `leaf_values: [f64]` — the leaf outputs of every tree, the leaves of one
//!   tree contiguous.
//!
//! `model.txt` loading stores each tree's nodes in preorder and its leaves
//! left to right, the order a `.ltw` bit-vector section requires; other
//! orders are valid and evaluate the same.
//! - `roots: [u32]` — one [`ChildRef`]-encoded entry per tree, in summation
//!   order: the tree's root node, or its only leaf for a single-leaf tree.
//!
//! A child reference (`Node::left`, `Node::right`, `roots[i]`) is a `u32`:
//! bit 31 ([`LEAF_BIT`]) clear → index into `nodes`; set → the low 31 bits index
//! `leaf_values`.
//!
//! [`Node`] is `#[repr(C)]`, 24 bytes, no padding, every field a primitive
//! (`f64, u32, u32, u32, u32`, little-endian on every target we build for),
//! so the three arrays can be written and memory-mapped back as raw bytes
//! (`bytemuck::Pod` holds once the crate is a dependency; the size and
//! offsets are pinned by a test). A node is one array element rather than
//! one entry in each of five arrays so that a step of the walk touches one
//! cache line, not five.
//!
//! # Split semantics
//!
//! LightGBM's numerical decision, exactly (`Tree::NumericalDecision` and the
//! dense-row conversion of its C API):
//!
//! 1. the feature value is widened to `f64` (an `f32` row converts exactly);
//!    values with `|x| <= K_ZERO_THRESHOLD` become `0.0`, as LightGBM drops
//!    such entries from the row before prediction;
//! 2. NaN with missing type `None` or `Zero` is treated as `0.0`;
//! 3. missing type `Zero` and `x == 0.0`, or missing type `NaN` and `x` is NaN
//!    → the default direction ([`DEFAULT_LEFT`]);
//! 4. otherwise left iff `x <= threshold` (false for NaN under `NaN` handled
//!    above; `+inf` goes right, `-inf` left).
//!
//! A back-end with other rules maps onto these (XGBoost's `x < t` on `f32`
//! is `x <= next_down(t)`, its missing value is missing type `NaN`).

mod bitvec;
mod walk;

pub use bitvec::{octets_for_file, Bitvec, BitvecError, MappedBitvec, Octet};
pub use walk::Compiled;

/// Bit 31 of a child reference: set for a leaf.
pub const LEAF_BIT: u32 = 1 << 31;

/// `Node::decision` bit: missing values go to the left child.
pub const DEFAULT_LEFT: u32 = 1 << 1;

/// `Node::decision` bits 2–3: how a missing value is recognised.
pub const MISSING_TYPE_MASK: u32 = 0b11 << 2;

/// Missing type `None`: no value is missing; NaN is read as `0.0`.
pub const MISSING_NONE: u32 = 0;

/// Missing type `Zero`: `0.0` (and NaN, read as `0.0`) is missing.
pub const MISSING_ZERO: u32 = 1 << 2;

/// Missing type `NaN`: NaN is missing.
pub const MISSING_NAN: u32 = 2 << 2;

/// Every bit a valid `Node::decision` may have set. The numbering is
/// LightGBM's `decision_type` byte; its categorical bit (bit 0) is not
/// representable here.
pub const DECISION_BITS: u32 = DEFAULT_LEFT | MISSING_TYPE_MASK;

/// LightGBM's `kZeroThreshold` (`1e-35f`, a float widened to double): values
/// at most this far from zero are zero.
pub const K_ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Largest number of nodes, or of leaves, an ensemble may hold (31 bits).
pub const MAX_INDEX: usize = (LEAF_BIT - 1) as usize;

/// One child reference (see the module doc), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRef {
    /// Index into the ensemble's `nodes`.
    Node(u32),
    /// Index into the ensemble's `leaf_values`.
    Leaf(u32),
}

impl ChildRef {
    /// Decodes a stored reference.
    pub const fn decode(raw: u32) -> Self {
        if raw & LEAF_BIT == 0 {
            ChildRef::Node(raw)
        } else {
            ChildRef::Leaf(raw & !LEAF_BIT)
        }
    }

    /// Encodes for storage; `None` when the index does not fit in 31 bits.
    pub const fn encode(self) -> Option<u32> {
        match self {
            ChildRef::Node(i) if i < LEAF_BIT => Some(i),
            ChildRef::Leaf(i) if i < LEAF_BIT => Some(i | LEAF_BIT),
            _ => None,
        }
    }
}

impl std::fmt::Display for ChildRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildRef::Node(i) => write!(f, "node {i}"),
            ChildRef::Leaf(i) => write!(f, "leaf {i}"),
        }
    }
}

/// One internal node: a numerical split.
///
/// `Pod`/`Zeroable` are derived (the derive proves at compile time that the
/// `#[repr(C)]` layout has no padding), so `.ltw` files map onto `[Node]`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Node {
    /// Left iff `x <= threshold` (after the missing-value rules).
    pub threshold: f64,
    /// Index of the split feature in the input row.
    pub feature: u32,
    /// [`DEFAULT_LEFT`] | one of [`MISSING_NONE`], [`MISSING_ZERO`],
    /// [`MISSING_NAN`] (LightGBM's `decision_type` bits).
    pub decision: u32,
    /// Child reference taken when the decision is "left".
    pub left: u32,
    /// Child reference taken otherwise.
    pub right: u32,
}

impl Node {
    /// The child the walk takes for feature value `x` (already widened),
    /// after the missing-value rules of the module doc. Branch-free: the
    /// rules combine as bits and the child is picked by index, so a walk
    /// costs no mispredicted branches however random the rows are.
    #[inline(always)]
    fn next(&self, x: f64) -> u32 {
        let nan = x.is_nan();
        // NaN reads as 0.0 except under missing type NaN, where it is
        // missing; |x| <= kZeroThreshold is zero (LightGBM drops it).
        let zeroed = nan | (x.abs() <= K_ZERO_THRESHOLD);
        let x = f64::from_bits(x.to_bits() & (u64::from(!zeroed)).wrapping_neg());
        let missing = self.decision & MISSING_TYPE_MASK;
        let default = ((missing == MISSING_ZERO) & (x == 0.0)) | ((missing == MISSING_NAN) & nan);
        let default_left = self.decision & DEFAULT_LEFT != 0;
        let left = (default & default_left) | (!default & (x <= self.threshold));
        [self.right, self.left][usize::from(left)]
    }
}

/// Why arrays do not form a valid ensemble. Indices are global.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TreeError {
    /// No trees at all.
    #[error("the ensemble has no trees")]
    Empty,
    /// More nodes or leaves than 31-bit references can address.
    #[error("{what} count {count} exceeds the limit {MAX_INDEX}")]
    TooLarge { what: &'static str, count: usize },
    /// A split reads a feature past the row.
    #[error("node {node} splits on feature {feature}, but rows have {n_features} features")]
    FeatureOutOfRange {
        node: usize,
        feature: u32,
        n_features: usize,
    },
    /// Unknown bits in a decision word (e.g. LightGBM's categorical bit).
    #[error("node {node} has decision bits {decision:#x}; only {DECISION_BITS:#x} are allowed")]
    BadDecision { node: usize, decision: u32 },
    /// A NaN threshold.
    #[error("node {node} has a NaN threshold")]
    NanThreshold { node: usize },
    /// A leaf output that is NaN or infinite.
    #[error("leaf {leaf} has the non-finite value {value}")]
    NonFiniteLeaf { leaf: usize, value: f64 },
    /// A reference past the end of `nodes` or `leaf_values`.
    #[error("{from} points to {to}, past the end")]
    DanglingRef { from: RefSite, to: ChildRef },
    /// A node or leaf reached twice (shared subtree or cycle).
    #[error("{to} is reached a second time, from {from}")]
    Revisited { from: RefSite, to: ChildRef },
    /// A node or leaf that no root reaches.
    #[error("{what} {index} is not reachable from any root")]
    Unreachable { what: &'static str, index: usize },
}

/// Where a child reference is stored, for [`TreeError`] messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefSite {
    /// `roots[tree]`.
    Root { tree: usize },
    /// `nodes[node].left` (`left == true`) or `.right`.
    Child { node: usize, left: bool },
}

impl std::fmt::Display for RefSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            RefSite::Root { tree } => write!(f, "the root of tree {tree}"),
            RefSite::Child { node, left: true } => write!(f, "node {node} (left)"),
            RefSite::Child { node, left: false } => write!(f, "node {node} (right)"),
        }
    }
}

/// A validated ensemble over borrowed arrays (owned arrays, or a memory map).
///
/// Construction checks that every reference is in range, that the arrays form
/// a forest of proper binary trees (every node and leaf reached exactly once
/// from the roots, so every walk ends), that every split feature fits the row
/// and that every leaf is finite; evaluation relies on it to terminate.
#[derive(Debug, Clone, Copy)]
pub struct TreeView<'a> {
    n_features: usize,
    /// Some split has missing type `Zero` (see [`TreeView::sum_f32`]).
    zero_missing: bool,
    nodes: &'a [Node],
    leaf_values: &'a [f64],
    roots: &'a [u32],
}

impl<'a> TreeView<'a> {
    /// Validates the arrays (see the type doc). Cold: allocates two bitmaps.
    pub fn new(
        n_features: usize,
        nodes: &'a [Node],
        leaf_values: &'a [f64],
        roots: &'a [u32],
    ) -> Result<Self, TreeError> {
        validate(n_features, nodes, leaf_values, roots)?;
        Ok(TreeView {
            n_features,
            zero_missing: zero_missing(nodes),
            nodes,
            leaf_values,
            roots,
        })
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// All internal nodes (see the module doc for the layout).
    pub fn nodes(&self) -> &'a [Node] {
        self.nodes
    }

    /// All leaf outputs.
    pub fn leaf_values(&self) -> &'a [f64] {
        self.leaf_values
    }

    /// One encoded reference per tree.
    pub fn roots(&self) -> &'a [u32] {
        self.roots
    }

    /// Sum of the trees' outputs for an `f32` row, in tree order starting
    /// from `0.0` (LightGBM's order, so the sum is bit-identical). `None`
    /// when the row length is not [`Self::n_features`].
    #[inline]
    pub fn sum_f32(&self, row: &[f32]) -> Option<f64> {
        self.sum(row)
    }

    /// As [`Self::sum_f32`] for an `f64` row.
    #[inline]
    pub fn sum_f64(&self, row: &[f64]) -> Option<f64> {
        self.sum(row)
    }

    #[inline]
    fn sum<T: Copy + Into<f64>>(&self, row: &[T]) -> Option<f64> {
        if row.len() != self.n_features {
            return None;
        }
        // The common case: no NaN in the row (the predict stage never
        // passes one) and no split treating zero as missing. Then every
        // rule of the module doc reduces to `x <= threshold` on the row with
        // |x| <= kZeroThreshold read as zero, prepared once per row.
        if !self.zero_missing && row.len() <= FAST_ROW {
            let mut xs = [0.0f64; FAST_ROW];
            let mut nan = false;
            for (d, &v) in xs.iter_mut().zip(row) {
                let x: f64 = v.into();
                nan |= x.is_nan();
                *d = if x.abs() <= K_ZERO_THRESHOLD { 0.0 } else { x };
            }
            if !nan {
                return self.walk_prepared(&xs);
            }
        }
        self.walk_all(|node| {
            let x: f64 = (*row.get(node.feature as usize)?).into();
            Some(node.next(x))
        })
    }

    /// [`Self::walk_all`] for a prepared row (no NaN, tiny values zeroed,
    /// no zero-as-missing split), with every choice a conditional move: a
    /// lane at a leaf keeps it and reads node 0 (which exists while any
    /// lane is at a node).
    #[inline(always)]
    fn walk_prepared(&self, xs: &[f64; FAST_ROW]) -> Option<f64> {
        let mut sum = 0.0;
        for group in self.roots.chunks(LANES) {
            let (mut at, mut all) = lanes(group);
            while all == 0 {
                all = LEAF_BIT;
                for a in at.iter_mut() {
                    let leaf = *a & LEAF_BIT != 0;
                    let node = self
                        .nodes
                        .get((*a & !LEAF_BIT) as usize * usize::from(!leaf))?;
                    // Validation keeps every feature below the row length,
                    // at most `FAST_ROW`: the mask changes nothing.
                    let x = xs[node.feature as usize & (FAST_ROW - 1)];
                    let next =
                        std::hint::select_unpredictable(x <= node.threshold, node.left, node.right);
                    *a = std::hint::select_unpredictable(leaf, *a, next);
                    all &= *a;
                }
            }
            for &leaf in at.iter().take(group.len()) {
                sum += *self.leaf_values.get((leaf & !LEAF_BIT) as usize)?;
            }
        }
        Some(sum)
    }

    /// Walk every tree to its leaf, [`LANES`] trees side by side, `child`
    /// giving the reference a node leads to; sum the leaves in tree order
    /// from 0.0 (LightGBM's order, so the sum is bit-identical).
    #[inline(always)]
    fn walk_all(&self, child: impl Fn(&Node) -> Option<u32>) -> Option<f64> {
        let mut sum = 0.0;
        for group in self.roots.chunks(LANES) {
            // Terminates: validation proved every walk from a root reaches
            // a leaf within `nodes.len()` steps. The `?`s cannot fire after
            // it. A finished walk keeps its leaf and reads node 0 (which
            // exists while any walk is unfinished); lanes past the group
            // start on leaf 0 and are not summed.
            let (mut at, mut all) = lanes(group);
            while all == 0 {
                all = LEAF_BIT;
                for a in at.iter_mut() {
                    let done = *a & LEAF_BIT != 0;
                    let node = self.nodes.get((*a * u32::from(!done)) as usize)?;
                    *a = [child(node)?, *a][usize::from(done)];
                    all &= *a;
                }
            }
            for &leaf in at.iter().take(group.len()) {
                sum += *self.leaf_values.get((leaf & !LEAF_BIT) as usize)?;
            }
        }
        Some(sum)
    }
}

/// The lanes of one group of roots (padded with leaf 0) and whether every
/// one is already a leaf (bit [`LEAF_BIT`] set in the AND of all).
#[inline(always)]
fn lanes(group: &[u32]) -> ([u32; LANES], u32) {
    let mut at = [LEAF_BIT; LANES];
    let mut all = LEAF_BIT;
    for (a, &root) in at.iter_mut().zip(group) {
        *a = root;
        all &= root;
    }
    (at, all)
}

/// Trees walked side by side by [`TreeView::sum_f32`]: their loads overlap
/// instead of waiting on each other.
const LANES: usize = 8;

/// Longest row the fast path of [`TreeView::sum_f32`] prepares on the stack.
const FAST_ROW: usize = 64;

/// Whether some split treats zero as missing.
fn zero_missing(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .any(|n| n.decision & MISSING_TYPE_MASK == MISSING_ZERO)
}

/// A validated ensemble that owns its arrays, and the faster evaluators
/// built from them (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEnsemble {
    n_features: usize,
    zero_missing: bool,
    nodes: Vec<Node>,
    leaf_values: Vec<f64>,
    roots: Vec<u32>,
    /// `None` with a zero-as-missing split or rows of 255 features or more.
    compiled: Option<Compiled>,
    /// `None` with a zero-as-missing split, without AVX2, with rows of
    /// more than 32 features or a tree of more than 32 leaves.
    bitvec: Option<Bitvec>,
}

impl TreeEnsemble {
    /// Validates and takes the arrays (see [`TreeView`] for the checks),
    /// and builds the faster evaluators. Cold.
    pub fn new(
        n_features: usize,
        nodes: Vec<Node>,
        leaf_values: Vec<f64>,
        roots: Vec<u32>,
    ) -> Result<Self, TreeError> {
        validate(n_features, &nodes, &leaf_values, &roots)?;
        let zero_missing = zero_missing(&nodes);
        let (compiled, bitvec) = if zero_missing {
            (None, None)
        } else {
            (
                Compiled::new(n_features, &nodes, &leaf_values, &roots),
                Bitvec::new(n_features, &nodes, &leaf_values, &roots),
            )
        };
        Ok(TreeEnsemble {
            n_features,
            zero_missing,
            nodes,
            leaf_values,
            roots,
            compiled,
            bitvec,
        })
    }

    /// A borrowed view for evaluation (no re-validation).
    #[inline]
    pub fn view(&self) -> TreeView<'_> {
        TreeView {
            n_features: self.n_features,
            zero_missing: self.zero_missing,
            nodes: &self.nodes,
            leaf_values: &self.leaf_values,
            roots: &self.roots,
        }
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// All internal nodes (see the module doc for the layout).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All leaf outputs.
    pub fn leaf_values(&self) -> &[f64] {
        &self.leaf_values
    }

    /// One encoded reference per tree.
    pub fn roots(&self) -> &[u32] {
        &self.roots
    }

    /// The compiled walk, when the ensemble has one (benches and tests
    /// compare the evaluators through it).
    pub fn compiled(&self) -> Option<&Compiled> {
        self.compiled.as_ref()
    }

    /// The bit-vector evaluator, when this CPU and the ensemble allow it.
    pub fn bitvec(&self) -> Option<&Bitvec> {
        self.bitvec.as_ref()
    }

    /// See [`TreeView::sum_f32`]: the same sum, bit for bit, through the
    /// fastest evaluator that serves the row (see the module doc).
    #[inline]
    pub fn sum_f32(&self, row: &[f32]) -> Option<f64> {
        if let Some(sum) = self.bitvec.as_ref().and_then(|b| b.sum(row)) {
            return Some(sum);
        }
        if let Some(sum) = self.compiled.as_ref().and_then(|c| c.sum(row)) {
            return Some(sum);
        }
        self.view().sum_f32(row)
    }

    /// See [`TreeView::sum_f64`] and [`TreeEnsemble::sum_f32`] (the
    /// bit-vector evaluator takes `f32` rows only).
    #[inline]
    pub fn sum_f64(&self, row: &[f64]) -> Option<f64> {
        if let Some(sum) = self.compiled.as_ref().and_then(|c| c.sum(row)) {
            return Some(sum);
        }
        self.view().sum_f64(row)
    }
}

fn validate(
    n_features: usize,
    nodes: &[Node],
    leaf_values: &[f64],
    roots: &[u32],
) -> Result<(), TreeError> {
    if roots.is_empty() {
        return Err(TreeError::Empty);
    }
    for (what, count) in [("node", nodes.len()), ("leaf", leaf_values.len())] {
        if count > MAX_INDEX {
            return Err(TreeError::TooLarge { what, count });
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if node.feature as usize >= n_features {
            return Err(TreeError::FeatureOutOfRange {
                node: i,
                feature: node.feature,
                n_features,
            });
        }
        if node.decision & !DECISION_BITS != 0 || node.decision & MISSING_TYPE_MASK > MISSING_NAN {
            return Err(TreeError::BadDecision {
                node: i,
                decision: node.decision,
            });
        }
        if node.threshold.is_nan() {
            return Err(TreeError::NanThreshold { node: i });
        }
    }
    if let Some((leaf, &value)) = leaf_values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TreeError::NonFiniteLeaf { leaf, value });
    }

    // Walk every tree once with an explicit stack, marking what is reached.
    let mut node_seen = vec![false; nodes.len()];
    let mut leaf_seen = vec![false; leaf_values.len()];
    let mut stack: Vec<(RefSite, u32)> = Vec::new();
    for (tree, &root) in roots.iter().enumerate() {
        stack.push((RefSite::Root { tree }, root));
        while let Some((from, raw)) = stack.pop() {
            let to = ChildRef::decode(raw);
            let seen = match to {
                ChildRef::Node(i) => node_seen.get_mut(i as usize),
                ChildRef::Leaf(i) => leaf_seen.get_mut(i as usize),
            };
            let Some(seen) = seen else {
                return Err(TreeError::DanglingRef { from, to });
            };
            if *seen {
                return Err(TreeError::Revisited { from, to });
            }
            *seen = true;
            if let ChildRef::Node(i) = to {
                let node = i as usize;
                if let Some(n) = nodes.get(node) {
                    stack.push((RefSite::Child { node, left: false }, n.right));
                    stack.push((RefSite::Child { node, left: true }, n.left));
                }
            }
        }
    }
    if let Some(index) = node_seen.iter().position(|s| !s) {
        return Err(TreeError::Unreachable {
            what: "node",
            index,
        });
    }
    if let Some(index) = leaf_seen.iter().position(|s| !s) {
        return Err(TreeError::Unreachable {
            what: "leaf",
            index,
        });
    }
    Ok(())
}

/// Random forests and rows for the tests of every evaluator.
#[cfg(test)]
mod testgen {
    use super::*;
    use crate::testkit::SplitMix;

    /// A random forest in the canonical arrays, grown leaf-wise as LightGBM
    /// grows its trees (any leaf may split next, so shapes vary), nodes
    /// stored in a scrambled order. Thresholds come from `cuts`, so rows
    /// can hit them exactly.
    pub(super) struct Forest {
        /// Leaves of the largest tree.
        pub widest: usize,
        pub nodes: Vec<Node>,
        pub leaves: Vec<f64>,
        pub roots: Vec<u32>,
    }

    /// Where a reference of a tree under construction lives.
    #[derive(Clone, Copy)]
    enum Slot {
        Root,
        Child(usize, bool),
    }

    /// A child under construction: a local node or a leaf number.
    #[derive(Clone, Copy)]
    enum Local {
        Node(usize),
        Leaf(u32),
    }

    fn pick(rng: &mut SplitMix, n: usize) -> usize {
        ((rng.unit() + 1.0) * 0.5 * n as f64) as usize % n.max(1)
    }

    pub(super) fn forest(
        rng: &mut SplitMix,
        n_features: usize,
        trees: usize,
        max_leaves: usize,
        cuts: &[f64],
        missing: u32,
    ) -> Forest {
        let mut f = Forest {
            widest: 0,
            nodes: Vec::new(),
            leaves: Vec::new(),
            roots: Vec::new(),
        };
        for _ in 0..trees {
            let target = 1 + pick(rng, max_leaves);
            // (split, left, right) per local node; the root's child.
            let mut local: Vec<(Node, Local, Local)> = Vec::new();
            let mut root = Local::Leaf(0);
            let mut slots = vec![Slot::Root];
            while slots.len() < target {
                let slot = slots.swap_remove(pick(rng, slots.len()));
                let n = local.len();
                let decision = missing | if rng.unit() < 0.0 { DEFAULT_LEFT } else { 0 };
                let split = node(
                    pick(rng, n_features) as u32,
                    cuts[pick(rng, cuts.len())],
                    decision,
                    0,
                    0,
                );
                local.push((split, Local::Leaf(0), Local::Leaf(0)));
                match slot {
                    Slot::Root => root = Local::Node(n),
                    Slot::Child(p, true) => local[p].1 = Local::Node(n),
                    Slot::Child(p, false) => local[p].2 = Local::Node(n),
                }
                slots.push(Slot::Child(n, true));
                slots.push(Slot::Child(n, false));
            }
            // Leaves numbered in a random order.
            for i in (1..slots.len()).rev() {
                slots.swap(i, pick(rng, i + 1));
            }
            for (l, slot) in slots.iter().enumerate() {
                let leaf = Local::Leaf(l as u32);
                match *slot {
                    Slot::Root => root = leaf,
                    Slot::Child(p, true) => local[p].1 = leaf,
                    Slot::Child(p, false) => local[p].2 = leaf,
                }
            }
            // Nodes stored in a random order.
            let mut position: Vec<usize> = (0..local.len()).collect();
            for i in (1..position.len()).rev() {
                position.swap(i, pick(rng, i + 1));
            }
            let (node_base, leaf_base) = (f.nodes.len(), f.leaves.len() as u32);
            let encode = |c: Local| match c {
                Local::Node(n) => (node_base + position[n]) as u32,
                Local::Leaf(l) => leaf(leaf_base + l),
            };
            f.nodes
                .resize(node_base + local.len(), node(0, 0.0, 0, 0, 0));
            for (n, &(split, l, r)) in local.iter().enumerate() {
                f.nodes[node_base + position[n]] = Node {
                    left: encode(l),
                    right: encode(r),
                    ..split
                };
            }
            for _ in 0..slots.len() {
                f.leaves
                    .push((rng.unit() * 8.0).round() / 8.0 + rng.unit() * 1e-3);
            }
            f.roots.push(encode(root));
            f.widest = f.widest.max(slots.len());
        }
        f
    }

    /// The definition: each tree walked with [`Node::next`], summed in
    /// order from 0.0.
    pub(super) fn reference(f: &Forest, row: &[f64]) -> f64 {
        let mut sum = 0.0;
        for &root in &f.roots {
            let mut at = root;
            while let ChildRef::Node(i) = ChildRef::decode(at) {
                let n = f.nodes[i as usize];
                at = n.next(row[n.feature as usize]);
            }
            sum += f.leaves[(at & !LEAF_BIT) as usize];
        }
        sum
    }

    /// Row values that sit on, just beside, or far from the cuts, and the
    /// special values of the module doc.
    pub(super) fn row(rng: &mut SplitMix, n: usize, cuts: &[f64], nan: bool) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let c = cuts[pick(rng, cuts.len())] as f32;
                match ((rng.unit() + 1.0) * 6.0) as u32 {
                    0 => c,
                    1 => c.next_up(),
                    2 => c.next_down(),
                    3 => [
                        0.0,
                        -0.0,
                        1e-36,
                        -1e-36,
                        2e-35,
                        f32::INFINITY,
                        f32::NEG_INFINITY,
                    ][i % 7],
                    4 if nan && i % 3 == 0 => f32::NAN,
                    _ => (rng.unit() * 3.0) as f32,
                }
            })
            .collect()
    }

    fn leaf(i: u32) -> u32 {
        i | LEAF_BIT
    }

    fn node(feature: u32, threshold: f64, decision: u32, left: u32, right: u32) -> Node {
        Node {
            threshold,
            feature,
            decision,
            left,
            right,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::testgen::{forest, reference, row};
    use super::*;
    use crate::testkit::SplitMix;

    fn leaf(i: u32) -> u32 {
        i | LEAF_BIT
    }

    fn node(feature: u32, threshold: f64, decision: u32, left: u32, right: u32) -> Node {
        Node {
            threshold,
            feature,
            decision,
            left,
            right,
        }
    }

    /// Tree 0: one split on feature 0 at `threshold`; tree 1: a single leaf.
    fn stump(threshold: f64, decision: u32) -> TreeEnsemble {
        TreeEnsemble::new(
            2,
            vec![node(0, threshold, decision, leaf(0), leaf(1))],
            vec![-1.0, 1.0, 100.0],
            vec![0, leaf(2)],
        )
        .unwrap()
    }

    #[test]
    fn node_layout_is_pinned() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
        assert_eq!(std::mem::align_of::<Node>(), 8);
        assert_eq!(std::mem::offset_of!(Node, threshold), 0);
        assert_eq!(std::mem::offset_of!(Node, feature), 8);
        assert_eq!(std::mem::offset_of!(Node, decision), 12);
        assert_eq!(std::mem::offset_of!(Node, left), 16);
        assert_eq!(std::mem::offset_of!(Node, right), 20);
    }

    #[test]
    fn child_ref_round_trips() {
        for r in [
            ChildRef::Node(0),
            ChildRef::Leaf(0),
            ChildRef::Leaf(7),
            ChildRef::Node(9),
        ] {
            assert_eq!(ChildRef::decode(r.encode().unwrap()), r);
        }
        assert_eq!(ChildRef::Leaf(LEAF_BIT).encode(), None);
    }

    #[test]
    fn threshold_is_inclusive_and_compared_in_f64() {
        let t = 0.1_f64; // not representable in f32
        let e = stump(t, MISSING_NONE);
        let below = 0.1_f32; // 0.100000001490116 > 0.1 in f64
        assert!(f64::from(below) > t);
        assert_eq!(e.sum_f32(&[below, 0.0]), Some(1.0 + 100.0));
        let down = f32::from_bits(below.to_bits() - 1);
        assert_eq!(e.sum_f32(&[down, 0.0]), Some(-1.0 + 100.0));
        let exact = stump(0.5, MISSING_NONE);
        assert_eq!(exact.sum_f32(&[0.5, 0.0]), Some(99.0));
        assert_eq!(exact.sum_f64(&[0.5, 0.0]), Some(99.0));
        assert_eq!(exact.sum_f32(&[f32::INFINITY, 0.0]), Some(101.0));
        assert_eq!(exact.sum_f32(&[f32::NEG_INFINITY, 0.0]), Some(99.0));
    }

    #[test]
    fn missing_none_reads_nan_as_zero() {
        // 0.0 <= -0.5 is false → right; 0.0 <= 0.5 → left; default-left ignored.
        assert_eq!(
            stump(-0.5, DEFAULT_LEFT).sum_f32(&[f32::NAN, 0.0]),
            Some(101.0)
        );
        assert_eq!(
            stump(0.5, MISSING_NONE).sum_f32(&[f32::NAN, 0.0]),
            Some(99.0)
        );
    }

    #[test]
    fn missing_nan_takes_the_default_direction() {
        let left = stump(-0.5, MISSING_NAN | DEFAULT_LEFT);
        let right = stump(0.5, MISSING_NAN);
        assert_eq!(left.sum_f32(&[f32::NAN, 0.0]), Some(99.0));
        assert_eq!(right.sum_f32(&[f32::NAN, 0.0]), Some(101.0));
        // zero is an ordinary value under MISSING_NAN
        assert_eq!(left.sum_f32(&[0.0, 0.0]), Some(101.0));
        assert_eq!(right.sum_f32(&[0.0, 0.0]), Some(99.0));
    }

    #[test]
    fn missing_zero_sends_zero_tiny_and_nan_to_the_default() {
        let e = stump(-0.5, MISSING_ZERO | DEFAULT_LEFT);
        for x in [0.0, -0.0, 1e-36, -1e-36, f32::from_bits(1), f32::NAN] {
            assert_eq!(e.sum_f32(&[x, 0.0]), Some(99.0), "x = {x:e}");
        }
        assert_eq!(e.sum_f32(&[1e-30, 0.0]), Some(101.0));
        let r = stump(0.5, MISSING_ZERO);
        assert_eq!(r.sum_f32(&[0.0, 0.0]), Some(101.0));
        assert_eq!(r.sum_f32(&[0.25, 0.0]), Some(99.0));
    }

    #[test]
    fn tiny_values_are_zero_under_every_missing_type() {
        // threshold between 0 and a subnormal: LightGBM compares 0.0, not x
        let e = stump(1e-40, MISSING_NONE);
        assert_eq!(e.sum_f64(&[5e-36, 0.0]), Some(99.0));
        assert_eq!(e.sum_f64(&[2e-35, 0.0]), Some(101.0));
    }

    #[test]
    fn wrong_row_length_is_none() {
        let e = stump(0.0, MISSING_NONE);
        assert_eq!(e.sum_f32(&[1.0]), None);
        assert_eq!(e.sum_f32(&[]), None);
        assert_eq!(e.sum_f64(&[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn deeper_tree_walks_to_the_right_leaf() {
        // n0: f0 <= 0 ? n1 : leaf 2 ; n1: f1 <= 0 ? leaf 0 : leaf 1
        let e = TreeEnsemble::new(
            2,
            vec![
                node(0, 0.0, 0, 1, leaf(2)),
                node(1, 0.0, 0, leaf(0), leaf(1)),
            ],
            vec![10.0, 20.0, 30.0],
            vec![0],
        )
        .unwrap();
        assert_eq!(e.sum_f32(&[-1.0, -1.0]), Some(10.0));
        assert_eq!(e.sum_f32(&[-1.0, 1.0]), Some(20.0));
        assert_eq!(e.sum_f32(&[1.0, -1.0]), Some(30.0));
        assert_eq!(e.n_trees(), 1);
        assert_eq!(e.view().nodes().len(), 2);
    }

    /// Nodes, leaf values, roots, and what is wrong with them.
    type Case = (Vec<Node>, Vec<f64>, Vec<u32>, &'static str);

    #[test]
    fn rejects_malformed_arrays() {
        let ok = node(0, 0.0, 0, leaf(0), leaf(1));
        let two = vec![0.0, 1.0];
        let cases: Vec<Case> = vec![
            (vec![ok], two.clone(), vec![], "no trees"),
            (
                vec![node(2, 0.0, 0, leaf(0), leaf(1))],
                two.clone(),
                vec![0],
                "feature",
            ),
            (
                vec![node(0, 0.0, 1, leaf(0), leaf(1))],
                two.clone(),
                vec![0],
                "categorical bit",
            ),
            (
                vec![node(0, 0.0, 3 << 2, leaf(0), leaf(1))],
                two.clone(),
                vec![0],
                "missing 3",
            ),
            (
                vec![node(0, f64::NAN, 0, leaf(0), leaf(1))],
                two.clone(),
                vec![0],
                "NaN threshold",
            ),
            (vec![ok], vec![0.0, f64::INFINITY], vec![0], "inf leaf"),
            (
                vec![node(0, 0.0, 0, leaf(0), leaf(2))],
                two.clone(),
                vec![0],
                "leaf past end",
            ),
            (
                vec![node(0, 0.0, 0, 1, leaf(1))],
                two.clone(),
                vec![0],
                "node past end",
            ),
            (
                vec![node(0, 0.0, 0, 0, leaf(1))],
                two.clone(),
                vec![0],
                "cycle",
            ),
            (
                vec![node(0, 0.0, 0, leaf(0), leaf(0))],
                two.clone(),
                vec![0],
                "shared leaf",
            ),
            (vec![ok], vec![0.0, 1.0, 2.0], vec![0], "orphan leaf"),
            (vec![ok, ok], two.clone(), vec![0], "orphan node"),
            (vec![ok], two.clone(), vec![0, 0], "shared root"),
        ];
        for (nodes, leaves, roots, what) in cases {
            assert!(
                TreeEnsemble::new(2, nodes.clone(), leaves.clone(), roots.clone()).is_err(),
                "{what} accepted"
            );
            assert!(
                TreeView::new(2, &nodes, &leaves, &roots).is_err(),
                "{what} accepted"
            );
        }
    }

    fn same(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| a.to_bits() == b.to_bits())
    }

    #[test]
    fn every_evaluator_gives_the_definitions_sum_bit_for_bit() {
        let cuts = [
            -1.5,
            -0.5,
            -0.1,
            0.0,
            -0.0,
            1e-40,
            0.1,
            0.3,
            1.0 / 3.0,
            0.5,
            1.642_799_794_673_92,
            2.0,
            1e300,
            -1e300,
        ];
        let mut rng = SplitMix::new(7);
        let mut checked = [0usize; 3];
        // (features, trees, most leaves per tree)
        for (n_features, trees, max_leaves) in [
            (1, 3, 4),
            (5, 9, 8),
            (8, 64, 8),
            (9, 65, 31),
            (16, 40, 8),
            (17, 8, 32),
            (32, 20, 31),
            (32, 10, 33),
            (33, 12, 16),
            (64, 7, 64),
            (65, 130, 5),
            (300, 5, 12),
        ] {
            for missing in [MISSING_NONE, MISSING_NAN, MISSING_ZERO] {
                let f = forest(&mut rng, n_features, trees, max_leaves, &cuts, missing);
                let e = TreeEnsemble::new(
                    n_features,
                    f.nodes.clone(),
                    f.leaves.clone(),
                    f.roots.clone(),
                )
                .unwrap_or_else(|err| panic!("{n_features}/{trees}/{max_leaves}: {err}"));
                assert_eq!(
                    e.compiled().is_some(),
                    missing != MISSING_ZERO && n_features < 255
                );
                if std::arch::is_x86_feature_detected!("avx2") {
                    let fits = missing != MISSING_ZERO && n_features <= 32 && f.widest <= 32;
                    assert_eq!(e.bitvec().is_some(), fits, "{n_features}/{max_leaves}");
                }
                for r in 0..40 {
                    let x = row(&mut rng, n_features, &cuts, r % 4 == 3);
                    let wide: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                    let want = reference(&f, &wide);
                    let what = || format!("{n_features}/{trees}/{max_leaves}/{missing} row {x:?}");
                    assert!(same(e.sum_f32(&x), want), "{}", what());
                    assert!(same(e.sum_f64(&wide), want), "{}", what());
                    assert!(same(e.view().sum_f32(&x), want), "{}", what());
                    if let Some(c) = e.compiled() {
                        match c.sum(&x) {
                            Some(s) => {
                                assert_eq!(s.to_bits(), want.to_bits(), "{}", what());
                                checked[0] += 1;
                            }
                            None => assert!(x.iter().any(|v| v.is_nan())),
                        }
                    }
                    if let Some(b) = e.bitvec() {
                        match b.sum(&x) {
                            Some(s) => {
                                assert_eq!(s.to_bits(), want.to_bits(), "{}", what());
                                checked[1] += 1;
                            }
                            None => assert!(x.iter().any(|v| v.is_nan())),
                        }
                    }
                    checked[2] += 1;
                }
            }
        }
        assert!(checked[0] > 500 && checked[2] > 1000, "{checked:?}");
        if std::arch::is_x86_feature_detected!("avx2") {
            assert!(checked[1] > 300, "{checked:?}");
        }
    }

    #[test]
    fn fast_evaluators_refuse_nan_rows_and_wrong_lengths() {
        let e = stump(0.5, MISSING_NONE);
        let c = e.compiled().unwrap();
        assert_eq!(c.sum(&[f32::NAN, 0.0]), None);
        assert_eq!(c.sum(&[0.0f32]), None);
        assert_eq!(c.sum(&[0.25f32, 0.0]), Some(99.0));
        if let Some(b) = e.bitvec() {
            assert_eq!(b.sum(&[f32::NAN, 0.0]), None);
            assert_eq!(b.sum(&[0.0, 0.0, 0.0]), None);
            assert_eq!(b.sum(&[0.75, 0.0]), Some(101.0));
        }
        // The caller still gets LightGBM's answer for the NaN row.
        assert_eq!(e.sum_f32(&[f32::NAN, 0.0]), Some(99.0));
        assert!(stump(0.5, MISSING_ZERO).compiled().is_none());
    }

    #[test]
    fn single_leaf_trees_need_no_nodes() {
        let e = TreeEnsemble::new(1, vec![], vec![0.25, 0.5], vec![leaf(0), leaf(1)]).unwrap();
        assert_eq!(e.sum_f32(&[f32::NAN]), Some(0.75));
    }
}
