"""Model quality on the training and out-of-time samples.

Discrimination (AUC, Gini = 2·AUC − 1, KS), accuracy of the PD (Brier, log loss), calibration
by master-scale grade (the Jeffreys test per grade with traffic lights, :mod:`models.backtest`;
count-weighted ECE and the largest gap are reported beside it), stability by PSI of the score
and of each feature between the training and the out-of-time sample (< 0.10 stable,
0.10–0.25 watch, > 0.25 act).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.backtest import JeffreysConfig, jeffreys_test, summary
from models.calibration import MasterScale, calibration_errors, grade_table, obligor_weights

PSI_EPSILON = 1e-4  # floor of a bin share, so an empty bin does not make PSI infinite
PSI_STABLE, PSI_ACT = 0.10, 0.25


def quantile_edges(values: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges of a PSI binning: the distinct ``bins``-quantiles of the non-missing ``values``."""
    v = np.asarray(values, dtype=float)
    finite = v[~np.isnan(v)]
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if finite.size else np.array([])


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``i`` when ``edges[i-1] <= v < edges[i]``; ``len(edges) + 1`` when missing."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isnan(v), len(edges) + 1, np.searchsorted(edges, v, side="right"))


def psi_from_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two count (or share) vectors over the same bins; empty bins floored at
    :data:`PSI_EPSILON`. Equal distributions give 0."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    pe = np.maximum(e / max(e.sum(), 1.0), PSI_EPSILON)
    pa = np.maximum(a / max(a.sum(), 1.0), PSI_EPSILON)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bin edges are the deciles (``bins`` quantiles) of ``expected``; missing values get a bin
    of their own. ``psi(x, x) == 0``. Non-numeric values are categories
    (:func:`category_psi`).
    """
    if not pd.api.types.is_numeric_dtype(pd.Series(expected)):
        return category_psi(expected, actual)
    edges = quantile_edges(expected, bins)
    n_bins = len(edges) + 2  # regular bins plus the missing bin
    return psi_from_counts(
        np.bincount(bin_index(expected, edges), minlength=n_bins),
        np.bincount(bin_index(actual, edges), minlength=n_bins),
    )


def category_psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of a categorical feature: one bin per category of ``expected``, one for categories
    ``expected`` lacks, one for missing values (null, NaN)."""
    e, a = pd.Series(expected, dtype=object), pd.Series(actual, dtype=object)
    categories = sorted(e.dropna().astype(str).unique())
    index = {c: i for i, c in enumerate(categories)}

    def counts(values: pd.Series) -> np.ndarray:
        present = values.notna()
        bins = values[present].astype(str).map(index).fillna(len(categories)).to_numpy(dtype=int)
        found = np.bincount(bins, minlength=len(categories) + 1)
        return np.append(found, int((~present).sum()))

    return psi_from_counts(counts(e), counts(a))


def psi_status(value: float, stable: float = PSI_STABLE, act: float = PSI_ACT) -> str:
    """``stable`` below ``stable``, ``act`` above ``act``, ``watch`` in between."""
    return "stable" if value < stable else ("watch" if value <= act else "act")


def discrimination(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """auc, gini, ks, brier, log_loss, default_rate and mean_pd of one sample."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, pd_)
    auc = float(roc_auc_score(y, pd_))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(y, pd_)),
        "log_loss": float(log_loss(y, pd_, labels=[0, 1])),
        "default_rate": float(np.mean(y)),
        "mean_pd": float(np.mean(pd_)),
        "rows": float(len(y)),
    }


def overall_test(grades: pd.DataFrame, jeffreys: JeffreysConfig) -> dict[str, float]:
    """The Jeffreys test of the whole sample (every grade pooled): does the PD's level match the
    realised default rate? A level shift (a downturn after a calm training window) moves every
    grade a little the same way, which no single grade's test may see.

    Returns:
        ``overall_default_rate``, ``overall_mean_pd`` (in the grade table's unit, obligors or rows),
        ``overall_p_value`` and ``overall_red`` / ``overall_amber`` (1.0 or 0.0).
    """
    count = float(grades["count"].sum())
    pooled = pd.DataFrame(
        {
            "grade": ["all"],
            "count": [count],
            "defaults": [float(grades["defaults"].sum())],
            "mean_pd": [float((grades["mean_pd"].fillna(0) * grades["count"]).sum() / max(count, 1e-12))],
        }
    )
    tested = jeffreys_test(pooled, jeffreys).iloc[0]
    return {
        "overall_default_rate": float(pooled["defaults"].iloc[0] / max(count, 1e-12)),
        "overall_mean_pd": float(tested["mean_pd"]),
        "overall_p_value": float(tested["p_value"]),
        "overall_red": float(tested["status"] == "red"),
        "overall_amber": float(tested["status"] == "amber"),
    }


@dataclass
class Evaluation:
    """Metrics and tables of one model.

    Attributes:
        metrics: flat ``name -> float`` (``train_*``, ``oot_*``, ``psi_score``, ``psi.<feature>``,
            ``iv.<feature>``), logged to MLflow in one batch.
        grades: ``{"train": table, "oot": table}`` from :func:`models.calibration.grade_table` with
            the Jeffreys test's columns (p_value, ci_lower, ci_upper, direction, status).
        stability: feature, psi, status (train vs out-of-time), score first.
        scored: ``{"train": frame, "oot": frame}`` with y, pd and score (for the plots).
    """

    metrics: dict[str, float]
    grades: dict[str, pd.DataFrame]
    stability: pd.DataFrame
    scored: dict[str, pd.DataFrame] = field(default_factory=dict)


def evaluate(
    scored: dict[str, pd.DataFrame],
    samples: dict[str, pd.DataFrame],
    *,
    features: list[str],
    scale: MasterScale,
    iv: pd.DataFrame | None = None,
    psi_bins: int = 10,
    min_grade_count: int = 30,
    jeffreys: JeffreysConfig = JeffreysConfig(),  # noqa: B008 (frozen)
    ids: dict[str, np.ndarray] | None = None,
) -> Evaluation:
    """Evaluate predictions on the train and out-of-time samples.

    Args:
        scored: ``{"train": frame, "oot": frame}``, each with columns y (0/1), pd, score.
        samples: the same keys, the input rows (for feature PSI).
        features: features to check for stability.
        iv: optional IV table (feature, iv) to add ``iv.<feature>`` metrics.
        jeffreys: traffic-light confidences of the per-grade test; adds ``<sample>_grades_tested``,
            ``_green``, ``_amber``, ``_red`` and ``<sample>_min_pd`` metrics.
        ids: ``{"train": ids, "oot": ids}`` obligor id per row; with ``jeffreys.unit == "obligor"``
            the grade tables count each obligor once (:func:`models.calibration.obligor_weights`).
    """
    metrics: dict[str, float] = {}
    grades: dict[str, pd.DataFrame] = {}
    for name, frame in scored.items():
        y, pd_ = frame["y"].to_numpy(), frame["pd"].to_numpy()
        metrics.update({f"{name}_{k}": v for k, v in discrimination(y, pd_).items()})
        weights = obligor_weights(ids[name]) if ids is not None and jeffreys.unit == "obligor" else None
        grades[name] = jeffreys_test(grade_table(pd_, y, scale, weights), jeffreys)
        metrics.update({f"{name}_{k}": v for k, v in overall_test(grades[name], jeffreys).items()})
        if weights is not None:  # the same test with every borrower-month as an observation, for reference
            by_row = summary(jeffreys_test(grade_table(pd_, y, scale), jeffreys))
            metrics.update({f"{name}_{k}_by_row": v for k, v in by_row.items() if k != "grades_tested"})
        errors = calibration_errors(grades[name], min_grade_count)
        metrics.update({f"{name}_{k}": v for k, v in {**errors, **summary(grades[name])}.items()})
        metrics[f"{name}_min_pd"] = float(np.min(pd_))
    rows = [{"feature": "score", "psi": psi(scored["train"]["score"], scored["oot"]["score"], psi_bins)}]
    rows += [{"feature": f, "psi": psi(samples["train"][f], samples["oot"][f], psi_bins)} for f in features]
    stability = pd.DataFrame(rows)
    stability["status"] = stability["psi"].map(psi_status)
    metrics["psi_score"] = float(stability["psi"].iloc[0])
    metrics["psi_max_feature"] = float(stability["psi"].iloc[1:].max()) if len(rows) > 1 else 0.0
    metrics.update({f"psi.{f}": float(v) for f, v in zip(stability["feature"][1:], stability["psi"][1:])})
    if iv is not None:
        metrics.update({f"iv.{f}": float(v) for f, v in zip(iv["feature"], iv["iv"])})
    clean = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    return Evaluation(metrics=clean, grades=grades, stability=stability, scored=scored)
