"""Score, warn and classify once a month, when the features of a new snapshot are published.

Scheduled on the asset ``riskpipe://gold/enterprise_features`` (published by
``features_monthly`` with the snapshot date in the event): scores every active borrower with
the champion model into ``risk_scores``, then evaluates the early-warning catalogue, updates
the watch list and suggests each loan's five-category class and IFRS 9 stage. Every write
replaces the snapshot's month (and is skipped when unchanged), so clearing a run converges.
A manual run or backfill sets the ``snapshot_date`` param (a month-end).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from dags._common import DEFAULT_ARGS, START_DATE, gold_asset, small_summary, snapshot_dates, task_session
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

FEATURES = gold_asset("enterprise_features")
SCORES = gold_asset("risk_scores")
MONITORING = [gold_asset(t) for t in ("early_warnings", "watch_list", "loan_classification")]
TAGS = ["riskpipe", "scoring", "gold"]


@dag(
    dag_id="score_monthly",
    schedule=[FEATURES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=dict(DEFAULT_ARGS),
    tags=TAGS,
    doc_md=__doc__,
    params={
        "snapshot_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="month-end to score (default: from the features event)",
        )
    },
)
def score_monthly():
    @task(task_id="snapshot_dates")
    def which_snapshots() -> list[str]:
        """Month-end(s) to score: the param, else the triggering features events."""
        return snapshot_dates(get_current_context())

    @task(task_id="score", pool=DELTA_WRITER_POOL, inlets=[FEATURES], outlets=[SCORES])
    def score(days: list[str]) -> list[dict[str, Any]]:
        """Score each snapshot with the champion (the alias is resolved once per snapshot)."""
        settings, spark = task_session("riskpipe-scoring")
        summaries = [
            small_summary(pipeline.run("score", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark))
            for day in days
        ]
        get_current_context()["outlet_events"][SCORES].extra = {"snapshot_date": days[-1]}
        return summaries

    @task(task_id="monitor", pool=DELTA_WRITER_POOL, inlets=[FEATURES, SCORES], outlets=MONITORING)
    def monitor(days: list[str], scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Early warnings, watch list and loan classification of each scored snapshot."""
        settings, spark = task_session("riskpipe-post-loan")
        summaries = [
            small_summary(
                pipeline.run("post_loan", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark)
            )
            for day in days
        ]
        for asset in MONITORING:
            get_current_context()["outlet_events"][asset].extra = {"snapshot_date": days[-1]}
        return summaries

    days = which_snapshots()
    monitor(days, score(days))


dag = score_monthly()

if __name__ == "__main__":
    dag.test(run_conf={"snapshot_date": "2021-06-30"})
