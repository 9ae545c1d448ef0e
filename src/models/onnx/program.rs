//! The native row program: a straight-line list of instructions over one
//! preallocated `f32` arena, compiled from an ONNX graph by `lower.rs`.
//!
//! Built at start-up (cold); [`Program::run`] runs on the engine thread and
//! is hot path: no allocation, no blocking, no logging, no panic.
//!
//! The arena holds the input row's span, the constants that instructions
//! read (materialised once at load) and every computed value. Each value is
//! a [`Span`] of the arena; shape-only ops (Reshape, Slice of a contiguous
//! range, Identity, ...) produce no instruction, only a new span over the
//! same elements. Every instruction writes a span that starts after every
//! span it reads (checked by [`Program::new`]), so one `split_at_mut`
//! separates what it reads from what it writes. The input span is never
//! written: an operand inside it is read from the row passed to
//! [`Program::run`], which is not copied.
//!
//! The matrix products ([`Instr::MatVec`]) carry the elementwise steps
//! `lower.rs` folds into them; products of at least
//! [`AVX2_MIN_WEIGHTS`] weights run in a copy compiled for AVX2 where the
//! CPU has it (detected once at load), with the same result bits.

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
    /// `out[j] = act(alpha · Σ_i (x[i] - shift[i])·w[i][j] + bias[j])`,
    /// `w` row-major `x.len × out.len`, summed over `i` in order from 0
    /// (f32, as ONNX). `alpha` is `None` for 1, `shift` and `bias` empty
    /// for none, `act` `None` for the identity. `lower.rs` folds a leading
    /// Sub (into `shift`) and Div or Mul by a constant (into `w`), and a
    /// trailing Add of a constant (into `bias`) and elementwise op (into
    /// `act`).
    MatVec {
        x: Span,
        out: Span,
        w: Box<[f32]>,
        alpha: Option<f32>,
        bias: Box<[f32]>,
        shift: Box<[f32]>,
        act: Option<Unary>,
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
    /// The CPU has AVX2: products run in [`matvec_avx2`].
    avx2: bool,
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
            // A read inside the input span is served from the row: it
            // must not reach past it.
            let straddles = |r: &Span| {
                r.start < input.end()
                    && input.start < r.end()
                    && (r.start < input.start || r.end() > input.end())
            };
            if out.len == 0
                || out.start < written
                || reads
                    .iter()
                    .any(|r| r.end() > out.start || r.len == 0 || straddles(r))
            {
                return Err(ProgramError::Overlap { index, name });
            }
            written = out.end();
            let fits = match instr {
                Instr::MatVec {
                    x,
                    out,
                    w,
                    bias,
                    shift,
                    ..
                } => {
                    w.len() == x.len * out.len
                        && (bias.is_empty() || bias.len() == out.len)
                        && (shift.is_empty() || shift.len() == x.len)
                }
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
            avx2: avx2(),
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
        // The row is read where it is (its span in the arena is never
        // written): no copy.
        let input = self.input;
        for instr in self.instrs.iter() {
            step(&mut self.arena, row, input, instr, self.avx2)?;
        }
        match self.output.checked_sub(input.start) {
            Some(i) if i < input.len => row.get(i).copied(),
            _ => self.arena.get(self.output).copied(),
        }
    }
}

/// Runs one instruction. `None` only for a span outside the arena, which
/// [`Program::new`] rules out.
#[inline]
fn step(arena: &mut [f32], row: &[f32], input: Span, instr: &Instr, avx2: bool) -> Option<()> {
    let out_span = instr.out();
    let (head, tail) = arena.split_at_mut_checked(out_span.start)?;
    let out = tail.get_mut(..out_span.len)?;
    // An operand inside the input span is read from the row itself.
    let read = |s: Span| -> Option<&[f32]> {
        match s.start.checked_sub(input.start) {
            Some(at) if s.end() <= input.end() => row.get(at..at + s.len),
            _ => head.get(s.range()),
        }
    };
    match instr {
        Instr::MatVec {
            x,
            w,
            alpha,
            bias,
            shift,
            act,
            ..
        } => {
            let x = read(*x)?;
            #[cfg(target_arch = "x86_64")]
            if avx2 && w.len() >= AVX2_MIN_WEIGHTS {
                // SAFETY: `avx2` is true only when `Program::new` found the
                // CPU to support AVX2, all `matvec_avx2` is compiled for.
                unsafe { matvec_avx2(x, shift, w, out) };
            } else {
                matvec(x, shift, w, out);
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = avx2;
                matvec(x, shift, w, out);
            }
            if let Some(alpha) = *alpha {
                for o in out.iter_mut() {
                    *o *= alpha;
                }
            }
            for (o, b) in out.iter_mut().zip(bias.iter()) {
                *o += *b;
            }
            if let Some(op) = *act {
                activate(op, out);
            }
        }
        Instr::Unary { op, x, .. } => {
            out.copy_from_slice(read(*x)?);
            activate(*op, out);
        }
        Instr::Binary {
            op, pairing, a, b, ..
        } => {
            let a = read(*a)?;
            let b = read(*b)?;
            match *op {
                Binary::Add => zip(*pairing, a, b, out, |p, q| Binary::Add.apply(p, q)),
                Binary::Sub => zip(*pairing, a, b, out, |p, q| Binary::Sub.apply(p, q)),
                Binary::Mul => zip(*pairing, a, b, out, |p, q| Binary::Mul.apply(p, q)),
                Binary::Div => zip(*pairing, a, b, out, |p, q| Binary::Div.apply(p, q)),
            }
        }
        Instr::Softmax { x, .. } => softmax(read(*x)?, out),
        Instr::Concat { parts, .. } => {
            let mut at = 0;
            for part in parts.iter() {
                let src = read(*part)?;
                out.get_mut(at..at + src.len())?.copy_from_slice(src);
                at += src.len();
            }
        }
        Instr::Sum { x, .. } => {
            let x = read(*x)?;
            *out.first_mut()? = x.iter().fold(0.0f32, |acc, v| acc + v);
        }
    }
    Some(())
}

/// Smallest product (weights) worth the AVX2 call; below it the
/// call and the state change cost more than the wider vectors save.
pub const AVX2_MIN_WEIGHTS: usize = 1024;

/// Whether this CPU runs [`matvec_avx2`].
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

/// [`matvec`] compiled for AVX2: the same operations in the same order per
/// output (Rust never fuses a multiply and an add), so the same bits, on
/// vectors twice as wide. LLVM ends it with `vzeroupper`, so the SSE code
/// that follows pays no transition penalty.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn matvec_avx2(x: &[f32], shift: &[f32], w: &[f32], out: &mut [f32]) {
    matvec(x, shift, w, out);
}

/// `out[j] = Σ_i (x[i] - shift[i])·w[i][j]` (`shift` empty for none) for
/// `w` row-major `x.len() × out.len()`.
///
/// The sums are split to shorten the chains of dependent additions: a dot
/// product (`out.len() == 1`) over eight lanes (input `i` into lane
/// `i % 8`, lanes added pairwise at the end), a wider product [`BLOCK`]
/// outputs at a time in registers, even and odd inputs apart (the inner
/// loop is contiguous in `w` and vectorises). Each partial sum runs over
/// its inputs in order; the result stays within the load-time cross-check
/// against tract.
#[inline(always)]
fn matvec(x: &[f32], shift: &[f32], w: &[f32], out: &mut [f32]) {
    let (k, n) = (x.len(), out.len());
    if n == 0 || w.len() != k * n {
        return; // ruled out by `Program::new`
    }
    if shift.is_empty() {
        product::<false>(x, x, w, out);
    } else if shift.len() == k {
        product::<true>(x, shift, w, out);
    }
}

/// [`matvec`] with the shift (`SHIFT`) or without (`shift` unused).
#[inline(always)]
fn product<const SHIFT: bool>(x: &[f32], shift: &[f32], w: &[f32], out: &mut [f32]) {
    let n = out.len();
    let input = |p: f32, s: f32| if SHIFT { p - s } else { p };
    if n == 1 {
        let mut acc = [0.0f32; 8];
        let (mut xc, mut sc, mut wc) =
            (x.chunks_exact(8), shift.chunks_exact(8), w.chunks_exact(8));
        for ((xa, sa), wa) in (&mut xc).zip(&mut sc).zip(&mut wc) {
            for (((a, &p), &s), &q) in acc.iter_mut().zip(xa).zip(sa).zip(wa) {
                *a += input(p, s) * q;
            }
        }
        let tail = xc
            .remainder()
            .iter()
            .zip(sc.remainder())
            .zip(wc.remainder());
        for (a, ((&p, &s), &q)) in acc.iter_mut().zip(tail) {
            *a += input(p, s) * q;
        }
        if let Some(o) = out.first_mut() {
            let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
            *o = ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7));
        }
        return;
    }
    if n == BLOCK {
        // One block (a common hidden width): rows two at a time, no
        // offsets to check.
        let (mut even, mut odd) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
        let (mut xp, mut sp) = (x.chunks_exact(2), shift.chunks_exact(2));
        let mut wp = w.chunks_exact(2 * BLOCK);
        for ((xs, ss), ws) in (&mut xp).zip(&mut sp).zip(&mut wp) {
            let (&[x0, x1], &[s0, s1]) = (xs, ss) else {
                return;
            };
            let (p, q) = (input(x0, s0), input(x1, s1));
            let (w0, w1) = ws.split_at(BLOCK);
            for (((e, d), &a), &c) in even.iter_mut().zip(odd.iter_mut()).zip(w0).zip(w1) {
                *e += p * a;
                *d += q * c;
            }
        }
        if let (&[x0], &[s0]) = (xp.remainder(), sp.remainder()) {
            let p = input(x0, s0);
            for (e, &a) in even.iter_mut().zip(wp.remainder()) {
                *e += p * a;
            }
        }
        for ((o, &e), &d) in out.iter_mut().zip(&even).zip(&odd) {
            *o = e + d;
        }
        return;
    }
    let mut blocks = out.chunks_exact_mut(BLOCK);
    for (b, block) in blocks.by_ref().enumerate() {
        let j0 = b * BLOCK;
        let (mut even, mut odd) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
        let mut rows = w.chunks_exact(n);
        let (mut xp, mut sp) = (x.chunks_exact(2), shift.chunks_exact(2));
        for (xs, ss) in (&mut xp).zip(&mut sp) {
            let (&[x0, x1], &[s0, s1], Some(r0), Some(r1)) = (xs, ss, rows.next(), rows.next())
            else {
                return;
            };
            let (p, q) = (input(x0, s0), input(x1, s1));
            let (Some(w0), Some(w1)) = (r0.get(j0..j0 + BLOCK), r1.get(j0..j0 + BLOCK)) else {
                return;
            };
            for (((e, d), &a), &c) in even.iter_mut().zip(odd.iter_mut()).zip(w0).zip(w1) {
                *e += p * a;
                *d += q * c;
            }
        }
        if let (&[x0], &[s0], Some(r0)) = (xp.remainder(), sp.remainder(), rows.next()) {
            let p = input(x0, s0);
            for (e, &a) in even.iter_mut().zip(r0.get(j0..j0 + BLOCK).unwrap_or(&[])) {
                *e += p * a;
            }
        }
        for ((o, &e), &d) in block.iter_mut().zip(&even).zip(&odd) {
            *o = e + d;
        }
    }
    // Outputs past the last block: in place, inputs in order.
    let rest = blocks.into_remainder();
    if rest.is_empty() {
        return;
    }
    let j0 = n - rest.len();
    rest.fill(0.0);
    for ((&p, &s), row) in x.iter().zip(shift).zip(w.chunks_exact(n)) {
        let xi = input(p, s);
        for (o, &wij) in rest.iter_mut().zip(row.get(j0..).unwrap_or(&[])) {
            *o += xi * wij;
        }
    }
}

/// Outputs of [`matvec`] accumulated in registers at a time.
const BLOCK: usize = 16;

/// `op` on every element in place; one loop per op so that each
/// vectorises on its own.
#[inline]
fn activate(op: Unary, out: &mut [f32]) {
    match op {
        Unary::Relu => map(out, |v| Unary::Relu.apply(v)),
        Unary::LeakyRelu { alpha } => map(out, |v| Unary::LeakyRelu { alpha }.apply(v)),
        Unary::Sigmoid => map(out, |v| Unary::Sigmoid.apply(v)),
        Unary::Tanh => map(out, f32::tanh),
        Unary::Abs => map(out, f32::abs),
        Unary::Neg => map(out, |v| -v),
        Unary::Exp => map(out, f32::exp),
        Unary::Log => map(out, f32::ln),
    }
}

#[inline(always)]
fn map(out: &mut [f32], f: impl Fn(f32) -> f32) {
    for o in out.iter_mut() {
        *o = f(*o);
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
#[allow(clippy::disallowed_macros)]
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
            shift: Box::new([]),
            act: None,
        }];
        let mut p = Program::new(arena.clone(), span(0, 2), 3, instrs.clone()).unwrap();
        assert_eq!(p.run(&[1.0, -1.0]), Some(0.5 * (2.0 - 5.0)));
        let mut p = Program::new(arena, span(0, 2), 4, instrs).unwrap();
        assert_eq!(p.run(&[2.0, 1.0]), Some(0.5 * (6.0 + 6.0) - 1.0));
    }

    /// `Σ_i (x[i] - shift[i])·w[i][j]` in f64, and the bound on the f32
    /// rounding error of any summation order (`k` roundings of the
    /// largest partial sum, in the sum of magnitudes).
    fn reference(x: &[f32], shift: &[f32], w: &[f32], n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|j| {
                let (mut sum, mut size) = (0.0f64, 0.0f64);
                for (i, &xi) in x.iter().enumerate() {
                    let v = f64::from(xi - shift.get(i).copied().unwrap_or(0.0));
                    let t = v * f64::from(w[i * n + j]);
                    sum += t;
                    size += t.abs();
                }
                (sum, size * (x.len() as f64 + 2.0) * f64::from(f32::EPSILON))
            })
            .collect()
    }

    #[test]
    fn every_product_shape_sums_correctly() {
        let mut rng = crate::testkit::SplitMix::new(11);
        let mut f = || rng.unit() as f32;
        for k in [1, 2, 3, 7, 8, 9, 16, 17, 63, 64, 65, 130] {
            for n in [1, 2, 3, 15, 16, 17, 31, 32, 33, 48, 64, 65, 100] {
                let x: Vec<f32> = (0..k).map(|_| 4.0 * f()).collect();
                let w: Vec<f32> = (0..k * n).map(|_| f()).collect();
                for shift in [vec![], (0..k).map(|_| f()).collect::<Vec<f32>>()] {
                    let want = reference(&x, &shift, &w, n);
                    let mut out = vec![f32::NAN; n];
                    matvec(&x, &shift, &w, &mut out);
                    for (j, (&got, &(sum, bound))) in out.iter().zip(&want).enumerate() {
                        assert!(
                            (f64::from(got) - sum).abs() <= bound,
                            "k {k}, n {n}, shift {}, output {j}: {got} vs {sum}",
                            !shift.is_empty()
                        );
                    }
                    #[cfg(target_arch = "x86_64")]
                    if avx2() {
                        let mut wide = vec![f32::NAN; n];
                        // SAFETY: the CPU has AVX2 (checked just above).
                        unsafe { matvec_avx2(&x, &shift, &w, &mut wide) };
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&wide), bits(&out), "k {k}, n {n}: AVX2 differs");
                    }
                }
            }
        }
    }

    #[test]
    fn a_fused_product_applies_shift_alpha_bias_and_activation_in_order() {
        // relu(0.5 · Σ (x - s)·w + b), w [2 × 2]
        let instrs = vec![Instr::MatVec {
            x: span(0, 2),
            out: span(2, 2),
            w: vec![1.0, -1.0, 2.0, 3.0].into(),
            alpha: Some(0.5),
            bias: vec![-4.0, 1.0].into(),
            shift: vec![1.0, -1.0].into(),
            act: Some(Unary::Relu),
        }];
        let mut p = Program::new(vec![0.0; 4], span(0, 2), 2, instrs.clone()).unwrap();
        // x - s = [2, 2]: sums [6, 4] → [3, 2] + [-4, 1] → relu [0, 3]
        assert_eq!(p.run(&[3.0, 1.0]), Some(0.0));
        let mut p = Program::new(vec![0.0; 4], span(0, 2), 3, instrs).unwrap();
        assert_eq!(p.run(&[3.0, 1.0]), Some(3.0));
    }

    #[test]
    fn the_row_is_read_in_place() {
        // No instruction: the output is an element of the input itself.
        let mut p = Program::new(vec![0.0; 5], span(1, 3), 2, vec![]).unwrap();
        assert_eq!(p.run(&[1.0, 2.0, 3.0]), Some(2.0));
        // A slice of the input feeds a sum.
        let instrs = vec![Instr::Sum {
            x: span(2, 2),
            out: span(4, 1),
        }];
        let mut p = Program::new(vec![0.0; 5], span(1, 3), 4, instrs).unwrap();
        assert_eq!(p.run(&[1.0, 2.0, 3.0]), Some(5.0));
        // A read that reaches past the input is refused.
        let instrs = vec![Instr::Sum {
            x: span(2, 3),
            out: span(5, 1),
        }];
        assert!(matches!(
            Program::new(vec![0.0; 6], span(1, 3), 5, instrs),
            Err(ProgramError::Overlap { .. })
        ));
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
            shift: Box::new([]),
            act: None,
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
