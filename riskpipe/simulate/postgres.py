"""Load the core-banking extracts into PostgreSQL (schema ``core_banking``).

Tables ``loans`` (latest state per loan), ``loan_balances`` and ``transactions`` carry the
Parquet columns plus ``updated_at TIMESTAMP NOT NULL``: the delivery time of the extract
the row came from (06:00 on the day after the business day, T+1). Loading is idempotent:
each table is truncated and bulk-loaded with ``COPY`` in one transaction.
"""

from __future__ import annotations

import glob
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

SCHEMA = "core_banking"
DELIVERY_HOUR = 6
DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.loans (
    loan_id TEXT PRIMARY KEY, uscc TEXT NOT NULL, product TEXT NOT NULL,
    principal NUMERIC(18,2), credit_limit NUMERIC(18,2), interest_rate NUMERIC(8,6),
    start_date DATE, maturity_date DATE, guarantee_type TEXT, collateral_type TEXT,
    fund_coverage_share NUMERIC(5,4), gov_recommended BOOLEAN, status TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS {SCHEMA}.loan_balances (
    loan_id TEXT NOT NULL, uscc TEXT NOT NULL, as_of_date DATE NOT NULL,
    outstanding_principal NUMERIC(18,2), undrawn_amount NUMERIC(18,2),
    overdue_principal NUMERIC(18,2), days_past_due INTEGER, repaid_amount NUMERIC(18,2),
    status TEXT NOT NULL, updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (loan_id, as_of_date));
CREATE TABLE IF NOT EXISTS {SCHEMA}.transactions (
    txn_id TEXT NOT NULL, account_id TEXT, uscc TEXT, txn_ts TIMESTAMP, amount NUMERIC(20,2),
    direction TEXT, counterparty_name TEXT, counterparty_account TEXT, channel TEXT,
    balance_after NUMERIC(20,2), updated_at TIMESTAMP NOT NULL);
CREATE INDEX IF NOT EXISTS transactions_updated_at ON {SCHEMA}.transactions (updated_at);
CREATE INDEX IF NOT EXISTS loan_balances_updated_at ON {SCHEMA}.loan_balances (updated_at);
"""
_DAY = re.compile(r"_(\d{8})\.parquet$")


def _files(data_dir: Path, sub: str) -> list[tuple[Path, pd.Timestamp]]:
    """Daily extracts (re-deliveries and truncated files resolved) with delivery times."""
    out = []
    for name in sorted(glob.glob(str(data_dir / sub / "*.parquet"))):
        path = Path(name)
        match = _DAY.search(path.name)
        if not match:
            continue  # *_redelivery files are picked up in place of their truncated original
        redelivery = path.with_name(path.stem + "_redelivery.parquet")
        delivered = pd.Timestamp(match.group(1)) + pd.Timedelta(days=1, hours=DELIVERY_HOUR)
        out.append((redelivery if redelivery.exists() else path, delivered))
    return out


def _frames(data_dir: Path, sub: str) -> Iterator[pd.DataFrame]:
    for path, delivered in _files(data_dir, sub):
        df = pq.read_table(path).to_pandas()
        df["updated_at"] = delivered
        yield df


def _copy(cur, table: str, df: pd.DataFrame) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
    buf.seek(0)
    cols = ", ".join(df.columns)
    cur.copy_expert(f"COPY {SCHEMA}.{table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)


def load_postgres(data_dir: str | Path, dsn: str) -> dict[str, int]:
    """Create ``core_banking`` and (re)load loans, loan_balances and transactions.

    Args:
        data_dir: Simulator output root.
        dsn: libpq connection string, e.g. ``postgresql://user@host:5432/db``.

    Returns:
        Rows loaded per table.
    """
    import psycopg2

    root = Path(data_dir)
    counts = {"loans": 0, "loan_balances": 0, "transactions": 0}
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DDL)
            cur.execute(f"TRUNCATE {SCHEMA}.loans, {SCHEMA}.loan_balances, {SCHEMA}.transactions")
            latest: dict[str, pd.Series] = {}
            for df in _frames(root, "bank/loans"):
                for rec in df.to_dict("records"):
                    latest[rec["loan_id"]] = rec
            if latest:
                loans = pd.DataFrame(list(latest.values()))
                _copy(cur, "loans", loans)
                counts["loans"] = len(loans)
            for sub, table in (("bank/loan_balances", "loan_balances"), ("bank/transactions", "transactions")):
                for df in _frames(root, sub):
                    if table == "transactions":
                        df = df.drop_duplicates()
                    if len(df):
                        _copy(cur, table, df)
                        counts[table] += len(df)
    finally:
        conn.close()
    return counts
