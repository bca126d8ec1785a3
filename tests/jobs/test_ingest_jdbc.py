"""The runner's JDBC path against a real PostgreSQL "core banking" database loaded with simulator data."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from riskpipe import io

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def core_banking(tmp_path_factory, spark):
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig
    from riskpipe.simulate.postgres import load_postgres
    from riskpipe.testing.postgres import PostgresServer

    root = tmp_path_factory.mktemp("jdbc")
    simulate(SimConfig(enterprises=30, months=3, seed=5, start="2019-01", quiet=True,
                       sources=("loans",)), root / "landing")
    with PostgresServer() as server, pytest.MonkeyPatch.context() as mp:
        load_postgres(root / "landing", server.dsn)
        mp.setenv("RISKPIPE_LAKEHOUSE", str(root / "lake"))
        mp.setenv("RISKPIPE_LANDING", str(root / "landing"))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        mp.setenv("RISKPIPE_CORE_BANKING_JDBC_URL", server.jdbc_url)
        mp.setenv("RISKPIPE_CORE_BANKING_USER", server.user)
        mp.setenv("RISKPIPE_CORE_BANKING_PASSWORD", server.password)
        mp.delenv("AIRFLOW_CONN_RISKPIPE_CORE_BANKING", raising=False)
        yield server


def test_loans_are_ingested_incrementally_by_watermark(spark, core_banking):
    from jobs.ingest import run_source

    first = run_source("loans", data_interval_start="2019-01-01", data_interval_end="2019-02-01", mode="jdbc")
    assert first["mode"] == "jdbc" and first["rows_read"] > 0
    assert first["rows_read"] == first["rows_published"] + first["rows_quarantined"] + first["rows_duplicate"]
    after_first = io.read(spark, "loans").count()
    assert after_first == first["rows_published"]

    second = run_source("loans", data_interval_start="2019-02-01", data_interval_end="2019-05-01", mode="jdbc")
    assert second["watermark_from"] == first["watermark_to"]
    assert io.read(spark, "loans").count() == after_first + second.get("rows_published", 0)

    again = run_source("loans", data_interval_start="2019-02-01", data_interval_end="2019-05-01", mode="jdbc")
    assert again["rows_read"] == 0  # nothing committed after the watermark: nothing read twice
    # every contract version is known from the day its change was committed
    assert io.read(spark, "loans").where(F.col("known_from").isNull()).count() == 0
