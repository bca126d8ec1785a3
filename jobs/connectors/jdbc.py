"""Incremental JDBC reads by a watermark column, with the watermark kept in ``ingest_watermarks``.

One increment is the rows with ``lower_exclusive < watermark <= upper_inclusive``; the filter is
pushed down to the database as a subquery, so only the increment crosses the network. The
caller advances the watermark only *after* it has published the increment::

    lower = last_watermark(spark, "core_banking", "core_banking.loans")
    df = read_incremental(spark, url=url, table="core_banking.loans", watermark_column="updated_at",
                          lower_exclusive=lower, upper_inclusive=None, properties=props)
    ...  # validate and publish df
    advance_watermark(spark, "core_banking", "core_banking.loans", "updated_at",
                      max_watermark(df, "updated_at"), batch_id, df.count(), now)

A failure anywhere before ``advance_watermark`` re-reads the same increment on the next run,
and the MERGE on business keys downstream makes that re-read harmless.

Watermark values are kept as text: timestamps as ``yyyy-MM-dd HH:mm:ss.SSSSSS`` in the Spark
session time zone (UTC in every profile), which the database compares as a timestamp literal.
Rows committed late with a watermark *below* one already read (long transactions) are missed
by any watermark scheme; the source should set ``updated_at`` at commit, or the caller can
re-read a small overlap (the MERGE absorbs it).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

from riskpipe import io
from schemas.ops import INGEST_WATERMARKS

POSTGRES_DRIVER = "org.postgresql.Driver"
DEFAULT_FETCH_SIZE = 10_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"


def _identifier(name: str, what: str) -> str:
    # Names are spliced into SQL text, so only plain (schema.)identifiers are accepted.
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain SQL identifier (schema.table / column)")
    return name


def sql_literal(value: Any) -> str:
    """A SQL literal for a watermark bound (timestamps as UTC, text quoted and escaped)."""
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be a watermark")
    if isinstance(value, (int, float, Decimal)):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        # An untyped literal: the database coerces it to the column's type.
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported watermark type {type(value).__name__}")


def increment_query(table: str, watermark_column: str, lower_exclusive: Any, upper_inclusive: Any) -> str:
    """The pushed-down subquery ``(SELECT * FROM t WHERE wm > lo AND wm <= hi) q``."""
    table = _identifier(table, "table")
    column = _identifier(watermark_column, "watermark column")
    conditions = [f"{column} IS NOT NULL"]
    if lower_exclusive is not None:
        conditions.append(f"{column} > {sql_literal(lower_exclusive)}")
    if upper_inclusive is not None:
        conditions.append(f"{column} <= {sql_literal(upper_inclusive)}")
    return f"(SELECT * FROM {table} WHERE {' AND '.join(conditions)}) q"


def _jdbc_reader(spark: SparkSession, url: str, dbtable: str, properties: Mapping[str, str]):
    reader = spark.read.format("jdbc").option("url", url).option("dbtable", dbtable)
    # Without a fetch size the PostgreSQL driver buffers the whole result set in memory.
    for key, value in {"driver": POSTGRES_DRIVER, "fetchsize": DEFAULT_FETCH_SIZE, **properties}.items():
        reader = reader.option(key, str(value))
    return reader


def _bounds(spark: SparkSession, url: str, query: str, column: str,
            properties: Mapping[str, str]) -> tuple[Any, Any]:
    """Min and max of the watermark within the increment (for partitioned reads)."""
    stats = f"(SELECT MIN(q.{column}) AS lo, MAX(q.{column}) AS hi FROM {query}) b"
    row = _jdbc_reader(spark, url, stats, properties).load().collect()[0]
    return row["lo"], row["hi"]


def read_incremental(spark: SparkSession, *, url: str, table: str, watermark_column: str,
                     lower_exclusive: Any, upper_inclusive: Any, properties: Mapping[str, str],
                     num_partitions: int = 1) -> DataFrame:
    """Read the rows of ``table`` with ``lower_exclusive < watermark_column <= upper_inclusive``.

    Args:
        url: JDBC URL, e.g. ``jdbc:postgresql://host:5432/db``.
        table: ``schema.table``.
        watermark_column: monotonic column (``updated_at``); NULLs are never read.
        lower_exclusive: last ingested watermark; None on the first load.
        upper_inclusive: upper bound of this increment; None for everything so far.
        properties: JDBC options (``user``, ``password`` ...); ``driver`` defaults to the
            PostgreSQL driver and ``fetchsize`` to 10 000.
        num_partitions: parallel JDBC reads split on the watermark column.

    Returns:
        The increment with the source table's columns, lazily read.
    """
    query = increment_query(table, watermark_column, lower_exclusive, upper_inclusive)
    reader = _jdbc_reader(spark, url, query, properties)
    if num_partitions > 1:
        lo, hi = _bounds(spark, url, query, watermark_column, properties)
        if lo is not None and hi is not None and lo != hi:
            reader = (reader.option("partitionColumn", watermark_column)
                      .option("lowerBound", str(lo)).option("upperBound", str(hi))
                      .option("numPartitions", num_partitions))
    return reader.load()


def max_watermark(df: DataFrame, column: str) -> str | None:
    """Highest ``column`` value in ``df`` as watermark text (None when ``df`` is empty)."""
    dtype = df.schema[column].dataType
    if isinstance(dtype, (TimestampType, TimestampNTZType)):
        value = F.date_format(F.max(column), _TS_FORMAT)
    elif isinstance(dtype, DateType):
        value = F.date_format(F.max(column), "yyyy-MM-dd")
    else:
        value = F.max(column).cast("string")
    return df.agg(value.alias("wm")).collect()[0]["wm"]


def watermark_text(value: Any) -> str:
    """Watermark value as stored: timestamps as UTC ``yyyy-MM-dd HH:mm:ss.ffffff``, else ``str``."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def last_watermark(spark: SparkSession, source: str, table: str) -> str | None:
    """The watermark recorded for ``source``/``table``, or None before the first load."""
    rows = (io.read(spark, INGEST_WATERMARKS)
            .where((F.col("source") == F.lit(source)) & (F.col("source_table") == F.lit(table)))
            .select("watermark").collect())
    return rows[0]["watermark"] if rows else None


def advance_watermark(spark: SparkSession, source: str, table: str, column: str, value: Any,
                      batch_id: str, rows: int, updated_at: datetime) -> None:
    """Record ``value`` as the last ingested watermark of ``source``/``table``.

    Call only after the increment is published. A None ``value`` (an empty increment)
    leaves the stored watermark unchanged.
    """
    if value is None:
        return
    text = watermark_text(value)
    row = {"source": source, "source_table": table, "watermark_column": column,
           "watermark": text, "batch_id": batch_id, "rows": rows, "updated_at": updated_at}
    io.merge_upsert(INGEST_WATERMARKS.rows_to_df(spark, [row]), INGEST_WATERMARKS,
                    update_when_changed=None)
