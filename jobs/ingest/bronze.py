"""Land source files in bronze exactly as received, plus lineage columns.

Text feeds (CSV, JSON Lines) are read line by line so that every row keeps its
file and line number, and parsed with ``from_csv``/``from_json`` in PERMISSIVE
mode with a corrupt-record column: a row with too few or too many fields is
*flagged* (and later quarantined), never silently padded or cut. Files are
checked before anything is written: wrong encoding, a truncated last line, a
header that lost or renamed a column, or an unreadable Parquet footer fail the
run with an error naming the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from jobs.silver.conform import record_hash
from schemas.feeds import SourceDef
from schemas.sources import CORRUPT

CHUNK_BYTES = 1 << 20


class MalformedFileError(ValueError):
    """A landed file cannot be read as its feed promises; nothing was written."""


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise MalformedFileError(f"{path}: not valid UTF-8 at byte {offset + exc.start}") from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise MalformedFileError(f"{path}: truncated multi-byte character at end of file") from None


def _check_complete(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise MalformedFileError(f"{path}: empty file")
    with path.open("rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            raise MalformedFileError(f"{path}: truncated (last line has no line terminator)")


def check_header(path: Path, expected: Sequence[str], *, on_new_column: str) -> list[str]:
    """Compare a CSV header with the declared columns.

    Returns:
        Extra columns to keep (only when ``on_new_column == "evolve"``).

    Raises:
        MalformedFileError: a missing or renamed column (a breaking change), an
            unknown delimiter, or a new column when the policy is ``reject``.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(io.StringIO(handle.readline())), [])
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in expected if c not in header]
    if missing:
        hint = " (wrong delimiter?)" if len(header) == 1 and len(expected) > 1 else ""
        raise MalformedFileError(f"{path}: header lacks columns {missing}{hint}; breaking schema change rejected")
    extra = [h for h in header if h not in expected]
    if header[: len(expected)] != list(expected):
        raise MalformedFileError(f"{path}: columns reordered {header}; expected {list(expected)} first")
    if extra and on_new_column != "evolve":
        raise MalformedFileError(f"{path}: new columns {extra} (ingestion.on_new_column=reject)")
    return extra


def check_parquet(path: Path, expected: Sequence[str], *, on_new_column: str) -> list[str]:
    """Read the Parquet footer and compare its columns with the declaration."""
    try:
        names = pq.ParquetFile(str(path)).schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for broken footers
        raise MalformedFileError(f"{path}: unreadable Parquet file ({exc})") from None
    missing = [c for c in expected if c not in names]
    if missing:
        raise MalformedFileError(f"{path}: Parquet schema lacks columns {missing}; breaking schema change rejected")
    extra = [c for c in names if c not in expected]
    if extra and on_new_column != "evolve":
        raise MalformedFileError(f"{path}: new columns {extra} (ingestion.on_new_column=reject)")
    return extra


def precheck(source: SourceDef, paths: Sequence[Path], *, on_new_column: str = "reject") -> list[str]:
    """Check every file before reading; returns the extra columns to evolve."""
    extras: list[str] = []
    for path in paths:
        if source.fmt == "parquet":
            found = check_parquet(path, source.columns, on_new_column=on_new_column)
        else:
            _check_complete(path)
            _check_utf8(path)
            found = check_header(path, source.columns, on_new_column=on_new_column) if source.fmt == "csv" else []
        extras += [c for c in found if c not in extras]
    return extras


def _numbered_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    lines = spark.read.text(list(paths)).select(
        F.col("value"), F.col("_metadata.file_path").alias("_file"), F.monotonically_increasing_id().alias("_pos")
    )
    # monotonically_increasing_id follows file offsets within a read, so the
    # row number per file is the line number.
    by_file = Window.partitionBy("_file").orderBy("_pos")
    return lines.withColumn("_source_row", F.row_number().over(by_file)).drop("_pos")


def read_text_feed(
    spark: SparkSession, source: SourceDef, paths: Sequence[str], extra_columns: Sequence[str] = ()
) -> DataFrame:
    """Read CSV or JSON Lines files into string columns plus ``_corrupt_record``.

    Output columns: payload columns (strings), extra columns, ``_corrupt_record``,
    ``_source_file``, ``_source_row`` (1-based line number in the file).
    """
    columns = [*source.columns, *extra_columns]
    schema = StructType([StructField(c, StringType()) for c in columns] + [StructField(CORRUPT, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    lines = _numbered_lines(spark, paths)
    is_blank = F.trim(F.col("value")) == ""
    if source.fmt == "csv":
        is_header = F.col("_source_row") == 1
        parsed = F.from_csv(F.col("value"), schema.simpleString(), options)
        lines = lines.where(~is_header)
    else:
        parsed = F.from_json(F.col("value"), schema, options)
    return (
        lines.where(~is_blank)
        .select(parsed.alias("p"), F.col("value"), F.col("_file"), F.col("_source_row"))
        .select(
            *[F.col(f"p.{c}").alias(c) for c in columns],
            F.when(F.col(f"p.{CORRUPT}").isNotNull() | F.col("p").isNull(), F.col("value")).alias(CORRUPT),
            F.col("_file").alias("_source_file"),
            F.col("_source_row"),
        )
    )


def read_parquet_feed(
    spark: SparkSession, source: SourceDef, paths: Sequence[str], extra_columns: Sequence[str] = ()
) -> DataFrame:
    """Read Parquet extracts with their row index (``_source_row`` 1-based)."""
    df = spark.read.parquet(*paths)
    return df.select(
        *[F.col(c) for c in (*source.columns, *extra_columns)],
        F.lit(None).cast("string").alias(CORRUPT),
        F.col("_metadata.file_path").alias("_source_file"),
        (F.col("_metadata.row_index") + 1).alias("_source_row"),
    )


def with_lineage(
    raw: DataFrame,
    *,
    source: SourceDef,
    batch_id: str,
    ingested_at,
    landing_root: str,
    extra_columns: Sequence[str] = (),
) -> DataFrame:
    """Add bronze lineage columns; file paths become relative to the landing root.

    Output: payload columns, ``_batch_id``, ``_source``, ``_source_file``,
    ``_source_row``, ``_ingested_at``, ``_record_hash``, ``_corrupt_record``.
    """
    local = F.regexp_replace(F.col("_source_file"), "^file:(//)?", "")
    root = landing_root.removeprefix("file:").rstrip("/") + "/"
    relative = F.regexp_replace(local, "^" + re.escape(root), "")
    payload = [*source.columns, *extra_columns]
    return raw.select(
        *[F.col(c) for c in payload],
        F.lit(batch_id).alias("_batch_id"),
        F.lit(source.name).alias("_source"),
        relative.alias("_source_file"),
        F.col("_source_row").cast("long").alias("_source_row"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.coalesce(F.sha2(F.col(CORRUPT), 256), record_hash(payload)).alias("_record_hash"),
        F.col(CORRUPT),
    )
