"""Rules derived from the schema declarations: each rule catches its bad row, the good row passes."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from pyspark.sql import functions as F

from expectations.rules import flag_column_name, rules_for, uscc_check_digit_sql
from riskpipe.core.uscc import generate
from schemas.registry import all_tables
from tests.expectations.cases import CASES, LOGICAL_DATE, batch, case_batch, expected_failures

SILVER = [s.name for s in all_tables("silver")]
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Public codes, each verified against the reference implementation below.
KNOWN_VALID = [
    "91350100M000100Y43",
    "91110000600037341L",
    "914403001922038216",
    "9144030071526726XG",
    "91330100716105852F",
    "91110108551385082Q",
]


def reference_is_valid(code: str) -> bool:
    """GB 32100-2015, written out independently of riskpipe.core.uscc."""
    if len(code) != 18 or any(c not in ALPHABET for c in code):
        return False
    total = sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value] == code[17]


def failing_rules(df, rules):
    failed = F.filter(F.array(*[F.when(~r.passes, F.lit(r.name)) for r in rules]), lambda x: x.isNotNull())
    nulls = F.array(*[F.when(r.passes.isNull(), F.lit(r.name)) for r in rules])
    rows = df.select("_row_id", failed.alias("failed"), F.filter(nulls, lambda x: x.isNotNull()).alias("nulls"))
    return {r["_row_id"]: (set(r["failed"]), r["nulls"]) for r in rows.collect()}


def test_every_silver_table_has_cases():
    assert set(CASES) == set(SILVER)


@pytest.mark.parametrize("table", SILVER)
def test_each_rule_catches_its_bad_row_and_passes_the_good_one(spark, table):
    rules = rules_for(table, logical_date=LOGICAL_DATE)
    expected = expected_failures(table)
    assert set(expected) - {"good"} == {r.name for r in rules}, "every rule needs a bad-row case"

    got = failing_rules(case_batch(spark, table), rules)

    assert {k: v[0] for k, v in got.items()} == expected
    assert all(not nulls for _, nulls in got.values()), "a rule condition evaluated to null"


@pytest.mark.parametrize("table", SILVER)
def test_rule_names_are_stable_and_unique(table):
    rules = rules_for(table, logical_date=LOGICAL_DATE)
    names = [r.name for r in rules]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(rf"{table}\.[a-z_]+\.[a-z_]+", n) for n in names), names
    assert all(r.description and r.columns for r in rules)
    assert [r.name for r in rules_for(table, logical_date="2030-01-01")] == names


def test_rules_declared_once_from_metadata():
    names = {r.name for r in rules_for("tax_filings", logical_date=LOGICAL_DATE)}
    # nullable=False -> not_null; min 0 -> non_negative; max -> at_most_max; rule=... -> special checks.
    assert {
        "tax_filings.uscc.not_null",
        "tax_filings.taxable_sales.non_negative",
        "tax_filings.taxable_sales.at_most_max",
        "tax_filings.uscc.uscc_check_digit",
        "tax_filings.period.not_after_logical_date",
    } <= names
    # Pipeline-stamped columns are not the source's fault and carry no rules.
    assert not any(".known_from." in n or "._record_hash." in n for n in names)


def test_rules_only_for_silver_tables():
    with pytest.raises(ValueError, match="silver"):
        rules_for("bronze_tax_filings", logical_date=LOGICAL_DATE)


def test_reference_accepts_known_codes():
    assert all(reference_is_valid(c) for c in KNOWN_VALID)


def test_uscc_check_digit_sql_matches_reference(spark):
    rng = np.random.default_rng(7)
    generated = [generate(rng, "141102") for _ in range(400)]
    assert any(c.endswith("0") for c in generated), "need codes whose check value is 31 -> 0"
    corrupted = [c[:17] + ALPHABET[(ALPHABET.index(c[17]) + k) % 31] for c in KNOWN_VALID for k in (1, 7, 30)]
    swapped = [c[:3] + c[4] + c[3] + c[5:] for c in KNOWN_VALID if c[3] != c[4]]
    codes = KNOWN_VALID + generated + corrupted + swapped
    df = spark.createDataFrame([(c,) for c in codes], "uscc string")
    rows = df.select("uscc", F.expr(uscc_check_digit_sql("uscc")).alias("check")).collect()
    computed = {r["uscc"]: r["check"] for r in rows}
    assert all((computed[c] == c[17]) == reference_is_valid(c) for c in codes)
    assert all(computed[c] == c[17] for c in KNOWN_VALID + generated)
    assert not any(computed[c] == c[17] for c in corrupted + swapped)


@pytest.mark.parametrize(
    "code, failing",
    [
        ("91350100M000100Y43", set()),
        ("91350100M000100Y44", {"uscc_check_digit"}),
        ("91350100M000100Y4", {"uscc_format"}),
        ("91350100M000100Y433", {"uscc_format"}),
        ("91350100M000100I43", {"uscc_format"}),
        ("91350100m000100y43", {"uscc_format"}),
        ("９1350100M000100Y43", {"uscc_format"}),
        (None, {"not_null"}),
    ],
)
def test_uscc_rules(spark, code, failing):
    rules = [r for r in rules_for("enterprises", logical_date=LOGICAL_DATE) if ".uscc." in r.name]
    got = failing_rules(batch(spark, "enterprises", [{"uscc": code}]), rules)["0"][0]
    assert {n.rsplit(".", 1)[1] for n in got} == failing


@pytest.mark.parametrize(
    "period, future",
    [
        (dt.date(2024, 6, 1), False),
        (dt.date(2024, 6, 30), False),
        (dt.date(2024, 7, 1), True),
        (dt.date(2031, 1, 1), True),
        (dt.date(2019, 1, 1), False),
    ],
)
def test_future_periods_rejected_relative_to_logical_date(spark, period, future):
    df = batch(spark, "tax_filings", [{"uscc": "91350100M000100Y43", "period": period}])
    for logical_date in (LOGICAL_DATE, dt.datetime(2024, 6, 30, 0, 0), "2024-06-30"):
        rules = [
            r
            for r in rules_for("tax_filings", logical_date=logical_date)
            if r.name == "tax_filings.period.not_after_logical_date"
        ]
        assert bool(failing_rules(df, rules)["0"][0]) is future


def test_timestamp_rule_allows_the_whole_logical_day(spark):
    utc = dt.UTC
    stamps = [
        dt.datetime(2024, 6, 30, 0, 0, tzinfo=utc),
        dt.datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=utc),
        dt.datetime(2024, 7, 1, 0, 0, tzinfo=utc),
    ]
    df = batch(spark, "transactions", [{"txn_ts": s} for s in stamps])
    rules = [r for r in rules_for("transactions", logical_date=LOGICAL_DATE) if "txn_ts" in r.name]
    got = failing_rules(df, rules)
    assert [bool(got[str(i)][0]) for i in range(3)] == [False, False, True]


def test_flag_rules_name_their_derived_column():
    flagged = [r for t in SILVER for r in rules_for(t, logical_date=LOGICAL_DATE) if r.flag_column]
    assert {r.name for r in flagged} >= {
        "enterprises.uscc.uscc_check_digit",
        "utility_reads.consumption.plausible_for_unit",
    }
    for rule in flagged:
        assert rule.flag_column == flag_column_name(rule.name)
        assert rule.expectation_kwargs == {"column": rule.flag_column, "value_set": [True]}
