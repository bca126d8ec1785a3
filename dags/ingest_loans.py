"""Ingest the loan ledger (daily): loan contracts into silver.loans, then daily balances into
silver.loan_balances (balances refer to loans, so contracts go first).

Param ``mode``: ``files`` reads the T+1 extracts from the landing folder; ``jdbc`` reads the rows
of the PostgreSQL core banking database whose ``updated_at`` lies in the data interval (intervals
in any order, see jobs/ingest/core_banking.py) through the Airflow connection ``riskpipe_core_banking`` or
the ``RISKPIPE_CORE_BANKING_*`` env vars; ``auto`` (default) picks ``jdbc`` when either is configured."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DAILY, dag_kwargs, ingest_task, logical_date_for, mode_param


@dag(dag_id="ingest_loans", params=mode_param(), **dag_kwargs("loans", schedule=DAILY, doc=__doc__))
def ingest_loans():
    ingest_task("loans", jdbc_capable=True) >> ingest_task("loan_balances", jdbc_capable=True)


dag = ingest_loans()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-01-01"), run_conf={"mode": "files"})
