"""Guarantee 4: Airflow runs every task at least once; a retried or re-run task converges.

The ingestion DAG ``ingest_tax`` runs with ``dag.test()`` on the SQLite metadata DB of the test
session, on simulator tax deliveries, each run into a lakehouse of its own. Every table of a
faulted run's lakehouse (silver, bronze, quarantine, the file manifest, the gap register) is
compared with the lakehouse of one clean run by content hash, without the columns that hold the
wall-clock time of a run.

``dag.test()`` is Airflow's own loop of the scheduler's steps: a task that raises goes to
``up_for_retry`` and is run again once its ``retry_delay`` has passed (set to 1 s here), with
``try_number`` 2, exactly as a scheduler would. A killed worker is simulated with SIGKILL in a
subprocess (``tests/faults/killable_task.py``); the operator then clears the task, and the next
run of the same logical date has to finish what the killed attempt left half done.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.faults.data import lake_hashes

pytestmark = pytest.mark.slow

DAG_ID, TASK_ID = "ingest_tax", "ingest_tax_filings"
ENTERPRISES, MONTHS, SEED, FIRST_MONTH = 20, 4, 17, "2019-01"
FIRST, SECOND = "2019-02-01", "2019-03-01"  # two monthly data intervals of deliveries
# operational columns: when a gap or a validation was recorded (besides the data module's)
KILL_TIMEOUT_S = 600
REPO = Path(__file__).resolve().parents[2]
# a delivery holds ~20 rows, so one defect is 5%: quarantine it instead of rejecting the batch
PROFILE = "ingestion:\n  max_failure_rate: 0.5\n"


class InjectedFault(OSError):
    """A retryable failure (a lost disk, a dropped connection) raised by the test."""


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """Simulator tax deliveries of 20 enterprises over four months (dirty data included)."""
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    root = tmp_path_factory.mktemp("airflow_landing")
    simulate(
        SimConfig(enterprises=ENTERPRISES, months=MONTHS, seed=SEED, start=FIRST_MONTH, sources=("tax",), quiet=True),
        root,
    )
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory, landing, airflow_home):
    """Environment of every run: the landing, the small-batch profile, no Data Docs."""
    profile = tmp_path_factory.mktemp("airflow_profile") / "profile.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISKPIPE_LANDING", str(landing))
        patch.setenv("RISKPIPE_PROFILE", str(profile))
        patch.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        yield patch


@pytest.fixture()
def fast_retries(dagbag, monkeypatch):
    """The DAG's tasks retry 1 s after a failure instead of minutes (the retry count is unchanged)."""
    dag = dagbag.dags[DAG_ID]
    for task in dag.tasks:
        assert task.retries >= 2
        monkeypatch.setattr(task, "retry_delay", dt.timedelta(seconds=1))
        monkeypatch.setattr(task, "retry_exponential_backoff", 0)
    return dag


def _run(dag, env, lake: Path, interval_start: str):
    """``dag.test()`` of the interval into ``lake``; the DAG run."""
    from dags._common import logical_date_for

    env.setenv("RISKPIPE_LAKEHOUSE", str(lake))
    run = dag.test(logical_date=logical_date_for(dag, interval_start))
    assert str(run.state) == "success", f"{dag.dag_id} {interval_start}: {run.state}"
    return run


def _try_numbers(run) -> dict[str, tuple[int, str]]:
    """(try number, state) of every task instance of a DAG run, from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        return {ti.task_id: (ti.try_number, str(ti.state)) for ti in tis}


def _failed_tries(run) -> list[tuple[int, str]]:
    """(try number, state) of the earlier attempts Airflow archived for the ingestion task."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskInstanceHistory).where(
                TaskInstanceHistory.dag_id == run.dag_id,
                TaskInstanceHistory.run_id == run.run_id,
                TaskInstanceHistory.task_id == TASK_ID,
            )
        ).all()
        return sorted((row.try_number, str(row.state)) for row in rows)


@pytest.fixture(scope="module")
def clean(dagbag, spark, env, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One clean run of the first interval: its lakehouse and its tables' content hashes."""
    lake = tmp_path_factory.mktemp("airflow_clean") / "lake"
    _run(dagbag.dags[DAG_ID], env, lake, FIRST)
    tables = lake_hashes(spark, lake)
    assert "silver/tax_filings" in tables, sorted(tables)
    return lake, tables


def _fail_first_call(monkeypatch, module, name: str, *, after: bool, when=lambda *a, **k: True) -> list:
    """Make ``module.name`` raise :class:`InjectedFault` on its first matching call only.

    ``after`` runs the real function first (its writes are committed), so the fault hits
    between two steps of the task; otherwise the call fails before it writes anything.
    """
    original, faults = getattr(module, name), []

    def faulty(*args, **kwargs):
        if not faults and when(*args, **kwargs):
            faults.append(name)
            if after:
                original(*args, **kwargs)
            raise InjectedFault(f"injected fault in {name} on the first attempt")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, faulty)
    return faults


FAULT_POINTS = {
    # bronze and quarantine are written, silver not yet
    "before-silver": ("jobs.ingest.batch", "_publish", False, lambda *a, **k: True),
    # silver is published, the manifest still says the files are being processed
    "before-manifest": (
        "jobs.ingest.connectors.files",
        "record",
        False,
        lambda *a, **k: k.get("status") == "succeeded",
    ),
}


def _point(point: str, fault: str, checked: str):
    return pytest.param(point, marks=pytest.mark.reliability("4 Airflow at-least-once", fault, checked), id=point)


@pytest.mark.parametrize(
    "point",
    [
        _point(
            "before-silver",
            "the ingestion task fails on its first attempt after bronze and quarantine were "
            "written, before the silver MERGE",
            "Airflow retries it (try 2) and every table equals one clean run",
        ),
        _point(
            "before-manifest",
            "the ingestion task fails on its first attempt after the silver MERGE, before the "
            "manifest records the files",
            "the retry publishes nothing twice: every table equals one clean run",
        ),
    ],
)
def test_a_task_failing_on_its_first_attempt_retries_to_the_same_output(
    fast_retries, spark, env, clean, tmp_path, monkeypatch, point
):
    import importlib

    module, name, after, when = FAULT_POINTS[point]
    faults = _fail_first_call(monkeypatch, importlib.import_module(module), name, after=after, when=when)
    run = _run(fast_retries, env, tmp_path / "lake", FIRST)
    assert faults == [name], "the fault was not injected"
    assert _try_numbers(run)[TASK_ID] == (2, "success")
    # the first attempt is archived (Airflow 3 keeps it as ``failed``, the retry's own state is success)
    assert [number for number, _ in _failed_tries(run)] == [1]
    assert lake_hashes(spark, tmp_path / "lake") == clean[1]


def _task_state(dag_id: str, task_id: str, logical_date) -> tuple[int, str | None]:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance)
            .join(DagRun, TaskInstance.run_id == DagRun.run_id)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.task_id == task_id,
                DagRun.dag_id == dag_id,
                DagRun.logical_date == logical_date,
            )
        ).one()
        return ti.try_number, (str(ti.state) if ti.state is not None else None)


def _clear(dag_id: str, logical_date) -> None:
    """The lost worker's task is declared failed, then an operator's *Clear* resets the run.

    A scheduler fails a ``running`` task instance whose worker stopped heartbeating (there is
    no scheduler in ``dag.test()``, so the test does it); clearing a running one would only ask
    its (dead) worker to restart.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance)
            .join(DagRun, TaskInstance.run_id == DagRun.run_id)
            .where(TaskInstance.dag_id == dag_id, DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).all()
        for ti in tis:
            if ti.state == TaskInstanceState.RUNNING:
                ti.state = TaskInstanceState.FAILED
        session.flush()
        clear_task_instances(list(tis), session)


def _kill_mid_task(lake: Path) -> str:
    """Run the DAG in a subprocess that SIGKILLs itself mid-task; its output."""
    env = {
        **os.environ,
        "RISKPIPE_LAKEHOUSE": str(lake),
        "RISKPIPE_DRIVER_MEMORY": "1g",
        "RISKPIPE_SPARK_MASTER": "local[2]",
        "RISKPIPE_SPARK_UI": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.killable_task", DAG_ID, FIRST],
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
    "4 Airflow at-least-once",
    "the worker is killed (SIGKILL) mid-task, after the silver MERGE and before the manifest update",
    "the task instance is left running; silver holds the rows, the manifest no success",
)
@pytest.mark.reliability(
    "4 Airflow at-least-once",
    "the killed task is cleared and run again",
    "it converges: every table equals one clean run, nothing doubled",
)
def test_a_task_killed_mid_run_and_cleared_converges(dagbag, spark, env, clean, tmp_path):
    from dags._common import logical_date_for
    from riskpipe.core import io
    from riskpipe.core.config import load_settings

    dag, lake = dagbag.dags[DAG_ID], tmp_path / "lake"
    logical_date = logical_date_for(dag, FIRST)
    env.setenv("RISKPIPE_LAKEHOUSE", str(lake))
    settings = load_settings()  # the lakehouse the killed task and the DAG runs see
    output = _kill_mid_task(lake)
    assert "killing myself" in output
    assert _task_state(DAG_ID, TASK_ID, logical_date) == (1, "running")  # a zombie until cleared
    assert io.read(spark, "tax_filings", settings=settings).count() > 0
    manifest = io.read(spark, "ingest_manifest", settings=settings).where(F.col("source") == "tax_filings")
    statuses = {r["status"] for r in manifest.select("status").collect()}
    assert "succeeded" not in statuses, statuses  # so the rerun processes the files again
    _clear(DAG_ID, logical_date)
    assert _task_state(DAG_ID, TASK_ID, logical_date)[1] is None
    _run(dag, env, lake, FIRST)
    assert lake_hashes(spark, lake) == clean[1]


def _rows(spark, lake: Path, table: str) -> set[str]:
    """Every row of a table, all columns included, as JSON strings."""
    frame = spark.read.format("delta").load(str(lake / table))
    return {row for row in frame.select(F.to_json(F.struct(*sorted(frame.columns)))).toPandas().iloc[:, 0]}


@pytest.mark.reliability(
    "4 Airflow at-least-once",
    "the DAG runs for a second logical date after the first",
    "every row of the first interval (silver, bronze, quarantine, manifest) is unchanged, run timestamps included",
)
@pytest.mark.reliability(
    "4 Airflow at-least-once",
    "the DAG runs for a second logical date after the first",
    "the second run adds only its own interval's files and batch",
)
def test_two_logical_dates_touch_only_their_own_intervals(dagbag, spark, env, clean, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(clean[0], lake)
    tables = ("silver/tax_filings", "bronze/bronze_tax_filings", "ops/quarantine", "ops/ingest_manifest")
    missing = [t for t in tables if not (lake / t / "_delta_log").is_dir()]
    assert not missing, f"table folders moved: {missing} (have {sorted(lake_hashes(spark, lake))})"
    before = {table: _rows(spark, lake, table) for table in tables}
    _run(dagbag.dags[DAG_ID], env, lake, SECOND)
    after = {table: _rows(spark, lake, table) for table in tables}
    for table in tables:
        assert before[table] <= after[table], f"{table}: rows of the first interval changed"
    assert after["silver/tax_filings"] > before["silver/tax_filings"]
    bronze = spark.read.format("delta").load(str(lake / "bronze/bronze_tax_filings"))
    first_batches = {
        r[0]
        for r in spark.read.format("delta")
        .load(str(clean[0] / "bronze/bronze_tax_filings"))
        .select("_batch_id")
        .distinct()
        .collect()
    }
    new_batches = {r[0] for r in bronze.select("_batch_id").distinct().collect()} - first_batches
    assert len(new_batches) == 1
    manifest = spark.read.format("delta").load(str(lake / "ops/ingest_manifest"))
    new_files = {r["path"] for r in manifest.where(F.col("batch_id").isin(*new_batches)).collect()}
    assert new_files and all(path.endswith(f"_{SECOND[:4]}{SECOND[5:7]}.csv") for path in new_files), new_files
