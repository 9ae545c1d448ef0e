//! Loading a `model.onnx`: read and decode the protobuf, check what tract
//! would otherwise trip over, build tract's optimised plan for
//! `f32 [1, n_features]`, lower the graph to the native program and
//! cross-check the two on probe rows.
//!
//! Cold path (start-up, `models inspect`).
#![allow(clippy::disallowed_macros)]

use std::path::Path;
use std::sync::Arc;

use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{ModelProto, TensorProto, ValueInfoProto};
use tract_onnx::prelude::{
    tvec, DatumType, Framework, InferenceFact, InferenceModelExt, Tensor, TractError,
};

use super::lower::{self, Endpoints};
use super::program::{Instr, Program};
use super::tract::{first_value, Plan, TractRunner};
use super::{Engine, OnnxError, OnnxModel, OnnxProblem, CROSS_CHECK_TOLERANCE};
use crate::testkit::SplitMix;

/// Largest constant tensor accepted (elements); far above any model the
/// engine runs, far below what would exhaust memory.
const MAX_TENSOR_ELEMENTS: usize = 1 << 26;

pub fn load(path: &Path, n_features: usize) -> Result<OnnxModel, OnnxError> {
    let fail = |problem| OnnxError::new(path, problem);
    let bytes = std::fs::read(path).map_err(|e| {
        fail(OnnxProblem::Io {
            message: e.to_string(),
        })
    })?;
    if bytes.is_empty() {
        return Err(fail(OnnxProblem::Empty));
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(|e| fail(OnnxProblem::NotOnnx { message: chain(&e) }))?;
    from_proto(&proto, path, n_features)
}

/// Checks, plans, lowers and cross-checks a decoded model. `path` names the
/// file in errors; its directory would resolve external data (refused).
pub fn from_proto(
    proto: &ModelProto,
    path: &Path,
    n_features: usize,
) -> Result<OnnxModel, OnnxError> {
    let fail = |problem| OnnxError::new(path, problem);
    let checked = check(proto, n_features).map_err(fail)?;
    let plan = plan(proto, path, n_features, &checked).map_err(fail)?;

    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| fail(OnnxProblem::NoGraph))?;
    let ends = Endpoints {
        input: &checked.input,
        n_features,
        output: &checked.output,
    };
    let probes = probe_rows(n_features);
    let (engine, not_lowered, description) = match lower::lower(graph, checked.opset, &ends, None) {
        Ok(mut program) => {
            cross_check(&mut program, &plan, &probes, n_features).map_err(fail)?;
            let description = describe_native(&program, n_features);
            (Engine::Native(program), None, description)
        }
        Err(why) => {
            let mut runner = TractRunner::new(Arc::clone(&plan), n_features)
                .map_err(|e| fail(tract_problem("start", n_features, &e)))?;
            for row in &probes {
                runner
                    .run(row)
                    .map_err(|e| fail(tract_problem("run", n_features, &e)))?;
            }
            let description = format!(
                "tract plan (allocates on every prediction; not lowered: {why}), input f32 [1, \
                 {n_features}]"
            );
            (Engine::Tract(Box::new(runner)), Some(why), description)
        }
    };
    Ok(OnnxModel {
        path: path.to_path_buf(),
        n_features,
        engine,
        not_lowered,
        description,
    })
}

/// What [`check`] established.
struct Checked {
    opset: i64,
    input: String,
    output: String,
}

/// Everything tract would panic on or silently misread, and the engine's
/// own requirements on inputs and outputs.
fn check(proto: &ModelProto, n_features: usize) -> Result<Checked, OnnxProblem> {
    let graph = proto.graph.as_ref().ok_or(OnnxProblem::NoGraph)?;
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or(OnnxProblem::NoOpset)?;
    let malformed = |what: String| OnnxProblem::Malformed { what };

    // Outputs first: a classifier straight from skl2onnx gets its own fix.
    let output = match graph.output.as_slice() {
        [one] => one.name.clone(),
        many => {
            return Err(OnnxProblem::Outputs {
                names: many.iter().map(|o| o.name.clone()).collect(),
            })
        }
    };

    for t in &graph.initializer {
        check_tensor(t)?;
    }
    for node in &graph.node {
        for attr in &node.attribute {
            if let Some(t) = &attr.t {
                check_tensor(t)?;
            }
            for t in &attr.tensors {
                check_tensor(t)?;
            }
        }
    }
    for info in graph
        .input
        .iter()
        .chain(&graph.value_info)
        .chain(&graph.output)
    {
        check_type(info)?;
    }

    // The one input that is not an initializer.
    let initialized: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(i.name.as_str()))
        .collect();
    let input = match inputs.as_slice() {
        [one] => *one,
        many => {
            return Err(OnnxProblem::Inputs {
                names: many.iter().map(|i| i.name.clone()).collect(),
            })
        }
    };
    let Some(TypeValue::TensorType(tensor)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(malformed(format!(
            "input `{}` has no tensor type",
            input.name
        )));
    };
    if tensor.elem_type != DataType::Float as i32 {
        return Err(OnnxProblem::InputType {
            name: input.name.clone(),
            found: type_name(tensor.elem_type),
        });
    }
    if let Some(shape) = &tensor.shape {
        let dims: Vec<Option<i64>> = shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(Dim::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect();
        let shape_text = || {
            let dims: Vec<String> = dims
                .iter()
                .map(|d| d.map_or_else(|| "?".to_owned(), |v| v.to_string()))
                .collect();
            format!("[{}]", dims.join(", "))
        };
        match dims.as_slice() {
            [None | Some(1), width] => {
                if let Some(w) = *width {
                    if w != n_features as i64 {
                        return Err(OnnxProblem::Width {
                            model: usize::try_from(w).unwrap_or(0),
                            expected: n_features,
                        });
                    }
                }
            }
            _ => {
                return Err(OnnxProblem::InputShape {
                    name: input.name.clone(),
                    shape: shape_text(),
                })
            }
        }
    }

    // Every name the output and the nodes read must exist (tract indexes
    // its outlet map with the output name).
    let mut defined: std::collections::HashSet<&str> = initialized;
    defined.extend(graph.input.iter().map(|i| i.name.as_str()));
    for node in &graph.node {
        defined.extend(node.output.iter().map(String::as_str));
    }
    if !defined.contains(output.as_str()) {
        return Err(malformed(format!(
            "output `{output}` is produced by no node"
        )));
    }
    Ok(Checked {
        opset,
        input: input.name.clone(),
        output,
    })
}

/// A tensor tract can read without panicking, of a sane size, stored inline.
fn check_tensor(t: &TensorProto) -> Result<(), OnnxProblem> {
    let malformed = |what: String| OnnxProblem::Malformed { what };
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(OnnxProblem::ExternalData {
            name: t.name.clone(),
        });
    }
    let size = match DataType::from_i32(t.data_type) {
        Some(DataType::Bool | DataType::Uint8 | DataType::Int8) => 1,
        Some(DataType::Uint16 | DataType::Int16 | DataType::Float16) => 2,
        Some(DataType::Uint32 | DataType::Int32 | DataType::Float) => 4,
        Some(DataType::Uint64 | DataType::Int64 | DataType::Double) => 8,
        Some(DataType::String) => 0,
        _ => {
            return Err(malformed(format!(
                "tensor `{}` has data type {}, which is not supported",
                t.name,
                type_name(t.data_type)
            )))
        }
    };
    let mut numel: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d)
            .map_err(|_| malformed(format!("tensor `{}` has dimension {d}", t.name)))?;
        numel = numel.saturating_mul(d);
    }
    if numel > MAX_TENSOR_ELEMENTS {
        return Err(malformed(format!(
            "tensor `{}` declares {numel} elements (more than {MAX_TENSOR_ELEMENTS})",
            t.name
        )));
    }
    let (found, unit) = if !t.raw_data.is_empty() {
        if size == 0 {
            return Err(malformed(format!(
                "string tensor `{}` has raw data",
                t.name
            )));
        }
        (t.raw_data.len(), size)
    } else {
        let n = match DataType::from_i32(t.data_type) {
            Some(DataType::Float) => t.float_data.len(),
            Some(DataType::Double) => t.double_data.len(),
            Some(DataType::Int64 | DataType::Uint64) => t.int64_data.len(),
            Some(DataType::String) => t.string_data.len(),
            _ => t.int32_data.len(),
        };
        (n, 1)
    };
    if found != numel * unit {
        return Err(malformed(format!(
            "tensor `{}` has {found} bytes or values of data for {numel} elements (truncated?)",
            t.name
        )));
    }
    Ok(())
}

/// A value type tract can translate: a tensor of a known element type.
fn check_type(info: &ValueInfoProto) -> Result<(), OnnxProblem> {
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) if DataType::from_i32(t.elem_type).is_some() => Ok(()),
        Some(TypeValue::TensorType(t)) => Err(OnnxProblem::Malformed {
            what: format!("`{}` has unknown element type {}", info.name, t.elem_type),
        }),
        None => Err(OnnxProblem::Malformed {
            what: format!("`{}` has no tensor type", info.name),
        }),
    }
}

fn type_name(elem_type: i32) -> String {
    DataType::from_i32(elem_type).map_or_else(
        || format!("ONNX type {elem_type}"),
        |t| t.as_str_name().to_lowercase(),
    )
}

/// tract's optimised plan for `f32 [1, n_features]`, with a float output
/// of one element.
fn plan(
    proto: &ModelProto,
    path: &Path,
    n_features: usize,
    checked: &Checked,
) -> Result<Arc<Plan>, OnnxProblem> {
    let tract = |stage| move |e: TractError| tract_problem(stage, n_features, &e);
    let onnx = tract_onnx::onnx();
    let dir = path.parent().and_then(Path::to_str);
    let parsed = onnx.parse(proto, dir).map_err(tract("parse"))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(OnnxProblem::Malformed {
            what: format!(
                "node inputs {} are defined nowhere",
                parsed.unresolved_inputs.join(", ")
            ),
        });
    }
    let mut model = parsed.model;
    model
        .set_input_fact(
            0,
            InferenceFact::dt_shape(DatumType::F32, tvec![1, n_features]),
        )
        .map_err(tract("type"))?;
    let typed = model.into_optimized().map_err(tract("type and optimise"))?;
    let fact = typed.output_fact(0).map_err(tract("type"))?;
    if !fact.datum_type.is_float() {
        return Err(OnnxProblem::OutputType {
            name: checked.output.clone(),
            found: format!("{:?}", fact.datum_type).to_lowercase(),
        });
    }
    match fact.shape.as_concrete() {
        Some(shape) if shape.iter().product::<usize>() == 1 => {}
        Some(shape) => {
            return Err(OnnxProblem::OutputShape {
                name: checked.output.clone(),
                shape: shape.to_vec(),
            })
        }
        None => {
            return Err(OnnxProblem::Tract {
                stage: "type",
                n_features,
                message: format!("the output shape {:?} is not fixed", fact.shape),
            })
        }
    }
    let plan = typed.into_runnable().map_err(tract("plan"))?;
    Ok(Arc::new(plan))
}

fn tract_problem(stage: &'static str, n_features: usize, e: &TractError) -> OnnxProblem {
    OnnxProblem::Tract {
        stage,
        n_features,
        message: chain(e),
    }
}

/// An error with its causes, one line.
fn chain(e: &TractError) -> String {
    format!("{e:#}")
}

/// Deterministic probe rows: zeros, then pseudo-random rows of moderate
/// magnitude (|x| < 1, < 4 and < 0.1).
pub fn probe_rows(n: usize) -> Vec<Vec<f32>> {
    let mut rng = SplitMix::new(0x0_0A11_5EED);
    let mut rows = vec![vec![0.0f32; n]];
    for scale in [1.0, 4.0, 0.1, 1.0] {
        rows.push((0..n).map(|_| (rng.unit() * scale) as f32).collect());
    }
    rows
}

/// Runs every probe through the program and tract's plan; any difference
/// beyond the tolerance refuses the model.
fn cross_check(
    program: &mut Program,
    plan: &Plan,
    probes: &[Vec<f32>],
    n_features: usize,
) -> Result<(), OnnxProblem> {
    for (probe, row) in probes.iter().enumerate() {
        let input = Tensor::from_shape(&[1, n_features], row)
            .map_err(|e| tract_problem("run", n_features, &e))?;
        let outputs = plan
            .run(tvec![input.into()])
            .map_err(|e| tract_problem("run", n_features, &e))?;
        let tract = match outputs.first() {
            Some(t) => first_value(t).map_err(|e| tract_problem("run", n_features, &e))?,
            None => f64::NAN,
        };
        let native = program.run(row).map_or(f64::NAN, f64::from);
        if !agree(native, tract) {
            return Err(OnnxProblem::Mismatch {
                probe,
                native,
                tract,
            });
        }
    }
    Ok(())
}

/// Cross-checks `program` against tract's plan for `proto` (tests only).
#[cfg(test)]
pub fn cross_check_for_test(
    proto: &ModelProto,
    mut program: Program,
    n_features: usize,
) -> Result<(), OnnxProblem> {
    let checked = check(proto, n_features)?;
    let plan = plan(proto, Path::new("model.onnx"), n_features, &checked)?;
    cross_check(&mut program, &plan, &probe_rows(n_features), n_features)
}

/// Within tolerance, or the same non-finite value.
fn agree(native: f64, tract: f64) -> bool {
    if native.is_finite() && tract.is_finite() {
        (native - tract).abs() <= CROSS_CHECK_TOLERANCE * tract.abs().max(1.0)
    } else {
        native == tract || (native.is_nan() && tract.is_nan())
    }
}

fn describe_native(program: &Program, n_features: usize) -> String {
    let steps: Vec<String> = program
        .instrs()
        .iter()
        .map(|i| match i {
            Instr::MatVec { x, out, .. } => format!("matvec {}x{}", x.len, out.len),
            other => other.name().to_owned(),
        })
        .collect();
    format!(
        "native row program, input f32 [1, {n_features}]: {} ({} steps, {} floats)",
        steps.join(" → "),
        steps.len(),
        program.arena_len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_relative_above_one_and_absolute_below() {
        assert!(agree(1.0 + 9e-6, 1.0));
        assert!(!agree(1.0 + 2e-5, 1.0));
        assert!(agree(1000.0 + 9e-3, 1000.0));
        assert!(!agree(1000.0 + 2e-2, 1000.0));
        assert!(agree(1e-7, -1e-7));
        assert!(agree(f64::NAN, f64::NAN));
        assert!(agree(f64::INFINITY, f64::INFINITY));
        assert!(!agree(f64::INFINITY, 1.0));
        assert!(!agree(f64::NAN, 0.0));
    }

    #[test]
    fn probes_are_deterministic_and_start_with_zeros() {
        let a = probe_rows(7);
        assert_eq!(a, probe_rows(7));
        assert!(a[0].iter().all(|&v| v == 0.0));
        assert!(a[1..].iter().all(|r| r.iter().all(|v| v.abs() < 4.0)));
        assert!(a[1] != a[4]);
    }
}
