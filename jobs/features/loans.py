"""Loan features: exposure, utilisation, days past due, number of loans and products, time on
book, government recommendation and risk-fund coverage.

Balances are daily and available T+1: they are bucketed per loan and availability
month once (max DPD, last balance of the month), then each snapshot takes its last
3/12 months. Contract attributes come from the ``loans`` version known on D.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import (
    SNAPSHOT,
    AsOf,
    available_month,
    in_month_window,
    known_versions,
    safe_ratio,
    snapshots_frame,
)

LOOKBACK_MONTHS = 12
ACTIVE_STATUSES = ("active", "restructured")
BALANCE_OUTPUT = [
    "uscc",
    SNAPSHOT,
    "loan_exposure",
    "loan_overdue_principal",
    "loan_utilisation",
    "loan_max_dpd_3m",
    "loan_max_dpd_12m",
    "loan_n_active",
]
CONTRACT_OUTPUT = [
    "uscc",
    SNAPSHOT,
    "loan_n_loans",
    "loan_n_products",
    "loan_months_on_book",
    "loan_gov_recommended",
    "loan_fund_coverage_share",
    "loan_restructured",
    "loan_days_to_maturity",
]


def _is_active(status: Column) -> Column:
    return F.coalesce(status.isin(*ACTIVE_STATUSES), F.lit(False))


def balance_features(balances: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Balance-based loan features per enterprise and snapshot.

    Args:
        balances: silver ``loan_balances`` (loan_id, uscc, as_of_date, outstanding_principal,
            undrawn_amount, overdue_principal, days_past_due, status).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date``, ``loan_exposure``, ``loan_overdue_principal``,
        ``loan_utilisation``, ``loan_max_dpd_3m``, ``loan_max_dpd_12m``, ``loan_n_active``.
    """
    snaps = snapshots_frame(balances.sparkSession, as_of)
    last = F.struct("outstanding_principal", "undrawn_amount", "overdue_principal", "status")
    monthly = (
        balances.withColumn("avail_month", available_month(F.col("as_of_date")))
        .groupBy("uscc", "loan_id", "avail_month")
        .agg(
            F.max("days_past_due").alias("max_dpd"),
            F.max("as_of_date").alias("last_date"),
            F.max_by(last, "as_of_date").alias("last"),
        )
    )
    windowed = in_month_window(snaps, monthly, month_col="avail_month", months=LOOKBACK_MONTHS)
    per_loan = windowed.groupBy("uscc", "loan_id", SNAPSHOT).agg(
        F.max(F.when(F.col("m_back") < 3, F.col("max_dpd"))).alias("max_dpd_3m"),
        F.max("max_dpd").alias("max_dpd_12m"),
        F.max_by("last", "last_date").alias("last"),
    )
    active = _is_active(F.col("last.status"))
    exposure = F.sum(F.when(active, F.col("last.outstanding_principal")))
    committed = F.sum(
        F.when(
            active,
            F.coalesce(F.col("last.outstanding_principal"), F.lit(0.0))
            + F.coalesce(F.col("last.undrawn_amount"), F.lit(0.0)),
        )
    )
    return (
        per_loan.groupBy("uscc", SNAPSHOT)
        .agg(
            exposure.alias("loan_exposure"),
            F.sum(F.when(active, F.col("last.overdue_principal"))).alias("loan_overdue_principal"),
            safe_ratio(exposure, committed).alias("loan_utilisation"),
            F.max("max_dpd_3m").cast("int").alias("loan_max_dpd_3m"),
            F.max("max_dpd_12m").cast("int").alias("loan_max_dpd_12m"),
            F.sum(F.when(active, 1).otherwise(0)).cast("int").alias("loan_n_active"),
        )
        .select(*BALANCE_OUTPUT)
    )


def contract_features(loans: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Contract-based loan features per enterprise and snapshot (``loans`` version known on D).

    Returns:
        ``uscc``, ``snapshot_date``, ``loan_n_loans``, ``loan_n_products``, ``loan_months_on_book``,
        ``loan_gov_recommended``, ``loan_fund_coverage_share``, ``loan_restructured``,
        ``loan_days_to_maturity``.
    """
    snaps = snapshots_frame(loans.sparkSession, as_of)
    known = known_versions(loans, snaps, extra=F.col("start_date") <= snaps[SNAPSHOT])
    active = _is_active(F.col("status"))
    day = F.col(SNAPSHOT)
    weighted = F.sum(F.when(active, F.col("fund_coverage_share") * F.col("principal")))
    return (
        known.groupBy("uscc", SNAPSHOT)
        .agg(
            F.count(F.lit(1)).cast("int").alias("loan_n_loans"),
            F.countDistinct(F.when(active, F.col("product"))).cast("int").alias("loan_n_products"),
            F.floor(F.months_between(day, F.min("start_date"))).cast("int").alias("loan_months_on_book"),
            F.coalesce(F.max("gov_recommended"), F.lit(False)).alias("loan_gov_recommended"),
            safe_ratio(
                weighted, F.sum(F.when(active & F.col("fund_coverage_share").isNotNull(), F.col("principal")))
            ).alias("loan_fund_coverage_share"),
            F.coalesce(F.max(F.col("status") == "restructured"), F.lit(False)).alias("loan_restructured"),
            F.min(F.when(active, F.datediff(F.col("maturity_date"), day))).cast("int").alias("loan_days_to_maturity"),
        )
        .select(*CONTRACT_OUTPUT)
    )


def transform(balances: DataFrame, *, loans: DataFrame, as_of: AsOf) -> DataFrame:
    """All loan features: balance features full-outer-joined with contract features.

    Returns:
        ``uscc``, ``snapshot_date`` and every ``loans`` feature of the catalogue.
    """
    from schemas.feature_catalogue import names

    joined = balance_features(balances, as_of=as_of).join(
        contract_features(loans, as_of=as_of), on=["uscc", SNAPSHOT], how="full"
    )
    return joined.select("uscc", SNAPSHOT, *names("loans"))
