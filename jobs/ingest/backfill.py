"""Backfill a long data interval as consecutive batches of bounded size, oldest first.

One batch holds every row of its interval in memory and on local disk several times over
(bronze, typed candidates, the validation frame, the rows classified for the silver MERGE),
so a first load of three years of bank transactions in one batch needs several times the
data's size: 23.5M transactions (10,000 enterprises × 36 months) ran a 6 GB driver out of
heap. The backfill therefore splits the window at month starts so that no batch reads more
than ``ingestion.backfill_max_batch_bytes`` of landed files, which is what an Airflow backfill
of the monthly ingestion DAG would do, with fewer, larger batches when the data is small.
Every batch is an ordinary ``run_source`` interval, so the tables end up the same as with one
batch (silver history is rebuilt per entity whatever the delivery order; gaps and continuity
checks run after each batch and read everything published so far).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyspark.sql import SparkSession

from riskpipe.core.config import Settings
from schemas.feeds import next_month

log = logging.getLogger(__name__)


def max_batch_bytes(settings: Settings) -> int:
    """``ingestion.backfill_max_batch_bytes`` (landed bytes per backfill batch)."""
    return settings.ingestion.backfill_max_batch_bytes


def _month_start(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, 1)


def plan_intervals(
    bytes_by_month: Mapping[dt.date, int], start: dt.date, end: dt.date, max_bytes: int
) -> list[tuple[dt.date, dt.date]]:
    """Split ``[start, end)`` at month starts into intervals of at most ``max_bytes`` each.

    Consecutive months are packed greedily, oldest first; a single month larger than
    ``max_bytes`` is an interval of its own (intervals never split a month). Months without
    files join the interval being filled.

    Args:
        bytes_by_month: landed bytes per month (first day of the month) of the files in the window.
        start: first day of the window (inclusive; need not be a month start).
        end: first day after the window.
        max_bytes: the most landed bytes one interval may read (must be positive).

    Returns:
        Consecutive ``(start, end)`` pairs covering ``[start, end)`` exactly.
    """
    if max_bytes <= 0:
        raise ValueError(f"backfill_max_batch_bytes must be positive, got {max_bytes}")
    if end <= start:
        raise ValueError(f"empty data interval {start}..{end}")
    intervals, first, filled = [], start, 0
    month = _month_start(start)
    while month < end:
        size = int(bytes_by_month.get(month, 0))
        cut = max(month, start)
        if filled and filled + size > max_bytes:
            intervals.append((first, cut))
            first, filled = cut, 0
        filled += size
        month = next_month(month)
    intervals.append((first, end))
    return intervals


def backfill_intervals(
    source: str, start: dt.date, end: dt.date, *, settings: Settings
) -> list[tuple[dt.date, dt.date]]:
    """Intervals to backfill ``source`` over ``[start, end)``, from the sizes of its landed files.

    API and undated feeds are one interval: their size is not known before reading them.
    """
    from jobs.ingest.run import nominal_month, select_files
    from schemas.feeds import get_source

    src = get_source(source)
    if src.fmt == "rest" or src.file_date is None:
        return [(start, end)]
    sizes: dict[dt.date, int] = defaultdict(int)
    for landed in select_files(src, settings.landing_root, start, end):
        sizes[nominal_month(src, landed.rel_path)] += landed.size
    return plan_intervals(sizes, start, end, max_batch_bytes(settings))


def run_backfill(
    source: str,
    *,
    start: str | dt.date,
    end: str | dt.date,
    settings: Settings,
    spark: SparkSession,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[list[tuple[dt.date, dt.date]]], Iterable[tuple[dt.date, dt.date]]] | None = None,
) -> list[dict[str, Any]]:
    """Ingest ``source`` over ``[start, end)`` as the batches of :func:`backfill_intervals`.

    Args:
        source: a source name of ``schemas.feeds``.
        start / end: the window (``YYYY-MM-DD`` or dates; end exclusive).
        on_batch: called with each batch's summary as soon as it is done.
        progress: wraps the list of batch intervals for iteration (a progress bar, e.g. ``tqdm``).

    Returns:
        The ``run_source`` summary of every batch, oldest first. A failing batch raises, and
        the batches before it stay published (rerunning the backfill skips their files).
    """
    from jobs.ingest.run import as_date, run_source

    intervals = backfill_intervals(source, as_date(start), as_date(end), settings=settings)
    if len(intervals) > 1:
        log.info(
            "%s %s..%s: backfilled in %d batches of at most %d landed bytes",
            source,
            start,
            end,
            len(intervals),
            max_batch_bytes(settings),
        )
    summaries = []
    for first, last in progress(intervals) if progress is not None else intervals:
        summary = run_source(source, data_interval_start=first, data_interval_end=last, settings=settings, spark=spark)
        summaries.append(summary)
        if on_batch is not None:
            on_batch(summary)
    return summaries
