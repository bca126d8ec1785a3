"""Model monitoring metrics: PSI binning in Spark, the Jeffreys back-test by grade, AUC and KS.

Spark does the row-level work and returns small aggregates (bin counts per subject, counts
per grade, AUC and KS per snapshot through window functions); PSI and the Jeffreys tests are
computed from those aggregates with numpy/scipy on the driver. No raw row is collected.

The PSI binning rule is the one of training (:mod:`models.evaluate`): inner edges are the
``bins``-quantiles of the training sample (linear interpolation, like ``numpy.quantile``), a
value ``v`` falls in bin ``i`` when ``edges[i-1] <= v < edges[i]``, and missing values (null
or NaN) have a bin of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from models.backtest import JeffreysConfig, jeffreys_test
from models.evaluate import PSI_ACT, PSI_STABLE
from riskpipe.core.aggregates import exact_sum
from riskpipe.core.calendar import add_months, month_end


@dataclass(frozen=True)
class MonitoringConfig:
    """The ``monitoring:`` section of the profile (see conf/default.yaml)."""

    psi_bins: int = 10
    psi_stable: float = PSI_STABLE  # PSI < 0.10 stable
    psi_act: float = PSI_ACT  # 0.10 <= PSI <= 0.25 watch; > 0.25 act
    maturity_months: int = 12  # PD horizon: labels of D' are final 12 months later
    window_months: int = 12  # matured snapshots pooled in the per-grade Jeffreys test
    amber_confidence: float = 0.95  # mean PD outside this Jeffreys interval -> amber
    red_confidence: float = 0.999  # ... outside this one -> red
    auc_amber: float = 0.70
    auc_red: float = 0.60
    ks_amber: float = 0.30
    ks_red: float = 0.20
    backtest_sides: str = "both"  # both | under: whether an over-predicting grade also turns amber/red
    backtest_unit: str = "obligor"  # obligor: each borrower of the pooled window weighs one | row
    # alerts that trigger retraining: "metric" (any subject) or "metric:subject"; by default the
    # score's PSI only (a feature's PSI is an alert to look at, e.g. an age feature always drifts)
    retrain_on: tuple[str, ...] = ("psi:score",)
    retrain_oot_months: int = 6  # out-of-time months of the retraining triggered by drift
    # PSI reference: the training sample restricted to the population scoring applies the model
    # to ("scored": active borrowers when scoring.active_only), or the whole training sample
    reference_population: str = "scored"

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> MonitoringConfig:
        """Build and validate from ``settings.sections("monitoring")``.

        Raises:
            ValueError: naming an unknown key, or for inconsistent thresholds.
        """
        section = raw.get("monitoring") or {}
        _check_keys(section)
        psi, back = section.get("psi") or {}, section.get("backtest") or {}
        auc, ks = section.get("auc") or {}, section.get("ks") or {}
        retrain = section.get("retrain") or {}
        d = cls()
        config = cls(
            int(psi.get("bins", d.psi_bins)),
            float(psi.get("stable_below", d.psi_stable)),
            float(psi.get("act_above", d.psi_act)),
            int(back.get("maturity_months", d.maturity_months)),
            int(back.get("window_months", d.window_months)),
            float(back.get("amber_confidence", d.amber_confidence)),
            float(back.get("red_confidence", d.red_confidence)),
            float(auc.get("amber_below", d.auc_amber)),
            float(auc.get("red_below", d.auc_red)),
            float(ks.get("amber_below", d.ks_amber)),
            float(ks.get("red_below", d.ks_red)),
            str(back.get("sides", d.backtest_sides)),
            str(back.get("unit", d.backtest_unit)),
            tuple(retrain.get("triggers", d.retrain_on)),
            int(retrain.get("oot_months", d.retrain_oot_months)),
            str(psi.get("reference_population", d.reference_population)),
        )
        if not (
            0 < config.psi_stable <= config.psi_act
            and config.psi_bins >= 2
            and 0 < config.amber_confidence < config.red_confidence < 1
            and config.auc_red <= config.auc_amber
            and config.ks_red <= config.ks_amber
            and config.window_months >= 1
            and config.maturity_months >= 1
            and config.backtest_sides in ("both", "under")
            and config.backtest_unit in ("obligor", "row")
            and config.reference_population in ("scored", "training")
        ):
            raise ValueError(f"monitoring config: inconsistent thresholds {config}")
        return config


SECTION_KEYS = {
    "psi": {"bins", "stable_below", "act_above", "reference_population"},
    "backtest": {"maturity_months", "window_months", "amber_confidence", "red_confidence", "sides", "unit"},
    "auc": {"amber_below", "red_below"},
    "ks": {"amber_below", "red_below"},
    "retrain": {"triggers", "oot_months"},
}


def _check_keys(section: Mapping[str, Any]) -> None:
    unknown = [f"monitoring.{k}" for k in section if k not in SECTION_KEYS]
    unknown += [
        f"monitoring.{k}.{key}" for k, keys in SECTION_KEYS.items() for key in (section.get(k) or {}) if key not in keys
    ]
    if unknown:
        raise ValueError(f"unknown monitoring config key(s) {unknown}; allowed: {SECTION_KEYS}")


def traffic_light(value: float, *, amber_below: float, red_below: float) -> str:
    """green, amber below ``amber_below``, red below ``red_below`` (for AUC and KS)."""
    return "red" if value < red_below else ("amber" if value < amber_below else "green")


# ---------------------------------------------------------------- PSI binning (Spark)


def is_missing(value: Column) -> Column:
    return value.isNull() | F.isnan(value)


def bin_column(value: Column, edges: Sequence[float]) -> Column:
    """Bin number of ``value`` (a double): the count of edges <= value; ``len(edges) + 1`` when missing."""
    regular = reduce(add, [(value >= F.lit(float(e))).cast("int") for e in edges], F.lit(0))
    return F.when(is_missing(value), F.lit(len(edges) + 1)).otherwise(regular).cast("int")


def quantiles(frame: DataFrame, subjects: Sequence[str], bins: int) -> DataFrame:
    """One row, one array column per subject: its inner ``bins``-quantiles over non-missing values
    (exact, linearly interpolated; null when the subject has no value)."""
    probabilities = [float(p) for p in np.linspace(0, 1, bins + 1)[1:-1]]
    value = {s: F.col(s).cast("double") for s in subjects}
    return frame.select(
        *[F.percentile(F.when(~is_missing(value[s]), value[s]), probabilities).alias(s) for s in subjects]
    )


def bin_counts(frame: DataFrame, edges: Mapping[str, Sequence[float]]) -> DataFrame:
    """Rows per subject and bin.

    Args:
        frame: one row per entity with a numeric column per subject.
        edges: subject -> sorted inner edges.

    Returns:
        ``subject``, ``bin`` (int), ``rows`` (long); bins without rows are absent.
    """
    pairs = F.array(
        *[
            F.struct(F.lit(s).alias("subject"), bin_column(F.col(s).cast("double"), e).alias("bin"))
            for s, e in edges.items()
        ]
    )
    return (
        frame.select(F.inline(pairs))
        .groupBy("subject", "bin")
        .agg(F.count(F.lit(1)).alias("rows"))
        .select("subject", "bin", "rows")
    )


def bin_table(edges: Sequence[float], counts: Mapping[int, int]) -> pd.DataFrame:
    """Every bin of one subject: ``bin``, ``lower``, ``upper``, ``is_missing``, ``rows`` (0 when absent)."""
    bounds = [None, *edges, None]
    rows = [
        {"bin": i, "lower": bounds[i], "upper": bounds[i + 1], "is_missing": False, "rows": int(counts.get(i, 0))}
        for i in range(len(edges) + 1)
    ]
    rows.append(
        {
            "bin": len(edges) + 1,
            "lower": None,
            "upper": None,
            "is_missing": True,
            "rows": int(counts.get(len(edges) + 1, 0)),
        }
    )
    return pd.DataFrame(rows)


def edges_of(reference: pd.DataFrame) -> list[float]:
    """Inner edges of one subject's reference bins (the upper bounds of its bounded value bins)."""
    bounded = reference[~reference["is_missing"] & reference["upper"].notna()]
    return sorted(float(u) for u in bounded["upper"])


# ---------------------------------------------------------------- backtest inputs (Spark)


def matured_window(as_of: dt.date, config: MonitoringConfig) -> tuple[dt.date, dt.date]:
    """First and last snapshot whose 12-month outcome is observable on ``as_of``."""
    last = month_end(add_months(as_of, -config.maturity_months))
    first = month_end(add_months(as_of, -(config.maturity_months + config.window_months - 1)))
    return first, last


def matured_predictions(scores: DataFrame, labels: DataFrame, *, as_of: dt.date, config: MonitoringConfig) -> DataFrame:
    """Scored rows of the matured snapshots with their final outcome.

    Args:
        scores: ``risk_scores`` (uscc, snapshot_date, pd, grade, grade_num, model_version).
        labels: ``default_labels`` (uscc, snapshot_date, default_12m, censored, in_default_at_snapshot).

    Returns:
        ``snapshot_date``, ``uscc``, ``pd``, ``grade``, ``grade_num``, ``model_version``, ``defaulted``
        (int 0/1) and ``obligor_weight`` (``1 / rows of the same uscc``: each borrower weighs one,
        as :func:`models.calibration.obligor_weights`), for snapshots in :func:`matured_window`
        whose label is uncensored and not already in default on the snapshot.
    """
    first, last = matured_window(as_of, config)
    in_window = F.col("snapshot_date").between(F.lit(first), F.lit(last))
    is_final = ~F.col("censored") & ~F.col("in_default_at_snapshot")
    outcomes = labels.where(in_window & is_final).select("uscc", "snapshot_date", "default_12m")
    per_obligor = Window.partitionBy("uscc")
    return (
        scores.where(in_window)
        .join(outcomes, on=["uscc", "snapshot_date"], how="inner")
        .select(
            "snapshot_date",
            "uscc",
            "pd",
            "grade",
            "grade_num",
            "model_version",
            F.col("default_12m").cast("int").alias("defaulted"),
            (F.lit(1.0) / F.count(F.lit(1)).over(per_obligor)).alias("obligor_weight"),
        )
    )


def grade_counts(matured: DataFrame) -> DataFrame:
    """Per grade: ``grade``, ``grade_num``, ``rows``, ``defaults``, ``sum_pd`` (row counts and sums),
    ``obligors``, ``obligor_defaults``, ``obligor_sum_pd`` (the same weighted by ``obligor_weight``),
    ``first_snapshot``, ``last_snapshot``, ``model_versions`` (sorted array)."""
    weight = F.col("obligor_weight")
    return (
        matured.groupBy("grade", "grade_num")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum("defaulted").alias("defaults"),
            exact_sum(F.col("pd")).alias("sum_pd"),
            F.sum(weight).alias("obligors"),
            F.sum(weight * F.col("defaulted")).alias("obligor_defaults"),
            F.sum(weight * F.col("pd")).alias("obligor_sum_pd"),
            F.min("snapshot_date").alias("first_snapshot"),
            F.max("snapshot_date").alias("last_snapshot"),
            F.array_sort(F.collect_set("model_version")).alias("model_versions"),
        )
        .select(
            "grade",
            "grade_num",
            "rows",
            "defaults",
            "sum_pd",
            "obligors",
            "obligor_defaults",
            "obligor_sum_pd",
            "first_snapshot",
            "last_snapshot",
            "model_versions",
        )
    )


def discrimination(matured: DataFrame) -> DataFrame:
    """AUC and KS of each matured snapshot, computed in Spark from counts per distinct PD.

    AUC counts a tie between a default and a non-default as one half (as
    ``sklearn.metrics.roc_auc_score``); KS is ``max(tpr - fpr)`` over the PD thresholds (as
    ``roc_curve``). Snapshots without defaults or without non-defaults are dropped.

    Args:
        matured: :func:`matured_predictions` (snapshot_date, pd, defaulted).

    Returns:
        ``snapshot_date``, ``rows``, ``defaults``, ``mean_pd``, ``auc``, ``ks``.
    """
    snapshot = Window.partitionBy("snapshot_date")
    lower_pd = snapshot.orderBy("pd").rowsBetween(Window.unboundedPreceding, -1)
    from_top = snapshot.orderBy(F.desc("pd")).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    counts = matured.groupBy("snapshot_date", "pd").agg(
        F.sum("defaulted").cast("double").alias("bads"), F.sum(1 - F.col("defaulted")).cast("double").alias("goods")
    )
    ranked = counts.select(
        "snapshot_date",
        "pd",
        "bads",
        "goods",
        F.sum("bads").over(snapshot).alias("total_bads"),
        F.sum("goods").over(snapshot).alias("total_goods"),
        F.coalesce(F.sum("goods").over(lower_pd), F.lit(0.0)).alias("goods_below"),
        F.sum("bads").over(from_top).alias("bads_above"),
        F.sum("goods").over(from_top).alias("goods_above"),
    )
    has_both = (F.col("total_bads") > 0) & (F.col("total_goods") > 0)
    return (
        ranked.where(has_both)
        .groupBy("snapshot_date")
        .agg(
            F.first("total_bads").alias("b"),
            F.first("total_goods").alias("g"),
            exact_sum(F.col("pd") * (F.col("bads") + F.col("goods"))).alias("sum_pd"),
            F.sum(F.col("bads") * (F.col("goods_below") + 0.5 * F.col("goods"))).alias("concordant"),
            F.max(F.col("bads_above") / F.col("total_bads") - F.col("goods_above") / F.col("total_goods")).alias(
                "max_gap"
            ),
        )
        .select(
            "snapshot_date",
            (F.col("b") + F.col("g")).cast("long").alias("rows"),
            F.col("b").cast("long").alias("defaults"),
            (F.col("sum_pd") / (F.col("b") + F.col("g"))).alias("mean_pd"),
            (F.col("concordant") / (F.col("b") * F.col("g"))).alias("auc"),
            F.greatest(F.col("max_gap"), F.lit(0.0)).alias("ks"),
        )
    )


# ---------------------------------------------------------------- statistics (driver, small)


def jeffreys_backtest(counts: pd.DataFrame, config: MonitoringConfig) -> pd.DataFrame:
    """The Jeffreys test per grade (:func:`models.backtest.jeffreys_test`, the one the promotion gate
    uses): is the grade's mean predicted PD inside the Jeffreys interval of its realised default rate?

    Args:
        counts: :func:`grade_counts` as pandas (``grade``, ``rows``, ``defaults``, ``sum_pd`` ...).

    Returns:
        The input plus ``default_rate``, ``mean_pd``, ``p_value`` (one-sided, small = PD too low),
        ``ci_lower``/``ci_upper`` (the ``amber_confidence`` interval), ``direction`` and ``status``:
        red outside the ``red_confidence`` interval, amber outside the ``amber_confidence`` one,
        else green (with ``backtest_sides: under`` only the under-predicting side counts).
    """
    out = counts.copy()
    out["default_rate"] = out["defaults"] / out["rows"]
    out["mean_pd"] = (out["sum_pd"] / out["rows"]).clip(0.0, 1.0)
    jeffreys = JeffreysConfig(
        config.amber_confidence, config.red_confidence, config.backtest_sides, config.backtest_unit
    )
    if jeffreys.unit == "obligor":
        tested = out.assign(
            count=out["obligors"],
            defaults=out["obligor_defaults"],
            mean_pd=(out["obligor_sum_pd"] / out["obligors"]).clip(0.0, 1.0),
        )
    else:
        tested = out.assign(count=out["rows"])
    tested = jeffreys_test(tested, jeffreys)
    return out.assign(**{c: tested[c] for c in ("p_value", "ci_lower", "ci_upper", "direction", "status")})
