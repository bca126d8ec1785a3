"""JDBC reads of a table by a timestamp column, with the highest value read kept in ``ingest_watermarks``.

Two ways to read a change column such as ``updated_at``:

- ``read_window``: the rows with ``start <= column < end``, one data interval's window. It does
  not depend on what was read before, so any interval can be read again in any order (a
  backfill after later intervals, a rerun after a silver restore); the MERGE on business keys
  and the content hash downstream make a re-read harmless and catch a row changed in place.
- ``read_incremental``: the rows with ``lower_exclusive < column <= upper_inclusive``, for a
  source that can only be read forward from the last value read (``last_watermark``)::

    lower = last_watermark(spark, "core_banking", "core_banking.loans", settings=settings)
    df = read_incremental(spark, url=url, table="core_banking.loans", watermark_column="updated_at",
                          lower_exclusive=lower, upper_inclusive=None, properties=props)
    ...  # validate and publish df
    advance_watermark(spark, "core_banking", "core_banking.loans", "updated_at",
                      max_watermark(df, "updated_at"), batch_id, df.count(), now, settings=settings)

The filter is pushed down to the database as a subquery, so only the window crosses the
network. The watermark only ever rises (``advance_watermark`` keeps the higher value), and is
advanced only *after* the rows are published, so a failure re-reads the same rows.

Watermark values are kept as text: timestamps as ``yyyy-MM-dd HH:mm:ss.SSSSSS`` in the Spark
session time zone (UTC in every profile), which the database compares as a timestamp literal.
Rows committed late with a watermark *below* one already read (long transactions) are missed
by a forward-only read; a window read catches them on the next run of their interval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

from riskpipe.core import io
from riskpipe.core.config import Settings
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
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        # An untyped literal: the database coerces it to the column's type.
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported watermark type {type(value).__name__}")


def _query(table: str, column: str, conditions: list[str]) -> str:
    return f"(SELECT * FROM {table} WHERE {' AND '.join([f'{column} IS NOT NULL', *conditions])}) q"


def increment_query(table: str, watermark_column: str, lower_exclusive: Any, upper_inclusive: Any) -> str:
    """The pushed-down subquery ``(SELECT * FROM t WHERE wm > lo AND wm <= hi) q``."""
    table = _identifier(table, "table")
    column = _identifier(watermark_column, "watermark column")
    conditions = []
    if lower_exclusive is not None:
        conditions.append(f"{column} > {sql_literal(lower_exclusive)}")
    if upper_inclusive is not None:
        conditions.append(f"{column} <= {sql_literal(upper_inclusive)}")
    return _query(table, column, conditions)


def window_query(table: str, column: str, start: Any, end: Any) -> str:
    """The pushed-down subquery ``(SELECT * FROM t WHERE c >= start AND c < end) q`` of one interval."""
    table = _identifier(table, "table")
    column = _identifier(column, "window column")
    return _query(table, column, [f"{column} >= {sql_literal(start)}", f"{column} < {sql_literal(end)}"])


def _jdbc_reader(spark: SparkSession, url: str, dbtable: str, properties: Mapping[str, str]):
    reader = spark.read.format("jdbc").option("url", url).option("dbtable", dbtable)
    # Without a fetch size the PostgreSQL driver buffers the whole result set in memory.
    for key, value in {"driver": POSTGRES_DRIVER, "fetchsize": DEFAULT_FETCH_SIZE, **properties}.items():
        reader = reader.option(key, str(value))
    return reader


def _bounds(spark: SparkSession, url: str, query: str, column: str, properties: Mapping[str, str]) -> tuple[Any, Any]:
    """Min and max of the watermark within the increment (for partitioned reads)."""
    stats = f"(SELECT MIN(q.{column}) AS lo, MAX(q.{column}) AS hi FROM {query}) b"
    row = _jdbc_reader(spark, url, stats, properties).load().collect()[0]
    return row["lo"], row["hi"]


def _load(
    spark: SparkSession, url: str, query: str, column: str, properties: Mapping[str, str], num_partitions: int
) -> DataFrame:
    reader = _jdbc_reader(spark, url, query, properties)
    if num_partitions > 1:
        lo, hi = _bounds(spark, url, query, column, properties)
        if lo is not None and hi is not None and lo != hi:
            reader = (
                reader.option("partitionColumn", column)
                .option("lowerBound", str(lo))
                .option("upperBound", str(hi))
                .option("numPartitions", num_partitions)
            )
    return reader.load()


def read_incremental(
    spark: SparkSession,
    *,
    url: str,
    table: str,
    watermark_column: str,
    lower_exclusive: Any,
    upper_inclusive: Any,
    properties: Mapping[str, str],
    num_partitions: int = 1,
) -> DataFrame:
    """Read the rows of ``table`` with ``lower_exclusive < watermark_column <= upper_inclusive``.

    Args:
        url: JDBC URL, e.g. ``jdbc:postgresql://host:5432/db``.
        table: ``schema.table``.
        watermark_column: monotonic column (``updated_at``); NULLs are never read.
        lower_exclusive: last ingested watermark; None on the first load.
        upper_inclusive: upper bound of this increment; None for everything so far.
        properties: JDBC options (``user``, ``password``, ``sslmode`` ...); ``driver`` defaults
            to the PostgreSQL driver and ``fetchsize`` to 10 000.
        num_partitions: parallel JDBC reads split on the watermark column.

    Returns:
        The increment with the source table's columns, lazily read.
    """
    query = increment_query(table, watermark_column, lower_exclusive, upper_inclusive)
    return _load(spark, url, query, watermark_column, properties, num_partitions)


def read_window(
    spark: SparkSession,
    *,
    url: str,
    table: str,
    column: str,
    start: Any,
    end: Any,
    properties: Mapping[str, str],
    num_partitions: int = 1,
) -> DataFrame:
    """Read the rows of ``table`` with ``start <= column < end`` (one data interval).

    Arguments as for ``read_incremental``; ``start`` and ``end`` are ``datetime`` (or
    ``date``) bounds of the interval. NULLs in ``column`` are never read.

    Returns:
        The window with the source table's columns, lazily read.
    """
    return _load(spark, url, window_query(table, column, start, end), column, properties, num_partitions)


def content_digest(df: DataFrame, columns: Sequence[str]) -> str:
    """Digest of the rows of ``df`` over ``columns``, independent of row order.

    Equal for two reads of the same rows, different (but for a 64-bit collision) as soon as a
    row is added, removed or changed in any of ``columns``: count, sum and xor of a per-row
    64-bit hash.
    """
    row_hash = F.xxhash64(*[F.col(c) for c in columns])
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(row_hash.cast("decimal(38,0)")).alias("total"),
        F.bit_xor(row_hash).alias("xor"),
    ).collect()[0]
    return f"{row['n']}:{row['total']}:{row['xor']}"


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
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def last_watermark(spark: SparkSession, source: str, table: str, *, settings: Settings) -> str | None:
    """The watermark recorded for ``source``/``table``, or None before the first load."""
    rows = (
        io.read(spark, INGEST_WATERMARKS, settings=settings)
        .where((F.col("source") == F.lit(source)) & (F.col("source_table") == F.lit(table)))
        .select("watermark")
        .collect()
    )
    return rows[0]["watermark"] if rows else None


def _order_key(text: str) -> tuple[int, Any]:
    """Sort key of a stored watermark: timestamps and dates by time, numbers by value, else text."""
    try:
        return 0, datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return 1, Decimal(text)
    except ArithmeticError:
        return 2, text


def watermark_time(text: str) -> datetime:
    """A stored timestamp watermark as a ``datetime`` (UTC, naive)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"watermark {text!r} is not a timestamp") from exc


def advance_watermark(
    spark: SparkSession,
    source: str,
    table: str,
    column: str,
    value: Any,
    batch_id: str,
    rows: int,
    updated_at: datetime,
    *,
    settings: Settings,
) -> bool:
    """Record ``value`` as the highest ingested watermark of ``source``/``table``.

    Call only after the rows are published. The watermark never moves down: a ``value``
    below the stored one (a backfill of an older interval) or None (nothing read) leaves it
    unchanged.

    Returns:
        True when the stored watermark was raised.
    """
    if value is None:
        return False
    text = watermark_text(value)
    stored = last_watermark(spark, source, table, settings=settings)
    if stored is not None and _order_key(stored) >= _order_key(text):
        return False
    row = {
        "source": source,
        "source_table": table,
        "watermark_column": column,
        "watermark": text,
        "batch_id": batch_id,
        "rows": rows,
        "updated_at": updated_at,
    }
    io.merge_upsert(
        INGEST_WATERMARKS.rows_to_df(spark, [row]), INGEST_WATERMARKS, settings=settings, update_when_changed=None
    )
    return True
