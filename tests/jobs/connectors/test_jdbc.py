"""Incremental JDBC ingestion from a real PostgreSQL server, watermark kept in Delta."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from jobs.connectors.credentials import get_connection, jdbc_url
from jobs.connectors.jdbc import (
    advance_watermark, increment_query, last_watermark, max_watermark, read_incremental, sql_literal,
)

TABLE = "src_it.loans"  # not core_banking: the simulator loader owns that schema
T0 = datetime(2024, 3, 1, 9, 0, 0, 123456)


def test_sql_literals_and_subquery():
    assert sql_literal(5) == "5" and sql_literal(Decimal("1.50")) == "1.50"
    assert sql_literal(datetime(2024, 1, 2, 3, 4, 5)) == "TIMESTAMP '2024-01-02 03:04:05.000000'"
    aware = datetime(2024, 1, 2, 11, 0, tzinfo=timezone(timedelta(hours=8)))
    assert sql_literal(aware) == "TIMESTAMP '2024-01-02 03:00:00.000000'"
    assert sql_literal(date(2024, 1, 2)) == "DATE '2024-01-02'"
    assert sql_literal("it's") == "'it''s'"
    assert increment_query("s.t", "wm", "2024-01-01 00:00:00", 10) == (
        "(SELECT * FROM s.t WHERE wm IS NOT NULL AND wm > '2024-01-01 00:00:00' AND wm <= 10) q")
    assert increment_query("s.t", "wm", None, None) == "(SELECT * FROM s.t WHERE wm IS NOT NULL) q"


@pytest.mark.parametrize("table, column", [("t; DROP TABLE x", "wm"), ("s.t", "wm)--"), ("a.b.c", "wm")])
def test_identifiers_are_validated(table, column):
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        increment_query(table, column, None, None)


def _insert(pg, rows):
    conn = pg.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {TABLE} (loan_id, amount, updated_at) VALUES (%s, %s, %s) "
                            "ON CONFLICT (loan_id) DO UPDATE SET amount = EXCLUDED.amount, "
                            "updated_at = EXCLUDED.updated_at", rows)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def loans_table(postgres):
    conn = postgres.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA src_it")
            cur.execute(f"CREATE TABLE {TABLE} (loan_id text PRIMARY KEY, amount numeric(18,2), "
                        "updated_at timestamp)")
    finally:
        conn.close()
    return postgres


def _ids(df):
    return sorted(r["loan_id"] for r in df.select("loan_id").collect())


@pytest.mark.postgres
def test_two_increments_lose_nothing_and_read_nothing_twice(spark, loans_table, monkeypatch, settings):
    pg, source = loans_table, "core_banking_it"
    cfg = settings.raw["ingestion"]["core_banking"]
    monkeypatch.delenv(f"AIRFLOW_CONN_{cfg['conn_id'].upper()}", raising=False)
    monkeypatch.setenv(cfg["url_env"], pg.jdbc_url)
    monkeypatch.setenv(cfg["user_env"], pg.user)
    monkeypatch.setenv(cfg["password_env"], pg.password)
    creds = get_connection(cfg["conn_id"])
    props = {"user": creds["login"], "password": creds["password"]}
    _insert(pg, [(f"L{i}", 100 + i, T0 + timedelta(minutes=i)) for i in range(5)])
    _insert(pg, [("L_null", 1, None)])  # no watermark: never ingested incrementally

    def increment():
        return read_incremental(spark, url=jdbc_url(creds), table=TABLE, watermark_column="updated_at",
                                lower_exclusive=last_watermark(spark, source, TABLE),
                                upper_inclusive=None, properties=props)

    first = increment().cache()
    assert _ids(first) == ["L0", "L1", "L2", "L3", "L4"]
    wm1 = max_watermark(first, "updated_at")
    assert wm1 == "2024-03-01 09:04:00.123456"
    advance_watermark(spark, source, TABLE, "updated_at", wm1, "b1", first.count(), T0)

    # New rows plus a change to an old row; one row lands exactly on the old watermark.
    _insert(pg, [("L5", 105, T0 + timedelta(minutes=5)), ("L6", 106, T0 + timedelta(minutes=6)),
                 ("L1", 999, T0 + timedelta(minutes=7))])
    second = increment().cache()
    assert _ids(second) == ["L1", "L5", "L6"]
    assert second.where(F.col("loan_id") == "L1").collect()[0]["amount"] == Decimal("999.00")
    # A run that fails before publishing does not advance: the rerun reads the same increment.
    assert _ids(increment()) == ["L1", "L5", "L6"]
    wm2 = max_watermark(second, "updated_at")
    advance_watermark(spark, source, TABLE, "updated_at", wm2, "b2", second.count(), T0)

    assert last_watermark(spark, source, TABLE) == "2024-03-01 09:07:00.123456"
    assert increment().count() == 0
    everything = set(_ids(first)) | set(_ids(second))
    assert everything == {f"L{i}" for i in range(7)}


@pytest.mark.postgres
def test_bounded_and_partitioned_reads_match(spark, loans_table):
    pg = loans_table
    _insert(pg, [(f"P{i}", i, T0 + timedelta(days=1, seconds=i)) for i in range(20)])
    options = dict(url=pg.jdbc_url, table=TABLE, watermark_column="updated_at",
                   lower_exclusive=T0 + timedelta(days=1, seconds=2),
                   upper_inclusive=T0 + timedelta(days=1, seconds=12), properties=pg.jdbc_properties)

    one = read_incremental(spark, **options)
    four = read_incremental(spark, **options, num_partitions=4)

    assert four.rdd.getNumPartitions() == 4
    assert _ids(one) == _ids(four) == sorted(f"P{i}" for i in range(3, 13))


@pytest.mark.postgres
def test_airflow_connection_uri_reaches_the_server(spark, loans_table, monkeypatch):
    pg = loans_table
    monkeypatch.setenv("AIRFLOW_CONN_RISKPIPE_PG_IT", pg.uri)

    _insert(pg, [("A0", 1, T0 - timedelta(days=10))])

    creds = get_connection("riskpipe_pg_it")
    df = read_incremental(spark, url=jdbc_url(creds), table=TABLE, watermark_column="updated_at",
                          lower_exclusive=T0 - timedelta(days=11), upper_inclusive=T0 - timedelta(days=9),
                          properties={"user": creds["login"], "password": creds["password"]})

    assert jdbc_url(creds) == pg.jdbc_url
    assert _ids(df) == ["A0"]


def test_advance_watermark_ignores_an_empty_increment(spark):
    advance_watermark(spark, "wm_it", "s.t", "updated_at", "2024-01-01 00:00:00.000000", "b1", 3, T0)
    advance_watermark(spark, "wm_it", "s.t", "updated_at", None, "b2", 0, T0)

    assert last_watermark(spark, "wm_it", "s.t") == "2024-01-01 00:00:00.000000"
    assert last_watermark(spark, "wm_it", "s.other") is None


@pytest.mark.postgres
def test_simulated_core_banking_loans_ingest_in_two_increments(spark, postgres, tmp_path):
    sim_pg = pytest.importorskip("riskpipe.simulate.postgres", reason="simulator PostgreSQL loader not there yet")
    from riskpipe.simulate import SimConfig, simulate

    simulate(SimConfig(enterprises=50, months=6, quiet=True), tmp_path / "sim")
    sim_pg.load_postgres(tmp_path / "sim", postgres.dsn)
    conn = postgres.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY updated_at) "
                        "FROM core_banking.loans WHERE updated_at IS NOT NULL")
            total, middle = cur.fetchone()
    finally:
        conn.close()
    options = dict(url=postgres.jdbc_url, table="core_banking.loans", watermark_column="updated_at",
                   properties=postgres.jdbc_properties)

    first = read_incremental(spark, **options, lower_exclusive=None, upper_inclusive=middle).cache()
    second = read_incremental(spark, **options, lower_exclusive=max_watermark(first, "updated_at"),
                              upper_inclusive=None).cache()

    assert total > 0 and first.count() > 0 and second.count() > 0
    assert first.count() + second.count() == total
    assert first.intersect(second).count() == 0
