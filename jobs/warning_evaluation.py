"""How early and how precisely the early warnings point at later defaults (a backtest of the catalogue).

Over a window of monitored month-ends, each enterprise is a *defaulter* when its first default
(``default_labels.default_date``) falls inside the window after the first month, otherwise a
*non-defaulter* when no default is known at all. A defaulter is *caught* when a warning fired
on a month-end before its default date; its *lead time* is the months from the first such
warning to the default. The *false-alarm rate* is the share of non-defaulters that were
warned at least once in the window. Signals that are the default itself (90+ days past due)
are excluded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DEFAULT_SIGNALS = ("DPD_90_PLUS",)


def lead_times(warnings: DataFrame, labels: DataFrame, scores: DataFrame, *, first: dt.date, last: dt.date,
               exclude: Sequence[str] = DEFAULT_SIGNALS) -> dict[str, Any]:
    """Backtest the warnings of month-ends ``first``..``last``.

    Args:
        warnings: ``early_warnings`` (uscc, snapshot_date, signal_id).
        labels: ``default_labels`` (uscc, default_12m, default_date).
        scores: ``risk_scores`` (uscc, snapshot_date): who was monitored in the window.
        first, last: first and last monitored month-ends.
        exclude: signal ids that are the default event itself.

    Returns:
        ``defaulters``, ``caught`` (warned before default), ``catch_rate``, ``median_lead_months``,
        ``mean_lead_months``, ``non_defaulters``, ``false_alarms``, ``false_alarm_rate``.
    """
    window = F.col("snapshot_date").between(F.lit(first), F.lit(last))
    monitored = scores.where(window).select("uscc").distinct()
    first_default = (labels.where(F.col("default_12m")).groupBy("uscc")
                     .agg(F.min("default_date").alias("default_date")))
    population = monitored.join(first_default, on="uscc", how="left")
    warned = (warnings.where(window & ~F.col("signal_id").isin(*exclude))
              .select("uscc", "snapshot_date").distinct())
    defaulters = population.where(F.col("default_date") > F.lit(first)).where(F.col("default_date") <= F.lit(last))
    first_warning = (defaulters.join(warned, on="uscc", how="left")
                     .where(F.col("snapshot_date") < F.col("default_date"))
                     .groupBy("uscc", "default_date").agg(F.min("snapshot_date").alias("first_warning"))
                     .select(F.months_between("default_date", "first_warning").alias("lead")))
    stats = first_warning.agg(F.count("*").alias("caught"), F.percentile_approx("lead", 0.5).alias("median"),
                              F.avg("lead").alias("mean")).first()
    n_defaulters = defaulters.count()
    clean = population.where(F.col("default_date").isNull())
    n_clean = clean.count()
    false_alarms = clean.join(warned.select("uscc").distinct(), on="uscc", how="inner").count()
    return {
        "window": f"{first}..{last}", "defaulters": n_defaulters, "caught": stats["caught"],
        "catch_rate": stats["caught"] / n_defaulters if n_defaulters else None,
        "median_lead_months": round(stats["median"], 1) if stats["median"] is not None else None,
        "mean_lead_months": round(stats["mean"], 1) if stats["mean"] is not None else None,
        "non_defaulters": n_clean, "false_alarms": false_alarms,
        "false_alarm_rate": false_alarms / n_clean if n_clean else None,
    }
