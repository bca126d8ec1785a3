"""Quarantine: rows that failed validation, kept with the rules they broke.

Nothing is lost: every failing row is stored as received (JSON) with its batch,
source position, rules and a readable reason. Rows are inserted once per place in the
delivery (``QUARANTINE_ROW_KEYS``), so a rerun of a batch, or two attempts of it at once,
add nothing.
"""

from __future__ import annotations

import datetime as dt
import operator
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from expectations.rules import PIPELINE_COLUMNS
from riskpipe.core.config import Settings
from schemas.registry import get

FAILED_RULES = "_failed_rules"
REASON = "_reason"
KEY_SEPARATOR = "|"
# A quarantine row is identified by its batch and its place in the delivery; the payload hash
# separates rows without a place (source_file/source_row null).
QUARANTINE_ROW_KEYS = ("table_name", "batch_id", "source_file", "source_row", "_record_hash")


def _optional(df: DataFrame, name: str, dtype: str):
    return F.col(name).cast(dtype) if name in df.columns else F.lit(None).cast(dtype)


def _record_key(df: DataFrame, table_name: str):
    """Business key (without version columns) joined by ``|``; null when any part is unreadable."""
    keys = [k for k in get(table_name).keys if k not in PIPELINE_COLUMNS and k in df.columns]
    if not keys:
        return F.lit(None).cast("string")
    parts = [F.col(k).cast("string") for k in keys]
    unreadable = reduce(operator.or_, [p.isNull() for p in parts])
    return F.when(~unreadable, F.concat_ws(KEY_SEPARATOR, *parts))


def to_quarantine(
    invalid_df: DataFrame, *, table_name: str, batch_id: str, failure_rate: float, quarantined_at: dt.datetime
) -> DataFrame:
    """Shape failing rows as ``quarantine`` rows (see ``schemas/ops.py``).

    Args:
        invalid_df: failing rows: the columns as validated plus ``_failed_rules``
            (array<string>) and ``_reason``; ``_source_file``/``_source_row`` when present.
        table_name: silver table the rows were meant for.
        batch_id: ingestion batch id.
        failure_rate: the batch's failure rate.
        quarantined_at: timestamp supplied by the caller (the batch's ingestion time).

    Returns:
        Columns ``table_name, batch_id, source_file, source_row, record_key, record,
        rules, reason, failure_rate, _record_hash, quarantined_at``; ``record`` is the row
        (every column except the rule outcome) as JSON with nulls kept, ``_record_hash``
        its SHA-256.
    """
    missing = [c for c in (FAILED_RULES, REASON) if c not in invalid_df.columns]
    if missing:
        raise ValueError(f"to_quarantine({table_name}): invalid_df lacks {missing}")
    payload = [c for c in invalid_df.columns if c not in (FAILED_RULES, REASON)]
    record = F.to_json(F.struct(*[F.col(c) for c in payload]), {"ignoreNullFields": "false"})
    return invalid_df.withColumn("record", record).select(
        F.lit(table_name).alias("table_name"),
        F.lit(batch_id).alias("batch_id"),
        _optional(invalid_df, "_source_file", "string").alias("source_file"),
        _optional(invalid_df, "_source_row", "long").alias("source_row"),
        _record_key(invalid_df, table_name).alias("record_key"),
        F.col("record"),
        F.coalesce(F.col(FAILED_RULES).cast("array<string>"), F.array().cast("array<string>")).alias("rules"),
        F.col(REASON).cast("string").alias("reason"),
        F.lit(float(failure_rate)).cast("double").alias("failure_rate"),
        F.sha2(F.col("record"), 256).alias("_record_hash"),
        F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
    )


def write_quarantine(df: DataFrame, *, settings: Settings) -> None:
    """Insert a batch's quarantine rows exactly once: a rerun, or a second attempt of the batch
    running at the same moment in another process, adds nothing.

    An insert-only MERGE on the row's place in the delivery (``QUARANTINE_ROW_KEYS``), not a
    check for the batch followed by an append: two attempts could both see the batch absent and
    both append. See ``jobs/ingest/batch.py`` for why a MERGE rather than Delta's idempotent writes.
    The MERGE reads only the table's partition and the files of the batch.
    """
    from riskpipe.core import io

    keys = df.select("table_name", "batch_id").distinct().collect()
    if not keys:
        return
    # one batch of one table (the usual case) lets Delta skip every other partition and batch
    target = {"table_name": keys[0]["table_name"], "batch_id": keys[0]["batch_id"]} if len(keys) == 1 else None
    io.insert_new(df, "quarantine", keys=QUARANTINE_ROW_KEYS, settings=settings, target_equals=target)
