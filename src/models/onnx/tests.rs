//! Lowering edge cases on graphs built here, each loaded through the full
//! path (checks, tract plan, lowering, cross-check against tract) and
//! compared with values computed by hand.
#![allow(clippy::disallowed_macros)]

use std::path::Path;

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::load::{from_proto, probe_rows};
use super::program::Program;
use super::{OnnxEngine, OnnxError, OnnxModel, OnnxProblem};
use crate::models::Predictor;

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

fn f32s(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn i64s(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: INT64,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

enum A {
    I(i64),
    F(f32),
    Is(Vec<i64>),
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<(&str, A)>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs
            .into_iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: name.into(),
                    ..Default::default()
                };
                match a {
                    A::I(i) => (p.r#type, p.i) = (AttributeType::Int as i32, i),
                    A::F(f) => (p.r#type, p.f) = (AttributeType::Float as i32, f),
                    A::Is(v) => (p.r#type, p.ints) = (AttributeType::Ints as i32, v),
                }
                p
            })
            .collect(),
        ..Default::default()
    }
}

fn info(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => Dim::DimValue(*v),
                                None => Dim::DimParam("N".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model with input `x` [N, k] and output `y`.
fn model(opset: i64, k: i64, nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![info("x", FLOAT, &[None, Some(k)])],
            output: vec![info("y", FLOAT, &[])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn path() -> &'static Path {
    Path::new("/models/model.onnx")
}

fn load(m: &ModelProto, k: usize) -> OnnxModel {
    from_proto(m, path(), k).unwrap_or_else(|e| panic!("{e}"))
}

fn refuse(m: &ModelProto, k: usize) -> OnnxError {
    let err = from_proto(m, path(), k).expect_err("accepted");
    assert_eq!(err.path, path());
    err
}

fn native(m: &ModelProto, k: usize) -> OnnxModel {
    let model = load(m, k);
    assert_eq!(model.engine(), OnnxEngine::Native, "{}", model.describe());
    model
}

fn tract(m: &ModelProto, k: usize, why: &str) -> OnnxModel {
    let model = load(m, k);
    assert_eq!(model.engine(), OnnxEngine::Tract, "{}", model.describe());
    assert!(model.describe().contains(why), "{}", model.describe());
    model
}

fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

#[test]
fn gemm_with_trans_b_alpha_beta_and_a_column_bias() {
    // B [n=2, k=3] transposed; C [2]; y = sum over the outputs.
    let m = model(
        13,
        3,
        vec![
            node(
                "Gemm",
                &["x", "b", "c"],
                "g",
                vec![
                    ("transB", A::I(1)),
                    ("alpha", A::F(0.5)),
                    ("beta", A::F(2.0)),
                ],
            ),
            node("ReduceSum", &["g"], "y", vec![]),
        ],
        vec![
            f32s("b", &[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]),
            f32s("c", &[2], &[0.25, -1.0]),
        ],
    );
    let mut model = native(&m, 3);
    // g0 = 0.5*(1+4+9) + 0.5 = 7.5; g1 = 0.5*(-1+3) - 2 = -1
    close(model.predict(&[1.0, 2.0, 3.0]).unwrap(), 6.5);
}

#[test]
fn gemm_with_trans_a_on_a_column_and_a_scalar_bias() {
    let m = model(
        13,
        2,
        vec![
            node("Reshape", &["x", "col"], "xc", vec![]),
            node("Gemm", &["xc", "b", "c"], "y", vec![("transA", A::I(1))]),
        ],
        vec![
            i64s("col", &[2, 1]),
            f32s("b", &[2, 1], &[3.0, -2.0]),
            f32s("c", &[], &[0.5]),
        ],
    );
    let mut model = native(&m, 2);
    close(model.predict(&[1.0, 4.0]).unwrap(), 3.0 - 8.0 + 0.5);
}

#[test]
fn constants_on_the_left_and_a_matmul_by_a_vector() {
    // y = 1 - (x · w) / 4, with w a 1-D vector: [1, k] × [k] → [1].
    let m = model(
        13,
        3,
        vec![
            node("MatMul", &["x", "w"], "m", vec![]),
            node("Div", &["m", "four"], "d", vec![]),
            node("Sub", &["one", "d"], "y", vec![]),
        ],
        vec![
            f32s("w", &[3], &[1.0, 1.0, 2.0]),
            f32s("four", &[], &[4.0]),
            f32s("one", &[1, 1], &[1.0]),
        ],
    );
    let mut model = native(&m, 3);
    close(model.predict(&[1.0, 1.0, 1.0]).unwrap(), 0.0);
    close(model.predict(&[2.0, 0.0, -1.0]).unwrap(), 1.0);
}

#[test]
fn broadcasting_that_repeats_a_row_stays_on_tract() {
    // [1, 3] + [3, 1] → [3, 3]: not a row op.
    let m = model(
        13,
        3,
        vec![
            node("Add", &["x", "col"], "s", vec![]),
            node("ReduceSum", &["s"], "y", vec![("keepdims", A::I(0))]),
        ],
        vec![f32s("col", &[3, 1], &[1.0, 2.0, 3.0])],
    );
    let mut model = tract(&m, 3, "repeats a row");
    // Σ_ij (x_j + c_i) = 3 Σx + 3 Σc
    close(model.predict(&[1.0, 0.0, -1.0]).unwrap(), 18.0);
}

#[test]
fn softmax_axis_semantics_by_opset() {
    let graph = |opset, axis| {
        model(
            opset,
            3,
            vec![
                node("Softmax", &["x"], "p", vec![("axis", A::I(axis))]),
                node("Slice", &["p", "s", "e", "a"], "y", vec![]),
            ],
            vec![i64s("s", &[-1]), i64s("e", &[i64::MAX]), i64s("a", &[1])],
        )
    };
    let row = [1.0f32, 2.0, 3.0];
    let last = (3.0f64.exp()) / (1.0f64.exp() + 2.0f64.exp() + 3.0f64.exp());
    // Opset 11, axis 0: the coerced [1, 3] block is the whole row.
    close(native(&graph(11, 0), 3).predict(&row).unwrap(), last);
    // Opset 13, axis -1: the row.
    close(native(&graph(13, -1), 3).predict(&row).unwrap(), last);
    // Opset 13, axis 0: along a length-1 axis, every value is 1.
    let mut m = tract(&graph(13, 0), 3, "softmax over axis 0");
    close(m.predict(&row).unwrap(), 1.0);
}

#[test]
fn slices_with_negative_and_huge_bounds_and_the_old_attribute_form() {
    // Opset 13: x[:, -3:-1] then x[:, 1:] of that, summed.
    let m = model(
        13,
        5,
        vec![
            node("Slice", &["x", "s1", "e1", "a"], "t", vec![]),
            node("Slice", &["t", "s2", "e2", "", "st"], "u", vec![]),
            node("ReduceSum", &["u", "a"], "y", vec![]),
        ],
        vec![
            i64s("s1", &[-3]),
            i64s("e1", &[-1]),
            i64s("a", &[-1]),
            i64s("s2", &[0, 1]),
            i64s("e2", &[i64::MAX, i64::MAX]),
            i64s("st", &[1, 1]),
        ],
    );
    close(
        native(&m, 5).predict(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(),
        4.0,
    );
    // Opset 9: starts/ends/axes attributes.
    let m = model_with_old_slice();
    close(native(&m, 4).predict(&[1.0, 2.0, 3.0, 4.0]).unwrap(), 3.0);
    // A step of 2 stays on tract.
    let m = model(
        13,
        4,
        vec![
            node("Slice", &["x", "s", "e", "a", "st"], "t", vec![]),
            node("ReduceSum", &["t", "a"], "y", vec![]),
        ],
        vec![
            i64s("s", &[0]),
            i64s("e", &[4]),
            i64s("a", &[1]),
            i64s("st", &[2]),
        ],
    );
    close(
        tract(&m, 4, "steps")
            .predict(&[1.0, 2.0, 3.0, 4.0])
            .unwrap(),
        4.0,
    );
}

fn model_with_old_slice() -> ModelProto {
    model(
        9,
        4,
        vec![
            node(
                "Slice",
                &["x"],
                "t",
                vec![
                    ("starts", A::Is(vec![2])),
                    ("ends", A::Is(vec![3])),
                    ("axes", A::Is(vec![1])),
                ],
            ),
            node("Flatten", &["t"], "y", vec![("axis", A::I(0))]),
        ],
        vec![],
    )
}

#[test]
fn reduce_sum_forms() {
    // Opset 11: axes attribute, keepdims 0.
    let m = model(
        11,
        3,
        vec![node(
            "ReduceSum",
            &["x"],
            "y",
            vec![("axes", A::Is(vec![1])), ("keepdims", A::I(0))],
        )],
        vec![],
    );
    close(native(&m, 3).predict(&[1.0, 2.0, 4.0]).unwrap(), 7.0);
    // Opset 13: no axes reduces everything.
    let m = model(13, 3, vec![node("ReduceSum", &["x"], "y", vec![])], vec![]);
    close(native(&m, 3).predict(&[1.0, 2.0, 4.0]).unwrap(), 7.0);
    // Opset 13 with noop_with_empty_axes: identity, then a reduce over axis 0
    // (length 1, also an identity) and the last axis.
    let m = model(
        13,
        2,
        vec![
            node(
                "ReduceSum",
                &["x"],
                "t",
                vec![("noop_with_empty_axes", A::I(1))],
            ),
            node("ReduceSum", &["t", "zero"], "u", vec![]),
            node("ReduceSum", &["u", "one"], "y", vec![]),
        ],
        vec![i64s("zero", &[0]), i64s("one", &[1])],
    );
    close(native(&m, 2).predict(&[1.5, 2.0]).unwrap(), 3.5);
}

#[test]
fn concat_on_the_first_axis_is_contiguous_too() {
    // [1, 2] and [1, 2] on axis 0 → [2, 2]; the sum of everything.
    let m = model(
        13,
        2,
        vec![
            node("Neg", &["x"], "n", vec![]),
            node("Concat", &["x", "n", "k"], "c", vec![("axis", A::I(0))]),
            node("Mul", &["c", "w"], "p", vec![]),
            node("ReduceSum", &["p"], "y", vec![]),
        ],
        vec![
            f32s("k", &[1, 2], &[10.0, 20.0]),
            f32s("w", &[3, 2], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0]),
        ],
    );
    // x + 2(-x) + 30 = 30 - Σx
    close(native(&m, 2).predict(&[1.0, 2.0]).unwrap(), 27.0);
}

#[test]
fn shape_ops_keep_the_row() {
    // Unsqueeze (13, input axes) → Squeeze without axes → Flatten → Identity.
    let m = model(
        13,
        3,
        vec![
            node("Unsqueeze", &["x", "ax"], "u", vec![]),
            node("Squeeze", &["u"], "s", vec![]),
            node("Unsqueeze", &["s", "zero"], "v", vec![]),
            node("Flatten", &["v"], "f", vec![]),
            node("Identity", &["f"], "i", vec![]),
            node("Exp", &["i"], "e", vec![]),
            node("Log", &["e"], "l", vec![]),
            node("Abs", &["l"], "a", vec![]),
            node("ReduceSum", &["a", "last"], "y", vec![]),
        ],
        vec![
            i64s("ax", &[0, -1]),
            i64s("zero", &[0]),
            i64s("last", &[-1]),
        ],
    );
    close(native(&m, 3).predict(&[1.0, -2.0, 0.5]).unwrap(), 3.5);
}

#[test]
fn constant_nodes_casts_and_unused_branches() {
    let mut value = node("Constant", &[], "w", vec![]);
    value.attribute.push(AttributeProto {
        name: "value_floats".into(),
        r#type: AttributeType::Floats as i32,
        floats: vec![2.0, -1.0],
        ..Default::default()
    });
    let m = model(
        13,
        2,
        vec![
            value,
            node("Cast", &["x"], "xf", vec![("to", A::I(1))]),
            node("Cast", &["seven"], "sf", vec![("to", A::I(1))]),
            node("Mul", &["xf", "w"], "p", vec![]),
            node("Add", &["p", "sf"], "q", vec![]),
            // Feeds nothing: never lowered, never blocks lowering.
            node("Erf", &["q"], "unused", vec![]),
            node("ReduceSum", &["q"], "y", vec![]),
        ],
        vec![TensorProto {
            name: "seven".into(),
            dims: vec![],
            data_type: INT64,
            int64_data: vec![7],
            ..Default::default()
        }],
    );
    close(
        native(&m, 2).predict(&[1.0, 4.0]).unwrap(),
        2.0 - 4.0 + 14.0,
    );
    // A cast of the row to another type stays on tract.
    let m = model(
        13,
        2,
        vec![
            node("Cast", &["x"], "d", vec![("to", A::I(11))]),
            node("ReduceSum", &["d"], "s", vec![]),
            node("Cast", &["s"], "y", vec![("to", A::I(1))]),
        ],
        vec![],
    );
    close(tract(&m, 2, "cast").predict(&[1.0, 4.0]).unwrap(), 5.0);
}

#[test]
fn unary_ops_agree_with_tract_on_every_probe() {
    for (op, attrs) in [
        ("Relu", vec![]),
        ("LeakyRelu", vec![("alpha", A::F(0.2))]),
        ("Sigmoid", vec![]),
        ("Tanh", vec![]),
        ("Abs", vec![]),
        ("Neg", vec![]),
        ("Exp", vec![]),
    ] {
        let m = model(
            13,
            4,
            vec![
                node(op, &["x"], "u", attrs),
                node("MatMul", &["u", "w"], "y", vec![]),
            ],
            vec![f32s("w", &[4, 1], &[1.0, -2.0, 0.5, 3.0])],
        );
        // Loading cross-checks every probe row against tract.
        let mut model = native(&m, 4);
        for row in probe_rows(4) {
            assert!(model.predict(&row).unwrap().is_finite(), "{op}");
        }
    }
}

// ---- refusals -----------------------------------------------------------------

#[test]
fn inputs_must_be_one_float_row() {
    let base = || model(13, 2, vec![node("ReduceSum", &["x"], "y", vec![])], vec![]);
    // Two inputs.
    let mut m = base();
    let g = m.graph.as_mut().unwrap();
    g.input.push(info("z", FLOAT, &[None, Some(2)]));
    let err = refuse(&m, 2);
    assert!(matches!(&err.problem, OnnxProblem::Inputs { names } if names == &["x", "z"]));
    // A double input.
    let mut m = base();
    m.graph.as_mut().unwrap().input[0] = info("x", DOUBLE, &[None, Some(2)]);
    let err = refuse(&m, 2);
    assert!(err.to_string().contains("double, not float32"), "{err}");
    // A sequence input [N, T, F].
    let mut m = base();
    m.graph.as_mut().unwrap().input[0] = info("x", FLOAT, &[None, Some(5), Some(2)]);
    let err = refuse(&m, 2);
    assert!(err.to_string().contains("[?, 5, 2]"), "{err}");
    // A batch other than 1.
    let mut m = base();
    m.graph.as_mut().unwrap().input[0] = info("x", FLOAT, &[Some(4), Some(2)]);
    assert!(matches!(
        refuse(&m, 2).problem,
        OnnxProblem::InputShape { .. }
    ));
    // A fixed batch of 1 and a symbolic width are fine.
    let mut m = base();
    m.graph.as_mut().unwrap().input[0] = info("x", FLOAT, &[Some(1), None]);
    close(native(&m, 2).predict(&[1.0, 2.0]).unwrap(), 3.0);
}

#[test]
fn a_symbolic_width_that_does_not_fit_the_weights_is_refused() {
    let mut m = model(
        13,
        3,
        vec![node("MatMul", &["x", "w"], "y", vec![])],
        vec![f32s("w", &[3, 1], &[1.0, 2.0, 3.0])],
    );
    m.graph.as_mut().unwrap().input[0] = info("x", FLOAT, &[None, None]);
    let err = refuse(&m, 4);
    assert!(
        matches!(err.problem, OnnxProblem::Tract { n_features: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("[1, 4]"), "{err}");
}

#[test]
fn damaged_tensors_are_refused_before_tract_reads_them() {
    let graph = |w: TensorProto| {
        model(
            13,
            2,
            vec![node("MatMul", &["x", "w"], "y", vec![])],
            vec![w],
        )
    };
    // Raw data shorter than the shape.
    let mut w = f32s("w", &[2, 1], &[]);
    w.raw_data = vec![0; 7];
    let err = refuse(&graph(w), 2);
    assert!(err.to_string().contains("7 bytes"), "{err}");
    // Typed data shorter than the shape.
    let err = refuse(&graph(f32s("w", &[2, 1], &[1.0])), 2);
    assert!(
        matches!(err.problem, OnnxProblem::Malformed { .. }),
        "{err}"
    );
    // A negative dimension.
    let err = refuse(&graph(f32s("w", &[-2, 1], &[1.0, 2.0])), 2);
    assert!(err.to_string().contains("dimension -2"), "{err}");
    // An unknown data type.
    let mut w = f32s("w", &[2, 1], &[1.0, 2.0]);
    w.data_type = 99;
    assert!(matches!(
        refuse(&graph(w), 2).problem,
        OnnxProblem::Malformed { .. }
    ));
    // External data.
    let mut w = f32s("w", &[2, 1], &[]);
    w.data_location = Some(1);
    assert!(matches!(
        refuse(&graph(w), 2).problem,
        OnnxProblem::ExternalData { .. }
    ));
}

#[test]
fn missing_pieces_are_refused() {
    let base = || model(13, 2, vec![node("ReduceSum", &["x"], "y", vec![])], vec![]);
    let mut m = base();
    m.graph = None;
    assert_eq!(refuse(&m, 2).problem, OnnxProblem::NoGraph);
    let mut m = base();
    m.opset_import.clear();
    assert_eq!(refuse(&m, 2).problem, OnnxProblem::NoOpset);
    let mut m = base();
    m.graph.as_mut().unwrap().output[0].name = "nowhere".into();
    assert!(refuse(&m, 2)
        .to_string()
        .contains("`nowhere` is produced by no node"));
    let mut m = base();
    m.graph.as_mut().unwrap().node[0].input = vec!["ghost".into()];
    assert!(refuse(&m, 2).to_string().contains("ghost"));
    let mut m = base();
    m.graph.as_mut().unwrap().output[0].r#type = None;
    assert!(matches!(
        refuse(&m, 2).problem,
        OnnxProblem::Malformed { .. }
    ));
}

#[test]
fn a_program_that_disagrees_with_tract_is_refused() {
    // tract's plan for y = Σx, a program computing y = Σx + 1e-3.
    let m = model(13, 2, vec![node("ReduceSum", &["x"], "y", vec![])], vec![]);
    let good = load(&m, 2);
    assert_eq!(good.engine(), OnnxEngine::Native);
    let bad = model(
        13,
        2,
        vec![
            node("ReduceSum", &["x"], "s", vec![]),
            node("Add", &["s", "eps"], "y", vec![]),
        ],
        vec![f32s("eps", &[], &[1e-3])],
    );
    let program = match load(&bad, 2).engine {
        super::Engine::Native(p) => p,
        super::Engine::Tract(_) => panic!("not lowered"),
    };
    let err = super::load::cross_check_for_test(&m, program, 2).unwrap_err();
    assert!(
        matches!(err, OnnxProblem::Mismatch { probe: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("native 0.001"), "{err}");
}

#[test]
fn every_fix_points_somewhere_useful() {
    let problems = [
        OnnxProblem::Empty,
        OnnxProblem::Outputs {
            names: vec!["label".into(), "probabilities".into()],
        },
        OnnxProblem::Width {
            model: 6,
            expected: 5,
        },
        OnnxProblem::Tract {
            stage: "parse",
            n_features: 3,
            message: "x".into(),
        },
    ];
    for p in problems {
        let fix = OnnxError::new(path(), p).fix();
        assert!(fix.len() > 20);
    }
    let fix = OnnxError::new(path(), OnnxProblem::Empty).fix();
    assert!(fix.contains(crate::models::artifact::EXPORT_TOOL));
}

#[test]
fn the_program_type_is_plain_data() {
    fn send<T: Send + Sync>() {}
    send::<Program>();
}
