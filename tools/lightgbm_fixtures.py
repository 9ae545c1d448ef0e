#!/usr/bin/env python3
"""Write the LightGBM fixtures under tests/data/models/lightgbm/.

Trains a few small, deterministic LightGBM models, saves them in the text
format (`booster.save_model`), reloads each saved file and records Python's
predictions for a set of float32 input rows, so that the Rust back-end
(src/models/lightgbm.rs) can be checked against LightGBM itself without
Python at test time.

Outputs (all committed):
- good models: regression.txt, binary.txt, missing_nan.txt, missing_zero.txt,
  random_forest.txt, constant.txt;
- real models the engine must refuse: multiclass.txt, categorical.txt,
  linear.txt, poisson.txt;
- expected.json: for every good model, the input rows (float32 values as
  their shortest decimal strings, to be parsed as f32; "NaN", "inf", "-inf"),
  LightGBM's predictions and raw scores (doubles; "NaN"/"inf" as strings).

Usage (versions pinned in tools/requirements-fixtures.txt):
    python -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-fixtures.txt
    .venv-fixtures/bin/python tools/lightgbm_fixtures.py

Deterministic: fixed seeds, `deterministic=True`, `num_threads=1`; running it
twice writes identical files.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np

# Engine-style feature names for the regression model (the others keep
# LightGBM's placeholders `Column_<i>`, as when training on a bare array).
REGRESSION_FEATURES = ["ret_1", "ret_5", "vol_20", "rsi_14", "macd_hist", "volume_ma_ratio"]

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "lightgbm"

COMMON = {
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "seed": 7,
}


def features(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Heavy-ish tailed features in float32, as the engine feeds them."""
    x = rng.standard_t(df=5, size=(n, k)) * rng.uniform(0.01, 2.0, size=k)
    return x.astype(np.float32)


def train(params: dict, x: np.ndarray, y: np.ndarray, rounds: int, **dataset) -> lgb.Booster:
    data = lgb.Dataset(x, y, params={"verbose": -1}, free_raw_data=False, **dataset)
    return lgb.train({**COMMON, **params}, data, num_boost_round=rounds)


def threshold_rows(model: dict, base: np.ndarray, limit: int) -> list[np.ndarray]:
    """Rows whose split feature sits on a node's threshold (as float32) and one
    float32 step either side of it: these decide `x <= threshold` exactly."""
    rows = []
    for tree in model["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack and len(rows) < limit * 3:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            t = np.float32(node["threshold"])
            for v in (t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))):
                row = base.copy()
                row[node["split_feature"]] = v
                rows.append(row)
            stack.extend([node["left_child"], node["right_child"]])
        if len(rows) >= limit * 3:
            break
    return rows


def edge_rows(k: int, base: np.ndarray) -> list[np.ndarray]:
    """NaN, zeros, signed zeros, subnormals, infinities, huge values."""
    specials = [np.nan, 0.0, -0.0, 1e-40, -1e-40, 1e-36, np.inf, -np.inf, 3.0e38, -3.0e38]
    rows = [np.full(k, v, dtype=np.float32) for v in specials]
    for j in range(k):
        for v in (np.nan, 0.0, np.inf, -np.inf):
            row = base.copy()
            row[j] = v
            rows.append(row)
    return rows


def inputs(rng: np.random.Generator, booster: lgb.Booster, k: int, n_random: int) -> np.ndarray:
    x = features(rng, n_random, k)
    # sprinkle missing values and exact zeros into the random rows
    x[rng.random(x.shape) < 0.08] = np.nan
    x[rng.random(x.shape) < 0.08] = 0.0
    base = features(rng, 1, k)[0]
    rows = list(x) + edge_rows(k, base) + threshold_rows(booster.dump_model(), base, 10)
    return np.vstack(rows).astype(np.float32)


def encode(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def f32_text(v: np.float32) -> str:
    """Shortest text that parses back to the same float32 (Rust: `str::parse::<f32>`)."""
    v = np.float32(v)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    text = np.format_float_positional(v, unique=True, trim="-") if 1e-4 <= abs(v) < 1e7 or v == 0 \
        else np.format_float_scientific(v, unique=True, trim="-")
    assert np.float32(text) == v and str(np.signbit(np.float32(text))) == str(np.signbit(v)), text
    return text


def save(name: str, booster: lgb.Booster) -> Path:
    path = OUT / name
    booster.save_model(str(path))
    return path


def expected_case(name: str, path: Path, rows: np.ndarray) -> dict:
    # Predict with the booster reloaded from the saved text, exactly as a
    # deployment that reads model.txt would.
    loaded = lgb.Booster(model_file=str(path))
    pred = loaded.predict(rows, num_iteration=-1)
    raw = loaded.predict(rows, num_iteration=-1, raw_score=True)
    return {
        "model": name,
        "n_features": int(rows.shape[1]),
        "num_trees": loaded.num_trees(),
        "rows": [[f32_text(v) for v in row] for row in rows],
        "predictions": [encode(float(v)) for v in pred],
        "raw_scores": [encode(float(v)) for v in raw],
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240501)
    cases = []

    # Regression: 50 trees, 6 features.
    x = features(rng, 800, 6)
    y = np.tanh(x[:, 0]) * 0.02 + 0.01 * x[:, 1] * x[:, 2] - 0.005 * np.abs(x[:, 3])
    y = (y + rng.normal(0, 0.002, size=len(y))).astype(np.float64)
    b = train({"objective": "regression", "num_leaves": 5, "learning_rate": 0.1,
               "min_data_in_leaf": 20}, x, y, 50, feature_name=REGRESSION_FEATURES)
    cases.append(expected_case("regression.txt", save("regression.txt", b), inputs(rng, b, 6, 40)))

    # Binary: 30 trees, non-default sigmoid so the parameter is exercised.
    x = features(rng, 800, 5)
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3]
    y = (rng.random(len(logit)) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    b = train({"objective": "binary", "sigmoid": 0.8, "num_leaves": 5,
               "learning_rate": 0.1, "min_data_in_leaf": 20}, x, y, 30)
    cases.append(expected_case("binary.txt", save("binary.txt", b), inputs(rng, b, 5, 40)))

    # Missing values as NaN (MissingType::NaN, both default directions).
    x = features(rng, 800, 4)
    y = x[:, 0] + 0.5 * x[:, 1]
    nan_mask = rng.random(x.shape) < 0.2
    nan_mask[:, 3] = False  # feature 3 keeps MissingType::None
    y = np.where(nan_mask[:, 0], 2.0, y) + np.where(nan_mask[:, 1], -1.0, 0.0)
    x[nan_mask] = np.nan
    b = train({"objective": "regression", "num_leaves": 5, "learning_rate": 0.2,
               "min_data_in_leaf": 10}, x, y.astype(np.float64), 12)
    cases.append(expected_case("missing_nan.txt", save("missing_nan.txt", b), inputs(rng, b, 4, 30)))

    # Zeros as missing (MissingType::Zero).
    x = features(rng, 800, 4)
    zero_mask = rng.random(x.shape) < 0.3
    y = x[:, 0] - x[:, 2] + np.where(zero_mask[:, 0], 1.5, 0.0) + np.where(zero_mask[:, 2], -0.7, 0.0)
    x[zero_mask] = 0.0
    b = train({"objective": "regression", "num_leaves": 5, "learning_rate": 0.2,
               "min_data_in_leaf": 10, "zero_as_missing": True}, x, y.astype(np.float64), 8)
    cases.append(expected_case("missing_zero.txt", save("missing_zero.txt", b), inputs(rng, b, 4, 30)))

    # Random forest: `average_output`, the sum is divided by the tree count.
    x = features(rng, 600, 4)
    y = x[:, 0] * x[:, 1] + x[:, 2]
    b = train({"boosting": "rf", "objective": "regression", "num_leaves": 5,
               "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.8,
               "min_data_in_leaf": 20}, x, y.astype(np.float64), 6)
    cases.append(expected_case("random_forest.txt", save("random_forest.txt", b), inputs(rng, b, 4, 30)))

    # A model that is one single-leaf tree (nothing can be split).
    x = features(rng, 50, 3)
    y = rng.normal(0.3, 1.0, size=50)
    b = train({"objective": "regression", "min_data_in_leaf": 1000}, x, y, 3)
    cases.append(expected_case("constant.txt", save("constant.txt", b), inputs(rng, b, 3, 5)))

    # Real models the engine must refuse at load.
    x = features(rng, 300, 3)
    y = rng.integers(0, 3, size=300).astype(np.float64)
    save("multiclass.txt", train({"objective": "multiclass", "num_class": 3, "num_leaves": 3}, x, y, 2))
    xc = x.copy()
    xc[:, 0] = rng.integers(0, 6, size=300)
    yc = (xc[:, 0] % 2) + 0.1 * xc[:, 1]
    save("categorical.txt", train({"objective": "regression", "num_leaves": 4,
                                   "min_data_per_group": 5, "cat_smooth": 1},
                                  xc, yc, 2, categorical_feature=[0]))
    save("linear.txt", train({"objective": "regression", "num_leaves": 3, "linear_tree": True},
                             x, x[:, 0] * 2.0 + x[:, 1], 2))
    save("poisson.txt", train({"objective": "poisson", "num_leaves": 3}, x, np.abs(x[:, 0]) * 3, 2))

    doc = {
        "generator": "tools/lightgbm_fixtures.py",
        "lightgbm": lgb.__version__,
        "numpy": np.__version__,
        "note": "rows are float32 values (shortest decimal strings); predictions come from "
                "lgb.Booster(model_file=...).predict(float32 rows, num_iteration=-1)",
        "cases": cases,
    }
    text = json.dumps(doc, indent=1)
    # innermost lists on one line each: small and still readable
    text = re.sub(r"\[([^\[\]{}]*)\]", lambda m: "[" + re.sub(r"\n\s*", "", m.group(1)) + "]", text)
    (OUT / "expected.json").write_text(text + "\n")
    for f in sorted(OUT.iterdir()):
        print(f"{f.stat().st_size:>8}  {f.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
