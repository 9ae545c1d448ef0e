#!/usr/bin/env python3
"""Write the ONNX fixtures under tests/data/models/onnx/.

Builds small, deterministic ONNX models -- scikit-learn models converted
with skl2onnx, and hand-built graphs (onnx.helper) that exercise the ops the
engine lowers to its native row evaluator (src/models/onnx/) -- and records
onnxruntime's outputs for a set of float32 rows, so that the Rust back-end
can be checked against onnxruntime without Python at test time.

Outputs (all committed, a few KB each):
- skl2onnx models: ridge.onnx, mlp_relu.onnx, mlp_tanh.onnx (regressors);
  logreg.onnx and mlp_classifier.onnx (classifiers reduced to one output
  `probability` = P(class 1), as tools/export_model.py does);
- hand-built graphs: gemm_softmax.onnx (Gemm transB, LeakyRelu, Softmax,
  Slice), broadcast.onnx (constants broadcast on either side, unary ops,
  Concat with a constant, ReduceSum, shape ops, Cast; input [1, k]),
  opset11.onnx (the older attribute forms of ReduceSum/Squeeze/Unsqueeze/
  Softmax and a Constant node);
- erf.onnx: a graph with an op the engine does not lower (Erf), predicted
  through tract;
- files the engine must refuse: two_outputs.onnx (a classifier straight from
  skl2onnx: label and probabilities), wide_output.onnx (one output holding
  two values per row);
- expected.json: per good model, its input width, the input rows (float32
  values as their shortest decimal strings, to be parsed as f32) and
  onnxruntime's outputs (float32 widened to double).

Usage (Python 3.11; versions pinned in tools/requirements-fixtures.txt:
numpy 2.4.6, scikit-learn 1.9.1, skl2onnx 1.20.0, onnx 1.23.2,
onnxruntime 1.31.1, protobuf 7.36.2):
    python -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-fixtures.txt
    .venv-fixtures/bin/python tools/onnx_fixtures.py

Deterministic: fixed seeds, single-threaded onnxruntime; running it twice
writes identical files.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "onnx"

# skl2onnx's opset for the converted models (the main domain; ai.onnx.ml 1).
TARGET_OPSET = 17


def features(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Heavy-ish tailed features in float32, as the engine feeds them."""
    x = rng.standard_t(df=5, size=(n, k)) * rng.uniform(0.01, 2.0, size=k)
    return x.astype(np.float32)


def f32_text(v: np.float32) -> str:
    """Shortest text that parses back to the same float32 (Rust: `str::parse::<f32>`)."""
    v = np.float32(v)
    text = np.format_float_positional(v, unique=True, trim="-") if 1e-4 <= abs(v) < 1e7 or v == 0 \
        else np.format_float_scientific(v, unique=True, trim="-")
    assert np.float32(text) == v and np.signbit(np.float32(text)) == np.signbit(v), text
    return text


def convert(model, name: str, k: int, **options) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # `name` replaces skl2onnx's random graph name (deterministic output).
        return convert_sklearn(model, name=name,
                               initial_types=[("input", FloatTensorType([None, k]))],
                               target_opset={"": TARGET_OPSET, "ai.onnx.ml": 1}, **options)


def probability_of_class_1(model: onnx.ModelProto) -> onnx.ModelProto:
    """Cut a skl2onnx classifier (zipmap off) at `probabilities` and keep
    P(class 1) as the single output `probability` [N, 1], exactly as
    tools/export_model.py does: label, ArgMax and ArrayFeatureExtractor go."""
    graph_input = model.graph.input[0].name
    cut = onnx.utils.Extractor(model).extract_model([graph_input], ["probabilities"])
    g = cut.graph
    g.initializer.extend([
        numpy_helper.from_array(np.array([1], dtype=np.int64), "p1_starts"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "p1_ends"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "p1_axes"),
    ])
    g.node.append(helper.make_node("Slice", ["probabilities", "p1_starts", "p1_ends", "p1_axes"],
                                   ["probability"], name="p1_slice"))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1]))
    # Keep only the main-domain opset once the ML ops are gone.
    domains = {n.domain for n in g.node}
    keep = [o for o in cut.opset_import if o.domain in ("", "ai.onnx") or o.domain in domains]
    del cut.opset_import[:]
    cut.opset_import.extend(keep)
    onnx.checker.check_model(cut, full_check=True)
    return cut


def const(name: str, values, dtype=np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def hand_model(nodes, inputs, outputs, initializers, opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "fixture", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="onnx_fixtures.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def row_input(k: int, batch="N") -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, k])


def gemm_softmax(rng: np.random.Generator) -> onnx.ModelProto:
    """Gemm (transB, alpha, beta) → LeakyRelu → Gemm (transB=0) → Softmax
    over the last axis → Slice of the second column."""
    k, h, c = 5, 7, 3
    w1 = rng.normal(size=(h, k)).astype(np.float32)  # transB=1: [out, in]
    b1 = rng.normal(size=(h,)).astype(np.float32)
    w2 = rng.normal(size=(h, c)).astype(np.float32)
    b2 = rng.normal(size=(1, c)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["g1"], alpha=0.75, beta=1.5, transB=1),
        helper.make_node("LeakyRelu", ["g1"], ["a1"], alpha=0.1),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["g2"]),
        helper.make_node("Softmax", ["g2"], ["p"], axis=-1),
        helper.make_node("Slice", ["p", "starts", "ends", "axes", "steps"], ["out"]),
    ]
    inits = [const("w1", w1), const("b1", b1), const("w2", w2), const("b2", b2),
             const("starts", [1], np.int64), const("ends", [2], np.int64),
             const("axes", [-1], np.int64), const("steps", [1], np.int64)]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1])
    return hand_model(nodes, [row_input(k)], [out], inits, 13)


def broadcast(rng: np.random.Generator) -> onnx.ModelProto:
    """Constants of shape [k], [1,k], [1] and scalar on either side of
    Add/Sub/Mul/Div, the unary ops, Concat and Slice on the last axis,
    ReduceSum with axes as an input, shape ops and Cast."""
    k = 4
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "scale_k"], ["a"]),             # row ⊙ [k]
        helper.make_node("Sub", ["shift_1k", "a"], ["b"]),            # [1,k] ⊙ row
        helper.make_node("Add", ["b", "one"], ["c"]),                 # row ⊙ [1]
        helper.make_node("Div", ["c", "two"], ["d"]),                 # row ⊙ scalar
        helper.make_node("Tanh", ["d"], ["e"]),
        helper.make_node("Abs", ["x"], ["f0"]),
        helper.make_node("Add", ["f0", "one"], ["f1"]),
        helper.make_node("Log", ["f1"], ["f"]),
        helper.make_node("Neg", ["a"], ["g0"]),
        helper.make_node("Sigmoid", ["g0"], ["g"]),
        helper.make_node("Div", ["two", "f1"], ["h0"]),               # scalar ⊙ row
        helper.make_node("Mul", ["h0", "e"], ["h1"]),                 # row ⊙ row
        helper.make_node("Exp", ["h1"], ["h"]),
        helper.make_node("Relu", ["d"], ["r"]),
        helper.make_node("Concat", ["e", "f", "g", "h", "r", "tail"], ["cat"], axis=-1),
        helper.make_node("Slice", ["cat", "starts", "ends", "axes"], ["mid"]),
        helper.make_node("Flatten", ["mid"], ["flat"], axis=1),
        helper.make_node("Unsqueeze", ["flat", "ax0"], ["u"]),       # [1, 1, m]
        helper.make_node("Squeeze", ["u", "ax0"], ["s"]),             # [1, m]
        helper.make_node("Identity", ["s"], ["i"]),
        helper.make_node("ReduceSum", ["i", "last"], ["sum"], keepdims=1),
        helper.make_node("Reshape", ["sum", "shape_n1"], ["out"]),
    ]
    inits = [
        const("scale_k", rng.normal(size=(k,))),
        const("shift_1k", rng.normal(size=(1, k))),
        const("one", [1.0]),
        const("two", 2.0),
        const("tail", [[0.25, -0.5]]),
        const("starts", [2], np.int64), const("ends", [-3], np.int64),
        const("axes", [1], np.int64),
        const("ax0", [0], np.int64), const("last", [-1], np.int64),
        const("shape_n1", [-1, 1], np.int64),
    ]
    # The constant `tail` joins the Concat, so the batch is fixed at 1.
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])
    return hand_model(nodes, [row_input(k, 1)], [out], inits, 13)


def opset11(rng: np.random.Generator) -> onnx.ModelProto:
    """The older attribute forms: MatMul with a [k] weight vector from a
    Constant node, Unsqueeze/Squeeze/ReduceSum with `axes` attributes,
    Softmax with the coerced-2-D semantics."""
    k, h = 3, 4
    w = rng.normal(size=(k, h)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w, "w_value")),
        helper.make_node("MatMul", ["input", "w"], ["m"]),
        helper.make_node("Softmax", ["m"], ["p"], axis=1),
        helper.make_node("Sub", ["p", "bias"], ["q"]),
        helper.make_node("Unsqueeze", ["q"], ["u"], axes=[1]),        # [1, 1, h]
        helper.make_node("Squeeze", ["u"], ["s"], axes=[-2]),         # [1, h]
        helper.make_node("ReduceSum", ["s"], ["r"], axes=[1], keepdims=0),  # [1]
        helper.make_node("Mul", ["r", "gain"], ["out"]),
    ]
    inits = [const("bias", rng.normal(size=(h,)) * 0.1), const("gain", [3.0])]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N"])
    return hand_model(nodes, [row_input(k)], [out], inits, 11)


def erf(rng: np.random.Generator) -> onnx.ModelProto:
    """A GELU-like unit with `Erf`, which the engine does not lower."""
    k = 3
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["m"]),
        helper.make_node("Erf", ["m"], ["e"]),
        helper.make_node("Add", ["e", "b"], ["out"]),
    ]
    inits = [const("w", rng.normal(size=(k, 1))), const("b", [0.5])]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1])
    return hand_model(nodes, [row_input(k)], [out], inits, 13)


def wide_output(rng: np.random.Generator) -> onnx.ModelProto:
    """One output with two values per row: refused."""
    k = 3
    nodes = [helper.make_node("MatMul", ["input", "w"], ["out"])]
    inits = [const("w", rng.normal(size=(k, 2)))]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2])
    return hand_model(nodes, [row_input(k)], [out], inits, 13)


def rows_for(rng: np.random.Generator, k: int, n_random: int) -> np.ndarray:
    """Random rows, zeros, a constant row and a few large magnitudes."""
    x = features(rng, n_random, k)
    special = [np.zeros(k, np.float32), np.full(k, 1.0, np.float32),
               np.full(k, -2.5, np.float32), np.linspace(-8, 8, k).astype(np.float32)]
    return np.vstack([x, *special]).astype(np.float32)


def save(name: str, model: onnx.ModelProto) -> Path:
    path = OUT / name
    path.write_bytes(model.SerializeToString(deterministic=True))
    return path


def expected_case(name: str, path: Path, rows: np.ndarray) -> dict:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert len(session.get_outputs()) == 1, name
    # One row at a time, as the engine predicts.
    feed = session.get_inputs()[0].name
    out = np.vstack([np.asarray(session.run(None, {feed: row[None, :]})[0], dtype=np.float32)
                     .reshape(1, -1) for row in rows])
    assert out.shape[1] == 1, (name, out.shape)
    assert np.all(np.isfinite(out)), name
    return {
        "model": name,
        "n_features": int(rows.shape[1]),
        "rows": [[f32_text(v) for v in row] for row in rows],
        "outputs": [float(v) for v in out[:, 0]],
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    cases = []

    # Ridge, 6 features: MatMul/Add/Reshape.
    k = 6
    x = features(rng, 300, k)
    y = x @ rng.normal(size=k) * 0.01 + rng.normal(0, 0.001, size=len(x))
    model = Ridge(alpha=1.0).fit(x, y)
    path = save("ridge.onnx", convert(model, "ridge", k, black_op={"LinearRegressor"}))
    cases.append(expected_case("ridge.onnx", path, rows_for(rng, k, 30)))

    # MLP regressors: Cast/MatMul/Add/Relu (or Tanh)/.../Reshape.
    k = 5
    x = features(rng, 400, k)
    y = np.tanh(x[:, 0]) - 0.5 * x[:, 1] * x[:, 2] + 0.1 * x[:, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        relu = MLPRegressor(hidden_layer_sizes=(8, 4), activation="relu", max_iter=300,
                            random_state=3).fit(x, y)
        tanh = MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=300,
                            random_state=4).fit(x, y)
    path = save("mlp_relu.onnx", convert(relu, "mlp_relu", k))
    cases.append(expected_case("mlp_relu.onnx", path, rows_for(rng, k, 30)))
    path = save("mlp_tanh.onnx", convert(tanh, "mlp_tanh", k))
    cases.append(expected_case("mlp_tanh.onnx", path, rows_for(rng, k, 30)))

    # Classifiers reduced to P(class 1).
    k = 4
    x = features(rng, 400, k)
    logit = 1.2 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    yc = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    logreg = LogisticRegression().fit(x, yc)
    full = convert(logreg, "logreg", k, black_op={"LinearClassifier"}, options={"zipmap": False})
    save("two_outputs.onnx", full)
    path = save("logreg.onnx", probability_of_class_1(full))
    cases.append(expected_case("logreg.onnx", path, rows_for(rng, k, 30)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlpc = MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=5).fit(x, yc)
    full = convert(mlpc, "mlp_classifier", k, options={"zipmap": False})
    path = save("mlp_classifier.onnx", probability_of_class_1(full))
    cases.append(expected_case("mlp_classifier.onnx", path, rows_for(rng, k, 30)))

    # Hand-built graphs.
    for name, build, width in [("gemm_softmax.onnx", gemm_softmax, 5),
                               ("broadcast.onnx", broadcast, 4),
                               ("opset11.onnx", opset11, 3),
                               ("erf.onnx", erf, 3)]:
        path = save(name, build(rng))
        cases.append(expected_case(name, path, rows_for(rng, width, 20)))
    save("wide_output.onnx", wide_output(rng))

    doc = {
        "generator": "tools/onnx_fixtures.py",
        "versions": {"numpy": np.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__,
                     "skl2onnx": __import__("skl2onnx").__version__,
                     "scikit-learn": __import__("sklearn").__version__},
        "cases": cases,
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
