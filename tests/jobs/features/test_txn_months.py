"""Kept monthly transaction buckets: which months are stale (pure) and the log-only partition diff.

That a late transaction refreshes its months only, and that gold then equals a fresh aggregation,
is checked in ``test_incremental.py`` on the same build.
"""

from __future__ import annotations

import datetime as dt

from jobs.features import txn_months
from riskpipe.core import io
from schemas.registry import TableSpec

d = dt.date


def test_needed_months_are_the_twelve_month_windows():
    assert txn_months.needed_months([d(2021, 6, 30)]) == [
        txn_months.add_months(d(2021, 6, 1), -b) for b in range(11, -1, -1)
    ]
    assert len(txn_months.needed_months([d(2021, 5, 31), d(2021, 6, 30)])) == 13


def test_a_changed_partition_touches_its_month_and_the_next():
    # the last day of May is available on 1 June
    assert txn_months.touched_months(["2021-05"]) == {d(2021, 5, 1), d(2021, 6, 1)}
    assert txn_months.touched_months([]) == set()


def test_stale_months_are_missing_changed_or_newer_than_the_build():
    kept = {d(2021, 1, 1): 3, d(2021, 2, 1): 3, d(2021, 3, 1): 9, d(2021, 4, 1): 5}
    needed = [d(2021, m, 1) for m in range(1, 6)]
    stale = txn_months.stale_months(kept, needed, version=5, changed_since={3: {d(2021, 2, 1)}})
    # Feb changed since 3; Mar was built from a newer silver than 5; May was never built; Apr is current
    assert stale == [d(2021, 2, 1), d(2021, 3, 1), d(2021, 5, 1)]


def test_changed_partitions_reads_only_the_log(spark, settings, tmp_path):
    settings = settings.replace(lakehouse_root=str(tmp_path))
    schema = "id string, txn_month string"
    parts = TableSpec("parts", "silver", spark.createDataFrame([], schema).schema, partition_by=("txn_month",))
    path = io.table_path(parts, settings=settings)
    spark.createDataFrame([("a", "2021-01"), ("b", "2021-02")], schema).write.format("delta").partitionBy(
        "txn_month"
    ).save(path)
    spark.createDataFrame([("c", "2021-02"), ("d", "2021-03")], schema).write.format("delta").mode("append").save(path)
    assert io.changed_partitions(spark, parts, since=0, until=1, column="txn_month", settings=settings) == {
        "2021-02",
        "2021-03",
    }
    assert io.changed_partitions(spark, parts, since=1, until=1, column="txn_month", settings=settings) == set()
    # a restore removes files: their partitions changed too
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF 0")
    assert io.changed_partitions(spark, parts, since=1, until=2, column="txn_month", settings=settings) == {
        "2021-02",
        "2021-03",
    }


def test_an_unreadable_silver_version_re_aggregates_every_month(spark, settings, tmp_path):
    settings = settings.replace(lakehouse_root=str(tmp_path))
    needed = txn_months.needed_months([d(2021, 6, 30)])
    # version 7 of a new, empty silver table does not exist (as an expired log version would not)
    assert txn_months._changed_since(spark, 7, 0, needed, settings) == set(needed)
