"""Exactly-once bronze and quarantine under concurrent attempts of one batch; redelivered bytes.

Two attempts of the same batch (a zombie Airflow attempt beside its retry, a CLI run beside a
DAG run) run in separate processes at the same moment; the same bytes delivered again under a
new file name are recorded with their own name and never published twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from riskpipe.core import io
from tests.faults.data import content_hash
from tests.jobs.ingest.test_run_faults import HEADER, _row

SOURCE, START, END = "tax_filings", "2020-03-01", "2020-04-01"
ORIGINAL, REDELIVERY = "tax_filings_202003.csv", "tax_filings_202003_redelivery.csv"
FOLDER = "tax/filings"
GOOD_ROWS, BAD_ROW = 40, 5  # one row of 40 with too few fields: quarantined, under the 5% threshold
TRIALS = 5
COMPARED = (SOURCE, f"bronze_{SOURCE}", "quarantine", "ingest_manifest")
BRONZE_ROW = ("_batch_id", "_source_file", "_source_row")
QUARANTINE_ROW = ("table_name", "batch_id", "source_file", "source_row")
PROCESS_TIMEOUT_S = 1500  # five trials of two Spark processes on a shared 2-core machine
REPO = Path(__file__).resolve().parents[2]


def _delivery() -> str:
    rows = [_row(n) for n in range(GOOD_ROWS)]
    rows[BAD_ROW] = _row(BAD_ROW).rsplit(",", 2)[0]
    return "\n".join([HEADER, *rows]) + "\n"


def _landing(root: Path, *names: str) -> Path:
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(_delivery(), encoding="utf-8")
    return root


def _ingest(spark, landing: Path, lake: Path) -> dict:
    from jobs.ingest.run import run_source
    from riskpipe.core.config import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(lake))
        mp.setenv("RISKPIPE_LANDING", str(landing))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        return run_source(
            SOURCE, data_interval_start=START, data_interval_end=END, spark=spark, settings=load_settings()
        )


def _read(spark, lake: Path, table: str):
    from riskpipe.core.config import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(lake))
        return io.read(spark, table, settings=load_settings())


def _hashes(spark, lake: Path) -> dict[str, str]:
    return {table: content_hash(_read(spark, lake, table)) for table in COMPARED}


def _repeated(frame, keys: tuple[str, ...]) -> int:
    return frame.groupBy(*keys).count().where(F.col("count") > 1).count()


@pytest.mark.reliability(
    "3 concurrent writers",
    "two processes run the same file batch through run_source at the same moment, 5 trials",
    "both exit 0; no (_batch_id, _source_file, _source_row) twice in bronze, no row place twice in quarantine",
)
@pytest.mark.reliability(
    "3 concurrent writers",
    "two processes run the same file batch through run_source at the same moment, 5 trials",
    "silver, bronze, quarantine and the manifest equal one clean run (content hashes)",
)
@pytest.mark.timeout(PROCESS_TIMEOUT_S + 300)
def test_two_processes_ingesting_the_same_batch_write_every_row_once(spark, tmp_path):
    landing = _landing(tmp_path / "landing", ORIGINAL)
    lakes, ready = tmp_path / "lakes", tmp_path / "ready"
    env = {**os.environ, "RISKPIPE_DRIVER_MEMORY": "1g", "RISKPIPE_SPARK_MASTER": "local[1]"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults.concurrent_batch",
                str(landing),
                str(lakes),
                str(TRIALS),
                str(ready),
                name,
            ],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in ("a", "b")
    ]
    _ingest(spark, landing, tmp_path / "clean")  # while the two processes start their Spark sessions
    clean = _hashes(spark, tmp_path / "clean")
    outputs = [proc.communicate(timeout=PROCESS_TIMEOUT_S)[0] for proc in procs]
    # the end of each process's output, where a traceback is, survives pytest's truncation
    assert [proc.returncode for proc in procs] == [0, 0], "\n---\n".join(out[-4000:] for out in outputs)
    summaries = [json.loads(line) for out in outputs for line in out.splitlines() if line.startswith('{"trial"')]
    assert len(summaries) == 2 * TRIALS
    for trial in range(TRIALS):
        lake = lakes / f"trial-{trial}"
        bronze, quarantine = _read(spark, lake, f"bronze_{SOURCE}"), _read(spark, lake, "quarantine")
        assert bronze.count() == GOOD_ROWS and _repeated(bronze, BRONZE_ROW) == 0, trial
        assert quarantine.count() == 1 and _repeated(quarantine, QUARANTINE_ROW) == 0, trial
        assert _hashes(spark, lake) == clean, trial


@pytest.mark.reliability(
    "2 idempotent replay",
    "the same bytes delivered again under a new file name",
    "its own batch id; the manifest holds both names with the one checksum; bronze holds the rows under both names",
)
@pytest.mark.reliability(
    "2 idempotent replay",
    "the same bytes delivered again under a new file name",
    "nothing published twice: silver unchanged, the redelivery's rows counted as duplicates "
    "and quarantined rows, read = published + quarantined + duplicates",
)
def test_the_same_bytes_under_a_new_name_are_recorded_and_never_published_twice(spark, tmp_path):
    landing, lake = _landing(tmp_path / "landing", ORIGINAL), tmp_path / "lake"
    first = _ingest(spark, landing, lake)
    silver_before = content_hash(_read(spark, lake, SOURCE))
    _landing(landing, REDELIVERY)

    second = _ingest(spark, landing, lake)

    assert second["files"] == [f"{FOLDER}/{REDELIVERY}"] and second["batch_id"] != first["batch_id"]
    assert (second["rows_read"], second["rows_published"], second["rows_quarantined"], second["rows_duplicate"]) == (
        GOOD_ROWS,
        0,
        1,
        GOOD_ROWS - 1,
    )
    assert content_hash(_read(spark, lake, SOURCE)) == silver_before
    manifest = {r["path"]: r for r in _read(spark, lake, "ingest_manifest").collect()}
    assert set(manifest) == {f"{FOLDER}/{ORIGINAL}", f"{FOLDER}/{REDELIVERY}"}
    assert len({r["checksum"] for r in manifest.values()}) == 1
    assert {r["status"] for r in manifest.values()} == {"succeeded"}
    assert manifest[f"{FOLDER}/{REDELIVERY}"]["batch_id"] == second["batch_id"]
    assert sum(r["rows_published"] for r in manifest.values()) == _read(spark, lake, SOURCE).count()
    by_file = {
        r["_source_file"]: (r["_batch_id"], r["count"])
        for r in _read(spark, lake, f"bronze_{SOURCE}").groupBy("_source_file", "_batch_id").count().collect()
    }
    assert by_file == {
        f"{FOLDER}/{ORIGINAL}": (first["batch_id"], GOOD_ROWS),
        f"{FOLDER}/{REDELIVERY}": (second["batch_id"], GOOD_ROWS),
    }
    assert _ingest(spark, landing, lake)["batch_id"] is None  # a rerun finds both names done


@pytest.mark.reliability(
    "2 idempotent replay",
    "the same bytes under two names in one delivery",
    "published once: silver equals the one-file run; the second name's rows are duplicates",
)
def test_the_same_bytes_under_two_names_in_one_batch_are_published_once(spark, tmp_path):
    _ingest(spark, _landing(tmp_path / "one", ORIGINAL), tmp_path / "one_lake")
    both = _ingest(spark, _landing(tmp_path / "two", ORIGINAL, REDELIVERY), tmp_path / "two_lake")

    assert (both["rows_read"], both["rows_published"], both["rows_quarantined"], both["rows_duplicate"]) == (
        2 * GOOD_ROWS,
        GOOD_ROWS - 1,
        2,
        GOOD_ROWS - 1,
    )
    assert content_hash(_read(spark, tmp_path / "two_lake", SOURCE).drop("_batch_id")) == content_hash(
        _read(spark, tmp_path / "one_lake", SOURCE).drop("_batch_id")
    )
