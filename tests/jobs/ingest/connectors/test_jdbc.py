"""Incremental JDBC ingestion from a real PostgreSQL server, watermark kept in Delta."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote

import pytest
from pyspark.sql import functions as F

from jobs.ingest.connectors.jdbc import (
    advance_watermark,
    content_digest,
    increment_query,
    last_watermark,
    max_watermark,
    read_incremental,
    read_window,
    sql_literal,
    window_query,
)
from riskpipe.core.credentials import get_connection, jdbc_properties, jdbc_url

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
        "(SELECT * FROM s.t WHERE wm IS NOT NULL AND wm > '2024-01-01 00:00:00' AND wm <= 10) q"
    )
    assert increment_query("s.t", "wm", None, None) == "(SELECT * FROM s.t WHERE wm IS NOT NULL) q"
    assert window_query("s.t", "wm", date(2024, 1, 1), date(2024, 2, 1)) == (
        "(SELECT * FROM s.t WHERE wm IS NOT NULL AND wm >= DATE '2024-01-01' AND wm < DATE '2024-02-01') q"
    )


@pytest.mark.parametrize("table, column", [("t; DROP TABLE x", "wm"), ("s.t", "wm)--"), ("a.b.c", "wm")])
def test_identifiers_are_validated(table, column):
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        increment_query(table, column, None, None)


def _insert(pg, rows):
    conn = pg.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} (loan_id, amount, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (loan_id) DO UPDATE SET amount = EXCLUDED.amount, "
                "updated_at = EXCLUDED.updated_at",
                rows,
            )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def loans_table(postgres):
    conn = postgres.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA src_it")
            cur.execute(f"CREATE TABLE {TABLE} (loan_id text PRIMARY KEY, amount numeric(18,2), updated_at timestamp)")
    finally:
        conn.close()
    return postgres


def _ids(df):
    return sorted(r["loan_id"] for r in df.select("loan_id").collect())


@pytest.mark.postgres
def test_two_increments_lose_nothing_and_read_nothing_twice(spark, loans_table, monkeypatch, settings):
    pg, source = loans_table, "core_banking_it"
    cfg = settings.ingestion.core_banking
    monkeypatch.delenv(f"AIRFLOW_CONN_{cfg.conn_id.upper()}", raising=False)
    monkeypatch.setenv(cfg.url_env, pg.jdbc_url)
    monkeypatch.setenv(cfg.user_env, pg.user)
    monkeypatch.setenv(cfg.password_env, pg.password)
    creds = get_connection(cfg.conn_id, settings=settings)
    props = {"user": creds["login"], "password": creds["password"]}
    _insert(pg, [(f"L{i}", 100 + i, T0 + timedelta(minutes=i)) for i in range(5)])
    _insert(pg, [("L_null", 1, None)])  # no watermark: never ingested incrementally

    def increment():
        return read_incremental(
            spark,
            url=jdbc_url(creds),
            table=TABLE,
            watermark_column="updated_at",
            lower_exclusive=last_watermark(spark, source, TABLE, settings=settings),
            upper_inclusive=None,
            properties=props,
        )

    first = increment().cache()
    assert _ids(first) == ["L0", "L1", "L2", "L3", "L4"]
    wm1 = max_watermark(first, "updated_at")
    assert wm1 == "2024-03-01 09:04:00.123456"
    advance_watermark(spark, source, TABLE, "updated_at", wm1, "b1", first.count(), T0, settings=settings)

    # New rows plus a change to an old row; one row lands exactly on the old watermark.
    _insert(
        pg,
        [
            ("L5", 105, T0 + timedelta(minutes=5)),
            ("L6", 106, T0 + timedelta(minutes=6)),
            ("L1", 999, T0 + timedelta(minutes=7)),
        ],
    )
    second = increment().cache()
    assert _ids(second) == ["L1", "L5", "L6"]
    assert second.where(F.col("loan_id") == "L1").collect()[0]["amount"] == Decimal("999.00")
    # A run that fails before publishing does not advance: the rerun reads the same increment.
    assert _ids(increment()) == ["L1", "L5", "L6"]
    wm2 = max_watermark(second, "updated_at")
    advance_watermark(spark, source, TABLE, "updated_at", wm2, "b2", second.count(), T0, settings=settings)

    assert last_watermark(spark, source, TABLE, settings=settings) == "2024-03-01 09:07:00.123456"
    assert increment().count() == 0
    everything = set(_ids(first)) | set(_ids(second))
    assert everything == {f"L{i}" for i in range(7)}


@pytest.mark.postgres
def test_bounded_and_partitioned_reads_match(spark, loans_table):
    pg = loans_table
    _insert(pg, [(f"P{i}", i, T0 + timedelta(days=1, seconds=i)) for i in range(20)])
    options = dict(
        url=pg.jdbc_url,
        table=TABLE,
        watermark_column="updated_at",
        lower_exclusive=T0 + timedelta(days=1, seconds=2),
        upper_inclusive=T0 + timedelta(days=1, seconds=12),
        properties=pg.jdbc_properties,
    )

    one = read_incremental(spark, **options)
    four = read_incremental(spark, **options, num_partitions=4)

    assert four.rdd.getNumPartitions() == 4
    assert _ids(one) == _ids(four) == sorted(f"P{i}" for i in range(3, 13))


@pytest.mark.postgres
def test_airflow_connection_uri_reaches_the_server(spark, loans_table, monkeypatch, settings):
    pg = loans_table
    monkeypatch.setenv("AIRFLOW_CONN_RISKPIPE_PG_IT", pg.uri)

    _insert(pg, [("A0", 1, T0 - timedelta(days=10))])

    creds = get_connection("riskpipe_pg_it", settings=settings)
    df = read_incremental(
        spark,
        url=jdbc_url(creds),
        table=TABLE,
        watermark_column="updated_at",
        lower_exclusive=T0 - timedelta(days=11),
        upper_inclusive=T0 - timedelta(days=9),
        properties={"user": creds["login"], "password": creds["password"]},
    )

    assert jdbc_url(creds) == pg.jdbc_url
    assert _ids(df) == ["A0"]


def test_advance_watermark_ignores_an_empty_increment_and_never_moves_down(spark, settings):
    assert advance_watermark(
        spark, "wm_it", "s.t", "updated_at", "2024-01-01 00:00:00.000000", "b1", 3, T0, settings=settings
    )
    assert not advance_watermark(spark, "wm_it", "s.t", "updated_at", None, "b2", 0, T0, settings=settings)
    assert not advance_watermark(
        spark, "wm_it", "s.t", "updated_at", datetime(2023, 12, 31), "b3", 9, T0, settings=settings
    )

    assert last_watermark(spark, "wm_it", "s.t", settings=settings) == "2024-01-01 00:00:00.000000"
    assert last_watermark(spark, "wm_it", "s.other", settings=settings) is None


@pytest.mark.postgres
def test_simulated_core_banking_loans_ingest_in_two_increments(spark, postgres, tmp_path):
    from riskpipe.simulate import SimConfig, simulate
    from riskpipe.simulate import postgres as sim_pg

    simulate(SimConfig(enterprises=50, months=6, quiet=True), tmp_path / "sim")
    sim_pg.load_postgres(tmp_path / "sim", postgres.dsn)
    conn = postgres.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY updated_at) "
                "FROM core_banking.loans WHERE updated_at IS NOT NULL"
            )
            total, middle = cur.fetchone()
    finally:
        conn.close()
    options = dict(
        url=postgres.jdbc_url,
        table="core_banking.loans",
        watermark_column="updated_at",
        properties=postgres.jdbc_properties,
    )

    first = read_incremental(spark, **options, lower_exclusive=None, upper_inclusive=middle).cache()
    second = read_incremental(
        spark, **options, lower_exclusive=max_watermark(first, "updated_at"), upper_inclusive=None
    ).cache()

    assert total > 0 and first.count() > 0 and second.count() > 0
    assert first.count() + second.count() == total
    assert first.intersect(second).count() == 0


@pytest.mark.postgres
def test_a_window_read_is_half_open_and_ignores_the_watermark(spark, loans_table, settings):
    pg = loans_table
    day = T0 + timedelta(days=30)
    _insert(pg, [("W_start", 1, day), ("W_in", 2, day + timedelta(hours=5)), ("W_end", 3, day + timedelta(days=1))])
    advance_watermark(spark, "window_it", TABLE, "updated_at", day + timedelta(days=5), "b1", 3, T0, settings=settings)

    window = read_window(
        spark,
        url=pg.jdbc_url,
        table=TABLE,
        column="updated_at",
        start=day,
        end=day + timedelta(days=1),
        properties=pg.jdbc_properties,
    )

    assert _ids(window) == ["W_in", "W_start"]


def test_content_digest_changes_with_any_row_and_not_with_order(spark):
    schema = "loan_id string, amount decimal(18,2)"
    rows = [("L1", Decimal("1.00")), ("L2", Decimal("2.00")), ("L3", None)]
    df = spark.createDataFrame(rows, schema)
    reordered = spark.createDataFrame(rows[::-1], schema)
    restated = spark.createDataFrame([rows[0], ("L2", Decimal("2.01")), rows[2]], schema)

    digest = content_digest(df, ["loan_id", "amount"])

    assert content_digest(reordered, ["loan_id", "amount"]) == digest
    assert content_digest(restated, ["loan_id", "amount"]) != digest
    assert content_digest(df.limit(2), ["loan_id", "amount"]) != digest


def test_connection_extras_become_driver_properties_and_passwords_are_not_logged(caplog):
    creds = {
        "login": "u",
        "password": "s3cret-pw",
        "extra": {
            "sslmode": "verify-full",
            "sslrootcert": "/etc/ca.pem",
            "connect_timeout": 7,
            "tcpKeepAlive": True,
            "cursor": "dictcursor",
        },
    }
    with caplog.at_level(logging.DEBUG):
        props = jdbc_properties(creds, configured={"sslmode": "require", "ApplicationName": "riskpipe"}, conn_id="cb")

    assert props == {
        "user": "u",
        "password": "s3cret-pw",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "connectTimeout": "7",
        "tcpKeepAlive": "true",
        "ApplicationName": "riskpipe",
    }
    assert "s3cret-pw" not in caplog.text and "sslmode" in caplog.text
    with pytest.raises(ValueError, match="'sslmdoe' is not a PostgreSQL JDBC connection property"):
        jdbc_properties({"extra": {"sslmdoe": "verify-full"}}, conn_id="cb")


def _tls_status(spark, url: str, properties: dict[str, str]) -> bool:
    """Whether the JDBC session Spark opens with ``properties`` is encrypted (pg_stat_ssl)."""
    reader = (
        spark.read.format("jdbc")
        .option("url", url)
        .option("query", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    )
    for key, value in {"driver": "org.postgresql.Driver", **properties}.items():
        reader = reader.option(key, value)
    return reader.load().collect()[0]["ssl"]


@pytest.mark.postgres
def test_verify_full_with_the_right_root_certificate_connects_over_tls(
    spark, postgres_tls, tls_certificates, monkeypatch, settings
):
    pg = postgres_tls
    monkeypatch.setenv(
        "AIRFLOW_CONN_RISKPIPE_PG_TLS_IT",
        f"{pg.uri}?sslmode=verify-full&sslrootcert={quote(str(tls_certificates.ca_cert), safe='')}",
    )

    creds = get_connection("riskpipe_pg_tls_it", settings=settings)
    props = jdbc_properties(creds, conn_id="riskpipe_pg_tls_it")

    assert props["sslmode"] == "verify-full"
    assert _tls_status(spark, jdbc_url(creds), props) is True
    # without the extras pgjdbc would have settled for plaintext
    assert _tls_status(spark, jdbc_url(creds), {**props, "sslmode": "disable"}) is False


@pytest.mark.postgres
def test_verify_full_fails_against_a_server_without_tls_or_with_an_unknown_root(
    spark, postgres, postgres_tls, tls_certificates, tmp_path, monkeypatch, settings
):
    from riskpipe.testing.tls import make_certificates

    root = quote(str(tls_certificates.ca_cert), safe="")
    monkeypatch.setenv("AIRFLOW_CONN_RISKPIPE_PG_PLAIN_IT", f"{postgres.uri}?sslmode=verify-full&sslrootcert={root}")
    creds = get_connection("riskpipe_pg_plain_it", settings=settings)
    with pytest.raises(Exception, match="does not support SSL"):
        _tls_status(spark, jdbc_url(creds), jdbc_properties(creds, conn_id="riskpipe_pg_plain_it"))

    verify = {"sslmode": "verify-full", "sslrootcert": str(make_certificates(tmp_path).ca_cert)}
    with pytest.raises(Exception, match="SSL error|PKIX|certification path"):
        _tls_status(spark, postgres_tls.jdbc_url, {**postgres_tls.jdbc_properties, **verify})
