"""Cross-source consistency: declared tax sales against bank inflows and electricity use.

Enterprises that inflate or hide sales show it as a gap between what they declare
to the tax bureau, what flows through their accounts and what they consume.
These features are ratios of already point-in-time features, so they inherit
their availability rules.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import AsOf, safe_ratio

SALES_PER_UNIT = 10_000.0  # electricity is expressed per 10,000 CNY of sales
OUTPUT = [
    "cons_sales_to_inflow_12m",
    "cons_sales_to_inflow_3m",
    "cons_elec_kwh_per_10k_sales_3m",
    "cons_elec_vs_sales_growth_gap_3m",
]


def transform(features: DataFrame, *, as_of: AsOf | None = None) -> DataFrame:
    """Consistency features from the family features of the same snapshots.

    Args:
        features: one row per (uscc, snapshot_date) with ``tax_sales_3m``, ``tax_sales_12m``,
            ``tax_sales_growth_3m``, ``txn_inflow_3m``, ``txn_inflow_12m``, ``util_elec_kwh_3m``,
            ``util_elec_yoy_3m``.
        as_of: unused (the input is already per snapshot); kept for the family signature.

    Returns:
        The input columns followed by the ``cons_*`` features of the catalogue.
    """
    sales_3m, sales_12m = F.col("tax_sales_3m"), F.col("tax_sales_12m")
    return features.select(
        *[F.col(c) for c in features.columns if c not in OUTPUT],
        safe_ratio(sales_12m, F.col("txn_inflow_12m")).alias("cons_sales_to_inflow_12m"),
        safe_ratio(sales_3m, F.col("txn_inflow_3m")).alias("cons_sales_to_inflow_3m"),
        safe_ratio(F.col("util_elec_kwh_3m"), sales_3m / SALES_PER_UNIT).alias("cons_elec_kwh_per_10k_sales_3m"),
        (F.col("util_elec_yoy_3m") - (F.col("tax_sales_growth_3m") + 1)).alias("cons_elec_vs_sales_growth_gap_3m"),
    )
