"""What the report shows, aggregated in Spark from the gold tables, collected as small pandas frames.

Only aggregates reach the driver (grade counts, monthly means, the top warnings): the report
costs the same whatever the portfolio size. Sections whose tables do not exist yet (a step
not run) are left out of the report rather than shown empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from riskpipe.core import io
from riskpipe.core.calendar import add_months, snapshot_month
from riskpipe.core.config import Settings

TREND_MONTHS = 24
TOP_WARNINGS = 25
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass
class ReportData:
    """Everything one report renders (small frames only)."""

    as_of: dt.date
    model: dict[str, Any]
    grades: pd.DataFrame  # grade, n, mean_pd
    pd_trend: pd.DataFrame  # snapshot_date, n, mean_pd, p90_pd
    migration: pd.DataFrame  # from_grade, to_grade, n (three months ago -> D)
    classes: pd.DataFrame  # suggested_class, ifrs9_stage, n, outstanding
    warnings_trend: pd.DataFrame  # snapshot_date, severity, n
    signals: pd.DataFrame  # signal_id, severity, n (at D)
    top_warnings: pd.DataFrame  # uscc, loan_id, signal_id, severity, description, evidence
    watch_status: pd.DataFrame  # status, n
    watch_new: pd.DataFrame  # uscc, loan_id, max_severity, signals
    extra: dict[str, Any] = field(default_factory=dict)  # portfolio, stress, monitoring sections


def _exists(spark: SparkSession, table: str, settings: Settings) -> bool:
    return io.exists(spark, table, settings=settings)


def _grades(scores) -> pd.DataFrame:
    return (
        scores.groupBy("grade_num")
        .agg(F.count("*").alias("n"), F.avg("pd").alias("mean_pd"))
        .orderBy("grade_num")
        .withColumnRenamed("grade_num", "grade")
        .toPandas()
    )


def _trend(scores) -> pd.DataFrame:
    return (
        scores.groupBy("snapshot_date")
        .agg(F.count("*").alias("n"), F.avg("pd").alias("mean_pd"), F.percentile_approx("pd", 0.9).alias("p90_pd"))
        .orderBy("snapshot_date")
        .toPandas()
    )


def _migration(scores, as_of: dt.date) -> pd.DataFrame:
    before = add_months(as_of, -2) - dt.timedelta(days=1)
    then = scores.where(F.col("snapshot_date") == F.lit(before)).select("uscc", F.col("grade_num").alias("from_grade"))
    now = scores.where(F.col("snapshot_date") == F.lit(as_of)).select("uscc", F.col("grade_num").alias("to_grade"))
    return (
        then.join(now, on="uscc", how="inner")
        .groupBy("from_grade", "to_grade")
        .count()
        .withColumnRenamed("count", "n")
        .toPandas()
    )


def _warning_frames(spark: SparkSession, as_of: dt.date, settings: Settings, first: dt.date) -> dict[str, pd.DataFrame]:
    warnings = io.read(spark, "early_warnings", settings=settings).where(
        (F.col("snapshot_date") <= F.lit(as_of)) & (F.col("snapshot_date") > F.lit(first))
    )
    now = warnings.where(F.col("snapshot_date") == F.lit(as_of))
    rank = F.create_map(*[x for k, v in SEVERITY_ORDER.items() for x in (F.lit(k), F.lit(v))])
    watch = io.read(spark, "watch_list", settings=settings).where(F.col("snapshot_date") == F.lit(as_of))
    return {
        "warnings_trend": warnings.groupBy("snapshot_date", "severity")
        .count()
        .withColumnRenamed("count", "n")
        .orderBy("snapshot_date")
        .toPandas(),
        "signals": now.groupBy("signal_id", "severity")
        .count()
        .withColumnRenamed("count", "n")
        .orderBy(F.desc("n"))
        .toPandas(),
        "top_warnings": now.orderBy(rank[F.col("severity")], "signal_id", "loan_id")
        .limit(TOP_WARNINGS)
        .select("uscc", "loan_id", "signal_id", "severity", "description", "evidence")
        .toPandas(),
        "watch_status": watch.groupBy("status").count().withColumnRenamed("count", "n").toPandas(),
        "watch_new": watch.where(F.col("status") == "new")
        .orderBy(rank[F.col("max_severity")], "loan_id")
        .limit(TOP_WARNINGS)
        .select("uscc", "loan_id", "max_severity", F.array_join("signals", ", ").alias("signals"))
        .toPandas(),
    }


def gather(spark: SparkSession, as_of: dt.date, settings: Settings) -> ReportData:
    """Collect the report's aggregates for snapshot ``as_of``.

    Raises:
        ValueError: when ``risk_scores`` has no rows for ``as_of`` (nothing to report on).
    """
    first = add_months(as_of, -TREND_MONTHS + 1) - dt.timedelta(days=1)
    scores = (
        io.read(spark, "risk_scores", settings=settings)
        .where((F.col("snapshot_date") <= F.lit(as_of)) & (F.col("snapshot_date") > F.lit(first)))
        .cache()
    )
    try:
        current = scores.where(F.col("snapshot_date") == F.lit(as_of))
        model = current.groupBy("model_name", "model_version", "features_version").count().collect()
        if not model:
            raise ValueError(f"risk_scores has no rows for {as_of}: run `riskpipe score --as-of {as_of}` first")
        classes = (
            io.read(spark, "loan_classification", settings=settings)
            .where(F.col("snapshot_month") == snapshot_month(as_of))
            .groupBy("suggested_class", "ifrs9_stage")
            .agg(F.count("*").alias("n"), F.sum("outstanding_principal").alias("outstanding"))
            .toPandas()
        )
        return ReportData(
            as_of=as_of,
            model={k: model[0][k] for k in ("model_name", "model_version", "features_version")},
            grades=_grades(current),
            pd_trend=_trend(scores),
            migration=_migration(scores, as_of),
            classes=classes,
            **_warning_frames(spark, as_of, settings, first),
        )
    finally:
        scores.unpersist()
