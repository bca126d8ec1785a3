"""The core of one ingestion batch: bronze → typed candidates → validation → quarantine / silver.

Accounting invariant for every batch and every file of it, checked on every run
(``_reconcile``): ``rows read = inserted + updated + quarantined + duplicates``
(``rows published`` = inserted + updated), and the silver MERGE, the bronze and the
quarantine inserts committed what the counts say, as read from each commit's Delta
``operationMetrics``. A mismatch fails the batch (``ReconciliationError``) before the manifest
marks its files done.

Bronze and quarantine rows are written exactly once per batch, also when two attempts of the
same batch run at the same moment (a zombie Airflow attempt beside its retry, a CLI run beside
a DAG run, in separate processes): each write is an insert-only MERGE on the rows' own keys,
``(_batch_id, _source_file, _source_row)`` in bronze (see ``riskpipe.core.io.insert_new``). Of two
concurrent attempts the second to commit fails Delta's conflict check, is retried and finds
its rows present. Delta's idempotent writes (``txnAppId``/``txnVersion``) would give the same
under concurrency, but their marker lives in the transaction log apart from the rows: a
RESTORE of the table to before the batch rolls back data files, not transaction identifiers,
so the batch's rerun would be skipped and the rows never return. Keyed on the rows,
"already written" means "the rows are there", whatever happened to the table since. The
MERGE reads only the files whose ``_batch_id`` statistics admit this batch
(``target_equals``), so it costs little more than an append. Local disk has a gap of its own
(docs/reliability.md, *Design notes*): Delta's
log store there checks that a commit file is absent, then renames onto it, so two writers
can both commit one version; for two attempts of one batch both commits hold the same rows,
so bronze still holds them once.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.validate import (
    BATCH_STORAGE,
    BatchRejectedError,  # noqa: F401  (re-exported for the DAGs)
    max_failure_rate_for,
    validate_batch,
)
from jobs.ingest.bronze import with_lineage
from jobs.ingest.connectors import files as landed_files
from jobs.ingest.quarantine import to_quarantine, write_quarantine
from jobs.silver.history import DUPLICATE, KNOWN, OWN, chain_versions, classify
from riskpipe.core import io
from riskpipe.core.config import Settings, resolve_path
from schemas.feeds import SourceDef
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
    """Folder for Great Expectations Data Docs (``ingestion.data_docs_dir``; empty disables)."""
    value = settings.ingestion.data_docs_dir
    return resolve_path(value) if value else None


def _silver_candidates(
    spark: SparkSession, source: SourceDef, bronze: DataFrame, file_dates: Mapping[str, dt.date], settings: Settings
) -> DataFrame:
    module = importlib.import_module(f"jobs.silver.{source.name}")
    if source.name == "court_events":
        enterprises = io.read(spark, "enterprises", settings=settings).where(F.col("is_current"))
        return module.transform(bronze, enterprises=enterprises, file_dates=file_dates)
    return module.transform(bronze, file_dates=file_dates)


def _lead_key_range(valid: DataFrame, key: str) -> tuple[Any, Any] | None:
    """(lowest, highest) ``key`` of the batch, or None when a row has none (no range then bounds it)."""
    row = valid.agg(
        F.min(key).alias("lo"), F.max(key).alias("hi"), F.count(F.when(F.col(key).isNull(), 1)).alias("nulls")
    ).first()
    if row["nulls"] or row["lo"] is None:
        return None
    return row["lo"], row["hi"]


def silver_rows_per_file(settings: Settings) -> int:
    """``ingestion.silver_rows_per_file``: rows per file of a partitioned silver table."""
    value = settings.ingestion.silver_rows_per_file
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
    return {c: sorted(r[c] for r in rows.select(c).distinct().collect() if r[c] is not None) for c in spec.partition_by}


class ReconciliationError(RuntimeError):
    """A batch's own row counts disagree with each other or with what Delta committed.

    Raised before the manifest marks the batch's files done, so a rerun processes them again.
    """

    def __init__(self, *, batch_id: str, table: str, what: str, expected: int, committed: int):
        self.batch_id, self.table, self.what = batch_id, table, what
        self.expected, self.committed = expected, committed
        super().__init__(
            f"batch {batch_id}, table {table}: {what}: the batch counts {expected}, "
            f"Delta committed {committed}; the batch's files are not marked done"
        )


# Per-row outcome of a batch's valid rows in silver, counted per file (see ``_publish``).
PUBLISH_COUNTS = ("rows_inserted", "rows_updated", "rows_duplicate")
REPLACES = "_replaces_version"


@dataclass(frozen=True)
class Published:
    """What ``_publish`` did to silver.

    Attributes:
        per_file: per ``_source_file``, the ``PUBLISH_COUNTS`` of its valid rows.
        expected: the MERGE's predicted ``numSourceRows``, ``numTargetRowsInserted`` and
            ``numTargetRowsUpdated`` (empty when nothing was merged).
        committed: the same metrics as Delta recorded them for this batch's commit (None: no commit).
        earlier_attempt: of the inserted rows, those an earlier attempt of this batch published.
    """

    per_file: Mapping[str, Mapping[str, int]]
    expected: Mapping[str, int]
    committed: Mapping[str, int] | None
    earlier_attempt: int = 0

    def total(self, name: str) -> int:
        return sum(counts[name] for counts in self.per_file.values())


def _expected_merge(
    rows: DataFrame, existing: DataFrame, keys: Sequence[str], changed: Sequence[str]
) -> dict[str, int]:
    """The metrics a MERGE of ``rows`` on ``keys`` into ``existing`` must commit.

    ``rows`` whose keys are absent are inserted; present ones are updated when a ``changed``
    column differs (null-safe), as ``io.merge_upsert`` does.
    """
    target = existing.select(*keys, *[F.col(c).alias(f"_t_{c}") for c in changed], F.lit(True).alias("_t"))
    matched = rows.join(target, on=list(keys), how="left")
    differs = reduce(operator.or_, [~F.col(c).eqNullSafe(F.col(f"_t_{c}")) for c in changed])
    row = matched.agg(
        F.count(F.lit(1)).alias("source"),
        F.count(F.when(F.col("_t").isNull(), 1)).alias("inserted"),
        F.count(F.when(F.col("_t").isNotNull() & differs, 1)).alias("updated"),
    ).first()
    return {
        "numSourceRows": row["source"],
        "numTargetRowsInserted": row["inserted"],
        "numTargetRowsUpdated": row["updated"],
    }


def _publish(
    spark: SparkSession,
    valid: DataFrame,
    spec_name: str,
    settings: Settings,
    *,
    batch_id: str | None = None,
    tag: str | None = None,
) -> Published:
    """MERGE valid rows into silver; count every row's outcome per file and predict the commit.

    Each valid row is one of: *inserted* (a new version key), *updated* (a new content for a
    version key silver already holds: same entity and delivery date) or a *duplicate* (an
    earlier line of the batch with the same keys, or content silver already holds from another
    batch). A row already in silver with ``_batch_id == batch_id`` was published by an earlier
    attempt of this same batch (a retry after a failure between the MERGE and the manifest): it
    counts as inserted, as in the attempt that wrote it, so the manifest of a retried batch
    equals one clean run's (``earlier_attempt`` says how many; an earlier attempt's *update*, a
    same-day redelivery of a version key, is counted as inserted by the retry).

    Delta's MERGE inserts exactly the inserted rows; it updates the updated rows plus the earlier
    versions of the touched entities whose ``known_to``/``is_current`` the new versions change.
    Both are predicted from the rows handed to the MERGE and checked against the commit's
    ``operationMetrics`` by the caller (``_reconcile``).
    """
    spec = get(spec_name)
    key_range = _lead_key_range(valid, spec.keys[0])
    # the prediction holds for this version; commits of another attempt of this batch after it
    # are added to this attempt's by io.commit_metrics
    before = io.version(spark, spec, settings=settings)
    existing = io.read(spark, spec, version=before, settings=settings)
    if key_range is not None:
        # a silver row can match the batch only inside the batch's range of its first key; Delta
        # skips the files outside it, so a month's batch does not scan years of silver
        existing = existing.where(F.col(spec.keys[0]).between(F.lit(key_range[0]), F.lit(key_range[1])))
    # silver keys are unique (they are the MERGE keys): the join flags, it does not fan out
    versions = existing.select(*spec.keys, F.lit(True).alias(REPLACES))
    flagged = (
        classify(valid, existing, spec.keys, batch_id=batch_id)
        .join(versions, on=list(spec.keys), how="left")
        .withColumn(REPLACES, F.coalesce(F.col(REPLACES), F.lit(False)))
        .persist(BATCH_STORAGE)
    )
    fresh_row = ~F.col(DUPLICATE) & ~F.col(KNOWN)
    # One pass over the batch and silver for every count (each separate count re-ran the join)
    by_file = (
        flagged.groupBy("_source_file")
        .agg(
            F.count(F.when(fresh_row & ~F.col(REPLACES), 1)).alias("fresh_inserted"),
            F.count(F.when(fresh_row & F.col(REPLACES), 1)).alias("rows_updated"),
            F.count(F.when(F.col(OWN), 1)).alias("earlier_attempt"),
            F.count(F.when(F.col(DUPLICATE) | (F.col(KNOWN) & ~F.col(OWN)), 1)).alias("rows_duplicate"),
        )
        .collect()
    )
    per_file = {
        r["_source_file"]: {
            "rows_inserted": int(r["fresh_inserted"]) + int(r["earlier_attempt"]),
            "rows_updated": int(r["rows_updated"]),
            "rows_duplicate": int(r["rows_duplicate"]),
        }
        for r in by_file
    }
    earlier_attempt = sum(int(r["earlier_attempt"]) for r in by_file)
    # the rows this attempt hands to the MERGE
    new_rows = sum(int(r["fresh_inserted"]) + int(r["rows_updated"]) for r in by_file)
    fresh = flagged.where(fresh_row).drop(DUPLICATE, KNOWN, OWN, REPLACES)
    expected: dict[str, int] = {}
    committed = None
    if new_rows:
        if "known_from" in spec.keys:
            entity_keys = [k for k in spec.keys if k != "known_from"]
            changed = ("_record_hash", "known_to", "is_current")
            rows = chain_versions(existing, fresh, entity_keys=entity_keys, columns=spec.columns)
        else:
            changed = ("_record_hash",)
            rows = fresh.select(*spec.columns)
        if spec.partition_by:
            rows = in_key_ranges(rows, spec, count=new_rows, rows_per_file=silver_rows_per_file(settings))
        rows = rows.persist(BATCH_STORAGE)
        # materialise before the MERGE rewrites the files it was read from
        expected = _expected_merge(rows, existing, spec.keys, changed)
        partitions = _partition_values(rows, spec) if spec.partition_by else None
        io.merge_upsert(
            rows,
            spec,
            settings=settings,
            key_range=key_range,
            partitions=partitions,
            update_when_changed=changed,
            keep_source_layout=bool(spec.partition_by),
        )
        committed = io.commit_metrics(spark, spec.name, tag=tag, after=before, settings=settings) if tag else None
        log.info("%s: %d new versions, %d rows merged", spec_name, new_rows, expected["numSourceRows"])
        rows.unpersist()
    flagged.unpersist()
    return Published(per_file=per_file, expected=expected, committed=committed, earlier_attempt=earlier_attempt)


def _check(batch_id: str, table: str, what: str, expected: int, committed: int) -> None:
    if expected != committed:
        raise ReconciliationError(batch_id=batch_id, table=table, what=what, expected=expected, committed=committed)


def _reconcile(
    batch_id: str,
    silver_table: str,
    per_file: Mapping[str, Mapping[str, int]],
    published: Published,
    writes: Mapping[str, tuple[int, Mapping[str, int] | None]],
) -> None:
    """Check the batch's accounting per file and against the commits Delta recorded.

    Per file and for the batch: ``rows_read = inserted + updated + quarantined +
    duplicates``. Against Delta: the silver MERGE's ``numSourceRows``, ``numTargetRowsInserted``
    and ``numTargetRowsUpdated`` equal their prediction (``_publish``), and each insert-only
    MERGE of ``writes`` (bronze, quarantine: table -> (rows the batch handed it, its commit's
    metrics)) received every row (``numSourceRows``); an insert that made no commit found every
    row already present (an earlier attempt's), which is consistent.

    Raises:
        ReconciliationError: naming the batch, the table (or file) and both counts.
    """
    parts = ("rows_inserted", "rows_updated", "rows_quarantined", "rows_duplicate")
    for path, counts in sorted(per_file.items()):
        _check(
            batch_id,
            f"{silver_table} (file {path})",
            "rows read vs " + " + ".join(parts),
            counts["rows_read"],
            sum(counts[p] for p in parts),
        )
    if published.expected:
        if published.committed is None:
            raise ReconciliationError(
                batch_id=batch_id,
                table=silver_table,
                what="MERGE commit (rows to merge)",
                expected=published.expected["numSourceRows"],
                committed=0,
            )
        for metric, value in published.expected.items():
            _check(batch_id, silver_table, metric, value, published.committed.get(metric, 0))
    for table, (handed, metrics) in writes.items():
        if metrics is not None:
            _check(batch_id, table, "numSourceRows", handed, metrics.get("numSourceRows", 0))


def _reject_message(
    table: str, batch_id: str, rows: int, failed: int, rate: float, limit: float, rule_counts: Mapping[str, int]
) -> str:
    rules = "; ".join(
        f"{name}: {count} rows" for name, count in sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0])) if count
    )
    return (
        f"table {table}, batch {batch_id}: {failed} of {rows} rows failed validation, failure rate "
        f"{rate:.2%} > threshold {limit:.2%}; broken rules: {rules}. The failing rows are quarantined; "
        f"nothing was published to silver."
    )


def _rule_counts(invalid: DataFrame) -> dict[str, int]:
    exploded = invalid.select(F.explode(F.col(FAILED_RULES)).alias("rule")).groupBy("rule").count()
    return {r["rule"]: int(r["count"]) for r in exploded.collect()}


def ingest_batch(spark: SparkSession, batch: BatchInput, *, settings: Settings) -> dict[str, Any]:
    """Land, validate and publish one batch; see the module docstring for the invariant.

    Every commit of the batch carries the batch id in its ``userMetadata``
    (``io.batch_commits``), which finds the commits the batch made: their metrics for the
    reconciliation, and the batch's first commit for ``riskpipe restore --to-batch``.

    Returns:
        ``batch_id``, ``rows_read``, ``rows_published`` (= ``rows_inserted`` + ``rows_updated``),
        ``rows_quarantined``, ``rows_duplicate``, ``failure_rate``,
        ``broken_rules``, and ``per_file``: the same counts per landed file (``_source_file``).

    Raises:
        expectations.validate.BatchRejectedError: failure rate above the table's
            threshold (bronze and quarantine hold the rows; silver is unchanged).
        ReconciliationError: the counts do not add up, per file or for the batch, or disagree
            with the metrics of the commits Delta recorded; the manifest does not mark the
            files done.
    """
    with io.batch_commits(spark, batch.batch_id) as tag:
        return _ingest_batch(spark, batch, settings=settings, tag=tag)


def _ingest_batch(spark: SparkSession, batch: BatchInput, *, settings: Settings, tag: str) -> dict[str, Any]:
    source, table = batch.source, batch.source.name
    ingested_at = batch.ingested_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    bronze = with_lineage(
        batch.raw,
        source=source,
        batch_id=batch.batch_id,
        ingested_at=ingested_at,
        landing_root=settings.landing_root,
        extra_columns=batch.extra_columns,
    )
    if source.fmt not in REREAD_FORMATS:
        bronze = bronze.persist(BATCH_STORAGE)
    rows_read = bronze.count()
    log.info("%s batch %s: %d rows read", table, batch.batch_id, rows_read)
    candidates = _silver_candidates(spark, source, bronze, batch.file_dates, settings)
    limit = max_failure_rate_for(table, settings)
    # the candidates are cached once, by validation, with the parse failures among them
    result = validate_batch(
        candidates,
        table,
        logical_date=batch.logical_date,
        batch_id=batch.batch_id,
        max_failure_rate=1.0,
        id_columns=("_row_id",),
        settings=settings,
        data_docs_dir=data_docs_dir(settings),
        parse_errors="_parse_errors",
    )
    invalid = result.invalid_df.persist(BATCH_STORAGE)
    failed = invalid.count()
    log.info("%s batch %s: validated, %d rows fail", table, batch.batch_id, failed)
    rate = failed / rows_read if rows_read else 0.0

    # Exactly once, also when two attempts of this batch run at once: see the module docstring.
    # New source columns (on_new_column=evolve) are added by Delta schema evolution.
    writes: dict[str, tuple[int, Mapping[str, int] | None]] = {}
    before = io.version(spark, source.bronze_table, settings=settings)
    io.insert_new(
        bronze,
        source.bronze_table,
        keys=BRONZE_ROW_KEYS,
        settings=settings,
        extra_columns=batch.extra_columns,
        target_equals={"_batch_id": batch.batch_id},
    )
    writes[source.bronze_table] = (
        rows_read,
        io.commit_metrics(spark, source.bronze_table, tag=tag, after=before, settings=settings),
    )
    if failed:
        before = io.version(spark, "quarantine", settings=settings)
        write_quarantine(
            to_quarantine(
                invalid, table_name=table, batch_id=batch.batch_id, failure_rate=rate, quarantined_at=ingested_at
            ),
            settings=settings,
        )
        writes["quarantine"] = (
            failed,
            io.commit_metrics(spark, "quarantine", tag=tag, after=before, settings=settings),
        )
    counts = {"rows_read": rows_read, "rows_quarantined": failed}
    if rate > limit:
        message = _reject_message(table, batch.batch_id, rows_read, failed, rate, limit, _rule_counts(invalid))
        if batch.files:
            landed_files.record(
                spark,
                table,
                list(batch.files),
                batch_id=batch.batch_id,
                status="rejected",
                logical_date=str(batch.logical_date),
                error=message,
            )
        _release(bronze, candidates, invalid, result)
        raise BatchRejectedError(message)

    published = _publish(spark, result.valid_df, table, settings, batch_id=batch.batch_id, tag=tag)
    per_file = _per_file_counts(
        bronze,
        invalid,
        published,
        totals=(batch.files[0].rel_path, rows_read, failed) if len(batch.files) == 1 else None,
    )
    try:
        _reconcile(batch.batch_id, table, per_file, published, writes)
    except ReconciliationError:
        _release(bronze, candidates, invalid, result)
        raise
    for name in PUBLISH_COUNTS:
        counts[name] = published.total(name)
    counts["rows_published"] = counts["rows_inserted"] + counts["rows_updated"]
    if published.earlier_attempt:
        log.info(
            "%s batch %s: %d of the rows inserted were published by an earlier attempt of the batch",
            table,
            batch.batch_id,
            published.earlier_attempt,
        )
    if batch.files:
        landed_files.record(
            spark,
            table,
            list(batch.files),
            batch_id=batch.batch_id,
            status="succeeded",
            logical_date=str(batch.logical_date),
            counts={f.rel_path: per_file.get(f.rel_path, _no_rows()) for f in batch.files},
        )
    rules = _rule_counts(invalid) if failed else {}
    _release(bronze, candidates, invalid, result)
    log.info("%s batch %s: %s", table, batch.batch_id, counts)
    return {"batch_id": batch.batch_id, **counts, "failure_rate": rate, "broken_rules": rules, "per_file": per_file}


def _no_rows() -> dict[str, int]:
    return {name: 0 for name in ("rows_read", "rows_published", "rows_quarantined", *PUBLISH_COUNTS)}


def _per_file_counts(
    bronze: DataFrame, invalid: DataFrame, published: Published, *, totals: tuple[str, int, int] | None = None
) -> dict[str, dict[str, int]]:
    """Per ``_source_file`` (a landed file, an API page, a JDBC extract): rows read, quarantined
    and the outcome of its valid rows (``PUBLISH_COUNTS``), with ``rows_published``.

    ``totals``: ``(file, rows read, rows quarantined)`` of a one-file batch, whose counts need no
    second pass over bronze (a columnar feed's bronze is re-read at each use).
    """
    if totals is not None:
        read, bad = {totals[0]: totals[1]}, {totals[0]: totals[2]}
    else:
        read = {r["_source_file"]: int(r["count"]) for r in bronze.groupBy("_source_file").count().collect()}
        bad = {r["_source_file"]: int(r["count"]) for r in invalid.groupBy("_source_file").count().collect()}
    counts = {}
    for path in sorted(set(read) | set(bad) | set(published.per_file)):
        outcome = {name: published.per_file.get(path, {}).get(name, 0) for name in PUBLISH_COUNTS}
        counts[path] = {
            "rows_read": read.get(path, 0),
            "rows_quarantined": bad.get(path, 0),
            **outcome,
            "rows_published": outcome["rows_inserted"] + outcome["rows_updated"],
        }
    return counts


def _release(*frames: Any) -> None:
    for frame in frames:
        if hasattr(frame, "unpersist"):
            frame.unpersist()
