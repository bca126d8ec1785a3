"""``riskpipe score`` and ``riskpipe monitor``: monthly scoring and post-loan monitoring.

``score --as-of D`` scores every active borrower of snapshot D with the champion into
``risk_scores``; ``monitor --as-of D`` writes ``early_warnings``, ``watch_list`` and
``loan_classification`` of D (score first). ``--from/--to`` run a range of month-ends in
order, which is also how a backfill is done.
"""

from __future__ import annotations

import argparse
import json

from riskpipe.commands import session
from riskpipe.commands.features import _iso_date


def _days(args: argparse.Namespace) -> list:
    from riskpipe.core.calendar import month_ends

    if args.as_of:
        return month_ends(args.as_of, args.as_of)
    if not (args.start and args.end):
        raise SystemExit(f"riskpipe {args.command}: give --as-of DATE, or --from DATE --to DATE")
    return month_ends(args.start, args.end)


def _score(args: argparse.Namespace) -> int:
    from jobs.scoring import main as scoring

    days = _days(args)
    settings, spark = session("riskpipe-scoring")
    # a range is scored in one distributed pass and one commit, by one model version
    summary = scoring.run(
        days, settings=settings, spark=spark, model_name=args.name, alias=args.alias, version=args.version
    )
    print(json.dumps(summary, default=str), flush=True)
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from jobs.post_loan import main as post_loan

    days = _days(args)
    settings, spark = session("riskpipe-post-loan")
    # a range is evaluated in one pass and one commit per table
    print(json.dumps(post_loan.run(days, settings=settings, spark=spark), default=str), flush=True)
    return 0


def _when(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--as-of", type=_iso_date, metavar="YYYY-MM-DD", help="snapshot date (a month-end)")
    when.add_argument("--from", dest="start", type=_iso_date, metavar="YYYY-MM-DD", help="first month of a range")
    parser.add_argument("--to", dest="end", type=_iso_date, metavar="YYYY-MM-DD", help="last month of the range")


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "score",
        help="score a snapshot with the champion into risk_scores",
        description="Score every active borrower of the month-end snapshot(s) with the "
        "registered model behind an alias (default: champion), through "
        "mlflow.pyfunc.spark_udf, into gold risk_scores (replaces the month).",
    )
    _when(score)
    score.add_argument("--name", help="registered model name (default: mlflow.model_name)")
    score.add_argument("--alias", help="model alias (default: scoring.alias, champion)")
    score.add_argument("--version", help="score with this model version instead of an alias")
    score.set_defaults(func=_score)

    monitor = subparsers.add_parser(
        "monitor",
        help="early warnings, watch list and loan classification",
        description="Evaluate the early-warning catalogue (conf/early_warnings.yaml) "
        "on every active loan, update the watch list and suggest the "
        "five-category class and IFRS 9 stage, for the snapshot(s).",
    )
    _when(monitor)
    monitor.set_defaults(func=_monitor)
