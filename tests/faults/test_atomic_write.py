"""Guarantee 1: a write killed with SIGKILL between its data files and its commit changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from riskpipe.cli import main
from riskpipe.core import io
from tests.faults.data import content_hash, data_files, log_versions, synthetic

TABLE = "tax_filings"
FIRST_ROWS = 30
ROWS, PARTITIONS, OFFSET = 1600, 16, 10_000
STALL_S = 600.0  # the stalled task outlives the test: the kill comes first
WAIT_FOR_FILES_S = 300.0  # a fresh JVM under a loaded machine takes a while to start writing
POLL_S = 0.2
REPO = Path(__file__).resolve().parents[2]


def _start_writer(lake: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "RISKPIPE_LAKEHOUSE": str(lake),
        "RISKPIPE_DRIVER_MEMORY": "1g",
        "RISKPIPE_SPARK_MASTER": "local[2]",
        "RISKPIPE_SPARK_UI": "false",
    }
    args = [
        sys.executable,
        "-m",
        "tests.faults.killable_write",
        TABLE,
        str(ROWS),
        str(PARTITIONS),
        str(OFFSET),
        str(STALL_S),
    ]
    # its own process group: the kill reaches the Python driver, its JVM and the Python workers
    return subprocess.Popen(
        args, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _kill_mid_write(proc: subprocess.Popen, table_dir: Path, before_files: set[str], before_log: set[int]) -> set[str]:
    """Wait until the writer's data files are in the table folder, then SIGKILL it; its new files."""
    deadline = time.monotonic() + WAIT_FOR_FILES_S
    try:
        while time.monotonic() < deadline:
            new = data_files(table_dir) - before_files
            assert log_versions(table_dir) == before_log, "the writer committed before it was killed"
            assert proc.poll() is None, f"writer exited early: {proc.stdout.read()}"
            if len(new) >= PARTITIONS - 1:
                return new
            time.sleep(POLL_S)
        raise AssertionError(f"no data files after {WAIT_FOR_FILES_S}s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _snapshot_files(spark, table_dir: Path, settings) -> set[str]:
    prefix = table_dir.resolve().as_uri().removeprefix("file://")
    return {
        Path(uri.removeprefix("file:")).as_posix().removeprefix(prefix).lstrip("/")
        for uri in io.read(spark, TABLE, settings=settings).inputFiles()
    }


@pytest.mark.reliability(
    "1 atomic writes", "SIGKILL after data files, before the commit JSON", "table version and content hash unchanged"
)
@pytest.mark.reliability(
    "1 atomic writes",
    "SIGKILL after data files, before the commit JSON",
    "the rerun commits one version with exactly the new rows",
)
@pytest.mark.reliability(
    "1 atomic writes",
    "SIGKILL after data files, before the commit JSON",
    "VACUUM (retention 0) deletes the orphan files, content unchanged",
)
def test_a_killed_write_leaves_the_table_unchanged_and_a_rerun_completes_it(spark, tmp_path, monkeypatch):
    from riskpipe.core.config import load_settings

    lake = tmp_path / "lake"
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", str(lake))
    settings = load_settings()  # the lakehouse the writer process and the CLI see too
    table_dir = Path(io.table_path(TABLE, settings=settings))
    io.append(synthetic(spark, TABLE, FIRST_ROWS), TABLE, settings=settings)
    version = io.version(spark, TABLE, settings=settings)
    before = content_hash(io.read(spark, TABLE, settings=settings))
    before_files, before_log = data_files(table_dir), log_versions(table_dir)

    orphans = _kill_mid_write(_start_writer(lake), table_dir, before_files, before_log)
    assert log_versions(table_dir) == before_log and io.version(spark, TABLE, settings=settings) == version
    assert content_hash(io.read(spark, TABLE, settings=settings)) == before
    assert orphans and not orphans & _snapshot_files(spark, table_dir, settings)

    new_rows = synthetic(spark, TABLE, ROWS, partitions=PARTITIONS, offset=OFFSET)
    io.append(new_rows, TABLE, settings=settings)
    assert io.version(spark, TABLE, settings=settings) == version + 1
    expected = content_hash(synthetic(spark, TABLE, FIRST_ROWS).unionByName(new_rows))
    assert content_hash(io.read(spark, TABLE, settings=settings)) == expected

    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        assert main(["vacuum", TABLE, "--retain-hours", "0"]) == 0
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    assert data_files(table_dir) == _snapshot_files(spark, table_dir, settings)
    assert not orphans & data_files(table_dir)
    assert content_hash(io.read(spark, TABLE, settings=settings)) == expected
