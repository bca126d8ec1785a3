"""How early and how precisely the early warnings point at later defaults (a backtest of the catalogue).

Over a window of monitored month-ends, each enterprise is a *defaulter* when its first default
(``default_labels.default_date``) falls inside the window after the first month, otherwise a
*non-defaulter* when no default is known at all. A defaulter is *caught* when a warning fired
on a month-end before its default date; its *lead time* is the months from the first such
warning to the default. The *false-alarm rate* is the share of non-defaulters that were
warned at least once in the window. Signals that are the default itself (90+ days past due)
are excluded.

A loan officer acts on severities, so the backtest is given per minimum severity (every
warning, medium and worse, high and worse, critical) and per signal (how much more often it
fires before a default than on a borrower that does not default: its lift).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.gold_scores import SEVERITIES

DEFAULT_SIGNALS = ("DPD_90_PLUS",)


@dataclass(frozen=True)
class Population:
    """Who was monitored in the window, split by outcome, and their warnings (uscc, snapshot_date,
    signal_id, severity_rank) inside it."""

    defaulters: DataFrame     # uscc, default_date
    clean: DataFrame          # uscc
    warnings: DataFrame
    n_defaulters: int
    n_clean: int


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) + 1


def population(warnings: DataFrame, labels: DataFrame, scores: DataFrame, *, first: dt.date, last: dt.date,
               exclude: Sequence[str] = DEFAULT_SIGNALS) -> Population:
    """Split the borrowers scored in ``first``..``last`` into defaulters and non-defaulters.

    Args:
        warnings: ``early_warnings`` (uscc, snapshot_date, signal_id, severity).
        labels: ``default_labels`` (uscc, default_12m, default_date).
        scores: ``risk_scores`` (uscc, snapshot_date): who was monitored in the window.
        first, last: first and last monitored month-ends.
        exclude: signal ids that are the default event itself.
    """
    window = F.col("snapshot_date").between(F.lit(first), F.lit(last))
    monitored = scores.where(window).select("uscc").distinct()
    first_default = (labels.where(F.col("default_12m")).groupBy("uscc")
                     .agg(F.min("default_date").alias("default_date")))
    everyone = monitored.join(first_default, on="uscc", how="left").cache()
    defaulted_in_window = (F.col("default_date") > F.lit(first)) & (F.col("default_date") <= F.lit(last))
    defaulters = everyone.where(defaulted_in_window)
    clean = everyone.where(F.col("default_date").isNull()).select("uscc")
    ranks = F.array(*[F.lit(s) for s in SEVERITIES])
    warned = (warnings.where(window & ~F.col("signal_id").isin(*exclude))
              .select("uscc", "snapshot_date", "signal_id",
                      F.array_position(ranks, F.col("severity")).cast("int").alias("severity_rank")))
    return Population(defaulters, clean, warned, defaulters.count(), clean.count())


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def lead_times(warnings: DataFrame, labels: DataFrame, scores: DataFrame, *, first: dt.date, last: dt.date,
               exclude: Sequence[str] = DEFAULT_SIGNALS, min_severity: str = SEVERITIES[0],
               pop: Population | None = None) -> dict[str, Any]:
    """Backtest the warnings of month-ends ``first``..``last`` of severity ``min_severity`` or worse.

    Returns:
        ``window``, ``min_severity``, ``defaulters``, ``caught`` (warned before default), ``catch_rate``,
        ``median_lead_months``, ``mean_lead_months``, ``non_defaulters``, ``false_alarms``,
        ``false_alarm_rate``.
    """
    pop = pop or population(warnings, labels, scores, first=first, last=last, exclude=exclude)
    warned = pop.warnings.where(F.col("severity_rank") >= _rank(min_severity)).select("uscc", "snapshot_date")
    first_warning = (pop.defaulters.join(warned, on="uscc", how="inner")
                     .where(F.col("snapshot_date") < F.col("default_date"))
                     .groupBy("uscc", "default_date").agg(F.min("snapshot_date").alias("first_warning"))
                     .select(F.months_between("default_date", "first_warning").alias("lead")))
    stats = first_warning.agg(F.count("*").alias("caught"), F.percentile_approx("lead", 0.5).alias("median"),
                              F.avg("lead").alias("mean")).first()
    false_alarms = pop.clean.join(warned.select("uscc").distinct(), on="uscc", how="inner").count()
    return {
        "window": f"{first}..{last}", "min_severity": min_severity, "defaulters": pop.n_defaulters,
        "caught": stats["caught"], "catch_rate": _rate(stats["caught"], pop.n_defaulters),
        "median_lead_months": round(stats["median"], 1) if stats["median"] is not None else None,
        "mean_lead_months": round(stats["mean"], 1) if stats["mean"] is not None else None,
        "non_defaulters": pop.n_clean, "false_alarms": false_alarms,
        "false_alarm_rate": _rate(false_alarms, pop.n_clean),
    }


def signal_lift(pop: Population) -> list[dict[str, Any]]:
    """Per signal: the share of defaulters it warned before their default, the share of
    non-defaulters it warned in the window, and their ratio (lift; > 1 means it discriminates).

    Returns:
        Rows sorted by lift: signal_id, defaulters_warned, defaulter_rate, non_defaulters_warned,
        false_alarm_rate, lift.
    """
    before_default = (pop.defaulters.join(pop.warnings, on="uscc", how="inner")
                      .where(F.col("snapshot_date") < F.col("default_date"))
                      .groupBy("signal_id").agg(F.countDistinct("uscc").alias("defaulters_warned")))
    on_clean = (pop.clean.join(pop.warnings, on="uscc", how="inner")
                .groupBy("signal_id").agg(F.countDistinct("uscc").alias("non_defaulters_warned")))
    rows = []
    for r in before_default.join(on_clean, on="signal_id", how="full").collect():   # one row per signal
        hits, alarms = r["defaulters_warned"] or 0, r["non_defaulters_warned"] or 0
        hit_rate, alarm_rate = _rate(hits, pop.n_defaulters), _rate(alarms, pop.n_clean)
        lift = hit_rate / alarm_rate if hit_rate is not None and alarm_rate else None
        rows.append({"signal_id": r["signal_id"], "defaulters_warned": hits, "defaulter_rate": hit_rate,
                     "non_defaulters_warned": alarms, "false_alarm_rate": alarm_rate,
                     "lift": round(lift, 2) if lift is not None else None})
    return sorted(rows, key=lambda row: -(row["lift"] if row["lift"] is not None else float("inf")))


def backtest(warnings: DataFrame, labels: DataFrame, scores: DataFrame, *, first: dt.date, last: dt.date,
             exclude: Sequence[str] = DEFAULT_SIGNALS) -> dict[str, Any]:
    """The whole backtest of ``first``..``last``: :func:`lead_times` at every minimum severity and
    :func:`signal_lift`.

    Returns:
        ``window``, ``by_severity`` (one :func:`lead_times` dict per severity, least severe first) and
        ``by_signal``.
    """
    pop = population(warnings, labels, scores, first=first, last=last, exclude=exclude)
    return {"window": f"{first}..{last}",
            "by_severity": [lead_times(warnings, labels, scores, first=first, last=last, min_severity=s, pop=pop)
                            for s in SEVERITIES],
            "by_signal": signal_lift(pop)}
