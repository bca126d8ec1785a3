"""The court API's delivery units: an event is delivered on its publication day, whatever the interval fetched."""

from __future__ import annotations

import datetime as dt

from jobs.ingest.connectors.rest import Page
from jobs.ingest.court_api import delivery_dates, pages_to_rows, published_day
from schemas.feeds import get_source

COURT = get_source("court_events")


def _page(number: int, *published: str | None) -> Page:
    records = [{"event_id": f"E{number}{i}", "published_date": day} for i, day in enumerate(published)]
    return Page(number=number, url=f"http://court.test/api?page={number}", records=records)


def test_a_page_is_split_by_publication_day_and_each_day_delivered_on_that_day():
    pages = [_page(1, "2019-01-03", "2019-01-03", "2019-02-10"), _page(2, "2019-02-10", "2019-06-30")]
    rows, extras = pages_to_rows(pages, COURT, "20190101-20191231", on_new_column="reject")
    assert extras == []
    units = [(row[-2], row[-1]) for row in rows]
    assert units == [
        ("court-api/20190101-20191231/page-00001/20190103", 1),
        ("court-api/20190101-20191231/page-00001/20190103", 2),
        ("court-api/20190101-20191231/page-00001/20190210", 3),
        ("court-api/20190101-20191231/page-00002/20190210", 1),
        ("court-api/20190101-20191231/page-00002/20190630", 2),
    ]
    assert delivery_dates(rows, COURT, last=dt.date(2019, 12, 31)) == {
        "court-api/20190101-20191231/page-00001/20190103": dt.date(2019, 1, 3),
        "court-api/20190101-20191231/page-00001/20190210": dt.date(2019, 2, 10),
        "court-api/20190101-20191231/page-00002/20190210": dt.date(2019, 2, 10),
        "court-api/20190101-20191231/page-00002/20190630": dt.date(2019, 6, 30),
    }


def test_one_long_fetch_delivers_as_the_daily_schedule_does():
    days = ["2019-03-01", "2019-03-02", "2019-07-15"]
    backfill, _ = pages_to_rows([_page(1, *days)], COURT, "20190101-20191231", on_new_column="reject")
    long_fetch = sorted(delivery_dates(backfill, COURT, last=dt.date(2019, 12, 31)).values())
    daily = []
    for day in days:
        one = dt.date.fromisoformat(day)
        rows, _ = pages_to_rows([_page(1, day)], COURT, f"{one:%Y%m%d}-{one:%Y%m%d}", on_new_column="reject")
        daily += delivery_dates(rows, COURT, last=one).values()
    assert long_fetch == sorted(daily) == [dt.date(2019, 3, 1), dt.date(2019, 3, 2), dt.date(2019, 7, 15)]


def test_an_unreadable_or_late_publication_day_is_delivered_at_the_interval_end():
    rows, _ = pages_to_rows(
        [_page(3, None, "not a date", "2020-05-01")], COURT, "20190101-20191231", on_new_column="reject"
    )
    assert [row[-2] for row in rows] == [
        "court-api/20190101-20191231/page-00003",
        "court-api/20190101-20191231/page-00003",
        "court-api/20190101-20191231/page-00003/20200501",
    ]
    assert delivery_dates(rows, COURT, last=dt.date(2019, 12, 31)) == {
        "court-api/20190101-20191231/page-00003": dt.date(2019, 12, 31),
        "court-api/20190101-20191231/page-00003/20200501": dt.date(2019, 12, 31),
    }


def test_published_day_reads_iso_dates_and_timestamps_only():
    assert published_day("2019-03-01") == dt.date(2019, 3, 1)
    assert published_day(" 2019-03-01T10:00:00 ") == dt.date(2019, 3, 1)
    assert published_day("03/01/2019") is None
    assert published_day(20190301) is None
    assert published_day(None) is None
