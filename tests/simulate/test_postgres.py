"""load-postgres into a real PostgreSQL server started for the test (or RISKPIPE_TEST_PG_DSN)."""

import os

import pandas as pd
import pytest

from riskpipe.simulate.postgres import SCHEMA, load_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_dsn():
    if os.environ.get("RISKPIPE_TEST_PG_DSN"):
        yield os.environ["RISKPIPE_TEST_PG_DSN"]
        return
    from riskpipe.testing.postgres import PostgresServer

    with PostgresServer() as server:
        yield server.dsn


def test_load_is_complete_and_idempotent(dirty_data, pg_dsn):
    import psycopg2

    DSN = pg_dsn
    root, summary = dirty_data
    first = load_postgres(root, DSN)
    second = load_postgres(root, DSN)
    assert first == second
    assert first["loan_balances"] == summary["rows_per_source"]["loan_balances"]
    assert 0 < first["transactions"] <= summary["rows_per_source"]["bank"]
    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*), min(updated_at) FROM {SCHEMA}.loan_balances")
        count, first_update = cur.fetchone()
        assert count == first["loan_balances"]
        assert pd.Timestamp(first_update).hour == 6
        cur.execute(f"SELECT count(*) FROM {SCHEMA}.loans WHERE updated_at IS NULL")
        assert cur.fetchone()[0] == 0
    conn.close()
