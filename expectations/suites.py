"""Great Expectations suites built from the declared rules, and their JSON files.

Run ``python -m expectations.suites --out DIR [--logical-date YYYY-MM-DD] [TABLE ...]``
to write one inspectable ``<table>.json`` suite per silver table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import great_expectations as gx

from expectations.rules import as_date, rules_for
from schemas.registry import all_tables


def suite_name(table_name: str) -> str:
    """Stable name of the suite of ``table_name``."""
    return f"riskpipe.silver.{table_name}"


def build_suite(table_name: str, *, logical_date: dt.date | dt.datetime | str) -> gx.ExpectationSuite:
    """Build the expectation suite of a silver table from its rules.

    Args:
        table_name: silver table name.
        logical_date: run's logical date (bounds the ``not_after_logical_date`` rules).

    Returns:
        A suite with one expectation per rule; each expectation's ``meta.rule`` is the rule name.
    """
    day = as_date(logical_date)
    # Passing the expectations to the constructor needs no active context (add_expectation does).
    return gx.ExpectationSuite(
        name=suite_name(table_name),
        expectations=[r.expectation() for r in rules_for(table_name, logical_date=day)],
        meta={"table": table_name, "logical_date": day.isoformat()},
    )


def write_suite_json(
    table: str, out_dir: str | Path, *, logical_date: dt.date | dt.datetime | str | None = None
) -> Path:
    """Write the suite of ``table`` to ``<out_dir>/<table>.json``.

    Args:
        table: silver table name.
        out_dir: destination folder (created if missing).
        logical_date: bounds of the date rules; the caller's date, or today for an
            inspection copy (the suite's structure does not depend on it).

    Returns:
        Path of the written file.
    """
    day = as_date(logical_date) if logical_date is not None else dt.date.today()
    suite = build_suite(table, logical_date=day)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{table}.json"
    path.write_text(
        json.dumps(suite.to_json_dict(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return path


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Generator CLI: write the suites of the given (default: all) silver tables."""
    parser = argparse.ArgumentParser(prog="python -m expectations.suites", description=__doc__)
    parser.add_argument("tables", nargs="*", help="silver tables (default: all)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--logical-date", default=None, help="YYYY-MM-DD (default: today)")
    args = parser.parse_args(argv)
    tables = args.tables or [s.name for s in all_tables("silver")]
    paths = [write_suite_json(t, args.out, logical_date=args.logical_date) for t in tables]
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
