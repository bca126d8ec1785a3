"""Inline test batches: one good row per silver table and one bad row per rule.

Rows are built from the ``schemas/`` declarations. The schema is made nullable so
that a missing mandatory value (what ``not_null`` rules catch) can be represented;
pipeline-stamped history columns get fixed values.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from schemas.registry import get
from schemas.sources import NAME_MAX_LENGTH

LOGICAL_DATE = dt.date(2024, 6, 30)
USCC = "91350100M000100Y43"
USCC_BAD_CHECK = "91350100M000100Y44"
UTC = dt.UTC
HISTORY = {"known_from": LOGICAL_DATE, "is_current": True, "_batch_id": "test", "_record_hash": "h"}


def nullable_schema(table: str) -> StructType:
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in get(table).schema.fields])


def batch(spark: SparkSession, table: str, rows: list[dict], ids: list[str] | None = None) -> DataFrame:
    """A frame of ``table``'s silver columns plus a string ``_row_id`` (given ids or 0..n-1)."""
    spec = get(table)
    keys = ids if ids is not None else [str(i) for i in range(len(rows))]
    history = {k: v for k, v in HISTORY.items() if k in spec.columns}
    full = [{**spec.empty_row(**{**history, **r}), "_row_id": k} for r, k in zip(rows, keys, strict=True)]
    schema = nullable_schema(table).add("_row_id", StringType(), False)
    return spark.createDataFrame(full, schema)


def _uscc_cases(table: str) -> dict[str, dict]:
    return {
        f"{table}.uscc.not_null": {"uscc": None},
        f"{table}.uscc.uscc_format": {"uscc": "91350100M000100I43"},
        f"{table}.uscc.uscc_check_digit": {"uscc": USCC_BAD_CHECK},
    }


def _amount_cases(table: str, columns: dict[str, float]) -> dict[str, dict]:
    """non_negative and at_most_max cases for amount columns with their declared max."""
    cases = {}
    for column, high in columns.items():
        cases[f"{table}.{column}.non_negative"] = {column: -1.0}
        cases[f"{table}.{column}.at_most_max"] = {column: high * 2}
    return cases


# table -> (good row, {rule name: overrides or (overrides, extra rules that must also fail)})
CASES: dict[str, tuple[dict, dict]] = {
    "enterprises": (
        {
            "uscc": USCC,
            "company_name": "吕梁核桃有限公司",
            "company_name_norm": "吕梁核桃",
            "county": "离石区",
            "industry": "walnut",
            "size_class": "micro",
            "founded_date": dt.date(2015, 3, 1),
            "gov_recommended": True,
        },
        {
            **_uscc_cases("enterprises"),
            "enterprises.county.allowed_values": {"county": "北京市"},
            "enterprises.industry.allowed_values": {"industry": "rice"},
            "enterprises.size_class.allowed_values": {"size_class": "huge"},
            "enterprises.company_name.max_length": {"company_name": "核" * (NAME_MAX_LENGTH + 1)},
        },
    ),
    "tax_filings": (
        {
            "uscc": USCC,
            "company_name": "x",
            "period": dt.date(2024, 5, 1),
            "filing_date": dt.date(2024, 6, 15),
            "taxable_sales": 1e6,
            "vat_paid": 1.3e5,
            "cit_prepaid": 1e4,
            "arrears_amount": 0.0,
            "penalty_amount": 0.0,
            "is_amendment": False,
        },
        {
            **_uscc_cases("tax_filings"),
            "tax_filings.company_name.max_length": {"company_name": "x" * (NAME_MAX_LENGTH + 1)},
            "tax_filings.period.not_null": {"period": None},
            "tax_filings.period.not_after_logical_date": {"period": dt.date(2024, 7, 1)},
            "tax_filings.filing_date.not_after_logical_date": {"filing_date": dt.date(2024, 7, 1)},
            **_amount_cases("tax_filings", {"cit_prepaid": 1e9, "arrears_amount": 1e9, "penalty_amount": 1e9}),
            "tax_filings.taxable_sales.non_negative": {"taxable_sales": -1.0, "vat_paid": None},
            "tax_filings.taxable_sales.at_most_max": {"taxable_sales": 6e9},
            "tax_filings.vat_paid.non_negative": {"vat_paid": -1.0},
            "tax_filings.vat_paid.at_most_max": {"vat_paid": 2e9, "taxable_sales": 5e9},
            "tax_filings.vat_paid.not_above_taxable_sales": {"vat_paid": 2e6},
        },
    ),
    "tax_ratings": (
        {"uscc": USCC, "rating_year": 2023, "rating": "A", "published_date": dt.date(2024, 4, 1)},
        {
            **_uscc_cases("tax_ratings"),
            "tax_ratings.rating_year.not_null": {"rating_year": None},
            "tax_ratings.rating.allowed_values": {"rating": "E"},
            "tax_ratings.published_date.not_after_logical_date": {"published_date": dt.date(2024, 7, 1)},
        },
    ),
    "utility_reads": (
        {
            "meter_id": "E01000001",
            "uscc": USCC,
            "utility_type": "electricity",
            "period": dt.date(2024, 5, 1),
            "read_date": dt.date(2024, 6, 5),
            "consumption": 12000.0,
            "unit": "kWh",
            "bill_amount": 9000.0,
            "paid_flag": True,
            "arrears_amount": 0.0,
        },
        {
            **_uscc_cases("utility_reads"),
            **_amount_cases("utility_reads", {"bill_amount": 1e9, "arrears_amount": 1e9}),
            "utility_reads.meter_id.not_null": {"meter_id": None},
            "utility_reads.utility_type.allowed_values": (
                {"utility_type": "gas"},
                {"utility_reads.unit.matches_utility_type"},
            ),
            "utility_reads.period.not_null": {"period": None},
            "utility_reads.period.not_after_logical_date": {"period": dt.date(2024, 7, 1)},
            "utility_reads.read_date.not_after_logical_date": {"read_date": dt.date(2024, 7, 1)},
            "utility_reads.consumption.non_negative": {"consumption": -1.0},
            "utility_reads.consumption.at_most_max": (
                {"consumption": 6e8},
                {"utility_reads.consumption.plausible_for_unit"},
            ),
            "utility_reads.unit.allowed_values": ({"unit": "MWh"}, {"utility_reads.unit.matches_utility_type"}),
            "utility_reads.unit.matches_utility_type": {"unit": "m3"},
            "utility_reads.consumption.plausible_for_unit": {"consumption": 6e7},
        },
    ),
    "court_events": (
        {
            "event_id": "CE000001",
            "case_id": "(2024)晋1102民初1号",
            "event_type": "case_filed",
            "event_date": dt.date(2024, 6, 1),
            "published_date": dt.date(2024, 6, 10),
            "party_name": "x",
            "role": "defendant",
            "cause": "loan_dispute",
            "amount": 5e4,
            "status": "open",
        },
        {
            "court_events.event_id.not_null": {"event_id": None},
            "court_events.event_type.allowed_values": {"event_type": "appeal"},
            "court_events.event_date.not_after_logical_date": {"event_date": dt.date(2024, 7, 1)},
            "court_events.published_date.not_after_logical_date": {"published_date": dt.date(2024, 7, 1)},
            "court_events.role.allowed_values": {"role": "witness"},
            "court_events.cause.allowed_values": {"cause": "divorce"},
            **_amount_cases("court_events", {"amount": 5e9}),
        },
    ),
    "transactions": (
        {
            "txn_id": "T1",
            "account_id": "A1",
            "uscc": USCC,
            "txn_ts": dt.datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC),
            "amount": 100.0,
            "direction": "C",
            "channel": "transfer",
            "balance_after": 1000.0,
            "txn_date": dt.date(2024, 6, 30),
            "txn_month": "2024-06",
        },
        {
            **_uscc_cases("transactions"),
            "transactions.txn_id.not_null": {"txn_id": None},
            "transactions.txn_ts.not_after_logical_date": {"txn_ts": dt.datetime(2024, 7, 1, tzinfo=UTC)},
            "transactions.amount.non_negative": ({"amount": -1.0}, {"transactions.amount.positive"}),
            "transactions.amount.at_most_max": {"amount": 2e9},
            "transactions.amount.positive": {"amount": 0.0},
            "transactions.direction.allowed_values": {"direction": "X"},
            "transactions.channel.allowed_values": {"channel": "atm"},
            "transactions.txn_date.not_null": {"txn_date": None},
            "transactions.txn_month.not_null": {"txn_month": None},
        },
    ),
    "loans": (
        {
            "loan_id": "L1",
            "uscc": USCC,
            "product": "y_model",
            "principal": 1e6,
            "credit_limit": 2e6,
            "interest_rate": 0.05,
            "start_date": dt.date(2023, 1, 1),
            "maturity_date": dt.date(2025, 1, 1),
            "fund_coverage_share": 0.5,
            "gov_recommended": True,
            "status": "active",
        },
        {
            **_uscc_cases("loans"),
            **_amount_cases("loans", {"principal": 1e9, "credit_limit": 1e9}),
            "loans.loan_id.not_null": {"loan_id": None},
            "loans.interest_rate.non_negative": {"interest_rate": -0.01},
            "loans.interest_rate.at_most_max": {"interest_rate": 0.6},
            "loans.fund_coverage_share.non_negative": {"fund_coverage_share": -0.1},
            "loans.fund_coverage_share.at_most_max": {"fund_coverage_share": 1.5},
            "loans.status.allowed_values": {"status": "frozen"},
            "loans.maturity_date.not_before_start_date": {"maturity_date": dt.date(2022, 12, 31)},
        },
    ),
    "loan_balances": (
        {
            "loan_id": "L1",
            "uscc": USCC,
            "as_of_date": LOGICAL_DATE,
            "outstanding_principal": 1e6,
            "undrawn_amount": 0.0,
            "overdue_principal": 0.0,
            "days_past_due": 0,
            "repaid_amount": 0.0,
            "status": "active",
            "as_of_month": "2024-06",
        },
        {
            **_uscc_cases("loan_balances"),
            **_amount_cases(
                "loan_balances",
                {"outstanding_principal": 1e9, "undrawn_amount": 1e9, "overdue_principal": 1e9, "repaid_amount": 1e9},
            ),
            "loan_balances.loan_id.not_null": {"loan_id": None},
            "loan_balances.as_of_date.not_null": {"as_of_date": None},
            "loan_balances.as_of_date.not_after_logical_date": {"as_of_date": dt.date(2024, 7, 1)},
            "loan_balances.days_past_due.non_negative": {"days_past_due": -1},
            "loan_balances.days_past_due.at_most_max": {"days_past_due": 4000},
            "loan_balances.status.allowed_values": {"status": "x"},
            "loan_balances.as_of_month.not_null": {"as_of_month": None},
        },
    ),
    "fund_statements": (
        {
            "pool": "shared",
            "statement_date": dt.date(2024, 5, 31),
            "opening_balance": 1e7,
            "contributions": 2e5,
            "payouts": 5e4,
            "closing_balance": 1.015e7,
        },
        {
            "fund_statements.pool.not_null": {"pool": None},
            "fund_statements.statement_date.not_null": {"statement_date": None},
            "fund_statements.statement_date.not_after_logical_date": {"statement_date": dt.date(2024, 7, 31)},
            "fund_statements.statement_date.month_end": {"statement_date": dt.date(2024, 5, 30)},
            **{
                f"fund_statements.{column}.{check}": (
                    {column: value},
                    {"fund_statements.closing_balance.reconciles"},
                )
                for column in ("opening_balance", "contributions", "payouts")
                for check, value in (("non_negative", -1.0), ("at_most_max", 2e10))
            },
            **{
                f"fund_statements.{column}.not_null": {column: None}
                for column in ("opening_balance", "contributions", "payouts", "closing_balance")
            },
            # a negative balance that the month's figures reconcile: only the balance rule fails
            "fund_statements.closing_balance.non_negative": {
                "opening_balance": 0.0,
                "contributions": 0.0,
                "payouts": 5e4,
                "closing_balance": -5e4,
            },
            "fund_statements.closing_balance.at_most_max": (
                {"closing_balance": 2e10},
                {"fund_statements.closing_balance.reconciles"},
            ),
            "fund_statements.closing_balance.reconciles": {"closing_balance": 1.015e7 + 0.02},
        },
    ),
}


def expected_failures(table: str) -> dict[str, set[str]]:
    """Row id -> rule names that must fail (``good`` -> empty)."""
    _, bad = CASES[table]
    out = {"good": set()}
    for rule, case in bad.items():
        extra = case[1] if isinstance(case, tuple) else set()
        out[rule] = {rule, *extra}
    return out


def case_batch(spark: SparkSession, table: str) -> DataFrame:
    """The good row (id ``good``) and one bad row per rule (id = the rule name)."""
    good, bad = CASES[table]
    rows = [good] + [{**good, **(c[0] if isinstance(c, tuple) else c)} for c in bad.values()]
    return batch(spark, table, rows, ["good", *bad])
