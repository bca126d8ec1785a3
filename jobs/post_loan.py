"""Post-loan monitoring of one month-end: early warnings, the watch list and loan classification.

Reads the snapshot's features (and the previous month's), the risk scores (run
``jobs.scoring`` first), and the loan ledger from silver; writes ``early_warnings``,
``watch_list`` and ``loan_classification`` for the snapshot's month with
``replaceWhere`` (skipped when unchanged), so a rerun changes nothing and any month can
be backfilled on its own (the watch list of month M reads the warnings of M-1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.early_warnings import catalogue_version, evaluate, history_start, load_catalogue, warning_inputs
from jobs.features.pit import snapshot_month, to_snapshots
from jobs.loan_classification import ClassificationConfig, classify
from jobs.loan_state import STALE_BALANCE_DAYS, loan_state
from jobs.watch_list import watch_list
from riskpipe import io
from riskpipe.config import Settings, load_settings, resolve_path
from schemas.gold_scores import EARLY_WARNINGS, LOAN_CLASSIFICATION, WATCH_LIST


def previous_month_end(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def _month(day: dt.date) -> str:
    return f"snapshot_month = '{snapshot_month(day)}'"


def read_loan_state(spark: SparkSession, day: dt.date, settings: Settings) -> DataFrame:
    """``loan_state`` of ``day`` from silver, reading only the balance months it can use."""
    first_month = snapshot_month(day - dt.timedelta(days=STALE_BALANCE_DAYS + 31))
    balances = io.read(spark, "loan_balances", settings=settings).where(F.col("as_of_month") >= first_month)
    return loan_state(io.read(spark, "loans", settings=settings), balances, as_of=day)


def _scores_until(spark: SparkSession, day: dt.date, settings: Settings) -> DataFrame:
    scores = io.read(spark, "risk_scores", settings=settings).where(F.col("snapshot_date") <= F.lit(day))
    if scores.where(F.col("snapshot_date") == F.lit(day)).isEmpty():
        raise ValueError(f"risk_scores has no rows for {day}: score the snapshot first (riskpipe score --as-of {day})")
    return scores


def run(as_of: dt.date | str, *, settings: Settings | None = None, spark: SparkSession | None = None) -> dict[str, Any]:
    """Warnings, watch list and classification of snapshot ``as_of`` (a month-end).

    Returns:
        Summary: rows per table, loans on the watch list by status, loans by suggested class.
    """
    from riskpipe.spark import get_spark

    settings = settings or load_settings()
    spark = spark or get_spark(settings, app_name="riskpipe-post-loan")
    (day,) = to_snapshots(as_of)
    features = io.read(spark, "enterprise_features", settings=settings)
    scores = _scores_until(spark, day, settings).cache()
    loans = read_loan_state(spark, day, settings).cache()
    cached = [scores, loans]
    path = resolve_path(settings.raw.get("early_warnings", {}).get("catalogue", "conf/early_warnings.yaml"))
    signals = load_catalogue(path)
    try:
        inputs = warning_inputs(features.where(F.col("snapshot_date") == F.lit(day)),
                                previous=features.where(F.col("snapshot_date") == F.lit(previous_month_end(day))),
                                scores=scores.where(F.col("snapshot_date") >= F.lit(history_start(day))),
                                loans=loans, as_of=day)
        warnings = evaluate(inputs, signals, version=catalogue_version(signals)).cache()
        cached.append(warnings)
        committed = {"early_warnings": io.replace_partition(warnings, EARLY_WARNINGS, _month(day),
                                                            settings=settings)}
        previous = io.read(spark, EARLY_WARNINGS, settings=settings).where(
            F.col("snapshot_month") == snapshot_month(previous_month_end(day)))
        watch = watch_list(warnings, previous, as_of=day).cache()
        cached.append(watch)
        committed["watch_list"] = io.replace_partition(watch, WATCH_LIST, _month(day), settings=settings)
        classes = classify(loans, warnings=warnings, scores=scores,
                           config=ClassificationConfig.from_settings(settings.raw)).cache()
        cached.append(classes)
        committed["loan_classification"] = io.replace_partition(classes, LOAN_CLASSIFICATION, _month(day),
                                                                settings=settings)
        summary = {
            "snapshot_date": day.isoformat(), "catalogue_version": catalogue_version(signals),
            "warnings": warnings.count(), "loans_warned": warnings.select("loan_id").distinct().count(),
            "watch_list": {r["status"]: r["count"] for r in watch.groupBy("status").count().collect()},
            "classes": {r["suggested_class"]: r["count"] for r in classes.groupBy("suggested_class").count().collect()},
            "stages": {str(r["ifrs9_stage"]): r["count"] for r in classes.groupBy("ifrs9_stage").count().collect()},
            "committed": committed,
        }
    finally:
        for frame in cached:
            frame.unpersist()
    return summary
