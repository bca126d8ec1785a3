"""Calibrate raw model log-odds to PD, and map PD to master-scale grades.

* Platt scaling: ``pd = sigmoid(a + b * raw)`` fitted by (nearly unpenalised) logistic regression.
* Isotonic: a monotone step function of ``raw``, stored as thresholds and interpolated.

Both are plain numbers after fitting, so scoring needs numpy only.
The master scale has ``len(bounds) + 1`` grades: grade 1 holds PD < bounds[0], grade k holds
bounds[k-2] <= PD < bounds[k-1], the last grade everything above the last bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Numerical bounds of a calibrated probability (log-odds stay finite). The PD a model *serves* is
# floored higher, at ``calibration.pd_floor`` (CRR Art. 160: 0.03 %), by :func:`floor_pd`.
PD_FLOOR, PD_CAP = 1e-5, 1 - 1e-5
DEFAULT_SERVED_PD_FLOOR = 0.0003


def floor_pd(pd_: np.ndarray, floor: float = DEFAULT_SERVED_PD_FLOOR) -> np.ndarray:
    """``max(pd, floor)``: no served PD below the regulatory floor (a PD shown as 0.00 % is a defect)."""
    return np.maximum(np.asarray(pd_, dtype=float), float(floor))


@dataclass
class Calibrator:
    method: str
    coef: list[float] = field(default_factory=list)  # platt: [a, b]
    x: list[float] = field(default_factory=list)  # isotonic thresholds
    y: list[float] = field(default_factory=list)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            p = 1.0 / (1.0 + np.exp(-(self.coef[0] + self.coef[1] * raw)))
        else:
            p = np.interp(raw, self.x, self.y)
        return np.clip(p, PD_FLOOR, PD_CAP)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "platt") -> Calibrator:
    """Fit ``raw`` log-odds -> observed defaults ``y`` (0/1)."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return Calibrator("platt", coef=[float(model.intercept_[0]), float(model.coef_[0][0])])
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(out_of_bounds="clip", y_min=PD_FLOOR, y_max=PD_CAP).fit(raw, y)
        return Calibrator(
            "isotonic", x=[float(v) for v in model.X_thresholds_], y=[float(v) for v in model.y_thresholds_]
        )
    raise ValueError(f"unknown calibration method {method!r}; use platt or isotonic")


@dataclass
class MasterScale:
    bounds: list[float]

    @property
    def labels(self) -> list[str]:
        return [str(i) for i in range(1, len(self.bounds) + 2)]

    def grade_index(self, pd_: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.bounds), np.asarray(pd_, dtype=float), side="right")

    def grade(self, pd_: np.ndarray) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)[self.grade_index(pd_)]

    def table(self) -> pd.DataFrame:
        """grade, pd_lower (inclusive), pd_upper (exclusive)."""
        lows, highs = [0.0, *self.bounds], [*self.bounds, 1.0]
        return pd.DataFrame({"grade": self.labels, "pd_lower": lows, "pd_upper": highs})

    def to_dict(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds)}


def obligor_weights(ids: np.ndarray) -> np.ndarray:
    """``1 / (rows of the same obligor)`` per row: each obligor weighs one in total.

    A sample of several monthly snapshots holds the same borrower up to once a month, and a
    default shows in up to twelve consecutive snapshots' labels; counted as rows, a grade looks
    several times larger (and its test several times stricter) than the obligors behind it.
    """
    codes, counts = np.unique(np.asarray(ids), return_inverse=True, return_counts=True)[1:]
    return 1.0 / counts[codes]


def grade_table(pd_: np.ndarray, y: np.ndarray, scale: MasterScale, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Observed default rate against mean PD per grade.

    Args:
        weights: per-row weights (e.g. :func:`obligor_weights`); ``count``, ``defaults``,
            ``default_rate`` and ``mean_pd`` are then weighted (obligor equivalents), ``rows``
            stays the number of rows.

    Output columns: grade, pd_lower, pd_upper, rows, count, defaults, default_rate, mean_pd, gap
    (``mean_pd - default_rate``; NaN for empty grades).
    """
    w = np.ones(len(np.asarray(pd_))) if weights is None else np.asarray(weights, dtype=float)
    frame = pd.DataFrame(
        {
            "idx": scale.grade_index(pd_),
            "w": w,
            "wy": w * np.asarray(y, dtype=float),
            "wpd": w * np.asarray(pd_, dtype=float),
        }
    )
    stats = frame.groupby("idx").agg(rows=("w", "size"), count=("w", "sum"), defaults=("wy", "sum"), wpd=("wpd", "sum"))
    stats["default_rate"] = stats["defaults"] / stats["count"]
    stats["mean_pd"] = stats["wpd"] / stats["count"]
    table = scale.table().join(stats.drop(columns="wpd"), how="left")
    table[["rows", "count", "defaults"]] = table[["rows", "count", "defaults"]].fillna(0)
    table["rows"] = table["rows"].astype(int)
    if weights is None:
        table[["count", "defaults"]] = table[["count", "defaults"]].astype(int)
    table["gap"] = table["mean_pd"] - table["default_rate"]
    return table[["grade", "pd_lower", "pd_upper", "rows", "count", "defaults", "default_rate", "mean_pd", "gap"]]


def calibration_errors(table: pd.DataFrame, min_count: int) -> dict[str, float]:
    """``ece``: row-weighted mean |gap| over grades; ``max_grade_gap``: largest |gap| among
    grades with at least ``min_count`` rows (small grades are too noisy to judge alone)."""
    filled = table[table["rows"] > 0]
    ece = float((filled["gap"].abs() * filled["rows"]).sum() / filled["rows"].sum())
    big = filled[filled["rows"] >= min_count]
    return {"ece": ece, "max_grade_gap": float(big["gap"].abs().max()) if len(big) else float("nan")}
