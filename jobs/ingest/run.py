"""Ingestion runner: one source, one Airflow data interval → bronze, quarantine, silver.

``run_source`` is what the ingestion DAGs call. For a data interval it
selects the landed files (or API pages, or JDBC increments) of that interval,
skips files the manifest already marks as done, checks every file before
writing anything, appends the rows to bronze as received, validates the typed
rows with the table's Great Expectations suite, quarantines every failing row
with the rules it broke, MERGEs the rest into silver and recomputes the feed's gap checks
(also when nothing was new, see ``derived_checks``). Every step is
idempotent, so a rerun of an interval converges to the same tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from jobs.ingest.batch import BatchInput, ingest_batch
from jobs.ingest.bronze import MalformedFileError, precheck, read_parquet_feed, read_text_feed
from jobs.ingest.connectors import files as landed_files
from riskpipe.core.config import Settings
from schemas.feeds import SourceDef, get_source

log = logging.getLogger(__name__)


def as_date(value: str | dt.date | dt.datetime) -> dt.date:
    """A date from an Airflow logical date, a datetime or ``YYYY-MM-DD`` text."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _interval_globs(source: SourceDef, start: dt.date, end: dt.date) -> list[str]:
    """Glob patterns of the files whose nominal date falls in ``[start, end)``.

    A ``by_delivery`` feed is globbed whole (a file per month or year): which of its files were
    delivered in the interval is decided from each name by :func:`select_files`.
    """
    folder, name = source.pattern.rsplit("/", 1)
    stem = name.split("_(")[0].split("(")[0]
    if source.file_date is None:
        return [f"{folder}/*"]
    if source.by_delivery:
        return [f"{folder}/{stem}_*"]
    if r"(\d{8})" in source.pattern:
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        return [f"{folder}/{stem}_{d:%Y%m%d}*" for d in days]
    if r"(\d{6})" in source.pattern:
        months = sorted(
            {dt.date(d.year, d.month, 1) for d in (start + dt.timedelta(days=i) for i in range((end - start).days))}
        )
        return [f"{folder}/{stem}_{m:%Y%m}*" for m in months]
    years = sorted({y for y in range(start.year, end.year + 1)})
    return [f"{folder}/{stem}_{y}*" for y in years]


def select_files(source: SourceDef, landing_root: str, start: dt.date, end: dt.date) -> list:
    """Landed files of ``source`` whose nominal date is in the interval (all, if undated)."""
    root = Path(landing_root)
    if not root.is_dir():
        raise FileNotFoundError(f"landing folder does not exist: {root}")
    chosen = {}
    for pattern in _interval_globs(source, start, end):
        for landed in landed_files.discover(root, pattern, root=root):
            found = source.match(landed.rel_path)
            if found is None:
                continue
            nominal = source.file_date(found.group(1)) if source.file_date else None
            if nominal is None or start <= _nominal_in(source, nominal) < end:
                chosen[landed.rel_path] = landed
    return [chosen[k] for k in sorted(chosen)]


def _nominal_in(source: SourceDef, nominal: dt.date) -> dt.date:
    # Files named by the period they cover (yearly ratings, monthly fund statements) belong to the
    # interval containing their delivery date.
    return source.available(nominal) if source.by_delivery else nominal


def nominal_month(source: SourceDef, rel_path: str) -> dt.date:
    """First day of the month whose interval selects the landed file ``rel_path`` of a dated feed."""
    found = source.match(rel_path)
    if found is None or source.file_date is None:
        raise ValueError(f"{rel_path} is not a dated file of {source.name} (pattern {source.pattern})")
    day = _nominal_in(source, source.file_date(found.group(1)))
    return dt.date(day.year, day.month, 1)


def landed_on(landed: landed_files.LandedFile) -> dt.date:
    """UTC day the file's content was written to the landing area (its modification time)."""
    return dt.datetime.fromtimestamp(landed.path.stat().st_mtime, tz=dt.UTC).date()


def delivery_dates(source: SourceDef, plan: landed_files.Plan, *, start: dt.date) -> dict[str, dt.date]:
    """Delivery date of each file to process: the ``known_from`` of its rows.

    A first delivery is dated by its name (``source.delivery_date``, else ``start``). A changed
    file reprocessed under an old name is a later delivery: it is dated the day it landed, and at
    least one day per earlier content after the name's date, so its rows become new versions that
    follow the earlier contents' versions instead of replacing them.
    """
    dates = {}
    for landed in plan.to_process:
        named = source.delivery_date(landed.rel_path) or start
        earlier = plan.earlier_versions.get(landed.rel_path, 0)
        dates[landed.rel_path] = max(named + dt.timedelta(days=earlier), landed_on(landed)) if earlier else named
    return dates


def _read_files(spark: SparkSession, source: SourceDef, files: list, extras: list[str]) -> DataFrame:
    paths = [str(f.path) for f in files]
    if source.fmt == "parquet":
        return read_parquet_feed(spark, source, paths, extras)
    return read_text_feed(spark, source, paths, extras)


def run_files(
    spark: SparkSession, source: SourceDef, *, start: dt.date, end: dt.date, settings: Settings
) -> dict[str, Any]:
    """Ingest the landed files of one interval (CSV, JSON Lines, Parquet feeds)."""
    cfg = settings.ingestion
    files = select_files(source, settings.landing_root, start, end)
    log.info("%s %s..%s: %d files landed", source.name, start, end, len(files))
    plan = landed_files.plan(spark, source.name, files, on_changed=cfg.on_changed_file, settings=settings)
    summary: dict[str, Any] = {
        "source": source.name,
        "interval": [str(start), str(end)],
        "files_skipped": [f.rel_path for f in plan.already_done],
    }
    if not plan.to_process:
        log.info(
            "%s %s..%s: nothing new to ingest (%d files already done)", source.name, start, end, len(plan.already_done)
        )
        return {**summary, "files": [], "batch_id": None}
    batch_id = landed_files.batch_id_for(source.name, str(start), plan.to_process)
    try:
        extras = precheck(source, [f.path for f in plan.to_process], on_new_column=cfg.on_new_column)
    except MalformedFileError:
        log.error("%s: batch %s rejected before any write", source.name, batch_id)
        raise
    log.info("%s: %d files to process, prechecked", source.name, len(plan.to_process))
    raw = _read_files(spark, source, plan.to_process, extras)
    file_dates = delivery_dates(source, plan, start=start)
    batch = BatchInput(
        source=source,
        batch_id=batch_id,
        raw=raw,
        file_dates=file_dates,
        logical_date=end - dt.timedelta(days=1),
        extra_columns=tuple(extras),
        files=tuple(plan.to_process),
    )
    result = ingest_batch(spark, batch, settings=settings)
    return {**summary, **result, "files": [f.rel_path for f in plan.to_process]}


def derived_checks(spark: SparkSession, source: str, *, since: dt.date, settings: Settings) -> dict[str, int]:
    """Recompute the completeness checks derived from a feed's tables, whatever the run ingested.

    The checks run on every run of an interval, also when every file is already done and no
    batch was written. The manifest marks a batch's files done inside ``ingest_batch``, before
    these checks: a run killed between the two (or a check that failed) leaves published data
    whose gaps were never recorded, and a rerun, finding every file done, must still record
    them. Recomputing is safe because each check replaces its whole scope (``replace_where``
    on the feed's rows of ``data_gaps``, on the feed's rows from the recheck date on of
    ``continuity_gaps``) with a result computed from the tables alone, so running it again
    gives the same rows (``detected_at`` aside, the time of the latest computation). Marking
    files done only after the checks would instead put the checks inside the batch's commit
    protocol, and a failing check would then re-ingest files whose rows are already published.
    The price is one check per no-op rerun.

    Returns:
        ``{"gaps": n}`` for the monthly feeds (``jobs/ingest/gaps.py``, ``data_gaps``),
        ``{"continuity_gaps": n}`` for transactions and court events (``jobs/ingest/continuity.py``),
        the feed's gap count after the check; ``{}`` for other feeds and for a feed whose input
        table does not exist yet (nothing was ever ingested, so nothing to check).
    """
    from jobs.ingest import continuity, gaps
    from riskpipe.core import io

    if source in gaps.MONTHLY_FEEDS and io.exists(spark, source, settings=settings):
        return {"gaps": gaps.main(source, settings=settings, spark=spark)}
    # Daily and event feeds have no expected periods to enumerate; their chains show missing rows.
    if source in continuity.CHECKED_FEEDS and io.exists(spark, f"bronze_{source}", settings=settings):
        return {"continuity_gaps": continuity.main(source, since=since, settings=settings, spark=spark)}
    return {}


def run_source(
    source: str,
    *,
    data_interval_start: str | dt.date,
    data_interval_end: str | dt.date,
    settings: Settings,
    spark: SparkSession,
    mode: str = "files",
) -> dict[str, Any]:
    """Ingest one source for the data interval ``[start, end)``.

    Args:
        source: enterprises, tax_filings, tax_ratings, utility_reads, court_events,
            transactions, loans, loan_balances or fund_statements.
        data_interval_start: Airflow ``data_interval_start`` (inclusive).
        data_interval_end: Airflow ``data_interval_end`` (exclusive).
        mode: ``files`` (landed drops, the API for court events) or ``jdbc``
            (loans, loan_balances and transactions from the core banking database).

    Returns:
        Summary: batch id, files, rows read / published / quarantined / duplicate, and the
        gaps recorded by the feed's completeness rule (``gaps`` for the monthly feeds, see
        ``jobs/ingest/gaps.py``; ``continuity_gaps`` for transactions and court events, see
        ``jobs/ingest/continuity.py``), recomputed on every run, also one that found nothing new
        (``derived_checks``).

    Raises:
        MalformedFileError: a file cannot be read; nothing was written.
        BatchRejectedError: too many rows failed validation; silver unchanged.
    """
    src = get_source(source)
    start, end = as_date(data_interval_start), as_date(data_interval_end)
    if end <= start:
        raise ValueError(f"empty data interval {start}..{end}")
    if mode == "jdbc":
        from jobs.ingest.core_banking import run_jdbc

        result = run_jdbc(spark, src, start=start, end=end, settings=settings)
    elif src.fmt == "rest":
        from jobs.ingest.court_api import run_court_api

        result = run_court_api(spark, src, start=start, end=end, settings=settings)
    else:
        result = run_files(spark, src, start=start, end=end, settings=settings)
    return {**result, **derived_checks(spark, src.name, since=start, settings=settings)}
