"""The weekly maintenance DAG: schedule, the four stages in order, the writer pool, default args."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dags._common import DEFAULT_ARGS, FailureAlert, failing_for_good
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL


def test_weekly_schedule_without_catchup(dagbag):
    dag = dagbag.dags["delta_maintenance"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.timetable.expression == "0 3 * * 0" and str(dag.timetable.timezone) == "UTC"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"riskpipe", "maintenance"} <= set(dag.tags)


def test_the_maintenance_stages_run_in_order_in_the_writer_pool_with_the_default_args(dagbag):
    dag = dagbag.dags["delta_maintenance"]
    assert sorted(dag.task_ids) == sorted(pipeline.MAINTENANCE)
    for before, after in zip(pipeline.MAINTENANCE, pipeline.MAINTENANCE[1:], strict=False):
        assert dag.get_task(after).upstream_task_ids == {before}
    for task in dag.tasks:
        assert task.pool == DELTA_WRITER_POOL, task.task_id
        assert task.retries == DEFAULT_ARGS["retries"] and task.retry_delay >= timedelta(minutes=1)
        assert task.execution_timeout == DEFAULT_ARGS["execution_timeout"]
        callbacks = (
            task.on_failure_callback if isinstance(task.on_failure_callback, list) else [task.on_failure_callback]
        )
        assert any(isinstance(c, FailureAlert) for c in callbacks), task.task_id


def test_a_refusal_fails_the_task_for_good():
    from airflow.sdk.exceptions import AirflowFailException

    from jobs.maintenance.main import VacuumRefusedError

    with pytest.raises(AirflowFailException, match="VACUUM: VacuumRefusedError: model sme_pd version 3 pins"):
        with failing_for_good("VACUUM"):
            raise VacuumRefusedError("model sme_pd version 3 pins enterprise_features version 7")
    with pytest.raises(OSError):  # anything else keeps Airflow's retries
        with failing_for_good("VACUUM"):
            raise OSError("disk hiccup")
