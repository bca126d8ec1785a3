"""Silver write layout: a partitioned silver table is written as files of one key range each."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.ingest.batch import _publish, silver_rows_per_file
from riskpipe.core import io
from riskpipe.testing.files import moved_away
from schemas.registry import get

ROWS_PER_FILE = 10


def _txn(day: dt.date, n: int) -> dict:
    return {
        "txn_id": f"TX{day:%Y%m%d}{n:04d}",
        "account_id": "A1",
        "uscc": "91350100M000100Y43",
        "txn_ts": dt.datetime(day.year, day.month, day.day, 9),
        "amount": float(n),
        "direction": "C",
        "channel": "pos",
        "balance_after": float(n),
        "txn_date": day,
        "txn_month": f"{day:%Y-%m}",
        "known_from": day + dt.timedelta(days=1),
        "is_current": True,
        "_batch_id": "b",
        "_record_hash": f"h{day}{n}",
    }


def _month(year: int, month: int, days: int, per_day: int) -> list[dict]:
    return [_txn(dt.date(year, month, d), n) for d in range(1, days + 1) for n in range(per_day)]


def _valid(spark, rows: list[dict], batch_id: str):
    """Batch rows as ``_publish`` gets them: the table's columns plus the row's place in its file."""
    spec = get("transactions")
    frame = spec.rows_to_df(spark, [{**r, "_batch_id": batch_id} for r in rows])
    return frame.withColumn("_source_file", F.lit(f"{batch_id}.parquet")).withColumn(
        "_source_row", F.monotonically_increasing_id()
    )


def _outcome(published) -> tuple[int, int]:
    """(rows published, duplicates) of a ``_publish`` result."""
    return (published.total("rows_inserted") + published.total("rows_updated"), published.total("rows_duplicate"))


def _files(spark, settings) -> list[dict]:
    """One dict per data file of silver transactions: its month, lowest and highest txn_id, rows."""
    frame = io.read(spark, "transactions", settings=settings)
    per_file = frame.groupBy(F.col("_metadata.file_path").alias("path")).agg(
        F.countDistinct("txn_month").alias("months"),
        F.first("txn_month").alias("month"),
        F.min("txn_id").alias("lo"),
        F.max("txn_id").alias("hi"),
        F.count(F.lit(1)).alias("rows"),
    )
    return sorted((r.asDict() for r in per_file.collect()), key=lambda f: f["lo"])


@pytest.fixture()
def own(settings, tmp_path):
    own = settings.merged({"ingestion": {"silver_rows_per_file": ROWS_PER_FILE}})
    return own.replace(lakehouse_root=str(tmp_path))


def test_rows_per_file_comes_from_the_settings_and_must_be_positive(settings, own):
    assert silver_rows_per_file(own) == ROWS_PER_FILE
    assert silver_rows_per_file(settings) == 1_000_000
    broken = own.merged({"ingestion": {"silver_rows_per_file": 0}})
    with pytest.raises(ValueError, match="silver_rows_per_file"):
        silver_rows_per_file(broken)


def test_each_silver_file_holds_one_month_and_one_range_of_transaction_ids(spark, own):
    january, february = _month(2021, 1, 31, 2), _month(2021, 2, 10, 2)
    assert _outcome(_publish(spark, _valid(spark, january + february, "b1"), "transactions", own, batch_id="b1")) == (
        82,
        0,
    )

    files = _files(spark, own)
    assert all(f["months"] == 1 for f in files)
    assert len(files) >= 82 // ROWS_PER_FILE
    assert max(f["rows"] for f in files) <= 2 * ROWS_PER_FILE
    for month in ("2021-01", "2021-02"):
        ranges = [(f["lo"], f["hi"]) for f in files if f["month"] == month]
        # ranges sorted by their lowest id do not overlap: each id lies in one file's range
        assert all(hi < next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:])), ranges
    expected = get("transactions").rows_to_df(spark, [{**r, "_batch_id": "b1"} for r in january + february])
    assertDataFrameEqual(io.read(spark, "transactions", settings=own), expected)


def test_a_batch_with_late_rows_reads_only_the_files_its_ids_fall_in(spark, own):
    january = _month(2021, 1, 31, 2)
    _publish(spark, _valid(spark, january, "b1"), "transactions", own, batch_id="b1")
    late = [_txn(dt.date(2021, 1, 30), 7)]  # between Jan 30's and Jan 31's ids
    february = _month(2021, 2, 28, 1)
    # January's files wholly before the late row taken away: publishing fails if it reads them
    lowest, files = late[0]["txn_id"], _files(spark, own)
    away = [f["path"] for f in files if f["hi"] < lowest]
    assert len(away) >= 3 and any(f["hi"] >= lowest for f in files)
    with moved_away(away):
        published = _publish(spark, _valid(spark, late + february, "b2"), "transactions", own, batch_id="b2")
    assert _outcome(published) == (29, 0)
    expected = get("transactions").rows_to_df(
        spark, [{**r, "_batch_id": "b1"} for r in january] + [{**r, "_batch_id": "b2"} for r in late + february]
    )
    assertDataFrameEqual(io.read(spark, "transactions", settings=own), expected)
