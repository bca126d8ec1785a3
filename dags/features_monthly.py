"""Build the month-end point-in-time features and default labels (gold) once a month.

Triggered two ways (``AssetOrTimeSchedule``): when the monthly feeds (tax filings and
utility reads) have both been published again by the ingestion DAGs (assets
``riskpipe://silver/<table>``; the snapshot is the last month-end before the ingested
interval's end), and on the monthly timetable as a safety net and for backfills (the run
for data interval [first of M, first of M+1) builds D = the last day of M). Either way it
builds D plus every earlier snapshot that is missing or made stale by silver changes since
its build (late or restated records), and publishes ``riskpipe://gold/enterprise_features``
with the snapshot date in the event, which triggers scoring. Runs are independent of the
wall clock; a ``snapshot_date`` param forces one snapshot.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAll, AssetOrTimeSchedule, Param, dag, get_current_context, task

from dags._common import (
    DEFAULT_ARGS,
    MONTHLY,
    START_DATE,
    logical_date_for,
    silver_asset,
    small_summary,
    snapshot_dates,
    task_session,
)
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

SILVER_INPUTS = pipeline.SILVER
GOLD_OUTPUTS = [
    Asset(name=f"riskpipe://gold/{t}", uri=f"riskpipe://gold/{t}") for t in ("enterprise_features", "default_labels")
]
TAGS = ["riskpipe", "features", "gold"]
# the monthly feeds: once both are published again, a month's features can be built
TRIGGER_INPUTS = ("tax_filings", "utility_reads")
SCHEDULE = AssetOrTimeSchedule(timetable=MONTHLY, assets=AssetAll(*[silver_asset(t) for t in TRIGGER_INPUTS]))


@dag(
    dag_id="features_monthly",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=True,
    max_active_runs=1,
    default_args=dict(DEFAULT_ARGS),
    tags=TAGS,
    doc_md=__doc__,
    params={
        "snapshot_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="build this month-end (default: from the schedule or the event)",
        )
    },
)
def features_monthly():
    @task(task_id="snapshot_date")
    def snapshot_date() -> str:
        """The month-end to build (ISO date): param, data interval or triggering ingestion events."""
        return snapshot_dates(get_current_context())[-1]

    @task(
        task_id="build_features",
        pool=DELTA_WRITER_POOL,
        inlets=[silver_asset(t) for t in SILVER_INPUTS],
        outlets=GOLD_OUTPUTS,
    )
    def build_features(day: str) -> dict[str, Any]:
        """Build snapshot ``day`` and the stale earlier ones; XCom gets a small summary."""
        settings, spark = task_session("riskpipe-features")
        summary = small_summary(
            pipeline.run("features", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark)
        )
        outlet_events = get_current_context()["outlet_events"]
        for asset in GOLD_OUTPUTS:
            outlet_events[asset].extra = {"snapshot_date": day}  # scoring reads which month is ready
        return summary

    build_features(snapshot_date())


dag = features_monthly()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2021-06-01"))
