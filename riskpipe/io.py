"""All Delta Lake I/O in one small module.

Jobs stay pure (DataFrame -> DataFrame); only their thin ``main`` calls these
functions. Every write is a single Delta commit, so a failed or killed run
leaves the table at its previous version.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.config import Settings, load_settings
from schemas.registry import TableSpec, get


def _spec(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else get(table)


def table_path(table: str | TableSpec, settings: Settings | None = None) -> str:
    """Location of ``table`` under the configured lakehouse root."""
    return _spec(table).location((settings or load_settings()).lakehouse_root)


def ensure_table(spark: SparkSession, table: str | TableSpec, settings: Settings | None = None) -> DeltaTable:
    """Create the Delta table from its declaration when it does not exist yet."""
    spec = _spec(table)
    path = table_path(spec, settings)
    if _local_log_exists(path):
        # the common case: skip the builder's schema checks, which cost a few Spark jobs per call
        return DeltaTable.forPath(spark, path)
    builder = (
        DeltaTable.createIfNotExists(spark)
        .location(table_path(spec, settings))
        .addColumns(spec.schema)
        .comment(spec.description or spec.name)
    )
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    for key, value in spec.properties.items():
        builder = builder.property(key, value)
    return builder.execute()


def _local_log_exists(path: str) -> bool:
    local = path[len("file:"):] if path.startswith("file:") else path
    return "://" not in local and os.path.isdir(os.path.join(local, "_delta_log")) and bool(
        os.listdir(os.path.join(local, "_delta_log")))


def exists(spark: SparkSession, table: str | TableSpec, settings: Settings | None = None) -> bool:
    return DeltaTable.isDeltaTable(spark, table_path(table, settings))


def read(spark: SparkSession, table: str | TableSpec, *, version: int | None = None,
         settings: Settings | None = None) -> DataFrame:
    """Read a table (creating it empty if needed), optionally at a Delta version."""
    spec = _spec(table)
    ensure_table(spark, spec, settings)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table_path(spec, settings))


def version(spark: SparkSession, table: str | TableSpec, settings: Settings | None = None) -> int:
    """Latest committed Delta version of ``table``."""
    spec = _spec(table)
    history = ensure_table(spark, spec, settings).history(1).select("version").collect()
    return int(history[0]["version"])


def _conform(df: DataFrame, spec: TableSpec, extra_columns: Sequence[str] = ()) -> DataFrame:
    """Select exactly the declared columns (plus evolved extras), cast to the declared types."""
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"writing {spec.name}: missing columns {missing}")
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in spec.schema.fields]
                     + [F.col(c) for c in extra_columns])


def append(df: DataFrame, table: str | TableSpec, *, settings: Settings | None = None,
           txn: tuple[str, int] | None = None, extra_columns: Sequence[str] = ()) -> None:
    """Append rows in one commit.

    Args:
        txn: optional Delta idempotent-write token ``(app_id, version)``; a retry
            with the same token is skipped by Delta instead of appending twice.
        extra_columns: undeclared columns to add to the table by schema evolution.
    """
    spec = _spec(table)
    ensure_table(df.sparkSession, spec, settings)
    writer = _conform(df, spec, extra_columns).write.format("delta").mode("append")
    if extra_columns:
        writer = writer.option("mergeSchema", "true")
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
    writer.save(table_path(spec, settings))


def merge_upsert(df: DataFrame, table: str | TableSpec, *, keys: Iterable[str] | None = None,
                 settings: Settings | None = None,
                 update_when_changed: str | Sequence[str] | None = "_record_hash") -> None:
    """MERGE rows on the business keys: insert new keys, update changed rows.

    Args:
        keys: merge keys; default the table's declared keys.
        update_when_changed: column(s) whose difference triggers an update; rows
            with equal values are left untouched, so a rerun writes nothing new.
    """
    spec = _spec(table)
    keys = tuple(keys or spec.keys)
    if not keys:
        raise ValueError(f"table {spec.name} has no keys to merge on")
    target = ensure_table(df.sparkSession, spec, settings)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = target.alias("t").merge(_conform(df, spec).alias("s"), condition)
    if update_when_changed:
        changed = [update_when_changed] if isinstance(update_when_changed, str) else list(update_when_changed)
        merge = merge.whenMatchedUpdateAll(condition=" OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in changed))
    else:
        merge = merge.whenMatchedUpdateAll()
    merge.whenNotMatchedInsertAll().execute()


def insert_new(df: DataFrame, table: str | TableSpec, *, keys: Sequence[str],
               settings: Settings | None = None, extra_columns: Sequence[str] = ()) -> None:
    """Insert rows whose ``keys`` are not in the table yet; never rewrite a row.

    Used for bronze: a rerun of the same batch (same batch id, file and row)
    adds nothing, and rows already landed are never modified.

    Args:
        extra_columns: undeclared columns to add to the table by schema evolution.
    """
    spec = _spec(table)
    target = ensure_table(df.sparkSession, spec, settings)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = target.alias("t").merge(_conform(df, spec, extra_columns).alias("s"), condition)
    if extra_columns:
        merge = merge.withSchemaEvolution()
    merge.whenNotMatchedInsertAll().execute()


def replace_where(df: DataFrame, table: str | TableSpec, condition: str, *,
                  settings: Settings | None = None) -> None:
    """Atomically replace the rows matching ``condition`` (a partition) with ``df``."""
    spec = _spec(table)
    ensure_table(df.sparkSession, spec, settings)
    (_conform(df, spec).write.format("delta").mode("overwrite")
     .option("replaceWhere", condition).save(table_path(spec, settings)))


def same_content(left: DataFrame, right: DataFrame) -> bool:
    """True when both frames hold the same rows (as multisets; column order of ``left``)."""
    right = right.select(*left.columns)
    return left.count() == right.count() and left.exceptAll(right).isEmpty() and right.exceptAll(left).isEmpty()


def replace_partition(df: DataFrame, table: str | TableSpec, condition: str, *,
                      settings: Settings | None = None) -> bool:
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


def restore(spark: SparkSession, table: str | TableSpec, to_version: int,
            settings: Settings | None = None) -> None:
    """Restore ``table`` to an earlier Delta version."""
    DeltaTable.forPath(spark, table_path(table, settings)).restoreToVersion(to_version)


def table_properties(spark: SparkSession, table: str | TableSpec, settings: Settings | None = None) -> Mapping[str, str]:
    detail = DeltaTable.forPath(spark, table_path(table, settings)).detail().collect()[0]
    return dict(detail["properties"] or {})
