"""The DAGs after scoring: portfolio_monthly on risk_scores, report_monthly on every input of the report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dags._common import DEFAULT_ARGS, FailureAlert
from riskpipe import pipeline
from riskpipe.airflow_env import DAGS_FOLDER, DELTA_WRITER_POOL, airflow_env

CHAIN = ("portfolio_monthly", "report_monthly")
GOLD = "riskpipe://gold/"


def _asset_uris(condition) -> set[str]:
    if hasattr(condition, "objects"):
        return set().union(*(_asset_uris(c) for c in condition.objects))
    return {condition.uri}


def test_the_chain_dags_parse(dagbag):
    assert not {f for f in dagbag.import_errors if f.endswith(("portfolio_monthly.py", "report_monthly.py"))}
    assert set(CHAIN) <= set(dagbag.dags)


def test_portfolio_runs_on_the_scores_score_monthly_publishes(dagbag):
    dag = dagbag.dags["portfolio_monthly"]
    assert _asset_uris(dag.timetable.asset_condition) == {f"{GOLD}risk_scores"}
    scoring = {o.uri for o in dagbag.dags["score_monthly"].get_task("score").outlets}
    assert f"{GOLD}risk_scores" in scoring
    assert dag.get_task("stress").upstream_task_ids == {"snapshot_dates", "portfolio"}
    assert dag.get_task("warning_backtest").upstream_task_ids == {"snapshot_dates"}
    assert {o.uri for o in dag.get_task("portfolio").outlets} == {
        f"{GOLD}{t}" for t in pipeline.stage("portfolio").writes
    }
    assert {o.uri for o in dag.get_task("stress").outlets} == {f"{GOLD}{t}" for t in pipeline.stage("stress").writes}


def test_report_waits_for_all_its_producers(dagbag):
    dag = dagbag.dags["report_monthly"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"
    wanted = _asset_uris(condition)
    assert wanted == {
        f"{GOLD}{t}"
        for t in (
            "early_warnings",
            "watch_list",
            "loan_classification",
            "portfolio_metrics",
            "stress_results",
            "model_monitoring",
        )
    }
    # every asset the report waits for is published by a task of another DAG
    published = {
        o.uri for d in dagbag.dags.values() if d.dag_id != "report_monthly" for t in d.tasks for o in t.outlets
    }
    assert wanted <= published
    assert wanted <= {f"{GOLD}{t}" for t in pipeline.stage("report").reads}


@pytest.mark.parametrize("dag_id", CHAIN)
def test_run_policy_params_retries_notifier_and_pool(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.params["snapshot_date"] is None
    assert dag.params.get_param("snapshot_date").schema["format"] == "date"
    for task in dag.tasks:
        assert task.retries >= 2 == DEFAULT_ARGS["retries"], task.task_id
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, FailureAlert) for c in callbacks), task.task_id
        # Delta writers share the pool; the backtest, the report and the wiring write no table
        writes = task.task_id in ("portfolio", "stress")
        assert (task.pool == DELTA_WRITER_POOL) == writes, task.task_id


def test_chain_dag_files_parse_without_heavy_imports(airflow_home):
    probe = (
        "import sys, runpy\n"
        f"dags = [runpy.run_path('{DAGS_FOLDER}/' + n + '.py')['dag'] for n in {list(CHAIN)!r}]\n"
        "heavy = [m for m in ('pyspark', 'delta', 'mlflow', 'pandas', 'jobs.portfolio', 'jobs.report')\n"
        "         if m in sys.modules]\n"
        "print(sorted(d.dag_id for d in dags), heavy)\n"
    )
    env = airflow_env()
    result = subprocess.run([sys.executable, "-c", probe], env=env, text=True, capture_output=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == f"{sorted(CHAIN)} []", result.stdout + result.stderr
