"""``riskpipe monitor-model``: monthly model monitoring (PSI, backtest by grade, AUC/KS).

``monitor-model --as-of D`` monitors the model version that scored D (score first) and writes
gold ``model_monitoring`` for D's month; ``--from/--to`` runs a range of month-ends in order.
Prints one JSON summary per month, with the alerts. Exit code 0 even with alerts (they are
results, stored in the table); ``--fail-on-alert`` exits 3 when the last month has any.
Not to be confused with ``riskpipe monitor`` (post-loan early warnings).
"""

from __future__ import annotations

import argparse
import json

ALERT_EXIT_CODE = 3


def _monitor_model(args: argparse.Namespace) -> int:
    from jobs.model_monitoring import main as model_monitoring
    from riskpipe.commands import session
    from riskpipe.commands.score import _days

    days = _days(args)
    settings, spark = session("riskpipe-model-monitoring")
    result: dict = {}
    for day in days:
        result = model_monitoring.run(day, settings=settings, spark=spark)
        print(json.dumps(result, default=str), flush=True)
    return ALERT_EXIT_CODE if args.fail_on_alert and result.get("alerts") else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from riskpipe.commands.score import _when

    parser = subparsers.add_parser(
        "monitor-model",
        help="model monitoring: PSI drift, PD backtest by grade, AUC/KS (model_monitoring)",
        description="For the model version that scored each month-end: PSI of the score and of each feature "
        "against the training sample, realised vs predicted default rate by grade on matured "
        "snapshots (binomial test) and AUC/KS, with the thresholds of the monitoring: section; "
        "writes gold model_monitoring (replaces the month).",
    )
    _when(parser)
    parser.add_argument(
        "--fail-on-alert",
        action="store_true",
        help=f"exit {ALERT_EXIT_CODE} when the last month monitored has an act/red alert",
    )
    parser.set_defaults(func=_monitor_model)
