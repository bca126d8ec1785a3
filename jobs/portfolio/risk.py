"""Per-loan expected loss and its split between the bank and the risk compensation fund.

``EL = PD x LGD x EAD`` per active loan; the fund reimburses ``fund_coverage_share x loss``
until its balance is used up. Expected losses draw on the balance in a deterministic *loss
order* (configured: largest expected loss first by default, ties by loan id), so the loans
late in the order are the ones whose claim is cut when the fund runs out. The fund's part
after the cap is ``fund_el``; the bank bears the rest, ``bank_el = el - fund_el``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.features.default_definition import in_default
from jobs.portfolio.config import SHARED_POOL, PortfolioConfig
from schemas.gold_portfolio import PORTFOLIO_RISK, UNKNOWN


def lookup(column: Column, mapping: Mapping[str, float], default: float) -> Column:
    """``mapping[column]`` as a double, ``default`` when the value is missing or not in ``mapping``."""
    out = F.lit(float(default))
    for key, value in mapping.items():
        out = F.when(column == F.lit(key), F.lit(float(value))).otherwise(out)
    return out


def lgd_columns(config: PortfolioConfig) -> tuple[Column, Column]:
    """``(lgd, lgd_rule)``: the first configured rule whose values all equal the loan's wins."""
    lgd, label = F.lit(config.lgd_default), F.lit("default")
    for rule in reversed(config.lgd_rules):  # built from the last rule up, so the first rule is outermost
        matches = F.lit(True)
        for key, value in rule.match.items():
            matches = matches & F.coalesce(F.col(key) == F.lit(value), F.lit(False))
        lgd = F.when(matches, F.lit(rule.lgd)).otherwise(lgd)
        label = F.when(matches, F.lit(rule.label)).otherwise(label)
    return lgd, label


def _pd_columns(config: PortfolioConfig) -> tuple[Column, Column]:
    """``(pd_source, pd)``: PD 1 for a loan in default by the one definition, else its borrower's score."""
    defaulted = in_default(F.col("days_past_due"), F.col("loan_status"), config.default_definition)
    has_score = F.col("score_pd").isNotNull()
    source = F.when(defaulted, "in_default").when(has_score, "model").otherwise("unscored")
    pd_ = F.when(defaulted, 1.0).when(has_score, F.col("score_pd")).otherwise(F.lit(config.unscored_pd))
    return source, pd_.cast("double")


def exposures(loans: DataFrame, scores: DataFrame, enterprises: DataFrame, *, config: PortfolioConfig) -> DataFrame:
    """PD, LGD, EAD and EL of every active loan, before the fund.

    A loan in default on D (:func:`jobs.features.default_definition.in_default` of its days past due and
    status) has PD 1 (``pd_source = in_default``).

    Args:
        loans: :func:`jobs.post_loan.loan_state.loan_state` of D (uscc, loan_id, snapshot_date,
            snapshot_month, product, guarantee_type, collateral_type, fund_coverage_share,
            outstanding_principal, undrawn_amount, days_past_due, loan_status, is_active).
        scores: ``risk_scores`` of D (uscc, pd, grade, model_version).
        enterprises: one row per borrower on D (uscc, county, industry), e.g. ``enterprise_features``.
        config: the portfolio configuration.

    Returns:
        One row per active loan: the loan columns, county, industry, grade, pd_source, pd,
        model_version, ccf, ead, lgd, lgd_rule, el, fund_coverage_share (0 when null) and fund_pool.
    """
    is_active = F.coalesce(F.col("is_active"), F.lit(False))
    score = scores.select("uscc", F.col("pd").alias("score_pd"), "grade", "model_version")
    places = enterprises.select("uscc", "county", "industry").dropDuplicates(["uscc"])
    pd_source, pd_ = _pd_columns(config)
    lgd, lgd_rule = lgd_columns(config)
    ccf = lookup(F.col("product"), config.ccf_by_product, config.ccf_default)
    pools = list(config.fund_balance_by_product)
    own_pool = F.col("product").isin(*pools) if pools else F.lit(False)
    return (
        loans.where(is_active)
        .join(score, on="uscc", how="left")
        .join(places, on="uscc", how="left")
        .select(
            "uscc",
            "loan_id",
            "snapshot_date",
            "snapshot_month",
            "product",
            F.coalesce("county", F.lit(UNKNOWN)).alias("county"),
            F.coalesce("industry", F.lit(UNKNOWN)).alias("industry"),
            "guarantee_type",
            "collateral_type",
            "days_past_due",
            "grade",
            pd_source.alias("pd_source"),
            pd_.alias("pd"),
            "model_version",
            F.coalesce("outstanding_principal", F.lit(0.0)).alias("outstanding_principal"),
            F.coalesce("undrawn_amount", F.lit(0.0)).alias("undrawn_amount"),
            ccf.alias("ccf"),
            lgd.alias("lgd"),
            lgd_rule.alias("lgd_rule"),
            F.coalesce("fund_coverage_share", F.lit(0.0)).cast("double").alias("fund_coverage_share"),
            F.when(own_pool, F.col("product")).otherwise(F.lit(SHARED_POOL)).alias("fund_pool"),
        )
        .withColumn("ead", F.col("outstanding_principal") + F.col("undrawn_amount") * F.col("ccf"))
        .withColumn("el", F.col("pd") * F.col("lgd") * F.col("ead"))
    )


def _loss_order(config: PortfolioConfig) -> list[Column]:
    first = {"el_desc": [F.col("el").desc()], "pd_desc": [F.col("pd").desc()], "loan_id": []}[config.loss_order]
    return first + [F.col("loan_id").asc()]


def allocate_fund(exposure: DataFrame, *, config: PortfolioConfig) -> DataFrame:
    """Split each loan's expected loss between the fund and the bank, capped by the pool balance.

    Within each fund pool, loans draw in the configured loss order; a loan gets
    ``min(claim, balance - claims drawn before it)``, never below 0, so the pool pays out at
    most its balance and the loans after the balance is used up get nothing.

    Args:
        exposure: :func:`exposures` output (loan_id, snapshot_date, fund_pool, pd, el,
            fund_coverage_share).

    Returns:
        ``exposure`` plus loss_rank, fund_claim, fund_el, bank_el and fund_capped, selected as
        the ``portfolio_risk`` columns.
    """
    pool = Window.partitionBy("snapshot_date", "fund_pool").orderBy(*_loss_order(config))
    drawn_before = F.coalesce(F.sum("fund_claim").over(pool.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0.0))
    left = lookup(F.col("fund_pool"), config.pool_balances, 0.0) - drawn_before
    fund_el = F.greatest(F.lit(0.0), F.least(F.col("fund_claim"), left))
    return (
        exposure.withColumn("fund_claim", F.col("fund_coverage_share") * F.col("el"))
        .withColumn("loss_rank", F.row_number().over(pool))
        .withColumn("fund_el", fund_el)
        .withColumn("bank_el", F.col("el") - F.col("fund_el"))
        .withColumn("fund_capped", F.col("fund_el") < F.col("fund_claim"))
        .select(*PORTFOLIO_RISK.columns)
    )


def portfolio_risk(
    loans: DataFrame, scores: DataFrame, enterprises: DataFrame, *, config: PortfolioConfig
) -> DataFrame:
    """The ``portfolio_risk`` rows of a snapshot: :func:`exposures` then :func:`allocate_fund`.

    Args: as :func:`exposures`.

    Returns:
        The ``portfolio_risk`` columns, one row per active loan.
    """
    return allocate_fund(exposures(loans, scores, enterprises, config=config), config=config)
