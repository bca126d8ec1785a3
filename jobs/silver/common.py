"""Shared steps of every silver job: type the raw columns and record parse failures.

Every silver job is ``bronze rows -> candidate rows``: the declared silver
columns, typed and conformed, plus ``_row_id`` (file:row), ``_source_file``,
``_source_row`` and ``_parse_errors`` (names of the parse rules the row broke).
Validation, deduplication and history are applied afterwards by the runner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StringType

from jobs.silver.conform import parse_errors, parse_failed, parse_value, record_hash
from riskpipe.core.frames import literal_frame
from schemas.registry import TableSpec
from schemas.sources import CORRUPT

HISTORY_COLUMNS = ("known_from", "known_to", "is_current", "_batch_id", "_record_hash")
TRACE_COLUMNS = ("_row_id", "_source_file", "_source_row", "_parse_errors")
DELIVERY_DATE = "_delivery_date"


def delivery_date_col(file_dates: Mapping[str, dt.date]) -> Column:
    """The delivery date of the row's file (the rows' known_from); null without ``file_dates``.

    It refers to the column :func:`typed_candidates` joins on ``_source_file`` when it is given the
    same ``file_dates``: a literal map would be searched key by key for every row (hundreds of daily
    files made that 3 µs per row), a broadcast join looks each file up once per row by hash.
    """
    if not file_dates:
        return F.lit(None).cast("date")
    return F.col(DELIVERY_DATE)


def with_delivery_dates(bronze: DataFrame, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """``bronze`` plus ``_delivery_date``, its file's delivery date (null for a file not listed)."""
    rows = [
        {"_source_file": F.lit(path), DELIVERY_DATE: F.lit(day).cast("date")}
        for path, day in sorted(file_dates.items())
    ]
    dates = literal_frame(bronze.sparkSession, rows)
    return bronze.join(F.broadcast(dates), on="_source_file", how="left")


def typed_candidates(
    bronze: DataFrame,
    spec: TableSpec,
    *,
    payload: tuple[str, ...],
    derived: Mapping[str, Column],
    known_from: Column,
    parsers: Mapping[str, Callable[[Column], Column]] | None = None,
    not_after: Mapping[str, Column] | None = None,
    file_dates: Mapping[str, dt.date] | None = None,
) -> DataFrame:
    """Type the payload columns and add the silver bookkeeping columns.

    Args:
        bronze: bronze rows (string or typed payload columns, lineage, ``_corrupt_record``).
        spec: the silver table declaration.
        payload: the source payload columns to parse by their declared type.
        derived: expressions for silver columns that are not plain parses, applied
            in order after parsing (they refer to the parsed columns by name).
        known_from: date the row became available.
        parsers: per-column parse functions replacing the type-based default
            (e.g. ``YYYY-MM`` periods).
        not_after: per date column, the latest plausible value (e.g. the file's
            delivery date): a record cannot describe a day after it was delivered.
            Violations are reported as ``<table>.<column>.after_delivery``.
        file_dates: delivery date per ``_source_file``; needed when ``known_from`` or
            ``not_after`` use :func:`delivery_date_col`.

    Returns:
        Candidate rows: every column of ``spec`` plus the trace columns.
    """
    parsers = parsers or {}
    raw_types = {f.name: f.dataType for f in bronze.schema.fields}
    wanted = [c for c in payload if c in spec.columns]
    # A typed extract (Parquet, JDBC) already carries dates, instants and amounts in their
    # declared type: formatting them as text only to parse them back cost half the transform.
    as_delivered = {c for c in wanted if c not in parsers and _already_typed(raw_types[c], spec.field(c).dataType)}
    parsed = {
        c: F.col(c)
        if c in as_delivered
        else parsers[c](F.col(c))
        if c in parsers
        else parse_value(F.col(c), spec.field(c).dataType)
        for c in wanted
    }
    checks = [(f"{spec.name}.row.malformed", F.col(CORRUPT).isNotNull())]
    checks += [
        (f"{spec.name}.{c}.parse", parse_failed(F.col(c), expr)) for c, expr in parsed.items() if c not in as_delivered
    ]
    checks += [
        (f"{spec.name}.{c}.after_delivery", F.coalesce(F.to_date(parsed[c]) > bound, F.lit(False)))
        for c, bound in (not_after or {}).items()
    ]
    if file_dates:
        bronze = with_delivery_dates(bronze, file_dates)
    typed = bronze.select(
        *[expr.alias(c) for c, expr in parsed.items()],
        known_from.alias("known_from"),
        F.col("_batch_id"),
        F.concat_ws(":", F.col("_source_file"), F.col("_source_row")).alias("_row_id"),
        F.col("_source_file"),
        F.col("_source_row"),
        parse_errors(checks).alias("_parse_errors"),
    )
    for name, expr in derived.items():
        typed = typed.withColumn(name, expr)
    payload_cols = [c for c in spec.columns if c not in HISTORY_COLUMNS]
    with_history = (
        typed.withColumn("known_to", F.lit(None).cast("date"))
        .withColumn("is_current", F.lit(True))
        .withColumn("_record_hash", record_hash(payload_cols))
    )
    return with_history.select(
        *[F.col(c).cast(spec.field(c).dataType) for c in spec.columns], *[F.col(c) for c in TRACE_COLUMNS]
    )


def _already_typed(raw: DataType, declared: DataType) -> bool:
    """A delivered column needs no parsing: same non-text type as declared (text is still conformed)."""
    return raw == declared and not isinstance(declared, StringType)
