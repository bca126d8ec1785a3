"""WoE scorecard: optimal binning, IV selection, logistic regression and points scaling.

Conventions (configurable, see ``models.scorecard`` in the profile):

* WoE per bin is optbinning's ``ln(%non-default / %default)``: positive = safer than average.
* ``score = offset - factor * ln(odds_bad)`` with ``factor = PDO / ln 2`` and
  ``offset = base_score - factor * ln(base_odds)``: 600 points at good:bad odds 50:1 and
  +20 points each time the good:bad odds double.
* Each selected feature contributes ``points = -factor * (b_j * WoE + b_0 / n) + offset / n``
  for its bin, so the points of a row add up exactly to its score.

The fitted scorecard is plain data (splits, WoE, points): scoring needs numpy only, not
optbinning, so the logged model loads anywhere MLflow, pandas and numpy do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.config import ScorecardConfig


def scaling(base_score: float, base_odds: float, pdo: float) -> tuple[float, float]:
    """Return ``(factor, offset)`` of ``score = offset - factor * ln(odds_bad)``."""
    factor = pdo / math.log(2.0)
    return factor, base_score - factor * math.log(base_odds)


def score_from_pd(pd_: np.ndarray, factor: float, offset: float) -> np.ndarray:
    """Points for a default probability (odds_bad = pd / (1 - pd))."""
    p = np.clip(np.asarray(pd_, dtype=float), 1e-9, 1 - 1e-9)
    return offset - factor * np.log(p / (1 - p))


@dataclass
class FeatureBins:
    """Bins of one feature: ``x < splits[0]`` is bin 0, ``splits[i-1] <= x < splits[i]`` bin i."""

    feature: str
    splits: list[float]
    woe: list[float]
    missing_woe: float
    labels: list[str]
    counts: list[int]  # per bin, then the missing bin last
    event_rates: list[float]
    iv: float
    points: list[float] = field(default_factory=list)
    missing_points: float = 0.0

    def bin_index(self, x: np.ndarray) -> np.ndarray:
        """Bin of each value; -1 for missing."""
        idx = np.digitize(np.nan_to_num(x, nan=0.0), np.asarray(self.splits, dtype=float), right=False)
        return np.where(np.isnan(x), -1, idx)

    def lookup(self, x: np.ndarray, values: list[float], missing: float) -> np.ndarray:
        idx = self.bin_index(np.asarray(x, dtype=float))
        table = np.asarray(values, dtype=float)
        return np.where(idx < 0, missing, table[np.clip(idx, 0, len(table) - 1)])

    def best_points(self) -> float:
        """Most points a row can get on this feature (the missing bin counts if it was seen)."""
        seen_missing = self.counts[-1] > 0
        return max(self.points + ([self.missing_points] if seen_missing else []))


@dataclass
class Scorecard:
    bins: list[FeatureBins]
    intercept: float
    coefficients: list[float]
    factor: float
    offset: float

    @property
    def features(self) -> list[str]:
        return [b.feature for b in self.bins]

    def woe_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([b.lookup(frame[b.feature].to_numpy(float), b.woe, b.missing_woe)
                                for b in self.bins])

    def points_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([b.lookup(frame[b.feature].to_numpy(float), b.points, b.missing_points)
                                for b in self.bins])

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.points_matrix(frame).sum(axis=1)

    def log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        """ln(odds_bad) of the logistic regression."""
        return self.intercept + self.woe_matrix(frame) @ np.asarray(self.coefficients)

    def points_lost(self, frame: pd.DataFrame) -> np.ndarray:
        """Points each row loses against each feature's best bin (>= 0); for reason codes."""
        best = np.array([b.best_points() for b in self.bins])
        return np.maximum(best[None, :] - self.points_matrix(frame), 0.0)

    def points_table(self) -> pd.DataFrame:
        """One row per feature and bin: feature, bin, count, event_rate, woe, points, iv."""
        rows = []
        for b in self.bins:
            woes, points = [*b.woe, b.missing_woe], [*b.points, b.missing_points]
            for label, count, rate, woe, pts in zip(b.labels, b.counts, b.event_rates, woes, points):
                rows.append({"feature": b.feature, "bin": label, "count": count, "event_rate": rate,
                             "woe": woe, "points": round(pts, 2), "iv": b.iv})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scorecard":
        return cls(**{**data, "bins": [FeatureBins(**b) for b in data["bins"]]})


def _bins_from_optbinning(name: str, optb: Any) -> FeatureBins:
    table = optb.binning_table.build()
    body = table.drop(index="Totals", errors="ignore")
    regular = body[~body["Bin"].astype(str).isin(["Special", "Missing"])]
    missing = body[body["Bin"].astype(str) == "Missing"]
    missing_count = int(missing["Count"].iloc[0]) if len(missing) else 0
    return FeatureBins(
        feature=name,
        splits=[float(s) for s in optb.splits],
        woe=[float(w) for w in regular["WoE"]],
        missing_woe=float(missing["WoE"].iloc[0]) if missing_count else 0.0,
        labels=[str(b) for b in regular["Bin"]] + ["Missing"],
        counts=[int(c) for c in regular["Count"]] + [missing_count],
        event_rates=[float(r) for r in regular["Event rate"]] + [
            float(missing["Event rate"].iloc[0]) if missing_count else 0.0],
        iv=float(table.loc["Totals", "IV"]),
    )


MIN_OBSERVED = 30  # non-missing training values a feature needs to be binned


def fit_binning(train: pd.DataFrame, features: list[str], label: str,
                config: ScorecardConfig) -> tuple[list[FeatureBins], pd.DataFrame]:
    """Optimal binning of every candidate feature; keep those with IV >= ``min_iv``.

    Returns:
        ``(bins of selected features, IV table with columns feature, iv, selected)``.
    """
    from optbinning import BinningProcess

    # A feature with no observed values (or a single value) in the training window
    # cannot be binned; it enters the IV table with IV 0 and is not selected.
    usable = [f for f in features if train[f].notna().sum() >= MIN_OBSERVED and train[f].nunique() > 1]
    if not usable:
        raise ValueError(f"no feature has at least {MIN_OBSERVED} observed values in the training sample")
    process = BinningProcess(
        usable, max_n_prebins=config.max_n_prebins, min_prebin_size=config.min_prebin_size,
        max_n_bins=config.max_n_bins,
        binning_fit_params={f: {"monotonic_trend": config.monotonic_trend} for f in usable},
    )
    process.fit(train[usable], train[label].to_numpy())
    all_bins = [_bins_from_optbinning(f, process.get_binned_variable(f)) for f in usable]
    unusable = [f for f in features if f not in usable]
    iv_table = pd.DataFrame({"feature": usable + unusable, "iv": [b.iv for b in all_bins] + [0.0] * len(unusable)})
    iv_table["selected"] = iv_table["iv"] >= config.min_iv
    selected = [b for b in all_bins if b.iv >= config.min_iv and len(b.splits) > 0]
    if not selected:
        raise ValueError(f"no feature reaches min_iv={config.min_iv}: {iv_table.to_dict('records')}")
    return selected, iv_table.sort_values("iv", ascending=False, kind="mergesort").reset_index(drop=True)


def _fit_logistic(woe: np.ndarray, y: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(woe, y)
    return float(model.intercept_[0]), model.coef_[0]


def fit_scorecard(train: pd.DataFrame, features: list[str], label: str,
                  config: ScorecardConfig) -> tuple[Scorecard, pd.DataFrame]:
    """Fit binning, select by IV, fit logistic regression on WoE and scale to points.

    A feature whose coefficient has the wrong sign (higher WoE = riskier, a collinearity
    artefact) is dropped and the regression refitted, so every points table is monotone in WoE.

    Returns:
        ``(Scorecard, IV table)``; the IV table gains ``in_model`` (survived the sign check).
    """
    bins, iv_table = fit_binning(train, features, label, config)
    y = train[label].to_numpy()
    factor, offset = scaling(config.base_score, config.base_odds, config.pdo)
    while True:
        card = Scorecard(bins=bins, intercept=0.0, coefficients=[0.0] * len(bins), factor=factor, offset=offset)
        intercept, coef = _fit_logistic(card.woe_matrix(train), y, config.regularization_c)
        wrong = [i for i, b in enumerate(coef) if b > 0]
        if not wrong or len(bins) == 1:
            break
        bins = [b for i, b in enumerate(bins) if i != max(wrong, key=lambda i: coef[i])]
    n = len(bins)
    for b, beta in zip(bins, coef):
        b.points = [float(-factor * (beta * w + intercept / n) + offset / n) for w in b.woe]
        b.missing_points = float(-factor * (beta * b.missing_woe + intercept / n) + offset / n)
    card = Scorecard(bins=bins, intercept=intercept, coefficients=[float(c) for c in coef],
                     factor=factor, offset=offset)
    iv_table["in_model"] = iv_table["feature"].isin(card.features)
    return card, iv_table
