import datetime as dt

from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from riskpipe import io
from schemas.registry import get


def test_session_has_delta_and_small_machine_defaults(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"


def test_tables_are_created_from_their_declaration(spark, settings):
    spec = get("tax_filings")
    df = io.read(spark, spec)
    assert df.schema.fieldNames() == spec.columns
    assert io.exists(spark, spec)
    assert io.table_path(spec).startswith(settings.lakehouse_root)
    # the column description travels with the table
    assert df.schema["taxable_sales"].metadata.get("comment") == "taxable sales of the period"


def test_merge_upsert_is_idempotent(spark):
    spec = get("tax_ratings")
    df = spec.rows_to_df(spark, [
        {"uscc": "91350100M000100Y43", "rating_year": 2020, "rating": "B", "known_from": dt.date(2021, 4, 15),
         "is_current": True, "_batch_id": "b1", "_record_hash": "h1"},
    ])
    io.merge_upsert(df, spec)
    io.merge_upsert(df, spec)
    assertDataFrameEqual(io.read(spark, spec), df)
    last = DeltaTable.forPath(spark, io.table_path(spec)).history(1).collect()[0]
    # the rerun commits but touches no row
    assert int(last["operationMetrics"]["numTargetRowsUpdated"]) == 0
    assert int(last["operationMetrics"]["numTargetRowsInserted"]) == 0


def test_replace_where_only_touches_its_partition(spark):
    spec = get("loan_balances")
    def rows(month, day, amount):
        return {"loan_id": "L1", "uscc": "91350100M000100Y43", "as_of_date": dt.date(2021, month, day),
                "outstanding_principal": amount, "as_of_month": f"2021-{month:02d}", "_batch_id": "b",
                "_record_hash": str(amount)}
    io.replace_where(spec.rows_to_df(spark, [rows(1, 31, 10.0), rows(2, 28, 20.0)]), spec, "as_of_month >= '2021-01'")
    io.replace_where(spec.rows_to_df(spark, [rows(2, 28, 25.0)]), spec, "as_of_month = '2021-02'")
    got = {r["as_of_month"]: r["outstanding_principal"] for r in io.read(spark, spec).collect()}
    assert got == {"2021-01": 10.0, "2021-02": 25.0}
