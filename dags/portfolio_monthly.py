"""Portfolio risk, stress scenarios and the warnings' backtest once a month, after scoring.

Scheduled on the asset ``riskpipe://gold/risk_scores`` (published by ``score_monthly`` with the
snapshot date in the event), the one table these stages need that is new each month.
``portfolio`` writes ``portfolio_risk``, ``portfolio_summary`` and ``portfolio_metrics`` under the
fund (``portfolio.fund`` in the profile); ``stress`` then rescores the snapshot under every
configured scenario into ``stress_results`` and ``stress_migration``. Both write the lakehouse, so
they run in the writer pool, one after the other; each replaces the snapshot's month and skips the
write when the content is unchanged, so a second trigger of the same month commits nothing.
``warning_backtest`` judges the warning catalogue on the 12 month-ends that have matured by the
snapshot (defaults known on the snapshot date); it writes no table, only its summary and the
targets check to XCom, so it runs outside the pool, beside the writers. In the first year of
features no month has matured: the task succeeds with ``matured: false``.

The report is a DAG of its own (``report_monthly``) because it also needs ``model_monitoring``,
published by another DAG: an asset condition on the three producers says that once, where one
DAG holding every stage would have to duplicate monitoring or wait on it with a sensor. A manual
run or a backfill sets the ``snapshot_date`` param (a month-end); ``report_monthly`` follows from
the assets this DAG publishes.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from dags._common import DEFAULT_ARGS, START_DATE, gold_asset, small_summary, snapshot_dates, task_session
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

SCORES = gold_asset("risk_scores")
PORTFOLIO = [gold_asset(t) for t in ("portfolio_risk", "portfolio_summary", "portfolio_metrics")]
STRESS = [gold_asset(t) for t in ("stress_results", "stress_migration")]
TAGS = ["riskpipe", "portfolio", "stress", "gold"]


def _publish(assets: list[Asset], day: str) -> None:
    events = get_current_context()["outlet_events"]
    for asset in assets:
        events[asset].extra = {"snapshot_date": day}


@dag(
    dag_id="portfolio_monthly",
    schedule=[SCORES],
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
            description="month-end to run (default: from the risk_scores event)",
        )
    },
)
def portfolio_monthly():
    @task(task_id="snapshot_dates")
    def which_snapshots() -> list[str]:
        """Month-end(s) to run: the param, else the triggering risk_scores events."""
        return snapshot_dates(get_current_context())

    @task(task_id="portfolio", pool=DELTA_WRITER_POOL, inlets=[SCORES], outlets=PORTFOLIO)
    def portfolio(days: list[str]) -> list[dict[str, Any]]:
        """Portfolio risk of each snapshot under the fund."""
        settings, spark = task_session("riskpipe-portfolio")
        summaries = [
            small_summary(
                pipeline.run("portfolio", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark)
            )
            for day in days
        ]
        _publish(PORTFOLIO, days[-1])
        return summaries

    @task(task_id="stress", pool=DELTA_WRITER_POOL, inlets=[SCORES], outlets=STRESS)
    def stress(days: list[str]) -> list[dict[str, Any]]:
        """Every configured stress scenario of each snapshot."""
        settings, spark = task_session("riskpipe-stress")
        summaries = [
            small_summary(pipeline.run("stress", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark))
            for day in days
        ]
        _publish(STRESS, days[-1])
        return summaries

    @task(task_id="warning_backtest", inlets=[SCORES])
    def warning_backtest(days: list[str]) -> list[dict[str, Any]]:
        """The warning catalogue judged on the matured months of each snapshot (reads only)."""
        settings, spark = task_session("riskpipe-warning-backtest")
        summaries = []
        for day in days:
            result = pipeline.run(
                "warning_backtest", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark
            )
            # the per-signal rows and the lead history are for the report; XCom keeps the verdict
            summaries.append(
                small_summary(
                    {
                        "snapshot_date": day,
                        "matured": result["matured"],
                        "catalogue_version": result.get("catalogue_version"),
                        "targets": result.get("targets", []),
                    }
                )
            )
        return summaries

    days = which_snapshots()
    # stress reads no portfolio table; run after portfolio, a month with missing inputs fails on the
    # cheap stage before the model is loaded to rescore it
    portfolio(days) >> stress(days)
    warning_backtest(days)


dag = portfolio_monthly()

if __name__ == "__main__":
    dag.test(run_conf={"snapshot_date": "2021-06-30"})
