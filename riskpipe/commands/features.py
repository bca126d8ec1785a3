"""``riskpipe features build`` and ``riskpipe features catalogue``: the gold feature store."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _build(args: argparse.Namespace) -> int:
    from jobs.features.main import main

    if args.as_of is None and (args.start is None or args.end is None):
        raise SystemExit("riskpipe features build: give --as-of DATE, or --from DATE --to DATE")
    from riskpipe.commands import session

    settings, spark = session("riskpipe-features")
    summary = main(as_of=args.as_of, start=args.start, end=args.end, full=args.full, settings=settings, spark=spark)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _catalogue(args: argparse.Namespace) -> int:
    from schemas.feature_catalogue import FEATURES, render_catalogue_markdown

    text = render_catalogue_markdown()
    if args.write:
        Path(args.write).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {len(FEATURES)} features to {args.write}")
    else:
        print(text)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser(
        "features",
        help="build point-in-time features and labels (gold)",
        description="Point-in-time enterprise features and default labels in the "
        "gold Delta tables enterprise_features and default_labels.",
    )
    sub = features.add_subparsers(dest="features_command", metavar="SUBCOMMAND")
    sub.required = True

    build = sub.add_parser(
        "build",
        help="build month-end snapshots",
        description="Build the month-end snapshot --as-of (always rebuilt), or the month-ends "
        "from --from to --to: incrementally (missing months and months whose "
        "silver inputs changed since they were built) unless --full.",
    )
    when = build.add_mutually_exclusive_group(required=True)
    when.add_argument("--as-of", type=_iso_date, metavar="YYYY-MM-DD", help="one snapshot date (a month-end)")
    when.add_argument(
        "--from",
        dest="start",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="first month of a range (any day of the month)",
    )
    build.add_argument(
        "--to", dest="end", type=_iso_date, metavar="YYYY-MM-DD", help="last month of the range (any day of the month)"
    )
    build.add_argument("--full", action="store_true", help="rebuild every month of the range")
    build.set_defaults(func=_build)

    catalogue = sub.add_parser(
        "catalogue",
        help="print the feature catalogue (Markdown)",
        description="Print the feature catalogue as Markdown, or write it to a file "
        f"(the committed copy is {DOCS_PATH.relative_to(DOCS_PATH.parents[1])}).",
    )
    catalogue.add_argument(
        "--write",
        metavar="PATH",
        nargs="?",
        const=str(DOCS_PATH),
        help="write to PATH (default docs/features.md) instead of printing",
    )
    catalogue.set_defaults(func=_catalogue)
