//! The native row program: a straight-line list of instructions over one
//! preallocated `f32` arena, compiled from an ONNX graph by `lower.rs`.
//!
//! Built at start-up (cold); [`Program::run`] runs on the engine thread and
//! is hot path: no allocation, no blocking, no logging, no panic.
//!
//! The arena holds, in this order, the constants that instructions read
//! (materialised once at load), the input row, and every computed value.
//! Each value is a [`Span`] of the arena; shape-only ops (Reshape, Slice of
//! a contiguous range, Identity, ...) produce no instruction, only a new
//! span over the same elements. Every instruction writes a span that starts
//! after every span it reads (checked by [`Program::new`]), so one
//! `split_at_mut` separates what it reads from what it writes.

use std::ops::Range;

/// A run of `len` arena elements starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    pub fn end(self) -> usize {
        self.start + self.len
    }

    fn range(self) -> Range<usize> {
        self.start..self.end()
    }
}

/// Elementwise unary ops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu { alpha: f32 },
    Sigmoid,
    Tanh,
    Abs,
    Neg,
    Exp,
    Log,
}

impl Unary {
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            // NaN stays NaN (`NaN < 0.0` is false).
            Unary::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Unary::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha * x
                } else {
                    x
                }
            }
            Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Unary::Tanh => x.tanh(),
            Unary::Abs => x.abs(),
            Unary::Neg => -x,
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
        }
    }
}

/// Elementwise binary ops (`a op b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }
}

/// How the two operands of a [`Binary`] line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Element `i` of `a` with element `i` of `b` (equal lengths).
    Same,
    /// `a` is one element, applied to every element of `b`.
    ScalarA,
    /// `b` is one element, applied to every element of `a`.
    ScalarB,
}

/// One step of the program.
#[derive(Debug, Clone, PartialEq)]
pub enum Instr {
    /// `out[j] = alpha · Σ_i x[i]·w[i][j] + bias[j]`, `w` row-major
    /// `x.len × out.len`, summed over `i` in order (f32, as ONNX).
    /// `alpha` is `None` for 1 and `bias` empty for none.
    MatVec {
        x: Span,
        out: Span,
        w: Box<[f32]>,
        alpha: Option<f32>,
        bias: Box<[f32]>,
    },
    Unary {
        op: Unary,
        x: Span,
        out: Span,
    },
    Binary {
        op: Binary,
        pairing: Pairing,
        a: Span,
        b: Span,
        out: Span,
    },
    /// Softmax over all of `x` (max subtracted first).
    Softmax {
        x: Span,
        out: Span,
    },
    /// The parts one after the other.
    Concat {
        parts: Box<[Span]>,
        out: Span,
    },
    /// `out[0] = Σ x` in order.
    Sum {
        x: Span,
        out: Span,
    },
}

impl Instr {
    /// The span the instruction writes.
    pub fn out(&self) -> Span {
        match self {
            Instr::MatVec { out, .. }
            | Instr::Unary { out, .. }
            | Instr::Binary { out, .. }
            | Instr::Softmax { out, .. }
            | Instr::Concat { out, .. }
            | Instr::Sum { out, .. } => *out,
        }
    }

    /// Every span the instruction reads.
    pub fn reads(&self) -> Vec<Span> {
        match self {
            Instr::MatVec { x, .. }
            | Instr::Unary { x, .. }
            | Instr::Softmax { x, .. }
            | Instr::Sum { x, .. } => vec![*x],
            Instr::Binary { a, b, .. } => vec![*a, *b],
            Instr::Concat { parts, .. } => parts.to_vec(),
        }
    }

    /// The instruction's op name, for descriptions.
    pub fn name(&self) -> &'static str {
        match self {
            Instr::MatVec { .. } => "matvec",
            Instr::Unary { op, .. } => match op {
                Unary::Relu => "relu",
                Unary::LeakyRelu { .. } => "leaky_relu",
                Unary::Sigmoid => "sigmoid",
                Unary::Tanh => "tanh",
                Unary::Abs => "abs",
                Unary::Neg => "neg",
                Unary::Exp => "exp",
                Unary::Log => "log",
            },
            Instr::Binary { op, .. } => match op {
                Binary::Add => "add",
                Binary::Sub => "sub",
                Binary::Mul => "mul",
                Binary::Div => "div",
            },
            Instr::Softmax { .. } => "softmax",
            Instr::Concat { .. } => "concat",
            Instr::Sum { .. } => "sum",
        }
    }
}

/// Why a program failed its structural check (a lowering defect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("instruction {index} ({name}) reads or writes outside the arena")]
    OutOfArena { index: usize, name: &'static str },
    #[error(
        "instruction {index} ({name}) writes a span that does not follow what it reads and \
         what was written before"
    )]
    Overlap { index: usize, name: &'static str },
    #[error("instruction {index} ({name}) has operand lengths that do not fit")]
    Lengths { index: usize, name: &'static str },
    #[error("the input or output lies outside the arena")]
    Endpoints,
}

/// A compiled row program.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    arena: Box<[f32]>,
    input: Span,
    output: usize,
    instrs: Box<[Instr]>,
}

impl Program {
    /// Checks the structure that [`Program::run`] relies on: every span in
    /// the arena, every output after its inputs, operand lengths consistent.
    pub fn new(
        arena: Vec<f32>,
        input: Span,
        output: usize,
        instrs: Vec<Instr>,
    ) -> Result<Program, ProgramError> {
        let len = arena.len();
        if input.end() > len || output >= len {
            return Err(ProgramError::Endpoints);
        }
        // Outputs follow the input and each other: nothing is overwritten.
        let mut written = input.end();
        for (index, instr) in instrs.iter().enumerate() {
            let name = instr.name();
            let out = instr.out();
            let reads = instr.reads();
            if out.end() > len || reads.iter().any(|r| r.end() > len) {
                return Err(ProgramError::OutOfArena { index, name });
            }
            if out.len == 0
                || out.start < written
                || reads.iter().any(|r| r.end() > out.start || r.len == 0)
            {
                return Err(ProgramError::Overlap { index, name });
            }
            written = out.end();
            let fits = match instr {
                Instr::MatVec {
                    x, out, w, bias, ..
                } => w.len() == x.len * out.len && (bias.is_empty() || bias.len() == out.len),
                Instr::Unary { x, out, .. } | Instr::Softmax { x, out } => x.len == out.len,
                Instr::Binary {
                    pairing, a, b, out, ..
                } => match pairing {
                    Pairing::Same => a.len == out.len && b.len == out.len,
                    Pairing::ScalarA => a.len == 1 && b.len == out.len,
                    Pairing::ScalarB => b.len == 1 && a.len == out.len,
                },
                Instr::Concat { parts, out } => {
                    parts.iter().map(|p| p.len).sum::<usize>() == out.len
                }
                Instr::Sum { out, .. } => out.len == 1,
            };
            if !fits {
                return Err(ProgramError::Lengths { index, name });
            }
        }
        Ok(Program {
            arena: arena.into_boxed_slice(),
            input,
            output,
            instrs: instrs.into_boxed_slice(),
        })
    }

    pub fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// Arena size in elements (constants, input and every value).
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// Runs the program on one row. `None` when `row` has the wrong length
    /// (a checked program never fails otherwise). Hot path.
    pub fn run(&mut self, row: &[f32]) -> Option<f32> {
        if row.len() != self.input.len {
            return None;
        }
        self.arena.get_mut(self.input.range())?.copy_from_slice(row);
        for instr in self.instrs.iter() {
            step(&mut self.arena, instr)?;
        }
        self.arena.get(self.output).copied()
    }
}

/// Runs one instruction. `None` only for a span outside the arena, which
/// [`Program::new`] rules out.
#[inline]
fn step(arena: &mut [f32], instr: &Instr) -> Option<()> {
    let out_span = instr.out();
    let (head, tail) = arena.split_at_mut_checked(out_span.start)?;
    let out = tail.get_mut(..out_span.len)?;
    match instr {
        Instr::MatVec {
            x, w, alpha, bias, ..
        } => {
            matvec(head.get(x.range())?, w, out);
            if let Some(alpha) = *alpha {
                for o in out.iter_mut() {
                    *o *= alpha;
                }
            }
            for (o, b) in out.iter_mut().zip(bias.iter()) {
                *o += *b;
            }
        }
        Instr::Unary { op, x, .. } => {
            let x = head.get(x.range())?;
            // One loop per op so that each vectorises on its own.
            match *op {
                Unary::Relu => map(x, out, |v| Unary::Relu.apply(v)),
                Unary::LeakyRelu { alpha } => map(x, out, |v| Unary::LeakyRelu { alpha }.apply(v)),
                Unary::Sigmoid => map(x, out, |v| Unary::Sigmoid.apply(v)),
                Unary::Tanh => map(x, out, f32::tanh),
                Unary::Abs => map(x, out, f32::abs),
                Unary::Neg => map(x, out, |v| -v),
                Unary::Exp => map(x, out, f32::exp),
                Unary::Log => map(x, out, f32::ln),
            }
        }
        Instr::Binary {
            op, pairing, a, b, ..
        } => {
            let a = head.get(a.range())?;
            let b = head.get(b.range())?;
            match *op {
                Binary::Add => zip(*pairing, a, b, out, |p, q| Binary::Add.apply(p, q)),
                Binary::Sub => zip(*pairing, a, b, out, |p, q| Binary::Sub.apply(p, q)),
                Binary::Mul => zip(*pairing, a, b, out, |p, q| Binary::Mul.apply(p, q)),
                Binary::Div => zip(*pairing, a, b, out, |p, q| Binary::Div.apply(p, q)),
            }
        }
        Instr::Softmax { x, .. } => softmax(head.get(x.range())?, out),
        Instr::Concat { parts, .. } => {
            let mut at = 0;
            for part in parts.iter() {
                let src = head.get(part.range())?;
                out.get_mut(at..at + src.len())?.copy_from_slice(src);
                at += src.len();
            }
        }
        Instr::Sum { x, .. } => {
            let x = head.get(x.range())?;
            *out.first_mut()? = x.iter().fold(0.0f32, |acc, v| acc + v);
        }
    }
    Some(())
}

/// `out = x · w` for `w` row-major `x.len() × out.len()`: the inner loop
/// runs over the output dimension, contiguous in `w`, so it vectorises.
#[inline]
fn matvec(x: &[f32], w: &[f32], out: &mut [f32]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    if n == 1 {
        // A dot product (same summation order as the general loop).
        if let Some(o) = out.first_mut() {
            *o = x.iter().zip(w).fold(0.0f32, |acc, (a, b)| acc + a * b);
        }
        return;
    }
    out.fill(0.0);
    for (&xi, row) in x.iter().zip(w.chunks_exact(n)) {
        for (o, &wij) in out.iter_mut().zip(row) {
            *o += xi * wij;
        }
    }
}

#[inline(always)]
fn map(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[inline(always)]
fn zip(pairing: Pairing, a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    match pairing {
        Pairing::Same => {
            for ((o, &p), &q) in out.iter_mut().zip(a).zip(b) {
                *o = f(p, q);
            }
        }
        Pairing::ScalarA => {
            let p = a.first().copied().unwrap_or(f32::NAN);
            for (o, &q) in out.iter_mut().zip(b) {
                *o = f(p, q);
            }
        }
        Pairing::ScalarB => {
            let q = b.first().copied().unwrap_or(f32::NAN);
            for (o, &p) in out.iter_mut().zip(a) {
                *o = f(p, q);
            }
        }
    }
}

/// `exp(x - max) / Σ exp(x - max)`; NaN anywhere gives NaN everywhere.
#[inline]
fn softmax(x: &[f32], out: &mut [f32]) {
    let mut max = f32::NEG_INFINITY;
    let mut nan = false;
    for &v in x {
        nan |= v.is_nan();
        if v > max {
            max = v;
        }
    }
    if nan {
        out.fill(f32::NAN);
        return;
    }
    let mut sum = 0.0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let e = (v - max).exp();
        *o = e;
        sum += e;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, len: usize) -> Span {
        Span { start, len }
    }

    #[test]
    fn matvec_matches_the_definition() {
        // x [2], w [2 × 3], bias, alpha.
        let arena = vec![0.0; 5];
        let w: Box<[f32]> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0].into();
        let instrs = vec![Instr::MatVec {
            x: span(0, 2),
            out: span(2, 3),
            w,
            alpha: Some(0.5),
            bias: vec![1.0, 0.0, -1.0].into(),
        }];
        let mut p = Program::new(arena.clone(), span(0, 2), 3, instrs.clone()).unwrap();
        assert_eq!(p.run(&[1.0, -1.0]), Some(0.5 * (2.0 - 5.0)));
        let mut p = Program::new(arena, span(0, 2), 4, instrs).unwrap();
        assert_eq!(p.run(&[2.0, 1.0]), Some(0.5 * (6.0 + 6.0) - 1.0));
    }

    #[test]
    fn wrong_row_length_is_none() {
        let instrs = vec![Instr::Sum {
            x: span(0, 3),
            out: span(3, 1),
        }];
        let mut p = Program::new(vec![0.0; 4], span(0, 3), 3, instrs).unwrap();
        assert_eq!(p.run(&[1.0, 2.0]), None);
        assert_eq!(p.run(&[1.0, 2.0, 3.5]), Some(6.5));
    }

    #[test]
    fn structure_is_checked() {
        // Output before the input it reads.
        let bad = vec![Instr::Unary {
            op: Unary::Abs,
            x: span(2, 2),
            out: span(0, 2),
        }];
        assert!(matches!(
            Program::new(vec![0.0; 4], span(2, 2), 0, bad),
            Err(ProgramError::Overlap { .. })
        ));
        // Past the arena.
        let bad = vec![Instr::Sum {
            x: span(0, 2),
            out: span(4, 1),
        }];
        assert!(matches!(
            Program::new(vec![0.0; 4], span(0, 2), 3, bad),
            Err(ProgramError::OutOfArena { .. })
        ));
        // Weight count that does not fit.
        let bad = vec![Instr::MatVec {
            x: span(0, 2),
            out: span(2, 2),
            w: vec![0.0; 3].into(),
            alpha: None,
            bias: Box::new([]),
        }];
        assert!(matches!(
            Program::new(vec![0.0; 4], span(0, 2), 2, bad),
            Err(ProgramError::Lengths { .. })
        ));
    }

    #[test]
    fn softmax_is_stable_and_propagates_nan() {
        let mut out = [0.0f32; 3];
        softmax(&[1000.0, 1000.0, f32::NEG_INFINITY], &mut out);
        assert_eq!(out, [0.5, 0.5, 0.0]);
        softmax(&[1.0, f32::NAN, 0.0], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn relu_keeps_nan_and_leaky_scales_negatives() {
        assert!(Unary::Relu.apply(f32::NAN).is_nan());
        assert_eq!(Unary::Relu.apply(-3.0), 0.0);
        assert_eq!(Unary::LeakyRelu { alpha: 0.1 }.apply(-3.0), -0.3);
        assert_eq!(Unary::Sigmoid.apply(f32::NEG_INFINITY), 0.0);
        assert_eq!(Unary::Sigmoid.apply(f32::INFINITY), 1.0);
    }
}
