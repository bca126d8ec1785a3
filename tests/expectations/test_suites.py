"""Suites built from the rules, and their JSON files."""

from __future__ import annotations

import json

import pytest

from expectations.rules import rules_for
from expectations.suites import build_suite, main, suite_name, write_suite_json
from schemas.registry import all_tables
from tests.expectations.cases import LOGICAL_DATE

SILVER = [s.name for s in all_tables("silver")]


@pytest.mark.parametrize("table", SILVER)
def test_one_expectation_per_rule(table):
    suite = build_suite(table, logical_date=LOGICAL_DATE)
    rules = rules_for(table, logical_date=LOGICAL_DATE)
    assert suite.name == suite_name(table)
    assert [e.meta["rule"] for e in suite.expectations] == [r.name for r in rules]
    assert [type(e).__name__ for e in suite.expectations] == [r.expectation_type for r in rules]


def test_suite_json_is_inspectable(tmp_path):
    path = write_suite_json("utility_reads", tmp_path, logical_date=LOGICAL_DATE)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["name"] == "riskpipe.silver.utility_reads"
    by_rule = {e["meta"]["rule"]: e for e in data["expectations"]}
    period = by_rule["utility_reads.period.not_after_logical_date"]
    assert period["type"] == "expect_column_values_to_be_between"
    assert period["kwargs"]["max_value"] == "2024-06-30"
    assert by_rule["utility_reads.unit.matches_utility_type"]["type"] == "expect_column_pair_values_to_be_in_set"


def test_generator_cli_writes_every_table(tmp_path):
    paths = main(["--out", str(tmp_path), "--logical-date", "2024-06-30"])
    assert sorted(p.stem for p in paths) == sorted(SILVER)
    assert all(p.exists() for p in paths)
