"""A backfill in batches of bounded size ends in the same tables as one batch."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.ingest.backfill import plan_intervals

D = dt.date
MB = 1024 * 1024


def test_months_are_packed_oldest_first_up_to_the_limit():
    sizes = {D(2020, 1, 1): 3 * MB, D(2020, 2, 1): 3 * MB, D(2020, 3, 1): 3 * MB, D(2020, 4, 1): 1 * MB}
    assert plan_intervals(sizes, D(2020, 1, 1), D(2020, 5, 1), 6 * MB) == [
        (D(2020, 1, 1), D(2020, 3, 1)),
        (D(2020, 3, 1), D(2020, 5, 1)),
    ]


def test_a_month_above_the_limit_is_a_batch_of_its_own_and_a_small_window_one_batch():
    sizes = {D(2020, 1, 1): 1 * MB, D(2020, 2, 1): 9 * MB, D(2020, 3, 1): 1 * MB}
    assert plan_intervals(sizes, D(2020, 1, 1), D(2020, 4, 1), 2 * MB) == [
        (D(2020, 1, 1), D(2020, 2, 1)),
        (D(2020, 2, 1), D(2020, 3, 1)),
        (D(2020, 3, 1), D(2020, 4, 1)),
    ]
    assert plan_intervals(sizes, D(2020, 1, 1), D(2020, 4, 1), 512 * MB) == [(D(2020, 1, 1), D(2020, 4, 1))]


def test_a_window_off_month_boundaries_is_covered_exactly_and_empty_months_join_a_batch():
    sizes = {D(2020, 1, 1): 5 * MB, D(2020, 3, 1): 5 * MB}
    assert plan_intervals(sizes, D(2020, 1, 15), D(2020, 3, 20), 6 * MB) == [
        (D(2020, 1, 15), D(2020, 3, 1)),
        (D(2020, 3, 1), D(2020, 3, 20)),
    ]


@pytest.mark.parametrize("start, end, limit", [(D(2020, 2, 1), D(2020, 2, 1), MB), (D(2020, 1, 1), D(2020, 2, 1), 0)])
def test_an_empty_window_or_a_non_positive_limit_is_an_error(start, end, limit):
    with pytest.raises(ValueError):
        plan_intervals({}, start, end, limit)


START, END = "2019-01-01", "2019-03-01"


@pytest.fixture(scope="module")
def two_lakehouses(tmp_path_factory, spark):
    """The same two months of transactions backfilled month by month, and in one batch."""
    from jobs.ingest.backfill import run_backfill
    from jobs.ingest.run import run_source
    from riskpipe.core.config import load_settings
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    root = tmp_path_factory.mktemp("backfill")
    config = SimConfig(enterprises=20, months=2, seed=7, start="2019-01")
    config.dirty = config.dirty.scaled(4.0)  # enough defects to quarantine in every month
    simulate(config, root / "landing")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LANDING", str(root / "landing"))
        for name in ("monthly", "whole"):
            mp.setenv("RISKPIPE_LAKEHOUSE", str(root / name))
            settings = load_settings()
            if name == "monthly":
                # one byte: every month is over the limit, so each is a batch of its own
                settings = settings.merged({"ingestion": {"backfill_max_batch_bytes": 1}})
                seen: dict[str, list] = {"progress": [], "batches": []}

                def progress(intervals, seen=seen):
                    seen["progress"].append(list(intervals))
                    return intervals

                out[name] = run_backfill(
                    "transactions",
                    start=START,
                    end=END,
                    settings=settings,
                    spark=spark,
                    on_batch=lambda summary, seen=seen: seen["batches"].append(summary),
                    progress=progress,
                )
                out["monthly_seen"] = seen
            else:
                out[name] = [
                    run_source(
                        "transactions", data_interval_start=START, data_interval_end=END, settings=settings, spark=spark
                    )
                ]
            out[f"{name}_settings"] = settings
        yield out


def test_the_backfill_runs_one_batch_per_month_and_accounts_for_every_row(two_lakehouses):
    monthly, whole = two_lakehouses["monthly"], two_lakehouses["whole"][0]
    assert [tuple(s["interval"]) for s in monthly] == [("2019-01-01", "2019-02-01"), ("2019-02-01", "2019-03-01")]
    for key in ("rows_read", "rows_published", "rows_quarantined"):
        assert sum(s[key] for s in monthly) == whole[key], key
    assert whole["rows_published"] > 0 and whole["rows_quarantined"] > 0
    # a progress bar wraps the planned batches once; each summary is reported as it is done
    seen = two_lakehouses["monthly_seen"]
    assert seen["progress"] == [[tuple(map(dt.date.fromisoformat, s["interval"])) for s in monthly]]
    assert seen["batches"] == monthly


def _read(spark, table, settings, drop):
    from riskpipe.core import io

    frame = io.read(spark, table, settings=settings)
    return frame.select(*[c for c in frame.columns if c not in drop])


def test_silver_quarantine_and_continuity_match_one_batch(spark, two_lakehouses):
    monthly, whole = two_lakehouses["monthly_settings"], two_lakehouses["whole_settings"]
    for table, drop in (
        ("transactions", {"_batch_id"}),
        # the quarantined record (and so its hash) carries its batch id
        ("quarantine", {"batch_id", "failure_rate", "quarantined_at", "record", "_record_hash"}),
        ("continuity_gaps", {"detected_at"}),
    ):
        assertDataFrameEqual(_read(spark, table, monthly, drop), _read(spark, table, whole, drop))
    gaps = _read(spark, "continuity_gaps", whole, set()).where(F.col("table_name") == "transactions")
    assert gaps.count() > 0  # the simulator drops transactions: the check has something to find
