"""Ingest court and enforcement events (daily) from the court REST API into silver.court_events.

The runner pages through events published in the data interval; the API's base URL and bearer
token come from the settings (``ingestion.court_api``) and ``RISKPIPE_COURT_API_TOKEN``."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DAILY, dag_kwargs, ingest_task, logical_date_for


@dag(dag_id="ingest_court", **dag_kwargs("court", schedule=DAILY, doc=__doc__))
def ingest_court():
    ingest_task("court_events")


dag = ingest_court()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"))
