"""The fund's balance from the administrator's statements: the point-in-time choice of the reader, the
profile's fallback with its warning, and the statements ingested as a source (a bad one quarantined with
its rule, a rerun a no-op)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.ingest.batch import BatchRejectedError
from jobs.ingest.run import run_source
from jobs.portfolio.fund import (
    FROM_OVERRIDE,
    FROM_PROFILE,
    FROM_STATEMENT,
    PoolBalance,
    config_on,
    fund_balance_on,
    latest_statements,
)
from riskpipe.core import io
from schemas.registry import get
from tests.faults.data import content_hash

SHARED, PRODUCT = "shared", "Y_MODEL_EQUIPMENT"
D = dt.date(2021, 6, 30)
PROFILE_BALANCE = 5.0e7
FUND_LOG = "jobs.portfolio.fund"


def _statement(pool, statement_date, closing, known_from, known_to=None, *, opening=0.0, payouts=0.0):
    return {
        "pool": pool,
        "statement_date": statement_date,
        "opening_balance": opening,
        "contributions": closing - opening + payouts,
        "payouts": payouts,
        "closing_balance": closing,
        "known_from": known_from,
        "known_to": known_to,
        "is_current": known_to is None,
        "_batch_id": "b",
        "_record_hash": f"{pool}{statement_date}{known_from}",
    }


# the shared pool's statements of April, May and June (each delivered on the 5th of the next month), and
# the product pool's May statement, restated on 20 June and again on 2 July (after D)
STATEMENTS = [
    _statement(SHARED, dt.date(2021, 4, 30), 1.0e6, dt.date(2021, 5, 5)),
    _statement(SHARED, dt.date(2021, 5, 31), 0.9e6, dt.date(2021, 6, 5), opening=1.0e6, payouts=1.0e5),
    _statement(SHARED, dt.date(2021, 6, 30), 0.8e6, dt.date(2021, 7, 5), opening=0.9e6, payouts=1.0e5),
    _statement(PRODUCT, dt.date(2021, 5, 31), 3.0e5, dt.date(2021, 6, 5), dt.date(2021, 6, 20)),
    _statement(PRODUCT, dt.date(2021, 5, 31), 2.5e5, dt.date(2021, 6, 20), dt.date(2021, 7, 2)),
    _statement(PRODUCT, dt.date(2021, 5, 31), 2.0e5, dt.date(2021, 7, 2)),
]


@pytest.fixture
def lake(settings, tmp_path):
    """The test settings on an empty lakehouse and landing folder of this test."""
    return settings.replace(lakehouse_root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))


@pytest.fixture
def with_statements(spark, lake):
    io.append(get("fund_statements").rows_to_df(spark, STATEMENTS), "fund_statements", settings=lake)
    return lake


def _closing(pool: str, statement_date: dt.date, known_from: dt.date) -> dict:
    (row,) = [
        s for s in STATEMENTS if (s["pool"], s["statement_date"], s["known_from"]) == (pool, statement_date, known_from)
    ]
    return row


def test_the_reader_takes_the_latest_statement_delivered_and_known_by_d(spark):
    frame = get("fund_statements").rows_to_df(spark, STATEMENTS)
    # June's statement arrives on 5 July and the product's second restatement on 2 July: neither is used on D
    expected = [
        _closing(SHARED, dt.date(2021, 5, 31), dt.date(2021, 6, 5)),
        _closing(PRODUCT, dt.date(2021, 5, 31), dt.date(2021, 6, 20)),
    ]
    assertDataFrameEqual(latest_statements(frame, D), get("fund_statements").rows_to_df(spark, expected))
    # on the day June's statement and the restatement arrived, they are
    later = latest_statements(frame, dt.date(2021, 7, 5)).select("pool", "statement_date", "closing_balance")
    assertDataFrameEqual(
        later,
        spark.createDataFrame(
            [(SHARED, dt.date(2021, 6, 30), 0.8e6), (PRODUCT, dt.date(2021, 5, 31), 2.0e5)], later.schema
        ),
    )
    # nothing delivered yet on the first statement's month-end
    assert latest_statements(frame, dt.date(2021, 4, 30)).isEmpty()


def test_balances_on_d_come_from_the_statements_with_their_source(spark, with_statements, caplog):
    with caplog.at_level(logging.WARNING, logger=FUND_LOG):
        balances = fund_balance_on(spark, D, with_statements, profile={SHARED: PROFILE_BALANCE, PRODUCT: 1.0})
    assert balances == {
        SHARED: PoolBalance(0.9e6, FROM_STATEMENT, dt.date(2021, 5, 31), dt.date(2021, 6, 5)),
        PRODUCT: PoolBalance(2.5e5, FROM_STATEMENT, dt.date(2021, 5, 31), dt.date(2021, 6, 20)),
    }
    assert not caplog.records
    assert balances[SHARED].describe() == {
        "balance": 0.9e6,
        "source": "fund_statements",
        "statement_date": "2021-05-31",
        "known_from": "2021-06-05",
    }


def test_without_a_statement_known_on_d_the_profile_balance_is_used_and_a_warning_names_the_date(
    spark, with_statements, caplog
):
    with caplog.at_level(logging.WARNING, logger=FUND_LOG):
        balances = fund_balance_on(spark, dt.date(2021, 4, 30), with_statements, profile={SHARED: PROFILE_BALANCE})
    assert balances == {SHARED: PoolBalance(PROFILE_BALANCE, FROM_PROFILE)}
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "no fund statement known on 2021-04-30" in record.getMessage() and "'shared'" in record.getMessage()


def test_before_any_ingestion_the_profile_is_used_and_no_table_is_created(spark, lake, caplog):
    with caplog.at_level(logging.WARNING, logger=FUND_LOG):
        config, balances = config_on(spark, D, lake)
    assert balances == {SHARED: PoolBalance(lake.portfolio.fund.balance, FROM_PROFILE)}
    assert config.fund_balance == lake.portfolio.fund.balance
    assert "no fund statement known on 2021-06-30" in caplog.text
    assert not io.exists(spark, "fund_statements", settings=lake)


def test_the_override_wins_for_the_shared_pool_and_a_late_feed_or_an_undeclared_pool_is_reported(
    spark, with_statements, caplog
):
    product_pool = with_statements.merged({"portfolio": {"fund": {"balance_by_product": {PRODUCT: 1.0}}}})
    config, balances = config_on(spark, D, product_pool, fund_balance=123.0)
    assert (config.fund_balance, dict(config.fund_balance_by_product)) == (123.0, {PRODUCT: 2.5e5})
    assert balances[SHARED] == PoolBalance(123.0, FROM_OVERRIDE) and balances[PRODUCT].source == FROM_STATEMENT
    # a profile without the product's pool leaves its statement out; August's snapshot sees June's statement
    with caplog.at_level(logging.WARNING, logger=FUND_LOG):
        config, balances = config_on(spark, dt.date(2021, 8, 31), with_statements)
    assert (config.fund_balance, dict(config.fund_balance_by_product)) == (0.8e6, {})
    assert "is of 2021-06-30, older than 2021-07-31: the feed may be late" in caplog.text
    assert f"fund statements of pools ['{PRODUCT}'] known on 2021-08-31 are left out" in caplog.text


# Ingestion ------------------------------------------------------------------------------------

HEADER = "pool,statement_date,opening_balance,contributions,payouts,closing_balance\n"


def _land(root: Path, month: str, line: str) -> None:
    path = root / "fund" / "statements" / f"fund_statement_{month}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + line + "\n", encoding="utf-8")


def _tables(spark, settings) -> dict[str, str]:
    return {
        t: content_hash(io.read(spark, t, settings=settings))
        for t in ("fund_statements", "bronze_fund_statements", "quarantine")
    }


def test_statements_are_ingested_by_their_delivery_a_bad_one_is_quarantined_and_a_rerun_changes_nothing(
    spark, lake, caplog
):
    landing = Path(lake.landing_root)
    _land(landing, "202101", "shared,2021-01-31,0.00,1000000.00,0.00,1000000.00")
    _land(landing, "202102", "shared,2021-02-28,1000000.00,0.00,12345.67,987654.33")
    # March's closing balance does not add up (one payout left out)
    _land(landing, "202103", "shared,2021-03-31,987654.33,0.00,50000.00,987654.33")

    def ingest(start: str, end: str) -> dict:
        return run_source(
            "fund_statements", data_interval_start=start, data_interval_end=end, settings=lake, spark=spark
        )

    # February's run gets January's statement (delivered 5 February), March's run February's
    first = ingest("2021-02-01", "2021-04-01")
    assert first["files"] == ["fund/statements/fund_statement_202101.csv", "fund/statements/fund_statement_202102.csv"]
    assert (first["rows_read"], first["rows_published"], first["rows_quarantined"]) == (2, 2, 0)
    silver = io.read(spark, "fund_statements", settings=lake).select(
        "pool", "statement_date", "closing_balance", "known_from"
    )
    assertDataFrameEqual(
        silver,
        spark.createDataFrame(
            [
                (SHARED, dt.date(2021, 1, 31), 1.0e6, dt.date(2021, 2, 5)),
                (SHARED, dt.date(2021, 2, 28), 987654.33, dt.date(2021, 3, 5)),
            ],
            silver.schema,
        ),
    )
    before = _tables(spark, lake)
    again = ingest("2021-02-01", "2021-04-01")
    assert again["files"] == [] and len(again["files_skipped"]) == 2
    assert _tables(spark, lake) == before

    # April's run gets March's statement: the one statement of the batch fails, so the batch is
    # rejected (silver unchanged) and the row is in quarantine with the rule it broke
    with pytest.raises(BatchRejectedError, match="fund_statements.closing_balance.reconciles"):
        ingest("2021-04-01", "2021-05-01")
    (row,) = io.read(spark, "quarantine", settings=lake).where(F.col("table_name") == "fund_statements").collect()
    assert row["rules"] == ["fund_statements.closing_balance.reconciles"]
    assert row["source_file"] == "fund/statements/fund_statement_202103.csv" and "2021-03-31" in row["record"]
    assert _tables(spark, lake)["fund_statements"] == before["fund_statements"]
    # April's month-end then sees February's statement, and says the feed is late
    with caplog.at_level(logging.WARNING, logger=FUND_LOG):
        balances = fund_balance_on(spark, dt.date(2021, 4, 30), lake, profile={SHARED: PROFILE_BALANCE})
    assert balances[SHARED] == PoolBalance(987654.33, FROM_STATEMENT, dt.date(2021, 2, 28), dt.date(2021, 3, 5))
    assert "is of 2021-02-28, older than 2021-03-31" in caplog.text


def test_a_statement_within_a_cent_reconciles_and_one_two_cents_off_does_not(spark):
    from expectations.rules import rules_for

    (rule,) = [r for r in rules_for("fund_statements", logical_date=D) if r.name.endswith("reconciles")]
    rows = [(1.0e7, 2.5e5, 1.2345e4, closing) for closing in (10237655.0, 10237655.01, 10237654.99, 10237655.02)]
    frame = spark.createDataFrame(
        rows, "opening_balance double, contributions double, payouts double, closing_balance double"
    )
    assert [r[0] for r in frame.select(rule.passes).collect()] == [True, True, True, False]
