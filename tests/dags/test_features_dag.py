"""The gold DAGs parse and carry their schedules, tags, retries and pool; snapshot dates come from any trigger."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from dags._common import snapshot_dates
from riskpipe.airflow_env import DELTA_WRITER_POOL


def _asset_names(condition) -> set[str]:
    if hasattr(condition, "objects"):
        return set().union(*(_asset_names(c) for c in condition.objects))
    return {condition.name}


def test_features_dag_runs_monthly_and_when_the_monthly_feeds_are_published(dagbag):
    assert "features_monthly.py" not in str(dagbag.import_errors)
    dag = dagbag.dags["features_monthly"]
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.timetable.expression == "0 0 1 * *"
    assert _asset_names(dag.timetable.asset_condition) == {
        "riskpipe://silver/tax_filings",
        "riskpipe://silver/utility_reads",
    }
    assert dag.catchup is True
    assert {"riskpipe", "features"} <= set(dag.tags)
    build = dag.get_task("build_features")
    assert build.pool == DELTA_WRITER_POOL
    assert all(t.retries >= 2 for t in dag.tasks)
    assert {o.uri for o in build.outlets} == {"riskpipe://gold/enterprise_features", "riskpipe://gold/default_labels"}


def test_scoring_dag_is_triggered_by_the_features_asset(dagbag):
    assert "score_monthly.py" not in str(dagbag.import_errors)
    dag = dagbag.dags["score_monthly"]
    assert _asset_names(dag.timetable.asset_condition) == {"riskpipe://gold/enterprise_features"}
    assert {"riskpipe", "scoring"} <= set(dag.tags)
    assert all(t.retries >= 2 for t in dag.tasks)
    assert dag.get_task("score").pool == DELTA_WRITER_POOL == dag.get_task("monitor").pool
    assert dag.get_task("monitor").upstream_task_ids >= {"score"}
    assert {o.uri for o in dag.get_task("monitor").outlets} == {
        f"riskpipe://gold/{t}" for t in ("early_warnings", "watch_list", "loan_classification")
    }


def _event(**extra):
    return SimpleNamespace(extra=extra)


@pytest.mark.parametrize(
    "context, expected",
    [
        ({"params": {"snapshot_date": "2021-06-30"}}, ["2021-06-30"]),
        (
            {
                "params": {},
                "data_interval_start": datetime(2021, 6, 1, tzinfo=UTC),
                "data_interval_end": datetime(2021, 7, 1, tzinfo=UTC),
            },
            ["2021-06-30"],
        ),
        (
            {
                "params": {},
                "triggering_asset_events": {
                    "a": [_event(snapshot_date="2021-05-31"), _event(snapshot_date="2021-06-30")]
                },
            },
            ["2021-05-31", "2021-06-30"],
        ),
        # a monthly feed ingested for [June, July) completes June; a daily one for 14 July does not complete July
        (
            {
                "params": {},
                "triggering_asset_events": {
                    "t": [_event(data_interval_start="2021-06-01", data_interval_end="2021-07-01")],
                    "u": [_event(data_interval_start="2021-07-14", data_interval_end="2021-07-15")],
                },
            },
            ["2021-06-30"],
        ),
    ],
)
def test_snapshot_dates_come_from_the_param_the_interval_or_the_asset_events(context, expected):
    assert snapshot_dates(context) == expected


def test_a_run_without_any_date_fails_clearly():
    with pytest.raises(ValueError, match="snapshot_date"):
        snapshot_dates({"params": {}, "triggering_asset_events": {}})
