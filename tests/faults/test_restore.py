"""Guarantee 7: after a bad run, ``riskpipe restore`` brings back the earlier content exactly."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from riskpipe.cli import main
from riskpipe.core import io
from tests.faults.data import content_hash, synthetic

TABLE = "tax_filings"
GOOD_ROWS, BAD_ROWS = 40, 10


@pytest.fixture()
def lake(tmp_path, monkeypatch):
    """A lakehouse of the test's own, seen by the CLI through the environment."""
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lake"))
    return tmp_path / "lake"


@pytest.fixture()
def lake_settings(lake):
    """The settings of the environment ``lake`` sets, as the CLI loads them."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _bad_run(spark, settings) -> None:
    """A run that corrupts existing rows (negative sales) and adds rows that should not exist."""
    corrupted = synthetic(spark, TABLE, BAD_ROWS).withColumn("taxable_sales", F.lit(-1.0))
    corrupted = corrupted.withColumn("_record_hash", F.lit("bad"))
    added = synthetic(spark, TABLE, BAD_ROWS, offset=GOOD_ROWS)
    io.merge_upsert(corrupted.unionByName(added), TABLE, settings=settings)


@pytest.mark.reliability(
    "7 restore", "a bad run corrupts and adds rows", "riskpipe restore --version N gives the content hash of version N"
)
@pytest.mark.reliability(
    "7 restore",
    "a bad run corrupts and adds rows",
    "riskpipe history lists the commits, newest first, with their operations",
)
def test_restore_after_a_bad_run_reproduces_the_earlier_content(spark, lake_settings, capsys):
    io.merge_upsert(synthetic(spark, TABLE, GOOD_ROWS, partitions=2), TABLE, settings=lake_settings)
    good_version = io.version(spark, TABLE, settings=lake_settings)
    good_hash = content_hash(io.read(spark, TABLE, settings=lake_settings))
    _bad_run(spark, lake_settings)
    assert content_hash(io.read(spark, TABLE, settings=lake_settings)) != good_hash
    bad_version = io.version(spark, TABLE, settings=lake_settings)

    capsys.readouterr()
    assert main(["history", TABLE]) == 0
    commits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["version"] for c in commits] == list(range(bad_version, -1, -1))
    assert commits[0]["operation"] == "MERGE" and commits[-1]["operation"] == "CREATE TABLE"

    assert main(["restore", TABLE, "--version", str(good_version)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "table": TABLE,
        "restored_to": good_version,
        "previous_version": bad_version,
        "new_version": bad_version + 1,
    }
    assert content_hash(io.read(spark, TABLE, settings=lake_settings)) == good_hash
    assert io.history(spark, TABLE, limit=1, settings=lake_settings)[0]["operation"] == "RESTORE"
    # the bad version stays inspectable by time travel
    assert content_hash(io.read(spark, TABLE, version=bad_version, settings=lake_settings)) != good_hash


@pytest.mark.reliability(
    "7 restore",
    "restore to a version that is not earlier",
    "refused with a message naming the latest version; table unchanged",
)
def test_restore_refuses_a_version_that_is_not_earlier(spark, lake_settings):
    io.merge_upsert(synthetic(spark, TABLE, 5), TABLE, settings=lake_settings)
    latest = io.version(spark, TABLE, settings=lake_settings)
    before = content_hash(io.read(spark, TABLE, settings=lake_settings))
    with pytest.raises(SystemExit, match=f"latest is {latest}"):
        main(["restore", TABLE, "--version", str(latest + 3)])
    assert io.version(spark, TABLE, settings=lake_settings) == latest
    assert content_hash(io.read(spark, TABLE, settings=lake_settings)) == before


# --- restore --to-batch: every table a batch wrote, back to before it ---------------------------

FEED = "tax_filings"
FOLDER = "tax/filings"
# wall-clock columns of a run, plus the gap checks' time of computation
RUN_TIME = ("_ingested_at", "quarantined_at", "started_at", "finished_at", "detected_at")
BATCH_TABLES = (f"bronze_{FEED}", FEED, "quarantine", "ingest_manifest", "data_gaps")
OTHER = "utility_reads"


def _january(n: int, sales: str = "1000.0") -> str:
    from tests.jobs.ingest.test_run_faults import _row

    return _row(n, sales).replace(",2020-02,2020-03-10,", ",2020-01,2020-02-10,")


def _deliver(landing, month: str, rows: list[str]) -> None:
    from tests.jobs.ingest.test_run_faults import HEADER

    folder = landing / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"tax_filings_{month}.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def _feed_settings():
    """The settings of the environment ``feed`` sets (the test's own lakehouse and landing area)."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _month_run(month_start: str, month_end: str) -> dict:
    from jobs.ingest.run import run_source
    from riskpipe.core.spark import get_spark

    settings = _feed_settings()
    return run_source(
        FEED,
        data_interval_start=month_start,
        data_interval_end=month_end,
        settings=settings,
        spark=get_spark(settings=settings),
    )


SHARED = {"quarantine": "table_name", "ingest_manifest": "source"}


def _hashes(spark, settings, *, source: str | None = None) -> dict[str, str]:
    """Content hash per table; with ``source``, of the shared tables' rows of that source only."""
    frames = {table: io.read(spark, table, settings=settings) for table in BATCH_TABLES}
    if source is not None:
        frames.update({t: frames[t].where(F.col(c) == source) for t, c in SHARED.items()})
    return {table: content_hash(frame, exclude=RUN_TIME) for table, frame in frames.items()}


def _other_source_counts(spark, settings) -> dict[str, int]:
    """Rows of the other source per shared table."""
    return {t: io.read(spark, t, settings=settings).where(F.col(c) == OTHER).count() for t, c in SHARED.items()}


def _other_source_rows(spark) -> None:
    """Another feed's batch writes the shared tables (quarantine, manifest) after batch B."""
    from jobs.ingest.connectors.files import LandedFile, record
    from jobs.ingest.quarantine import write_quarantine

    batch = f"{OTHER}-2020-03-01-0000000000000000"
    settings = _feed_settings()
    with io.batch_commits(spark, batch):
        failing = spark.createDataFrame([("m-1", 1)], "meter_id string, _source_row long").select(
            "meter_id",
            F.lit("utility/utility_reads_202003.jsonl").alias("_source_file"),
            "_source_row",
            F.array(F.lit(f"{OTHER}.row.malformed")).alias("_failed_rules"),
            F.lit("malformed").alias("_reason"),
        )
        from jobs.ingest.quarantine import to_quarantine

        write_quarantine(
            to_quarantine(
                failing, table_name=OTHER, batch_id=batch, failure_rate=0.01, quarantined_at=dt.datetime(2020, 3, 12)
            ),
            settings=settings,
        )
        landed = LandedFile(path=None, rel_path="utility/utility_reads_202003.jsonl", size=10, checksum="c" * 64)
        record(
            spark,
            OTHER,
            [landed],
            batch_id=batch,
            status="succeeded",
            logical_date="2020-03-31",
            counts={landed.rel_path: {"rows_read": 1, "rows_quarantined": 1}},
            settings=settings,
        )


@pytest.fixture()
def feed(tmp_path):
    """A lakehouse and landing area of the test's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lake"))
        mp.setenv("RISKPIPE_LANDING", str(tmp_path / "landing"))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        yield tmp_path / "landing"


@pytest.mark.reliability(
    "7 restore",
    "batch B of a file feed (new rows, a restatement, a quarantined row) "
    "after batch A, then another source's rows in the shared tables",
    "riskpipe restore --to-batch B: bronze, silver, quarantine, manifest and data_gaps "
    "equal their content after A (content hashes); the other source's rows are kept",
)
@pytest.mark.reliability(
    "7 restore",
    "batch B of a file feed (new rows, a restatement, a quarantined row) "
    "after batch A, then another source's rows in the shared tables",
    "the next run re-ingests B's files (same batch id) and every table equals a run of "
    "A then B on a clean lake (content hashes, wall-clock columns excluded)",
)
@pytest.mark.reliability(
    "7 restore",
    "restore to before a batch that later batches of the source followed",
    "refused naming the table and the later batch; no table changed",
)
def test_restore_to_before_a_batch_then_rerun_equals_a_clean_run(spark, feed, capsys):
    from tests.jobs.ingest.test_run_faults import _row

    settings = _feed_settings()
    january = [_january(n) for n in range(25)]
    january[4] = _january(4).rsplit(",", 2)[0]  # malformed: quarantined in A
    _deliver(feed, "202002", january)
    a = _month_run("2020-02-01", "2020-03-01")
    after_a = _hashes(spark, settings, source=FEED)

    march = [_row(n) for n in range(25)] + [_january(0, sales="1500.0")]  # + a restatement of A's row
    march[7] = _row(7).rsplit(",", 2)[0]  # malformed: quarantined in B
    _deliver(feed, "202003", march)
    b = _month_run("2020-03-01", "2020-04-01")
    assert (b["rows_published"], b["rows_quarantined"]) == (25, 1)
    _other_source_rows(spark)
    clean = _hashes(spark, settings)
    others = _other_source_counts(spark, settings)
    assert others == {"quarantine": 1, "ingest_manifest": 1}

    versions = {t: io.version(spark, t, settings=settings) for t in BATCH_TABLES}
    with pytest.raises(SystemExit, match=rf"table bronze_{FEED} holds later batches .*{b['batch_id']}"):
        main(["restore", "--to-batch", a["batch_id"]])
    assert {t: io.version(spark, t, settings=settings) for t in BATCH_TABLES} == versions
    assert _hashes(spark, settings) == clean

    capsys.readouterr()
    assert main(["restore", "--to-batch", b["batch_id"]]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["rolled_back"] == [b["batch_id"]]
    assert {t["table"] for t in summary["tables"]} == {f"bronze_{FEED}", FEED, "quarantine", "ingest_manifest"}
    assert f"restored {FEED}: RESTORE, version {versions[FEED]} -> {versions[FEED] + 1}" in out.err
    # the feed's rows as after A; the other source's rows, committed after B, kept
    assert _hashes(spark, settings, source=FEED) == after_a
    assert _other_source_counts(spark, settings) == others

    rerun = _month_run("2020-03-01", "2020-04-01")
    assert rerun["batch_id"] == b["batch_id"] and rerun["files_skipped"] == []
    assert {k: rerun[k] for k in ("rows_read", "rows_published", "rows_quarantined", "rows_duplicate")} == {
        k: b[k] for k in ("rows_read", "rows_published", "rows_quarantined", "rows_duplicate")
    }
    assert _hashes(spark, settings) == clean
