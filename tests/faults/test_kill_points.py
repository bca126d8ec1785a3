"""A real ingestion process SIGKILLed at each step of a batch, then run again, ends equal to a clean run.

One loop over the kill points of :data:`tests.faults.kill_at_step.STEPS`: after bronze, after
quarantine, during and after the silver MERGE, after the manifest, during the derived checks.
Each point kills its own process on its own lakehouse; the rerun (in this process) must leave
every table — bronze, quarantine, silver, the manifest and the gap registers — equal to one clean
run of the same interval, run-dependent columns aside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.data import lake_hashes
from tests.faults.kill_at_step import STEPS
from tests.faults.test_exactly_once import END, ORIGINAL, SOURCE, START, _ingest, _landing

KILL_TIMEOUT_S = 600
REPO = Path(__file__).resolve().parents[2]


def _kill_at(step: str, landing: Path, lake: Path) -> str:
    env = {
        **os.environ,
        "RISKPIPE_LAKEHOUSE": str(lake),
        "RISKPIPE_LANDING": str(landing),
        "RISKPIPE_DATA_DOCS_DIR": "",
        "RISKPIPE_DRIVER_MEMORY": "1g",
        "RISKPIPE_SPARK_MASTER": "local[2]",
        "RISKPIPE_SPARK_UI": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.kill_at_step", step, SOURCE, START, END],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=KILL_TIMEOUT_S,
        start_new_session=True,
    )
    assert proc.returncode == -9, f"{step}: expected SIGKILL, got {proc.returncode}: {proc.stdout[-3000:]}"
    assert f"killing myself: {step}" in proc.stdout
    return proc.stdout


@pytest.mark.reliability(
    "2 idempotent replay",
    "a real ingestion process SIGKILLed at each step of a batch (after bronze, after quarantine, during "
    "and after the silver MERGE, after the manifest, during the derived checks), one loop",
    "the rerun ends with every table (bronze, quarantine, silver, manifest, gap registers) equal to one clean run",
)
def test_a_batch_killed_at_any_step_then_rerun_equals_a_clean_run(spark, tmp_path):
    landing = _landing(tmp_path / "landing", ORIGINAL)
    clean_lake = tmp_path / "clean"
    assert _ingest(spark, landing, clean_lake)["rows_published"] > 0
    clean = lake_hashes(spark, clean_lake)
    differing = {}
    for number, step in enumerate(STEPS):
        lake = tmp_path / f"killed-{number}"
        _kill_at(step, landing, lake)
        _ingest(spark, landing, lake)
        after = lake_hashes(spark, lake)
        differing[step] = sorted(t for t in clean.keys() | after.keys() if clean.get(t) != after.get(t))
    assert differing == {step: [] for step in STEPS}
