"""Transaction features: inflows and outflows over 1/3/12 months, trends, net flow,
counterparty concentration, cash withdrawals, balance volatility and inactivity.

One pass over the raw rows builds monthly aggregates per enterprise and
*availability month* (the month of txn_date + 1 day, T+1); every snapshot then
sums the buckets of its last n months. Counterparty shares need one more bucket
level (enterprise, month, counterparty). The monthly build keeps both bucket levels
in Delta (``jobs/features/txn_months.py``), so one new month aggregates one month of
raw rows instead of twelve.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import (
    MONTH_START,
    SNAPSHOT,
    AsOf,
    available_month,
    in_month_window,
    safe_ratio,
    snapshots_frame,
)

LOOKBACK_MONTHS = 12
CASH_CHANNEL = "cash"
INFLOW, OUTFLOW = "C", "D"
OUTPUT = [
    "uscc",
    SNAPSHOT,
    "txn_inflow_1m",
    "txn_inflow_3m",
    "txn_inflow_12m",
    "txn_outflow_1m",
    "txn_outflow_3m",
    "txn_outflow_12m",
    "txn_inflow_trend_3m",
    "txn_outflow_trend_3m",
    "txn_net_flow_3m",
    "txn_net_flow_ratio_12m",
    "txn_inflow_hhi_3m",
    "txn_cash_withdrawal_share_3m",
    "txn_balance_cv_3m",
    "txn_inactive_days_3m",
    "txn_days_since_last",
    "txn_count_3m",
]


def _amount(direction: str, extra: Column | None = None) -> Column:
    condition = F.col("direction") == direction
    return F.when(condition if extra is None else condition & extra, F.col("amount"))


def monthly_buckets(txns: DataFrame) -> DataFrame:
    """Per enterprise and availability month: flows, counts and end-of-day balance moments.

    Returns:
        ``uscc``, ``avail_month``, ``inflow``, ``outflow``, ``cash_out``, ``n_txn``, ``active_days``,
        ``last_date``, ``bal_days``, ``bal_sum``, ``bal_sq``.
    """
    account_days = (
        txns.withColumn("avail_month", available_month(F.col("txn_date")))
        .groupBy("uscc", "avail_month", "account_id", "txn_date")
        .agg(
            F.sum(_amount(INFLOW)).alias("inflow"),
            F.sum(_amount(OUTFLOW)).alias("outflow"),
            F.sum(_amount(OUTFLOW, F.col("channel") == CASH_CHANNEL)).alias("cash_out"),
            F.count(F.lit(1)).alias("n_txn"),
            # the day's closing balance: the last transaction's (ties broken by id)
            F.max_by("balance_after", F.struct("txn_ts", "txn_id")).alias("eod_balance"),
        )
    )
    days = account_days.groupBy("uscc", "avail_month", "txn_date").agg(
        F.sum("inflow").alias("inflow"),
        F.sum("outflow").alias("outflow"),
        F.sum("cash_out").alias("cash_out"),
        F.sum("n_txn").alias("n_txn"),
        F.sum("eod_balance").alias("eod_balance"),
    )
    return days.groupBy("uscc", "avail_month").agg(
        F.sum("inflow").alias("inflow"),
        F.sum("outflow").alias("outflow"),
        F.sum("cash_out").alias("cash_out"),
        F.sum("n_txn").alias("n_txn"),
        F.count(F.lit(1)).alias("active_days"),
        F.max("txn_date").alias("last_date"),
        F.count("eod_balance").alias("bal_days"),
        F.sum("eod_balance").alias("bal_sum"),
        F.sum(F.col("eod_balance") * F.col("eod_balance")).alias("bal_sq"),
    )


def counterparty_buckets(txns: DataFrame) -> DataFrame:
    """Inflows per enterprise, availability month and counterparty.

    Returns:
        ``uscc``, ``avail_month``, ``counterparty``, ``amount``.
    """
    counterparty = F.coalesce(F.col("counterparty_account"), F.col("counterparty_name"), F.lit("?"))
    return (
        txns.where(F.col("direction") == INFLOW)
        .groupBy("uscc", available_month(F.col("txn_date")).alias("avail_month"), counterparty.alias("counterparty"))
        .agg(F.sum("amount").alias("amount"))
    )


def inflow_hhi(buckets: DataFrame, snapshots: DataFrame, *, months: int = 3) -> DataFrame:
    """Herfindahl index of inflows by counterparty over the last ``months`` months.

    Args:
        buckets: ``counterparty_buckets`` output.

    Returns:
        ``uscc``, ``snapshot_date``, ``txn_inflow_hhi_3m``.
    """
    per_party = (
        in_month_window(snapshots, buckets, month_col="avail_month", months=months)
        .groupBy("uscc", SNAPSHOT, "counterparty")
        .agg(F.sum("amount").alias("amount"))
    )
    totals = per_party.groupBy("uscc", SNAPSHOT).agg(
        F.sum("amount").alias("total"), F.sum(F.col("amount") * F.col("amount")).alias("sq")
    )
    return totals.select(
        "uscc", SNAPSHOT, safe_ratio(F.col("sq"), F.col("total") * F.col("total")).alias("txn_inflow_hhi_3m")
    )


def _window_sum(col: str, months: int) -> Column:
    return F.coalesce(F.sum(F.when(F.col("m_back") < months, F.col(col))), F.lit(0))


def transform(txns: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Transaction features per enterprise and snapshot.

    Args:
        txns: silver ``transactions`` (uscc, account_id, txn_id, txn_ts, txn_date, amount, direction,
            counterparty_account, counterparty_name, channel, balance_after).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date`` and the ``txn_*`` features of the catalogue.
    """
    return from_buckets(monthly_buckets(txns), counterparty_buckets(txns), as_of=as_of)


def from_buckets(monthly: DataFrame, counterparties: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Transaction features from the monthly buckets (computed here or kept in ``transaction_months``).

    Args:
        monthly: ``monthly_buckets`` rows of (at least) the snapshots' 12-month windows.
        counterparties: ``counterparty_buckets`` rows of (at least) their 3-month windows.
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date`` and the ``txn_*`` features of the catalogue.
    """
    snaps = snapshots_frame(monthly.sparkSession, as_of)
    windowed = in_month_window(snaps, monthly, month_col="avail_month", months=LOOKBACK_MONTHS)
    in_3m = F.col("m_back") < 3
    n3, s3, q3 = (F.sum(F.when(in_3m, F.col(c))) for c in ("bal_days", "bal_sum", "bal_sq"))
    variance = (q3 - s3 * s3 / n3) / (n3 - 1)
    # the 3-month window: business dates from the last day of M-3 to D-1
    window_days = F.datediff(F.col(SNAPSHOT), F.add_months(F.col(MONTH_START), -2)) + 1
    flows = windowed.groupBy("uscc", SNAPSHOT).agg(
        *[_window_sum(flow, m).alias(f"txn_{flow}_{m}m") for flow in ("inflow", "outflow") for m in (1, 3, 12)],
        safe_ratio(_window_sum("cash_out", 3), _window_sum("outflow", 3)).alias("txn_cash_withdrawal_share_3m"),
        safe_ratio(F.sqrt(F.greatest(variance, F.lit(0.0))), s3 / n3).alias("txn_balance_cv_3m"),
        (F.first(window_days) - _window_sum("active_days", 3)).cast("int").alias("txn_inactive_days_3m"),
        F.datediff(F.col(SNAPSHOT), F.max("last_date")).alias("txn_days_since_last"),
        _window_sum("n_txn", 3).cast("int").alias("txn_count_3m"),
    )
    total_12m = F.col("txn_inflow_12m") + F.col("txn_outflow_12m")
    features = (
        flows.withColumn("txn_inflow_trend_3m", safe_ratio(F.col("txn_inflow_3m"), F.col("txn_inflow_12m") / 4))
        .withColumn("txn_outflow_trend_3m", safe_ratio(F.col("txn_outflow_3m"), F.col("txn_outflow_12m") / 4))
        .withColumn("txn_net_flow_3m", F.col("txn_inflow_3m") - F.col("txn_outflow_3m"))
        .withColumn("txn_net_flow_ratio_12m", safe_ratio(F.col("txn_inflow_12m") - F.col("txn_outflow_12m"), total_12m))
    )
    return features.join(inflow_hhi(counterparties, snaps), on=["uscc", SNAPSHOT], how="left").select(*OUTPUT)
