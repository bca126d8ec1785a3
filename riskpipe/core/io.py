"""All Delta Lake I/O in one small module.

Jobs stay pure (DataFrame -> DataFrame); only their thin ``main`` calls these
functions. Every write is a single Delta commit, so a failed or killed run
leaves the table at its previous version.

Every function that locates a table takes the settings (its lakehouse root) as the required
keyword ``settings``, loaded once by the entry point; none reads the environment itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import tenacity
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.core.config import Settings
from riskpipe.core.locks import exclusive_lock
from schemas.registry import TableSpec, get

log = logging.getLogger(__name__)

# Optimistic-concurrency conflicts (another writer committed first) are retried this often,
# waiting CONFLICT_BACKOFF_S * 2**attempt (plus jitter) in between.
CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_S = 0.2
# Delta's default retention of removed files before VACUUM may delete them (7 days).
DEFAULT_RETAIN_HOURS = 168.0
# Delta's MERGE shuffles its output by the partition columns (one file per partition) unless off.
MERGE_REPARTITION_CONF = "spark.databricks.delta.merge.repartitionBeforeWrite.enabled"
# Text Delta stores in the ``userMetadata`` of every commit made while it is set.
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
BATCH_TAG_PREFIX = "batch="
# Errors a concurrent creation of the same table shows while its first commit is under way.
# a commit file of _delta_log: the zero-padded version, e.g. 00000000000000000012.json
COMMIT_FILE = re.compile(r"^\d{20}\.json$")
CREATE_TRANSIENT_ERRORS = ("DELTA_TABLE_NOT_FOUND", "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION")


LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
CONSTRAINT_PREFIX = "delta.constraints."
OPTIMIZE_MAX_FILE_SIZE_CONF = "spark.databricks.delta.optimize.maxFileSize"
# the number of tasks VACUUM lists a table's files with
LISTING_PARALLELISM_CONF = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def _spec(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else get(table)


def table_path(table: str | TableSpec, *, settings: Settings) -> str:
    """Location of ``table`` under the configured lakehouse root."""
    return _spec(table).location(settings.lakehouse_root)


def ensure_table(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> DeltaTable:
    """Create the Delta table from its declaration when it does not exist yet."""
    spec = _spec(table)
    path = table_path(spec, settings=settings)
    if _local_log_exists(path):
        # the common case: skip the builder's schema checks, which cost a few Spark jobs per call
        return DeltaTable.forPath(spark, path)
    builder = (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(spec.schema)
        .comment(spec.description or spec.name)
    )
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    for key, value in declared_properties(spec, settings=settings).items():
        builder = builder.property(key, value)
    with _create_lock(path):
        if _local_log_exists(path):
            return DeltaTable.forPath(spark, path)
        # On an object store two processes can still create the same table at once: the loser's
        # conflict is retried and createIfNotExists then finds the winner's table. Between the
        # winner's first write to _delta_log and its commit of version 0 the loser sees a log
        # without a table (not found, or a non-empty location): transient in the same way.
        return retry_on_conflict(builder.execute, what=f"create {spec.name}", transient=CREATE_TRANSIENT_ERRORS)


@contextlib.contextmanager
def _create_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on creating the table at a local ``path``, across processes.

    Delta on local disk has no atomic "create if absent" for two processes: one can find the
    other's half-written ``_delta_log`` (not yet a table, no longer an empty location). An
    advisory lock per table path makes creation one-at-a-time on this machine. Object-store
    paths are not locked (other machines would not see the lock); retries cover them.
    """
    local = _local_path(path)
    if local is None:
        yield
        return
    digest = hashlib.sha1(os.path.abspath(local).encode()).hexdigest()
    with exclusive_lock(Path(tempfile.gettempdir()) / "riskpipe-table-create" / f"{digest}.lock"):
        yield


def retention_properties(layer: str, *, settings: Settings) -> dict[str, str]:
    """The retention table properties of ``layer``'s tables (``maintenance.retention`` of the profile)."""
    retention = settings.maintenance.layer_retention(layer)
    return {LOG_RETENTION: retention.log, DELETED_FILE_RETENTION: retention.deleted_files}


def declared_properties(table: str | TableSpec, *, settings: Settings) -> dict[str, str]:
    """The table properties a table is created with: its layer's retention, then its own declaration."""
    spec = _spec(table)
    return {**retention_properties(spec.layer, settings=settings), **spec.properties}


def _local_path(path: str) -> str | None:
    """The folder of a table ``path`` on local disk, or None for a URI of another file system."""
    local = path[len("file:") :] if path.startswith("file:") else path
    return None if "://" in local else local


def _local_log_exists(path: str) -> bool:
    local = _local_path(path)
    log_dir = os.path.join(local, "_delta_log") if local is not None else ""
    # a committed version is a <version>.json; a writer's temporary file or an empty _commits/
    # folder before its first commit is not a table yet
    return (
        local is not None
        and os.path.isdir(log_dir)
        and any(name.endswith(".json") and not name.startswith(".") for name in os.listdir(log_dir))
    )


def exists(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> bool:
    return DeltaTable.isDeltaTable(spark, table_path(table, settings=settings))


def read(spark: SparkSession, table: str | TableSpec, *, version: int | None = None, settings: Settings) -> DataFrame:
    """Read a table (creating it empty if needed), optionally at a Delta version."""
    spec = _spec(table)
    ensure_table(spark, spec, settings=settings)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table_path(spec, settings=settings))


def version(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> int:
    """Latest committed Delta version of ``table`` (created empty when absent)."""
    spec = _spec(table)
    delta = ensure_table(spark, spec, settings=settings)
    local = _local_path(table_path(spec, settings=settings))
    if local is not None:
        # On local disk a commit is the atomic rename of its <version>.json into _delta_log, so the
        # highest such file is the latest version: a directory listing instead of a Spark job.
        names = os.listdir(os.path.join(local, "_delta_log"))
        committed = [int(name[: -len(".json")]) for name in names if COMMIT_FILE.match(name)]
        if committed:
            return max(committed)
    return int(delta.history(1).select("version").collect()[0]["version"])


def changed_partitions(
    spark: SparkSession,
    table: str | TableSpec,
    *,
    since: int,
    until: int,
    column: str,
    settings: Settings,
) -> set[str]:
    """Values of partition ``column`` whose data files differ between Delta versions ``since`` and ``until``.

    Files added or removed both count (a RESTORE to an older version removes files). Only the
    transaction log is read (the file lists of both versions), no data. A MERGE or OPTIMIZE that
    rewrites a partition reports it too, which errs on the safe side.
    """

    def files(at: int) -> set[str]:
        return set(read(spark, table, version=at, settings=settings).inputFiles())

    prefix = f"{column}="
    values = set()
    for path in files(until) ^ files(since):
        parts = [p for p in path.split("/") if p.startswith(prefix)]
        if not parts:
            raise ValueError(f"{_spec(table).name}: data file {path} is not under a {column}= partition")
        values.add(unquote(parts[-1][len(prefix) :]))
    return values


def _conform(df: DataFrame, spec: TableSpec, extra_columns: Sequence[str] = ()) -> DataFrame:
    """Select exactly the declared columns (plus evolved extras), cast to the declared types."""
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"writing {spec.name}: missing columns {missing}")
    return df.select(
        [F.col(f.name).cast(f.dataType).alias(f.name) for f in spec.schema.fields] + [F.col(c) for c in extra_columns]
    )


def append(
    df: DataFrame,
    table: str | TableSpec,
    *,
    settings: Settings,
    txn: tuple[str, int] | None = None,
    extra_columns: Sequence[str] = (),
) -> None:
    """Append rows in one commit.

    Args:
        txn: optional Delta idempotent-write token ``(app_id, version)``; a retry
            with the same token is skipped by Delta instead of appending twice.
        extra_columns: undeclared columns to add to the table by schema evolution.
    """
    spec = _spec(table)
    ensure_table(df.sparkSession, spec, settings=settings)
    writer = _conform(df, spec, extra_columns).write.format("delta").mode("append")
    if extra_columns:
        writer = writer.option("mergeSchema", "true")
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
    writer.save(table_path(spec, settings=settings))


def merge_upsert(
    df: DataFrame,
    table: str | TableSpec,
    *,
    keys: Iterable[str] | None = None,
    settings: Settings,
    update_when_changed: str | Sequence[str] | None = "_record_hash",
    key_range: tuple[Any, Any] | None = None,
    keep_source_layout: bool = False,
    partitions: Mapping[str, Sequence[Any]] | None = None,
    evolve_schema: bool = False,
) -> None:
    """MERGE rows on the business keys: insert new keys, update changed rows.

    Args:
        keys: merge keys; default the table's declared keys.
        update_when_changed: column(s) whose difference triggers an update; rows
            with equal values are left untouched, so a rerun writes nothing new.
        key_range: (lowest, highest) value of the first key among ``df``'s rows, none null.
            Delta then skips the target files whose statistics lie outside it instead of
            scanning the whole table (transaction ids grow with time, so a month's batch
            reads that month's files).
        keep_source_layout: write the inserted rows in ``df``'s own partitions (one file per
            partition and table partition) instead of Delta's one file per table partition;
            for a ``df`` already range-partitioned on its keys, so each file holds one key range.
        partitions: per partition column, every value ``df``'s rows hold; the MERGE then reads
            only those table partitions (a restatement re-chains versions of a few months, not
            of the whole table).
        evolve_schema: add declared columns the table at its location lacks (a table created
            before the column was declared) by Delta schema evolution.
    """
    spec = _spec(table)
    keys = tuple(keys or spec.keys)
    if not keys:
        raise ValueError(f"table {spec.name} has no keys to merge on")
    target = ensure_table(df.sparkSession, spec, settings=settings)
    condition = F.expr(" AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys))
    if key_range is not None:
        condition = F.col(f"t.`{keys[0]}`").between(F.lit(key_range[0]), F.lit(key_range[1])) & condition
    for column_name, values in (partitions or {}).items():
        condition = F.col(f"t.`{column_name}`").isin([F.lit(v) for v in values]) & condition
    merge = target.alias("t").merge(_conform(df, spec).alias("s"), condition)
    if evolve_schema:
        merge = merge.withSchemaEvolution()
    if update_when_changed:
        changed = [update_when_changed] if isinstance(update_when_changed, str) else list(update_when_changed)
        merge = merge.whenMatchedUpdateAll(condition=" OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in changed))
    else:
        merge = merge.whenMatchedUpdateAll()
    merge = merge.whenNotMatchedInsertAll()
    layout = (
        _session_conf(df.sparkSession, MERGE_REPARTITION_CONF, "false")
        if keep_source_layout
        else contextlib.nullcontext()
    )
    with layout:
        retry_on_conflict(merge.execute, what=f"MERGE into {spec.name}")


@contextlib.contextmanager
def _session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a runtime SQL conf for the block, then put back what was there."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def _is_conflict(error: BaseException) -> bool:
    """True for Delta's optimistic-concurrency conflicts (ConcurrentAppendException & co)."""
    from delta import exceptions

    conflicts = tuple(getattr(exceptions, name) for name in exceptions.__all__)
    if isinstance(error, conflicts):
        return True
    text = f"{type(error).__name__}: {error}"
    return any(
        name in text
        for name in (
            "ConcurrentAppendException",
            "ConcurrentModificationException",
            "ConcurrentDeleteReadException",
            "ConcurrentTransactionException",
            "DELTA_CONCURRENT_",
        )
    )


def retry_on_conflict(
    action: Callable[[], Any],
    *,
    what: str,
    retries: int = CONFLICT_RETRIES,
    backoff_s: float = CONFLICT_BACKOFF_S,
    transient: Sequence[str] = (),
) -> Any:
    """Run ``action``; when another writer's commit conflicts with it, run it again.

    A conflicting Delta commit writes nothing, so re-running the whole operation (which
    re-reads the table) converges to the same content as a serial run.

    Args:
        action: the write, e.g. a MERGE builder's ``execute``.
        what: description for the warning log.
        retries: attempts after the first one.
        backoff_s: first wait; doubled on every retry, plus up to 100% jitter.
        transient: further error classes (texts in the error) that a retry resolves.

    Raises:
        The last conflict once ``retries`` are used up; any other error at once.
    """

    def retryable(error: BaseException) -> bool:
        return _is_conflict(error) or any(marker in str(error) for marker in transient)

    def warn(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: concurrent commit conflict (%s), retry %d/%d in %.2fs",
            what,
            type(error).__name__,
            state.attempt_number,
            retries,
            wait,
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(retries + 1),
        # backoff_s * 2**attempt, plus up to 100% jitter
        wait=lambda state: backoff_s * 2 ** (state.attempt_number - 1) * (1 + random.random()),
        before_sleep=warn,
        reraise=True,
    )(action)


def insert_new(
    df: DataFrame,
    table: str | TableSpec,
    *,
    keys: Sequence[str],
    settings: Settings,
    extra_columns: Sequence[str] = (),
    target_equals: Mapping[str, Any] | None = None,
) -> None:
    """Insert rows whose ``keys`` are not in the table yet; never rewrite a row.

    An insert-only MERGE: exactly once even when two attempts of the same rows run at the same
    moment, in threads or in separate processes. Both read the table without the rows; the
    first commit wins and the second fails Delta's conflict check (the winner added files its
    read depends on), is retried by :func:`retry_on_conflict`, finds the rows and inserts
    nothing. A plain append would not conflict (a blind append never does) and would write the
    rows twice.

    Args:
        keys: the row keys, compared null-safe.
        extra_columns: undeclared columns to add to the table by schema evolution.
        target_equals: column -> value that every row of ``df`` and every target row it can match
            share (e.g. the batch id). Delta then reads only the files whose statistics or
            partition admit those values instead of the whole table.
    """
    spec = _spec(table)
    target = ensure_table(df.sparkSession, spec, settings=settings)
    condition = F.expr(" AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys))
    for column, value in (target_equals or {}).items():
        condition = (F.col(f"t.`{column}`") == F.lit(value)) & condition
    merge = target.alias("t").merge(_conform(df, spec, extra_columns).alias("s"), condition)
    if extra_columns:
        merge = merge.withSchemaEvolution()
    retry_on_conflict(merge.whenNotMatchedInsertAll().execute, what=f"insert into {spec.name}")


def replace_where(df: DataFrame, table: str | TableSpec, condition: str, *, settings: Settings) -> None:
    """Atomically replace the rows matching ``condition`` (a partition) with ``df``.

    A commit conflict with a concurrent writer of the same rows is retried (:func:`retry_on_conflict`):
    the callers' ``df`` is derived from the tables (gap registers, snapshots), so two attempts of the
    same run write the same rows and the last one wins."""
    spec = _spec(table)
    ensure_table(df.sparkSession, spec, settings=settings)
    writer = _conform(df, spec).write.format("delta").mode("overwrite").option("replaceWhere", condition)
    retry_on_conflict(lambda: writer.save(table_path(spec, settings=settings)), what=f"replace rows of {spec.name}")


def same_content(left: DataFrame, right: DataFrame) -> bool:
    """True when both frames hold the same rows (as multisets; column order of ``left``)."""
    right = right.select(*left.columns)
    return left.count() == right.count() and left.exceptAll(right).isEmpty() and right.exceptAll(left).isEmpty()


def replace_partition(df: DataFrame, table: str | TableSpec, condition: str, *, settings: Settings) -> bool:
    """``replace_where``, skipped when the rows matching ``condition`` already equal ``df``.

    A rerun of a snapshot then commits nothing: the table keeps its version and its Change
    Data Feed shows no spurious updates to downstream readers. ``df`` is evaluated twice
    (compare, write), so cache it when it is expensive.

    Returns:
        True when a new version was committed.
    """
    spec = _spec(table)
    current = read(df.sparkSession, spec, settings=settings).where(condition)
    if same_content(_conform(df, spec), current):
        return False
    replace_where(df, spec, condition, settings=settings)
    return True


def restore(spark: SparkSession, table: str | TableSpec, to_version: int, *, settings: Settings) -> None:
    """Restore ``table`` to an earlier Delta version (a new commit; history is kept)."""
    DeltaTable.forPath(spark, table_path(table, settings=settings)).restoreToVersion(to_version)


HISTORY_COLUMNS = ("version", "timestamp", "operation", "operationParameters", "operationMetrics", "userMetadata")


@contextlib.contextmanager
def batch_commits(spark: SparkSession, batch_id: str) -> Iterator[str]:
    """Tag every Delta commit made in the block with the batch and this attempt of it.

    The tag, ``batch=<batch_id>;attempt=<random hex>``, is the commits' ``userMetadata``: it finds
    the commit a write made (:func:`commit_metrics`, also after a conflict retry or another
    writer's commit in between) and the first commit of a batch in any table
    (:func:`batch_versions`, for ``riskpipe restore --to-batch``). Yields the tag.
    """
    tag = f"{BATCH_TAG_PREFIX}{batch_id};attempt={uuid.uuid4().hex}"
    with _session_conf(spark, USER_METADATA_CONF, tag):
        yield tag


def tagged_batch(user_metadata: str | None) -> str | None:
    """The batch id of a commit tagged by :func:`batch_commits`, else None."""
    if not user_metadata or not user_metadata.startswith(BATCH_TAG_PREFIX):
        return None
    return user_metadata[len(BATCH_TAG_PREFIX) :].split(";", 1)[0]


def commit_metrics(
    spark: SparkSession, table: str | TableSpec, *, tag: str, after: int, settings: Settings
) -> dict[str, int] | None:
    """``operationMetrics`` (as integers) of the commit tagged ``tag`` after version ``after``.

    Matched by the tag, not by "the latest commit": another writer may have committed since,
    and a write retried after a conflict commits once, at a later version than first tried.
    When another attempt of the same batch (same batch id, another attempt) committed after
    ``after`` too, its rows inserted/updated/deleted are added to this commit's: the two attempts
    together wrote what one would have (the later one, retried, found the earlier one's rows).

    Returns:
        The metrics, e.g. ``numSourceRows``, ``numTargetRowsInserted``, ``numTargetRowsUpdated``
        of a MERGE; None when the write made no commit (an insert-only MERGE that found every
        row present commits nothing).
    """
    batch = tagged_batch(tag)
    newer = version(spark, table, settings=settings) - after
    if newer <= 0:
        return None
    delta = DeltaTable.forPath(spark, table_path(table, settings=settings))
    columns = ("version", "userMetadata", "operationMetrics")
    # the commits after ``after`` only, not the table's whole log; when another writer committed in
    # between, the newest ``newer`` stop short of ``after`` and the whole history is read
    rows = delta.history(newer).select(*columns).collect()
    if min(int(r["version"]) for r in rows) > after + 1:
        rows = delta.history().select(*columns).collect()
    rows = [r for r in rows if int(r["version"]) > after]

    def ints(metrics: Mapping[str, str] | None) -> dict[str, int]:
        return {name: int(value) for name, value in (metrics or {}).items() if str(value).lstrip("-").isdigit()}

    own = [ints(r["operationMetrics"]) for r in rows if r["userMetadata"] == tag]
    if not own:
        return None
    metrics = own[0]
    for row in rows:
        if row["userMetadata"] != tag and batch is not None and tagged_batch(row["userMetadata"]) == batch:
            other = ints(row["operationMetrics"])
            for name in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"):
                metrics[name] = metrics.get(name, 0) + other.get(name, 0)
    return metrics


def batch_versions(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> list[tuple[int, str, str]]:
    """``(version, batch id, operation)`` of the commits of ``table`` tagged by :func:`batch_commits`,
    oldest first; ``[]`` when the table does not exist."""
    path = table_path(table, settings=settings)
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    rows = DeltaTable.forPath(spark, path).history().select("version", "userMetadata", "operation").collect()
    tagged = [(int(r["version"]), tagged_batch(r["userMetadata"]), r["operation"]) for r in rows]
    return sorted((v, b, op) for v, b, op in tagged if b is not None)


def history(
    spark: SparkSession, table: str | TableSpec, *, limit: int | None = None, settings: Settings
) -> list[dict[str, Any]]:
    """Commits of ``table``, newest first: version, timestamp, operation, parameters, metrics.

    Raises:
        ValueError: ``table`` has no Delta table at its location yet.
    """
    path = table_path(table, settings=settings)
    if not DeltaTable.isDeltaTable(spark, path):
        raise ValueError(f"table {_spec(table).name}: no Delta table at {path}")
    delta = DeltaTable.forPath(spark, path)
    frame = delta.history(limit) if limit else delta.history()
    return [row.asDict(recursive=True) for row in frame.select(*HISTORY_COLUMNS).collect()]


def vacuum(
    spark: SparkSession,
    table: str | TableSpec,
    *,
    retain_hours: float | None = DEFAULT_RETAIN_HOURS,
    settings: Settings,
) -> None:
    """Delete files no longer referenced by versions younger than ``retain_hours``.

    That includes the orphan data files of a killed write. ``retain_hours=None`` keeps the table's
    own ``delta.deletedFileRetentionDuration``. Below that retention the session must set
    ``spark.databricks.delta.retentionDurationCheck.enabled=false``; versions whose files are
    deleted can no longer be read.
    """
    with _listing(spark, settings=settings):
        DeltaTable.forPath(spark, table_path(table, settings=settings)).vacuum(
            None if retain_hours is None else float(retain_hours)
        )


def _listing(spark: SparkSession, *, settings: Settings) -> contextlib.AbstractContextManager[None]:
    return _session_conf(spark, LISTING_PARALLELISM_CONF, str(settings.maintenance.listing_parallelism))


def vacuum_dry_run(
    spark: SparkSession, table: str | TableSpec, *, retain_hours: float | None = None, settings: Settings
) -> set[str]:
    """The data files :func:`vacuum` with the same retention would delete now, relative to the table folder.

    Delta's own ``VACUUM ... DRY RUN``: the same listing and the same rules as the deletion.
    """
    spec = _spec(table)
    retain = "" if retain_hours is None else f" RETAIN {float(retain_hours)} HOURS"
    with _listing(spark, settings=settings):
        rows = spark.sql(f"VACUUM {_sql_ref(spec, settings=settings)}{retain} DRY RUN").collect()
    return {_relative(row["path"], spec) for row in rows}


def data_files(
    spark: SparkSession, table: str | TableSpec, *, version: int | None = None, settings: Settings
) -> set[str]:
    """The data files of ``table`` (at ``version``), relative to the table folder; read from the log only."""
    spec = _spec(table)
    return {_relative(path, spec) for path in read(spark, spec, version=version, settings=settings).inputFiles()}


def _relative(path: str, spec: TableSpec) -> str:
    # a file is under <root>/<layer>/<name>/; the root's own form (file:, s3a://, encoding) differs
    # between Delta's listings, the part below the table folder does not
    return unquote(path).rsplit(f"/{spec.layer}/{spec.name}/", 1)[-1]


def _sql_ref(spec: TableSpec, *, settings: Settings) -> str:
    """``delta.`<path>``` of the table, for the SQL commands the Python API lacks."""
    return "delta.`" + table_path(spec, settings=settings).replace("`", "``") + "`"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def last_version_of(spark: SparkSession, table: str | TableSpec, operation: str, *, settings: Settings) -> int | None:
    """The latest version of ``table`` committed by ``operation`` (e.g. ``OPTIMIZE``), or None."""
    history = DeltaTable.forPath(spark, table_path(table, settings=settings)).history()
    row = history.where(F.col("operation") == F.lit(operation)).agg(F.max("version").alias("v")).first()
    return None if row is None or row["v"] is None else int(row["v"])


def optimize(
    spark: SparkSession,
    table: str | TableSpec,
    *,
    where: str | None = None,
    zorder_by: Sequence[str] = (),
    max_file_bytes: int | None = None,
    settings: Settings,
) -> dict[str, Any]:
    """OPTIMIZE ``table``: Z-order by ``zorder_by``, else compact small files (bin-packing); one commit.

    Args:
        where: partition predicate limiting the rewrite to some partitions. Delta's Z-order is not
            incremental: it rewrites every file of the partitions it is given, changed or not.
        max_file_bytes: largest file to write (``spark.databricks.delta.optimize.maxFileSize``).

    Returns:
        Delta's metrics of the command (``numFilesAdded``, ``numFilesRemoved``, ``partitionsOptimized``...).
    """
    spec = _spec(table)

    def run() -> Any:
        builder = DeltaTable.forPath(spark, table_path(spec, settings=settings)).optimize()
        if where:
            builder = builder.where(where)
        return builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()

    size = (
        _session_conf(spark, OPTIMIZE_MAX_FILE_SIZE_CONF, str(int(max_file_bytes)))
        if max_file_bytes
        else contextlib.nullcontext()
    )
    with size:
        frame = retry_on_conflict(run, what=f"OPTIMIZE {spec.name}")
    metrics = frame.select("metrics").first()["metrics"].asDict(recursive=True)
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def table_properties(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> Mapping[str, str]:
    detail = DeltaTable.forPath(spark, table_path(table, settings=settings)).detail().collect()[0]
    return dict(detail["properties"] or {})


def set_properties(
    spark: SparkSession, table: str | TableSpec, properties: Mapping[str, str], *, settings: Settings
) -> dict[str, str]:
    """Set the table ``properties`` whose value differs (one commit, none when all are equal).

    Returns:
        The properties that were changed, with their new values.
    """
    spec = _spec(table)
    current = table_properties(spark, spec, settings=settings)
    changed = {key: value for key, value in properties.items() if current.get(key) != value}
    if changed:
        pairs = ", ".join(f"{_sql_string(key)} = {_sql_string(value)}" for key, value in changed.items())
        statement = f"ALTER TABLE {_sql_ref(spec, settings=settings)} SET TBLPROPERTIES ({pairs})"
        retry_on_conflict(lambda: spark.sql(statement), what=f"set properties of {spec.name}")
    return changed


def check_constraints(spark: SparkSession, table: str | TableSpec, *, settings: Settings) -> dict[str, str]:
    """The table's CHECK constraints: name -> expression as Delta stores it."""
    properties = table_properties(spark, table, settings=settings)
    return {k[len(CONSTRAINT_PREFIX) :]: v for k, v in properties.items() if k.startswith(CONSTRAINT_PREFIX)}


def add_check_constraint(
    spark: SparkSession, table: str | TableSpec, name: str, expression: str, *, settings: Settings
) -> None:
    """Add the CHECK constraint ``name``; Delta first checks every existing row against it.

    Raises:
        pyspark.errors.AnalysisException: rows violate it (Delta's message counts them), or a
            constraint of that name exists.
    """
    spec = _spec(table)
    statement = f"ALTER TABLE {_sql_ref(spec, settings=settings)} ADD CONSTRAINT `{name}` CHECK ({expression})"
    retry_on_conflict(lambda: spark.sql(statement), what=f"add constraint {name} to {spec.name}")


def drop_check_constraint(spark: SparkSession, table: str | TableSpec, name: str, *, settings: Settings) -> None:
    spec = _spec(table)
    statement = f"ALTER TABLE {_sql_ref(spec, settings=settings)} DROP CONSTRAINT IF EXISTS `{name}`"
    retry_on_conflict(lambda: spark.sql(statement), what=f"drop constraint {name} of {spec.name}")
