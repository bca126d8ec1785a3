"""The monthly feature DAG parses and carries its schedule, tags, retries and pool."""

from __future__ import annotations

from riskpipe.airflow_env import DELTA_WRITER_POOL


def test_features_dag_structure(dagbag):
    assert "features_monthly.py" not in str(dagbag.import_errors)
    dag = dagbag.dags["features_monthly"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 0 1 * *"
    assert dag.catchup is True
    assert {"riskpipe", "features"} <= set(dag.tags)
    build = dag.get_task("build_features")
    assert build.pool == DELTA_WRITER_POOL
    assert all(t.retries >= 2 for t in dag.tasks)
    assert {o.uri for o in build.outlets} == {"riskpipe://gold/enterprise_features", "riskpipe://gold/default_labels"}
