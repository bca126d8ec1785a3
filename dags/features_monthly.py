"""Build the month-end point-in-time features and default labels (gold) once a month.

The run for data interval [first of month M, first of M+1) builds snapshot D = the last day
of M, plus every earlier snapshot that is missing or that silver changes since its build
have made stale (late or restated records). It runs at the start of M+1, after the ingestion
DAGs have published the deliveries available on D (assets ``riskpipe://silver/<table>`` are
declared as inlets for lineage). Backfill with catchup: runs are independent of the wall
clock, the snapshot comes from the data interval only.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, dag, task

from dags._common import DEFAULT_ARGS, MONTHLY, START_DATE, logical_date_for, silver_asset, small_summary
from riskpipe.airflow_env import DELTA_WRITER_POOL

SILVER_INPUTS = ("enterprises", "tax_filings", "tax_ratings", "utility_reads", "court_events", "transactions",
                 "loans", "loan_balances")
GOLD_OUTPUTS = [Asset(name=f"riskpipe://gold/{t}", uri=f"riskpipe://gold/{t}")
                for t in ("enterprise_features", "default_labels")]
TAGS = ["riskpipe", "features", "gold"]


@dag(dag_id="features_monthly", schedule=MONTHLY, start_date=START_DATE, catchup=True, max_active_runs=1,
     default_args=dict(DEFAULT_ARGS), tags=TAGS, doc_md=__doc__)
def features_monthly():
    @task(task_id="snapshot_date")
    def snapshot_date(data_interval_start=None, data_interval_end=None) -> str:
        """The month-end of the run's interval (ISO date); rejects intervals that are not one month."""
        import datetime as dt

        if data_interval_start is None or data_interval_end is None:
            raise ValueError("features_monthly needs a data interval; trigger it with a logical date")
        start, end = data_interval_start.date(), data_interval_end.date()
        day = end - dt.timedelta(days=1)
        if start.day != 1 or end.day != 1 or (start.year, start.month) != (day.year, day.month):
            raise ValueError(f"data interval {start}..{end} is not one calendar month")
        return day.isoformat()

    @task(task_id="build_features", pool=DELTA_WRITER_POOL,
          inlets=[silver_asset(t) for t in SILVER_INPUTS], outlets=GOLD_OUTPUTS)
    def build_features(day: str) -> dict[str, Any]:
        """Build snapshot ``day`` and the stale earlier ones; XCom gets a small summary."""
        from jobs.features.main import update  # heavy (Spark) import: run time only
        from riskpipe.spark import get_spark

        return small_summary(update(get_spark(app_name="riskpipe-features"), day))

    build_features(snapshot_date())


dag = features_monthly()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2021-06-01"))
