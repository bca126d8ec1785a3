"""Shared steps of every silver job: type the raw columns and record parse failures.

Every silver job is ``bronze rows -> candidate rows``: the declared silver
columns, typed and conformed, plus ``_row_id`` (file:row), ``_source_file``,
``_source_row`` and ``_parse_errors`` (names of the parse rules the row broke).
Validation, deduplication and history are applied afterwards by the runner.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.bronze import CORRUPT
from jobs.conform import parse_errors, parse_failed, parse_value, record_hash
from schemas.registry import TableSpec

HISTORY_COLUMNS = ("known_from", "known_to", "is_current", "_batch_id", "_record_hash")
TRACE_COLUMNS = ("_row_id", "_source_file", "_source_row", "_parse_errors")


def delivery_date_col(file_dates: Mapping[str, dt.date]) -> Column:
    """Map ``_source_file`` to the file's delivery date (the rows' known_from)."""
    if not file_dates:
        return F.lit(None).cast("date")
    pairs = [item for path, day in sorted(file_dates.items()) for item in (F.lit(path), F.lit(day))]
    return F.element_at(F.create_map(*pairs), F.col("_source_file"))


def typed_candidates(bronze: DataFrame, spec: TableSpec, *, payload: tuple[str, ...],
                     derived: Mapping[str, Column], known_from: Column,
                     parsers: Mapping[str, Callable[[Column], Column]] | None = None,
                     not_after: Mapping[str, Column] | None = None) -> DataFrame:
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

    Returns:
        Candidate rows: every column of ``spec`` plus the trace columns.
    """
    parsers = parsers or {}
    parsed = {c: parsers[c](F.col(c)) if c in parsers else parse_value(F.col(c), spec.field(c).dataType)
              for c in payload if c in spec.columns}
    checks = [(f"{spec.name}.row.malformed", F.col(CORRUPT).isNotNull())]
    checks += [(f"{spec.name}.{c}.parse", parse_failed(F.col(c), expr)) for c, expr in parsed.items()]
    checks += [(f"{spec.name}.{c}.after_delivery", F.coalesce(F.to_date(parsed[c]) > bound, F.lit(False)))
               for c, bound in (not_after or {}).items()]
    typed = bronze.select(
        *[expr.alias(c) for c, expr in parsed.items()],
        known_from.alias("known_from"),
        F.col("_batch_id"),
        F.concat_ws(":", F.col("_source_file"), F.col("_source_row")).alias("_row_id"),
        F.col("_source_file"), F.col("_source_row"),
        parse_errors(checks).alias("_parse_errors"),
    )
    for name, expr in derived.items():
        typed = typed.withColumn(name, expr)
    payload_cols = [c for c in spec.columns if c not in HISTORY_COLUMNS]
    with_history = (typed
                    .withColumn("known_to", F.lit(None).cast("date"))
                    .withColumn("is_current", F.lit(True))
                    .withColumn("_record_hash", record_hash(payload_cols)))
    return with_history.select(*[F.col(c).cast(spec.field(c).dataType) for c in spec.columns],
                               *[F.col(c) for c in TRACE_COLUMNS])
