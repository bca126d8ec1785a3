"""Small inline data for the fault tests, built from the table declarations in ``schemas/``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from riskpipe.core.config import Settings
from schemas.registry import TableSpec, get

# Operational columns that differ between two otherwise identical runs.
RUN_COLUMNS = ("_ingested_at", "quarantined_at", "started_at", "finished_at")
# ... and the times the ops tables record a check at
OPERATIONAL = (*RUN_COLUMNS, "detected_at", "recorded_at")
BASE_DATE = "2020-01-01"


def lake_settings(settings: Settings, root: Path) -> Settings:
    """``settings`` with the lakehouse root moved to ``root`` (a test's own lakehouse)."""
    return settings.replace(lakehouse_root=str(root))


def _value(field: T.StructField, row_id: Column) -> Column:
    """A deterministic value of ``field``'s type derived from ``row_id``."""
    kind = field.dataType
    if isinstance(kind, T.StringType):
        return F.concat(F.lit(f"{field.name}-"), row_id.cast("string"))
    if isinstance(kind, T.DateType):
        return F.date_add(F.lit(BASE_DATE).cast("date"), (row_id % 365).cast("int"))
    if isinstance(kind, T.TimestampType):
        return F.lit(f"{BASE_DATE} 00:00:00").cast("timestamp")
    if isinstance(kind, T.BooleanType):
        return row_id % 2 == 0
    if isinstance(kind, (T.IntegerType, T.LongType, T.ShortType, T.DoubleType, T.FloatType, T.DecimalType)):
        return (row_id % 1000).cast(kind)
    return F.lit(None).cast(kind)


def synthetic(
    spark: SparkSession,
    table: str | TableSpec,
    rows: int,
    *,
    partitions: int = 1,
    offset: int = 0,
    ids: DataFrame | None = None,
) -> DataFrame:
    """``rows`` rows with exactly the declared schema of ``table``; ids ``offset`` … ``offset+rows-1``.

    Every string column holds its name and the row id, so keys are unique per id.

    Args:
        ids: the frame of row ids (column ``id``) to derive the rows from, instead of a range.
    """
    spec = table if isinstance(table, TableSpec) else get(table)
    row_id = F.col("id")
    frame = ids if ids is not None else spark.range(offset, offset + rows, numPartitions=partitions)
    return frame.select(*[_value(f, row_id).cast(f.dataType).alias(f.name) for f in spec.schema.fields])


def content_hash(df: DataFrame, exclude: tuple[str, ...] = RUN_COLUMNS) -> str:
    """SHA-256 of the rows (as a sorted multiset), without the run-dependent ``exclude`` columns.

    Each row is hashed by Spark (its JSON, nulls written out); only the row hashes reach Python,
    so a table of tens of thousands of rows costs one small job rather than a collect of its rows.
    """
    columns = sorted(c for c in df.columns if c not in exclude)
    as_json = F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]), {"ignoreNullFields": "false"})
    rows = sorted(r[0] for r in df.select(F.sha2(as_json, 256)).collect())
    return hashlib.sha256("\n".join([",".join(columns), *rows]).encode()).hexdigest()


def data_files(table_dir: Path) -> set[str]:
    """Parquet data files under a table folder (relative paths; the log excluded)."""
    return {p.relative_to(table_dir).as_posix() for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts}


def log_versions(table_dir: Path) -> set[int]:
    """Committed versions: the numbered JSON files of ``_delta_log``."""
    return {int(p.stem) for p in (table_dir / "_delta_log").glob("*.json") if p.stem.isdigit()}


def table_versions(tables: Iterable[str], *, settings: Settings) -> dict[str, set[int]]:
    """The committed versions of each declared table of a local lakehouse (no Spark job).

    Equal before and after an operation means it committed nothing to any of them: stronger than
    equal contents, and free to check.
    """
    from riskpipe.core import io

    return {table: log_versions(Path(io.table_path(table, settings=settings))) for table in tables}


def lake_hashes(spark, lake: Path) -> dict[str, str]:
    """Content hash of every Delta table under ``lake`` by its folder relative to ``lake``, without
    the :data:`OPERATIONAL` columns."""
    from riskpipe.core import io  # noqa: F401  (the Delta session settings)

    found = sorted(p.parent for p in lake.rglob("_delta_log"))
    return {
        table.relative_to(lake).as_posix(): content_hash(
            spark.read.format("delta").load(str(table)), exclude=OPERATIONAL
        )
        for table in found
    }
