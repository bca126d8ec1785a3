"""Utility features: electricity and water against the same month last year, streaks of decline,
zero-consumption months, unpaid bills and arrears.

Reads are summed over the enterprise's meters per type and period (version known
on D), for periods M-24..M-1 (M-1 is read by the 10th of M, delivered the 11th).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from riskpipe.core.calendar import SNAPSHOT, AsOf, known_versions, months_back, safe_ratio, snapshots_frame

LOOKBACK_MONTHS = 24
YEAR = 12
# "down 30% or more against the same month last year" (the early-warning convention)
SHARP_DROP_RATIO = 0.70
OUTPUT = [
    "uscc",
    SNAPSHOT,
    "util_elec_kwh_1m",
    "util_elec_kwh_3m",
    "util_elec_yoy_1m",
    "util_elec_yoy_3m",
    "util_water_yoy_3m",
    "util_elec_decline_streak",
    "util_elec_drop30_streak",
    "util_elec_zero_months_12m",
    "util_elec_reads_12m",
    "util_unpaid_bills_12m",
    "util_arrears_latest",
    "util_bill_amount_3m",
]


def _sum(col: str, first: int, last: int) -> Column:
    return F.sum(F.when(F.col("k").between(first, last), F.col(col)))


def monthly_reads(reads: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Known reads summed per enterprise, snapshot and period offset.

    Returns:
        ``uscc``, ``snapshot_date``, ``k`` (1 = M-1), ``elec``, ``water`` (null when no read of
        that type), ``unpaid`` (bills not paid), ``arrears``, ``bills``, ``elec_ly`` (electricity
        of offset k + 12), ``elec_decline`` (elec < elec_ly), ``streak_ok`` (offsets 1..k all
        present and declining), ``drop_streak_ok`` (offsets 1..k all at most
        :data:`SHARP_DROP_RATIO` of the year before).
    """
    snaps = snapshots_frame(reads.sparkSession, as_of)
    k = months_back(F.col("period"))
    known = known_versions(reads, snaps, extra=k.between(1, LOOKBACK_MONTHS)).withColumn("k", k)
    is_elec, is_water = F.col("utility_type") == "electricity", F.col("utility_type") == "water"
    monthly = known.groupBy("uscc", SNAPSHOT, "k").agg(
        F.sum(F.when(is_elec, F.col("consumption"))).alias("elec"),
        F.sum(F.when(is_water, F.col("consumption"))).alias("water"),
        F.sum(F.when(F.col("paid_flag") == F.lit(False), 1).otherwise(0)).alias("unpaid"),
        F.sum("arrears_amount").alias("arrears"),
        F.sum("bill_amount").alias("bills"),
    )
    by_enterprise = Window.partitionBy("uscc", SNAPSHOT).orderBy("k")
    # offsets are unique per (uscc, snapshot): the k + 12 frame holds at most the year-earlier row
    year_before = by_enterprise.rangeBetween(YEAR, YEAR)
    decline = F.coalesce(F.col("elec") < F.col("elec_ly"), F.lit(False))
    sharp_drop = F.coalesce(
        (F.col("elec_ly") > 0) & (F.col("elec") <= F.col("elec_ly") * SHARP_DROP_RATIO), F.lit(False)
    )
    so_far = by_enterprise.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    declines_so_far = F.sum(F.when(decline, 1).otherwise(0)).over(so_far)
    drops_so_far = F.sum(F.when(sharp_drop, 1).otherwise(0)).over(so_far)
    return (
        monthly.withColumn("elec_ly", F.sum("elec").over(year_before))
        .withColumn("elec_decline", decline)
        .withColumn("streak_ok", decline & (declines_so_far == F.col("k")))
        .withColumn("drop_streak_ok", sharp_drop & (drops_so_far == F.col("k")))
    )


def transform(reads: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Utility features per enterprise and snapshot.

    Args:
        reads: silver ``utility_reads`` (uscc, utility_type, period, consumption, bill_amount,
            paid_flag, arrears_amount, known_from, known_to).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date`` and the ``util_*`` features of the catalogue.
    """
    monthly = monthly_reads(reads, as_of=as_of)
    in_12m = F.col("k").between(1, 12)
    return (
        monthly.groupBy("uscc", SNAPSHOT)
        .agg(
            _sum("elec", 1, 1).alias("util_elec_kwh_1m"),
            _sum("elec", 1, 3).alias("util_elec_kwh_3m"),
            safe_ratio(_sum("elec", 1, 1), _sum("elec", 13, 13)).alias("util_elec_yoy_1m"),
            safe_ratio(_sum("elec", 1, 3), _sum("elec", 13, 15)).alias("util_elec_yoy_3m"),
            safe_ratio(_sum("water", 1, 3), _sum("water", 13, 15)).alias("util_water_yoy_3m"),
            F.coalesce(F.max(F.when(F.col("streak_ok") & in_12m, F.col("k"))), F.lit(0))
            .cast("int")
            .alias("util_elec_decline_streak"),
            F.coalesce(F.max(F.when(F.col("drop_streak_ok") & in_12m, F.col("k"))), F.lit(0))
            .cast("int")
            .alias("util_elec_drop30_streak"),
            F.sum(F.when(in_12m & (F.col("elec") == 0), 1).otherwise(0)).cast("int").alias("util_elec_zero_months_12m"),
            F.sum(F.when(in_12m & F.col("elec").isNotNull(), 1).otherwise(0)).cast("int").alias("util_elec_reads_12m"),
            _sum("unpaid", 1, 12).cast("int").alias("util_unpaid_bills_12m"),
            F.min_by("arrears", "k").alias("util_arrears_latest"),
            _sum("bills", 1, 3).alias("util_bill_amount_3m"),
        )
        .select(*OUTPUT)
    )
