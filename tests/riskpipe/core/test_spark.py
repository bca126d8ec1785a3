import datetime as dt
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from riskpipe.core import io
from riskpipe.testing.files import moved_away
from schemas.registry import get


def test_session_has_delta_and_small_machine_defaults(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.adaptive.enabled") == "false"  # the tests' RISKPIPE_SPARK_CONF (conftest)
    assert spark.conf.get("spark.sql.codegen.hugeMethodLimit") == "8000"  # generated code the JIT compiles
    assert spark.conf.get("spark.sql.parquet.compression.codec") == "zstd"  # hex hashes take half the space


def test_tables_are_created_from_their_declaration(spark, settings):
    spec = get("tax_filings")
    df = io.read(spark, spec, settings=settings)
    assert df.schema.fieldNames() == spec.columns
    assert io.exists(spark, spec, settings=settings)
    assert io.table_path(spec, settings=settings).startswith(settings.lakehouse_root)
    # the column description travels with the table
    assert df.schema["taxable_sales"].metadata.get("comment") == "taxable sales of the period"


def test_merge_upsert_is_idempotent(spark, settings):
    spec = get("tax_ratings")
    df = spec.rows_to_df(
        spark,
        [
            {
                "uscc": "91350100M000100Y43",
                "rating_year": 2020,
                "rating": "B",
                "known_from": dt.date(2021, 4, 15),
                "is_current": True,
                "_batch_id": "b1",
                "_record_hash": "h1",
            },
        ],
    )
    io.merge_upsert(df, spec, settings=settings)
    io.merge_upsert(df, spec, settings=settings)
    assertDataFrameEqual(io.read(spark, spec, settings=settings), df)
    last = DeltaTable.forPath(spark, io.table_path(spec, settings=settings)).history(1).collect()[0]
    # the rerun commits but touches no row
    assert int(last["operationMetrics"]["numTargetRowsUpdated"]) == 0
    assert int(last["operationMetrics"]["numTargetRowsInserted"]) == 0


def test_replace_where_only_touches_its_partition(spark, settings):
    spec = get("loan_balances")

    def rows(month, day, amount):
        return {
            "loan_id": "L1",
            "uscc": "91350100M000100Y43",
            "as_of_date": dt.date(2021, month, day),
            "outstanding_principal": amount,
            "as_of_month": f"2021-{month:02d}",
            "known_from": dt.date(2021, month, day) + dt.timedelta(days=1),
            "is_current": True,
            "_batch_id": "b",
            "_record_hash": str(amount),
        }

    january_and_february = spec.rows_to_df(spark, [rows(1, 31, 10.0), rows(2, 28, 20.0)])
    io.replace_where(january_and_february, spec, "as_of_month >= '2021-01'", settings=settings)
    io.replace_where(spec.rows_to_df(spark, [rows(2, 28, 25.0)]), spec, "as_of_month = '2021-02'", settings=settings)
    got = {r["as_of_month"]: r["outstanding_principal"] for r in io.read(spark, spec, settings=settings).collect()}
    assert got == {"2021-01": 10.0, "2021-02": 25.0}


def _txn(txn_id: str, day: dt.date, amount: float) -> dict:
    return {
        "txn_id": txn_id,
        "account_id": "A1",
        "uscc": "91350100M000100Y43",
        "txn_ts": dt.datetime(day.year, day.month, day.day, 9),
        "amount": amount,
        "direction": "C",
        "channel": "pos",
        "balance_after": amount,
        "txn_date": day,
        "txn_month": f"{day:%Y-%m}",
        "known_from": day + dt.timedelta(days=1),
        "is_current": True,
        "_batch_id": "b",
        "_record_hash": str(amount),
    }


def test_merge_with_a_key_range_reads_only_the_files_in_it_and_merges_as_without(spark, settings, tmp_path):
    spec, own = get("transactions"), settings.replace(lakehouse_root=str(tmp_path))
    january = [_txn("TX20210105001", dt.date(2021, 1, 5), 10.0), _txn("TX20210120001", dt.date(2021, 1, 20), 11.0)]
    february = [_txn("TX20210203001", dt.date(2021, 2, 3), 20.0)]
    io.merge_upsert(spec.rows_to_df(spark, january), spec, settings=own)
    io.merge_upsert(spec.rows_to_df(spark, february), spec, settings=own)
    # a February batch: one corrected row, one new row
    batch = spec.rows_to_df(
        spark, [_txn("TX20210203001", dt.date(2021, 2, 3), 21.0), _txn("TX20210210001", dt.date(2021, 2, 10), 30.0)]
    )
    # January's files taken away: a MERGE that scans them fails, one that skips them does not
    january_files = list((Path(io.table_path(spec, settings=own)) / "txn_month=2021-01").glob("*.parquet"))
    with moved_away(january_files):
        with pytest.raises(Exception, match="(?i)not exist|not found"):
            io.merge_upsert(batch, spec, settings=own)
        io.merge_upsert(batch, spec, settings=own, key_range=("TX20210203001", "TX20210210001"))
    assertDataFrameEqual(io.read(spark, spec, settings=own), spec.rows_to_df(spark, january).unionByName(batch))
    metrics = DeltaTable.forPath(spark, io.table_path(spec, settings=own)).history(1).collect()[0]["operationMetrics"]
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("1", "1")
