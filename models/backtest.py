"""Per-grade PD back-test: the Jeffreys test (ECB instructions for IRB back-testing), with traffic lights.

For a grade with ``n`` obligors, ``d`` defaults and mean predicted PD ``p``, the Jeffreys posterior
of the grade's default rate is ``Beta(d + 1/2, n - d + 1/2)``. Its CDF at ``p`` is the one-sided
p-value of the ECB test (H0: the PD is not below the true default rate): a small value means the
grade's PD *under*-predicts. Its complement is the p-value for *over*-prediction.

Traffic lights (confidences are configuration, :class:`JeffreysConfig`):

* ``green``: ``p`` inside the two-sided ``amber_confidence`` (95 %) Jeffreys interval;
* ``amber``: outside it, inside the ``red_confidence`` (99.9 %) interval;
* ``red``: outside the ``red_confidence`` interval;
* ``empty``: no obligors in the grade (not tested).

The ECB test counts obligors of one cohort. An out-of-time sample of several monthly snapshots
holds each borrower up to once a month and a default in up to twelve consecutive labels, so
with ``unit="obligor"`` (default) each row is weighted ``1 / (rows of its obligor)``
(:func:`models.calibration.obligor_weights`): ``count`` and ``defaults`` are obligor
equivalents, and the interval is as wide as the evidence is. ``unit="row"`` tests rows as if
they were independent (too strict for pooled snapshots; right for a single cohort).

With ``sides="under"`` only under-prediction turns a grade amber or red (the ECB's one-sided,
conservative reading); with ``"both"`` (default) an over-predicting grade does too, because an
inflated PD misprices loans, limits and expected loss as surely as a low one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STATUSES = ("green", "amber", "red", "empty")


@dataclass(frozen=True)
class JeffreysConfig:
    """Confidence levels of the traffic lights, which side of the interval counts, and what one
    observation is (``obligor``: each borrower of a multi-snapshot sample weighs one; ``row``)."""

    amber_confidence: float = 0.95
    red_confidence: float = 0.999
    sides: str = "both"  # both | under
    unit: str = "obligor"  # obligor | row

    def __post_init__(self) -> None:
        if not 0 < self.amber_confidence < self.red_confidence < 1:
            raise ValueError(
                "jeffreys: need 0 < amber_confidence < red_confidence < 1, got "
                f"{self.amber_confidence}, {self.red_confidence}"
            )
        if self.sides not in ("both", "under"):
            raise ValueError(f"jeffreys.sides must be both or under, got {self.sides!r}")
        if self.unit not in ("obligor", "row"):
            raise ValueError(f"jeffreys.unit must be obligor or row, got {self.unit!r}")


def jeffreys_interval(defaults: np.ndarray, rows: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Jeffreys interval of the default rate: ``(lower, upper)`` arrays.

    The lower bound is 0 when there are no defaults and the upper bound 1 when every row defaulted
    (the usual convention, so the interval always contains the observed rate).
    """
    from scipy.stats import beta

    d, n = np.asarray(defaults, dtype=float), np.asarray(rows, dtype=float)
    a, b = d + 0.5, np.maximum(n - d, 0) + 0.5
    tail = (1 - confidence) / 2
    lower = np.where(d <= 0, 0.0, beta.ppf(tail, a, b))
    upper = np.where(d >= n, 1.0, beta.ppf(1 - tail, a, b))
    return lower, upper


def jeffreys_p_value(defaults: np.ndarray, rows: np.ndarray, pd_: np.ndarray) -> np.ndarray:
    """One-sided ECB p-value: ``Beta(d + 1/2, n - d + 1/2).cdf(pd)``; small = PD too low."""
    from scipy.stats import beta

    d, n = np.asarray(defaults, dtype=float), np.asarray(rows, dtype=float)
    return beta.cdf(np.asarray(pd_, dtype=float), d + 0.5, np.maximum(n - d, 0) + 0.5)


def jeffreys_test(table: pd.DataFrame, config: JeffreysConfig = JeffreysConfig()) -> pd.DataFrame:
    """Test every grade of ``table``.

    Args:
        table: one row per grade with ``count`` (obligors), ``defaults`` and ``mean_pd``
            (e.g. :func:`models.calibration.grade_table`); other columns are kept.

    Returns:
        ``table`` plus ``p_value`` (one-sided, under-prediction), ``ci_lower``/``ci_upper`` (the
        ``amber_confidence`` interval), ``direction`` (``under``, ``over`` or ``ok``) and
        ``status`` (green, amber, red, empty).
    """
    out = table.copy()
    rows, defaults = out["count"].to_numpy(float), out["defaults"].to_numpy(float)
    mean_pd = out["mean_pd"].to_numpy(float)
    tested = rows > 0
    n = np.where(tested, rows, 1.0)  # obligor equivalents may be fractional
    p_under = np.where(tested, jeffreys_p_value(defaults, n, np.nan_to_num(mean_pd)), np.nan)
    low_a, high_a = jeffreys_interval(defaults, n, config.amber_confidence)
    low_r, high_r = jeffreys_interval(defaults, n, config.red_confidence)
    under_a, under_r = mean_pd < low_a, mean_pd < low_r
    over_a, over_r = mean_pd > high_a, mean_pd > high_r
    if config.sides == "under":
        over_a = over_r = np.zeros_like(over_a)
    red = tested & (under_r | over_r)
    amber = tested & ~red & (under_a | over_a)
    out["p_value"] = p_under
    out["ci_lower"] = np.where(tested, low_a, np.nan)
    out["ci_upper"] = np.where(tested, high_a, np.nan)
    out["direction"] = np.where(
        ~tested, "", np.where(mean_pd < low_a, "under", np.where(mean_pd > high_a, "over", "ok"))
    )
    out["status"] = np.where(~tested, "empty", np.where(red, "red", np.where(amber, "amber", "green")))
    return out


def summary(tested: pd.DataFrame) -> dict[str, float]:
    """Counts of a :func:`jeffreys_test` result: ``grades_tested``, ``grades_green``, ``grades_amber``,
    ``grades_red`` (as floats, so they log as MLflow metrics)."""
    status = tested["status"]
    return {
        "grades_tested": float((status != "empty").sum()),
        "grades_green": float((status == "green").sum()),
        "grades_amber": float((status == "amber").sum()),
        "grades_red": float((status == "red").sum()),
    }
