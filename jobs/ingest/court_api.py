"""Ingest the court REST API for one data interval (events published in the interval).

All pages are fetched before anything is written, so an API that fails or
returns garbage mid-way leaves every table unchanged.

An event is delivered on the day it was published (``SourceDef.available`` of its
``published_date``), whatever the length of the interval fetched: the daily schedule fetches one
day's events on that day, and a backfill of years in one request must give silver the same
``known_from``, or point-in-time features would see none of the history before the day of the
backfill. A page's rows are therefore grouped by publication day, each group a delivery unit of
its own (``_source_file`` = ``court-api/<interval>/page-<n>/<YYYYMMDD>``). A row without a
readable publication date (quarantined by validation) is delivered at the interval's end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import LongType, StringType, StructField, StructType

from jobs.ingest.batch import BatchInput, ingest_batch
from jobs.ingest.bronze import CORRUPT, MalformedFileError
from jobs.ingest.connectors.rest import fetch_court_events
from riskpipe.core.config import Settings
from schemas.feeds import SourceDef

PUBLISHED = "published_date"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def pages_to_rows(pages: list, source: SourceDef, label: str, *, on_new_column: str) -> tuple[list[tuple], list[str]]:
    """Flatten API pages into bronze-shaped tuples (payload as text, file label, row).

    Raises:
        MalformedFileError: a record is not an object, or brings new fields while
            ``on_new_column`` is ``reject``.
    """
    expected = list(source.columns)
    extras: list[str] = []
    for page in pages:
        for record in page.records:
            if not isinstance(record, dict):
                raise MalformedFileError(f"{page.url}: record is not a JSON object: {str(record)[:200]}")
            extras += [k for k in record if k not in expected and k not in extras]
    if extras and on_new_column != "evolve":
        raise MalformedFileError(f"court API: new fields {extras} (ingestion.on_new_column=reject)")
    rows = []
    for page in pages:
        for index, record in enumerate(page.records, start=1):
            where = delivery_unit(label, page.number, published_day(record.get(PUBLISHED)))
            rows.append(tuple(_text(record.get(c)) for c in (*expected, *extras)) + (None, where, index))
    return rows, extras


def published_day(value: Any) -> dt.date | None:
    """The publication day of a record (``YYYY-MM-DD``, a time part ignored), None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def delivery_unit(label: str, page: int, published: dt.date | None) -> str:
    """``_source_file`` of a record: its page, and its publication day when it has one."""
    unit = f"court-api/{label}/page-{page:05d}"
    return f"{unit}/{published:%Y%m%d}" if published is not None else unit


def delivery_dates(rows: list[tuple], source: SourceDef, *, last: dt.date) -> dict[str, dt.date]:
    """Delivery day of each delivery unit of ``rows``: the source's availability of the publication
    day, never after the interval's last day (an API answering beyond ``published_to`` is held to it)."""
    dates: dict[str, dt.date] = {}
    for row in rows:
        unit = row[-2]
        if unit not in dates:
            day = unit.rsplit("/", 1)[1]  # the last part of delivery_unit: the day, or the page without one
            published = last if day.startswith("page-") else dt.datetime.strptime(day, "%Y%m%d").date()
            dates[unit] = source.available(min(published, last))
    return dates


def run_court_api(
    spark: SparkSession, source: SourceDef, *, start: dt.date, end: dt.date, settings: Settings
) -> dict[str, Any]:
    """Fetch events published in ``[start, end)`` and ingest them as one batch, each event delivered on
    its publication day (module docstring)."""
    last = end - dt.timedelta(days=1)
    pages = list(fetch_court_events(settings, published_from=start, published_to=last))
    label = f"{start:%Y%m%d}-{last:%Y%m%d}"
    rows, extras = pages_to_rows(pages, source, label, on_new_column=settings.ingestion.on_new_column)
    summary = {"source": source.name, "interval": [str(start), str(end)], "pages": len(pages)}
    if not rows:
        return {**summary, "batch_id": None, "rows_read": 0}
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]
    schema = StructType(
        [StructField(c, StringType()) for c in (*source.columns, *extras)]
        + [
            StructField(CORRUPT, StringType()),
            StructField("_source_file", StringType()),
            StructField("_source_row", LongType()),
        ]
    )
    raw_df: DataFrame = spark.createDataFrame(rows, schema=schema)
    file_dates = delivery_dates(rows, source, last=last)
    batch = BatchInput(
        source=source,
        batch_id=f"{source.name}-{start}-{digest}",
        raw=raw_df,
        file_dates=file_dates,
        logical_date=last,
        extra_columns=tuple(extras),
    )
    return {**summary, **ingest_batch(spark, batch, settings=settings)}
