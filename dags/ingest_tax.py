"""Ingest the tax bureau feeds (monthly): VAT filing drops into silver.tax_filings and the annual
credit ratings into silver.tax_ratings. The two are independent: a rejected ratings file does not
hold back the filings."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import MONTHLY, dag_kwargs, ingest_task, logical_date_for


@dag(dag_id="ingest_tax", **dag_kwargs("tax", schedule=MONTHLY, doc=__doc__))
def ingest_tax():
    ingest_task("tax_filings")
    ingest_task("tax_ratings")


dag = ingest_tax()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"))
