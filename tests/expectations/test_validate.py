"""validate_batch: Great Expectations and the Spark split agree row for row; thresholds reject."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from expectations.rules import rules_for
from expectations.validate import (
    BatchRejectedError,
    ge_pandas_max_rows,
    max_failure_rate_for,
    raise_if_rejected,
    validate_batch,
)
from jobs.ingest.quarantine import to_quarantine
from schemas.registry import all_tables, get
from tests.expectations.cases import CASES, LOGICAL_DATE, batch, case_batch, expected_failures

SILVER = [s.name for s in all_tables("silver")]
ENGINES = ["pandas", "spark"]
UTC = dt.UTC
GOOD = CASES["tax_filings"][0]
FUTURE = {"period": dt.date(2024, 9, 1)}
BAD_CHECK = {"uscc": "91350100M000100Y44"}
N_GOOD, N_FUTURE, N_BAD_CHECK = 40, 230, 30  # more failing rows than GE's samples (20) and query cap (200)


def spark_failing_ids(result) -> dict[str, set[tuple]]:
    rows = result.invalid_df.select(*result.id_columns, F.explode("_failed_rules").alias("rule")).collect()
    out: dict[str, set[tuple]] = {}
    for r in rows:
        out.setdefault(r["rule"], set()).add(tuple(r[c] for c in result.id_columns))
    return out


def assert_ge_agrees_with_spark(result) -> None:
    spark_ids = spark_failing_ids(result)
    for rule in rules_for(result.table_name, logical_date=result.logical_date):
        ge_ids = result.ge_failing_ids(rule.name)
        assert ge_ids == spark_ids.get(rule.name, set()), rule.name
        assert result.rule_counts[rule.name] == len(ge_ids)


@pytest.fixture(scope="module", params=ENGINES)
def big_result(spark, tmp_path_factory, request):
    rows = [GOOD] * N_GOOD + [{**GOOD, **FUTURE}] * N_FUTURE + [{**GOOD, **BAD_CHECK}] * N_BAD_CHECK
    df = batch(spark, "tax_filings", rows)
    docs = tmp_path_factory.mktemp("data_docs")
    result = validate_batch(
        df,
        "tax_filings",
        logical_date=LOGICAL_DATE,
        batch_id="b-2024-06-30",
        max_failure_rate=0.05,
        data_docs_dir=str(docs),
        engine=request.param,
    )
    assert result.engine == request.param
    yield result
    result.unpersist()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("table", SILVER)
def test_ge_and_spark_flag_the_same_rows_for_every_rule(spark, table, engine):
    result = validate_batch(
        case_batch(spark, table),
        table,
        logical_date=LOGICAL_DATE,
        batch_id="cases",
        max_failure_rate=1.0,
        engine=engine,
    )
    try:
        assert result.engine == engine
        assert_ge_agrees_with_spark(result)
        expected = expected_failures(table)
        got = {r["_row_id"]: set(r["_failed_rules"]) for r in result.invalid_df.collect()}
        assert got == {k: v for k, v in expected.items() if v}
        assert [r["_row_id"] for r in result.valid_df.collect()] == ["good"]
        assert result.valid_df.columns == case_batch(spark, table).columns
        assert not result.rejected
        raise_if_rejected(result)  # no-op below the threshold
    finally:
        result.unpersist()


def test_every_failing_row_is_listed_not_a_sample(big_result):
    assert len(big_result.ge_failing_ids("tax_filings.period.not_after_logical_date")) == N_FUTURE
    assert len(big_result.ge_failing_ids("tax_filings.uscc.uscc_check_digit")) == N_BAD_CHECK
    assert_ge_agrees_with_spark(big_result)


def test_split_and_counts(big_result):
    assert big_result.row_count == N_GOOD + N_FUTURE + N_BAD_CHECK
    assert big_result.failed_row_count == N_FUTURE + N_BAD_CHECK
    assert big_result.valid_df.count() == N_GOOD
    assert big_result.failure_rate == pytest.approx((N_FUTURE + N_BAD_CHECK) / big_result.row_count)
    assert big_result.broken_rules == {
        "tax_filings.period.not_after_logical_date": N_FUTURE,
        "tax_filings.uscc.uscc_check_digit": N_BAD_CHECK,
    }
    schema = dict(big_result.invalid_df.dtypes)
    assert schema["_failed_rules"] == "array<string>" and schema["_reason"] == "string"
    reason = big_result.invalid_df.where(F.col("uscc") == BAD_CHECK["uscc"]).first()["_reason"]
    assert "tax_filings.uscc.uscc_check_digit" in reason and BAD_CHECK["uscc"] in reason


def test_threshold_rejects_with_a_message_naming_rules_and_counts(big_result):
    assert big_result.rejected
    assert big_result.invalid_df.count() == N_FUTURE + N_BAD_CHECK  # still available for quarantine
    with pytest.raises(BatchRejectedError) as err:
        raise_if_rejected(big_result)
    message = str(err.value)
    for part in (
        "tax_filings",
        "b-2024-06-30",
        "86.67%",
        "5.00%",
        f"tax_filings.period.not_after_logical_date: {N_FUTURE} rows",
        f"tax_filings.uscc.uscc_check_digit: {N_BAD_CHECK} rows",
    ):
        assert part in message


def test_data_docs_index_is_written(big_result):
    index = big_result.data_docs_index
    assert index is not None and index.endswith("index.html")
    with open(index, encoding="utf-8") as handle:
        html = handle.read()
    assert "riskpipe.silver.tax_filings" in html


def test_quarantine_rows_carry_rules_and_batch(big_result):
    at = dt.datetime(2024, 7, 1, 2, 0)
    q = to_quarantine(
        big_result.invalid_df,
        table_name="tax_filings",
        batch_id=big_result.batch_id,
        failure_rate=big_result.failure_rate,
        quarantined_at=at,
    )
    assert q.columns == get("quarantine").columns
    rows = q.collect()
    assert len(rows) == N_FUTURE + N_BAD_CHECK
    assert {r["batch_id"] for r in rows} == {"b-2024-06-30"}
    assert {tuple(r["rules"]) for r in rows} == {
        ("tax_filings.period.not_after_logical_date",),
        ("tax_filings.uscc.uscc_check_digit",),
    }
    assert all(r["reason"] and r["failure_rate"] == big_result.failure_rate for r in rows)


def test_uses_the_session_spark(spark, big_result):
    assert SparkSession.getActiveSession() is spark


def test_row_id_is_required_and_unique(spark):
    df = batch(spark, "tax_ratings", [CASES["tax_ratings"][0]] * 2, ["a", "a"])
    with pytest.raises(ValueError, match="not unique"):
        validate_batch(df, "tax_ratings", logical_date=LOGICAL_DATE, batch_id="b", max_failure_rate=0.05)
    with pytest.raises(ValueError, match="unique row id"):
        validate_batch(
            df.drop("_row_id"), "tax_ratings", logical_date=LOGICAL_DATE, batch_id="b", max_failure_rate=0.05
        )
    with pytest.raises(ValueError, match="rating"):
        validate_batch(df.drop("rating"), "tax_ratings", logical_date=LOGICAL_DATE, batch_id="b", max_failure_rate=0.05)


def test_max_failure_rate_from_config(settings):
    assert max_failure_rate_for("tax_filings", settings) == settings.ingestion.max_failure_rate
    custom = settings.merged({"ingestion": {"max_failure_rate_by_table": {"utility_reads": 0.2}}})
    assert max_failure_rate_for("utility_reads", custom) == 0.2
    assert max_failure_rate_for("loans", custom) == settings.ingestion.max_failure_rate


# Values whose types differ between Spark and pandas: NaN (not null in Spark, null in pandas),
# nulls in numeric/date/timestamp columns, dates and instants on the logical-date boundary.
EDGE_ROWS = {
    "tax_filings": {
        "nan_vat": (
            {"vat_paid": float("nan")},
            {"tax_filings.vat_paid.at_most_max", "tax_filings.vat_paid.not_above_taxable_sales"},
        ),
        "nan_sales": ({"taxable_sales": float("nan")}, {"tax_filings.taxable_sales.at_most_max"}),
        "null_amounts": ({"taxable_sales": None, "vat_paid": None, "cit_prepaid": None}, set()),
        "null_dates": ({"filing_date": None}, set()),
        "last_day": ({"period": LOGICAL_DATE, "filing_date": LOGICAL_DATE}, set()),
        "next_day": ({"filing_date": dt.date(2024, 7, 1)}, {"tax_filings.filing_date.not_after_logical_date"}),
    },
    "transactions": {
        "null_ts": ({"txn_ts": None, "amount": None}, set()),
        "last_instant": ({"txn_ts": dt.datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)}, set()),
        "first_instant_after": (
            {"txn_ts": dt.datetime(2024, 7, 1, tzinfo=UTC)},
            {"transactions.txn_ts.not_after_logical_date"},
        ),
        "nan_amount": ({"amount": float("nan")}, {"transactions.amount.at_most_max"}),
    },
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("table", sorted(EDGE_ROWS))
def test_engines_agree_on_nan_null_and_boundary_values(spark, table, engine):
    good, cases = CASES[table][0], EDGE_ROWS[table]
    df = batch(spark, table, [good] + [{**good, **c} for c, _ in cases.values()], ["good", *cases])
    result = validate_batch(df, table, logical_date=LOGICAL_DATE, batch_id="edges", max_failure_rate=1.0, engine=engine)
    try:
        assert_ge_agrees_with_spark(result)
        got = {r["_row_id"]: set(r["_failed_rules"]) for r in result.invalid_df.collect()}
        assert got == {k: rules for k, (_, rules) in cases.items() if rules}
    finally:
        result.unpersist()


def test_auto_engine_uses_pandas_up_to_the_configured_size(spark, settings):
    assert ge_pandas_max_rows(settings) == settings.ingestion.ge_pandas_max_rows
    df = batch(spark, "tax_ratings", [CASES["tax_ratings"][0], {**CASES["tax_ratings"][0], "rating": "E"}])
    small = validate_batch(
        df, "tax_ratings", logical_date=LOGICAL_DATE, batch_id="auto", max_failure_rate=1.0, settings=settings
    )
    tiny_limit = settings.merged({"ingestion": {"ge_pandas_max_rows": 1}})
    large = validate_batch(
        df, "tax_ratings", logical_date=LOGICAL_DATE, batch_id="auto", max_failure_rate=1.0, settings=tiny_limit
    )
    try:
        assert (small.engine, large.engine) == ("pandas", "spark")
        assert small.rule_counts == large.rule_counts and small.broken_rules == {"tax_ratings.rating.allowed_values": 1}
        assert small.ge_failing_ids("tax_ratings.rating.allowed_values") == {("1",)}
        assert large.ge_failing_ids("tax_ratings.rating.allowed_values") == {("1",)}
    finally:
        small.unpersist()
        large.unpersist()


def test_unknown_engine_is_rejected(spark):
    df = batch(spark, "tax_ratings", [CASES["tax_ratings"][0]])
    with pytest.raises(ValueError, match="engine"):
        validate_batch(
            df, "tax_ratings", logical_date=LOGICAL_DATE, batch_id="b", max_failure_rate=0.05, engine="duckdb"
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_that_could_not_be_parsed_fail_with_their_parse_rules_only(spark, engine):
    good = CASES["tax_ratings"][0]
    # row 1 could not be parsed (its rating_year is null because of that, which a rule would also flag);
    # row 2 parsed and breaks a rule; row 0 is good
    df = batch(spark, "tax_ratings", [good, {**good, "rating_year": None}, {**good, "rating": "E"}]).withColumn(
        "_parse_errors",
        F.when(F.col("_row_id") == "1", F.array(F.lit("tax_ratings.rating_year.parse"))).otherwise(
            F.array().cast("array<string>")
        ),
    )
    result = validate_batch(
        df,
        "tax_ratings",
        logical_date=LOGICAL_DATE,
        batch_id="parse",
        max_failure_rate=1.0,
        engine=engine,
        parse_errors="_parse_errors",
    )
    try:
        assert "_parse_errors" not in result.valid_df.columns + result.invalid_df.columns
        assert [r["_row_id"] for r in result.valid_df.collect()] == ["0"]
        got = {r["_row_id"]: (r["_failed_rules"], r["_reason"]) for r in result.invalid_df.collect()}
        assert got["1"] == (["tax_ratings.rating_year.parse"], "could not parse: tax_ratings.rating_year.parse")
        assert got["2"][0] == ["tax_ratings.rating.allowed_values"]
        # counts, the rate and Great Expectations cover the rows that were parsed
        assert (result.row_count, result.failed_row_count) == (2, 1)
        assert result.broken_rules == {"tax_ratings.rating.allowed_values": 1}
        assert_ge_agrees_with_spark_on_parsed_rows(result)
    finally:
        result.unpersist()


def assert_ge_agrees_with_spark_on_parsed_rows(result) -> None:
    parsed_ids = {(r["_row_id"],) for r in result.invalid_df.collect() if not r["_reason"].startswith("could not")}
    for rule in rules_for(result.table_name, logical_date=result.logical_date):
        assert result.ge_failing_ids(rule.name) == {
            i for i in spark_failing_ids(result).get(rule.name, set()) if i in parsed_ids
        }


def test_a_missing_parse_error_column_is_named(spark):
    df = batch(spark, "tax_ratings", [CASES["tax_ratings"][0]])
    with pytest.raises(ValueError, match="_parse_errors"):
        validate_batch(
            df,
            "tax_ratings",
            logical_date=LOGICAL_DATE,
            batch_id="b",
            max_failure_rate=0.05,
            parse_errors="_parse_errors",
        )
