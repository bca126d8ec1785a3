"""Roll one source's ingestion back to the state before a batch, in every table the batch wrote.

``restore_to_batch`` is what ``riskpipe restore --to-batch B`` runs. After it, the manifest no
longer knows batch B's files, so the next run of B's interval ingests them again and ends equal
to a clean run (the same batch id, the same rows, the same counts).

Which state is "before B": every commit a batch makes carries the batch id in its
``userMetadata`` (``riskpipe.core.io.batch_commits``), so each table's first commit of B is found in
its Delta history; commits made before the tag existed are found by the first version holding
B's rows (``_batch_id`` / ``batch_id``). Rolling B back rolls back every later batch of the same
source too (the set ``R``): they were built on B's rows (silver versions chained after B's,
continuity checked against them), so they are re-ingested with B. ``R`` is B plus the batches
bronze holds now but did not hold before B's first bronze commit. Later batches of the source
are refused unless ``force`` says so, naming the table and the batch, since their rows come back
only when their intervals are run again.

How each table is rolled back:

- ``bronze_<source>`` and silver ``<source>`` hold this source's rows only: a Delta RESTORE to the
  version before R's first commit (a new commit; the rolled-back versions stay inspectable).
- ``quarantine`` and ``ingest_manifest`` hold the rows of every source. A whole-table RESTORE
  would also take back what other sources committed after B: another feed's batch that ran in
  between would lose its quarantined rows and its manifest rows while its own bronze and silver
  keep them, and its next run would re-ingest files whose rows are already published. Only this
  source's slice is rolled back instead, so no other source loses anything and no refusal is
  needed for them: quarantine rows are insert-only per batch, so deleting R's rows of this
  source is exactly its state before R; the manifest's rows are updated in place (a changed file
  marks its earlier version ``superseded``), so this source's slice is replaced by the slice as
  it was at the version before R's first manifest commit.
- The derived checks (``data_gaps``, ``continuity_gaps``, per-source slices) are recomputed from
  the restored tables (``jobs.ingest.run.derived_checks``, from R's earliest interval), as every run
  does.

Not rolled back: ``ingest_watermarks`` (a JDBC rerun of an older interval reads its own window,
``jobs/ingest/core_banking.py``) and tables built later from silver (features, scores: rebuild them).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.core import io
from riskpipe.core.config import Settings
from schemas.feeds import SOURCES
from schemas.registry import get

log = logging.getLogger(__name__)

MANIFEST, QUARANTINE = "ingest_manifest", "quarantine"
CREATE_OPERATIONS = ("CREATE TABLE", "CREATE OR REPLACE TABLE")
_ISO_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")


class RestoreRefusedError(RuntimeError):
    """Restoring to before the batch would roll back something the caller did not ask for."""


@dataclass(frozen=True)
class Restored:
    """One table's rollback: ``from_version`` (latest before) → ``new_version`` (the restore's commit).

    ``to_version`` is the version whose content (or, for a shared table, whose slice of the
    source) the table now holds; None for quarantine, whose rows of R are deleted.
    """

    table: str
    action: str
    from_version: int
    to_version: int | None
    new_version: int


def source_of(batch_id: str) -> str:
    """The source a batch id belongs to: ids start with ``<source>-`` (longest name wins)."""
    names = sorted((name for name in SOURCES if batch_id.startswith(f"{name}-")), key=len, reverse=True)
    if not names:
        raise ValueError(f"batch {batch_id}: not a batch id of any source ({', '.join(sorted(SOURCES))})")
    return names[0]


def _first_version(
    spark: SparkSession, table: str, batches: set[str], column: str, *, settings: Settings
) -> int | None:
    """First version of ``table`` a batch of ``batches`` committed (tag), else first holding its rows."""
    tagged = [
        v
        for v, batch, op in io.batch_versions(spark, table, settings=settings)
        if batch in batches and op not in CREATE_OPERATIONS
    ]
    if tagged:
        return tagged[0]
    if not io.exists(spark, table, settings=settings):
        return None
    # commits made before batches were tagged: the first version holding a batch's rows
    for version in range(io.version(spark, table, settings=settings) + 1):
        at = io.read(spark, table, version=version, settings=settings)
        if column in at.columns and not at.where(F.col(column).isin(sorted(batches))).isEmpty():
            return version
    return None


def _batches(frame: DataFrame, column: str) -> set[str]:
    return {r[column] for r in frame.select(column).distinct().collect()}


def _later_commits(
    spark: SparkSession, table: str, *, after: int, source: str, rolled_back: set[str], settings: Settings
) -> list[tuple[int, str]]:
    """Tagged commits of ``table`` after version ``after`` by batches of ``source`` outside ``rolled_back``."""
    return [
        (v, batch)
        for v, batch, op in io.batch_versions(spark, table, settings=settings)
        if v > after and batch not in rolled_back and batch.startswith(f"{source}-")
    ]


def _since(batches: set[str]) -> dt.date | None:
    days = [dt.date.fromisoformat(m.group(1)) for b in batches if (m := _ISO_DAY.search(b))]
    return min(days) if days else None


def _with_declared_columns(frame: DataFrame, table: str) -> DataFrame:
    """``frame`` (an older version of ``table``) with the columns declared since as nulls."""
    spec = get(table)
    return frame.select(
        *[
            F.col(f.name) if f.name in frame.columns else F.lit(None).cast(f.dataType).alias(f.name)
            for f in spec.schema.fields
        ]
    )


def restore_to_batch(spark: SparkSession, batch_id: str, *, settings: Settings, force: bool = False) -> dict[str, Any]:
    """Roll bronze, silver, quarantine and the manifest of ``batch_id``'s source back to before it.

    See the module docstring for what "before" means per table and why the shared tables are
    rolled back by their source's slice.

    Returns:
        ``batch_id``, ``source``, ``rolled_back`` (the batches of R, sorted), ``tables``: one dict
        per table changed (``Restored``: table, action, from_version, to_version, new_version),
        and ``derived_checks`` (the recomputed gap counts).

    Raises:
        ValueError: no table holds a commit or a row of the batch.
        RestoreRefusedError: without ``force``, when later batches of the source would be rolled
            back too (naming the table and the batch), or when a batch of the source outside R
            committed to a table after the restore point.
    """
    source = source_of(batch_id)
    bronze, silver = f"bronze_{source}", source
    start = _first_version(spark, bronze, {batch_id}, "_batch_id", settings=settings)
    if start is None:
        raise ValueError(f"batch {batch_id}: table {bronze} holds no commit or row of it; nothing to restore")
    now = _batches(io.read(spark, bronze, settings=settings), "_batch_id")
    before = _batches(io.read(spark, bronze, version=start - 1, settings=settings), "_batch_id") if start else set()
    rolled_back = (now - before) | {batch_id}
    later = sorted(rolled_back - {batch_id})
    if later and not force:
        raise RestoreRefusedError(
            f"restore {source} to before batch {batch_id}: table {bronze} holds later batches of "
            f"{source} that would be rolled back too: {', '.join(later)}; restore to before the first of "
            f"them, or pass --force to roll them back with it"
        )

    points: dict[str, int] = {}
    for table, column in ((bronze, "_batch_id"), (silver, "_batch_id"), (MANIFEST, "batch_id")):
        first = _first_version(spark, table, rolled_back, column, settings=settings)
        if first is None:
            continue
        points[table] = first - 1
        outside = _later_commits(
            spark, table, after=first - 1, source=source, rolled_back=rolled_back, settings=settings
        )
        if outside and not force:
            version, other = outside[0]
            raise RestoreRefusedError(
                f"restore {source} to before batch {batch_id}: table {table} has a commit of batch {other} "
                f"(version {version}) after the restore point, which the restore would roll back; pass "
                f"--force to restore anyway"
            )

    restored: list[Restored] = []
    for table in (bronze, silver):
        if table not in points:
            continue
        latest = io.version(spark, table, settings=settings)
        if points[table] < 0:
            # the batch's rows are in the table's first version (written before tables were
            # created empty): before it, the table held nothing
            DeltaTable.forPath(spark, io.table_path(table, settings=settings)).delete()
            restored.append(
                Restored(table, "DELETE all rows", latest, None, io.version(spark, table, settings=settings))
            )
            continue
        io.restore(spark, table, points[table], settings=settings)
        restored.append(Restored(table, "RESTORE", latest, points[table], io.version(spark, table, settings=settings)))
    if io.exists(spark, QUARANTINE, settings=settings):
        of_source = (F.col("table_name") == F.lit(source)) & F.col("batch_id").isin(sorted(rolled_back))
        if not io.read(spark, QUARANTINE, settings=settings).where(of_source).isEmpty():
            latest = io.version(spark, QUARANTINE, settings=settings)
            DeltaTable.forPath(spark, io.table_path(QUARANTINE, settings=settings)).delete(of_source)
            restored.append(
                Restored(
                    QUARANTINE,
                    f"DELETE rows of {source} of the rolled-back batches",
                    latest,
                    None,
                    io.version(spark, QUARANTINE, settings=settings),
                )
            )
    if MANIFEST in points:
        latest = io.version(spark, MANIFEST, settings=settings)
        if points[MANIFEST] < 0:
            rows = get(MANIFEST).rows_to_df(spark, [])
        else:
            earlier = io.read(spark, MANIFEST, version=points[MANIFEST], settings=settings)
            rows = _with_declared_columns(earlier.where(F.col("source") == F.lit(source)), MANIFEST)
        io.replace_where(rows, MANIFEST, f"source = '{source}'", settings=settings)
        restored.append(
            Restored(
                MANIFEST,
                f"rows of {source} replaced by their version {points[MANIFEST]}",
                latest,
                points[MANIFEST],
                io.version(spark, MANIFEST, settings=settings),
            )
        )

    from jobs.ingest.run import derived_checks

    since = _since(rolled_back)
    checks = derived_checks(spark, source, since=since, settings=settings) if since else {}
    for item in restored:
        log.info(
            "restore %s: %s, version %s -> %s (content of %s)",
            item.table,
            item.action,
            item.from_version,
            item.new_version,
            item.to_version,
        )
    return {
        "batch_id": batch_id,
        "source": source,
        "rolled_back": sorted(rolled_back),
        "tables": [asdict(item) for item in restored],
        "derived_checks": checks,
    }
