"""Guarantee 3: concurrent writers serialise or retry a conflict; no row is lost or doubled."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from riskpipe.core import io
from schemas.registry import get
from tests.faults.data import content_hash, synthetic

TABLE, PARTITIONED = "tax_filings", "risk_scores"
# two batches overlapping in OVERLAP keys (same values): the union has ROWS + ROWS - OVERLAP rows
ROWS, OVERLAP = 40, 15
SECOND_OFFSET = ROWS - OVERLAP
ROUNDS = 2
PROCESS_TIMEOUT_S = 600
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lake"))
    return tmp_path / "lake"


@pytest.fixture()
def lake_settings(lake):
    """The settings of the environment ``lake`` sets, as the writer processes load them."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _in_threads(*actions) -> list[BaseException]:
    """Run ``actions`` at the same moment in threads; the errors they raised."""
    barrier, errors = threading.Barrier(len(actions)), []

    def run(action) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _expected(spark) -> str:
    union = synthetic(spark, TABLE, ROWS).unionByName(synthetic(spark, TABLE, ROWS, offset=SECOND_OFFSET))
    return content_hash(union.dropDuplicates())


def _assert_union_once(spark, settings) -> None:
    table = io.read(spark, TABLE, settings=settings)
    assert table.count() == 2 * ROWS - OVERLAP
    assert table.groupBy(*get(TABLE).keys).count().where(F.col("count") > 1).isEmpty()
    assert content_hash(table) == _expected(spark)


@pytest.mark.reliability(
    "3 concurrent writers",
    "two threads MERGE overlapping rows into one table",
    "both succeed (a conflict is retried); the union once, no duplicate keys",
)
def test_two_threads_merging_into_one_table_converge(spark, lake_settings, caplog):
    io.ensure_table(spark, TABLE, settings=lake_settings)
    first, second = synthetic(spark, TABLE, ROWS).cache(), synthetic(spark, TABLE, ROWS, offset=SECOND_OFFSET).cache()
    for _ in range(ROUNDS):  # the second round rewrites nothing: every row is already there
        with caplog.at_level(logging.WARNING, logger="riskpipe.core.io"):
            errors = _in_threads(
                lambda: io.merge_upsert(first, TABLE, settings=lake_settings),
                lambda: io.merge_upsert(second, TABLE, settings=lake_settings),
            )
        assert errors == []
        _assert_union_once(spark, lake_settings)


@pytest.mark.reliability(
    "3 concurrent writers",
    "two threads replace different partitions of one table",
    "neither conflicts; each partition holds exactly its own rows",
)
def test_writes_to_different_partitions_do_not_conflict(spark, lake_settings):
    io.ensure_table(spark, PARTITIONED, settings=lake_settings)

    def month(name: str, day: str, offset: int):
        rows = synthetic(spark, PARTITIONED, ROWS, offset=offset)
        return rows.withColumn("snapshot_month", F.lit(name)).withColumn("snapshot_date", F.lit(day).cast("date"))

    january, february = month("2020-01", "2020-01-31", 0).cache(), month("2020-02", "2020-02-29", ROWS).cache()
    # replace_where has no retry: any conflict between the two would surface here
    errors = _in_threads(
        lambda: io.replace_where(january, PARTITIONED, "snapshot_month = '2020-01'", settings=lake_settings),
        lambda: io.replace_where(february, PARTITIONED, "snapshot_month = '2020-02'", settings=lake_settings),
    )
    assert errors == []
    table = io.read(spark, PARTITIONED, settings=lake_settings)
    for name, frame in (("2020-01", january), ("2020-02", february)):
        assert content_hash(table.where(F.col("snapshot_month") == name)) == content_hash(frame)


@pytest.mark.reliability(
    "3 concurrent writers",
    "two processes MERGE overlapping rows at the same moment",
    "both exit 0 (a conflict is retried); the union once, no duplicate keys",
)
def test_two_processes_merging_into_one_table_converge(spark, lake_settings, tmp_path):
    io.ensure_table(spark, TABLE, settings=lake_settings)
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "RISKPIPE_DRIVER_MEMORY": "1g", "RISKPIPE_SPARK_MASTER": "local[1]"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults.concurrent_writer", TABLE, str(offset), str(ROWS), str(ready), name],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name, offset in (("a", 0), ("b", SECOND_OFFSET))
    ]
    outputs = [proc.communicate(timeout=PROCESS_TIMEOUT_S)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    _assert_union_once(spark, lake_settings)
    merges = [c for c in io.history(spark, TABLE, settings=lake_settings) if c["operation"] == "MERGE"]
    assert len(merges) == 2


@pytest.mark.reliability(
    "3 concurrent writers",
    "a process reads a table while another process is creating it "
    "(its _delta_log holds a temporary file, no version yet)",
    "not taken for a table; the create is retried and finds the winner's table",
)
def test_a_table_whose_first_commit_is_under_way_is_created_again_not_read(tmp_path):
    log_dir = tmp_path / "t" / "_delta_log"
    (log_dir / "_commits").mkdir(parents=True)
    (log_dir / ".00000000000000000000.json.3f2a.tmp").write_text("{}")
    assert not io._local_log_exists(str(tmp_path / "t"))
    (log_dir / "00000000000000000000.json").write_text("{}")
    assert io._local_log_exists(str(tmp_path / "t"))

    calls = []

    def create():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("[DELTA_TABLE_NOT_FOUND] Delta table `/lake/t` doesn't exist.")
        return "table"

    for marker in io.CREATE_TRANSIENT_ERRORS:
        calls.clear()

        def create_seen_half_done(marker=marker):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError(f"[{marker}] Delta table `/lake/t` is not there yet.")
            return "table"

        assert (
            io.retry_on_conflict(
                create_seen_half_done, what="create t", backoff_s=0.0, transient=io.CREATE_TRANSIENT_ERRORS
            )
            == "table"
        )
        assert len(calls) == 2
    calls.clear()
    assert io.retry_on_conflict(create, what="create t", backoff_s=0.0, transient=("DELTA_TABLE_NOT_FOUND",)) == "table"
    assert len(calls) == 2
    calls.clear()
    # anywhere else a missing table is an error, raised at once
    with pytest.raises(RuntimeError, match="DELTA_TABLE_NOT_FOUND"):
        io.retry_on_conflict(create, what="read t", backoff_s=0.0)
    assert len(calls) == 1


def test_creating_the_same_local_table_is_one_process_at_a_time(tmp_path):
    """A second creator waits for the first one's lock (here: a thread holding it for 0.5 s)."""
    path = str(tmp_path / "lake" / "t")
    entered = {}

    def creator(table_path: str) -> None:
        with io._create_lock(table_path):
            entered[table_path] = time.monotonic()

    other = str(tmp_path / "lake" / "u")
    with io._create_lock(path):
        started = time.monotonic()
        same, independent = (threading.Thread(target=creator, args=(p,)) for p in (path, other))
        same.start()
        independent.start()
        independent.join(timeout=10)
        time.sleep(0.5)
        # another table's creator is not held up; this table's waits
        assert list(entered) == [other]
    same.join(timeout=10)
    assert entered[path] - started >= 0.5
