"""Monthly portfolio risk of one month-end: read, compute, write three gold tables.

Reads the loan ledger (silver ``loans``/``loan_balances`` through
:func:`jobs.post_loan.loan_state.loan_state`), ``risk_scores`` of D (run ``jobs.scoring.main`` first), the
borrowers' county and industry from ``enterprise_features`` of D and the fund's balance known on D
(silver ``fund_statements`` through :func:`jobs.portfolio.fund.config_on`); writes ``portfolio_risk``,
``portfolio_summary`` and ``portfolio_metrics`` for the snapshot's month with ``replaceWhere``,
skipped when unchanged, so a rerun commits nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.portfolio import fund
from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.risk import portfolio_risk
from jobs.portfolio.summary import breakdown, metrics
from riskpipe.core import io
from riskpipe.core.calendar import snapshot_month, to_snapshots
from riskpipe.core.config import Settings
from schemas.gold_portfolio import PORTFOLIO_METRICS, PORTFOLIO_RISK, PORTFOLIO_SUMMARY


class PortfolioTables(NamedTuple):
    """The three portfolio frames of a snapshot (``portfolio_risk``, ``_summary``, ``_metrics`` columns)."""

    risk: DataFrame
    summary: DataFrame
    metrics: DataFrame


def portfolio_tables(
    loans: DataFrame, scores: DataFrame, enterprises: DataFrame, *, config: PortfolioConfig
) -> PortfolioTables:
    """Per-loan risk, breakdowns and metrics (pure; see :func:`jobs.portfolio.risk.exposures` for inputs).

    Each frame is the input of the next: cache them when they are evaluated more than once.
    """
    risk = portfolio_risk(loans, scores, enterprises, config=config)
    summary = breakdown(risk, config=config)
    return PortfolioTables(risk, summary, metrics(risk, summary, config=config))


def month_condition(day: dt.date) -> str:
    return f"snapshot_month = '{snapshot_month(day)}'"


def read_inputs(spark: SparkSession, day: dt.date, settings: Settings) -> tuple[DataFrame, DataFrame, DataFrame]:
    """``(loan state, risk_scores of D, borrowers' county and industry of D)`` from the lakehouse.

    Raises:
        ValueError: when ``risk_scores`` has no rows for ``day``.
    """
    from jobs.post_loan.main import read_loan_state

    on_day = (F.col("snapshot_month") == snapshot_month(day)) & (F.col("snapshot_date") == F.lit(day))
    scores = io.read(spark, "risk_scores", settings=settings).where(on_day)
    if scores.isEmpty():
        raise ValueError(f"risk_scores has no rows for {day}: score the snapshot first (riskpipe score --as-of {day})")
    places = io.read(spark, "enterprise_features", settings=settings).where(on_day).select("uscc", "county", "industry")
    return read_loan_state(spark, day, settings), scores, places


def _totals(row: Any) -> dict[str, Any]:
    keys = (
        "n_loans",
        "n_borrowers",
        "ead",
        "el",
        "bank_el",
        "fund_el",
        "fund_claim",
        "fund_balance",
        "fund_adequacy",
        "fund_shortfall",
        "hhi_borrower",
        "top_n_share",
    )
    return {k: row[k] for k in keys} if row is not None else {"n_loans": 0}


def run(
    as_of: dt.date | str,
    *,
    settings: Settings,
    spark: SparkSession,
    fund_balance: float | None = None,
) -> dict[str, Any]:
    """Portfolio risk of snapshot ``as_of`` (a month-end) into the three portfolio tables.

    Args:
        as_of: the month-end D (date or ISO string).
        fund_balance: the shared pool's balance for this run, instead of the latest fund statement
            known on D (or, with none, ``portfolio.fund.balance``).

    Returns:
        Summary: snapshot date, the metrics row (n_loans, ead, el, bank_el, fund_el, fund_claim,
        fund_balance, fund_adequacy, fund_shortfall, hhi_borrower, top_n_share), per fund pool
        its balance and where it came from (``fund_balances``: ``fund_statements`` with the
        statement's date, ``profile`` or ``override``) and, per table, whether a new version was committed.
    """
    (day,) = to_snapshots(as_of)
    loans, scores, places = read_inputs(spark, day, settings)
    config, balances = fund.config_on(spark, day, settings, fund_balance=fund_balance)
    risk = portfolio_risk(loans, scores, places, config=config).cache()
    summary = breakdown(risk, config=config).cache()
    # each frame is compared with the table, then written: computed once
    tables = PortfolioTables(risk, summary, metrics(risk, summary, config=config).cache())
    try:
        committed = {
            spec.name: io.replace_partition(frame, spec, month_condition(day), settings=settings)
            for spec, frame in zip((PORTFOLIO_RISK, PORTFOLIO_SUMMARY, PORTFOLIO_METRICS), tables)
        }
        row = tables.metrics.first()
    finally:
        for frame in tables:
            frame.unpersist()
    return {
        "snapshot_date": day.isoformat(),
        "config_hash": config.version(),
        **_totals(row),
        "fund_balances": fund.describe(balances),
        "committed": committed,
    }
