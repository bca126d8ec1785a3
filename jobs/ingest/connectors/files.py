"""File-drop discovery and exactly-once tracking in the ``ingest_manifest`` Delta table.

A landed file is identified by ``(source, path, checksum)``: the same name with the same
content is processed once; the same name with new content is a *changed file* (a source
re-delivering under an old name), which fails loudly or is reprocessed by configuration
(``ingestion.on_changed_file``). Files whose last attempt failed or never finished are retried.

Typical use in a job's ``main``::

    files = discover(landing / "tax/filings", "tax_filings_*.csv", root=landing)
    todo = plan(spark, "tax_filings", files, on_changed=cfg["on_changed_file"], settings=settings).to_process
    batch = batch_id_for("tax_filings", logical_date, todo)
    record(spark, "tax_filings", todo, batch_id=batch, status="started", logical_date=logical_date, settings=settings)
    ...  # read, validate, publish
    record(spark, "tax_filings", todo, batch_id=batch, status="succeeded", ..., counts=counts, settings=settings)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from riskpipe.core import io
from riskpipe.core.config import Settings
from schemas.ops import INGEST_MANIFEST, MANIFEST_STATUSES

ON_CHANGED = ("fail", "reprocess")
COUNT_COLUMNS = ("rows_read", "rows_published", "rows_inserted", "rows_updated", "rows_quarantined", "rows_duplicate")
_CHUNK = 1 << 20


class ChangedFileError(RuntimeError):
    """A file already ingested under the same name arrived with different content."""


@dataclass(frozen=True)
class LandedFile:
    """A file found in the landing area.

    Attributes:
        path: absolute path.
        rel_path: POSIX path relative to the landing root (the manifest's ``path``).
        size: bytes.
        checksum: SHA-256 hex digest of the content.
    """

    path: Path
    rel_path: str
    size: int
    checksum: str


@dataclass(frozen=True)
class Plan:
    """What to do with the discovered files.

    Attributes:
        to_process: new files, retried files and (with ``reprocess``) changed files.
        already_done: files whose ``(path, checksum)`` already succeeded.
        changed: ``(file, previous_checksum)`` for files changed under an old name.
        earlier_versions: per changed file's path, how many earlier contents of it were
            ingested (succeeded, then superseded): each content is a later delivery.
    """

    to_process: list[LandedFile] = field(default_factory=list)
    already_done: list[LandedFile] = field(default_factory=list)
    changed: list[tuple[LandedFile, str]] = field(default_factory=list)
    earlier_versions: dict[str, int] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in chunks so large files never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_hidden(rel: Path) -> bool:
    # Dot/underscore names are in-flight uploads or markers (_SUCCESS), not data.
    return any(part.startswith((".", "_")) for part in rel.parts)


def discover(landing_dir: str | Path, pattern: str, *, root: str | Path) -> list[LandedFile]:
    """Files under ``landing_dir`` matching the glob ``pattern``, sorted by relative path.

    Args:
        landing_dir: folder to search (``pattern`` may contain ``**``).
        pattern: glob relative to ``landing_dir``, e.g. ``tax_filings_*.csv``.
        root: landing root that ``rel_path`` is relative to (``settings.landing_root``, or
            ``landing_dir`` itself); ``landing_dir`` lies inside it.

    Raises:
        FileNotFoundError: ``landing_dir`` does not exist.
        ValueError: ``landing_dir`` is not inside ``root``.
    """
    landing_dir = Path(landing_dir).resolve()
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder does not exist: {landing_dir}")
    root = Path(root).resolve()
    if not landing_dir.is_relative_to(root):
        raise ValueError(f"landing folder {landing_dir} is not inside the landing root {root}")
    found = []
    for path in landing_dir.glob(pattern):
        if not path.is_file() or _is_hidden(path.relative_to(landing_dir)):
            continue
        found.append(
            LandedFile(
                path=path,
                rel_path=path.relative_to(root).as_posix(),
                size=path.stat().st_size,
                checksum=sha256_file(path),
            )
        )
    return sorted(found, key=lambda f: f.rel_path)


def _manifest_rows(spark: SparkSession, source: str, settings: Settings) -> list[dict]:
    # The manifest holds one row per file version: small enough to collect.
    df = io.read(spark, INGEST_MANIFEST, settings=settings).where(F.col("source") == F.lit(source))
    return [row.asDict() for row in df.collect()]


def plan(
    spark: SparkSession, source: str, files: Sequence[LandedFile], *, on_changed: str = "fail", settings: Settings
) -> Plan:
    """Split ``files`` into to-process / already-done / changed using the manifest.

    Raises:
        ChangedFileError: with ``on_changed="fail"``, naming every changed file and both
            checksums; nothing is planned in that case.
        ValueError: unknown ``on_changed``.
    """
    if on_changed not in ON_CHANGED:
        raise ValueError(f"on_changed must be one of {ON_CHANGED}, got {on_changed!r}")
    succeeded: dict[str, set[str]] = {}
    ingested: dict[str, set[str]] = {}
    for row in _manifest_rows(spark, source, settings):
        if row["status"] == "succeeded":
            succeeded.setdefault(row["path"], set()).add(row["checksum"])
        if row["status"] in ("succeeded", "superseded"):
            ingested.setdefault(row["path"], set()).add(row["checksum"])
    result = Plan()
    for landed in files:
        done = succeeded.get(landed.rel_path, set())
        if landed.checksum in done:
            result.already_done.append(landed)
            continue
        if done:
            result.changed.append((landed, sorted(done)[0]))
            result.earlier_versions[landed.rel_path] = len(ingested[landed.rel_path] - {landed.checksum})
        result.to_process.append(landed)
    if result.changed and on_changed == "fail":
        detail = "; ".join(f"{f.rel_path}: ingested checksum {old}, now {f.checksum}" for f, old in result.changed)
        raise ChangedFileError(
            f"source {source}: {len(result.changed)} file(s) changed under an already ingested "
            f"name ({detail}). Set ingestion.on_changed_file=reprocess to ingest the new content."
        )
    return result


def batch_id_for(source: str, logical_date: str, files: Iterable[LandedFile]) -> str:
    """Deterministic batch id: the same source, interval, file names and contents give the same id.

    The name is part of the identity: the same bytes delivered again under a new name (a
    ``_redelivery`` file) get a batch of their own, so bronze and the manifest record which
    name delivered them, and silver finds the rows already published by the earlier batch
    (duplicates, not rows published twice by one batch).

    Args:
        files: landed files (order does not matter).
    """
    identities = sorted(f"{f.rel_path}\t{f.checksum}" for f in files)
    digest = hashlib.sha256("\n".join([source, str(logical_date), *identities]).encode()).hexdigest()
    return f"{source}-{str(logical_date)[:10]}-{digest[:16]}"


def _superseded(existing: list[dict], entries: Sequence[LandedFile], now: datetime) -> list[dict]:
    """Old succeeded versions of the paths in ``entries``, re-marked as superseded."""
    new = {(f.rel_path, f.checksum) for f in entries}
    paths = {f.rel_path for f in entries}
    return [
        {**row, "status": "superseded", "finished_at": row["finished_at"] or now}
        for row in existing
        if row["status"] == "succeeded" and row["path"] in paths and (row["path"], row["checksum"]) not in new
    ]


def record(
    spark: SparkSession,
    source: str,
    entries: Sequence[LandedFile],
    *,
    batch_id: str,
    status: str,
    logical_date: str,
    counts: Mapping[str, Mapping[str, int]] | None = None,
    error: str | None = None,
    now: datetime | None = None,
    settings: Settings,
) -> None:
    """Upsert manifest rows for ``entries`` in one Delta commit.

    ``started`` sets ``started_at``; any other status sets ``finished_at`` and keeps the
    ``started_at`` of the earlier ``started`` row. Recording ``succeeded`` marks earlier
    succeeded versions of the same paths (changed files) ``superseded``.

    Args:
        counts: per ``rel_path``, any of ``COUNT_COLUMNS`` (``rows_read``, ``rows_published``
            and its parts ``rows_inserted``/``rows_updated``,
            ``rows_quarantined``, ``rows_duplicate``).
        error: message for failed/rejected files (never secrets).
        now: processing timestamp (operational only), default the current UTC time.
    """
    if status not in MANIFEST_STATUSES:
        raise ValueError(f"status must be one of {MANIFEST_STATUSES}, got {status!r}")
    if not entries:
        return
    now = now or datetime.now(UTC)
    # Only a finishing status needs the earlier rows (start time, versions to supersede).
    existing = [] if status == "started" else _manifest_rows(spark, source, settings)
    started = {(r["path"], r["checksum"]): r["started_at"] for r in existing}
    rows = []
    for landed in entries:
        file_counts = dict((counts or {}).get(landed.rel_path, {}))
        unknown = set(file_counts) - set(COUNT_COLUMNS)
        if unknown:
            raise ValueError(f"{landed.rel_path}: unknown count columns {sorted(unknown)}")
        rows.append(
            {
                "source": source,
                "path": landed.rel_path,
                "size_bytes": landed.size,
                "checksum": landed.checksum,
                "batch_id": batch_id,
                "status": status,
                **{c: file_counts.get(c) for c in COUNT_COLUMNS},
                "error": error,
                "logical_date": str(logical_date),
                "started_at": now if status == "started" else started.get((landed.rel_path, landed.checksum)) or now,
                "finished_at": None if status == "started" else now,
            }
        )
    if status == "succeeded":
        rows.extend(_superseded(existing, entries, now))
    # a manifest created before a count column was declared gains it here
    io.merge_upsert(
        INGEST_MANIFEST.rows_to_df(spark, rows),
        INGEST_MANIFEST,
        settings=settings,
        update_when_changed=None,
        evolve_schema=True,
    )


def manifest(spark: SparkSession, source: str | None = None, *, settings: Settings):
    """The manifest as a DataFrame (optionally one source), for reports and tests."""
    df = io.read(spark, INGEST_MANIFEST, settings=settings)
    return df if source is None else df.where(F.col("source") == F.lit(source))
