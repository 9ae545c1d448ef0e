//! Lowering an ONNX graph to the native row [`Program`]: every runtime
//! tensor is one row (batch fixed at 1), every weight a constant copied into
//! the program.
//!
//! Cold path (start-up only). A graph that uses an op or a shape this file
//! does not handle is [`NotLowered`], and the model runs through tract
//! instead; correctness of what is lowered is checked against tract at load
//! (`onnx.rs`), so this file may be conservative but never approximate.
//!
//! Supported: MatMul (row × constant matrix or vector), Gemm (constant B and
//! C; transA only for a one-row A), Add/Sub/Mul/Div (equal lengths, or one
//! side a single element, after numpy broadcasting), Relu, LeakyRelu,
//! Sigmoid, Tanh, Abs, Neg, Exp, Log, Softmax over a row, Identity, Cast to
//! float, Reshape/Flatten/Squeeze/Unsqueeze, Concat and Slice where the
//! result is contiguous, ReduceSum to one value (axes as input or
//! attribute), Constant. Nodes that do not feed the output are skipped.
#![allow(clippy::disallowed_macros)]

use std::collections::{HashMap, HashSet};

use tract_onnx::data_resolver::MmapDataResolver;
use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, GraphProto, NodeProto};
use tract_onnx::prelude::{DatumType, Tensor};

use super::program::{Binary, Instr, Pairing, Program, Span, Unary};

/// Why a graph stays on tract: the first node the lowering cannot handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node `{node}` ({op}): {why}")]
pub struct NotLowered {
    /// The node's name (its first output when unnamed).
    pub node: String,
    pub op: String,
    pub why: String,
}

/// The graph's single float input and single output.
pub struct Endpoints<'a> {
    pub input: &'a str,
    pub n_features: usize,
    pub output: &'a str,
}

/// Compiles `graph` (default-domain opset `opset`) into a [`Program`].
/// `model_dir` resolves external tensor data, as tract does.
pub fn lower(
    graph: &GraphProto,
    opset: i64,
    ends: &Endpoints<'_>,
    model_dir: Option<&str>,
) -> Result<Program, NotLowered> {
    let mut c = Compiler {
        opset,
        arena: Vec::new(),
        instrs: Vec::new(),
        values: HashMap::new(),
    };
    let input = c.alloc(ends.n_features);
    c.values.insert(
        ends.input.to_owned(),
        Val::Row {
            span: input,
            shape: vec![1, ends.n_features],
        },
    );
    for init in &graph.initializer {
        if init.name == ends.input {
            continue;
        }
        let tensor =
            tract_onnx::tensor::load_tensor(&MmapDataResolver, init, model_dir).map_err(|e| {
                NotLowered {
                    node: init.name.clone(),
                    op: "initializer".into(),
                    why: format!("cannot read the tensor: {e}"),
                }
            })?;
        c.values.insert(init.name.clone(), Val::Const(tensor, None));
    }
    for node in needed_nodes(graph, ends.output) {
        c.node(node, model_dir).map_err(|why| NotLowered {
            node: node_name(node).to_owned(),
            op: node.op_type.clone(),
            why,
        })?;
    }
    let output = c.output(ends.output).map_err(|why| NotLowered {
        node: ends.output.to_owned(),
        op: "output".into(),
        why,
    })?;
    let instrs = fuse(c.instrs, &c.arena, input, output);
    Program::new(c.arena, input, output, instrs).map_err(|e| NotLowered {
        node: ends.output.to_owned(),
        op: "program".into(),
        why: e.to_string(),
    })
}

/// Folds the elementwise steps around each MatVec into it (see
/// [`Instr::MatVec`]): a Sub, Add or Div/Mul of a constant right before it
/// (a StandardScaler), an Add of a constant and an elementwise op right
/// after it (bias, activation). Each folded step must be the MatVec's
/// neighbour in the program and its intermediate value read by nothing
/// else. All but the Div/Mul are the same f32 operations in the same
/// order; the Div/Mul is folded into the weights, rounded once from f64,
/// and only when every factor is finite and non-zero and no weight
/// overflows or underflows to zero. [`Program::new`]
/// checks the result and the load-time cross-check compares it with
/// tract.
fn fuse(mut instrs: Vec<Instr>, arena: &[f32], input: Span, output: usize) -> Vec<Instr> {
    let written: Vec<Span> = instrs.iter().map(Instr::out).collect();
    let constant = |s: Span| -> Option<&[f32]> {
        let free = |w: &Span| s.end() <= w.start || w.end() <= s.start;
        (free(&input) && written.iter().all(free))
            .then(|| arena.get(s.start..s.end()))
            .flatten()
    };
    let mut k = 0;
    while k < instrs.len() {
        if !matches!(instrs[k], Instr::MatVec { .. }) {
            k += 1;
            continue;
        }
        // Leading steps: each removal moves the MatVec one place down.
        while k > 0 && fold_before(&mut instrs, k, &constant, output) {
            k -= 1;
        }
        while fold_after(&mut instrs, k, &constant, output) {}
        k += 1;
    }
    instrs
}

/// Readers of `s` among `instrs`, and whether it holds the output.
fn readers(instrs: &[Instr], s: Span, output: usize) -> usize {
    let overlaps = |r: &Span| r.start < s.end() && s.start < r.end();
    let held = usize::from(s.start <= output && output < s.end());
    held + instrs
        .iter()
        .filter(|i| i.reads().iter().any(overlaps))
        .count()
}

/// `b` broadcast to `len` elements (a single element repeated).
fn spread(b: &[f32], len: usize) -> Option<Vec<f32>> {
    match b.len() {
        n if n == len => Some(b.to_vec()),
        1 => Some(vec![b[0]; len]),
        _ => None,
    }
}

/// A Div or Mul by a constant, folded into the weights of one input.
#[derive(Clone, Copy)]
enum Factor {
    Div(f64),
    Mul(f64),
}

impl Factor {
    /// Finite and non-zero: folding keeps every weight meaningful.
    fn usable(self) -> bool {
        let (Factor::Div(v) | Factor::Mul(v)) = self;
        v.is_finite() && v != 0.0
    }

    /// `w / d` or `w · s`, in f64, rounded once to f32.
    fn apply(self, w: f32) -> f32 {
        match self {
            Factor::Div(d) => (f64::from(w) / d) as f32,
            Factor::Mul(s) => (f64::from(w) * s) as f32,
        }
    }
}

/// Folds `instrs[k - 1]` into the MatVec `instrs[k]` when it is an
/// elementwise step with a constant that produces the MatVec's input.
fn fold_before<'a>(
    instrs: &mut Vec<Instr>,
    k: usize,
    constant: &impl Fn(Span) -> Option<&'a [f32]>,
    output: usize,
) -> bool {
    let (Some(prev), Some(Instr::MatVec { x, w, shift, .. })) = (instrs.get(k - 1), instrs.get(k))
    else {
        return false;
    };
    let Instr::Binary {
        op, a, b, out: mid, ..
    } = prev
    else {
        return false;
    };
    if *mid != *x || readers(instrs, *mid, output) != 1 {
        return false;
    }
    let k_in = x.len;
    let n = w.len().checked_div(k_in).unwrap_or(0);
    // (row operand, new shift, weight factor per input row)
    let (row, new_shift, factor): (Span, Option<Vec<f32>>, Option<Vec<Factor>>) =
        match (op, constant(*a), constant(*b)) {
            // Only one shift, applied before any scaling.
            (Binary::Sub, None, Some(m)) if shift.is_empty() => (*a, spread(m, k_in), None),
            (Binary::Add, None, Some(c)) if shift.is_empty() => (
                *a,
                spread(c, k_in).map(|c| c.iter().map(|v| -v).collect()),
                None,
            ),
            (Binary::Add, Some(c), None) if shift.is_empty() => (
                *b,
                spread(c, k_in).map(|c| c.iter().map(|v| -v).collect()),
                None,
            ),
            // m - x = (x - m)·(-1): the negation is exact.
            (Binary::Sub, Some(m), None) if shift.is_empty() => {
                (*b, spread(m, k_in), Some(vec![Factor::Mul(-1.0); k_in]))
            }
            (Binary::Div, None, Some(d)) if shift.is_empty() => (
                *a,
                None,
                spread(d, k_in).map(|d| d.iter().map(|&v| Factor::Div(f64::from(v))).collect()),
            ),
            (Binary::Mul, None, Some(s)) | (Binary::Mul, Some(s), None) if shift.is_empty() => {
                let row = if constant(*a).is_some() { *b } else { *a };
                (
                    row,
                    None,
                    spread(s, k_in).map(|s| s.iter().map(|&v| Factor::Mul(f64::from(v))).collect()),
                )
            }
            _ => return false,
        };
    if row.len != k_in {
        return false;
    }
    let scaled: Option<Vec<f32>> = match &factor {
        None => Some(w.to_vec()),
        Some(f) => {
            let ok = f.len() == k_in && f.iter().all(|v| v.usable());
            let w2: Vec<f32> = w
                .iter()
                .enumerate()
                .map(|(ij, &wij)| {
                    let i = ij.checked_div(n).unwrap_or(0);
                    f.get(i).map_or(f32::NAN, |v| v.apply(wij))
                })
                .collect();
            // No weight may overflow, or underflow to zero, in the fold.
            let kept = |(v, o): (&f32, &f32)| {
                (v.is_finite() || !o.is_finite()) && (*v != 0.0 || *o == 0.0)
            };
            (ok && w2.iter().zip(w.iter()).all(kept)).then_some(w2)
        }
    };
    let Some(scaled) = scaled else {
        return false;
    };
    if factor.is_none() && new_shift.is_none() {
        return false;
    }
    if let Some(Instr::MatVec { x, w, shift, .. }) = instrs.get_mut(k) {
        *x = row;
        *w = scaled.into();
        if let Some(m) = new_shift {
            *shift = m.into();
        }
    }
    instrs.remove(k - 1);
    true
}

/// Folds `instrs[k + 1]` into the MatVec `instrs[k]` when it adds a
/// constant (into an empty bias) or applies an elementwise op (into an
/// empty activation) to the MatVec's result.
fn fold_after<'a>(
    instrs: &mut Vec<Instr>,
    k: usize,
    constant: &impl Fn(Span) -> Option<&'a [f32]>,
    output: usize,
) -> bool {
    let (Some(Instr::MatVec { out, bias, act, .. }), Some(next)) =
        (instrs.get(k), instrs.get(k + 1))
    else {
        return false;
    };
    let s = *out;
    if readers(instrs, s, output) != 1 {
        return false;
    }
    let (new_out, new_bias, new_act) = match next {
        Instr::Binary {
            op: Binary::Add,
            a,
            b,
            out,
            ..
        } if bias.is_empty() && act.is_none() && out.len == s.len => {
            let c = match (constant(*a), constant(*b)) {
                (None, Some(c)) if *a == s => c,
                (Some(c), None) if *b == s => c,
                _ => return false,
            };
            let Some(c) = spread(c, s.len) else {
                return false;
            };
            (*out, Some(c), None)
        }
        Instr::Unary { op, x, out } if act.is_none() && *x == s => (*out, None, Some(*op)),
        _ => return false,
    };
    if let Some(Instr::MatVec { out, bias, act, .. }) = instrs.get_mut(k) {
        *out = new_out;
        if let Some(c) = new_bias {
            *bias = c.into();
        }
        if new_act.is_some() {
            *act = new_act;
        }
    }
    instrs.remove(k + 1);
    true
}

/// A node's name for messages: its name, else its first output.
pub fn node_name(node: &NodeProto) -> &str {
    if node.name.is_empty() {
        node.output.first().map_or("?", String::as_str)
    } else {
        &node.name
    }
}

/// The nodes `output` depends on, in graph order.
fn needed_nodes<'g>(graph: &'g GraphProto, output: &str) -> Vec<&'g NodeProto> {
    let mut wanted: HashSet<&str> = HashSet::from([output]);
    let mut keep = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| wanted.contains(o.as_str())) {
            keep[i] = true;
            wanted.extend(node.input.iter().map(String::as_str));
        }
    }
    graph
        .node
        .iter()
        .zip(keep)
        .filter_map(|(n, k)| k.then_some(n))
        .collect()
}

/// A value during compilation.
#[derive(Debug, Clone)]
enum Val {
    /// f32 elements in the arena, with their logical shape.
    Row { span: Span, shape: Vec<usize> },
    /// A constant; the span once it has been copied into the arena.
    Const(Tensor, Option<Span>),
}

type Res<T> = Result<T, String>;

struct Compiler {
    opset: i64,
    arena: Vec<f32>,
    instrs: Vec<Instr>,
    values: HashMap<String, Val>,
}

impl Compiler {
    fn alloc(&mut self, len: usize) -> Span {
        let start = self.arena.len();
        self.arena.resize(start + len, 0.0);
        Span { start, len }
    }

    fn val(&self, name: &str) -> Res<&Val> {
        if name.is_empty() {
            return Err("an optional input is left empty".into());
        }
        self.values
            .get(name)
            .ok_or_else(|| format!("input `{name}` is not defined before this node"))
    }

    /// The value as f32 elements in the arena (a constant is copied in once).
    fn row(&mut self, name: &str) -> Res<(Span, Vec<usize>)> {
        match self.val(name)?.clone() {
            Val::Row { span, shape } => Ok((span, shape)),
            Val::Const(t, Some(span)) => Ok((span, t.shape().to_vec())),
            Val::Const(t, None) => {
                let data = f32_data(&t, name)?;
                if data.is_empty() {
                    return Err(format!("constant `{name}` is empty"));
                }
                let span = self.alloc(data.len());
                self.arena[span.start..span.end()].copy_from_slice(data);
                self.values
                    .insert(name.to_owned(), Val::Const(t.clone(), Some(span)));
                Ok((span, t.shape().to_vec()))
            }
        }
    }

    /// The value as a constant tensor.
    fn constant(&self, name: &str, what: &str) -> Res<Tensor> {
        match self.val(name)? {
            Val::Const(t, _) => Ok(t.clone()),
            Val::Row { .. } => Err(format!("{what} `{name}` is computed, not a constant")),
        }
    }

    fn ints(&self, name: &str, what: &str) -> Res<Vec<i64>> {
        let t = self.constant(name, what)?;
        if !t.datum_type().is_integer() {
            return Err(format!("{what} `{name}` is not an integer tensor"));
        }
        let t = t.cast_to::<i64>().map_err(|e| e.to_string())?;
        Ok(t.as_slice::<i64>().map_err(|e| e.to_string())?.to_vec())
    }

    fn define(&mut self, node: &NodeProto, val: Val) -> Res<()> {
        let out = single_output(node)?;
        if self.values.contains_key(out) {
            return Err(format!("output `{out}` is defined twice"));
        }
        self.values.insert(out.to_owned(), val);
        Ok(())
    }

    /// A fresh row of `len` elements for the node's output.
    fn emit(
        &mut self,
        node: &NodeProto,
        shape: Vec<usize>,
        make: impl FnOnce(Span) -> Instr,
    ) -> Res<()> {
        let len = numel(&shape);
        if len == 0 {
            return Err("the result is empty".into());
        }
        let span = self.alloc(len);
        self.instrs.push(make(span));
        self.define(node, Val::Row { span, shape })
    }

    /// Defines the node's output as `name`'s elements with a new shape.
    fn alias(&mut self, node: &NodeProto, name: &str, shape: Vec<usize>) -> Res<()> {
        let val = match self.val(name)?.clone() {
            Val::Row { span, shape: old } => {
                if numel(&old) != numel(&shape) {
                    return Err(format!("cannot reshape {old:?} to {shape:?}"));
                }
                Val::Row { span, shape }
            }
            Val::Const(t, _) => Val::Const(t.into_shape(&shape).map_err(|e| e.to_string())?, None),
        };
        self.define(node, val)
    }

    fn shape(&self, name: &str) -> Res<Vec<usize>> {
        Ok(match self.val(name)? {
            Val::Row { shape, .. } => shape.clone(),
            Val::Const(t, _) => t.shape().to_vec(),
        })
    }

    fn output(&mut self, name: &str) -> Res<usize> {
        let (span, shape) = self.row(name)?;
        if span.len != 1 {
            return Err(format!("the output has shape {shape:?}, not one value"));
        }
        Ok(span.start)
    }

    fn node(&mut self, node: &NodeProto, model_dir: Option<&str>) -> Res<()> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(format!("domain `{}` is not lowered", node.domain));
        }
        single_output(node)?;
        let input = |i: usize| -> Res<&str> {
            node.input
                .get(i)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("input {i} is missing"))
        };
        match node.op_type.as_str() {
            "MatMul" => self.matmul(node, input(0)?, input(1)?),
            "Gemm" => self.gemm(node),
            "Add" => self.binary(node, Binary::Add, input(0)?, input(1)?),
            "Sub" => self.binary(node, Binary::Sub, input(0)?, input(1)?),
            "Mul" => self.binary(node, Binary::Mul, input(0)?, input(1)?),
            "Div" => self.binary(node, Binary::Div, input(0)?, input(1)?),
            "Relu" => self.unary(node, Unary::Relu, input(0)?),
            "LeakyRelu" => {
                let alpha = attr_f32(node, "alpha")?.unwrap_or(0.01);
                self.unary(node, Unary::LeakyRelu { alpha }, input(0)?)
            }
            "Sigmoid" => self.unary(node, Unary::Sigmoid, input(0)?),
            "Tanh" => self.unary(node, Unary::Tanh, input(0)?),
            "Abs" => self.unary(node, Unary::Abs, input(0)?),
            "Neg" => self.unary(node, Unary::Neg, input(0)?),
            "Exp" => self.unary(node, Unary::Exp, input(0)?),
            "Log" => self.unary(node, Unary::Log, input(0)?),
            "Softmax" => self.softmax(node, input(0)?),
            "Identity" => {
                let x = input(0)?;
                let shape = self.shape(x)?;
                self.alias(node, x, shape)
            }
            "Cast" => self.cast(node, input(0)?),
            "Reshape" => self.reshape(node, input(0)?),
            "Flatten" => self.flatten(node, input(0)?),
            "Squeeze" => self.squeeze(node, input(0)?),
            "Unsqueeze" => self.unsqueeze(node, input(0)?),
            "Concat" => self.concat(node),
            "Slice" => self.slice(node, input(0)?),
            "ReduceSum" => self.reduce_sum(node, input(0)?),
            "Constant" => self.constant_node(node, model_dir),
            _ => Err("this op is not lowered".into()),
        }
    }

    fn matmul(&mut self, node: &NodeProto, a: &str, b: &str) -> Res<()> {
        let (x, a_shape) = self.row(a)?;
        let w = self.constant(b, "the right operand")?;
        let w_shape = w.shape().to_vec();
        let w_data = f32_data(&w, b)?.to_vec();
        if a_shape.is_empty() || !is_row(&a_shape) {
            return Err(format!(
                "the left operand has shape {a_shape:?}, not one row"
            ));
        }
        let k = x.len;
        let (n, mut shape) = match w_shape.as_slice() {
            [rows] if *rows == k => (1, a_shape[..a_shape.len() - 1].to_vec()),
            [rows, n] if *rows == k => {
                let mut s = a_shape[..a_shape.len() - 1].to_vec();
                s.push(*n);
                (*n, s)
            }
            _ => {
                return Err(format!(
                    "cannot multiply {a_shape:?} by a constant {w_shape:?}"
                ))
            }
        };
        if a_shape.len() == 1 && w_shape.len() == 2 {
            // [k] × [k, n] → [n]
            shape = vec![n];
        }
        self.emit(node, shape, |out| Instr::MatVec {
            x,
            out,
            w: w_data.into(),
            alpha: None,
            bias: Box::new([]),
            shift: Box::new([]),
            act: None,
        })
    }

    fn gemm(&mut self, node: &NodeProto) -> Res<()> {
        let alpha = attr_f32(node, "alpha")?.unwrap_or(1.0);
        let beta = attr_f32(node, "beta")?.unwrap_or(1.0);
        let trans_a = attr_int(node, "transA")?.unwrap_or(0) != 0;
        let trans_b = attr_int(node, "transB")?.unwrap_or(0) != 0;
        let a = node.input.first().map_or("", String::as_str);
        let b = node.input.get(1).map_or("", String::as_str);
        let (x, a_shape) = self.row(a)?;
        // A is [M, K] (or [K, M] with transA); M must be 1, so that A's
        // elements are the row whichever way it is stored.
        let k = match (a_shape.as_slice(), trans_a) {
            ([1, k], false) | ([k, 1], true) => *k,
            _ => {
                return Err(format!(
                    "A has shape {a_shape:?} (transA={trans_a}), not one row"
                ))
            }
        };
        let w = self.constant(b, "B")?;
        let w_data = f32_data(&w, b)?;
        let n = match (w.shape(), trans_b) {
            ([rows, n], false) if *rows == k => *n,
            ([n, cols], true) if *cols == k => *n,
            (s, _) => return Err(format!("B has shape {s:?}, A has {k} columns")),
        };
        // Stored row-major [k × n] for the output-major inner loop.
        let weights: Vec<f32> = if trans_b {
            (0..k * n).map(|ij| w_data[(ij % n) * k + ij / n]).collect()
        } else {
            w_data.to_vec()
        };
        let bias: Vec<f32> = match node.input.get(2).filter(|s| !s.is_empty()) {
            None => Vec::new(),
            Some(c) => {
                let t = self.constant(c, "C")?;
                let data = f32_data(&t, c)?;
                let per_column = match t.shape() {
                    [] | [1] | [1, 1] => false,
                    [m] | [1, m] if *m == n => true,
                    s => return Err(format!("C has shape {s:?}, not broadcastable to [1, {n}]")),
                };
                (0..n)
                    .map(|j| {
                        let c = if per_column { data[j] } else { data[0] };
                        if beta == 1.0 {
                            c
                        } else {
                            beta * c
                        }
                    })
                    .collect()
            }
        };
        self.emit(node, vec![1, n], |out| Instr::MatVec {
            x,
            out,
            w: weights.into(),
            alpha: (alpha != 1.0).then_some(alpha),
            bias: bias.into(),
            shift: Box::new([]),
            act: None,
        })
    }

    fn binary(&mut self, node: &NodeProto, op: Binary, a: &str, b: &str) -> Res<()> {
        let (a, a_shape) = self.row(a)?;
        let (b, b_shape) = self.row(b)?;
        let shape = broadcast(&a_shape, &b_shape)
            .ok_or_else(|| format!("shapes {a_shape:?} and {b_shape:?} do not broadcast"))?;
        let len = numel(&shape);
        let pairing = if a.len == len && b.len == len {
            Pairing::Same
        } else if a.len == 1 && b.len == len {
            Pairing::ScalarA
        } else if b.len == 1 && a.len == len {
            Pairing::ScalarB
        } else {
            return Err(format!(
                "broadcasting {a_shape:?} with {b_shape:?} repeats a row (only equal lengths or \
                 one single element are lowered)"
            ));
        };
        self.emit(node, shape, |out| Instr::Binary {
            op,
            pairing,
            a,
            b,
            out,
        })
    }

    fn unary(&mut self, node: &NodeProto, op: Unary, x: &str) -> Res<()> {
        let (x, shape) = self.row(x)?;
        self.emit(node, shape, |out| Instr::Unary { op, x, out })
    }

    fn softmax(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let (x, shape) = self.row(x)?;
        let rank = shape.len();
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = norm_axis(attr_int(node, "axis")?.unwrap_or(default), rank)?;
        // Opset 13 normalises along `axis`; older opsets over the flattened
        // block from `axis` on. Either is one softmax over every element
        // when the other dimensions (resp. those before `axis`) are all 1.
        let one_block = if self.opset >= 13 {
            shape.iter().enumerate().all(|(i, &d)| i == axis || d == 1)
        } else {
            shape[..axis].iter().all(|&d| d == 1)
        };
        if !one_block {
            return Err(format!(
                "softmax over axis {axis} of {shape:?} is not over one row"
            ));
        }
        self.emit(node, shape, |out| Instr::Softmax { x, out })
    }

    fn cast(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let to = attr_int(node, "to")?.ok_or("the `to` attribute is missing")?;
        match self.val(x)?.clone() {
            // Every computed value is f32 already.
            Val::Row { shape, .. } if to == FLOAT => self.alias(node, x, shape),
            Val::Const(t, _) => {
                let dt = match to {
                    FLOAT => DatumType::F32,
                    INT64 => DatumType::I64,
                    _ => return Err(format!("cast to ONNX type {to} is not lowered")),
                };
                let cast = t.cast_to_dt(dt).map_err(|e| e.to_string())?.into_owned();
                self.define(node, Val::Const(cast, None))
            }
            Val::Row { .. } => Err(format!(
                "cast of a float row to ONNX type {to} is not lowered"
            )),
        }
    }

    fn reshape(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let spec = match node.input.get(1).filter(|s| !s.is_empty()) {
            Some(s) => self.ints(s, "the shape")?,
            None => attr_ints(node, "shape")?.ok_or("no shape input")?.to_vec(),
        };
        let allow_zero = attr_int(node, "allowzero")?.unwrap_or(0) != 0;
        let mut shape = Vec::with_capacity(spec.len());
        let mut infer = None;
        for (i, &d) in spec.iter().enumerate() {
            shape.push(match d {
                0 if !allow_zero => *old.get(i).ok_or("shape 0 copies a missing dimension")?,
                -1 if infer.is_none() => {
                    infer = Some(i);
                    1
                }
                d if d >= 0 => d as usize,
                _ => return Err(format!("shape {spec:?} is not valid")),
            });
        }
        if let Some(i) = infer {
            let known = numel(&shape);
            if known == 0 || !numel(&old).is_multiple_of(known) {
                return Err(format!("cannot reshape {old:?} to {spec:?}"));
            }
            shape[i] = numel(&old) / known;
        }
        self.alias(node, x, shape)
    }

    fn flatten(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let axis = attr_int(node, "axis")?.unwrap_or(1);
        // Flatten's axis may equal the rank.
        let axis = norm_axis(axis, old.len() + 1)?;
        let shape = vec![numel(&old[..axis]), numel(&old[axis..])];
        self.alias(node, x, shape)
    }

    /// Squeeze/Unsqueeze axes: an input from opset 13, an attribute before.
    fn axes(&self, node: &NodeProto) -> Res<Option<Vec<i64>>> {
        if self.opset >= 13 {
            match node.input.get(1).filter(|s| !s.is_empty()) {
                Some(s) => Ok(Some(self.ints(s, "axes")?)),
                None => Ok(None),
            }
        } else {
            Ok(attr_ints(node, "axes")?.map(<[i64]>::to_vec))
        }
    }

    fn squeeze(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let shape = match self.axes(node)? {
            None => old.iter().copied().filter(|&d| d != 1).collect(),
            Some(axes) => {
                let axes = axes
                    .iter()
                    .map(|&a| norm_axis(a, old.len()))
                    .collect::<Res<HashSet<usize>>>()?;
                if axes.iter().any(|&a| old[a] != 1) {
                    return Err(format!("cannot squeeze axes {axes:?} of {old:?}"));
                }
                old.iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect()
            }
        };
        self.alias(node, x, shape)
    }

    fn unsqueeze(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let axes = self.axes(node)?.ok_or("the axes are missing")?;
        let rank = old.len() + axes.len();
        let axes = axes
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Res<HashSet<usize>>>()?;
        if axes.len() + old.len() != rank {
            return Err("repeated axes".into());
        }
        let mut rest = old.iter();
        let shape = (0..rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    rest.next().copied().unwrap_or(1)
                }
            })
            .collect();
        self.alias(node, x, shape)
    }

    fn concat(&mut self, node: &NodeProto) -> Res<()> {
        let names: Vec<&str> = node.input.iter().map(String::as_str).collect();
        if names.is_empty() || names.iter().any(|n| n.is_empty()) {
            return Err("no inputs, or an empty one".into());
        }
        let mut parts = Vec::with_capacity(names.len());
        let mut shapes = Vec::with_capacity(names.len());
        for name in &names {
            let (span, shape) = self.row(name)?;
            parts.push(span);
            shapes.push(shape);
        }
        let first = shapes[0].clone();
        let axis = norm_axis(
            attr_int(node, "axis")?.ok_or("the axis is missing")?,
            first.len(),
        )?;
        for s in &shapes {
            let same_rank = s.len() == first.len();
            if !same_rank
                || s.iter()
                    .zip(&first)
                    .enumerate()
                    .any(|(i, (a, b))| i != axis && a != b)
            {
                return Err(format!(
                    "inputs {shapes:?} do not concatenate on axis {axis}"
                ));
            }
        }
        // Contiguous parts one after the other iff nothing precedes `axis`.
        if numel(&first[..axis]) != 1 {
            return Err(format!(
                "concatenating {shapes:?} on axis {axis} interleaves rows"
            ));
        }
        let mut shape = first;
        shape[axis] = shapes.iter().map(|s| s[axis]).sum();
        self.emit(node, shape, |out| Instr::Concat {
            parts: parts.into(),
            out,
        })
    }

    fn slice(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let rank = old.len();
        let optional = |i: usize| node.input.get(i).filter(|s| !s.is_empty());
        let (starts, ends, axes, steps) = if self.opset >= 10 {
            let get = |i: usize, what: &str| -> Res<Option<Vec<i64>>> {
                optional(i).map(|s| self.ints(s, what)).transpose()
            };
            (
                get(1, "starts")?.ok_or("starts are missing")?,
                get(2, "ends")?.ok_or("ends are missing")?,
                get(3, "axes")?,
                get(4, "steps")?,
            )
        } else {
            let get = |name: &str| -> Res<Option<Vec<i64>>> {
                Ok(attr_ints(node, name)?.map(<[i64]>::to_vec))
            };
            (
                get("starts")?.ok_or("starts are missing")?,
                get("ends")?.ok_or("ends are missing")?,
                get("axes")?,
                None,
            )
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        if starts.len() != axes.len() || ends.len() != axes.len() {
            return Err("starts, ends and axes differ in length".into());
        }
        if steps.iter().flatten().any(|&s| s != 1) {
            return Err("steps other than 1 are not lowered".into());
        }
        let mut range: Vec<(usize, usize)> = old.iter().map(|&d| (0, d)).collect();
        for ((&a, &s), &e) in axes.iter().zip(&starts).zip(&ends) {
            let a = norm_axis(a, rank)?;
            let d = old[a] as i64;
            let clamp = |v: i64| (if v < 0 { v.saturating_add(d) } else { v }).clamp(0, d) as usize;
            range[a] = (clamp(s), clamp(e).max(clamp(s)));
        }
        let shape: Vec<usize> = range.iter().map(|(s, e)| e - s).collect();
        if numel(&shape) == 0 {
            return Err("the slice is empty".into());
        }
        // Contiguous iff every axis before the last partial one keeps a
        // single index.
        let last_partial = range
            .iter()
            .zip(&old)
            .rposition(|(&(s, e), &d)| (s, e) != (0, d));
        let Some(p) = last_partial else {
            return self.alias(node, x, shape);
        };
        if shape[..p].iter().any(|&d| d != 1) {
            return Err(format!("slicing {old:?} to {shape:?} is not contiguous"));
        }
        let mut offset = 0;
        let mut stride = 1;
        for (a, &d) in old.iter().enumerate().rev() {
            offset += range[a].0 * stride;
            stride *= d;
        }
        let (span, _) = self.row(x)?;
        let span = Span {
            start: span.start + offset,
            len: numel(&shape),
        };
        self.define(node, Val::Row { span, shape })
    }

    fn reduce_sum(&mut self, node: &NodeProto, x: &str) -> Res<()> {
        let old = self.shape(x)?;
        let keep = attr_int(node, "keepdims")?.unwrap_or(1) != 0;
        let axes = if self.opset >= 13 {
            match node.input.get(1).filter(|s| !s.is_empty()) {
                Some(s) => self.ints(s, "axes")?,
                None => Vec::new(),
            }
        } else {
            attr_ints(node, "axes")?
                .map(<[i64]>::to_vec)
                .unwrap_or_default()
        };
        let noop = self.opset >= 13 && attr_int(node, "noop_with_empty_axes")?.unwrap_or(0) != 0;
        if axes.is_empty() && noop {
            return self.alias(node, x, old);
        }
        let axes: HashSet<usize> = if axes.is_empty() {
            (0..old.len()).collect()
        } else {
            axes.iter()
                .map(|&a| norm_axis(a, old.len()))
                .collect::<Res<_>>()?
        };
        let shape: Vec<usize> = old
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
                (true, true) => Some(1),
                (true, false) => None,
                (false, _) => Some(d),
            })
            .collect();
        if numel(&shape) == numel(&old) {
            // Only axes of length 1 were reduced.
            return self.alias(node, x, shape);
        }
        if numel(&shape) != 1 {
            return Err(format!(
                "reducing {old:?} over {axes:?} leaves more than one value"
            ));
        }
        let (x, _) = self.row(x)?;
        self.emit(node, shape, |out| Instr::Sum { x, out })
    }

    fn constant_node(&mut self, node: &NodeProto, model_dir: Option<&str>) -> Res<()> {
        let [attr] = node.attribute.as_slice() else {
            return Err("a Constant needs exactly one attribute".into());
        };
        let tensor = match (attr.name.as_str(), &attr.t) {
            ("value", Some(t)) => tract_onnx::tensor::load_tensor(&MmapDataResolver, t, model_dir)
                .map_err(|e| format!("cannot read the tensor: {e}"))?,
            ("value_float", _) => Tensor::from(attr.f),
            ("value_floats", _) => {
                Tensor::from_shape(&[attr.floats.len()], &attr.floats).map_err(|e| e.to_string())?
            }
            ("value_int", _) => Tensor::from(attr.i),
            ("value_ints", _) => {
                Tensor::from_shape(&[attr.ints.len()], &attr.ints).map_err(|e| e.to_string())?
            }
            (name, _) => return Err(format!("attribute `{name}` is not lowered")),
        };
        self.define(node, Val::Const(tensor, None))
    }
}

/// ONNX `TensorProto.DataType` codes used by Cast.
const FLOAT: i64 = 1;
const INT64: i64 = 7;

fn single_output(node: &NodeProto) -> Res<&str> {
    match node.output.as_slice() {
        [out] if !out.is_empty() => Ok(out),
        _ => Err(format!("{} outputs (one is lowered)", node.output.len())),
    }
}

fn f32_data<'t>(t: &'t Tensor, name: &str) -> Res<&'t [f32]> {
    if t.datum_type() != DatumType::F32 {
        return Err(format!(
            "constant `{name}` is {:?}, not float",
            t.datum_type()
        ));
    }
    t.as_slice::<f32>().map_err(|e| e.to_string())
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_typed<'n>(
    node: &'n NodeProto,
    name: &str,
    ty: AttributeType,
) -> Res<Option<&'n AttributeProto>> {
    match attr(node, name) {
        None => Ok(None),
        Some(a) if a.r#type == ty as i32 => Ok(Some(a)),
        Some(a) if !a.ref_attr_name.is_empty() => {
            Err(format!("attribute `{name}` refers to a function attribute"))
        }
        Some(_) => Err(format!("attribute `{name}` has an unexpected type")),
    }
}

fn attr_int(node: &NodeProto, name: &str) -> Res<Option<i64>> {
    Ok(attr_typed(node, name, AttributeType::Int)?.map(|a| a.i))
}

fn attr_f32(node: &NodeProto, name: &str) -> Res<Option<f32>> {
    Ok(attr_typed(node, name, AttributeType::Float)?.map(|a| a.f))
}

fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Res<Option<&'n [i64]>> {
    Ok(attr_typed(node, name, AttributeType::Ints)?.map(|a| a.ints.as_slice()))
}

/// Element count (saturating: a huge declared shape never overflows).
fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// All dimensions but the last are 1 (a scalar counts as one element).
fn is_row(shape: &[usize]) -> bool {
    shape.iter().rev().skip(1).all(|&d| d == 1)
}

/// `axis` in `[-rank, rank)` as an index.
fn norm_axis(axis: i64, rank: usize) -> Res<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Numpy (multidirectional) broadcasting.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SplitMix;

    fn span(start: usize, len: usize) -> Span {
        Span { start, len }
    }

    fn matvec(x: Span, out: Span, w: Vec<f32>) -> Instr {
        Instr::MatVec {
            x,
            out,
            w: w.into(),
            alpha: None,
            bias: Box::new([]),
            shift: Box::new([]),
            act: None,
        }
    }

    fn binary(op: Binary, a: Span, b: Span, out: Span) -> Instr {
        let pairing = if a.len == b.len {
            Pairing::Same
        } else if a.len == 1 {
            Pairing::ScalarA
        } else {
            Pairing::ScalarB
        };
        Instr::Binary {
            op,
            pairing,
            a,
            b,
            out,
        }
    }

    /// Builds the program unfused and fused; both must run every row to
    /// within the cross-check tolerance. Returns the fused instructions.
    fn agree(arena: &[f32], input: Span, output: usize, instrs: Vec<Instr>) -> Vec<Instr> {
        let fused = fuse(instrs.clone(), arena, input, output);
        let mut plain = Program::new(arena.to_vec(), input, output, instrs).unwrap();
        let mut fast = Program::new(arena.to_vec(), input, output, fused.clone()).unwrap();
        let mut rng = SplitMix::new(3);
        for _ in 0..50 {
            let row: Vec<f32> = (0..input.len).map(|_| (rng.unit() * 4.0) as f32).collect();
            let (a, b) = (plain.run(&row).unwrap(), fast.run(&row).unwrap());
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "{row:?}: {a} unfused, {b} fused"
            );
        }
        fused
    }

    /// `k` random weights.
    fn weights(rng: &mut SplitMix, k: usize) -> Vec<f32> {
        (0..k).map(|_| rng.unit() as f32).collect()
    }

    #[test]
    fn a_scaler_and_an_mlp_fold_into_two_products() {
        // x[4] → (x - m) / d → ·W1[4×3] + b1 → relu → ·W2[3×1] + c
        let mut rng = SplitMix::new(1);
        let mut arena = vec![0.0f32; 4];
        let m = span(4, 4);
        let d = span(8, 4);
        let b1 = span(12, 3);
        let c = span(15, 1);
        arena.extend([0.5, -1.0, 2.0, 0.0]); // m
        arena.extend([2.0, 0.25, 3.0, 1.5]); // d
        arena.extend([0.1, -0.2, 0.3]); // b1
        arena.push(0.05); // c
        let at = arena.len();
        let (s, q, h, hb, r, y, yb) = (
            span(at, 4),
            span(at + 4, 4),
            span(at + 8, 3),
            span(at + 11, 3),
            span(at + 14, 3),
            span(at + 17, 1),
            span(at + 18, 1),
        );
        arena.resize(at + 19, 0.0);
        let instrs = vec![
            binary(Binary::Sub, span(0, 4), m, s),
            binary(Binary::Div, s, d, q),
            matvec(q, h, weights(&mut rng, 12)),
            binary(Binary::Add, h, b1, hb),
            Instr::Unary {
                op: Unary::Relu,
                x: hb,
                out: r,
            },
            matvec(r, y, weights(&mut rng, 3)),
            binary(Binary::Add, c, y, yb),
        ];
        let fused = agree(&arena, span(0, 4), yb.start, instrs);
        assert_eq!(fused.len(), 2, "{fused:?}");
        match &fused[0] {
            Instr::MatVec {
                x,
                shift,
                bias,
                act,
                ..
            } => {
                assert_eq!(*x, span(0, 4));
                assert_eq!(&**shift, &[0.5, -1.0, 2.0, 0.0]);
                assert_eq!(&**bias, &[0.1, -0.2, 0.3]);
                assert_eq!(*act, Some(Unary::Relu));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_read_twice_and_unsafe_factors_are_not_folded() {
        let mut rng = SplitMix::new(2);
        // s = x - m is read by the Div and by a Sum: the Sub stays; the
        // Div (read once) folds; the Add follows the Sum, not the product.
        let mut arena = vec![0.0f32; 3];
        arena.extend([1.0, 2.0, 3.0]); // m 3..6
        arena.extend([2.0, 4.0, 0.5]); // d 6..9
        let (s, q, p, t, y) = (
            span(9, 3),
            span(12, 3),
            span(15, 1),
            span(16, 1),
            span(17, 1),
        );
        arena.resize(18, 0.0);
        let instrs = vec![
            binary(Binary::Sub, span(0, 3), span(3, 3), s),
            binary(Binary::Div, s, span(6, 3), q),
            matvec(q, p, weights(&mut rng, 3)),
            Instr::Sum { x: s, out: t },
            binary(Binary::Add, p, t, y),
        ];
        let fused = agree(&arena, span(0, 3), y.start, instrs);
        assert_eq!(fused.len(), 4, "{fused:?}");
        assert!(matches!(
            fused[0],
            Instr::Binary {
                op: Binary::Sub,
                ..
            }
        ));

        // A zero divisor would turn weights infinite: not folded.
        let mut arena = vec![0.0f32; 2];
        arena.extend([0.0, 2.0]); // d 2..4
        let (q, p) = (span(4, 2), span(6, 1));
        arena.resize(7, 0.0);
        let instrs = vec![
            binary(Binary::Div, span(0, 2), span(2, 2), q),
            matvec(q, p, vec![1.0, 1.0]),
        ];
        let fused = fuse(instrs, &arena, span(0, 2), p.start);
        assert_eq!(fused.len(), 2, "{fused:?}");
    }

    #[test]
    fn reversed_subtraction_scalar_operands_and_products_fold_exactly() {
        let mut rng = SplitMix::new(4);
        // (m - x) · 2 with a scalar m, then the product: negated, scaled
        // weights and a shift.
        let mut arena = vec![0.0f32; 3];
        arena.push(0.75); // m 3
        arena.push(2.0); // two 4
        let (s, q, p) = (span(5, 3), span(8, 3), span(11, 2));
        arena.resize(13, 0.0);
        let out = span(13, 1);
        arena.resize(14, 0.0);
        let instrs = vec![
            binary(Binary::Sub, span(3, 1), span(0, 3), s),
            binary(Binary::Mul, s, span(4, 1), q),
            matvec(q, p, weights(&mut rng, 6)),
            Instr::Sum { x: p, out },
        ];
        let fused = agree(&arena, span(0, 3), out.start, instrs);
        assert_eq!(fused.len(), 2, "{fused:?}");
        match &fused[0] {
            Instr::MatVec { shift, .. } => assert_eq!(&**shift, &[0.75; 3]),
            other => panic!("{other:?}"),
        }
    }
}
