"""The risk compensation fund's balance on D, from the fund administrator's monthly statements.

The balance of each pool on snapshot D is the closing balance of the latest statement that the
bank held on D (silver ``fund_statements``): a statement dated on or before D, in the version
known on D (``known_from <= D < known_to``). The statement of month M reaches the bank on the
5th of M+1 (``schemas.feeds.FUND_STATEMENT_DAY``), so on a month-end D the latest known
statement is normally the previous month's; a restated statement counts from its delivery on.

A pool with no statement known on D takes the profile's constant (``portfolio.fund.balance``
for the shared pool, ``portfolio.fund.balance_by_product`` for a product's own pool), and a
warning names the pool and D. Which pools exist is the profile's decision: a statement of a pool
the profile does not declare is reported and left out. An explicit override of the shared pool
(``riskpipe portfolio --fund-balance``) wins over both. Every figure carries where it came from
(:class:`PoolBalance`), and the portfolio and stress summaries report it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.portfolio.config import SHARED_POOL, PortfolioConfig
from riskpipe.core import io
from riskpipe.core.calendar import add_months, known_on, month_end
from riskpipe.core.config import Settings

log = logging.getLogger(__name__)

TABLE = "fund_statements"
FROM_STATEMENT, FROM_PROFILE, FROM_OVERRIDE = "fund_statements", "profile", "override"


@dataclass(frozen=True)
class PoolBalance:
    """One pool's balance on D and where it came from.

    Attributes:
        balance: CNY.
        source: ``fund_statements`` (a statement known on D), ``profile`` (the profile's constant:
            no statement known) or ``override`` (given for the run).
        statement_date: month-end of the statement (``fund_statements`` only).
        known_from: day the statement reached the bank (``fund_statements`` only).
    """

    balance: float
    source: str
    statement_date: dt.date | None = None
    known_from: dt.date | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-ready form for run summaries (dates as ISO text, absent ones left out)."""
        out: dict[str, Any] = {"balance": self.balance, "source": self.source}
        if self.statement_date is not None:
            out["statement_date"] = self.statement_date.isoformat()
        if self.known_from is not None:
            out["known_from"] = self.known_from.isoformat()
        return out


def latest_statements(statements: DataFrame, day: dt.date) -> DataFrame:
    """Per pool, the latest statement held on ``day`` (pure): dated on or before it, in the version known on it.

    Args:
        statements: silver ``fund_statements`` rows (every version).
        day: the snapshot date D.

    Returns:
        At most one row per pool, with the silver columns.
    """
    held = statements.where(known_on(F.lit(day)) & (F.col("statement_date") <= F.lit(day)))
    # one version of a (pool, statement_date) is known on D, so the order has no ties
    latest = Window.partitionBy("pool").orderBy(F.col("statement_date").desc())
    return held.withColumn("_rank", F.row_number().over(latest)).where(F.col("_rank") == 1).drop("_rank")


def _statements_on(spark: SparkSession, day: dt.date, settings: Settings) -> dict[str, PoolBalance]:
    # read without creating the table: a portfolio run before the first fund ingestion writes nothing to silver
    if not io.exists(spark, TABLE, settings=settings):
        return {}
    rows = latest_statements(io.read(spark, TABLE, settings=settings), day).collect()
    return {
        r["pool"]: PoolBalance(float(r["closing_balance"]), FROM_STATEMENT, r["statement_date"], r["known_from"])
        for r in rows
    }


def fund_balance_on(
    spark: SparkSession,
    day: dt.date,
    settings: Settings,
    *,
    profile: Mapping[str, float] | None = None,
    given: Collection[str] = (),
) -> dict[str, PoolBalance]:
    """Balance of every pool on ``day``: the latest statement known on it, else the profile's constant.

    Args:
        day: the snapshot date D.
        profile: pool -> the profile's balance (default: ``PortfolioConfig.pool_balances`` of
            ``settings``); its pools are the pools returned.
        given: pools whose balance the caller has for this run (an override): neither returned nor reported.

    Returns:
        pool -> :class:`PoolBalance`. A pool without a statement known on D is logged at warning
        level, naming the pool and D; so is a latest statement older than the month before D's
        (the feed is late) and a statement of a pool the profile does not declare (left out).
    """
    if profile is None:
        profile = PortfolioConfig.from_settings(settings.sections("portfolio", "default_definition")).pool_balances
    found = {pool: statement for pool, statement in _statements_on(spark, day, settings).items() if pool not in given}
    expected = month_end(add_months(day, -1))
    balances = {}
    for pool, constant in profile.items():
        if pool in given:
            continue
        statement = found.get(pool)
        if statement is None:
            log.warning(
                "fund pool %r: no fund statement known on %s; using the profile's balance %.2f CNY "
                "(portfolio.fund). Ingest the fund statements (riskpipe ingest fund_statements).",
                pool,
                day,
                constant,
            )
            balances[pool] = PoolBalance(float(constant), FROM_PROFILE)
            continue
        if statement.statement_date is not None and statement.statement_date < expected:
            log.warning(
                "fund pool %r: the latest fund statement known on %s is of %s, older than %s: the feed may be late",
                pool,
                day,
                statement.statement_date,
                expected,
            )
        balances[pool] = statement
    unknown = sorted(set(found) - set(profile))
    if unknown:
        log.warning(
            "fund statements of pools %s known on %s are left out: the profile declares the pools %s "
            "(portfolio.fund.balance_by_product)",
            unknown,
            day,
            sorted(profile),
        )
    return balances


def config_on(
    spark: SparkSession,
    day: dt.date,
    settings: Settings,
    *,
    fund_balance: float | None = None,
) -> tuple[PortfolioConfig, dict[str, PoolBalance]]:
    """The ``portfolio:`` configuration of snapshot ``day`` with the fund balances known on it.

    Args:
        day: the snapshot date D.
        fund_balance: the shared pool's balance for this run (wins over the statements and the
            profile); the product pools still come from the statements.

    Returns:
        ``(config, balances)``: the configuration whose pool balances are ``balances`` (pool ->
        :class:`PoolBalance`, the figure and its source).
    """
    profile = PortfolioConfig.from_settings(settings.sections("portfolio", "default_definition"))
    pools = profile.pool_balances
    overridden = {} if fund_balance is None else {SHARED_POOL: PoolBalance(float(fund_balance), FROM_OVERRIDE)}
    read = set(pools) > set(overridden)  # nothing to read when the run gives every pool's balance
    known = fund_balance_on(spark, day, settings, profile=pools, given=set(overridden)) if read else {}
    balances = {**known, **overridden}
    config = PortfolioConfig.from_settings(
        settings.sections("portfolio", "default_definition"),
        fund_balance=balances[SHARED_POOL].balance,
        fund_balance_by_product={pool: balances[pool].balance for pool in profile.fund_balance_by_product},
    )
    return config, {pool: balances[pool] for pool in pools}


def describe(balances: Mapping[str, PoolBalance]) -> dict[str, dict[str, Any]]:
    """pool -> the figure and its source, for a run's summary."""
    return {pool: balance.describe() for pool, balance in balances.items()}
