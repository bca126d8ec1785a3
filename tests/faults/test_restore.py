"""Guarantee 7: after a bad run, ``riskpipe restore`` brings back the earlier content exactly."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from riskpipe import io
from riskpipe.cli import main
from tests.faults.data import content_hash, synthetic

TABLE = "tax_filings"
GOOD_ROWS, BAD_ROWS = 40, 10


@pytest.fixture()
def lake(tmp_path, monkeypatch):
    """A lakehouse of the test's own, seen by the CLI through the environment."""
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lake"))
    return tmp_path / "lake"


def _bad_run(spark) -> None:
    """A run that corrupts existing rows (negative sales) and adds rows that should not exist."""
    corrupted = synthetic(spark, TABLE, BAD_ROWS).withColumn("taxable_sales", F.lit(-1.0))
    corrupted = corrupted.withColumn("_record_hash", F.lit("bad"))
    io.merge_upsert(corrupted.unionByName(synthetic(spark, TABLE, BAD_ROWS, offset=GOOD_ROWS)), TABLE)


@pytest.mark.reliability("7 restore", "a bad run corrupts and adds rows",
                         "riskpipe restore --version N gives the content hash of version N")
@pytest.mark.reliability("7 restore", "a bad run corrupts and adds rows",
                         "riskpipe history lists the commits, newest first, with their operations")
def test_restore_after_a_bad_run_reproduces_the_earlier_content(spark, lake, capsys):
    io.merge_upsert(synthetic(spark, TABLE, GOOD_ROWS, partitions=2), TABLE)
    good_version, good_hash = io.version(spark, TABLE), content_hash(io.read(spark, TABLE))
    _bad_run(spark)
    assert content_hash(io.read(spark, TABLE)) != good_hash
    bad_version = io.version(spark, TABLE)

    capsys.readouterr()
    assert main(["history", TABLE]) == 0
    commits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["version"] for c in commits] == list(range(bad_version, -1, -1))
    assert commits[0]["operation"] == "MERGE" and commits[-1]["operation"] == "CREATE TABLE"

    assert main(["restore", TABLE, "--version", str(good_version)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"table": TABLE, "restored_to": good_version, "previous_version": bad_version,
                       "new_version": bad_version + 1}
    assert content_hash(io.read(spark, TABLE)) == good_hash
    assert io.history(spark, TABLE, limit=1)[0]["operation"] == "RESTORE"
    # the bad version stays inspectable by time travel
    assert content_hash(io.read(spark, TABLE, version=bad_version)) != good_hash


@pytest.mark.reliability("7 restore", "restore to a version that is not earlier",
                         "refused with a message naming the latest version; table unchanged")
def test_restore_refuses_a_version_that_is_not_earlier(spark, lake):
    io.merge_upsert(synthetic(spark, TABLE, 5), TABLE)
    latest, before = io.version(spark, TABLE), content_hash(io.read(spark, TABLE))
    with pytest.raises(SystemExit, match=f"latest is {latest}"):
        main(["restore", TABLE, "--version", str(latest + 3)])
    assert io.version(spark, TABLE) == latest and content_hash(io.read(spark, TABLE)) == before
