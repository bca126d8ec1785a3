"""A stressed portfolio side by side with the baseline: totals, fund adequacy and grade migration (pure)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.summary import adequacy
from jobs.stress.scenarios import Scenario
from riskpipe.core.aggregates import exact_sum
from riskpipe.core.calendar import snapshot_month
from schemas.gold_portfolio import STRESS_MIGRATION, STRESS_RESULTS

MEASURES = ("el", "bank_el", "fund_el", "fund_claim")
SIDES = ("baseline", "stressed")


def _sum(name: str) -> Column:
    return F.coalesce(exact_sum(name), F.lit(0.0))


def side_by_side(baseline_risk: DataFrame, stressed_risk: DataFrame, moves: DataFrame, *, balance: float) -> DataFrame:
    """One row: the baseline and stressed totals, each aggregated from the same per-loan (and per-borrower) pairs,
    so equal inputs give bit-for-bit equal totals whatever the partitioning.

    Args:
        baseline_risk / stressed_risk: ``portfolio_risk`` rows (loan_id, pd, ead, el, bank_el, fund_el, fund_claim).
        moves: :func:`grade_moves` (from_pd, to_pd per scored borrower).
        balance: the fund's total balance.

    Returns:
        n_loans, ead, n_scored, n_downgraded, n_upgraded and, for each side ``baseline`` / ``stressed``:
        ``{side}_pd_mean`` (mean PD of the scored borrowers), ``{side}_pd_weighted`` (EAD-weighted PD of
        the loans), ``{side}_el``, ``_bank_el``, ``_fund_el``, ``_fund_claim`` and ``_fund_adequacy``.
    """

    def values(risk: DataFrame, side: str) -> DataFrame:
        return risk.select(
            "loan_id",
            *[F.col(c).alias(f"{side}_{c}") for c in ("pd", *MEASURES)],
            *(["ead"] if side == "baseline" else []),
        )

    pairs = values(baseline_risk, "baseline").join(values(stressed_risk, "stressed"), on="loan_id", how="inner")
    weighted = [
        F.try_divide(exact_sum(F.col(f"{side}_pd") * F.col("ead")), exact_sum("ead")).alias(f"{side}_pd_weighted")
        for side in SIDES
    ]
    loans = pairs.agg(
        F.count("loan_id").alias("n_loans"),
        _sum("ead").alias("ead"),
        *weighted,
        *[_sum(f"{side}_{m}").alias(f"{side}_{m}") for side in SIDES for m in MEASURES],
    )
    borrowers = moves.agg(
        F.count("uscc").alias("n_scored"),
        F.count_if(F.col("move") > 0).alias("n_downgraded"),
        F.count_if(F.col("move") < 0).alias("n_upgraded"),
        F.try_divide(exact_sum("from_pd"), F.count("from_pd")).alias("baseline_pd_mean"),
        F.try_divide(exact_sum("to_pd"), F.count("to_pd")).alias("stressed_pd_mean"),
    )
    return loans.crossJoin(borrowers).withColumns(
        {f"{side}_fund_adequacy": adequacy(F.lit(float(balance)), F.col(f"{side}_fund_claim")) for side in SIDES}
    )


def grade_moves(baseline: DataFrame, stressed: DataFrame, risk: DataFrame) -> DataFrame:
    """Per scored borrower: baseline and stressed grade, with its active loans and their EAD.

    Args:
        baseline: baseline scores (uscc, pd, grade, grade_num).
        stressed: stressed scores (uscc, pd, grade, grade_num).
        risk: baseline ``portfolio_risk`` rows (uscc, loan_id, ead).

    Returns:
        uscc, from_grade, to_grade, move (stressed grade_num - baseline grade_num; > 0 is a
        downgrade), from_pd, to_pd, n_loans, ead.
    """
    exposure = risk.groupBy("uscc").agg(F.count("loan_id").alias("n_loans"), exact_sum("ead").alias("ead"))
    return (
        baseline.select(
            "uscc",
            F.col("grade").alias("from_grade"),
            F.col("grade_num").alias("from_num"),
            F.col("pd").alias("from_pd"),
        )
        .join(
            stressed.select(
                "uscc", F.col("grade").alias("to_grade"), F.col("grade_num").alias("to_num"), F.col("pd").alias("to_pd")
            ),
            on="uscc",
            how="inner",
        )
        .join(exposure, on="uscc", how="left")
        .select(
            "uscc",
            "from_grade",
            "to_grade",
            (F.col("to_num") - F.col("from_num")).alias("move"),
            "from_pd",
            "to_pd",
            F.coalesce("n_loans", F.lit(0)).alias("n_loans"),
            F.coalesce("ead", F.lit(0.0)).alias("ead"),
        )
    )


def migration(moves: DataFrame, *, scenario: str, day: dt.date) -> DataFrame:
    """The ``stress_migration`` rows: counts of :func:`grade_moves` by (from_grade, to_grade)."""
    return (
        moves.groupBy("from_grade", "to_grade")
        .agg(F.count("uscc").alias("n_borrowers"), F.sum("n_loans").alias("n_loans"), exact_sum("ead").alias("ead"))
        .select(
            F.lit(scenario).alias("scenario"),
            F.lit(day).alias("snapshot_date"),
            F.lit(snapshot_month(day)).alias("snapshot_month"),
            "*",
        )
        .select(*STRESS_MIGRATION.columns)
    )


def results(
    baseline_risk: DataFrame,
    stressed_risk: DataFrame,
    moves: DataFrame,
    *,
    scenario: Scenario,
    day: dt.date,
    config: PortfolioConfig,
    model: tuple[str, str, int],
) -> DataFrame:
    """The ``stress_results`` row of one scenario and snapshot.

    Args:
        baseline_risk / stressed_risk: ``portfolio_risk`` rows with the baseline and the stressed PD.
        moves: :func:`grade_moves` of the baseline and stressed scores.
        scenario: the scenario (name, description, hash).
        day: the snapshot.
        config: the portfolio configuration (fund balance).
        model: ``(model_name, model_version, features_version)`` used to rescore.
    """
    balance = config.total_balance
    name, version, features_version = model
    return (
        side_by_side(baseline_risk, stressed_risk, moves, balance=balance)
        .withColumns(
            {
                "scenario": F.lit(scenario.name),
                "snapshot_date": F.lit(day),
                "snapshot_month": F.lit(snapshot_month(day)),
                "description": F.lit(scenario.description),
                "scenario_hash": F.lit(scenario.version()),
                "model_name": F.lit(name),
                "model_version": F.lit(version),
                "features_version": F.lit(features_version).cast("long"),
                "fund_balance": F.lit(float(balance)),
            }
        )
        .select(*STRESS_RESULTS.columns)
    )
