"""The monthly HTML risk report, once every input of a snapshot has been published.

Scheduled on an asset condition: all of ``early_warnings``, ``watch_list`` and
``loan_classification`` (``score_monthly``), ``portfolio_metrics`` and ``stress_results``
(``portfolio_monthly``) and ``model_monitoring`` (``model_monitoring``) updated since the last
run, each event carrying its snapshot date. The report's inputs come from three DAGs, so the
condition, not a task dependency, is where "after all of them" can be said; ``portfolio_monthly``'s
docstring says why the report is not one of its tasks.

``report`` writes ``risk_report_<D>.html`` under ``report.output_dir`` and replaces it only when
its content changes, so a second trigger of the same month writes nothing. It writes no Delta
table and runs outside the writer pool. A snapshot whose monitoring has not run (its DAG failed)
is not reported until the next month's events arrive; that run reports both months, the earlier
one without the monitoring section. A manual run or a backfill sets the ``snapshot_date`` param.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAll, Param, dag, get_current_context, task

from dags._common import DEFAULT_ARGS, START_DATE, gold_asset, small_summary, snapshot_dates, task_session
from riskpipe import pipeline

INPUTS = [
    gold_asset(t)
    for t in (
        "early_warnings",
        "watch_list",
        "loan_classification",
        "portfolio_metrics",
        "stress_results",
        "model_monitoring",
    )
]
REPORT = Asset(name="riskpipe://reports/risk_report", uri="riskpipe://reports/risk_report")
TAGS = ["riskpipe", "report", "gold"]


@dag(
    dag_id="report_monthly",
    schedule=AssetAll(*INPUTS),
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
            description="month-end to report (default: from the triggering events)",
        )
    },
)
def report_monthly():
    @task(task_id="snapshot_dates")
    def which_snapshots() -> list[str]:
        """Month-end(s) to report: the param, else the triggering events."""
        return snapshot_dates(get_current_context())

    @task(task_id="report", inlets=INPUTS, outlets=[REPORT])
    def report(days: list[str]) -> list[dict[str, Any]]:
        """The HTML report of each snapshot (written only when its content changed)."""
        settings, spark = task_session("riskpipe-report")
        summaries = [
            small_summary(pipeline.run("report", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark))
            for day in days
        ]
        get_current_context()["outlet_events"][REPORT].extra = {
            "snapshot_date": days[-1],
            "written": [s.get("path") for s in summaries if s.get("written")],
        }
        return summaries

    report(which_snapshots())


dag = report_monthly()

if __name__ == "__main__":
    dag.test(run_conf={"snapshot_date": "2021-06-30"})
