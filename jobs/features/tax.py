"""Tax features: sales level and growth, volatility, zero and missed filings, arrears, rating.

Filings are monthly, and on a month-end D of month M the latest period the bank can know
is M-2: period M-1 is filed by the 15th of M, and the tax bureau's file of the month's
filings arrives on the first of M+1 (``schemas.feeds``). Windows therefore end at M-2
(:data:`LATEST_PERIOD`): a "last quarter" is three complete periods compared with the same
three a year earlier, whatever the delivery lag. Each filing version is paired with the
snapshots on which it is the known version and whose lookback holds its period, then
aggregated per (uscc, snapshot) with conditional sums over the period offset ``k``
(1 = M-1). A filing of M-1 known early still counts as the latest filing (months since
last filing, arrears), never in a window.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import SNAPSHOT, AsOf, known_versions, months_back, safe_ratio, snapshots_frame

# offset k of the latest period known on D (M-2); the windows below start there
LATEST_PERIOD = 2
# 24 periods back from the latest: the base year of the 12-month growth
LOOKBACK_MONTHS = LATEST_PERIOD + 23
RATING_ORDINAL = {"A": 1, "B": 2, "M": 3, "C": 4, "D": 5}
OUTPUT = [
    "uscc",
    SNAPSHOT,
    "tax_sales_1m",
    "tax_sales_3m",
    "tax_sales_12m",
    "tax_sales_growth_3m",
    "tax_sales_growth_6m",
    "tax_sales_growth_12m",
    "tax_sales_cv_12m",
    "tax_zero_filings_12m",
    "tax_missed_filings_12m",
    "tax_months_since_last_filing",
    "tax_arrears_latest",
    "tax_penalties_12m",
    "tax_vat_paid_12m",
    "tax_amendments_12m",
]


def _between(first: int, last: int) -> Column:
    return F.col("k").between(first, last)


def _window(months: int, *, year_ago: bool = False) -> tuple[int, int]:
    """Offsets of the ``months`` latest periods known on D (or of the same periods a year earlier)."""
    first = LATEST_PERIOD + (12 if year_ago else 0)
    return first, first + months - 1


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
    year = _window(12)
    in_12m = _between(*year)
    sales_12m = F.when(in_12m, F.col("taxable_sales"))
    oldest = F.max("k")
    filed_12m = _count(in_12m)
    return (
        known.groupBy("uscc", SNAPSHOT)
        .agg(
            _sum("taxable_sales", *_window(1)).alias("tax_sales_1m"),
            _sum("taxable_sales", *_window(3)).alias("tax_sales_3m"),
            _sum("taxable_sales", *year).alias("tax_sales_12m"),
            _growth(_window(3), _window(3, year_ago=True)).alias("tax_sales_growth_3m"),
            _growth(_window(6), _window(6, year_ago=True)).alias("tax_sales_growth_6m"),
            _growth(year, _window(12, year_ago=True)).alias("tax_sales_growth_12m"),
            safe_ratio(F.stddev_samp(sales_12m), F.avg(sales_12m)).alias("tax_sales_cv_12m"),
            _count(in_12m & (F.col("taxable_sales") == 0)).alias("tax_zero_filings_12m"),
            # periods before the first filing seen are not "missed" (young or newly reporting firm)
            (F.least(oldest, F.lit(year[1])) - F.lit(year[0] - 1) - filed_12m)
            .cast("int")
            .alias("tax_missed_filings_12m"),
            F.min("k").cast("int").alias("tax_months_since_last_filing"),
            F.min_by("arrears_amount", "k").alias("tax_arrears_latest"),
            _sum("penalty_amount", *year).alias("tax_penalties_12m"),
            _sum("vat_paid", *year).alias("tax_vat_paid_12m"),
            _count(in_12m & F.coalesce(F.col("is_amendment"), F.lit(False))).alias("tax_amendments_12m"),
        )
        .select(*OUTPUT)
    )


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
    return latest.select(
        "uscc", SNAPSHOT, ordinal[F.col("tax_rating")].cast("int").alias("tax_rating_ordinal"), "tax_rating"
    )


def transform(filings: DataFrame, *, ratings: DataFrame, as_of: AsOf) -> DataFrame:
    """All tax features: filing features full-outer-joined with the rating.

    Returns:
        ``uscc``, ``snapshot_date`` and every ``tax`` feature of the catalogue.
    """
    from schemas.feature_catalogue import names

    joined = filing_features(filings, as_of=as_of).join(
        rating_features(ratings, as_of=as_of), on=["uscc", SNAPSHOT], how="full"
    )
    return joined.select("uscc", SNAPSHOT, *names("tax"))
