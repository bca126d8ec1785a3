"""Post-loan monitoring of one month-end: early warnings, the watch list and loan classification.

Reads the snapshots' features (and the previous months'), the risk scores (run
``jobs.scoring.main`` first), and the loan ledger from silver; writes ``early_warnings``,
``watch_list`` and ``loan_classification`` for the snapshots' months with one
``replaceWhere`` each (skipped when unchanged), so a rerun changes nothing. Any month or
range can be backfilled on its own: the watch list of month M reads the warnings of M-1.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.post_loan.early_warnings import catalogue_version, evaluate, history_start, load_catalogue, warning_inputs
from jobs.post_loan.loan_classification import ClassificationConfig, classify
from jobs.post_loan.loan_state import STALE_BALANCE_DAYS, loan_state
from jobs.post_loan.watch_list import watch_list
from riskpipe.core import io
from riskpipe.core.calendar import AsOf, is_current_version, snapshot_month, to_snapshots
from riskpipe.core.config import Settings, load_settings, resolve_path
from schemas.gold_scores import EARLY_WARNINGS, LOAN_CLASSIFICATION, WATCH_LIST


def previous_month_end(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def _months(days: list[dt.date]) -> str:
    return "snapshot_month IN (" + ", ".join(f"'{snapshot_month(d)}'" for d in days) + ")"


def _between(first: dt.date, last: dt.date):
    return F.col("snapshot_date").between(F.lit(first), F.lit(last))


def read_loan_state(spark: SparkSession, as_of: AsOf, settings: Settings) -> DataFrame:
    """``loan_state`` of the month-end(s) ``as_of`` from silver, reading only the balance months they can use."""
    days = to_snapshots(as_of)
    first_month = snapshot_month(days[0] - dt.timedelta(days=STALE_BALANCE_DAYS + 31))
    balances = io.read(spark, "loan_balances", settings=settings).where(
        (F.col("as_of_month") >= first_month)
        & (F.col("as_of_month") <= snapshot_month(days[-1]))
        & is_current_version()
    )
    return loan_state(io.read(spark, "loans", settings=settings), balances, as_of=days)


def _scores_until(spark: SparkSession, days: list[dt.date], settings: Settings) -> DataFrame:
    scores = io.read(spark, "risk_scores", settings=settings).where(F.col("snapshot_date") <= F.lit(days[-1]))
    scored = {
        r[0] for r in scores.where(F.col("snapshot_date").isin(*days)).select("snapshot_date").distinct().collect()
    }
    missing = [d.isoformat() for d in days if d not in scored]
    if missing:
        raise ValueError(f"risk_scores has no rows for {missing}: score first (riskpipe score --as-of {missing[0]})")
    return scores


def _summary(days, signals, warnings, watch, classes, committed) -> dict[str, Any]:
    def counts(frame: DataFrame, column: str) -> dict[str, int]:
        return {str(r[column]): r["count"] for r in frame.groupBy(column).count().collect()}

    last = F.col("snapshot_date") == F.lit(days[-1])
    return {
        "snapshot_dates": [d.isoformat() for d in days],
        "catalogue_version": catalogue_version(signals),
        "warnings": warnings.where(last).count(),
        "loans_warned": warnings.where(last).select("loan_id").distinct().count(),
        "watch_list": counts(watch.where(last), "status"),
        "classes": counts(classes.where(last), "suggested_class"),
        "stages": counts(classes.where(last), "ifrs9_stage"),
        "committed": committed,
    }


def run(as_of: AsOf, *, settings: Settings | None = None, spark: SparkSession | None = None) -> dict[str, Any]:
    """Warnings, watch list and classification of the snapshot(s) ``as_of`` (month-ends), one pass.

    Returns:
        Summary of the last snapshot: warnings, loans warned, watch list by status, loans by
        suggested class and stage; and which tables committed a new version.
    """
    from riskpipe.core.spark import get_spark

    settings = settings or load_settings()
    spark = spark or get_spark(settings, app_name="riskpipe-post-loan")
    days = to_snapshots(as_of)
    start = history_start(days[0])
    features = io.read(spark, "enterprise_features", settings=settings).where(_between(start, days[-1]))
    scores = _scores_until(spark, days, settings).cache()
    loans = read_loan_state(spark, days, settings).cache()
    cached = [scores, loans]
    signals = load_catalogue(resolve_path(settings.early_warnings.catalogue))
    try:
        inputs = warning_inputs(features, scores=scores.where(F.col("snapshot_date") >= F.lit(start)), loans=loans)
        warnings = evaluate(inputs, signals, version=catalogue_version(signals)).cache()
        cached.append(warnings)
        committed = {"early_warnings": io.replace_partition(warnings, EARLY_WARNINGS, _months(days), settings=settings)}
        previous = io.read(spark, EARLY_WARNINGS, settings=settings).where(
            F.col("snapshot_month") == snapshot_month(previous_month_end(days[0]))
        )
        watch = watch_list(
            warnings.unionByName(previous),
            as_of=days,
            min_severity=settings.early_warnings.watch_list_min_severity,
        ).cache()
        cached.append(watch)
        committed["watch_list"] = io.replace_partition(watch, WATCH_LIST, _months(days), settings=settings)
        classes = classify(
            loans,
            warnings=warnings,
            scores=scores,
            config=ClassificationConfig.from_settings(settings.sections("classification", "default_definition")),
        ).cache()
        cached.append(classes)
        committed["loan_classification"] = io.replace_partition(
            classes, LOAN_CLASSIFICATION, _months(days), settings=settings
        )
        return _summary(days, signals, warnings, watch, classes, committed)
    finally:
        for frame in cached:
            frame.unpersist()
