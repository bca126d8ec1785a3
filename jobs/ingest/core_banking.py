"""Ingest loans, loan balances and transactions from the PostgreSQL core banking database.

Each table is read one of two ways, set per table by ``incremental`` in
``ingestion.core_banking.tables`` (default ``window``):

``window``
    A run for the data interval ``[start, end)`` reads the rows whose change column
    (``updated_at``) lies in ``[start 00:00, end 00:00)``: its own window, bounded by the
    interval and not by what earlier runs read. Intervals can therefore run in any order
    (2019-02..05, then a backfill of 2019-01..02 publishes January), and a rerun re-reads its
    rows: after a silver restore they are published again. Rows already in silver are
    recognised by the MERGE on business keys plus the content hash (``_record_hash``, SHA-256
    of the payload): an unchanged row counts as a duplicate, a row restated in the source
    without moving ``updated_at`` has a different hash and updates silver on the next run of
    its interval. The batch id carries a digest of the rows read, so a rerun that reads the
    same rows is the same batch (bronze and quarantine keep one copy, the manifest counts equal
    a clean run's) and a rerun that reads changed rows is a new batch.

``append_only``
    For a source that can only be read forward (a journal drained or purged after it is read):
    a run reads from the stored watermark (exclusive; from ``start`` before the first run) to
    ``end``, so an interval skipped in between is not lost. An interval that starts at or before
    the watermark asks for rows the source no longer serves: the run fails with
    ``IntervalBeforeWatermarkError`` naming the watermark instead of publishing nothing.

Either way the watermark (``ops/ingest_watermarks``) is raised to the highest value read only
after silver is published and never lowered, so it records how far the table has been read.
Every row read is accounted for: rows read = published + quarantined + duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.ingest.batch import BatchInput, ingest_batch
from jobs.ingest.bronze import CORRUPT
from jobs.ingest.connectors.jdbc import (
    advance_watermark,
    content_digest,
    last_watermark,
    max_watermark,
    read_incremental,
    read_window,
    watermark_time,
)
from riskpipe.core.config import Settings
from riskpipe.core.credentials import get_connection, jdbc_properties, jdbc_url
from schemas.feeds import SourceDef

log = logging.getLogger(__name__)

JDBC_SOURCE = "core_banking"
WINDOW, APPEND_ONLY = "window", "append_only"
INCREMENTAL_MODES = (WINDOW, APPEND_ONLY)


class IntervalBeforeWatermarkError(RuntimeError):
    """An ``append_only`` table was asked for an interval its source can no longer serve."""


def read_bounds(incremental: str, *, table: str, start: dt.date, end: dt.date, watermark: str | None) -> dict[str, Any]:
    """What a run of ``[start, end)`` reads from ``table``.

    Returns:
        ``{"lower", "lower_inclusive", "upper"}``: ``lower``/``upper`` are ``datetime`` bounds
        (``lower`` is the watermark text for an ``append_only`` table already read); the upper
        bound is always exclusive.

    Raises:
        IntervalBeforeWatermarkError: ``append_only`` and ``start`` at or before the watermark.
        ValueError: an unknown ``incremental`` value.
    """
    lower, upper = dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time())
    if incremental == WINDOW or (incremental == APPEND_ONLY and watermark is None):
        return {"lower": lower, "lower_inclusive": True, "upper": upper}
    if incremental != APPEND_ONLY:
        raise ValueError(f"{table}: incremental must be one of {INCREMENTAL_MODES}, got {incremental!r}")
    if watermark_time(watermark) >= lower:
        raise IntervalBeforeWatermarkError(
            f"{table} is incremental: append_only and its watermark is {watermark}: the interval "
            f"[{start}, {end}) starts at or before it, and the source serves only rows after the "
            "watermark, so its rows cannot be read again. Nothing was read or published. Run the "
            f"intervals after {watermark}; to re-ingest older rows, set incremental: window for "
            "the table if the source keeps them, or lower the watermark in ops/ingest_watermarks "
            "once the source can serve them."
        )
    return {"lower": watermark, "lower_inclusive": False, "upper": upper}


def _as_feed(increment: DataFrame, source: SourceDef, table: str, watermark_column: str) -> DataFrame:
    """Shape an increment like a landed file: payload, corrupt column, a label per delivery day and row.

    The delivery day (the date of the watermark) plays the role of the extract
    file, so ``known_from`` of a contract change is the day it was committed.
    """
    day = F.date_format(F.col(watermark_column), "yyyy-MM-dd")
    label = F.concat(F.lit(f"jdbc:{table}@"), day)
    ordered = Window.partitionBy(label).orderBy(*[F.col(c) for c in source.columns[:2]], F.col(watermark_column))
    return increment.select(
        *[F.col(c) for c in source.columns],
        F.lit(None).cast("string").alias(CORRUPT),
        label.alias("_source_file"),
        F.row_number().over(ordered).cast("long").alias("_source_row"),
    )


def run_jdbc(
    spark: SparkSession, source: SourceDef, *, start: dt.date, end: dt.date, settings: Settings
) -> dict[str, Any]:
    """Ingest the rows of ``core_banking.<source>`` for the data interval ``[start, end)``.

    Returns:
        The batch summary of ``ingest_batch`` plus ``incremental``, the ``window`` read and the
        watermark before and after (``batch_id`` None when nothing was read).

    Raises:
        IntervalBeforeWatermarkError: an ``append_only`` table and an interval it cannot re-read.
    """
    cfg = settings.ingestion.core_banking
    table_cfg = cfg.tables[source.name]
    table, column = f"{JDBC_SOURCE}.{source.name}", table_cfg.watermark_column
    incremental = table_cfg.incremental
    stored = last_watermark(spark, JDBC_SOURCE, table, settings=settings)
    bounds = read_bounds(incremental, table=table, start=start, end=end, watermark=stored)
    creds = get_connection(cfg.conn_id, settings=settings)
    options = dict(
        url=jdbc_url(creds),
        table=table,
        properties=jdbc_properties(creds, configured=cfg.jdbc_properties, conn_id=cfg.conn_id),
    )
    if bounds["lower_inclusive"]:
        rows = read_window(spark, column=column, start=bounds["lower"], end=bounds["upper"], **options)
    else:
        # read_incremental's upper bound is inclusive: the last microsecond before ``end``
        rows = read_incremental(
            spark,
            watermark_column=column,
            lower_exclusive=bounds["lower"],
            upper_inclusive=bounds["upper"] - dt.timedelta(microseconds=1),
            **options,
        )
    rows = rows.cache()
    summary = {
        "source": source.name,
        "interval": [str(start), str(end)],
        "mode": "jdbc",
        "incremental": incremental,
        "window": [str(bounds["lower"]), str(bounds["upper"])],
        "watermark_from": stored,
    }
    newest = max_watermark(rows, column)
    if newest is None:
        rows.unpersist()
        log.info("%s [%s, %s): no rows in the window", table, start, end)
        return {**summary, "batch_id": None, "rows_read": 0, "watermark_to": stored}
    feed = _as_feed(rows, source, table, column)
    days = [r["_source_file"] for r in feed.select("_source_file").distinct().collect()]
    file_dates = {d: source.available(dt.date.fromisoformat(d.rsplit("@", 1)[1])) for d in days}
    # Same rows read, same batch: a rerun is a retry; changed rows make a new batch.
    content = content_digest(rows, [*source.columns, column])
    digest = hashlib.sha256(f"{table}|{summary['window']}|{content}".encode()).hexdigest()[:16]
    batch = BatchInput(
        source=source,
        batch_id=f"{source.name}-jdbc-{start}-{end}-{digest}",
        raw=feed,
        file_dates=file_dates,
        logical_date=end - dt.timedelta(days=1),
    )
    result = ingest_batch(spark, batch, settings=settings)
    advance_watermark(
        spark,
        JDBC_SOURCE,
        table,
        column,
        newest,
        batch.batch_id,
        result["rows_read"],
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
        settings=settings,
    )
    rows.unpersist()
    return {**summary, **result, "watermark_to": last_watermark(spark, JDBC_SOURCE, table, settings=settings)}
