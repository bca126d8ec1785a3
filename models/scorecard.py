"""WoE scorecard: optimal binning, IV selection, logistic regression and points scaling.

Conventions (configurable, see ``models.scorecard`` in the profile):

* WoE per bin is optbinning's ``ln(%non-default / %default)``: positive = safer than average.
* ``score = offset - factor * ln(odds_bad)`` with ``factor = PDO / ln 2`` and
  ``offset = base_score - factor * ln(base_odds)``: 600 points at good:bad odds 50:1 and
  +20 points each time the good:bad odds double.
* Each selected feature contributes ``points = -factor * (b_j * WoE + b_0 / n) + offset / n``
  for its bin, so the points of a row add up exactly to its score.

Categorical (string) features are binned by category (optbinning ``dtype="categorical"``:
categories ordered by default rate and grouped; categories rarer than ``cat_cutoff`` of the
training rows share one "others" bin). A category not seen in training scores in that
"others" bin, or in the missing bin when there is none.

The fitted scorecard is plain data (splits or category lists, WoE, points): scoring needs
numpy and pandas only, not optbinning, so the logged model loads anywhere MLflow, pandas and
numpy do.
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


def as_category(values: Any) -> pd.Series:
    """Values of a categorical feature as strings without surrounding spaces; None when missing
    (null, NaN, blank).

    Training reads categories the same way (:func:`models.data.modelling_frame`), so a value
    scores in the bin it was trained in whatever its type (``1`` and ``"1"`` are one category).
    """
    series = pd.Series(np.asarray(values, dtype=object), dtype=object)
    missing = series.isna().to_numpy()
    text = series.where(~missing, "").astype(str).str.strip(" ")
    return text.where(~missing & (text != ""), None)


def categorical_columns(frame: pd.DataFrame, features: list[str]) -> list[str]:
    """The features of ``frame`` that are categorical: every column that is not numeric or boolean."""
    return [f for f in features if not pd.api.types.is_numeric_dtype(frame[f])]


@dataclass
class FeatureBins:
    """Bins of one feature.

    Numeric (``categories`` None): ``x < splits[0]`` is bin 0, ``splits[i-1] <= x < splits[i]``
    bin i. Categorical: bin i holds the categories ``categories[i]``; a category not seen in
    training goes to bin ``unseen_bin`` (the "others" bin of rare categories), or to the
    missing bin when ``unseen_bin`` is -1.
    """

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
    categories: list[list[str]] | None = None
    unseen_bin: int = -1

    @property
    def n_bins(self) -> int:
        """Regular bins (the missing bin not counted)."""
        return len(self.categories) if self.categories is not None else len(self.splits) + 1

    def bin_index(self, x: Any) -> np.ndarray:
        """Bin of each value; -1 for missing (and, for a categorical feature without an
        "others" bin, for a category not seen in training)."""
        if self.categories is not None:
            bins = {c: i for i, group in enumerate(self.categories) for c in group}
            text = as_category(x)
            idx = text.map(bins).fillna(self.unseen_bin).to_numpy(dtype=int)
            return np.where(text.isna().to_numpy(), -1, idx)
        v = np.asarray(x, dtype=float)
        idx = np.digitize(np.nan_to_num(v, nan=0.0), np.asarray(self.splits, dtype=float), right=False)
        return np.where(np.isnan(v), -1, idx)

    def lookup(self, x: Any, values: list[float], missing: float) -> np.ndarray:
        idx = self.bin_index(x)
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

    @property
    def categorical(self) -> list[str]:
        return [b.feature for b in self.bins if b.categories is not None]

    def woe_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([b.lookup(frame[b.feature].to_numpy(), b.woe, b.missing_woe) for b in self.bins])

    def points_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([b.lookup(frame[b.feature].to_numpy(), b.points, b.missing_points) for b in self.bins])

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
        """One row per feature and bin: feature, bin, count, event_rate, woe, points, iv.

        ``bin`` is the interval of a numeric feature (``[-inf, 0.10)``) or the category list of
        a categorical one (``[rent, free]``; the bin unseen categories score in says so).
        """
        rows = []
        for b in self.bins:
            woes, points = [*b.woe, b.missing_woe], [*b.points, b.missing_points]
            for label, count, rate, woe, pts in zip(b.labels, b.counts, b.event_rates, woes, points):
                rows.append(
                    {
                        "feature": b.feature,
                        "bin": label,
                        "count": count,
                        "event_rate": rate,
                        "woe": woe,
                        "points": round(pts, 2),
                        "iv": b.iv,
                    }
                )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        return cls(**{**data, "bins": [FeatureBins(**b) for b in data["bins"]]})


UNSEEN_LABEL = " + unseen"  # appended to the label of the bin unseen categories score in


def _bins_from_optbinning(name: str, optb: Any) -> FeatureBins:
    table = optb.binning_table.build()
    body = table.drop(index="Totals", errors="ignore")
    is_special = body["Bin"].map(lambda b: isinstance(b, str) and b in ("Special", "Missing"))
    regular = body[~is_special]
    missing = body[body["Bin"].map(lambda b: isinstance(b, str) and b == "Missing")]
    missing_count = int(missing["Count"].iloc[0]) if len(missing) else 0
    labels, missing_label = [str(b) for b in regular["Bin"]], "Missing"
    splits, categories, unseen_bin = [float(s) for s in optb.splits] if optb.dtype == "numerical" else [], None, -1
    if optb.dtype == "categorical":
        # splits: one array of categories per bin, the "others" bin (cat_others) last
        categories = [[str(c) for c in group] for group in optb.splits]
        unseen_bin = len(categories) - 1 if optb.to_dict()["cat_others"] else -1
        labels = ["[" + ", ".join(group) + "]" for group in categories]
        if unseen_bin >= 0:
            labels[unseen_bin] += UNSEEN_LABEL
        else:
            missing_label += UNSEEN_LABEL
    return FeatureBins(
        feature=name,
        splits=splits,
        woe=[float(w) for w in regular["WoE"]],
        missing_woe=float(missing["WoE"].iloc[0]) if missing_count else 0.0,
        labels=labels + [missing_label],
        counts=[int(c) for c in regular["Count"]] + [missing_count],
        event_rates=[float(r) for r in regular["Event rate"]]
        + [float(missing["Event rate"].iloc[0]) if missing_count else 0.0],
        iv=float(table.loc["Totals", "IV"]),
        categories=categories,
        unseen_bin=unseen_bin,
    )


MIN_OBSERVED = 30  # non-missing training values a feature needs to be binned


def fit_binning(
    train: pd.DataFrame, features: list[str], label: str, config: ScorecardConfig
) -> tuple[list[FeatureBins], pd.DataFrame]:
    """Optimal binning of every candidate feature; keep those with IV >= ``min_iv``.

    Categorical features (:func:`categorical_columns`) are binned by category, with the
    categories rarer than ``config.cat_cutoff`` in one "others" bin.

    Returns:
        ``(bins of selected features, IV table with columns feature, iv, selected, reason)``;
        ``reason`` says why a feature is not selected ("" when it is).
    """
    from optbinning import BinningProcess

    # A feature with no observed values (or a single value) in the training window
    # cannot be binned; it enters the IV table with IV 0 and is not selected.
    unusable = {
        f: f"fewer than {MIN_OBSERVED} observed values in the training sample"
        for f in features
        if train[f].notna().sum() < MIN_OBSERVED
    }
    unusable.update(
        {f: "one value in the training sample" for f in features if f not in unusable and train[f].nunique() <= 1}
    )
    usable = [f for f in features if f not in unusable]
    if not usable:
        raise ValueError(f"no feature has at least {MIN_OBSERVED} observed values in the training sample")
    categorical = categorical_columns(train, usable)
    fit_params = {
        f: {
            "monotonic_trend": config.monotonic_trend,
            **({"cat_cutoff": config.cat_cutoff} if f in categorical else {}),
        }
        for f in usable
    }
    process = BinningProcess(
        usable,
        max_n_prebins=config.max_n_prebins,
        min_prebin_size=config.min_prebin_size,
        max_n_bins=config.max_n_bins,
        categorical_variables=categorical or None,
        binning_fit_params=fit_params,
    )
    process.fit(train[usable], train[label].to_numpy())
    all_bins = [_bins_from_optbinning(f, process.get_binned_variable(f)) for f in usable]
    reasons = [
        f"IV {b.iv:.4f} below scorecard.min_iv {config.min_iv}"
        if b.iv < config.min_iv
        else ("a single bin" if b.n_bins < 2 else "")
        for b in all_bins
    ]
    iv_table = pd.DataFrame(
        {
            "feature": usable + list(unusable),
            "iv": [b.iv for b in all_bins] + [0.0] * len(unusable),
            "reason": reasons + list(unusable.values()),
        }
    )
    iv_table["selected"] = iv_table["iv"] >= config.min_iv
    selected = [b for b in all_bins if b.iv >= config.min_iv and b.n_bins > 1]
    if not selected:
        raise ValueError(f"no feature reaches min_iv={config.min_iv}: {iv_table.to_dict('records')}")
    iv_table = iv_table[["feature", "iv", "selected", "reason"]]
    return selected, iv_table.sort_values("iv", ascending=False, kind="mergesort").reset_index(drop=True)


def _fit_logistic(woe: np.ndarray, y: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(woe, y)
    return float(model.intercept_[0]), model.coef_[0]


def fit_scorecard(
    train: pd.DataFrame, features: list[str], label: str, config: ScorecardConfig
) -> tuple[Scorecard, pd.DataFrame]:
    """Fit binning, select by IV, fit logistic regression on WoE and scale to points.

    A feature whose coefficient has the wrong sign (higher WoE = riskier, a collinearity
    artefact) is dropped and the regression refitted, so every points table is monotone in WoE.

    Returns:
        ``(Scorecard, IV table)``; the IV table gains ``in_model`` (survived the sign check),
        and ``reason`` names the features dropped for their sign.
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
        dropped = max(wrong, key=lambda i: coef[i])
        iv_table.loc[iv_table["feature"] == bins[dropped].feature, "reason"] = (
            "wrong coefficient sign (riskier with higher WoE); dropped and refitted"
        )
        bins = [b for i, b in enumerate(bins) if i != dropped]
    n = len(bins)
    for b, beta in zip(bins, coef):
        b.points = [float(-factor * (beta * w + intercept / n) + offset / n) for w in b.woe]
        b.missing_points = float(-factor * (beta * b.missing_woe + intercept / n) + offset / n)
    card = Scorecard(
        bins=bins, intercept=intercept, coefficients=[float(c) for c in coef], factor=factor, offset=offset
    )
    iv_table["in_model"] = iv_table["feature"].isin(card.features)
    return card, iv_table
