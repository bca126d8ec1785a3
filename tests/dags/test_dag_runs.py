"""Each ingestion DAG run end to end with ``dag.test()`` on simulator output.

Tasks run in this process, so the runner gets the pytest session's SparkSession (``spark``
fixture). The lakehouse is a fresh folder for this module; the landing folder is the output
of a small simulation (40 enterprises x 3 months from 2019-01).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
from pathlib import Path

import pytest

import riskpipe.simulate as simulate_pkg

pytestmark = pytest.mark.slow

SIM_ENTERPRISES, SIM_MONTHS = 40, 3
CORE_BANKING_ENV = (
    "RISKPIPE_CORE_BANKING_JDBC_URL",
    "RISKPIPE_CORE_BANKING_USER",
    "RISKPIPE_CORE_BANKING_PASSWORD",
    "AIRFLOW_CONN_RISKPIPE_CORE_BANKING",
)
# dag_id -> (first day of the interval to run, silver tables that must hold rows afterwards)
FILE_DAG_RUNS = {
    "ingest_registry": ("2019-01-01", ("enterprises",)),
    "ingest_tax": ("2019-02-01", ("tax_filings",)),  # no ratings file is delivered in the window
    "ingest_utility": ("2019-02-01", ("utility_reads",)),
    "ingest_transactions": ("2019-02-11", ("transactions",)),
    "ingest_loans": ("2019-01-01", ("loans", "loan_balances")),
    # the statement of January, delivered on 5 February
    "ingest_fund": ("2019-02-01", ("fund_statements",)),
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    config = simulate_pkg.SimConfig(enterprises=SIM_ENTERPRISES, months=SIM_MONTHS, quiet=True)
    simulate_pkg.simulate(config, out)
    return out


@pytest.fixture(scope="module")
def lake_env(tmp_path_factory, landing, spark, airflow_home):
    """RISKPIPE_LANDING = simulator output, RISKPIPE_LAKEHOUSE = a lakehouse for this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISKPIPE_LANDING", str(landing))
        patch.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path_factory.mktemp("dag_lakehouse")))
        for name in CORE_BANKING_ENV:  # files mode: no core banking credentials anywhere
            patch.delenv(name, raising=False)
        yield patch


@pytest.fixture(scope="module")
def lake_settings(lake_env):
    """The settings of the environment ``lake_env`` sets, as the DAG tasks load them."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _silver_tables(dag) -> list[str]:
    return sorted({outlet.uri.rsplit("/", 1)[1] for task in dag.tasks for outlet in task.outlets})


def _digest(spark, table: str, settings) -> tuple[int, str | None]:
    """(rows, SHA-256 of the sorted rows) of a silver table; (0, None) before it exists."""
    from riskpipe.core import io

    if not io.exists(spark, table, settings=settings):
        return 0, None
    rows = sorted(
        json.dumps(row.asDict(recursive=True), sort_keys=True, default=str)
        for row in io.read(spark, table, settings=settings).collect()
    )
    return len(rows), hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


def _snapshot(spark, dag, settings) -> dict[str, tuple[int, str | None]]:
    return {table: _digest(spark, table, settings) for table in _silver_tables(dag)}


def _run(dag, interval_start: str) -> None:
    from dags._common import logical_date_for

    run = dag.test(logical_date=logical_date_for(dag, interval_start))
    assert str(run.state) == "success", f"{dag.dag_id} {interval_start}: {run.state}"
    assert run.data_interval_start.strftime("%Y-%m-%d") == interval_start


@pytest.mark.parametrize("dag_id", sorted(FILE_DAG_RUNS))
def test_dag_run_publishes_its_silver_tables(dagbag, spark, lake_env, lake_settings, dag_id):
    interval_start, filled = FILE_DAG_RUNS[dag_id]
    dag = dagbag.dags[dag_id]
    _run(dag, interval_start)
    after = _snapshot(spark, dag, lake_settings)
    for table in filled:
        assert after[table][0] > 0, f"{dag_id} published no rows to silver.{table}"


@pytest.mark.parametrize("dag_id", ["ingest_tax", "ingest_transactions", "ingest_loans"])
def test_rerun_of_an_interval_leaves_tables_unchanged(dagbag, spark, lake_env, lake_settings, dag_id):
    interval_start = FILE_DAG_RUNS[dag_id][0]
    dag = dagbag.dags[dag_id]
    _run(dag, interval_start)
    before = _snapshot(spark, dag, lake_settings)
    _run(dag, interval_start)
    assert _snapshot(spark, dag, lake_settings) == before


@pytest.mark.parametrize(
    "dag_id, later, earlier, table, earlier_file",
    [
        # intervals no other test of this module runs (they share one lakehouse)
        ("ingest_tax", "2019-04-01", "2019-03-01", "tax_filings", "tax/filings/tax_filings_201903.csv"),
        (
            "ingest_transactions",
            "2019-03-05",
            "2019-03-04",
            "transactions",
            "bank/transactions/transactions_20190304.parquet",
        ),
    ],
)
def test_backfill_of_an_earlier_interval_is_not_skipped(
    dagbag, spark, lake_env, lake_settings, dag_id, later, earlier, table, earlier_file
):
    from pyspark.sql import functions as F

    from riskpipe.core import io

    dag = dagbag.dags[dag_id]
    _run(dag, later)
    rows_before, hash_before = _digest(spark, table, lake_settings)
    _run(dag, earlier)
    rows_after, hash_after = _digest(spark, table, lake_settings)
    assert hash_after != hash_before and rows_after > rows_before
    succeeded = (
        io.read(spark, "ingest_manifest", settings=lake_settings)
        .where((F.col("path") == earlier_file) & (F.col("status") == "succeeded"))
        .count()
    )
    assert succeeded == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_court_dag_reads_the_rest_api(dagbag, spark, lake_env, lake_settings, landing, tmp_path):
    from riskpipe.simulate import server as server_mod

    first = json.loads((landing / "court" / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    port, token = _free_port(), secrets.token_hex(8)
    profile = tmp_path / "court.yaml"
    profile.write_text(f"ingestion:\n  court_api:\n    base_url: http://127.0.0.1:{port}\n", encoding="utf-8")
    lake_env.setenv("RISKPIPE_PROFILE", str(profile))
    lake_env.setenv("RISKPIPE_COURT_API_TOKEN", token)
    server = server_mod.start_server(landing, "127.0.0.1", port, token)
    try:
        dag = dagbag.dags["ingest_court"]
        _run(dag, first["published_date"])
        assert _snapshot(spark, dag, lake_settings)["court_events"][0] > 0
    finally:
        for stop in ("shutdown", "stop", "close"):
            if hasattr(server, stop):
                getattr(server, stop)()
                break
        lake_env.delenv("RISKPIPE_PROFILE")
