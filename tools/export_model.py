#!/usr/bin/env python3
"""Train or take models and write them in the run layout the engine loads.

The engine (src/models/artifact/) loads a training run laid out as SPEC §4
describes:

    RUN_ROOT/manifest.json
    RUN_ROOT/targets/<target>/models/view=CROSS_SECTIONAL/family=<Family>/
        model.txt | model.onnx
        model_meta.json

This tool writes that layout, from a dataset or from a model trained
elsewhere. Sub-commands (`--help` on each for every option):

  train --dataset FILE.csv --out RUN_ROOT [--fixtures FILE.json]
        Train, for every horizon, the return models LightGBM (model.txt),
        Ridge and MLP (model.onnx) on `fwd_ret_<h>`, and for the base (first)
        horizon the barrier classifiers LightGBM, Logistic and MLP on
        `will_peak_<base>` and `will_valley_<base>`. `--fixtures` also writes
        Python's predictions on held-out rows for the Rust tests.
  --from-pickle FILE --out DIR      a pickled/joblib LightGBM or scikit-learn
                                    model -> DIR/model.txt or DIR/model.onnx
  --from-lightgbm FILE --out DIR    a LightGBM text model -> DIR/model.txt
  --from-xgboost FILE --out DIR     not supported yet (exits with the way on)
        Each writes (or updates) DIR/model_meta.json with the model's
        checksum and feature list.
  bench-models --out DIR   the benchmark models (lightgbm_200.txt, mlp.onnx,
                           ridge.onnx, each with a .json beside it)
  check RUN_ROOT [--fixtures FILE.json]   verify a run (and its fixtures)
  selftest                 train a tiny synthetic run in a temporary
                           directory and assert layout, checksums,
                           determinism and ONNX/scikit-learn agreement
  synth --out FILE.csv     write a synthetic dataset of the simulator's
                           schema (for trying the tool; not market data)

ONNX models use standard ONNX operators only (MatMul, Add, Sub, Div, Relu,
Sigmoid, Concat, Slice, ...; opset 17, no `ai.onnx.ml` domain), one float32
input `input` [N, n_features] and one float32 output [N, 1]: the prediction
for regressors (`variable`), P(class 1) for classifiers (`probability`).
Every conversion is checked: onnxruntime's outputs must equal scikit-learn's
predictions within 1e-5 (tighter for outputs far below 1), or the tool fails.

Determinism: seeds are fixed, LightGBM runs with `deterministic=True` and
one thread, BLAS and onnxruntime with one thread; re-running the same command
with the same dataset and package versions (tools/requirements.txt) on the
same machine writes byte-identical model files, model_meta.json and fixtures.
manifest.json differs only in `created`, unless SOURCE_DATE_EPOCH is set.

Python 3.11; pinned versions in tools/requirements.txt:
    python3.11 -m venv .venv-export
    .venv-export/bin/pip install -r tools/requirements.txt
    .venv-export/bin/python tools/export_model.py selftest
"""

from __future__ import annotations

import os

# One BLAS thread: reproducible sums and a quiet neighbour on shared machines.
# Must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import datetime as dt
import hashlib
import json
import math
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOOL = "tools/export_model.py"
TOOL_VERSION = "1.0.0"
EXPORTED_BY = f"{TOOL} {TOOL_VERSION}"

META_FILE = "model_meta.json"
MANIFEST_FILE = "manifest.json"
VIEW_DIR = "view=CROSS_SECTIONAL"

# The engine's feature catalogue (SPEC §3; src/features/kind.rs CATALOGUE),
# in its order. A model may use only these names.
CATALOGUE = [
    "ret_1d", "ret_5d", "ret_10d", "ret_20d", "ret_60d",
    "vol_5d", "vol_10d", "vol_20d", "vol_60d",
    "rsi_14", "rsi_7", "rsi_21",
    "ma_ratio_10", "ma_ratio_20", "ma_ratio_50",
    "bb_position", "bb_width",
    "macd", "macd_signal", "macd_hist",
    "mom_5d", "mom_10d", "mom_20d",
    "atr_14", "high_low_range", "volume_ma_ratio", "volume_change",
    "close_to_high_52w", "close_to_low_52w",
]

# The default feature list of `train`: 16 catalogue features, each finite
# after at most 21 bars of history (SPEC §3 "rows needed"), covering returns,
# volatility, oscillators, trend, bands, momentum, range and volume.
DEFAULT_FEATURES = [
    "ret_1d", "ret_5d", "ret_10d", "ret_20d",
    "vol_5d", "vol_20d",
    "rsi_14", "rsi_7",
    "ma_ratio_10", "ma_ratio_20",
    "bb_position", "bb_width",
    "macd_hist", "mom_5d", "high_low_range", "volume_ma_ratio",
]

DEFAULT_HORIZONS = "5m,10m,15m,30m,60m,1d"
DEFAULT_SEED = 7
TEST_FRACTION = 0.2  # held-out, time-ordered tail
FIXTURE_ROWS = 16
SKLEARN_MAX_ROWS = 100_000  # most recent training rows the scikit-learn models see

RETURN_FAMILIES = ["LightGBM", "MLP", "Ridge"]  # byte-wise sorted
BARRIER_FAMILIES = ["LightGBM", "Logistic", "MLP"]

# LightGBM: small (40 trees of 8 leaves), deterministic, single-threaded.
LGB_COMMON = {
    "num_leaves": 8,
    "learning_rate": 0.05,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "lambda_l2": 1.0,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
}
LGB_ROUNDS = 40
LGB_MIN_DATA_FLOOR = 100  # min_data_in_leaf = max(this, rows // 200)

ONNX_OPSET = 17
ONNX_INPUT = "input"
# `ai.onnx.ml` operators whose scikit-learn converters have a standard-ops
# alternative, which skl2onnx then uses. (ArrayFeatureExtractor, which maps a
# classifier's ArgMax to its labels, is cut away with the label output.)
BLACK_OPS = {"LinearRegressor", "LinearClassifier", "Scaler", "Normalizer"}
# Standard operators an exported graph may contain (all run by tract).
ALLOWED_OPS = {
    "Abs", "Add", "Cast", "Clip", "Concat", "Div", "Exp", "Flatten", "Gemm",
    "Identity", "Log", "MatMul", "Max", "Min", "Mul", "Neg", "ReduceSum", "Relu", "Reshape",
    "Sigmoid", "Slice", "Softmax", "Sqrt", "Squeeze", "Sub", "Tanh", "Unsqueeze",
}

# LightGBM objectives the engine evaluates (src/models/lightgbm.rs).
LGB_REGRESSION_OBJECTIVES = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}

HORIZON_RE = re.compile(r"^(\d+)([mhd])$")
TARGET_SUFFIX_RE = re.compile(r"(\d+[mhd])$")
MODEL_FILES = ("model.onnx", "model.txt", "model.ltw")


class ExportError(Exception):
    """A problem the user can fix; printed without a traceback (exit 2)."""


# --------------------------------------------------------------------------
# small helpers


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finite_or_none(x: float | None) -> float | None:
    """JSON has no NaN: a non-finite metric is written as null (SPEC §4:
    absent or non-finite `metrics.ic` counts as 0)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def json_text(doc, compact_lists: bool = False) -> str:
    text = json.dumps(doc, indent=2, allow_nan=False)
    if compact_lists:
        # innermost lists on one line each: small and still readable
        text = re.sub(r"\[([^\[\]{}]*)\]",
                      lambda m: "[" + re.sub(r"\n\s*", "", m.group(1)).replace(",", ", ") + "]",
                      text)
    return text + "\n"


def write_json(path: Path, doc, compact_lists: bool = False) -> None:
    path.write_text(json_text(doc, compact_lists))


def versions() -> dict:
    import lightgbm
    import onnx
    import onnxruntime
    import scipy
    import skl2onnx
    import sklearn
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def created_stamp() -> str:
    """Now, UTC; SOURCE_DATE_EPOCH (seconds) pins it for reproducible runs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch
           else dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def f32_exact(x) -> float:
    """A float32 value as the Python float (double) that equals it exactly."""
    return float(np.float32(x))


def to_f32(x: np.ndarray) -> np.ndarray:
    """The engine's cast (SPEC §3): float64 -> float32, round to nearest even."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64).astype(np.float32))


# --------------------------------------------------------------------------
# horizons and features


@dataclass(frozen=True)
class Horizon:
    label: str  # canonical: lowercase, as in target names
    minutes: int


def parse_horizons(text: str) -> list[Horizon]:
    """SPEC §1: strip, lowercase, `^(\\d+)([mhd])$`, N >= 1; m -> N, h -> 60N,
    d -> 390N; sorted by minutes; equal minutes is an error."""
    out: list[Horizon] = []
    for raw in text.split(","):
        label = raw.strip().lower()
        m = HORIZON_RE.match(label)
        if not m or int(m.group(1)) < 1:
            raise ExportError(f"--horizons: {raw.strip()!r} is not a horizon: expected N followed by "
                              "m, h or d with N >= 1 (5m, 1h, 1d)")
        n = int(m.group(1))
        minutes = {"m": n, "h": 60 * n, "d": 390 * n}[m.group(2)]
        clash = [h for h in out if h.minutes == minutes]
        if clash:
            raise ExportError(f"--horizons: {label} and {clash[0].label} are both {minutes} minutes")
        out.append(Horizon(label, minutes))
    if not out:
        raise ExportError("--horizons: no horizon given")
    return sorted(out, key=lambda h: h.minutes)


def parse_feature_list(text: str | None, option: str = "--features") -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ExportError(f"{option}: no feature named")
    check_feature_names(names, option)
    return names


def check_feature_names(names: list[str], where: str) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportError(f"{where}: feature(s) listed twice: {', '.join(dup)}")
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise ExportError(
            f"{where}: {', '.join(unknown)} not in the engine's feature catalogue (SPEC §3), so "
            f"the engine would refuse the model; known: {', '.join(CATALOGUE)}")


# --------------------------------------------------------------------------
# dataset


@dataclass
class Dataset:
    path: Path
    sha256: str
    symbols: np.ndarray  # int codes, one per row
    symbol_names: list[str]
    times: np.ndarray  # int64 microseconds since the epoch (UTC)
    columns: dict[str, np.ndarray]  # float64, NaN where the cell is empty

    @property
    def rows(self) -> int:
        return len(self.times)


def parse_time_us(text: str) -> int:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def load_dataset(path: Path, needed: list[str]) -> Dataset:
    """Read the simulator's CSV (`symbol,time,<features>,<targets>`); only the
    `needed` numeric columns are kept. Empty cells are NaN."""
    if not path.is_file():
        raise ExportError(f"--dataset: {path} is not a file")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ExportError(f"{path}: the file is empty") from None
        for col in ("symbol", "time"):
            if col not in header:
                raise ExportError(f"{path}: no `{col}` column (header starts {header[:4]})")
        missing = [c for c in needed if c not in header]
        if missing:
            have = [h for h in header if h.startswith(("fwd_ret_", "will_"))]
            hint = "choose --horizons/--features from its columns"
            if any(c.startswith("will_") for c in missing):
                hint += ", or pass --no-barriers to train no barrier classifier"
            raise ExportError(f"{path}: missing column(s) {', '.join(missing)}; the dataset has "
                              f"targets {', '.join(have) or 'none'} ({hint})")
        index = {c: header.index(c) for c in ["symbol", "time", *needed]}
        raw = {c: [] for c in index}
        width = len(header)
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != width:
                raise ExportError(f"{path}:{lineno}: {len(row)} cells, the header has {width}")
            for c, j in index.items():
                raw[c].append(row[j])
    if not raw["time"]:
        raise ExportError(f"{path}: no data rows")

    time_cache: dict[str, int] = {}
    times = np.empty(len(raw["time"]), dtype=np.int64)
    for i, s in enumerate(raw["time"]):
        v = time_cache.get(s)
        if v is None:
            try:
                v = parse_time_us(s)
            except ValueError:
                raise ExportError(f"{path}:{i + 2}: time {s!r} is not ISO-8601") from None
            time_cache[s] = v
        times[i] = v
    symbol_names = sorted(set(raw["symbol"]))
    code = {s: k for k, s in enumerate(symbol_names)}
    symbols = np.fromiter((code[s] for s in raw["symbol"]), dtype=np.int64, count=len(times))

    def number(cell: str, c: str, i: int) -> float:
        if cell == "" or cell.strip() == "":
            return math.nan
        try:
            return float(cell)
        except ValueError:
            raise ExportError(f"{path}:{i + 2}: column {c} holds {cell!r}, not a number") from None

    columns = {c: np.fromiter((number(v, c, i) for i, v in enumerate(raw[c])),
                              dtype=np.float64, count=len(times))
               for c in needed}
    return Dataset(path, sha256_file(path), symbols, symbol_names, times, columns)


def infer_interval_minutes(ds: Dataset) -> float | None:
    """The most common positive spacing between one symbol's consecutive
    bars, in minutes; None when no symbol has two bars."""
    order = np.lexsort((ds.times, ds.symbols))
    t, s = ds.times[order], ds.symbols[order]
    d = np.diff(t)[np.diff(s) == 0]
    d = d[d > 0]
    if len(d) == 0:
        return None
    values, counts = np.unique(d, return_counts=True)
    return float(values[np.argmax(counts)]) / 60e6


def minutes_value(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


@dataclass
class Split:
    train: np.ndarray  # row indices, time order
    test: np.ndarray
    cut_time: int
    embargo_bars: int


def time_split(times: np.ndarray, symbols: np.ndarray, embargo_bars: int) -> Split:
    """Hold out the time-ordered tail (the last ~20% of rows, whole
    timestamps). Training rows in the `embargo_bars` timestamps before the
    cut are dropped, so no training target looks into the held-out period."""
    order = np.lexsort((symbols, times))
    t_sorted = times[order]
    uniq, counts = np.unique(t_sorted, return_counts=True)
    before = np.cumsum(counts) - counts  # rows strictly before each timestamp
    k = int(np.searchsorted(before, (1.0 - TEST_FRACTION) * len(times), side="left"))
    k = min(max(k, 1), len(uniq) - 1)
    cut = int(uniq[k])
    last_train = k - embargo_bars  # first timestamp index NOT in train
    train_end = int(uniq[last_train]) if last_train > 0 else None
    test = order[t_sorted >= cut]
    train = order[t_sorted < train_end] if train_end is not None else order[:0]
    return Split(train, test, cut, embargo_bars)


# --------------------------------------------------------------------------
# ONNX conversion and checks


def final_estimator(model):
    from sklearn.pipeline import Pipeline
    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def is_classifier_model(model) -> bool:
    from sklearn.base import is_classifier
    return bool(is_classifier(model))


def sklearn_to_onnx(model, n_features: int, graph_name: str):
    """Convert a fitted scikit-learn regressor or binary classifier (or a
    Pipeline ending in one) to an ONNX model with standard operators only,
    one input `input` [N, n_features] float32 and one output [N, 1]: the
    prediction (`variable`), or P(class 1) (`probability`)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    classifier = is_classifier_model(model)
    options = None
    if classifier:
        classes = [c.item() if hasattr(c, "item") else c
                   for c in getattr(final_estimator(model), "classes_", [])]
        if len(classes) != 2:
            raise ExportError(f"{type(final_estimator(model)).__name__} has {len(classes)} classes "
                              f"({classes}); only binary classifiers (P(class 1)) are exported")
        options = {id(final_estimator(model)): {"zipmap": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            onx = convert_sklearn(
                model, name=graph_name,
                initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
                target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3},
                options=options, black_op=BLACK_OPS)
        except Exception as e:  # skl2onnx raises many kinds
            raise ExportError(f"skl2onnx cannot convert {describe_model(model)} with standard ONNX "
                              f"operators: {e}") from None
    if classifier:
        onx = reduce_to_probability(onx)
    else:
        outs = [o.name for o in onx.graph.output]
        if len(outs) != 1:
            raise ExportError(f"the ONNX regressor has outputs {outs}, expected one")
    return finish_onnx(onx, graph_name)


def reduce_to_probability(onx):
    """Cut the classifier graph at `probabilities` [N, 2] (dropping the
    label, ArgMax and ArrayFeatureExtractor part) and append
    Slice(starts=[1], ends=[2], axes=[1]) -> `probability` [N, 1]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    outs = [o.name for o in onx.graph.output]
    if "probabilities" not in outs:
        raise ExportError(f"the ONNX classifier has outputs {outs}, expected `probabilities`")
    cut = onnx.utils.Extractor(onx).extract_model([ONNX_INPUT], ["probabilities"])
    g = cut.graph
    g.initializer.extend([
        numpy_helper.from_array(np.array([1], dtype=np.int64), "probability_starts"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "probability_ends"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "probability_axes"),
    ])
    g.node.append(helper.make_node(
        "Slice", ["probabilities", "probability_starts", "probability_ends", "probability_axes"],
        ["probability"], name="probability_of_class_1"))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1]))
    return cut


def finish_onnx(onx, graph_name: str):
    """Drop unused opset imports, declare opset 17 (skl2onnx declares the
    lowest opset its operators need; onnx's version converter lifts it),
    fix names, and check: standard operators only, one float32 input [N, n]
    and one float32 output [N, 1]."""
    import onnx
    from onnx import TensorProto, version_converter

    used_domains = {n.domain for n in onx.graph.node}
    keep = [o for o in onx.opset_import if o.domain in used_domains or o.domain in ("", "ai.onnx")]
    del onx.opset_import[:]
    onx.opset_import.extend(keep)
    if [o.version for o in keep if o.domain in ("", "ai.onnx")] != [ONNX_OPSET]:
        onx = version_converter.convert_version(onx, ONNX_OPSET)
    onx.graph.name = graph_name
    onx.producer_name = "skl2onnx"
    onx.doc_string = f"written by {EXPORTED_BY}"
    bad = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onx.graph.node
                  if n.domain not in ("", "ai.onnx") or n.op_type not in ALLOWED_OPS})
    if bad:
        raise ExportError(f"the ONNX graph uses operators the engine does not run: {', '.join(bad)}")
    for what, vals in (("input", onx.graph.input), ("output", onx.graph.output)):
        if len(vals) != 1 or vals[0].type.tensor_type.elem_type != TensorProto.FLOAT:
            raise ExportError(f"the ONNX graph must have one float32 {what}, it has "
                              f"{[(v.name, v.type.tensor_type.elem_type) for v in vals]}")
    onnx.checker.check_model(onx, full_check=True)
    return onx


def ort_session(model_bytes: bytes):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    # Evaluate the graph as written, op by op (no fusions): the reference
    # the engine's ONNX back-end is compared with.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def ort_predict(session, x32: np.ndarray) -> np.ndarray:
    name = session.get_inputs()[0].name
    (out,) = session.run(None, {name: np.ascontiguousarray(x32, dtype=np.float32)})
    out = np.asarray(out)
    if out.ndim != 2 or out.shape[1] != 1 or out.shape[0] != len(x32):
        raise ExportError(f"the ONNX model returned shape {out.shape}, expected [{len(x32)}, 1]")
    return out[:, 0].astype(np.float64)


def sklearn_predict(model, x32: np.ndarray) -> np.ndarray:
    if is_classifier_model(model):
        return np.asarray(model.predict_proba(x32), dtype=np.float64)[:, 1]
    return np.asarray(model.predict(x32), dtype=np.float64).reshape(-1)


def agreement_tolerance(reference: np.ndarray) -> float:
    """1e-5, scaled down for outputs well below 1 (returns are ~1e-3): the
    tolerance is 1e-5 * clamp(max |reference|, 0.1, 1)."""
    scale = float(np.max(np.abs(reference))) if len(reference) else 1.0
    return 1e-5 * min(1.0, max(scale, 0.1))


def check_onnx_agrees(model_bytes: bytes, model, x32: np.ndarray, what: str) -> float:
    """onnxruntime's output must equal scikit-learn's (regression value, or
    predict_proba[:, 1]) on the same float32 rows; fails loudly otherwise."""
    got = ort_predict(ort_session(model_bytes), x32)
    want = sklearn_predict(model, x32)
    tol = agreement_tolerance(want)
    diff = np.abs(got - want)
    worst = int(np.argmax(diff)) if len(diff) else 0
    if not np.all(np.isfinite(got)) or (len(diff) and diff[worst] > tol):
        raise ExportError(
            f"{what}: the ONNX model disagrees with scikit-learn: row {worst}: onnxruntime "
            f"{got[worst]!r}, scikit-learn {want[worst]!r}, |diff| {diff[worst]:.3g} > {tol:.3g}; "
            "the conversion is wrong, nothing was written")
    return float(diff[worst]) if len(diff) else 0.0


def describe_model(model) -> str:
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        return "Pipeline(" + ", ".join(type(s).__name__ for _, s in model.steps) + ")"
    return type(model).__name__


# --------------------------------------------------------------------------
# LightGBM


def lgb_params(binary: bool, n_train: int, seed: int) -> dict:
    return {
        **LGB_COMMON,
        "objective": "binary" if binary else "regression",
        "min_data_in_leaf": max(LGB_MIN_DATA_FLOOR, n_train // 200),
        "seed": seed,
    }


def train_lightgbm(x32: np.ndarray, y: np.ndarray, features: list[str], binary: bool, seed: int):
    import lightgbm as lgb
    params = lgb_params(binary, len(y), seed)
    data = lgb.Dataset(x32, y.astype(np.float64), feature_name=features,
                       params={"verbose": -1}, free_raw_data=False)
    return lgb.train(params, data, num_boost_round=LGB_ROUNDS), params


def lightgbm_text_problems(text: str) -> list[str]:
    """What in a LightGBM text model the engine cannot evaluate exactly."""
    problems = []
    head = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        if "=" in line:
            k, v = line.split("=", 1)
            head[k] = v
    objective = head.get("objective", "").split(" ")[0]
    if head.get("num_class", "1") != "1":
        problems.append(f"num_class={head['num_class']} (multiclass)")
    if objective not in LGB_REGRESSION_OBJECTIVES | {"binary"}:
        problems.append(f"objective {objective or '(none)'} (supported: binary, "
                        f"{', '.join(sorted(LGB_REGRESSION_OBJECTIVES))})")
    if re.search(r"^num_cat=[1-9]", text, re.M):
        problems.append("categorical splits")
    if re.search(r"^is_linear=1", text, re.M):
        problems.append("linear trees")
    return problems


def lightgbm_feature_names(text: str) -> list[str] | None:
    """Names from the `feature_names=` header; None for LightGBM's
    placeholders (`Column_0`, ...) of a model trained on a bare array."""
    m = re.search(r"^feature_names=(.*)$", text, re.M)
    if not m:
        return None
    names = m.group(1).split()
    if all(re.fullmatch(r"Column_\d+", n) for n in names):
        return None
    return names


# --------------------------------------------------------------------------
# scikit-learn models of `train`


def make_sklearn(family: str, binary: bool, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "Ridge":
        est = Ridge(alpha=1.0)
    elif family == "Logistic":
        est = LogisticRegression(C=1.0, max_iter=1000)
    elif family == "MLP":
        common = dict(hidden_layer_sizes=(16,), activation="relu", solver="adam", alpha=1e-3,
                      batch_size=256, learning_rate_init=1e-3, max_iter=30, shuffle=True,
                      random_state=seed, tol=1e-6, n_iter_no_change=30)
        est = MLPClassifier(**common) if binary else MLPRegressor(**common)
    else:
        raise ValueError(family)
    # Standardised inputs, folded into the exported graph (Sub, Div).
    return Pipeline([("scale", StandardScaler()), ("model", est)])


def fit_sklearn(pipe, x32: np.ndarray, y: np.ndarray, binary: bool):
    """Fit; an MLP regressor learns the standardised target and the scale is
    folded back into its output layer, so it predicts returns."""
    from sklearn.neural_network import MLPRegressor
    est = pipe.steps[-1][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few epochs by design
        if isinstance(est, MLPRegressor):
            mean, scale = float(np.mean(y)), float(np.std(y))
            scale = scale if scale > 0 else 1.0
            pipe.fit(x32, (y - mean) / scale)
            est.coefs_[-1] = est.coefs_[-1] * scale
            est.intercepts_[-1] = est.intercepts_[-1] * scale + mean
        else:
            pipe.fit(x32, y.astype(np.int64) if binary else y)
    return pipe


# --------------------------------------------------------------------------
# metrics


def spearman_ic(pred: np.ndarray, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr
    if len(pred) < 3 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return None
    return finite_or_none(spearmanr(pred, y).statistic)


def roc_auc(prob: np.ndarray, y: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score
    if len(np.unique(y)) < 2:
        return None
    return finite_or_none(roc_auc_score(y.astype(np.int64), prob))


# --------------------------------------------------------------------------
# writing one model directory


def model_dir(run_root: Path, target: str, family: str) -> Path:
    return run_root / "targets" / target / "models" / VIEW_DIR / f"family={family}"


def write_model(out: Path, model_file: str, data: bytes, meta: dict) -> dict:
    """Write the model file and model_meta.json (with model_checksum) into
    `out`; returns the meta written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / model_file
    path.write_bytes(data)
    meta = {**meta, "model_checksum": sha256_file(path)}
    write_json(out / META_FILE, meta)
    return meta


def base_meta(family: str | None, target: str | None, features: list[str],
              interval_minutes, model_file: str) -> dict:
    meta = {}
    if family is not None:
        meta["family"] = family
    if target is not None:
        meta["target"] = target
    meta.update({
        "feature_list": list(features),
        "n_features": len(features),
        "input_mode": "features",
        "interval_minutes": minutes_value(interval_minutes),
        "model_file": model_file,
        "model_format": "onnx" if model_file.endswith(".onnx") else "lightgbm-text",
    })
    return meta


def onnx_io_meta(onx) -> dict:
    opset = next(o.version for o in onx.opset_import if o.domain in ("", "ai.onnx"))
    return {"input": onx.graph.input[0].name, "output": onx.graph.output[0].name,
            "opset": int(opset)}


# --------------------------------------------------------------------------
# train


def target_role(target: str) -> str:
    if target.startswith("will_peak_"):
        return "barrier_peak"
    if target.startswith("will_valley_"):
        return "barrier_valley"
    return "return"


def prepare_run_root(out: Path, force: bool) -> Path:
    """Check that `out` may be (re)written and return a fresh staging
    directory inside it (a hidden name, which the engine's scan skips)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out: {out} exists and is not a directory")
    manifest = out / MANIFEST_FILE
    ours = False
    if manifest.is_file():
        try:
            ours = json.loads(manifest.read_text()).get("tool") == TOOL
        except (ValueError, OSError):
            ours = False
    if (out / "targets").exists() and not ours and not force:
        raise ExportError(f"--out: {out} already holds a run that this tool did not write; "
                          "choose another directory, or pass --force to replace its targets/ "
                          "and manifest.json")
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".export-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def commit_run(staging: Path, out: Path) -> None:
    """Replace out/targets and out/manifest.json with the staged ones; other
    files in `out` are left alone."""
    old = out / f".old-{os.getpid()}"
    if (out / "targets").exists():
        (out / "targets").rename(old)
    (staging / "targets").rename(out / "targets")
    (staging / MANIFEST_FILE).replace(out / MANIFEST_FILE)
    staging.rmdir()
    if old.exists():
        shutil.rmtree(old)


def cmd_train(args) -> int:
    horizons = parse_horizons(args.horizons)
    features = parse_feature_list(args.features) or list(DEFAULT_FEATURES)
    check_feature_names(features, "feature list")
    base = horizons[0]
    targets = [f"fwd_ret_{h.label}" for h in horizons]
    if not args.no_barriers:
        targets += [f"will_peak_{base.label}", f"will_valley_{base.label}"]
    horizon_of = {f"fwd_ret_{h.label}": h for h in horizons}
    horizon_of.update({t: base for t in targets if target_role(t) != "return"})

    note(f"reading {args.dataset}")
    ds = load_dataset(Path(args.dataset), features + targets)
    if args.interval_minutes is not None:
        if not (args.interval_minutes > 0 and math.isfinite(args.interval_minutes)):
            raise ExportError("--interval-minutes must be a number > 0")
        interval = args.interval_minutes
    else:
        interval = infer_interval_minutes(ds)
        if interval is None:
            note("no symbol has two bars: interval_minutes defaults to 1 (--interval-minutes)")
            interval = 1.0
    note(f"{ds.rows} rows, {len(ds.symbol_names)} symbols, {interval:g}-minute bars")

    x_all = np.column_stack([ds.columns[f] for f in features])
    x32_all = to_f32(x_all)
    x_ok = np.all(np.isfinite(x_all), axis=1) & np.all(np.isfinite(x32_all), axis=1)

    out = Path(args.out)
    staging = prepare_run_root(out, args.force)
    fixtures = []
    model_ids = []
    try:
        for target in targets:
            role = target_role(target)
            h = horizon_of[target]
            y_all = ds.columns[target]
            rows = np.flatnonzero(x_ok & np.isfinite(y_all))
            binary = role != "return"
            if binary and not np.all(np.isin(y_all[rows], (0.0, 1.0))):
                raise ExportError(f"{target}: values must be 0 or 1")
            embargo = max(1, math.ceil(h.minutes / interval))
            split = time_split(ds.times[rows], ds.symbols[rows], embargo)
            train, test = rows[split.train], rows[split.test]
            if len(train) < 50 or len(test) < FIXTURE_ROWS:
                raise ExportError(
                    f"{target}: too little data: {len(train)} training and {len(test)} held-out "
                    f"rows with every feature and the target present (the {embargo} bars before "
                    "the held-out tail are left out of training); use a longer dataset")
            if binary and (len(np.unique(y_all[train])) < 2 or len(np.unique(y_all[test])) < 2):
                raise ExportError(f"{target}: both classes must occur in the training and the "
                                  "held-out rows")
            x_tr, y_tr = x32_all[train], y_all[train]
            x_te, y_te = x32_all[test], y_all[test]
            fix_idx = np.unique(np.linspace(0, len(test) - 1, FIXTURE_ROWS).round().astype(int))
            x_fix = x_te[fix_idx]
            families = BARRIER_FAMILIES if binary else RETURN_FAMILIES
            for family in families:
                mid = f"{target}/{family}"
                note(f"training {mid}")
                out_dir = model_dir(staging, target, family)
                common_metrics = {"n_train": int(len(train)), "n_test": int(len(test)),
                                  "holdout": "time-ordered tail, last 20% of rows; "
                                             f"{embargo} bars before it left out of training"}
                if family == "LightGBM":
                    import lightgbm as lgb
                    booster, params = train_lightgbm(x_tr, y_tr, features, binary, args.seed)
                    out_dir.mkdir(parents=True, exist_ok=True)
                    booster.save_model(str(out_dir / "model.txt"))
                    # predict with the saved text, as a deployment would
                    loaded = lgb.Booster(model_file=str(out_dir / "model.txt"))
                    pred = loaded.predict(x_te, num_iteration=-1)
                    expected = loaded.predict(x_fix, num_iteration=-1)
                    data = (out_dir / "model.txt").read_bytes()
                    model_file, fmt = "model.txt", "lightgbm-text"
                    extra = {"training": {"library": "lightgbm", "num_boost_round": LGB_ROUNDS,
                                          "params": params}}
                else:
                    n_fit = min(len(train), args.sklearn_max_rows)
                    pipe = fit_sklearn(make_sklearn(family, binary, args.seed),
                                       x_tr[-n_fit:], y_tr[-n_fit:], binary)
                    onx = sklearn_to_onnx(pipe, len(features), f"{target}_{family}")
                    data = onx.SerializeToString()
                    agree = check_onnx_agrees(data, pipe, x_te, mid)
                    session = ort_session(data)
                    pred = ort_predict(session, x_te)
                    expected = ort_predict(session, x_fix)
                    model_file, fmt = "model.onnx", "onnx"
                    extra = {"onnx": {**onnx_io_meta(onx), "max_abs_diff_vs_sklearn": agree},
                             "training": {"library": "scikit-learn", "model": describe_model(pipe),
                                          "rows": int(n_fit), "seed": args.seed}}
                metrics = {"ic": spearman_ic(pred, y_te)}
                if binary:
                    metrics["roc_auc"] = roc_auc(pred, y_te)
                metrics.update(common_metrics)
                meta = base_meta(family, target, features, interval, model_file)
                meta.update({
                    "metrics": metrics,
                    "cross_sectional_ranking": {"enabled": False},
                    "horizon": h.label,
                    "role": role,
                    **extra,
                    "exported_by": EXPORTED_BY,
                })
                write_model(out_dir, model_file, data, meta)
                model_ids.append(mid)
                if not np.all(np.isfinite(expected)):
                    raise ExportError(f"{mid}: non-finite prediction on held-out rows")
                fixtures.append({
                    "id": mid,
                    "format": fmt,
                    "feature_list": list(features),
                    "rows": [[f32_exact(v) for v in row] for row in x_fix],
                    "expected": [float(v) for v in expected],
                })
                ic = metrics["ic"]
                note(f"  {mid}: ic {'n/a' if ic is None else f'{ic:+.4f}'}"
                     + (f", auc {metrics['roc_auc']:.4f}" if binary and metrics["roc_auc"] else ""))

        manifest = {
            "tool": TOOL,
            "tool_version": TOOL_VERSION,
            "created": created_stamp(),
            "dataset": {
                "file": ds.path.name,
                "sha256": ds.sha256,
                "rows": ds.rows,
                "symbols": len(ds.symbol_names),
                "first_time": iso_us(int(ds.times.min())),
                "last_time": iso_us(int(ds.times.max())),
            },
            "seed": args.seed,
            "interval_minutes": minutes_value(interval),
            "horizons": [h.label for h in horizons],
            "base_horizon": base.label,
            "targets": targets,
            "families": {"return": RETURN_FAMILIES,
                         "barrier": [] if args.no_barriers else BARRIER_FAMILIES},
            "view": "CROSS_SECTIONAL",
            "feature_list": features,
            "models": sorted(model_ids),
            "versions": versions(),
        }
        write_json(staging / MANIFEST_FILE, manifest)
        commit_run(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    note(f"wrote {len(model_ids)} models to {out} ({total / 1024:.0f} KiB)")
    if args.fixtures:
        doc = {
            "generated_by": f"{EXPORTED_BY} (lightgbm {versions()['lightgbm']}, onnxruntime "
                            f"{versions()['onnxruntime']})",
            "run": args.out,
            "note": "rows are float32 values written exactly as doubles; expected is "
                    "lightgbm Booster.predict (raw score for regression, probability for binary) "
                    "or onnxruntime's output (graph optimisations off) on those rows",
            "models": sorted(fixtures, key=lambda m: m["id"]),
        }
        path = Path(args.fixtures)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, doc, compact_lists=True)
        note(f"wrote fixtures for {len(fixtures)} models to {path}")
    return 0


def iso_us(us: int) -> str:
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"


# --------------------------------------------------------------------------
# converting a model trained elsewhere


def infer_from_path(out: Path) -> tuple[str | None, str | None]:
    """(target, family) from `.../targets/<target>/models/view=*/family=<F>`."""
    parts = out.resolve().parts
    family = parts[-1][len("family="):] if parts and parts[-1].startswith("family=") else None
    target = None
    if len(parts) >= 4 and parts[-2].startswith("view=") and parts[-3] == "models":
        target = parts[-4]
    return target, family


def default_family(model) -> str:
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    est = final_estimator(model)
    name = type(est).__name__
    if name in ("Booster", "LGBMRegressor", "LGBMClassifier", "LGBMModel"):
        return "LightGBM"
    if isinstance(est, LogisticRegression):
        return "Logistic"
    if isinstance(est, Ridge):
        return "Ridge"
    if isinstance(est, LinearRegression):
        return "Linear"
    if isinstance(est, (MLPClassifier, MLPRegressor)):
        return "MLP"
    return name


def resolve_convert_features(model_names: list[str] | None, given: list[str] | None,
                             existing: list[str] | None, n_inputs: int | None,
                             source: str) -> list[str]:
    """The feature list: the model's own names, else --features, else the
    existing model_meta.json's; every source present must agree."""
    candidates = [(n, s) for n, s in ((model_names, "the model's feature names"),
                                     (given, "--features"),
                                     (existing, f"the existing {META_FILE}")) if n]
    if not candidates:
        raise ExportError(
            f"{source}: the model carries no feature names (it was trained on a bare array) and "
            f"no --features was given; pass --features a,b,... in the model's input order")
    names, where = candidates[0]
    for other, other_where in candidates[1:]:
        if list(other) != list(names):
            raise ExportError(f"{source}: {where} ({', '.join(names)}) and {other_where} "
                              f"({', '.join(other)}) differ; the feature order must match the "
                              "model's input")
    if n_inputs is not None and n_inputs != len(names):
        raise ExportError(f"{source}: the model takes {n_inputs} inputs but {where} lists "
                          f"{len(names)} features")
    check_feature_names(list(names), where)
    return list(names)


def convert_common(args, source: str, model_file: str, data: bytes, family: str,
                   model_names: list[str] | None, n_inputs: int | None, extra: dict,
                   verify=None) -> int:
    out = Path(args.convert_out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out: {out} is not a directory")
    existing = {}
    if (out / META_FILE).is_file():
        try:
            existing = json.loads((out / META_FILE).read_text())
        except ValueError as e:
            raise ExportError(f"{out / META_FILE} is not valid JSON ({e}); move it away") from None
        if not isinstance(existing, dict):
            raise ExportError(f"{out / META_FILE} is not a JSON object; move it away")
    others = [f for f in MODEL_FILES if f != model_file and (out / f).exists()]
    if others:
        raise ExportError(f"{out} already holds {', '.join(others)}; the engine loads one model "
                          "file per directory: remove it first")
    existing_list = next((existing[k] for k in ("feature_list", "features", "feature_names")
                          if isinstance(existing.get(k), list) and existing[k]), None)
    given = parse_feature_list(args.features)
    features = resolve_convert_features(model_names, given, existing_list, n_inputs, source)
    path_target, path_family = infer_from_path(out)
    target = args.target or existing.get("target") or path_target
    family = args.family or path_family or existing.get("family") or family
    interval = (args.interval_minutes if args.interval_minutes is not None
                else existing.get("interval_minutes", 1))
    if verify is not None:
        verify()
    meta = dict(existing)
    for k in ("features", "feature_names"):
        meta.pop(k, None)
    meta.update(base_meta(family, target, features, interval, model_file))
    meta.setdefault("cross_sectional_ranking", {"enabled": False})
    if args.ic is not None:
        meta["metrics"] = {**meta.get("metrics", {}), "ic": finite_or_none(args.ic)}
    meta.update(extra)
    meta["converted_from"] = Path(source).name
    meta["exported_by"] = EXPORTED_BY
    meta.pop("model_checksum", None)
    meta = write_model(out, model_file, data, meta)
    if target is None:
        note(f"note: no --target given and none found in {out}; `target` is left out of "
             f"{META_FILE}")
    print(f"wrote {out / model_file} and {out / META_FILE} (family {family}, "
          f"{len(features)} features, sha256 {meta['model_checksum'][:12]}...)")
    return 0


def cmd_from_lightgbm(args) -> int:
    import lightgbm as lgb
    src = Path(args.from_lightgbm)
    if not src.is_file():
        raise ExportError(f"--from-lightgbm: {src} is not a file")
    text = src.read_text(errors="replace")
    if not text.startswith("tree"):
        raise ExportError(f"--from-lightgbm: {src} is not a LightGBM text model (it should start "
                          "with `tree`; save one with booster.save_model(path))")
    problems = lightgbm_text_problems(text)
    if problems:
        raise ExportError(f"{src}: the engine cannot evaluate this LightGBM model: "
                          f"{'; '.join(problems)}; retrain with objective regression or binary")
    try:
        booster = lgb.Booster(model_file=str(src))
    except lgb.basic.LightGBMError as e:
        raise ExportError(f"{src}: LightGBM cannot read it: {e}") from None
    return convert_common(args, str(src), "model.txt", src.read_bytes(), "LightGBM",
                          lightgbm_feature_names(text), booster.num_feature(),
                          {"training": {"library": "lightgbm"}})


def cmd_from_pickle(args) -> int:
    src = Path(args.from_pickle)
    if not src.is_file():
        raise ExportError(f"--from-pickle: {src} is not a file")
    note(f"loading {src} (unpickling runs code from the file: only load pickles you trust)")
    try:
        import joblib
        model = joblib.load(src)
    except Exception as e:
        raise ExportError(f"{src}: cannot unpickle it: {type(e).__name__}: {e}") from None

    name = type(model).__name__
    if name in ("LGBMRegressor", "LGBMClassifier", "LGBMModel"):
        if not hasattr(model, "booster_"):
            raise ExportError(f"{src}: the {name} is not fitted")
        if name == "LGBMClassifier" and getattr(model, "n_classes_", 2) != 2:
            raise ExportError(f"{src}: the classifier has {model.n_classes_} classes; only binary "
                              "classifiers are supported")
        model = model.booster_
        name = "Booster"
    if name == "Booster":
        text = model.model_to_string(num_iteration=-1)
        problems = lightgbm_text_problems(text)
        if problems:
            raise ExportError(f"{src}: the engine cannot evaluate this LightGBM model: "
                              f"{'; '.join(problems)}; retrain with objective regression or binary")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.txt"
            model.save_model(str(path), num_iteration=-1)
            data = path.read_bytes()
        return convert_common(args, str(src), "model.txt", data, "LightGBM",
                              lightgbm_feature_names(text), model.num_feature(),
                              {"training": {"library": "lightgbm"}})

    if not (hasattr(model, "predict") and hasattr(model, "fit")):
        raise ExportError(f"{src}: holds a {name}, not a model; supported: lightgbm Booster, "
                          "LGBMRegressor, LGBMClassifier, scikit-learn linear models, MLPs and "
                          "Pipelines of them")
    n_inputs = getattr(model, "n_features_in_", None)
    if n_inputs is None:
        raise ExportError(f"{src}: the {describe_model(model)} is not fitted")
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    onx = sklearn_to_onnx(model, int(n_inputs), f"{default_family(model)}_model")
    data = onx.SerializeToString()
    rng = np.random.default_rng(0)
    # rows on the scale the model was fitted on, when a scaler tells it
    x32 = to_f32(rng.normal(size=(64, int(n_inputs))))
    scaler = model.steps[0][1] if hasattr(model, "steps") else None
    if getattr(scaler, "mean_", None) is not None and getattr(scaler, "scale_", None) is not None:
        x32 = to_f32(scaler.mean_ + scaler.scale_ * rng.normal(size=(64, int(n_inputs))))
    return convert_common(
        args, str(src), "model.onnx", data, default_family(model), names, int(n_inputs),
        {"onnx": onnx_io_meta(onx),
         "training": {"library": "scikit-learn", "model": describe_model(model)}},
        verify=lambda: check_onnx_agrees(data, model, x32, str(src)))


def cmd_from_xgboost(args) -> int:
    raise ExportError(
        f"--from-xgboost {args.from_xgboost}: XGBoost models are not supported yet. The only "
        "maintained XGBoost-to-ONNX converter (onnxmltools) emits the ai.onnx.ml "
        "TreeEnsembleRegressor/TreeEnsembleClassifier operators, which the engine's ONNX back-end "
        "(tract) does not run, so the model cannot be exported faithfully. Retrain the model "
        "with LightGBM (same features and target), then export it with `python "
        f"{TOOL} --from-lightgbm model.txt --out <dir>` (or `--from-pickle` for an "
        "LGBMRegressor/LGBMClassifier), and remove model.json from the directory")


# --------------------------------------------------------------------------
# bench-models


def cmd_bench_models(args) -> int:
    import lightgbm as lgb
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n_features = 32
    rng = np.random.default_rng(args.seed)
    x32 = to_f32(rng.standard_t(df=5, size=(20_000, n_features)) * rng.uniform(0.1, 2.0, n_features))
    w = rng.normal(size=n_features)
    y = (np.tanh(x32 @ w / 8) + 0.3 * x32[:, 0] * x32[:, 1] - 0.2 * np.abs(x32[:, 2])
         + rng.normal(0, 0.3, size=len(x32))).astype(np.float64)
    sample = x32[:4]
    names = [f"Column_{i}" for i in range(n_features)]
    written = []

    def sidecar(file: str, fmt: str, expected: np.ndarray, **extra) -> None:
        doc = {"file": file, "format": fmt, "n_features": n_features, **extra,
               "sha256": sha256_file(out / file),
               "generated_by": f"{EXPORTED_BY} bench-models --seed {args.seed}",
               "rows": [[f32_exact(v) for v in row] for row in sample],
               "expected": [float(v) for v in expected]}
        write_json(out / (Path(file).stem + ".json"), doc, compact_lists=True)
        written.extend([file, Path(file).stem + ".json"])

    # LightGBM: 200 trees of 31 leaves on 32 features.
    params = {**LGB_COMMON, "objective": "regression", "num_leaves": 31, "learning_rate": 0.05,
              "min_data_in_leaf": 20, "seed": args.seed}
    data = lgb.Dataset(x32, y, feature_name=names, params={"verbose": -1}, free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=200)
    booster.save_model(str(out / "lightgbm_200.txt"))
    size = (out / "lightgbm_200.txt").stat().st_size
    if size >= 1_500_000:
        raise ExportError(f"lightgbm_200.txt is {size} bytes, over the 1.5 MB budget")
    loaded = lgb.Booster(model_file=str(out / "lightgbm_200.txt"))
    sidecar("lightgbm_200.txt", "lightgbm-text", loaded.predict(sample, num_iteration=-1),
            num_trees=loaded.num_trees(), num_leaves=31)

    # MLP 32 -> 64 relu -> 32 relu -> 1, float32.
    mlp = MLPRegressor(hidden_layer_sizes=(64, 32), activation="relu", solver="adam",
                       batch_size=256, max_iter=20, random_state=args.seed, tol=1e-6,
                       n_iter_no_change=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(x32, y)
    onx = sklearn_to_onnx(mlp, n_features, "bench_mlp")
    blob = onx.SerializeToString()
    check_onnx_agrees(blob, mlp, x32[:256], "mlp.onnx")
    (out / "mlp.onnx").write_bytes(blob)
    sidecar("mlp.onnx", "onnx", ort_predict(ort_session(blob), sample), layers=[32, 64, 32, 1],
            activation="relu", **onnx_io_meta(onx))

    # Ridge on 32 features.
    ridge = Ridge(alpha=1.0).fit(x32, y)
    onx = sklearn_to_onnx(ridge, n_features, "bench_ridge")
    blob = onx.SerializeToString()
    check_onnx_agrees(blob, ridge, x32[:256], "ridge.onnx")
    (out / "ridge.onnx").write_bytes(blob)
    sidecar("ridge.onnx", "onnx", ort_predict(ort_session(blob), sample), **onnx_io_meta(onx))

    for f in written:
        print(f"{(out / f).stat().st_size:>9}  {out / f}")
    return 0


# --------------------------------------------------------------------------
# check


def cmd_check(args) -> int:
    """Verify a run: layout, metadata, checksums, feature names, that every
    model loads and predicts, and (with --fixtures) the recorded predictions."""
    import lightgbm as lgb

    root = Path(args.run_root)
    problems: list[str] = []
    found: dict[str, tuple[Path, dict]] = {}
    targets_dir = root / "targets"
    if not targets_dir.is_dir():
        raise ExportError(f"{root}: no targets/ directory; not a run root")
    for meta_path in sorted(targets_dir.glob(f"*/models/view=*/family=*/{META_FILE}")):
        d = meta_path.parent
        target, family = d.parents[2].name, d.name[len("family="):]
        mid = f"{target}/{family}"
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as e:
            problems.append(f"{meta_path}: not JSON: {e}")
            continue
        files = [f for f in MODEL_FILES if (d / f).is_file()]
        if len(files) != 1:
            problems.append(f"{d}: expected one model file, found {files or 'none'}")
            continue
        model_path = d / files[0]
        if meta.get("model_checksum") != sha256_file(model_path):
            problems.append(f"{model_path}: SHA-256 differs from model_checksum")
        feats = meta.get("feature_list") or []
        try:
            check_feature_names(feats, f"{meta_path} feature_list")
        except ExportError as e:
            problems.append(str(e))
        if meta.get("n_features") not in (None, len(feats)):
            problems.append(f"{meta_path}: n_features {meta['n_features']} != {len(feats)} listed")
        for field, want in (("target", target), ("family", family)):
            if meta.get(field) not in (None, want):
                problems.append(f"{meta_path}: {field} {meta[field]!r}, directory says {want!r}")
        found[mid] = (model_path, meta)
        print(f"{mid:40} {files[0]:11} {len(feats):3} features  ic "
              f"{(meta.get('metrics') or {}).get('ic')}")
    if not found:
        problems.append(f"{root}: no model found under targets/*/models/view=*/family=*/")

    def predict(model_path: Path, rows: np.ndarray) -> np.ndarray:
        if model_path.suffix == ".txt":
            return lgb.Booster(model_file=str(model_path)).predict(rows, num_iteration=-1)
        return ort_predict(ort_session(model_path.read_bytes()), rows)

    for mid, (model_path, meta) in found.items():
        if model_path.suffix == ".ltw":
            continue
        n = len(meta.get("feature_list") or [])
        try:
            out = predict(model_path, np.zeros((2, n), dtype=np.float32))
            if not np.all(np.isfinite(out)):
                problems.append(f"{mid}: non-finite prediction on a zero row")
        except Exception as e:
            problems.append(f"{mid}: cannot predict: {type(e).__name__}: {e}")

    if args.fixtures:
        doc = json.loads(Path(args.fixtures).read_text())
        for m in doc.get("models", []):
            if m["id"] not in found:
                problems.append(f"fixtures: {m['id']} is not in the run")
                continue
            model_path, meta = found[m["id"]]
            if m["feature_list"] != meta.get("feature_list"):
                problems.append(f"fixtures: {m['id']}: feature_list differs from the run's")
            rows = np.array(m["rows"], dtype=np.float64)
            if not np.array_equal(rows.astype(np.float32).astype(np.float64), rows):
                problems.append(f"fixtures: {m['id']}: rows are not float32 values")
            got = predict(model_path, rows.astype(np.float32))
            if not np.array_equal(got, np.array(m["expected"], dtype=np.float64)):
                problems.append(f"fixtures: {m['id']}: predictions differ from expected")
        print(f"fixtures: {len(doc.get('models', []))} models checked")
    for p in problems:
        print(f"PROBLEM: {p}")
    print(f"{root}: {len(found)} models, {len(problems)} problems")
    return 1 if problems else 0


# --------------------------------------------------------------------------
# synthetic data (synth, selftest)


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        c = np.cumsum(np.insert(x, 0, 0.0))
        out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def _rolling(x: np.ndarray, n: int, fn) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1:] = fn(np.lib.stride_tricks.sliding_window_view(x, n), axis=-1)
    return out


def _ema(x: np.ndarray, span: int) -> np.ndarray:
    from scipy.signal import lfilter
    a = 2.0 / (span + 1)
    y, _ = lfilter([a], [1.0, -(1.0 - a)], x, zi=[(1.0 - a) * x[0]])
    return y


def synthetic_features(c: np.ndarray, h: np.ndarray, l: np.ndarray, v: np.ndarray) -> dict:
    """The catalogue features of one symbol (SPEC §3), row t using rows <= t.
    Close enough for synthetic data; the engine's src/features is the law."""
    n = len(c)
    f: dict[str, np.ndarray] = {}
    lag = lambda x, k: np.concatenate([np.full(k, np.nan), x[:-k]]) if k < n else np.full(n, np.nan)
    r1 = c / lag(c, 1) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in (1, 5, 10, 20, 60):
            f[f"ret_{k}d"] = c / lag(c, k) - 1
        for k in (5, 10, 20, 60):
            f[f"vol_{k}d"] = np.concatenate([[np.nan], _rolling(r1[1:], k, lambda w, axis: np.std(w, axis=axis, ddof=1))])
        d = np.concatenate([[0.0], np.diff(c)])
        for p in (14, 7, 21):
            g, lo = _sma(np.maximum(d, 0), p), _sma(np.maximum(-d, 0), p)
            f[f"rsi_{p}"] = np.where(lo == 0, np.nan, 100 - 100 / (1 + g / lo))
        for k in (10, 20, 50):
            f[f"ma_ratio_{k}"] = c / _sma(c, k) - 1
        m, s = _sma(c, 20), _rolling(c, 20, lambda w, axis: np.std(w, axis=axis, ddof=1))
        f["bb_position"] = np.where(s == 0, 0.5, (c - (m - 2 * s)) / (4 * s))
        f["bb_width"] = 4 * s / m
        macd = _ema(c, 12) - _ema(c, 26)
        sig = _ema(macd, 9)
        f["macd"], f["macd_signal"], f["macd_hist"] = macd, sig, macd - sig
        for k in (5, 10, 20):
            f[f"mom_{k}d"] = c - lag(c, k)
        pc = lag(c, 1)
        tr = np.where(np.isnan(pc), h - l,
                      np.maximum(h - l, np.maximum(np.abs(h - pc), np.abs(l - pc))))
        f["atr_14"] = _sma(tr, 14)
        f["high_low_range"] = (h - l) / c
        vma = _sma(v, 20)
        f["volume_ma_ratio"] = np.where(vma == 0, np.nan, v / vma)
        f["volume_change"] = v / lag(v, 1) - 1
        hi = np.maximum.accumulate(c)
        lo52 = np.minimum.accumulate(c)
        if n > 252:
            hi[251:] = _rolling(c, 252, np.max)[251:]
            lo52[251:] = _rolling(c, 252, np.min)[251:]
        f["close_to_high_52w"] = c / hi
        f["close_to_low_52w"] = c / lo52
        f["close_to_high_52w"][:19] = np.nan
        f["close_to_low_52w"][:19] = np.nan
    return {k: np.where(np.isfinite(x), x, np.nan) for k, x in f.items()}


def write_synthetic_dataset(path: Path, symbols: int, bars: int, horizons: list[Horizon],
                            seed: int, interval: int = 1) -> None:
    """A CSV of the simulator's schema: random walks whose one-bar returns
    mean-revert weakly, so past returns carry a little signal about forward
    returns (positive ICs). Not market data."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 1, 2, 14, 31, tzinfo=dt.timezone.utc)
    times = [(start + dt.timedelta(minutes=interval * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
             for i in range(bars)]
    base = horizons[0]
    header = (["symbol", "time"] + CATALOGUE + [f"fwd_ret_{h.label}" for h in horizons]
              + [f"will_peak_{base.label}", f"will_valley_{base.label}"])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for s in range(symbols):
            sigma = 0.001 * (0.5 + rng.random())
            eps = rng.normal(0, sigma, size=bars)
            r = np.zeros(bars)
            for t in range(bars):
                past = r[max(0, t - 5):t]
                r[t] = eps[t] - 0.08 * (past.sum() if len(past) else 0.0)
            c = (20 + 80 * rng.random()) * np.exp(np.cumsum(r))
            spread = np.abs(rng.normal(0, sigma, size=bars)) * c
            h, l = c + spread, c - spread
            v = rng.lognormal(10, 0.5, size=bars)
            feats = synthetic_features(c, h, l, v)
            targets = []
            for hz in horizons:
                k = hz.minutes // interval
                fwd = np.full(bars, np.nan)
                if k < bars:
                    fwd[:-k] = c[k:] / c[:-k] - 1
                targets.append(fwd)
            k = base.minutes // interval
            thr = 0.5 * sigma * math.sqrt(k)
            peak, valley = np.full(bars, np.nan), np.full(bars, np.nan)
            for t in range(bars - k):
                peak[t] = float(np.max(h[t + 1:t + k + 1]) / c[t] - 1 > thr)
                valley[t] = float(np.min(l[t + 1:t + k + 1]) / c[t] - 1 < -thr)
            cols = [feats[n] for n in CATALOGUE] + targets + [peak, valley]
            for t in range(bars):
                w.writerow([f"SYM{s:02d}", times[t]] + ["" if math.isnan(x[t]) else repr(float(x[t]))
                                                        for x in cols])


def cmd_synth(args) -> int:
    write_synthetic_dataset(Path(args.out), args.symbols, args.bars, parse_horizons(args.horizons),
                            args.seed)
    print(f"wrote {args.out}")
    return 0


# --------------------------------------------------------------------------
# selftest


def cmd_selftest(args) -> int:
    """Train a tiny synthetic run twice and check it; prints one line per
    check and a closing `N passed, N failed` line."""
    import onnx

    results: list[tuple[str, str | None]] = []

    def check(name: str, fn) -> None:
        try:
            fn()
            results.append((name, None))
            print(f"ok    {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            results.append((name, f"{type(e).__name__}: {e}"))
            print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)

    def run_tool(*argv: str, env=None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv],
                              capture_output=True, text=True, env=env)

    def expect(cond: bool, msg: str) -> None:
        if not cond:
            raise AssertionError(msg)

    tmp = Path(tempfile.mkdtemp(prefix="export-selftest-"))
    try:
        horizons = parse_horizons("5m,15m,1h")
        csv_path = tmp / "data.csv"
        write_synthetic_dataset(csv_path, symbols=5, bars=900, horizons=horizons, seed=3)
        env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
        runs, fixtures = [tmp / "run_a", tmp / "run_b"], [tmp / "fix_a.json", tmp / "fix_b.json"]
        procs = []

        def train_twice():
            for run, fix in zip(runs, fixtures):
                p = run_tool("train", "--dataset", str(csv_path), "--out", str(run),
                             "--horizons", "5m,15m,1h", "--fixtures", str(fix), env=env)
                procs.append(p)
                expect(p.returncode == 0, f"train exited {p.returncode}: {p.stderr[-2000:]}")
        check("train on a synthetic dataset (twice)", train_twice)
        if any(r for _, r in results):
            raise SystemExit(finish_selftest(results))
        run = runs[0]
        ids = ([f"fwd_ret_{h.label}/{f}" for h in horizons for f in RETURN_FAMILIES]
               + [f"will_{k}_5m/{f}" for k in ("peak", "valley") for f in BARRIER_FAMILIES])

        def layout():
            man = json.loads((run / MANIFEST_FILE).read_text())
            expect(man["tool"] == TOOL and man["seed"] == DEFAULT_SEED, "manifest tool/seed")
            expect(man["created"] == "2023-11-14T22:13:20Z", f"created {man['created']}")
            expect(man["dataset"]["sha256"] == sha256_file(csv_path), "dataset sha256")
            expect(man["horizons"] == ["5m", "15m", "1h"], f"horizons {man['horizons']}")
            expect(sorted(man["models"]) == sorted(ids), f"models {man['models']}")
            dirs = sorted(str(p.relative_to(run)) for p in run.glob("targets/*/models/*/*"))
            want = sorted(f"targets/{i.split('/')[0]}/models/{VIEW_DIR}/family={i.split('/')[1]}"
                          for i in ids)
            expect(dirs == want, f"directories {dirs}")
            expect(not list(run.glob(".*")), "staging directories left behind")
        check("layout and manifest", layout)

        def metas():
            for mid in ids:
                target, family = mid.split("/")
                d = model_dir(run, target, family)
                files = sorted(p.name for p in d.iterdir())
                mf = "model.txt" if family == "LightGBM" else "model.onnx"
                expect(files == sorted([mf, META_FILE]), f"{mid}: files {files}")
                meta = json.loads((d / META_FILE).read_text())
                expect(meta["model_checksum"] == sha256_file(d / mf), f"{mid}: checksum")
                expect(meta["family"] == family and meta["target"] == target, f"{mid}: names")
                expect(meta["feature_list"] == DEFAULT_FEATURES, f"{mid}: feature_list")
                expect(meta["n_features"] == len(DEFAULT_FEATURES), f"{mid}: n_features")
                expect(meta["input_mode"] == "features", f"{mid}: input_mode")
                expect(meta["interval_minutes"] == 1, f"{mid}: interval {meta['interval_minutes']}")
                expect(meta["cross_sectional_ranking"] == {"enabled": False}, f"{mid}: csr")
                expect(meta["exported_by"] == EXPORTED_BY, f"{mid}: exported_by")
                ic = meta["metrics"]["ic"]
                expect(isinstance(ic, float) and -1 <= ic <= 1, f"{mid}: ic {ic}")
                if target.startswith("will_"):
                    auc = meta["metrics"]["roc_auc"]
                    expect(isinstance(auc, float) and 0 <= auc <= 1, f"{mid}: roc_auc {auc}")
        check("model_meta.json fields and checksums", metas)

        def signal():
            for family in ("LightGBM", "Ridge"):
                meta = json.loads((model_dir(run, "fwd_ret_5m", family) / META_FILE).read_text())
                ic = meta["metrics"]["ic"]
                expect(ic > 0.02, f"fwd_ret_5m/{family} ic {ic}")
        check("the planted signal is found (fwd_ret_5m IC > 0.02)", signal)

        def onnx_graphs():
            for mid in ids:
                target, family = mid.split("/")
                if family == "LightGBM":
                    continue
                m = onnx.load(str(model_dir(run, target, family) / "model.onnx"))
                ops = {n.op_type for n in m.graph.node}
                expect(ops <= ALLOWED_OPS, f"{mid}: ops {sorted(ops - ALLOWED_OPS)}")
                expect({n.domain for n in m.graph.node} <= {""}, f"{mid}: non-standard domain")
                expect([o.domain for o in m.opset_import] == [""], f"{mid}: opsets")
                expect(m.opset_import[0].version == ONNX_OPSET, f"{mid}: opset version")
                expect([i.name for i in m.graph.input] == [ONNX_INPUT], f"{mid}: inputs")
                out = [o.name for o in m.graph.output]
                want = ["probability"] if target.startswith("will_") else ["variable"]
                expect(out == want, f"{mid}: outputs {out}")
                if target.startswith("will_"):
                    expect("ArgMax" not in ops and "ZipMap" not in ops, f"{mid}: label part kept")
        check("ONNX graphs: standard ops, one input, one [N,1] output", onnx_graphs)

        def fixture_file():
            doc = json.loads(fixtures[0].read_text())
            expect(doc["run"] == str(runs[0]), f"run {doc['run']}")
            expect(sorted(m["id"] for m in doc["models"]) == sorted(ids), "fixture ids")
            for m in doc["models"]:
                expect(len(m["rows"]) == FIXTURE_ROWS == len(m["expected"]), f"{m['id']}: rows")
                expect(m["format"] == ("lightgbm-text" if m["id"].endswith("LightGBM") else "onnx"),
                       f"{m['id']}: format")
                rows = np.array(m["rows"])
                expect(np.array_equal(rows.astype(np.float32).astype(np.float64), rows),
                       f"{m['id']}: rows not float32-exact")
                if m["id"].startswith("will_"):
                    e = np.array(m["expected"])
                    expect(np.all((e >= 0) & (e <= 1)), f"{m['id']}: probabilities")
            p = run_tool("check", str(runs[0]), "--fixtures", str(fixtures[0]))
            expect(p.returncode == 0, f"check failed: {p.stdout[-2000:]}{p.stderr[-2000:]}")
        check("fixtures: 16 float32 rows per model, re-predicted exactly by `check`", fixture_file)

        def deterministic():
            a = {p.relative_to(runs[0]): p.read_bytes() for p in runs[0].rglob("*") if p.is_file()}
            b = {p.relative_to(runs[1]): p.read_bytes() for p in runs[1].rglob("*") if p.is_file()}
            expect(a.keys() == b.keys(), "different file sets")
            diff = [str(k) for k in a if a[k] != b[k]]
            expect(not diff, f"files differ between two runs: {diff}")
            fa = json.loads(fixtures[0].read_text())
            fb = json.loads(fixtures[1].read_text())
            expect(fa["models"] == fb["models"], "fixtures differ between two runs")
        check("deterministic: two runs write identical files", deterministic)

        def check_catches_corruption():
            bad = tmp / "run_bad"
            shutil.copytree(runs[0], bad)
            f = model_dir(bad, "fwd_ret_5m", "Ridge") / "model.onnx"
            f.write_bytes(f.read_bytes() + b"\0")
            p = run_tool("check", str(bad))
            expect(p.returncode == 1 and "SHA-256 differs" in p.stdout, "corruption not caught")
        check("`check` catches a changed model file", check_catches_corruption)

        def disagreement_caught():
            from sklearn.linear_model import Ridge
            rng = np.random.default_rng(1)
            x = to_f32(rng.normal(size=(200, 4)))
            y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3
            r = Ridge().fit(x, y)
            blob = sklearn_to_onnx(r, 4, "t").SerializeToString()
            check_onnx_agrees(blob, r, x, "same model")  # passes
            r2 = Ridge().fit(x, y + 1e-3)
            try:
                check_onnx_agrees(blob, r2, x, "other model")
            except ExportError:
                return
            raise AssertionError("a 1e-3 disagreement was not caught")
        check("ONNX/scikit-learn disagreement fails loudly", disagreement_caught)

        def from_pickle():
            import joblib
            import lightgbm as lgb
            from sklearn.neural_network import MLPClassifier
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import StandardScaler
            rng = np.random.default_rng(2)
            x = to_f32(rng.normal(size=(400, 3)) * [0.01, 50.0, 0.2])
            yb = (x[:, 0] * 100 + rng.normal(size=400) > 0).astype(int)
            pipe = Pipeline([("s", StandardScaler()),
                             ("m", MLPClassifier(hidden_layer_sizes=(8,), max_iter=200,
                                                 random_state=0))])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipe.fit(x, yb)
            joblib.dump(pipe, tmp / "pipe.joblib")
            out = tmp / "conv" / "targets" / "will_peak_5m" / "models" / VIEW_DIR / "family=MLP"
            p = run_tool("--from-pickle", str(tmp / "pipe.joblib"), "--out", str(out))
            expect(p.returncode == 2 and "--features" in p.stderr,
                   f"no names and no --features must fail: {p.returncode} {p.stderr}")
            p = run_tool("--from-pickle", str(tmp / "pipe.joblib"), "--out", str(out),
                         "--features", "ret_1d,rsi_14,bb_width")
            expect(p.returncode == 0, f"--from-pickle failed: {p.stderr}")
            meta = json.loads((out / META_FILE).read_text())
            expect(meta["model_checksum"] == sha256_file(out / "model.onnx"), "checksum")
            expect(meta["target"] == "will_peak_5m" and meta["family"] == "MLP", f"names {meta}")
            expect(meta["feature_list"] == ["ret_1d", "rsi_14", "bb_width"], "features")
            got = ort_predict(ort_session((out / "model.onnx").read_bytes()), x[:50])
            expect(np.max(np.abs(got - pipe.predict_proba(x[:50])[:, 1])) < 1e-5, "proba")
            # LGBMRegressor with feature names: the names come from the model
            reg = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1)
            reg.fit(x, x[:, 0], feature_name=["ret_5d", "vol_20d", "macd"])
            joblib.dump(reg, tmp / "reg.pkl")
            out2 = tmp / "conv2"
            p = run_tool("--from-pickle", str(tmp / "reg.pkl"), "--out", str(out2),
                         "--target", "fwd_ret_5m")
            expect(p.returncode == 0, f"--from-pickle LGBMRegressor failed: {p.stderr}")
            meta = json.loads((out2 / META_FILE).read_text())
            expect(meta["feature_list"] == ["ret_5d", "vol_20d", "macd"], "lgbm names")
            expect(meta["model_checksum"] == sha256_file(out2 / "model.txt"), "lgbm checksum")
            p = run_tool("--from-pickle", str(tmp / "reg.pkl"), "--out", str(out2),
                         "--features", "ret_5d,macd,vol_20d")
            expect(p.returncode == 2 and "differ" in p.stderr, "a conflicting --features passed")
        check("--from-pickle: Pipeline(StandardScaler, MLPClassifier) and LGBMRegressor",
              from_pickle)

        def from_lightgbm():
            src = model_dir(runs[0], "fwd_ret_5m", "LightGBM") / "model.txt"
            out = tmp / "conv3"
            p = run_tool("--from-lightgbm", str(src), "--out", str(out), "--target", "fwd_ret_5m",
                         "--interval-minutes", "5")
            expect(p.returncode == 0, f"--from-lightgbm failed: {p.stderr}")
            meta = json.loads((out / META_FILE).read_text())
            expect(meta["feature_list"] == DEFAULT_FEATURES and meta["interval_minutes"] == 5,
                   "meta")
            expect((out / "model.txt").read_bytes() == src.read_bytes(), "copy")
            expect(meta["model_checksum"] == sha256_file(src), "checksum")
        check("--from-lightgbm copies the model and writes its meta", from_lightgbm)

        def from_xgboost():
            (tmp / "model.json").write_text("{}")
            p = run_tool("--from-xgboost", str(tmp / "model.json"), "--out", str(tmp / "x"))
            expect(p.returncode == 2 and "not supported yet" in p.stderr
                   and "LightGBM" in p.stderr, f"--from-xgboost: {p.returncode} {p.stderr}")
        check("--from-xgboost says it is not supported and what to do", from_xgboost)

        def bench():
            p = run_tool("bench-models", "--out", str(tmp / "bench"))
            expect(p.returncode == 0, f"bench-models failed: {p.stderr}")
            size = (tmp / "bench" / "lightgbm_200.txt").stat().st_size
            expect(size < 1_500_000, f"lightgbm_200.txt is {size} bytes")
            for f in ("lightgbm_200", "mlp", "ridge"):
                side = json.loads((tmp / "bench" / f"{f}.json").read_text())
                expect(side["n_features"] == 32, f"{f}.json n_features")
            for f in ("mlp.onnx", "ridge.onnx"):
                s = ort_session((tmp / "bench" / f).read_bytes())
                expect(s.get_inputs()[0].shape[1] == 32, f"{f}: input shape")
            m = onnx.load(str(tmp / "bench" / "mlp.onnx"))
            dims = [tuple(i.dims) for i in m.graph.initializer if len(i.dims) == 2 and i.dims[0] > 1]
            expect(dims == [(32, 64), (64, 32), (32, 1)], f"mlp weights {dims}")
        check("bench-models: sizes, shapes", bench)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return finish_selftest(results)


def finish_selftest(results) -> int:
    failed = sum(1 for _, r in results if r)
    print(f"selftest: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


# --------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="export_model.py",
        description="Train or convert models and write the run layout the live-trading engine "
                    "loads (SPEC §4): targets/<target>/models/view=CROSS_SECTIONAL/"
                    "family=<Family>/{model.txt|model.onnx, model_meta.json}.",
        epilog="Conversions (no sub-command): export_model.py --from-pickle FILE --out DIR "
               "[--target T] [--features a,b,...]; --from-lightgbm model.txt --out DIR; "
               "--from-xgboost (not supported yet). See tools/README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    conv = p.add_argument_group("conversion of one model (instead of a sub-command)")
    src = conv.add_mutually_exclusive_group()
    src.add_argument("--from-pickle", metavar="FILE",
                     help="pickle/joblib file of a lightgbm Booster, LGBMRegressor/LGBMClassifier "
                          "(-> model.txt) or a scikit-learn linear model, MLP or Pipeline of them "
                          "(-> model.onnx); unpickling runs code: only files you trust")
    src.add_argument("--from-lightgbm", metavar="FILE", help="LightGBM text model (-> model.txt)")
    src.add_argument("--from-xgboost", metavar="FILE",
                     help="XGBoost model.json: not supported yet (exits with what to do)")
    conv.add_argument("--out", dest="convert_out", metavar="DIR",
                      help="the family directory to write model file + model_meta.json into")
    conv.add_argument("--target", help="target name for model_meta.json (default: an existing "
                      "model_meta.json's, or taken from DIR = .../targets/<target>/models/...)")
    conv.add_argument("--family", help="family name (default: from DIR's family=<F>, else the "
                      "model type: LightGBM, Ridge, Logistic, MLP, ...)")
    conv.add_argument("--features", dest="features",
                      help="comma-separated feature list in the model's input order (default: "
                           "the model's own feature names, else an existing model_meta.json's)")
    conv.add_argument("--interval-minutes", type=float, dest="interval_minutes",
                      help="training bar interval (default: existing model_meta.json's, else 1)")
    conv.add_argument("--ic", type=float, help="training IC to record as metrics.ic")

    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    t = sub.add_parser(
        "train", help="train every model of a run from a dataset CSV",
        description="Train, per horizon, LightGBM/Ridge/MLP return models on fwd_ret_<h>, and "
                    "for the base horizon LightGBM/Logistic/MLP barrier classifiers on "
                    "will_peak_<base>/will_valley_<base>; write the run layout.")
    t.add_argument("--dataset", required=True, metavar="FILE.csv",
                   help="CSV: symbol,time,<features...>,fwd_ret_<h>...,will_peak_<base>,"
                        "will_valley_<base> (as `live-trading sim dataset` writes it)")
    t.add_argument("--out", required=True, metavar="RUN_ROOT",
                   help="run directory; its targets/ and manifest.json are replaced")
    t.add_argument("--fixtures", metavar="FILE.json",
                   help="also write Python's predictions on 16 held-out rows per model")
    t.add_argument("--horizons", default=DEFAULT_HORIZONS,
                   help=f"comma-separated horizons (default {DEFAULT_HORIZONS}); the shortest "
                        "is the base horizon of the barrier classifiers")
    t.add_argument("--features", help="comma-separated catalogue features (default: "
                   + ",".join(DEFAULT_FEATURES) + ")")
    t.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    t.add_argument("--interval-minutes", type=float, dest="interval_minutes",
                   help="bar interval written as interval_minutes (default: the dataset's most "
                        "common bar spacing, else 1)")
    t.add_argument("--sklearn-max-rows", type=int, default=SKLEARN_MAX_ROWS,
                   help=f"the scikit-learn models train on at most this many of the most recent "
                        f"training rows (default {SKLEARN_MAX_ROWS})")
    t.add_argument("--no-barriers", action="store_true",
                   help="skip the barrier classifiers (the dataset then needs no will_* columns)")
    t.add_argument("--force", action="store_true",
                   help="replace targets/ and manifest.json in RUN_ROOT even if another tool "
                        "wrote them")

    b = sub.add_parser("bench-models", help="write the benchmark models",
                       description="Write lightgbm_200.txt (200 trees, 31 leaves, 32 features), "
                                   "mlp.onnx (32-64-32-1 relu, float32) and ridge.onnx (32 "
                                   "features), each with a .json beside it, from synthetic data.")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--seed", type=int, default=DEFAULT_SEED)

    c = sub.add_parser("check", help="verify a run (and optionally its fixtures)")
    c.add_argument("run_root", metavar="RUN_ROOT")
    c.add_argument("--fixtures", metavar="FILE.json",
                   help="re-predict the fixture rows and require the recorded values exactly")

    s = sub.add_parser("selftest", help="train a tiny synthetic run and assert everything")
    s.add_argument("--keep", action="store_true", help="keep the temporary directory")

    y = sub.add_parser("synth", help="write a synthetic dataset of the simulator's schema")
    y.add_argument("--out", required=True, metavar="FILE.csv")
    y.add_argument("--symbols", type=int, default=20)
    y.add_argument("--bars", type=int, default=3000)
    y.add_argument("--horizons", default=DEFAULT_HORIZONS)
    y.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    conversion = args.from_pickle or args.from_lightgbm or args.from_xgboost
    try:
        if args.command and conversion:
            parser.error("--from-* conversions take no sub-command")
        if args.command == "train":
            return cmd_train(args)
        if args.command == "bench-models":
            return cmd_bench_models(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "selftest":
            return cmd_selftest(args)
        if args.command == "synth":
            return cmd_synth(args)
        if conversion:
            if not args.convert_out:
                parser.error("--out DIR is required with --from-pickle/--from-lightgbm/"
                             "--from-xgboost")
            if args.from_xgboost:
                return cmd_from_xgboost(args)
            if args.from_lightgbm:
                return cmd_from_lightgbm(args)
            return cmd_from_pickle(args)
        parser.print_help()
        return 2
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
