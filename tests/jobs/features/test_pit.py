"""Point in time: restated and late records are used only once known; T+1 daily feeds; no leakage."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from jobs.features import tax, transactions
from jobs.features.build import features_frame
from schemas.registry import get
from tests.jobs.features import synthetic
from tests.jobs.features.conftest import frames

E = "91141100MA0000001J"
d = dt.date
JUNE, JULY = d(2021, 6, 30), d(2021, 7, 31)


def test_restated_filing_is_used_only_from_the_date_it_is_known(spark):
    base = dict(uscc=E, is_current=True, _batch_id="b", _record_hash="h")
    rows = [
        dict(period=d(2021, 5, 1), taxable_sales=300.0, known_from=d(2021, 6, 16), **base),
        dict(
            period=d(2021, 4, 1),
            taxable_sales=200.0,
            known_from=d(2021, 5, 16),
            known_to=d(2021, 7, 16),
            **{**base, "is_current": False},
        ),
        dict(period=d(2021, 4, 1), taxable_sales=250.0, is_amendment=True, known_from=d(2021, 7, 16), **base),
    ]
    out = tax.filing_features(get("tax_filings").rows_to_df(spark, rows), as_of=[JUNE, JULY]).select(
        "snapshot_date", "tax_sales_3m", "tax_amendments_12m"
    )
    # windows end at M-2: April alone in June (May is outside), May + the restated April in July
    expected = spark.createDataFrame([(JUNE, 200.0, 0), (JULY, 550.0, 1)], out.schema)
    assertDataFrameEqual(out, expected)


def test_transaction_on_snapshot_date_is_used_only_from_the_next_day(spark):
    rows = [
        dict(
            txn_id="T1",
            account_id="A",
            uscc=E,
            txn_ts=dt.datetime(2021, 6, 30, 10),
            amount=100.0,
            direction="C",
            counterparty_account="CP",
            channel="transfer",
            balance_after=1.0,
            txn_date=JUNE,
            txn_month="2021-06",
            known_from=JUNE + dt.timedelta(days=1),
            is_current=True,
            _batch_id="b",
            _record_hash="h",
        )
    ]
    out = transactions.transform(get("transactions").rows_to_df(spark, rows), as_of=[JUNE, JULY]).select(
        "snapshot_date", "txn_inflow_1m", "txn_days_since_last"
    )
    # June: the row is not available yet (no bucket at all); July: in the 1-month window
    assertDataFrameEqual(out, spark.createDataFrame([(JULY, 100.0, 31)], out.schema))


def _available_on(rows: dict[str, list[dict]], day: dt.date) -> dict[str, list[dict]]:
    """The silver rows as they were on ``day``: later versions and T+1 rows removed, chains re-cut."""
    out = {}
    for table, table_rows in rows.items():
        if table in ("transactions", "loan_balances"):
            date = "txn_date" if table == "transactions" else "as_of_date"
            out[table] = [r for r in table_rows if r[date] + dt.timedelta(days=1) <= day]
        else:
            out[table] = [
                {**r, "known_to": None if r["known_to"] and r["known_to"] > day else r["known_to"]}
                for r in table_rows
                if r["known_from"] <= day
            ]
    return out


def test_no_leakage_features_unchanged_when_later_records_are_deleted(spark, silver_rows, full_features):
    day = synthetic.SNAPSHOTS[2]
    truncated = features_frame(frames(spark, _available_on(silver_rows, day)), as_of=day, built_from="{}")
    expected = full_features.where(full_features.snapshot_date == day)
    assertDataFrameEqual(truncated.drop("_built_from"), expected.drop("_built_from"), checkRowOrder=False)
