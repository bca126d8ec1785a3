"""``riskpipe report --as-of D``: the monthly risk report as one self-contained HTML file."""

from __future__ import annotations

import argparse
import json

from riskpipe.commands import session
from riskpipe.commands.features import _iso_date


def _report(args: argparse.Namespace) -> int:
    from jobs.report.main import run

    settings, spark = session("riskpipe-report")
    summary = run(args.as_of, settings=settings, spark=spark, out=args.out)
    print(json.dumps(summary, default=str))
    print(f"report {'written to' if summary['written'] else 'unchanged at'} {summary['path']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the monthly risk report (HTML)",
        description="Portfolio summary, EL and fund coverage, grades and migration, "
        "warnings and the watch list, model performance and drift, stress "
        "tests: one self-contained HTML file per month-end.",
    )
    parser.add_argument("--as-of", type=_iso_date, required=True, metavar="YYYY-MM-DD", help="snapshot (month-end)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: report.output_dir, var/reports)")
    parser.set_defaults(func=_report)
