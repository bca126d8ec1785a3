"""Ingest the risk compensation fund administrator's monthly statements into silver.fund_statements.

Monthly, a DAG of its own: the statements come from the fund administrator, not from core banking,
once a month. The statement of month M reaches the bank on the 5th of M+1 and is ingested by the
run of M+1's data interval (its delivery date's; ``schemas.feeds``), so a run never looks for a
statement that has not been delivered yet, and a rejected statement holds back no other feed. The
portfolio and stress stages read the balance known on each snapshot from the table
(``jobs.portfolio.fund``)."""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import MONTHLY, dag_kwargs, ingest_task, logical_date_for


@dag(dag_id="ingest_fund", **dag_kwargs("fund", schedule=MONTHLY, doc=__doc__))
def ingest_fund():
    ingest_task("fund_statements")


dag = ingest_fund()

if __name__ == "__main__":
    dag.test(logical_date=logical_date_for(dag, "2019-02-01"))
