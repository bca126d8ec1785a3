"""The served model: feature columns in, ``pd, score, grade, reason_1..3`` out.

:class:`Scorer` turns a fitted *state* (a JSON-able dict: scorecard tables or a LightGBM model
string, the calibrator, the master scale and the reason catalogue) into predictions. The same
Scorer evaluates the model during training and serves it inside :class:`RiskPipeModel`, the
``mlflow.pyfunc.PythonModel`` that ``mlflow.pyfunc.load_model`` and
``mlflow.pyfunc.spark_udf`` call, so what is evaluated is exactly what is served.

Output columns: ``pd`` (double, calibrated 12-month PD, never below the state's ``pd_floor``),
``score`` (double, points on the scorecard scale; for LightGBM the points of its calibrated PD),
``grade`` (string, master
scale "1" best .. "10" worst), ``reason_1..3`` (string codes or null).
Input: the model's feature columns; numeric features as doubles (cast integer columns
before scoring), categorical features as strings. NaN, None and a blank string mean missing;
a category not seen in training scores like the scorecard's "others" bin (or missing) and
like a missing value in LightGBM. Other columns are ignored.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from models.calibration import DEFAULT_SERVED_PD_FLOOR, Calibrator, MasterScale, floor_pd
from models.reasons import N_REASONS, top_reasons
from models.scorecard import Scorecard, as_category, score_from_pd

OUTPUT_COLUMNS = ("pd", "score", "grade", *(f"reason_{i}" for i in range(1, N_REASONS + 1)))


class Scorer:
    """Predictions of a fitted model state (see the module docstring)."""

    def __init__(self, state: dict[str, Any]):
        self.state = state
        self.kind = state["kind"]
        self.features: list[str] = list(state["features"])
        self.calibrator = Calibrator(**state["calibrator"])
        self.scale = MasterScale(**state["master_scale"])
        # a state fitted before the floor was configurable is served with the regulatory default
        self.pd_floor = float(state.get("pd_floor", DEFAULT_SERVED_PD_FLOOR))
        self.factor, self.offset = state["scaling"]["factor"], state["scaling"]["offset"]
        self.card = Scorecard.from_dict(state["scorecard"]) if self.kind == "scorecard" else None
        self.booster = None
        # LightGBM: category codes of each categorical feature (models.challenger.category_levels)
        self.levels: dict[str, list[str]] = dict(state.get("categories") or {})
        if self.kind == "lightgbm":
            from models.challenger import booster_from_string

            self.booster = booster_from_string(state["booster"])
        self.categorical = categorical_features(state)

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns: numeric ones as floats, categorical ones as strings or None."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks feature column(s) {missing}; model needs {self.features}")
        x = frame[self.features].reset_index(drop=True)
        return pd.DataFrame(
            {f: as_category(x[f]) if f in self.categorical else x[f].astype(float) for f in self.features}
        )

    def raw_and_contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(raw log-odds, toward-default contributions, scorecard points or None)``."""
        x = self._matrix(frame)
        if self.card is not None:
            return self.card.log_odds(x), self.card.points_lost(x), self.card.score(x)
        from models.challenger import lightgbm_matrix

        assert self.booster is not None, "a model state holds a scorecard or a booster"
        values = lightgbm_matrix(x, self.features, self.levels)
        raw = self.booster.predict(values, raw_score=True, num_threads=1)
        contrib = self.booster.predict(values, pred_contrib=True, num_threads=1)[:, :-1]
        return raw, contrib, None

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score ``frame``; output columns :data:`OUTPUT_COLUMNS`."""
        raw, contrib, points = self.raw_and_contributions(frame)
        pd_ = floor_pd(self.calibrator.predict(raw), self.pd_floor)
        score = points if points is not None else score_from_pd(pd_, self.factor, self.offset)
        reason_features = self.card.features if self.card is not None else self.features
        reasons = top_reasons(contrib, reason_features)
        out = pd.DataFrame({"pd": pd_, "score": np.round(score, 2), "grade": self.scale.grade(pd_)})
        for i, codes in enumerate(reasons, start=1):
            out[f"reason_{i}"] = pd.Series(codes, dtype=object)
        return out[list(OUTPUT_COLUMNS)]


class RiskPipeModel(PythonModel):
    """MLflow wrapper of :class:`Scorer`; the state is the ``state`` artifact (JSON)."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["state"], encoding="utf-8") as handle:
            self._scorer = Scorer(json.load(handle))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self._scorer.predict(pd.DataFrame(model_input))


def categorical_features(state: dict[str, Any]) -> list[str]:
    """The categorical features of a fitted state, in feature order."""
    if state["kind"] == "scorecard":
        categorical = {b["feature"] for b in state["scorecard"]["bins"] if b.get("categories") is not None}
    else:
        categorical = set(state.get("categories") or {})
    return [f for f in state["features"] if f in categorical]


def model_signature(features: list[str], categorical: list[str] | tuple[str, ...] = ()) -> Any:
    """Input: numeric features as doubles, ``categorical`` ones as strings; output: :data:`OUTPUT_COLUMNS`."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    input_columns: list[ColSpec | TensorSpec] = [
        ColSpec("string" if f in categorical else "double", f) for f in features
    ]
    inputs = Schema(input_columns)
    output_columns: list[ColSpec | TensorSpec] = [
        ColSpec("double", "pd"),
        ColSpec("double", "score"),
        ColSpec("string", "grade"),
    ]
    output_columns += [ColSpec("string", f"reason_{i}", required=False) for i in range(1, N_REASONS + 1)]
    outputs = Schema(output_columns)
    return ModelSignature(inputs=inputs, outputs=outputs)


def pip_requirements(kind: str) -> list[str]:
    """Pinned scoring requirements (explicit, so MLflow does not spend time inferring them)."""
    packages = ["mlflow", "pandas", "numpy", "cloudpickle"] + (["lightgbm"] if kind == "lightgbm" else [])
    return [f"{name}=={metadata.version(name)}" for name in packages]
