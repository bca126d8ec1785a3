"""Ingest the power grid and water utility meter reads (monthly JSON Lines) into silver.utility_reads."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import MONTHLY, dag_kwargs, ingest_task, logical_date_for


@dag(dag_id="ingest_utility", **dag_kwargs("utility", schedule=MONTHLY, doc=__doc__))
def ingest_utility():
    ingest_task("utility_reads")


dag = ingest_utility()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"))
