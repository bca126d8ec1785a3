"""``riskpipe portfolio`` and ``riskpipe stress``: expected loss under the risk compensation fund, stress tests.

``portfolio --as-of D`` writes ``portfolio_risk``, ``portfolio_summary`` and ``portfolio_metrics``
of snapshot D (score it first: ``riskpipe score --as-of D``); ``stress --as-of D`` rescores D's
features under the scenarios of conf/stress_scenarios.yaml (all, or ``--scenario NAME``, repeatable)
into ``stress_results`` and ``stress_migration``. ``--from/--to`` run a range of month-ends in order.
"""

from __future__ import annotations

import argparse
import json

from riskpipe.commands import session
from riskpipe.commands.score import _days, _when


def _portfolio(args: argparse.Namespace) -> int:
    from jobs import portfolio

    days = _days(args)
    settings, spark = session("riskpipe-portfolio")
    for day in days:
        summary = portfolio.run(day, settings=settings, spark=spark, fund_balance=args.fund_balance)
        print(json.dumps(summary, default=str), flush=True)
    return 0


def _stress(args: argparse.Namespace) -> int:
    from jobs import stress

    days = _days(args)
    settings, spark = session("riskpipe-stress")
    for day in days:
        summary = stress.run(
            day, scenarios=args.scenario, settings=settings, spark=spark, fund_balance=args.fund_balance
        )
        print(json.dumps(summary, default=str), flush=True)
    return 0


def _fund_balance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fund-balance",
        type=float,
        metavar="CNY",
        help="the shared fund pool's balance for this run (default: the latest fund statement known on the "
        "snapshot date, else portfolio.fund.balance)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    portfolio = subparsers.add_parser(
        "portfolio",
        help="expected loss, bank and fund shares, fund adequacy and concentration",
        description="Per active loan PD (risk_scores of D), LGD (by collateral and guarantee type), EAD "
        "(outstanding + undrawn x CCF) and EL, split between the bank and the risk compensation fund "
        "(coverage share, capped by the fund balance in loss order); totals by county, industry, grade "
        "and product; HHI and top-borrower share; fund adequacy. Writes portfolio_risk, "
        "portfolio_summary and portfolio_metrics (replaces the month). See docs/portfolio.md.",
    )
    _when(portfolio)
    _fund_balance(portfolio)
    portfolio.set_defaults(func=_portfolio)

    stress = subparsers.add_parser(
        "stress",
        help="stress scenarios: shocked features rescored, EL and fund adequacy vs the baseline",
        description="Apply the scenarios of conf/stress_scenarios.yaml to the snapshot's features, rescore them "
        "with the model version that scored the snapshot (mlflow.pyfunc.spark_udf), recompute the "
        "expected loss and write stress_results and stress_migration beside the baseline.",
    )
    _when(stress)
    stress.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run this scenario only (repeatable; default: every scenario)",
    )
    _fund_balance(stress)
    stress.set_defaults(func=_stress)
