"""A stressed portfolio side by side with the baseline: totals, fund adequacy and grade migration (pure)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features.pit import snapshot_month
from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.summary import adequacy
from jobs.stress.scenarios import Scenario
from schemas.gold_portfolio import STRESS_MIGRATION, STRESS_RESULTS


def _total(name: str) -> Column:
    return F.coalesce(F.sum(name), F.lit(0.0)).alias(name)


def side(risk: DataFrame, scores: DataFrame, *, prefix: str, balance: float) -> DataFrame:
    """One row of totals of one side (baseline or stressed), columns named ``{prefix}_...``.

    Args:
        risk: ``portfolio_risk`` rows of the side (pd, ead, el, bank_el, fund_el, fund_claim).
        scores: the side's scores (uscc, pd).
        prefix: ``baseline`` or ``stressed``.
        balance: the fund's total balance.

    Returns:
        ``{prefix}_pd_mean`` (mean PD of the scored borrowers), ``{prefix}_pd_weighted``,
        ``{prefix}_el``, ``_bank_el``, ``_fund_el``, ``_fund_claim`` and ``_fund_adequacy``.
    """
    totals = risk.agg(F.try_divide(F.sum(F.col("pd") * F.col("ead")), F.sum("ead")).alias("pd_weighted"),
                      _total("el"), _total("bank_el"), _total("fund_el"), _total("fund_claim"))
    mean_pd = scores.agg(F.avg("pd").alias("pd_mean"))
    out = totals.crossJoin(mean_pd).withColumn("fund_adequacy", adequacy(F.lit(float(balance)), F.col("fund_claim")))
    return out.select(*[F.col(c).alias(f"{prefix}_{c}") for c in
                        ("pd_mean", "pd_weighted", "el", "bank_el", "fund_el", "fund_claim", "fund_adequacy")])


def grade_moves(baseline: DataFrame, stressed: DataFrame, risk: DataFrame) -> DataFrame:
    """Per scored borrower: baseline and stressed grade, with its active loans and their EAD.

    Args:
        baseline: baseline scores (uscc, grade, grade_num).
        stressed: stressed scores (uscc, grade, grade_num).
        risk: baseline ``portfolio_risk`` rows (uscc, loan_id, ead).

    Returns:
        uscc, from_grade, to_grade, move (stressed grade_num - baseline grade_num; > 0 is a
        downgrade), n_loans, ead.
    """
    exposure = risk.groupBy("uscc").agg(F.count("loan_id").alias("n_loans"), F.sum("ead").alias("ead"))
    return (baseline.select("uscc", F.col("grade").alias("from_grade"), F.col("grade_num").alias("from_num"))
            .join(stressed.select("uscc", F.col("grade").alias("to_grade"), F.col("grade_num").alias("to_num")),
                  on="uscc", how="inner")
            .join(exposure, on="uscc", how="left")
            .select("uscc", "from_grade", "to_grade", (F.col("to_num") - F.col("from_num")).alias("move"),
                    F.coalesce("n_loans", F.lit(0)).alias("n_loans"), F.coalesce("ead", F.lit(0.0)).alias("ead")))


def migration(moves: DataFrame, *, scenario: str, day: dt.date) -> DataFrame:
    """The ``stress_migration`` rows: counts of :func:`grade_moves` by (from_grade, to_grade)."""
    return (moves.groupBy("from_grade", "to_grade")
            .agg(F.count("uscc").alias("n_borrowers"), F.sum("n_loans").alias("n_loans"), F.sum("ead").alias("ead"))
            .select(F.lit(scenario).alias("scenario"), F.lit(day).alias("snapshot_date"),
                    F.lit(snapshot_month(day)).alias("snapshot_month"), "*")
            .select(*STRESS_MIGRATION.columns))


def results(baseline_risk: DataFrame, baseline_scores: DataFrame, stressed_risk: DataFrame,
            stressed_scores: DataFrame, moves: DataFrame, *, scenario: Scenario, day: dt.date,
            config: PortfolioConfig, model: tuple[str, str, int]) -> DataFrame:
    """The ``stress_results`` row of one scenario and snapshot.

    Args:
        baseline_risk / stressed_risk: ``portfolio_risk`` rows with the baseline and the stressed PD.
        baseline_scores / stressed_scores: the scores behind them (uscc, pd).
        moves: :func:`grade_moves`.
        scenario: the scenario (name, description, hash).
        day: the snapshot.
        config: the portfolio configuration (fund balance).
        model: ``(model_name, model_version, features_version)`` used to rescore.
    """
    balance = config.total_balance
    exposure = baseline_risk.agg(F.count("loan_id").alias("n_loans"), _total("ead"))
    counts = moves.agg(F.count("uscc").alias("n_scored"),
                       F.count_if(F.col("move") > 0).alias("n_downgraded"),
                       F.count_if(F.col("move") < 0).alias("n_upgraded"))
    name, version, features_version = model
    return (exposure.crossJoin(counts)
            .crossJoin(side(baseline_risk, baseline_scores, prefix="baseline", balance=balance))
            .crossJoin(side(stressed_risk, stressed_scores, prefix="stressed", balance=balance))
            .withColumns({"scenario": F.lit(scenario.name), "snapshot_date": F.lit(day),
                          "snapshot_month": F.lit(snapshot_month(day)), "description": F.lit(scenario.description),
                          "scenario_hash": F.lit(scenario.version()), "model_name": F.lit(name),
                          "model_version": F.lit(version), "features_version": F.lit(features_version).cast("long"),
                          "fund_balance": F.lit(float(balance))})
            .select(*STRESS_RESULTS.columns))
