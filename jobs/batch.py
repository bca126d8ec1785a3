"""The core of one ingestion batch: bronze → typed candidates → validation → quarantine / silver.

Accounting invariant for every batch (asserted by the tests):
``rows read = rows published to silver + rows quarantined + recognised duplicates``.

Bronze and quarantine rows are written exactly once per batch, also when two attempts of the
same batch run at the same moment (a zombie Airflow attempt beside its retry, a CLI run beside
a DAG run, in separate processes): each write is an insert-only MERGE on the rows' own keys,
``(_batch_id, _source_file, _source_row)`` in bronze (see ``riskpipe.io.insert_new``). Of two
concurrent attempts the second to commit fails Delta's conflict check, is retried and finds
its rows present. Delta's idempotent writes (``txnAppId``/``txnVersion``) would give the same
under concurrency, but their marker lives in the transaction log apart from the rows: a
RESTORE of the table to before the batch rolls back data files, not transaction identifiers,
so the batch's rerun would be skipped and the rows never return. Keyed on the rows,
"already written" means "the rows are there", whatever happened to the table since. The
MERGE reads only the files whose ``_batch_id`` statistics admit this batch
(``target_equals``), so it costs little more than an append. Local disk has a gap of its own (docs/reliability.md, *Design notes*): Delta's
log store there checks that a commit file is absent, then renames onto it, so two writers
can both commit one version; for two attempts of one batch both commits hold the same rows,
so bronze still holds them once.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.validate import BatchRejectedError  # noqa: F401  (re-exported for the DAGs)
from expectations.validate import BATCH_STORAGE, max_failure_rate_for, validate_batch
from jobs.bronze import with_lineage
from jobs.connectors import files as landed_files
from jobs.history import DUPLICATE, KNOWN, OWN, chain_versions, classify
from jobs.quarantine import to_quarantine, write_quarantine
from jobs.sources import SourceDef
from riskpipe import io
from riskpipe.config import Settings, resolve_path
from schemas.registry import TableSpec, get

log = logging.getLogger(__name__)

FAILED_RULES, REASON = "_failed_rules", "_reason"
# Feeds whose bronze frame is read again from the landed files at each use instead of being
# cached: a columnar extract is re-read faster than Spark builds its in-memory cache (7.1M
# transactions: 12 s per read against 43 s to cache), and landed files do not change under
# a batch (the manifest checks their SHA-256). Text feeds are parsed line by line with a
# per-file window, which caching saves.
REREAD_FORMATS = ("parquet",)
# A bronze row is identified by its batch and its place in the delivered file.
BRONZE_ROW_KEYS = ("_batch_id", "_source_file", "_source_row")
# Rows per silver file of a partitioned table (1M transactions: about 70 MB of zstd Parquet).
DEFAULT_SILVER_ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True)
class BatchInput:
    """One batch of raw rows of one source (before lineage)."""

    source: SourceDef
    batch_id: str
    raw: DataFrame
    file_dates: Mapping[str, dt.date]
    logical_date: dt.date
    extra_columns: tuple[str, ...] = ()
    files: tuple = field(default=())
    ingested_at: dt.datetime | None = None


def data_docs_dir(settings: Settings) -> str | None:
    """Folder for Great Expectations Data Docs (``RISKPIPE_DATA_DOCS_DIR`` wins; empty disables)."""
    value = os.environ.get("RISKPIPE_DATA_DOCS_DIR", settings.raw.get("ingestion", {}).get("data_docs_dir", ""))
    return resolve_path(value) if value else None


def _silver_candidates(spark: SparkSession, source: SourceDef, bronze: DataFrame,
                       file_dates: Mapping[str, dt.date], settings: Settings) -> DataFrame:
    module = importlib.import_module(f"jobs.silver_{source.name}")
    if source.name == "court_events":
        enterprises = io.read(spark, "enterprises", settings=settings).where(F.col("is_current"))
        return module.transform(bronze, enterprises=enterprises, file_dates=file_dates)
    return module.transform(bronze, file_dates=file_dates)


def _lead_key_range(valid: DataFrame, key: str) -> tuple[Any, Any] | None:
    """(lowest, highest) ``key`` of the batch, or None when a row has none (no range then bounds it)."""
    row = valid.agg(F.min(key).alias("lo"), F.max(key).alias("hi"),
                    F.count(F.when(F.col(key).isNull(), 1)).alias("nulls")).first()
    if row["nulls"] or row["lo"] is None:
        return None
    return row["lo"], row["hi"]


def silver_rows_per_file(settings: Settings) -> int:
    """``ingestion.silver_rows_per_file``: rows per file of a partitioned silver table."""
    value = int(settings.raw.get("ingestion", {}).get("silver_rows_per_file", DEFAULT_SILVER_ROWS_PER_FILE))
    if value <= 0:
        raise ValueError(f"ingestion.silver_rows_per_file must be positive, got {value}")
    return value


def in_key_ranges(rows: DataFrame, spec: TableSpec, *, count: int, rows_per_file: int) -> DataFrame:
    """``rows`` range-partitioned on (partition columns, first key), about ``rows_per_file`` each.

    Delta's MERGE would write each table partition as one file spanning all its keys. A later
    batch whose key range reaches into that partition (a month's transactions batch carries
    the previous month's late rows) then cannot skip it, and the classify join and the MERGE
    read the whole previous month again. Files holding one contiguous key range each are
    skipped by their statistics, all but the one or two the late rows fall in.
    """
    files = max(1, math.ceil(count / rows_per_file))
    return rows.repartitionByRange(files, *[F.col(c) for c in (*spec.partition_by, spec.keys[0])])


def _partition_values(rows: DataFrame, spec: TableSpec) -> dict[str, list]:
    """The table partitions ``rows`` fall in, per partition column (a month's batch: one or two)."""
    return {c: sorted(r[c] for r in rows.select(c).distinct().collect() if r[c] is not None)
            for c in spec.partition_by}


def _publish(spark: SparkSession, valid: DataFrame, spec_name: str, settings: Settings, *,
             batch_id: str | None = None) -> tuple[int, int]:
    """MERGE valid rows into silver; returns (published, duplicates).

    Rows already in silver with ``_batch_id == batch_id`` were published by an earlier attempt
    of this same batch (a retry after a failure between the MERGE and the manifest): they count
    as published, not as duplicates, so the retry's manifest counts equal one clean run's.
    """
    spec = get(spec_name)
    key_range = _lead_key_range(valid, spec.keys[0])
    existing = io.read(spark, spec, settings=settings)
    if key_range is not None:
        # a silver row can match the batch only inside the batch's range of its first key; Delta
        # skips the files outside it, so a month's batch does not scan years of silver
        existing = existing.where(F.col(spec.keys[0]).between(F.lit(key_range[0]), F.lit(key_range[1])))
    # One pass over the batch and silver for every count (each separate count re-ran the join)
    flagged = classify(valid, existing, spec.keys, batch_id=batch_id).persist(BATCH_STORAGE)
    counts = flagged.agg(
        F.count(F.when(F.col(DUPLICATE), 1)).alias("in_batch"),
        F.count(F.when(~F.col(DUPLICATE) & ~F.col(KNOWN), 1)).alias("new"),
        F.count(F.when(F.col(KNOWN), 1)).alias("known"),
        F.count(F.when(F.col(OWN), 1)).alias("own")).first()
    new_rows, earlier_attempt = counts["new"], counts["own"]
    published = new_rows + earlier_attempt
    duplicates = counts["in_batch"] + counts["known"] - earlier_attempt
    fresh = flagged.where(~F.col(DUPLICATE) & ~F.col(KNOWN)).drop(DUPLICATE, KNOWN, OWN)
    if new_rows:
        if "known_from" in spec.keys:
            entity_keys = [k for k in spec.keys if k != "known_from"]
            rows = chain_versions(existing, fresh, entity_keys=entity_keys, columns=spec.columns)
            if spec.partition_by:
                rows = in_key_ranges(rows, spec, count=new_rows, rows_per_file=silver_rows_per_file(settings))
            rows = rows.persist(BATCH_STORAGE)
            written = rows.count()  # materialise before the MERGE rewrites the files it was read from
            partitions = _partition_values(rows, spec) if spec.partition_by else None
            io.merge_upsert(rows, spec, settings=settings, key_range=key_range, partitions=partitions,
                            update_when_changed=("_record_hash", "known_to", "is_current"),
                            keep_source_layout=bool(spec.partition_by))
            log.info("%s: %d new versions, %d rows merged", spec_name, new_rows, written)
            rows.unpersist()
        else:
            rows = fresh.select(*spec.columns)
            if spec.partition_by:
                rows = in_key_ranges(rows, spec, count=new_rows, rows_per_file=silver_rows_per_file(settings))
            io.merge_upsert(rows, spec, settings=settings, key_range=key_range,
                            keep_source_layout=bool(spec.partition_by))
    flagged.unpersist()
    return published, duplicates


def _reject_message(table: str, batch_id: str, rows: int, failed: int, rate: float, limit: float,
                    rule_counts: Mapping[str, int]) -> str:
    rules = "; ".join(f"{name}: {count} rows" for name, count in
                      sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0])) if count)
    return (f"table {table}, batch {batch_id}: {failed} of {rows} rows failed validation, failure rate "
            f"{rate:.2%} > threshold {limit:.2%}; broken rules: {rules}. The failing rows are quarantined; "
            f"nothing was published to silver.")


def _rule_counts(invalid: DataFrame) -> dict[str, int]:
    exploded = invalid.select(F.explode(F.col(FAILED_RULES)).alias("rule")).groupBy("rule").count()
    return {r["rule"]: int(r["count"]) for r in exploded.collect()}


def ingest_batch(spark: SparkSession, batch: BatchInput, *, settings: Settings) -> dict[str, Any]:
    """Land, validate and publish one batch; see the module docstring for the invariant.

    Raises:
        expectations.validate.BatchRejectedError: failure rate above the table's
            threshold (bronze and quarantine hold the rows; silver is unchanged).
    """
    source, table = batch.source, batch.source.name
    ingested_at = batch.ingested_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    bronze = with_lineage(batch.raw, source=source, batch_id=batch.batch_id, ingested_at=ingested_at,
                          landing_root=settings.landing_root, extra_columns=batch.extra_columns)
    if source.fmt not in REREAD_FORMATS:
        bronze = bronze.persist(BATCH_STORAGE)
    rows_read = bronze.count()
    log.info("%s batch %s: %d rows read", table, batch.batch_id, rows_read)
    candidates = _silver_candidates(spark, source, bronze, batch.file_dates, settings)
    limit = max_failure_rate_for(table, settings)
    # the candidates are cached once, by validation, with the parse failures among them
    result = validate_batch(candidates, table, logical_date=batch.logical_date, batch_id=batch.batch_id,
                            max_failure_rate=1.0, id_columns=("_row_id",), settings=settings,
                            data_docs_dir=data_docs_dir(settings), parse_errors="_parse_errors")
    invalid = result.invalid_df.persist(BATCH_STORAGE)
    failed = invalid.count()
    log.info("%s batch %s: validated, %d rows fail", table, batch.batch_id, failed)
    rate = failed / rows_read if rows_read else 0.0

    # Exactly once, also when two attempts of this batch run at once: see the module docstring.
    # New source columns (on_new_column=evolve) are added by Delta schema evolution.
    io.insert_new(bronze, source.bronze_table, keys=BRONZE_ROW_KEYS, settings=settings,
                  extra_columns=batch.extra_columns, target_equals={"_batch_id": batch.batch_id})
    if failed:
        write_quarantine(to_quarantine(invalid, table_name=table, batch_id=batch.batch_id,
                                       failure_rate=rate, quarantined_at=ingested_at), settings=settings)
    counts = {"rows_read": rows_read, "rows_quarantined": failed}
    if rate > limit:
        message = _reject_message(table, batch.batch_id, rows_read, failed, rate, limit, _rule_counts(invalid))
        if batch.files:
            landed_files.record(spark, table, list(batch.files), batch_id=batch.batch_id, status="rejected",
                                logical_date=str(batch.logical_date), error=message)
        _release(bronze, candidates, invalid, result)
        raise BatchRejectedError(message)

    published, duplicates = _publish(spark, result.valid_df, table, settings, batch_id=batch.batch_id)
    counts.update(rows_published=published, rows_duplicate=duplicates)
    if batch.files:
        per_file = _per_file_counts(bronze, invalid, batch) if len(batch.files) > 1 else \
            {batch.files[0].rel_path: counts}
        landed_files.record(spark, table, list(batch.files), batch_id=batch.batch_id, status="succeeded",
                            logical_date=str(batch.logical_date), counts=per_file)
    rules = _rule_counts(invalid) if failed else {}
    _release(bronze, candidates, invalid, result)
    log.info("%s batch %s: %s", table, batch.batch_id, counts)
    return {"batch_id": batch.batch_id, **counts, "failure_rate": rate, "broken_rules": rules}


def _per_file_counts(bronze: DataFrame, invalid: DataFrame, batch: BatchInput) -> dict[str, dict[str, int]]:
    read = {r["_source_file"]: int(r["count"]) for r in bronze.groupBy("_source_file").count().collect()}
    bad = {r["_source_file"]: int(r["count"]) for r in invalid.groupBy("_source_file").count().collect()}
    return {f.rel_path: {"rows_read": read.get(f.rel_path, 0), "rows_quarantined": bad.get(f.rel_path, 0)}
            for f in batch.files}


def _release(*frames: Any) -> None:
    for frame in frames:
        if hasattr(frame, "unpersist"):
            frame.unpersist()
