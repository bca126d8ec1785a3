"""Breakdowns, totals, fund adequacy and concentration of the per-loan ``portfolio_risk`` rows.

Every breakdown is a partition of the same loans (a missing attribute becomes its own value,
``unknown``), so each dimension's rows sum to the ``total`` row: EAD, EL, bank EL and fund
EL reconcile across county, industry, grade, product, guarantee type and fund pool.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.risk import lookup
from riskpipe.core.aggregates import exact_sum
from schemas.gold_portfolio import DIMENSIONS, PORTFOLIO_METRICS, PORTFOLIO_SUMMARY, UNKNOWN

ALL = "all"  # value of the total row


def loss_aggregates() -> list[Column]:
    """Aggregates shared by every table: n_loans, n_borrowers, ead, el, bank_el, fund_el, fund_claim,
    pd_weighted (EAD-weighted PD); sums are exact, so a rerun gives bit-identical totals."""
    return [
        F.count("loan_id").alias("n_loans"),
        F.countDistinct("uscc").alias("n_borrowers"),
        exact_sum("ead").alias("ead"),
        exact_sum("el").alias("el"),
        exact_sum("bank_el").alias("bank_el"),
        exact_sum("fund_el").alias("fund_el"),
        exact_sum("fund_claim").alias("fund_claim"),
        F.try_divide(exact_sum(F.col("pd") * F.col("ead")), exact_sum("ead")).alias("pd_weighted"),
    ]


def _value(dimension: str) -> Column:
    if dimension == "total":
        return F.lit(ALL)
    return F.coalesce(F.col(dimension).cast("string"), F.lit(UNKNOWN))


def breakdown(risk: DataFrame, *, config: PortfolioConfig) -> DataFrame:
    """Totals by each dimension of :data:`schemas.gold_portfolio.DIMENSIONS`, in long format.

    Args:
        risk: ``portfolio_risk`` rows (snapshot_date, snapshot_month, uscc, loan_id, county,
            industry, grade, product, guarantee_type, fund_pool, pd, ead, el, bank_el, fund_el,
            fund_claim).
        config: supplies the fund balances of the ``fund_pool`` and ``total`` rows.

    Returns:
        The ``portfolio_summary`` columns: one row per snapshot, dimension and value.
    """
    pairs = F.array(*[F.struct(F.lit(d).alias("dimension"), _value(d).alias("value")) for d in DIMENSIONS])
    per_dimension = Window.partitionBy("snapshot_date", "dimension")
    balance = F.when(F.col("dimension") == "fund_pool", lookup(F.col("value"), config.pool_balances, 0.0)).when(
        F.col("dimension") == "total", F.lit(config.total_balance)
    )
    return (
        risk.select("*", F.explode(pairs).alias("dv"))
        .groupBy(
            "snapshot_date",
            "snapshot_month",
            F.col("dv.dimension").alias("dimension"),
            F.col("dv.value").alias("value"),
        )
        .agg(*loss_aggregates())
        .withColumn("el_rate", F.try_divide(F.col("el"), F.col("ead")))
        .withColumn("ead_share", F.try_divide(F.col("ead"), exact_sum("ead", over=per_dimension)))
        .withColumn("fund_balance", balance)
        .withColumn("fund_adequacy", adequacy(F.col("fund_balance"), F.col("fund_claim")))
        .select(*PORTFOLIO_SUMMARY.columns)
    )


def adequacy(balance: Column, claim: Column) -> Column:
    """``balance / claim``: how many times the fund's balance covers its (uncapped) expected share;
    null when there is no claim."""
    return F.when(claim > 0, balance / claim)


def _hhi_by(summary: DataFrame, dimension: str) -> Column:
    share = F.when(F.col("dimension") == dimension, F.col("ead_share"))
    return exact_sum(share * share).alias(f"hhi_{dimension}")


def borrower_concentration(risk: DataFrame, *, n: int) -> DataFrame:
    """Per snapshot: Herfindahl index of EAD by borrower (sum of squared EAD shares) and the EAD
    share of the ``n`` largest borrowers, ties by USCC (snapshot_date, hhi_borrower, top_n_share)."""
    snapshot = Window.partitionBy("snapshot_date")
    by_borrower = (
        risk.groupBy("snapshot_date", "uscc")
        .agg(exact_sum("ead").alias("ead"))
        .withColumn("share", F.try_divide(F.col("ead"), exact_sum("ead", over=snapshot)))
        .withColumn("rank", F.row_number().over(snapshot.orderBy(F.col("ead").desc(), "uscc")))
    )
    return by_borrower.groupBy("snapshot_date").agg(
        exact_sum(F.col("share") * F.col("share")).alias("hhi_borrower"),
        exact_sum(F.when(F.col("rank") <= n, F.col("share")).otherwise(0.0)).alias("top_n_share"),
    )


def metrics(risk: DataFrame, summary: DataFrame, *, config: PortfolioConfig) -> DataFrame:
    """One row per snapshot: totals, fund adequacy and shortfall, counts and concentration.

    Args:
        risk: ``portfolio_risk`` rows (snapshot_date, uscc, ead, pd_source, fund_capped).
        summary: :func:`breakdown` of ``risk`` (its ``total`` rows give the totals, its county and
            industry rows the concentration by county and industry).
        config: fund balance, top-n size and the configuration hash.

    Returns:
        The ``portfolio_metrics`` columns.
    """
    totals = summary.groupBy("snapshot_date").agg(
        *[
            F.max(F.when(F.col("dimension") == "total", F.col(c))).alias(c)
            for c in (
                "snapshot_month",
                "n_loans",
                "n_borrowers",
                "ead",
                "el",
                "bank_el",
                "fund_el",
                "fund_claim",
                "pd_weighted",
            )
        ],
        _hhi_by(summary, "county"),
        _hhi_by(summary, "industry"),
    )
    counts = risk.groupBy("snapshot_date").agg(
        F.count_if(F.col("fund_capped")).alias("n_fund_capped"),
        F.count_if(F.col("pd_source") == "in_default").alias("n_in_default"),
        F.count_if(F.col("pd_source") == "unscored").alias("n_unscored"),
    )
    balance = F.lit(config.total_balance)
    return (
        totals.join(counts, on="snapshot_date", how="inner")
        .join(borrower_concentration(risk, n=config.top_n_borrowers), on="snapshot_date", how="inner")
        .withColumn("fund_balance", balance)
        .withColumn("fund_adequacy", adequacy(balance, F.col("fund_claim")))
        .withColumn("fund_shortfall", F.greatest(F.col("fund_claim") - F.col("fund_el"), F.lit(0.0)))
        .withColumn("top_n", F.lit(config.top_n_borrowers))
        .withColumn("config_hash", F.lit(config.version()))
        .select(*PORTFOLIO_METRICS.columns)
    )
