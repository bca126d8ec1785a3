"""Default labels: did the enterprise default within 12 months after the snapshot?

Default is :func:`jobs.features.default_definition.in_default` on a balance row (its days past due
and status): the one definition the loan classification and the portfolio also use. The
default date of a loan is the first business date its balance is in default. Labels look into
the future on purpose; they are never inputs to features. ``censored`` marks
snapshots with fewer than 12 months of balances observed after D, where a later
default may still appear.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features.default_definition import DefaultDefinition, in_default
from riskpipe.core.calendar import SNAPSHOT, AsOf

HORIZON_MONTHS = 12
OUTPUT = [
    SNAPSHOT,
    "snapshot_month",
    "uscc",
    "default_12m",
    "default_date",
    "in_default_at_snapshot",
    "observed_months",
    "censored",
    "observed_until",
]


def is_default_row(definition: DefaultDefinition) -> Column:
    """Condition on a silver ``loan_balances`` row (days_past_due, status): the loan is in default on its date."""
    return in_default(F.col("days_past_due"), F.col("status"), definition)


def loan_default_dates(balances: DataFrame, *, definition: DefaultDefinition) -> DataFrame:
    """First default date of every loan that defaulted: its first balance date in default.

    Returns:
        ``uscc``, ``loan_id``, ``default_date``.
    """
    return (
        balances.where(is_default_row(definition))
        .groupBy("uscc", "loan_id")
        .agg(F.min("as_of_date").alias("default_date"))
    )


def observed_months(observed_until: Column, snapshot: Column) -> Column:
    """Whole months of balances observed after ``snapshot`` (0 to 12)."""
    months = F.floor(F.months_between(observed_until, snapshot))
    return (
        F.when(observed_until.isNull() | (observed_until <= snapshot), F.lit(0))
        .otherwise(F.least(months, F.lit(HORIZON_MONTHS)))
        .cast("int")
    )


def transform(
    balances: DataFrame,
    *,
    population: DataFrame,
    as_of: AsOf | None = None,
    observed_until: dt.date | None,
    definition: DefaultDefinition,
) -> DataFrame:
    """Labels per enterprise and snapshot.

    Args:
        balances: silver ``loan_balances`` (uscc, loan_id, as_of_date, days_past_due, status); only
            default rows matter, so callers may pre-filter with ``is_default_row``.
        population: ``uscc``, ``snapshot_date``, ``snapshot_month`` (the feature population).
        as_of: unused (the population carries the snapshots); kept for the family signature.
        observed_until: last as_of_date in loan_balances known to the build.
        definition: the default definition (``default_definition:`` of the profile).

    Returns:
        ``snapshot_date``, ``snapshot_month``, ``uscc``, ``default_12m``, ``default_date``,
        ``in_default_at_snapshot``, ``observed_months``, ``censored``, ``observed_until``.
    """
    day = F.col(SNAPSHOT)
    defaults = loan_default_dates(balances, definition=definition).select(
        "uscc", F.col("default_date").alias("_loan_default")
    )
    horizon_end = F.add_months(day, HORIZON_MONTHS)
    after = (F.col("_loan_default") > day) & (F.col("_loan_default") <= horizon_end)
    per_enterprise = (
        population.select("uscc", SNAPSHOT, "snapshot_month")
        .join(defaults, on="uscc", how="left")
        .groupBy("uscc", SNAPSHOT, "snapshot_month")
        .agg(
            F.min(F.when(after, F.col("_loan_default"))).alias("default_date"),
            F.coalesce(F.max(F.col("_loan_default") <= day), F.lit(False)).alias("in_default_at_snapshot"),
        )
    )
    until = F.lit(observed_until).cast("date")
    return (
        per_enterprise.withColumn("default_12m", F.col("default_date").isNotNull())
        .withColumn("observed_months", observed_months(until, day))
        .withColumn("censored", F.col("observed_months") < HORIZON_MONTHS)
        .withColumn("observed_until", until)
        .select(*OUTPUT)
    )
