"""Ingest the enterprise registry and recommendation list (daily CSV snapshot) into silver.enterprises."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DAILY, dag_kwargs, ingest_task, logical_date_for


@dag(dag_id="ingest_registry", **dag_kwargs("registry", schedule=DAILY, doc=__doc__))
def ingest_registry():
    ingest_task("enterprises")


dag = ingest_registry()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"))
