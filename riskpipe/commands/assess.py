"""``riskpipe assess``: pre-loan assessment of one application (or the replay of a recorded one)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive_amount(text: str) -> float:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"amount must be positive, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of months: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"term must be at least 1 month, got {text!r}")
    return value


def _assess(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (LookupError, ValueError) as error:  # no champion, unknown decision id, bad policy
        print(f"riskpipe assess: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from jobs.assess.main import assess, replay
    from riskpipe.commands import session

    if args.replay:
        settings, spark = session("riskpipe-assess")
        result = replay(args.replay, settings=settings, spark=spark)
        print(result.replayed.render())
        for name, (recorded, replayed) in result.differences.items():
            print(f"DIFFERS {name}: recorded {recorded!r}, replayed {replayed!r}")
        print("replay: same decision" if result.matches else "replay: DIFFERENT")
        return 0 if result.matches else 3
    if args.uscc is None or args.amount is None or args.term is None:
        raise SystemExit("riskpipe assess: give --uscc, --amount and --term (or --replay DECISION_ID)")
    # the command line is the one place a default date is today's: an officer assessing now
    as_of = args.as_of or dt.date.today()
    settings, spark = session("riskpipe-assess")
    record = assess(
        args.uscc,
        args.amount,
        args.term,
        as_of=as_of,
        settings=settings,
        spark=spark,
        model_uri=args.model_uri,
        purpose=args.purpose,
        product=args.product,
    )
    print(record.render())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "assess",
        help="pre-loan assessment: policy rules, champion score, decision and limit",
        description="Assess a loan application as of a date: builds the applicant's point-in-time features "
        "from silver, applies the hard policy rules (decisions: in the profile), scores with the "
        "champion model and prints approve / refer / decline with a recommended limit and the "
        "reasons. Every assessment is appended to the gold credit_decisions audit table. The "
        "government recommendation is shown but never approves by itself.",
    )
    parser.add_argument("--uscc", help="applicant's Unified Social Credit Code")
    parser.add_argument("--amount", type=_positive_amount, help="requested amount, CNY")
    parser.add_argument("--term", type=_positive_int, help="requested term, months")
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="assessment date (default: today); only data available on it is used",
    )
    parser.add_argument("--purpose", help="loan purpose (recorded)")
    parser.add_argument("--product", help="loan product (recorded)")
    parser.add_argument("--model-uri", help="score with this model instead of models:/<name>@champion")
    parser.add_argument(
        "--replay", metavar="DECISION_ID", help="re-run a recorded decision from its stored values and model version"
    )
    parser.set_defaults(func=_assess)
