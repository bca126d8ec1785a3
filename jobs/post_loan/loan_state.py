"""The state of every loan as known on a month-end D: contract terms and the latest balance.

Shared by the early warnings, the loan classification and the portfolio risk: it is
point in time like the features (contract version known on D, balances T+1, so the
latest balance known on D has a business date before D).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import AsOf, known_versions, snapshots_frame

ACTIVE_STATUSES = ("active", "restructured")
# a loan whose latest balance is older than this is not treated as active (the ledger stopped)
STALE_BALANCE_DAYS = 45

OUTPUT = [
    "uscc",
    "loan_id",
    "snapshot_date",
    "snapshot_month",
    "product",
    "principal",
    "credit_limit",
    "start_date",
    "maturity_date",
    "guarantee_type",
    "collateral_type",
    "fund_coverage_share",
    "gov_recommended",
    "balance_date",
    "outstanding_principal",
    "undrawn_amount",
    "overdue_principal",
    "days_past_due",
    "loan_status",
    "is_active",
]


def _is_active(status: Column, balance_date: Column) -> Column:
    recent = F.datediff(F.col("snapshot_date"), balance_date) <= STALE_BALANCE_DAYS
    return F.coalesce(status.isin(*ACTIVE_STATUSES) & recent, F.lit(False))


def loan_state(loans: DataFrame, balances: DataFrame, *, as_of: AsOf) -> DataFrame:
    """One row per loan and snapshot: loans started on or before D with their contract and latest balance.

    Args:
        loans: silver ``loans`` history (loan_id, uscc, product, principal, credit_limit, start_date,
            maturity_date, guarantee_type, collateral_type, fund_coverage_share, gov_recommended,
            status, known_from, known_to).
        balances: silver ``loan_balances`` (loan_id, as_of_date, outstanding_principal,
            undrawn_amount, overdue_principal, days_past_due, status).
        as_of: the month-end(s) D.

    Returns:
        :data:`OUTPUT`: ``balance_date`` is the business date of the latest balance known on D
        (null when none in the :data:`STALE_BALANCE_DAYS` before D), ``days_past_due`` is 0
        without a balance, ``loan_status`` is the balance's status (the contract's when no
        balance is known), ``is_active`` means active or restructured on such a recent balance.
    """
    snaps = F.broadcast(snapshots_frame(loans.sparkSession, as_of).select("snapshot_date", "snapshot_month"))
    day = F.col("snapshot_date")
    contracts = known_versions(
        loans, snapshots_frame(loans.sparkSession, as_of), extra=F.col("start_date") <= day
    ).select(
        "snapshot_date",
        "loan_id",
        "uscc",
        "product",
        "principal",
        "credit_limit",
        "start_date",
        "maturity_date",
        "guarantee_type",
        "collateral_type",
        "fund_coverage_share",
        "gov_recommended",
        F.col("status").alias("contract_status"),
    )
    last = F.struct("outstanding_principal", "undrawn_amount", "overdue_principal", "days_past_due", "status")
    # T+1: the balance of business date d is available on d + 1, so on D the latest is before D
    recent = (F.col("as_of_date") < day) & (F.col("as_of_date") >= F.date_sub(day, STALE_BALANCE_DAYS))
    latest = (
        balances.join(snaps, on=recent, how="inner")
        .groupBy("loan_id", "snapshot_date")
        .agg(F.max("as_of_date").alias("balance_date"), F.max_by(last, "as_of_date").alias("b"))
    )
    status = F.coalesce(F.col("b.status"), F.col("contract_status"))
    return (
        contracts.join(latest, on=["loan_id", "snapshot_date"], how="left")
        .join(snaps, on="snapshot_date")
        .select(
            "uscc",
            "loan_id",
            "snapshot_date",
            "snapshot_month",
            "product",
            "principal",
            "credit_limit",
            "start_date",
            "maturity_date",
            "guarantee_type",
            "collateral_type",
            "fund_coverage_share",
            "gov_recommended",
            "balance_date",
            F.col("b.outstanding_principal").alias("outstanding_principal"),
            F.col("b.undrawn_amount").alias("undrawn_amount"),
            F.col("b.overdue_principal").alias("overdue_principal"),
            F.coalesce(F.col("b.days_past_due"), F.lit(0)).cast("int").alias("days_past_due"),
            status.alias("loan_status"),
            _is_active(status, F.col("balance_date")).alias("is_active"),
        )
        .select(*OUTPUT)
    )
