"""The runner's JDBC path against a real PostgreSQL "core banking" database loaded with simulator data.

The tests of this module share one database and one lakehouse and run in file order: each
starts from the state the previous one left.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.ingest.core_banking import APPEND_ONLY, WINDOW, IntervalBeforeWatermarkError, read_bounds
from riskpipe.core import io

pytestmark = pytest.mark.postgres
JAN, FEB, MAY = "2019-01-01", "2019-02-01", "2019-05-01"


@pytest.fixture(scope="module")
def core_banking(tmp_path_factory, spark):
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig
    from riskpipe.simulate.postgres import load_postgres
    from riskpipe.testing.postgres import PostgresServer

    root = tmp_path_factory.mktemp("jdbc")
    simulate(
        SimConfig(enterprises=30, months=3, seed=5, start="2019-01", quiet=True, sources=("loans",)), root / "landing"
    )
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


@pytest.fixture(scope="module")
def bank_settings(core_banking):
    """The settings of the module's lakehouse and core banking database (the environment ``core_banking`` sets)."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _source_loans(pg, start: str, end: str) -> dict[str, float]:
    """``{loan_id: interest_rate}`` of the source rows whose ``updated_at`` lies in ``[start, end)``."""
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT loan_id, interest_rate FROM core_banking.loans WHERE updated_at >= %s AND updated_at < %s",
                (start, end),
            )
            return {loan_id: float(rate) for loan_id, rate in cur.fetchall()}
    finally:
        conn.close()


def _current_rates(spark, settings) -> dict[str, float]:
    rows = (
        io.read(spark, "loans", settings=settings)
        .where(F.col("is_current"))
        .select("loan_id", "interest_rate")
        .collect()
    )
    return {r["loan_id"]: r["interest_rate"] for r in rows}


def _accounted(result) -> bool:
    return result["rows_read"] == result["rows_published"] + result["rows_quarantined"] + result["rows_duplicate"]


def test_an_older_interval_after_a_newer_one_is_published_and_a_silver_restore_is_reread(
    spark, core_banking, bank_settings
):
    from jobs.ingest.run import run_source

    january, later = _source_loans(core_banking, JAN, FEB), _source_loans(core_banking, FEB, MAY)
    assert january and later  # the simulated bank changes loans in both windows

    newer = run_source(
        "loans", data_interval_start=FEB, data_interval_end=MAY, mode="jdbc", settings=bank_settings, spark=spark
    )
    assert newer["rows_read"] == len(later) and _accounted(newer)
    after_newer = io.history(spark, "loans", limit=1, settings=bank_settings)[0]["version"]

    older = run_source(
        "loans", data_interval_start=JAN, data_interval_end=FEB, mode="jdbc", settings=bank_settings, spark=spark
    )
    assert older["rows_read"] == len(january) and older["rows_published"] == len(january) and _accounted(older)
    assert set(_current_rates(spark, bank_settings)) == set(january) | set(later)
    # a backfill never lowers the watermark: it stays at the newest row read
    assert older["watermark_from"] == older["watermark_to"] == newer["watermark_to"] >= FEB

    # silver loses January; the watermark stays where it was
    io.restore(spark, "loans", after_newer, settings=bank_settings)
    assert not set(_current_rates(spark, bank_settings)) & set(january)
    rerun = run_source(
        "loans", data_interval_start=JAN, data_interval_end=FEB, mode="jdbc", settings=bank_settings, spark=spark
    )
    assert rerun["batch_id"] == older["batch_id"]  # the same rows read: the same batch
    assert rerun["rows_published"] == len(january) and _accounted(rerun)
    assert _current_rates(spark, bank_settings) == pytest.approx({**january, **later})
    assert io.read(spark, "loans", settings=bank_settings).where(F.col("known_from").isNull()).count() == 0


def test_a_loan_restated_without_moving_updated_at_is_updated_by_the_next_run_of_its_interval(
    spark, core_banking, bank_settings
):
    from jobs.ingest.run import run_source

    loan_id = sorted(_source_loans(core_banking, JAN, FEB))[0]
    conn = core_banking.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE core_banking.loans SET interest_rate = interest_rate + 0.01 WHERE loan_id = %s", (loan_id,)
            )
    finally:
        conn.close()
    january = _source_loans(core_banking, JAN, FEB)

    rerun = run_source(
        "loans", data_interval_start=JAN, data_interval_end=FEB, mode="jdbc", settings=bank_settings, spark=spark
    )

    assert rerun["rows_read"] == len(january)
    assert (rerun["rows_published"], rerun["rows_duplicate"]) == (1, len(january) - 1) and _accounted(rerun)
    assert _current_rates(spark, bank_settings)[loan_id] == pytest.approx(january[loan_id])
    loan = io.read(spark, "loans", settings=bank_settings).where(F.col("loan_id") == loan_id)
    assert loan.count() == 1  # updated, not doubled


def test_an_append_only_table_refuses_an_interval_at_or_before_its_watermark(spark, core_banking, bank_settings):
    from jobs.ingest.run import run_source

    watermark = (
        io.read(spark, "ingest_watermarks", settings=bank_settings)
        .where(F.col("source_table") == "core_banking.loans")
        .collect()[0]["watermark"]
    )
    append_only = bank_settings.merged(
        {"ingestion": {"core_banking": {"tables": {"loans": {"incremental": APPEND_ONLY}}}}}
    )
    refused = rf"watermark is {watermark}.*\[2019-02-01, 2019-05-01\)"
    with pytest.raises(IntervalBeforeWatermarkError, match=refused):
        run_source(
            "loans", data_interval_start=FEB, data_interval_end=MAY, mode="jdbc", settings=append_only, spark=spark
        )


def test_a_configured_sslmode_reaches_the_driver_of_a_run(spark, core_banking, bank_settings):
    from jobs.ingest.run import run_source

    # the test server has no TLS: a driver that honours verify-full refuses it
    settings = bank_settings.merged({"ingestion": {"core_banking": {"jdbc_properties": {"sslmode": "verify-full"}}}})
    with pytest.raises(Exception, match="does not support SSL"):
        run_source("loans", data_interval_start=JAN, data_interval_end=FEB, mode="jdbc", settings=settings, spark=spark)


def test_read_bounds_follow_the_interval_or_the_watermark():
    start, end = dt.date(2019, 2, 1), dt.date(2019, 3, 1)
    feb, mar = dt.datetime(2019, 2, 1), dt.datetime(2019, 3, 1)
    watermark = "2019-02-10 06:00:00.000000"

    window = read_bounds(WINDOW, table="t", start=start, end=end, watermark=watermark)
    first = read_bounds(APPEND_ONLY, table="t", start=start, end=end, watermark=None)
    forward = read_bounds(APPEND_ONLY, table="t", start=dt.date(2019, 2, 11), end=end, watermark=watermark)

    assert window == first == {"lower": feb, "lower_inclusive": True, "upper": mar}
    assert forward == {"lower": watermark, "lower_inclusive": False, "upper": mar}
    with pytest.raises(IntervalBeforeWatermarkError, match="watermark is 2019-02-10 06:00"):
        read_bounds(APPEND_ONLY, table="t", start=dt.date(2019, 2, 10), end=end, watermark=watermark)
    with pytest.raises(ValueError, match="incremental must be one of"):
        read_bounds("latest", table="t", start=start, end=end, watermark=None)
