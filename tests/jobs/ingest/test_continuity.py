"""Continuity rules on small inline frames: a missing row breaks the balance chain or the id sequence."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.ingest import continuity
from jobs.ingest.continuity import BALANCE_RULE, SEQUENCE_RULE, balance_breaks, sequence_gaps
from riskpipe.core import io
from riskpipe.testing.files import moved_away
from schemas.registry import get

TXN, COURT, QUARANTINE, GAPS = (
    get(n) for n in ("bronze_transactions", "bronze_court_events", "quarantine", "continuity_gaps")
)
NOW = dt.datetime(2020, 3, 5, 6, 0)
SINCE = dt.date(2020, 3, 2)
ACCOUNT, OTHER = "6217000000000001", "6217000000000002"


def _txn(txn_id: str, amount: float, direction: str, balance: float, *, account: str = ACCOUNT) -> dict:
    day = dt.datetime.strptime(txn_id[2:10], "%Y%m%d")
    return {
        "txn_id": txn_id,
        "account_id": account,
        "uscc": "91141102MA0000001X",
        "txn_ts": day,
        "amount": amount,
        "direction": direction,
        "balance_after": balance,
        "_batch_id": "b",
        "_source": "bank",
        "_ingested_at": NOW,
        "_record_hash": txn_id,
    }


def _gap(key_before, key_after, date_before, date_after, **values) -> dict:
    return {
        "table_name": "transactions",
        "entity_key": ACCOUNT,
        "rule": BALANCE_RULE,
        "key_before": key_before,
        "key_after": key_after,
        "date_before": date_before,
        "date_after": date_after,
        "detected_at": NOW,
        **values,
    }


def _no_quarantine(spark):
    return QUARANTINE.rows_to_df(spark, [])


def test_a_missing_transaction_breaks_the_balance_chain_by_its_signed_amount(spark):
    received = TXN.rows_to_df(
        spark,
        [
            _txn("TX202003020000001", 100.0, "C", 1100.0),
            _txn("TX202003020000002", 40.0, "D", 1060.0),
            # TX...0000003 (C 25.50) never arrived
            _txn("TX202003030000004", 10.0, "D", 1075.5),
            _txn("TX202003030000004", 10.0, "D", 1075.5),  # a duplicate delivery is not a break
            _txn("TX202003030000005", 5.0, "C", 1080.5, account=OTHER),  # another account's chain
        ],
    )
    expected = GAPS.rows_to_df(
        spark,
        [
            _gap(
                "TX202003020000002",
                "TX202003030000004",
                dt.date(2020, 3, 2),
                dt.date(2020, 3, 3),
                unexplained_amount=25.5,
            )
        ],
    )
    assertDataFrameEqual(balance_breaks(received, _no_quarantine(spark), since=SINCE, detected_at=NOW), expected)


def test_posting_order_is_the_id_order_not_the_timestamp(spark):
    late_stamp = _txn("TX202003020000002", 40.0, "D", 1060.0)
    late_stamp["txn_ts"] = dt.datetime(2020, 3, 9)  # a wrong (future) timestamp does not reorder the chain
    received = TXN.rows_to_df(
        spark, [_txn("TX202003020000001", 100.0, "C", 1100.0), late_stamp, _txn("TX202003020000003", 60.0, "C", 1120.0)]
    )
    assert balance_breaks(received, _no_quarantine(spark), since=SINCE, detected_at=NOW).count() == 0


def test_a_row_whose_own_amount_failed_validation_is_no_evidence_of_a_gap(spark):
    received = TXN.rows_to_df(
        spark,
        [
            _txn("TX202003020000001", 100.0, "C", 1100.0),
            _txn("TX202003020000002", -40.0, "D", 1060.0),  # sign flipped at the source: quarantined
            _txn("TX202003020000003", 60.0, "C", 1120.0),
        ],
    )
    quarantine = QUARANTINE.rows_to_df(
        spark,
        [
            {
                "table_name": "transactions",
                "batch_id": "b",
                "record_key": "TX202003020000002",
                "record": "{}",
                "rules": ["transactions.amount.non_negative"],
                "_record_hash": "h",
                "quarantined_at": NOW,
            }
        ],
    )
    assert balance_breaks(received, _no_quarantine(spark), since=SINCE, detected_at=NOW).count() == 1
    assert balance_breaks(received, quarantine, since=SINCE, detected_at=NOW).count() == 0


def test_only_breaks_closing_in_the_checked_interval_are_reported(spark):
    received = TXN.rows_to_df(
        spark,
        [
            _txn("TX202002270000001", 100.0, "C", 1100.0),
            _txn("TX202002280000009", 10.0, "C", 1200.0),  # break closed before the interval
            _txn("TX202003020000003", 50.0, "C", 1300.0),  # break closed inside it
        ],
    )
    found = balance_breaks(received, _no_quarantine(spark), since=SINCE, detected_at=NOW).collect()
    assert [(r["key_before"], r["key_after"], r["unexplained_amount"]) for r in found] == [
        ("TX202002280000009", "TX202003020000003", 50.0)
    ]


def test_the_transactions_check_reads_only_the_bronze_files_of_its_window(spark, settings, tmp_path):
    own = settings.replace(lakehouse_root=str(tmp_path))
    january = [_txn("TX202001100000001", 100.0, "C", 1100.0), _txn("TX202001200000002", 50.0, "C", 1150.0)]
    # a wrongly future-dated row stretches its file's timestamp range into the checked window
    january[1]["txn_ts"] = dt.datetime(2020, 6, 1)
    march = [_txn("TX202003020000003", 10.0, "C", 1160.0), _txn("TX202003100000005", 5.0, "C", 1190.0)]
    may = [_txn("TX202005040000006", 1.0, "D", 1189.0), _txn("TX202005060000008", 9.0, "D", 1170.0)]
    for batch in (january, march, may):  # one bronze file per delivery
        io.append(TXN.rows_to_df(spark, batch).coalesce(1), TXN, settings=own)
    files = (
        io.read(spark, TXN, settings=own)
        .where(F.col("txn_id").startswith("TX202001"))
        .select(F.col("_metadata.file_path"))
        .distinct()
        .collect()
    )
    with moved_away([files[0][0]]):
        # checked from May 4 on, reading from 62 days earlier (March 3): January is not read
        found = continuity.main("transactions", since=dt.date(2020, 5, 4), settings=own, spark=spark)
    gaps = io.read(spark, GAPS, settings=own).collect()
    assert found == 1
    assert [(g["key_before"], g["key_after"], g["unexplained_amount"]) for g in gaps] == [
        ("TX202005040000006", "TX202005060000008", -10.0)
    ]


def _event(event_id: str, published: str) -> dict:
    return {
        "event_id": event_id,
        "published_date": published,
        "_batch_id": "b",
        "_source": "court",
        "_ingested_at": NOW,
        "_record_hash": event_id,
    }


def test_a_jump_in_the_court_event_ids_is_a_run_of_missing_events(spark):
    received = COURT.rows_to_df(
        spark,
        [
            _event("CE000000001", "2020-01-03"),
            _event("CE000000002", "2020-01-05"),
            _event("CE000000005", "2020-01-09"),
            _event("CE000000005", "2020-01-09"),
            _event("CE000000006", "2020-01-08"),
            _event("not-numbered", "2020-01-08"),
        ],
    )
    expected = GAPS.rows_to_df(
        spark,
        [
            {
                "table_name": "court_events",
                "entity_key": "CE",
                "rule": SEQUENCE_RULE,
                "key_before": "CE000000002",
                "key_after": "CE000000005",
                "date_before": dt.date(2020, 1, 5),
                "date_after": dt.date(2020, 1, 9),
                "missing_rows": 2,
                "detected_at": NOW,
            }
        ],
    )
    assertDataFrameEqual(sequence_gaps(received, detected_at=NOW), expected)
