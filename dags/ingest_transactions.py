"""Ingest bank account transactions (daily) into silver.transactions.

Param ``mode``: ``files`` reads the T+1 Parquet extracts from the landing folder; ``jdbc`` reads
the rows of the PostgreSQL core banking database whose ``updated_at`` lies in the data interval
(intervals in any order, see jobs/ingest/core_banking.py) through the Airflow connection
``riskpipe_core_banking`` or the ``RISKPIPE_CORE_BANKING_*`` env vars; ``auto`` (default) picks
``jdbc`` when either is configured."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DAILY, dag_kwargs, ingest_task, logical_date_for, mode_param


@dag(dag_id="ingest_transactions", params=mode_param(), **dag_kwargs("transactions", schedule=DAILY, doc=__doc__))
def ingest_transactions():
    ingest_task("transactions", jdbc_capable=True)


dag = ingest_transactions()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"), run_conf={"mode": "files"})
