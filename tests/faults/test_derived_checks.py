"""Guarantee 2: the gap registers derived from a batch survive a kill after the batch's commit point.

A real ingestion process (``tests/faults/killable_ingest.py``) ingests an interval of tax filings (gaps:
``ops/data_gaps``) and then one of transactions (``ops/continuity_gaps``) and is SIGKILLed inside their
derived checks, after the manifest marked their files succeeded and before either gap register was
written. The rerun of the intervals finds every file done and ingests nothing, but recomputes the
checks: every table of its lakehouse, the gap registers included, equals one clean run's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.faults.data import lake_hashes

pytestmark = pytest.mark.slow

ENTERPRISES, MONTHS, SEED, FIRST_MONTH = 12, 3, 23, "2019-01"
# source -> (data interval [start, end), its gap register)
CASES = {
    "tax_filings": ("2019-02-01", "2019-05-01", "data_gaps"),
    "transactions": ("2019-02-01", "2019-03-01", "continuity_gaps"),
}
# when a gap or a validation was recorded, besides the run times of the data module
KILL_TIMEOUT_S = 600
REPO = Path(__file__).resolve().parents[2]
# a delivery of a dozen enterprises is small: one defect must not reject the batch
PROFILE = "ingestion:\n  max_failure_rate: 0.5\n"


def _drop_a_middle_filing(landing: Path) -> None:
    """Remove from the middle tax delivery one enterprise that filed the month before: a missing month."""
    folder = landing / "tax" / "filings"
    first, middle = (folder / f"tax_filings_{month}.csv" for month in ("201902", "201903"))
    filed_before = {line.split(",")[0] for line in first.read_text(encoding="utf-8").splitlines()[1:]}
    header, *rows = middle.read_text(encoding="utf-8").splitlines()
    dropped = next(i for i, row in enumerate(rows) if row.split(",")[0] in filed_before)
    middle.write_text("\n".join([header, *rows[:dropped], *rows[dropped + 1 :]]) + "\n", encoding="utf-8")


def _drop_a_middle_transaction(landing: Path) -> None:
    """Remove from a mid-interval day one transaction of an account that posts again later: a balance break."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = sorted((landing / "bank" / "transactions").glob("transactions_201902*.parquet"))
    middle, last = days[len(days) // 2], days[-1]
    later = set(pq.read_table(last, columns=["account_id"]).column("account_id").to_pylist())
    table = pq.read_table(middle)
    dropped = next(i for i, account in enumerate(table.column("account_id").to_pylist()) if account in later)
    pq.write_table(table.filter(pa.array([i != dropped for i in range(table.num_rows)])), middle)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Simulator tax and bank deliveries of a dozen enterprises over three months, one row of each feed
    left out (so each feed has a gap to record), and the profile."""
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    root = tmp_path_factory.mktemp("derived_checks")
    simulate(
        SimConfig(
            enterprises=ENTERPRISES, months=MONTHS, seed=SEED, start=FIRST_MONTH, sources=("tax", "bank"), quiet=True
        ),
        root / "landing",
    )
    _drop_a_middle_filing(root / "landing")
    _drop_a_middle_transaction(root / "landing")
    profile = root / "profile.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISKPIPE_LANDING", str(root / "landing"))
        patch.setenv("RISKPIPE_PROFILE", str(profile))
        patch.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        yield patch


def _lake_settings(env, lake: Path):
    """Point the environment at ``lake`` (for the subprocesses too); the settings it then gives."""
    from riskpipe.core.config import load_settings

    env.setenv("RISKPIPE_LAKEHOUSE", str(lake))
    return load_settings()


def _ingest(spark, settings) -> dict[str, dict]:
    """Run every feed's interval into the lakehouse of ``settings``, in order; the summaries by feed."""
    from jobs.ingest.run import run_source

    return {
        source: run_source(source, data_interval_start=start, data_interval_end=end, settings=settings, spark=spark)
        for source, (start, end, _) in CASES.items()
    }


def _gap_rows(spark, settings) -> dict[str, int]:
    """Rows of each feed in its gap register (0 when the register does not exist)."""
    from riskpipe.core import io

    return {
        source: io.read(spark, register, settings=settings).where(F.col("table_name") == source).count()
        if io.exists(spark, register, settings=settings)
        else 0
        for source, (_, _, register) in CASES.items()
    }


def _kill_in_derived_checks(lake: Path) -> str:
    """Ingest every feed's interval in a subprocess that SIGKILLs itself in their derived checks; its output."""
    env = {
        **os.environ,
        "RISKPIPE_LAKEHOUSE": str(lake),
        "RISKPIPE_DRIVER_MEMORY": "1g",
        "RISKPIPE_SPARK_MASTER": "local[2]",
        "RISKPIPE_SPARK_UI": "false",
    }
    intervals = [f"{source}:{start}:{end}" for source, (start, end, _) in CASES.items()]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.killable_ingest", *intervals],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=KILL_TIMEOUT_S,
        start_new_session=True,
    )
    assert proc.returncode == -9, f"expected SIGKILL, got {proc.returncode}: {proc.stdout[-3000:]}"
    return proc.stdout


@pytest.mark.reliability(
    "2 idempotent replay",
    "a real ingestion process SIGKILLed in the derived checks of tax "
    "filings and transactions, after the manifest marked their files succeeded",
    "data_gaps and continuity_gaps hold none of the feeds' gaps; the manifest says succeeded",
)
@pytest.mark.reliability(
    "2 idempotent replay",
    "the killed intervals run again: every file already done",
    "the rerun ingests nothing and recomputes the checks: every table, data_gaps and "
    "continuity_gaps included, equals one clean run",
)
def test_gaps_lost_to_a_kill_after_the_commit_point_are_recomputed_by_the_rerun(spark, env, tmp_path):
    from riskpipe.core import io

    clean_settings = _lake_settings(env, tmp_path / "clean")
    clean_runs = _ingest(spark, clean_settings)
    clean, clean_gaps = lake_hashes(spark, tmp_path / "clean"), _gap_rows(spark, clean_settings)
    assert all(run["rows_published"] > 0 for run in clean_runs.values())
    assert all(n > 0 for n in clean_gaps.values()), clean_gaps  # something to lose

    lake = tmp_path / "killed"
    settings = _lake_settings(env, lake)
    output = _kill_in_derived_checks(lake)
    assert "parked: " in output and "killing myself" in output, output[-3000:]
    manifest = (
        io.read(spark, "ingest_manifest", settings=settings)
        .groupBy("source")
        .agg(F.collect_set("status").alias("statuses"))
    )
    # past the commit point: a rerun skips every file
    assert {r["source"]: sorted(r["statuses"]) for r in manifest.collect()} == {s: ["succeeded"] for s in CASES}
    assert _gap_rows(spark, settings) == {source: 0 for source in CASES}

    reruns = _ingest(spark, settings)
    for rerun in reruns.values():
        assert rerun["batch_id"] is None and rerun["files"] == [] and rerun["files_skipped"], rerun
    assert reruns["tax_filings"]["gaps"] == clean_gaps["tax_filings"]
    assert reruns["transactions"]["continuity_gaps"] == clean_gaps["transactions"]
    assert lake_hashes(spark, lake) == clean
