//! `model.ltw`, the engine's own weight file: writing it (cold, the
//! `models convert` tool), and opening it by memory map at start-up, then
//! predicting directly on the mapped weight sections on the engine thread.
//!
//! Opening ([`LtwModel::open`]) and writing are cold: they allocate, read
//! and write files, and fail closed with an [`LtwError`] naming the file and
//! the fix. Prediction ([`LtwModel::predict_f32`], [`Predictor::predict`]) is
//! hot path: no allocation, no blocking, no logging, no panic. The weight
//! sections are never copied: the model's slices point into the mapping
//! ([`LtwModel::mapping`] exposes its address range). Tree ensembles are
//! evaluated in place on the bit-vector section where the file has one and
//! the CPU has AVX2, else walked in place by [`TreeView`] (the compiled
//! walk a `model.txt` gets at load would copy the weights).
//!
//! # Format (version 1)
//!
//! All integers and floats are little-endian (the crate builds for
//! little-endian targets only). The file is a 192-byte header followed by up
//! to four sections, each starting at a 64-byte-aligned offset (zero padding
//! between them); the file ends where its last section ends.
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0   | 8  | magic `LTW1\r\n\x1a\n` |
//! | 8   | 4  | version `u32` = 1 |
//! | 12  | 4  | kind `u32`: 1 linear, 2 tree ensemble, 3 MLP |
//! | 16  | 4  | flags `u32`: bit 0 sigmoid output, bit 1 average over trees (kind 2 only), bit 2 bit-vector section (kind 2 only); other bits 0 |
//! | 20  | 4  | n_features `u32` (≥ 1) |
//! | 24  | 8  | sigmoid `f64`: with flag bit 0 the output is `1 / (1 + exp(-sigmoid * raw))`, finite and > 0; else 0 |
//! | 32  | 32 | shape `[u64; 4]`: linear `[0, 0, 0, 0]`; trees `[n_trees, n_nodes, n_leaves, n_octets]` (`n_octets` 0 without flag bit 2); MLP `[n_layers, max_width, n_weights, n_biases]` |
//! | 64  | 96 | section table: 4 × `{ offset u64, len_bytes u64, elem u32, reserved u32 = 0 }`; unused entries all zero |
//! | 160 | 32 | checksum: SHA-256 of bytes `0..160` followed by bytes `192..` (everything but the checksum) |
//!
//! Element types (`elem`): 1 `f64` (8 bytes), 3 `u32` (4), 4 tree node (24:
//! `threshold f64, feature u32, decision u32, left u32, right u32`, see
//! `tree.rs`), 5 MLP layer (16: `n_in u32, n_out u32, activation u32,
//! reserved u32 = 0`), 6 bit-vector octet (96: `index i32[8], threshold
//! f32[8], mask u32[8]`, see `tree/bitvec.rs`). `len_bytes` is a multiple
//! of the element size.
//!
//! Sections by kind (entries not listed are unused):
//!
//! - **1 linear**: 0 weights `f64[n_features]`, 1 bias `f64[1]`. Raw output
//!   `Σ w[i]·x[i] + bias` (summed in feature order from 0, the bias last).
//! - **2 tree ensemble**: 0 nodes `node[n_nodes]`, 1 leaf values
//!   `f64[n_leaves]`, 2 roots `u32[n_trees]` — exactly `tree.rs`'s flat
//!   arrays, validated by [`TreeView::new`] at open; with flag bit 2, 3
//!   octets `octet[n_octets]`: the bit-vector layout of the same trees
//!   (eight consecutive trees per group, one octet per split of the
//!   group's largest tree, thresholds rounded down to `f32`, leaf masks),
//!   which requires each tree's leaf values stored left to right in
//!   section 1, trees one after the other. The writer adds it when the
//!   trees fit (at most 32 features, 32 leaves per tree, no zero-as-missing
//!   split); on a CPU with AVX2 the model evaluates on it in place, else on
//!   sections 0–2. Raw output: the tree sum in root order, divided by
//!   `n_trees` with flag bit 1.
//! - **3 MLP**: 0 layers `layer[n_layers]`, 1 weights `f64[n_weights]` (each
//!   layer's `n_out × n_in` matrix row-major, layers concatenated), 2 biases
//!   `f64[n_biases]` (each layer's `n_out`, concatenated). Layer 0 reads
//!   `n_features` inputs, each layer reads the previous one's outputs, the
//!   last has `n_out = 1`; `max_width` is the largest of `n_features` and
//!   every `n_out`. A unit is `activation(Σ w[j][i]·a[i] + b[j])`; activation
//!   0 identity, 1 ReLU, 2 tanh.
//!
//! Open checks, in order: length ≥ header, magic, version, kind, flags and
//! sigmoid, section table (element type, 64-byte alignment, bounds,
//! `len_bytes` a multiple of the element size, sections in order without
//! overlap, file ends at the last section), checksum, shapes against section
//! lengths, then the kind's content (tree structure and finiteness, then
//! the bit-vector section rebuilt from the trees and compared bit for bit;
//! MLP layer chaining; finite weights).
#![allow(clippy::disallowed_macros)]

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};
use memmap2::Mmap;
use sha2::{Digest, Sha256};

use super::lightgbm::{LightGbmModel, Objective};
use super::tree::{
    octets_for_file, BitvecError, MappedBitvec, Node, Octet, TreeEnsemble, TreeError, TreeView,
};
use super::Predictor;

#[cfg(not(target_endian = "little"))]
compile_error!("the .ltw format is read in place and requires a little-endian target");

/// The file's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"LTW1\r\n\x1a\n";
/// The only format version this engine reads and writes.
pub const VERSION: u32 = 1;
/// Header size in bytes; the first section starts here or later.
pub const HEADER_SIZE: usize = 192;
/// Every section starts at a multiple of this.
pub const ALIGN: usize = 64;
/// Byte offset of the checksum in the header.
pub const CHECKSUM_OFFSET: usize = 160;

/// `kind`: linear model.
pub const KIND_LINEAR: u32 = 1;
/// `kind`: tree ensemble.
pub const KIND_TREES: u32 = 2;
/// `kind`: small dense MLP.
pub const KIND_MLP: u32 = 3;

/// `flags` bit: the output is the sigmoid of the raw score.
pub const FLAG_SIGMOID: u32 = 1;
/// `flags` bit: the tree sum is divided by the tree count (random forest).
pub const FLAG_AVERAGE: u32 = 1 << 1;
/// `flags` bit (kind 2): section 3 holds the bit-vector octets and the
/// leaf values are stored left to right, tree after tree.
pub const FLAG_BITVEC: u32 = 1 << 2;

/// Section element type: `f64`.
pub const ELEM_F64: u32 = 1;
/// Section element type: `u32`.
pub const ELEM_U32: u32 = 3;
/// Section element type: tree [`Node`].
pub const ELEM_NODE: u32 = 4;
/// Section element type: MLP [`LayerDesc`].
pub const ELEM_LAYER: u32 = 5;
/// Section element type: bit-vector [`Octet`] (eight splits, 96 bytes).
pub const ELEM_OCTET: u32 = 6;

/// Number of entries in the section table.
pub const N_SECTIONS: usize = 4;

/// The fix printed for any damaged or inconsistent file.
const FIX_REGENERATE: &str =
    "the file is damaged or was not written by this engine: regenerate it \
     with `live-trading models convert MODEL.txt -o MODEL.ltw` (or the writer that produced it)";

/// One section table entry (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct SectionEntry {
    /// Byte offset from the start of the file (multiple of [`ALIGN`]).
    pub offset: u64,
    /// Length in bytes (a multiple of the element size).
    pub len_bytes: u64,
    /// Element type (`ELEM_*`), 0 for an unused entry.
    pub elem: u32,
    /// Always 0.
    pub reserved: u32,
}

/// The fixed header (192 bytes, see the module doc).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: u32,
    /// `KIND_*`.
    pub kind: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Row length.
    pub n_features: u32,
    /// Sigmoid parameter with [`FLAG_SIGMOID`], else 0.
    pub sigmoid: f64,
    /// Kind-specific shape (see the module doc).
    pub shape: [u64; 4],
    /// Section table.
    pub sections: [SectionEntry; N_SECTIONS],
    /// SHA-256 of the file without these 32 bytes.
    pub checksum: [u8; 32],
}

/// One MLP layer descriptor (16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LayerDesc {
    /// Inputs.
    pub n_in: u32,
    /// Outputs.
    pub n_out: u32,
    /// [`Activation`] code.
    pub activation: u32,
    /// Always 0.
    pub reserved: u32,
}

/// An MLP layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x` (code 0).
    Identity,
    /// `max(x, 0)` (code 1).
    Relu,
    /// `tanh(x)` (code 2).
    Tanh,
}

impl Activation {
    /// The stored code.
    pub const fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
        }
    }

    /// Decodes a stored code.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Activation::Identity),
            1 => Some(Activation::Relu),
            2 => Some(Activation::Tanh),
            _ => None,
        }
    }

    #[inline(always)]
    fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Identity => x,
            // NaN stays NaN (`NaN > 0.0` is false, so test `<=` instead).
            Activation::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::Tanh => x.tanh(),
        }
    }
}

/// One dense layer to write ([`write_mlp`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `n_out × n_in`, row-major (row `j` holds output `j`'s weights).
    pub weights: Vec<f64>,
    /// `n_out` biases.
    pub biases: Vec<f64>,
    /// Activation applied to every output.
    pub activation: Activation,
}

/// Which model a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LtwKind {
    /// Kind 1.
    Linear,
    /// Kind 2.
    Trees,
    /// Kind 3.
    Mlp,
}

impl fmt::Display for LtwKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LtwKind::Linear => "linear",
            LtwKind::Trees => "tree ensemble",
            LtwKind::Mlp => "mlp",
        })
    }
}

/// A `.ltw` file the engine refuses (or cannot write), with the fix.
#[derive(Debug)]
pub struct LtwError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: LtwErrorKind,
}

impl fmt::Display for LtwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; fix: {}",
            self.path.display(),
            self.kind,
            self.kind.fix()
        )
    }
}

impl std::error::Error for LtwError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LtwErrorKind::Io(e) => Some(e),
            LtwErrorKind::Tree(e) => Some(e),
            LtwErrorKind::Bitvec(e) => Some(e),
            _ => None,
        }
    }
}

/// What is wrong with a `.ltw` file.
#[derive(Debug, thiserror::Error)]
pub enum LtwErrorKind {
    /// Reading, mapping or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Shorter than the header.
    #[error("the file is {len} bytes, shorter than the {HEADER_SIZE}-byte header (truncated)")]
    TooShort { len: usize },
    /// Not a `.ltw` file.
    #[error("wrong magic {found:02x?}: not a .ltw weight file")]
    BadMagic { found: [u8; 8] },
    /// Another format version.
    #[error("format version {found} is not supported (this engine reads version {VERSION})")]
    UnsupportedVersion { found: u32 },
    /// Unknown kind.
    #[error("unknown model kind {found} (1 linear, 2 tree ensemble, 3 mlp)")]
    UnknownKind { found: u32 },
    /// Unknown flag bits, a flag the kind does not allow, or a bad sigmoid.
    #[error("invalid flags {flags:#x} / sigmoid {sigmoid} for a {kind} model")]
    BadFlags {
        flags: u32,
        sigmoid: f64,
        kind: LtwKind,
    },
    /// A section entry with the wrong (or a missing) element type.
    #[error("section {section} has element type {found}, expected {expected}")]
    SectionType {
        section: usize,
        found: u32,
        expected: u32,
    },
    /// A section offset that is not a multiple of 64 (or a cast that fails
    /// alignment).
    #[error("section {section} starts at offset {offset}, not {ALIGN}-byte aligned")]
    Misaligned { section: usize, offset: u64 },
    /// A section reaching past the end of the file, overlapping another,
    /// or bytes after the last section.
    #[error("section {section} spans bytes {start}..{end}, outside the file's {len} bytes or overlapping (truncated or damaged)")]
    OutOfBounds {
        section: usize,
        start: u64,
        end: u64,
        len: usize,
    },
    /// A length that is not a whole number of elements.
    #[error(
        "section {section} is {len_bytes} bytes, not a whole number of {elem_size}-byte elements"
    )]
    PartialElement {
        section: usize,
        len_bytes: u64,
        elem_size: usize,
    },
    /// The file ends after its last section.
    #[error("{extra} bytes follow the last section")]
    TrailingBytes { extra: usize },
    /// The stored checksum does not match the contents.
    #[error("checksum mismatch: stored {stored}, computed {computed}")]
    Checksum { stored: String, computed: String },
    /// Header shape fields that disagree with the sections or each other.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A non-finite weight or bias.
    #[error("section {section} element {index} is the non-finite value {value}")]
    NonFinite {
        section: usize,
        index: usize,
        value: f64,
    },
    /// The tree arrays fail validation.
    #[error("invalid tree ensemble: {0}")]
    Tree(#[from] TreeError),
    /// The bit-vector section does not match the trees.
    #[error("invalid bit-vector section: {0}")]
    Bitvec(#[from] BitvecError),
    /// The writer was given data it cannot store.
    #[error("cannot write: {0}")]
    Unwritable(String),
}

impl LtwErrorKind {
    /// How to fix it, for the message.
    pub fn fix(&self) -> &'static str {
        match self {
            LtwErrorKind::Io(_) => {
                "check that the path exists and is readable (or the directory writable)"
            }
            LtwErrorKind::BadMagic { .. } => {
                "point the config at a .ltw file; convert a LightGBM model.txt with \
                 `live-trading models convert model.txt -o model.ltw`"
            }
            LtwErrorKind::UnsupportedVersion { .. } => {
                "re-convert the model with this engine's `live-trading models convert \
                 MODEL.txt -o MODEL.ltw`"
            }
            LtwErrorKind::Unwritable(_) => "pass a model the .ltw format can hold",
            _ => FIX_REGENERATE,
        }
    }
}

/// Computes the checksum of a whole file image (see the module doc).
pub fn checksum(file: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(file.get(..CHECKSUM_OFFSET).unwrap_or(file));
    h.update(file.get(HEADER_SIZE..).unwrap_or(&[]));
    h.finalize().into()
}

/// Recomputes and stores the checksum of a file image (no-op when shorter
/// than the header).
pub fn seal(file: &mut [u8]) {
    let sum = checksum(file);
    if let Some(slot) = file.get_mut(CHECKSUM_OFFSET..HEADER_SIZE) {
        slot.copy_from_slice(&sum);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const fn elem_size(elem: u32) -> usize {
    match elem {
        ELEM_F64 => 8,
        ELEM_U32 => 4,
        ELEM_NODE => 24,
        ELEM_LAYER => 16,
        ELEM_OCTET => std::mem::size_of::<Octet>(),
        _ => 0,
    }
}

/// The validated contents of a file image, borrowing it.
struct Parsed<'a> {
    n_features: usize,
    sigmoid: Option<f64>,
    body: Body<'a>,
}

enum Body<'a> {
    Linear {
        weights: &'a [f64],
        bias: f64,
    },
    Trees {
        view: TreeView<'a>,
        average_over: Option<f64>,
        /// The bit-vector section, in place ([`FLAG_BITVEC`]).
        bitvec: Option<MappedBitvec<'a>>,
    },
    Mlp {
        layers: &'a [LayerDesc],
        weights: &'a [f64],
        biases: &'a [f64],
        max_width: usize,
    },
}

impl Body<'_> {
    fn kind(&self) -> LtwKind {
        match self {
            Body::Linear { .. } => LtwKind::Linear,
            Body::Trees { .. } => LtwKind::Trees,
            Body::Mlp { .. } => LtwKind::Mlp,
        }
    }
}

fn shape(msg: String) -> LtwErrorKind {
    LtwErrorKind::Shape(msg)
}

fn cast<T: Pod>(bytes: &[u8], section: usize, offset: u64) -> Result<&[T], LtwErrorKind> {
    bytemuck::try_cast_slice(bytes).map_err(|_| LtwErrorKind::Misaligned { section, offset })
}

fn finite(values: &[f64], section: usize) -> Result<(), LtwErrorKind> {
    match values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(LtwErrorKind::NonFinite {
            section,
            index,
            value,
        }),
        None => Ok(()),
    }
}

/// Validates a whole file image (see the module doc for the order).
fn parse(file: &[u8]) -> Result<Parsed<'_>, LtwErrorKind> {
    let len = file.len();
    let head = file
        .get(..HEADER_SIZE)
        .ok_or(LtwErrorKind::TooShort { len })?;
    // A copy: the header is small and this avoids an alignment requirement.
    let header: Header = bytemuck::pod_read_unaligned(head);
    if header.magic != MAGIC {
        return Err(LtwErrorKind::BadMagic {
            found: header.magic,
        });
    }
    if header.version != VERSION {
        return Err(LtwErrorKind::UnsupportedVersion {
            found: header.version,
        });
    }
    let bitvec = header.flags & FLAG_BITVEC != 0;
    let (kind, expected_elems): (LtwKind, [u32; N_SECTIONS]) = match header.kind {
        KIND_LINEAR => (LtwKind::Linear, [ELEM_F64, ELEM_F64, 0, 0]),
        KIND_TREES if bitvec => (LtwKind::Trees, [ELEM_NODE, ELEM_F64, ELEM_U32, ELEM_OCTET]),
        KIND_TREES => (LtwKind::Trees, [ELEM_NODE, ELEM_F64, ELEM_U32, 0]),
        KIND_MLP => (LtwKind::Mlp, [ELEM_LAYER, ELEM_F64, ELEM_F64, 0]),
        found => return Err(LtwErrorKind::UnknownKind { found }),
    };
    let allowed = if kind == LtwKind::Trees {
        FLAG_SIGMOID | FLAG_AVERAGE | FLAG_BITVEC
    } else {
        FLAG_SIGMOID
    };
    let sigmoid_ok = if header.flags & FLAG_SIGMOID != 0 {
        header.sigmoid.is_finite() && header.sigmoid > 0.0
    } else {
        header.sigmoid == 0.0
    };
    if header.flags & !allowed != 0 || !sigmoid_ok {
        return Err(LtwErrorKind::BadFlags {
            flags: header.flags,
            sigmoid: header.sigmoid,
            kind,
        });
    }
    let n_features = header.n_features as usize;
    if n_features == 0 {
        return Err(shape("n_features is 0".into()));
    }

    // Section table: types, alignment, bounds, order.
    let mut ranges: [Range<usize>; N_SECTIONS] = Default::default();
    let mut end_of_last = HEADER_SIZE;
    for (section, (entry, &want)) in header.sections.iter().zip(&expected_elems).enumerate() {
        if want == 0 {
            if *entry != SectionEntry::zeroed() {
                return Err(LtwErrorKind::SectionType {
                    section,
                    found: entry.elem,
                    expected: 0,
                });
            }
            continue;
        }
        if entry.elem != want || entry.reserved != 0 {
            return Err(LtwErrorKind::SectionType {
                section,
                found: entry.elem,
                expected: want,
            });
        }
        if entry.offset % ALIGN as u64 != 0 {
            return Err(LtwErrorKind::Misaligned {
                section,
                offset: entry.offset,
            });
        }
        let end = entry.offset.checked_add(entry.len_bytes);
        let range = end
            .and_then(|end| Some(usize::try_from(entry.offset).ok()?..usize::try_from(end).ok()?))
            .filter(|r| r.start >= end_of_last && r.end <= len);
        let Some(range) = range else {
            return Err(LtwErrorKind::OutOfBounds {
                section,
                start: entry.offset,
                end: end.unwrap_or(u64::MAX),
                len,
            });
        };
        let size = elem_size(want);
        if range.len() % size != 0 {
            return Err(LtwErrorKind::PartialElement {
                section,
                len_bytes: entry.len_bytes,
                elem_size: size,
            });
        }
        end_of_last = range.end;
        ranges[section] = range;
    }
    if end_of_last != len {
        return Err(LtwErrorKind::TrailingBytes {
            extra: len - end_of_last,
        });
    }

    let computed = checksum(file);
    if computed != header.checksum {
        return Err(LtwErrorKind::Checksum {
            stored: hex(&header.checksum),
            computed: hex(&computed),
        });
    }

    let bytes = |i: usize| -> &[u8] { file.get(ranges[i].clone()).unwrap_or(&[]) };
    let off = |i: usize| header.sections[i].offset;
    let s = header.shape;
    let sigmoid = (header.flags & FLAG_SIGMOID != 0).then_some(header.sigmoid);
    let body = match kind {
        LtwKind::Linear => {
            let weights: &[f64] = cast(bytes(0), 0, off(0))?;
            let bias: &[f64] = cast(bytes(1), 1, off(1))?;
            if s != [0; 4] {
                return Err(shape(format!(
                    "linear shape must be [0, 0, 0, 0], found {s:?}"
                )));
            }
            if weights.len() != n_features {
                return Err(shape(format!(
                    "{} weights for {n_features} features",
                    weights.len()
                )));
            }
            let &[bias] = bias else {
                return Err(shape(format!("{} biases, expected 1", bias.len())));
            };
            finite(weights, 0)?;
            finite(&[bias], 1)?;
            Body::Linear { weights, bias }
        }
        LtwKind::Trees => {
            let nodes: &[Node] = cast(bytes(0), 0, off(0))?;
            let leaves: &[f64] = cast(bytes(1), 1, off(1))?;
            let roots: &[u32] = cast(bytes(2), 2, off(2))?;
            let octets: &[Octet] = if bitvec {
                cast(bytes(3), 3, off(3))?
            } else {
                &[]
            };
            let found = [
                roots.len() as u64,
                nodes.len() as u64,
                leaves.len() as u64,
                octets.len() as u64,
            ];
            if s != found {
                return Err(shape(format!(
                    "header shape [n_trees, n_nodes, n_leaves, n_octets] = {s:?}, sections hold \
                     {found:?}"
                )));
            }
            let view = TreeView::new(n_features, nodes, leaves, roots)?;
            let average_over = (header.flags & FLAG_AVERAGE != 0).then_some(view.n_trees() as f64);
            let bitvec = if bitvec {
                Some(MappedBitvec::new(n_features, nodes, leaves, roots, octets)?)
            } else {
                None
            };
            Body::Trees {
                view,
                average_over,
                bitvec,
            }
        }
        LtwKind::Mlp => {
            let layers: &[LayerDesc] = cast(bytes(0), 0, off(0))?;
            let weights: &[f64] = cast(bytes(1), 1, off(1))?;
            let biases: &[f64] = cast(bytes(2), 2, off(2))?;
            let max_width = check_layers(n_features, layers)?;
            let n_weights: u64 = layers
                .iter()
                .map(|l| u64::from(l.n_in) * u64::from(l.n_out))
                .sum();
            let n_biases: u64 = layers.iter().map(|l| u64::from(l.n_out)).sum();
            let want = [layers.len() as u64, max_width as u64, n_weights, n_biases];
            if s != want {
                return Err(shape(format!(
                    "header shape [n_layers, max_width, n_weights, n_biases] = {s:?}, \
                     the layers need {want:?}"
                )));
            }
            if weights.len() as u64 != n_weights || biases.len() as u64 != n_biases {
                return Err(shape(format!(
                    "the layers need {n_weights} weights and {n_biases} biases, \
                     sections hold {} and {}",
                    weights.len(),
                    biases.len()
                )));
            }
            finite(weights, 1)?;
            finite(biases, 2)?;
            Body::Mlp {
                layers,
                weights,
                biases,
                max_width,
            }
        }
    };
    Ok(Parsed {
        n_features,
        sigmoid,
        body,
    })
}

/// Checks layer chaining; returns the widest activation vector.
fn check_layers(n_features: usize, layers: &[LayerDesc]) -> Result<usize, LtwErrorKind> {
    let Some(last) = layers.last() else {
        return Err(shape("an mlp needs at least one layer".into()));
    };
    if last.n_out != 1 {
        return Err(shape(format!(
            "the last layer has {} outputs, expected 1",
            last.n_out
        )));
    }
    let mut width = n_features;
    let mut max_width = n_features;
    for (i, l) in layers.iter().enumerate() {
        if l.n_in as usize != width {
            return Err(shape(format!(
                "layer {i} reads {} inputs, but {width} come in",
                l.n_in
            )));
        }
        if l.n_out == 0 || l.reserved != 0 || Activation::from_code(l.activation).is_none() {
            return Err(shape(format!(
                "layer {i}: n_out {} activation {} reserved {} (n_out must be > 0, \
                 activation 0..=2, reserved 0)",
                l.n_out, l.activation, l.reserved
            )));
        }
        width = l.n_out as usize;
        max_width = max_width.max(width);
    }
    Ok(max_width)
}

/// What a tree model's output is ([`write_trees`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeOutput {
    /// Identity or sigmoid transform.
    pub objective: Objective,
    /// Divide the sum by the tree count (random forest).
    pub average: bool,
}

/// Builds a file image from its parts, seals it, and validates it.
fn build(
    kind: u32,
    flags: u32,
    n_features: usize,
    sigmoid: f64,
    shape: [u64; 4],
    sections: &[(u32, &[u8])],
) -> Result<Vec<u8>, LtwErrorKind> {
    let n_features = u32::try_from(n_features)
        .map_err(|_| LtwErrorKind::Unwritable(format!("{n_features} features")))?;
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        kind,
        flags,
        n_features,
        sigmoid,
        shape,
        sections: [SectionEntry::zeroed(); N_SECTIONS],
        checksum: [0; 32],
    };
    let mut body: Vec<u8> = Vec::new();
    let mut at = HEADER_SIZE;
    for (entry, &(elem, data)) in header.sections.iter_mut().zip(sections) {
        let start = at.next_multiple_of(ALIGN);
        body.resize(start - HEADER_SIZE, 0);
        body.extend_from_slice(data);
        *entry = SectionEntry {
            offset: start as u64,
            len_bytes: data.len() as u64,
            elem,
            reserved: 0,
        };
        at = start + data.len();
    }
    let mut file = bytemuck::bytes_of(&header).to_vec();
    file.extend_from_slice(&body);
    seal(&mut file);
    // Validate as the reader will, on a copy as aligned as a mapping (a
    // `Vec<u8>` guarantees no alignment; the octets need 32 bytes).
    let mut aligned = vec![Block([0; ALIGN]); file.len().div_ceil(ALIGN)];
    let copy: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    if let Some(dst) = copy.get_mut(..file.len()) {
        dst.copy_from_slice(&file);
        parse(dst)?;
    }
    Ok(file)
}

/// [`ALIGN`] bytes at an [`ALIGN`]-aligned address.
#[repr(C, align(64))]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Block([u8; ALIGN]);

/// Writes `file` to `path` atomically: a temporary file in the same
/// directory, synced, then renamed over `path`.
fn write_atomic(path: &Path, file: &[u8]) -> Result<(), LtwErrorKind> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(file)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(result?)
}

fn err(path: &Path) -> impl Fn(LtwErrorKind) -> LtwError + '_ {
    move |kind| LtwError {
        path: path.to_path_buf(),
        kind,
    }
}

fn sigmoid_of(objective: Objective) -> (u32, f64) {
    match objective {
        Objective::Regression => (0, 0.0),
        Objective::Binary { sigmoid } => (FLAG_SIGMOID, sigmoid),
    }
}

/// The image of a tree-ensemble file (see [`write_trees`]).
pub fn tree_bytes(ensemble: &TreeEnsemble, output: TreeOutput) -> Result<Vec<u8>, LtwErrorKind> {
    let (mut flags, sigmoid) = sigmoid_of(output.objective);
    if output.average {
        flags |= FLAG_AVERAGE;
    }
    // The bit-vector section, when the ensemble fits it (see `tree.rs`).
    let octets = octets_for_file(
        ensemble.n_features(),
        ensemble.nodes(),
        ensemble.leaf_values(),
        ensemble.roots(),
    );
    let mut sections = vec![
        (ELEM_NODE, bytemuck::cast_slice(ensemble.nodes())),
        (ELEM_F64, bytemuck::cast_slice(ensemble.leaf_values())),
        (ELEM_U32, bytemuck::cast_slice(ensemble.roots())),
    ];
    if let Some(octets) = &octets {
        flags |= FLAG_BITVEC;
        sections.push((ELEM_OCTET, bytemuck::cast_slice(octets)));
    }
    build(
        KIND_TREES,
        flags,
        ensemble.n_features(),
        sigmoid,
        [
            ensemble.n_trees() as u64,
            ensemble.nodes().len() as u64,
            ensemble.leaf_values().len() as u64,
            octets.as_ref().map_or(0, |o| o.len() as u64),
        ],
        &sections,
    )
}

/// Writes a tree ensemble (kind 2). Cold.
pub fn write_trees(
    path: &Path,
    ensemble: &TreeEnsemble,
    output: TreeOutput,
) -> Result<(), LtwError> {
    let file = tree_bytes(ensemble, output).map_err(err(path))?;
    write_atomic(path, &file).map_err(err(path))
}

/// Writes a loaded LightGBM model as a tree ensemble (kind 2), keeping its
/// objective and averaging. Cold.
pub fn write_lightgbm(path: &Path, model: &LightGbmModel) -> Result<(), LtwError> {
    write_trees(
        path,
        model.ensemble(),
        TreeOutput {
            objective: model.objective(),
            average: model.averages_output(),
        },
    )
}

/// The image of a linear-model file (see [`write_linear`]).
pub fn linear_bytes(
    weights: &[f64],
    bias: f64,
    objective: Objective,
) -> Result<Vec<u8>, LtwErrorKind> {
    let (flags, sigmoid) = sigmoid_of(objective);
    build(
        KIND_LINEAR,
        flags,
        weights.len(),
        sigmoid,
        [0; 4],
        &[
            (ELEM_F64, bytemuck::cast_slice(weights)),
            (ELEM_F64, bytemuck::bytes_of(&bias)),
        ],
    )
}

/// Writes a linear model (kind 1): one weight per feature, a bias, and the
/// output transform. Cold.
pub fn write_linear(
    path: &Path,
    weights: &[f64],
    bias: f64,
    objective: Objective,
) -> Result<(), LtwError> {
    let file = linear_bytes(weights, bias, objective).map_err(err(path))?;
    write_atomic(path, &file).map_err(err(path))
}

/// The image of an MLP file (see [`write_mlp`]).
pub fn mlp_bytes(
    n_features: usize,
    layers: &[DenseLayer],
    objective: Objective,
) -> Result<Vec<u8>, LtwErrorKind> {
    let (flags, sigmoid) = sigmoid_of(objective);
    let mut descs = Vec::with_capacity(layers.len());
    let (mut weights, mut biases) = (Vec::new(), Vec::new());
    for (i, l) in layers.iter().enumerate() {
        let (Ok(n_in), Ok(n_out)) = (u32::try_from(l.n_in), u32::try_from(l.n_out)) else {
            return Err(LtwErrorKind::Unwritable(format!("layer {i} is too large")));
        };
        if l.weights.len() != l.n_in.saturating_mul(l.n_out) || l.biases.len() != l.n_out {
            return Err(LtwErrorKind::Unwritable(format!(
                "layer {i} is {}×{} but has {} weights and {} biases",
                l.n_out,
                l.n_in,
                l.weights.len(),
                l.biases.len()
            )));
        }
        descs.push(LayerDesc {
            n_in,
            n_out,
            activation: l.activation.code(),
            reserved: 0,
        });
        weights.extend_from_slice(&l.weights);
        biases.extend_from_slice(&l.biases);
    }
    let max_width = layers.iter().map(|l| l.n_out).fold(n_features, usize::max);
    build(
        KIND_MLP,
        flags,
        n_features,
        sigmoid,
        [
            layers.len() as u64,
            max_width as u64,
            weights.len() as u64,
            biases.len() as u64,
        ],
        &[
            (ELEM_LAYER, bytemuck::cast_slice(&descs)),
            (ELEM_F64, bytemuck::cast_slice(&weights)),
            (ELEM_F64, bytemuck::cast_slice(&biases)),
        ],
    )
}

/// Writes a dense MLP (kind 3). Cold.
pub fn write_mlp(
    path: &Path,
    n_features: usize,
    layers: &[DenseLayer],
    objective: Objective,
) -> Result<(), LtwError> {
    let file = mlp_bytes(n_features, layers, objective).map_err(err(path))?;
    write_atomic(path, &file).map_err(err(path))
}

/// A `.ltw` model evaluated in place on its memory map.
pub struct LtwModel {
    path: PathBuf,
    n_features: usize,
    sigmoid: Option<f64>,
    /// Borrows `map` (see the SAFETY note in [`LtwModel::open`]): declared
    /// before it so it is dropped first, and only handed out reborrowed for
    /// the lifetime of `&self`.
    body: Body<'static>,
    /// MLP activations: two vectors of `max_width` (empty for other kinds).
    scratch: Vec<f64>,
    map: Mmap,
}

impl fmt::Debug for LtwModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LtwModel")
            .field("path", &self.path)
            .field("kind", &self.kind())
            .field("n_features", &self.n_features)
            .field("sigmoid", &self.sigmoid)
            .field("bytes", &self.map.len())
            .finish()
    }
}

impl LtwModel {
    /// Maps `path` read-only and validates it fully (see the module doc).
    /// Cold: maps the file, allocates the MLP scratch and validation bitmaps.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LtwError> {
        let path = path.as_ref();
        let fail = err(path);
        let file = File::open(path).map_err(|e| fail(e.into()))?;
        let len = file.metadata().map_err(|e| fail(e.into()))?.len();
        if len < HEADER_SIZE as u64 {
            return Err(fail(LtwErrorKind::TooShort { len: len as usize }));
        }
        // SAFETY: the mapping is read-only and private to this process's view
        // of the file. Undefined behaviour would need another process to
        // modify the file in place while it is mapped; the engine's writers
        // never do (they write a temporary file and rename it over the path,
        // which leaves an existing mapping on the old inode intact), and the
        // README documents that a `.ltw` file must not be edited in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| fail(e.into()))?;
        // SAFETY: the mapped bytes stay at this address, unchanged, until
        // `map` is dropped; moving the `Mmap` value does not move them. The
        // `'static` borrow lives only in `LtwModel::body`, which is dropped
        // no later than `map` (same struct, declared first), is never
        // replaced while `map` lives, and is handed out only reborrowed for
        // the lifetime of `&self`.
        let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) };
        let parsed = parse(bytes).map_err(&fail)?;
        let scratch = match parsed.body {
            Body::Mlp { max_width, .. } => vec![0.0; 2 * max_width],
            _ => Vec::new(),
        };
        Ok(LtwModel {
            path: path.to_path_buf(),
            n_features: parsed.n_features,
            sigmoid: parsed.sigmoid,
            body: parsed.body,
            scratch,
            map,
        })
    }

    /// The file this model was mapped from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which model the file holds.
    pub fn kind(&self) -> LtwKind {
        self.body.kind()
    }

    /// The whole mapped file; every section slice lies inside it.
    pub fn mapping(&self) -> &[u8] {
        &self.map
    }

    /// The sigmoid parameter when the output is a probability.
    pub fn sigmoid(&self) -> Option<f64> {
        self.sigmoid
    }

    /// The bit-vector section (kind 2 with flag bit 2), on the mapping.
    pub fn bit_vector(&self) -> Option<&MappedBitvec<'_>> {
        match &self.body {
            Body::Trees { bitvec, .. } => bitvec.as_ref(),
            _ => None,
        }
    }

    /// The trees (kind 2), on the mapped arrays.
    pub fn trees(&self) -> Option<TreeView<'_>> {
        match &self.body {
            Body::Trees { view, .. } => Some(*view),
            _ => None,
        }
    }

    /// Whether the tree sum is averaged (kind 2 with the average flag).
    pub fn averages_output(&self) -> bool {
        matches!(
            self.body,
            Body::Trees {
                average_over: Some(_),
                ..
            }
        )
    }

    /// The weights and bias (kind 1), the weights on the mapping.
    pub fn linear(&self) -> Option<(&[f64], f64)> {
        match &self.body {
            Body::Linear { weights, bias } => Some((weights, *bias)),
            _ => None,
        }
    }

    /// The layer descriptors, weights and biases (kind 3), on the mapping.
    pub fn mlp(&self) -> Option<(&[LayerDesc], &[f64], &[f64])> {
        match &self.body {
            Body::Mlp {
                layers,
                weights,
                biases,
                ..
            } => Some((layers, weights, biases)),
            _ => None,
        }
    }

    /// The raw score (before the sigmoid; after averaging) of an `f32` row;
    /// `None` when the row length is wrong. Hot path: no allocation.
    #[inline]
    pub fn raw_f32(&mut self, row: &[f32]) -> Option<f64> {
        if row.len() != self.n_features {
            return None;
        }
        match &self.body {
            Body::Linear { weights, bias } => {
                let mut acc = 0.0;
                for (w, &x) in weights.iter().zip(row) {
                    acc += w * f64::from(x);
                }
                Some(acc + bias)
            }
            Body::Trees {
                view,
                average_over,
                bitvec,
            } => {
                // The bit-vector section where the CPU runs it and the row
                // has no NaN; else the walk over the mapped arrays.
                let sum = match bitvec.as_ref().and_then(|b| b.sum(row)) {
                    Some(sum) => sum,
                    None => view.sum_f32(row)?,
                };
                Some(match average_over {
                    Some(n) => sum / n,
                    None => sum,
                })
            }
            Body::Mlp {
                layers,
                weights,
                biases,
                max_width,
            } => mlp_forward(row, layers, weights, biases, *max_width, &mut self.scratch),
        }
    }

    /// The model output: the raw score, through the sigmoid when the file
    /// says so. `None` when the row length is wrong. Hot path.
    #[inline]
    pub fn predict_f32(&mut self, row: &[f32]) -> Option<f64> {
        let raw = self.raw_f32(row)?;
        Some(match self.sigmoid {
            Some(s) => 1.0 / (1.0 + (-s * raw).exp()),
            None => raw,
        })
    }
}

/// Dense forward pass on preallocated scratch (`2 * max_width`).
#[inline]
fn mlp_forward(
    row: &[f32],
    layers: &[LayerDesc],
    weights: &[f64],
    biases: &[f64],
    max_width: usize,
    scratch: &mut [f64],
) -> Option<f64> {
    let (mut a, mut b) = scratch.split_at_mut_checked(max_width)?;
    for (dst, &x) in a.iter_mut().zip(row) {
        *dst = f64::from(x);
    }
    let (mut w_at, mut b_at) = (0_usize, 0_usize);
    let mut width = row.len();
    for layer in layers {
        let (n_in, n_out) = (layer.n_in as usize, layer.n_out as usize);
        let act = Activation::from_code(layer.activation)?;
        let w = weights.get(w_at..w_at.checked_add(n_in * n_out)?)?;
        let bias = biases.get(b_at..b_at.checked_add(n_out)?)?;
        let input = a.get(..width)?;
        let out = b.get_mut(..n_out)?;
        for ((o, w_row), &bj) in out.iter_mut().zip(w.chunks_exact(n_in)).zip(bias) {
            let mut acc = 0.0;
            for (wi, xi) in w_row.iter().zip(input) {
                acc += wi * xi;
            }
            *o = act.apply(acc + bj);
        }
        w_at += n_in * n_out;
        b_at += n_out;
        width = n_out;
        std::mem::swap(&mut a, &mut b);
    }
    a.first().copied()
}

impl Predictor for LtwModel {
    fn n_features(&self) -> usize {
        self.n_features
    }

    fn predict(&mut self, row: &[f32]) -> Option<f64> {
        self.predict_f32(row)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::LEAF_BIT;
    use super::*;

    #[test]
    fn header_layout_is_pinned() {
        assert_eq!(std::mem::size_of::<Header>(), HEADER_SIZE);
        assert_eq!(std::mem::offset_of!(Header, version), 8);
        assert_eq!(std::mem::offset_of!(Header, sigmoid), 24);
        assert_eq!(std::mem::offset_of!(Header, shape), 32);
        assert_eq!(std::mem::offset_of!(Header, sections), 64);
        assert_eq!(std::mem::offset_of!(Header, checksum), CHECKSUM_OFFSET);
        assert_eq!(std::mem::size_of::<SectionEntry>(), 24);
        assert_eq!(std::mem::size_of::<LayerDesc>(), 16);
    }

    #[test]
    fn relu_keeps_nan_and_zeroes_negatives() {
        assert_eq!(Activation::Relu.apply(-1.0), 0.0);
        assert_eq!(Activation::Relu.apply(2.0), 2.0);
        assert!(Activation::Relu.apply(f64::NAN).is_nan());
    }

    #[test]
    fn images_validate_and_sections_are_aligned() {
        let file = linear_bytes(&[1.0, 2.0], 0.5, Objective::Regression).unwrap();
        let p = parse(&file).unwrap();
        assert!(matches!(p.body, Body::Linear { bias, .. } if bias == 0.5));
        let h: Header = bytemuck::pod_read_unaligned(&file[..HEADER_SIZE]);
        for s in &h.sections[..2] {
            assert_eq!(s.offset % ALIGN as u64, 0);
        }
        assert!(linear_bytes(&[f64::NAN], 0.0, Objective::Regression).is_err());
    }

    /// A temporary directory for one test.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lt-ltw-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn regression() -> LightGbmModel {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/models/lightgbm/regression.txt");
        LightGbmModel::load(path).unwrap()
    }

    /// `bytes` written to `dir/name` and opened.
    fn open_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<LtwModel, LtwError> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        LtwModel::open(&path)
    }

    #[test]
    fn tree_files_carry_the_bit_vector_section_and_use_it_in_place() {
        let dir = temp_dir("bitvec");
        let text = regression();
        let output = TreeOutput {
            objective: text.objective(),
            average: false,
        };
        let bytes = tree_bytes(text.ensemble(), output).unwrap();
        let h: Header = bytemuck::pod_read_unaligned(&bytes[..HEADER_SIZE]);
        assert_ne!(h.flags & FLAG_BITVEC, 0);
        assert_eq!(h.sections[3].elem, ELEM_OCTET);
        assert!(h.shape[3] > 0);
        let mut m = open_bytes(&dir, "m.ltw", &bytes).unwrap();
        assert!(m.bit_vector().is_some());
        let map = m.mapping().as_ptr_range();
        let octets = h.sections[3].offset as usize;
        assert!(octets < map.end as usize - map.start as usize);
        let mut rng = crate::testkit::SplitMix::new(9);
        for i in 0..200 {
            let row: Vec<f32> = (0..6)
                .map(|j| {
                    if (i + j) % 7 == 0 {
                        0.0
                    } else {
                        rng.unit() as f32
                    }
                })
                .collect();
            let want = text.raw_f32(&row).unwrap();
            if std::arch::is_x86_feature_detected!("avx2") {
                let section = m.bit_vector().unwrap().sum(&row);
                assert_eq!(section.map(f64::to_bits), Some(want.to_bits()));
            }
            assert_eq!(m.raw_f32(&row).map(f64::to_bits), Some(want.to_bits()));
            let walked = m.trees().unwrap().sum_f32(&row).unwrap();
            assert_eq!(walked.to_bits(), want.to_bits());
        }
        // A NaN row takes the walk.
        let row = [f32::NAN, 0.5, 0.5, 0.5, 0.5, 0.5];
        assert_eq!(m.raw_f32(&row), text.raw_f32(&row));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bit_vector_section_that_disagrees_with_the_trees_is_refused() {
        let dir = temp_dir("bitvec-bad");
        let text = regression();
        let output = TreeOutput {
            objective: text.objective(),
            average: false,
        };
        let good = tree_bytes(text.ensemble(), output).unwrap();
        let h: Header = bytemuck::pod_read_unaligned(&good[..HEADER_SIZE]);
        let refused = |bytes: &mut Vec<u8>, what: &str| {
            seal(bytes);
            let e = open_bytes(&dir, "bad.ltw", bytes).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(what), "expected {what:?} in {msg}");
            assert!(msg.contains("regenerate it"), "{msg}");
        };
        // One threshold of one octet changed.
        let mut b = good.clone();
        let at = h.sections[3].offset as usize + 32;
        b[at] ^= 1;
        refused(&mut b, "invalid bit-vector section");
        // The trees changed under the section: a split whose children are
        // both leaves, its children swapped (the leaves are then no longer
        // stored left to right).
        let mut b = good.clone();
        let nodes_at = h.sections[0].offset as usize;
        let n = text
            .ensemble()
            .nodes()
            .iter()
            .position(|n| n.left & LEAF_BIT != 0 && n.right & LEAF_BIT != 0)
            .unwrap();
        let at = nodes_at + 24 * n + 16;
        let (left, right) = (b[at..at + 4].to_vec(), b[at + 4..at + 8].to_vec());
        b[at..at + 4].copy_from_slice(&right);
        b[at + 4..at + 8].copy_from_slice(&left);
        refused(&mut b, "left to right");
        // The flag without the section, the section without the flag.
        let mut b = good.clone();
        b[16..20].copy_from_slice(&(h.flags & !FLAG_BITVEC).to_le_bytes());
        refused(&mut b, "section 3 has element type 6, expected 0");
        let mut b = good.clone();
        b[64 + 24 * 3..64 + 24 * 4].fill(0);
        refused(&mut b, "section 3 has element type 0, expected 6");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn trees_that_do_not_fit_the_layout_are_written_without_the_section() {
        // Leaves numbered right to left: no section, still exact.
        let leaf = |i: u32| i | LEAF_BIT;
        let node = Node {
            threshold: 0.5,
            feature: 0,
            decision: 0,
            left: leaf(1),
            right: leaf(0),
        };
        let e = TreeEnsemble::new(1, vec![node], vec![1.0, -1.0], vec![0]).unwrap();
        let output = TreeOutput {
            objective: Objective::Regression,
            average: false,
        };
        let bytes = tree_bytes(&e, output).unwrap();
        let h: Header = bytemuck::pod_read_unaligned(&bytes[..HEADER_SIZE]);
        assert_eq!(h.flags & FLAG_BITVEC, 0);
        assert_eq!(h.sections[3], SectionEntry::zeroed());
        let dir = temp_dir("bitvec-none");
        let mut m = open_bytes(&dir, "m.ltw", &bytes).unwrap();
        assert!(m.bit_vector().is_none());
        assert_eq!(m.raw_f32(&[0.25]), Some(-1.0));
        assert_eq!(m.raw_f32(&[0.75]), Some(1.0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn mlp_writer_rejects_wrong_sizes() {
        let bad = DenseLayer {
            n_in: 2,
            n_out: 1,
            weights: vec![1.0],
            biases: vec![0.0],
            activation: Activation::Identity,
        };
        assert!(matches!(
            mlp_bytes(2, &[bad], Objective::Regression),
            Err(LtwErrorKind::Unwritable(_))
        ));
    }
}
