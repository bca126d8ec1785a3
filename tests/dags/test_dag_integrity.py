"""Structure of the ingestion DAGs: they parse, and carry the schedule, retries, pool and outlets."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from riskpipe.airflow_env import DAGS_FOLDER, DELTA_WRITER_POOL, airflow_env, run_airflow

DAILY, MONTHLY = "0 0 * * *", "0 0 1 * *"
# dag_id -> (source tag, cron, {task_id: silver tables it publishes})
EXPECTED = {
    "ingest_registry": ("registry", DAILY, {"ingest_enterprises": ["enterprises"]}),
    "ingest_tax": ("tax", MONTHLY, {"ingest_tax_filings": ["tax_filings"], "ingest_tax_ratings": ["tax_ratings"]}),
    "ingest_utility": ("utility", MONTHLY, {"ingest_utility_reads": ["utility_reads"]}),
    "ingest_court": ("court", DAILY, {"ingest_court_events": ["court_events"]}),
    "ingest_transactions": ("transactions", DAILY, {"ingest_transactions": ["transactions"]}),
    "ingest_loans": ("loans", DAILY, {"ingest_loans": ["loans"], "ingest_loan_balances": ["loan_balances"]}),
    "ingest_fund": ("fund", MONTHLY, {"ingest_fund_statements": ["fund_statements"]}),
}


def _last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in airflow output:\n{text}")


def test_airflow_cli_reports_no_import_errors(airflow_home):
    result = run_airflow(["dags", "list-import-errors", "--local", "-o", "json"], airflow_env())
    assert _last_json(result.stdout) == []


def test_dagbag_has_the_ingestion_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(EXPECTED) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_schedule_and_run_policy(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    tag, cron, _ = EXPECTED[dag_id]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == cron
    assert str(dag.timetable.timezone) == "UTC"
    assert dag.start_date == datetime(2019, 1, 1, tzinfo=UTC)
    assert dag.catchup is True
    assert dag.max_active_runs == 1
    assert {"riskpipe", "ingestion", tag} <= set(dag.tags)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_tasks_retry_write_in_the_pool_and_publish_assets(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    expected_tasks = EXPECTED[dag_id][2]
    assert set(dag.task_ids) == set(expected_tasks)
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_delay >= timedelta(minutes=1), task.task_id
        # every ingestion task writes the lakehouse (bronze, silver and the ops tables)
        assert task.pool == DELTA_WRITER_POOL, task.task_id
        uris = sorted(outlet.uri for outlet in task.outlets)
        assert uris == sorted(f"riskpipe://silver/{t}" for t in expected_tasks[task.task_id]), task.task_id
        assert all(outlet.name == outlet.uri for outlet in task.outlets)


def test_balances_run_after_loan_contracts(dagbag):
    dag = dagbag.dags["ingest_loans"]
    assert dag.get_task("ingest_loan_balances").upstream_task_ids == {"ingest_loans"}


@pytest.mark.parametrize("dag_id", ["ingest_loans", "ingest_transactions"])
def test_core_banking_dags_take_a_mode_param(dagbag, dag_id):
    params = dagbag.dags[dag_id].params
    assert params["mode"] == "auto"
    assert params.get_param("mode").schema["enum"] == ["auto", "files", "jdbc"]


def test_pool_exists_with_one_slot(airflow_home):
    pools = _last_json(run_airflow(["pools", "list", "-o", "json"], airflow_env()).stdout)
    assert {p["pool"]: int(p["slots"]) for p in pools}[DELTA_WRITER_POOL] == 1


def test_dag_files_parse_fast_without_heavy_imports(airflow_home):
    # The DAG processor parses every file every few seconds: no Spark, runner or I/O at top level.
    # The parse also shows the start date following RISKPIPE_INGEST_START_DATE.
    probe = (
        "import sys, time, runpy, glob\n"
        "t = time.monotonic()\n"
        f"dags = [runpy.run_path(p)['dag'] for p in sorted(glob.glob('{DAGS_FOLDER}/ingest_*.py'))]\n"
        "heavy = [m for m in ('pyspark', 'jobs.ingest.run', 'delta', 'great_expectations', 'pandas')\n"
        "         if m in sys.modules]\n"
        "print(len(dags), {d.start_date.isoformat() for d in dags}, heavy, round(time.monotonic() - t, 2))\n"
    )
    env = airflow_env({**airflow_env(), "RISKPIPE_INGEST_START_DATE": "2020-06-01"})
    result = subprocess.run([sys.executable, "-c", probe], env=env, text=True, capture_output=True, check=True)
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith(f"{len(EXPECTED)} {{'2020-06-01T00:00:00+00:00'}} [] "), result.stdout
    assert float(line.rsplit(" ", 1)[1]) < 20
