"""Completeness: monthly records that should have arrived but never did (gaps in a feed).

A missing month cannot be quarantined (no row arrived), so it is detected by
its absence: between an entity's first delivered period and the latest period
of the whole feed, every month is expected once. Each gap is recorded in the
ops table ``data_gaps`` under a named rule (``tax_filings.missing_month``,
``utility_reads.missing_month``). A gap later filled by a late delivery
disappears on the next run, because the table is recomputed per feed.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.core.config import Settings

# silver table -> column identifying the entity that files monthly
MONTHLY_FEEDS = {"tax_filings": "uscc", "utility_reads": "meter_id"}


def monthly_gaps(silver: DataFrame, *, table_name: str, entity_col: str, detected_at: dt.datetime) -> DataFrame:
    """Expected (entity, month) pairs absent from ``silver``.

    Args:
        silver: a monthly silver table with ``period`` (first day of the month).
        entity_col: the column of the filing entity.

    Returns:
        ``data_gaps`` rows: table_name, entity_key, period, rule, detected_at.
    """
    present = silver.select(F.col(entity_col).alias("entity_key"), F.col("period")).distinct()
    feed_end = present.agg(F.max("period").alias("feed_end"))
    spans = present.groupBy("entity_key").agg(F.min("period").alias("first")).crossJoin(feed_end)
    expected = spans.select(
        F.col("entity_key"),
        F.explode(F.sequence(F.col("first"), F.col("feed_end"), F.expr("INTERVAL 1 MONTH"))).alias("period"),
    )
    missing = expected.join(present, on=["entity_key", "period"], how="left_anti")
    return missing.select(
        F.lit(table_name).alias("table_name"),
        F.col("entity_key"),
        F.col("period"),
        F.lit(f"{table_name}.missing_month").alias("rule"),
        F.lit(detected_at).cast("timestamp").alias("detected_at"),
    )


def main(table_name: str, *, settings: Settings, spark: SparkSession) -> int:
    """Recompute the gaps of one monthly feed and replace its partition of ``data_gaps``."""
    from riskpipe.core import io

    silver = io.read(spark, table_name, settings=settings)
    gaps = monthly_gaps(
        silver,
        table_name=table_name,
        entity_col=MONTHLY_FEEDS[table_name],
        detected_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    io.replace_where(gaps, "data_gaps", f"table_name = '{table_name}'", settings=settings)
    return io.read(spark, "data_gaps", settings=settings).where(F.col("table_name") == table_name).count()
