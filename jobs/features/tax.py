"""Tax features: sales level and growth, volatility, zero and missed filings, arrears, rating.

Filings are monthly; on a month-end D the latest period expected is M-1 (filed by
the 15th of M, delivered the 16th). Each filing version is paired with the
snapshots on which it is the known version and whose 24-month lookback holds its
period, then aggregated per (uscc, snapshot) with conditional sums over the
period offset ``k`` (1 = M-1).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features.pit import AsOf, SNAPSHOT, known_versions, months_back, safe_ratio, snapshots_frame

LOOKBACK_MONTHS = 24
RATING_ORDINAL = {"A": 1, "B": 2, "M": 3, "C": 4, "D": 5}
OUTPUT = ["uscc", SNAPSHOT, "tax_sales_1m", "tax_sales_3m", "tax_sales_12m", "tax_sales_growth_3m",
          "tax_sales_growth_6m", "tax_sales_growth_12m", "tax_sales_cv_12m", "tax_zero_filings_12m",
          "tax_missed_filings_12m", "tax_months_since_last_filing", "tax_arrears_latest", "tax_penalties_12m",
          "tax_vat_paid_12m", "tax_amendments_12m"]


def _between(first: int, last: int) -> Column:
    return F.col("k").between(first, last)


def _sum(col: str, first: int, last: int) -> Column:
    return F.sum(F.when(_between(first, last), F.col(col)))


def _count(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast("int")


def _growth(recent: tuple[int, int], base: tuple[int, int]) -> Column:
    return safe_ratio(_sum("taxable_sales", *recent), _sum("taxable_sales", *base)) - 1


def filing_features(filings: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Filing features per enterprise and snapshot.

    Args:
        filings: silver ``tax_filings`` (uscc, period, taxable_sales, vat_paid, arrears_amount,
            penalty_amount, is_amendment, known_from, known_to).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date`` and the ``tax_*`` filing features of the catalogue, for
        enterprises with at least one filing known in the lookback.
    """
    snaps = snapshots_frame(filings.sparkSession, as_of)
    k = months_back(F.col("period"))
    known = known_versions(filings, snaps, extra=k.between(1, LOOKBACK_MONTHS)).withColumn("k", k)
    in_12m = _between(1, 12)
    sales_12m = F.when(in_12m, F.col("taxable_sales"))
    oldest = F.max("k")
    filed_12m = _count(in_12m)
    return (known.groupBy("uscc", SNAPSHOT).agg(
        _sum("taxable_sales", 1, 1).alias("tax_sales_1m"),
        _sum("taxable_sales", 1, 3).alias("tax_sales_3m"),
        _sum("taxable_sales", 1, 12).alias("tax_sales_12m"),
        _growth((1, 3), (13, 15)).alias("tax_sales_growth_3m"),
        _growth((1, 6), (13, 18)).alias("tax_sales_growth_6m"),
        _growth((1, 12), (13, 24)).alias("tax_sales_growth_12m"),
        safe_ratio(F.stddev_samp(sales_12m), F.avg(sales_12m)).alias("tax_sales_cv_12m"),
        _count(in_12m & (F.col("taxable_sales") == 0)).alias("tax_zero_filings_12m"),
        # periods before the first filing seen are not "missed" (young or newly reporting firm)
        (F.least(oldest, F.lit(12)) - filed_12m).cast("int").alias("tax_missed_filings_12m"),
        F.min("k").cast("int").alias("tax_months_since_last_filing"),
        F.min_by("arrears_amount", "k").alias("tax_arrears_latest"),
        _sum("penalty_amount", 1, 12).alias("tax_penalties_12m"),
        _sum("vat_paid", 1, 12).alias("tax_vat_paid_12m"),
        _count(in_12m & F.coalesce(F.col("is_amendment"), F.lit(False))).alias("tax_amendments_12m"),
    ).select(*OUTPUT))


def rating_features(ratings: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Latest tax credit rating known on each snapshot.

    A rating counts once its version is known *and* its publication date has passed.

    Args:
        ratings: silver ``tax_ratings`` (uscc, rating_year, rating, published_date, known_from, known_to).

    Returns:
        ``uscc``, ``snapshot_date``, ``tax_rating_ordinal``, ``tax_rating``.
    """
    snaps = snapshots_frame(ratings.sparkSession, as_of)
    published = F.coalesce(F.col("published_date"), F.col("known_from")) <= F.col(SNAPSHOT)
    known = known_versions(ratings.where(F.col("rating").isNotNull()), snaps).where(published)
    ordinal = F.create_map(*[F.lit(x) for pair in RATING_ORDINAL.items() for x in pair])
    latest = known.groupBy("uscc", SNAPSHOT).agg(F.max_by("rating", "rating_year").alias("tax_rating"))
    return latest.select("uscc", SNAPSHOT, ordinal[F.col("tax_rating")].cast("int").alias("tax_rating_ordinal"),
                         "tax_rating")


def transform(filings: DataFrame, *, ratings: DataFrame, as_of: AsOf) -> DataFrame:
    """All tax features: filing features full-outer-joined with the rating.

    Returns:
        ``uscc``, ``snapshot_date`` and every ``tax`` feature of the catalogue.
    """
    from jobs.features.catalogue import names

    joined = filing_features(filings, as_of=as_of).join(rating_features(ratings, as_of=as_of),
                                                        on=["uscc", SNAPSHOT], how="full")
    return joined.select("uscc", SNAPSHOT, *names("tax"))
