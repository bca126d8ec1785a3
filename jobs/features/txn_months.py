"""Monthly transaction buckets kept in Delta, so that one new month reads one month of raw rows.

Transactions are most of the input (about 80% of the rows). Every transaction feature is a
sum over monthly buckets per enterprise and availability month (``transactions.monthly_buckets``
and ``transactions.counterparty_buckets``), so the feature build keeps the buckets in two
gold tables, ``transaction_months`` and ``transaction_counterparty_months``, each row stamped
with the Delta version of silver ``transactions`` it was aggregated from. Buckets hold the
current version of each transaction (``known_to`` null); snapshots built before a restatement
aggregate the versions they saw from silver instead (``build.daily_views``).

A bucket of availability month m holds the transactions dated from the last day of m-1 to
the day before the last day of m (T+1), so it depends on the silver partitions
``txn_month`` m-1 and m only. A kept bucket is reused when no data file was added to or
removed from those partitions between its version and the version being built from;
otherwise (and when it is missing, or newer than that version) it is aggregated again from
silver and replaced. Reused
and fresh buckets are the same rows a full aggregation gives, so features do not depend on
which path a build took (tests check it). Feature builds run one at a time (the Delta writer
pool of the DAGs), so no other build replaces buckets between ``refresh`` and ``read_buckets``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.features import transactions
from riskpipe.core import io
from riskpipe.core.calendar import add_months, is_current_version, snapshot_month, to_snapshots
from riskpipe.core.config import Settings

log = logging.getLogger(__name__)
MONTHS_TABLE, COUNTERPARTY_TABLE = "transaction_months", "transaction_counterparty_months"
SILVER = "transactions"
VERSION_COL = "_silver_version"


def needed_months(days: Sequence[dt.date]) -> list[dt.date]:
    """Availability months (first days) inside the 12-month window of any of the snapshots ``days``."""
    months = {add_months(d, -back) for d in days for back in range(transactions.LOOKBACK_MONTHS)}
    return sorted(months)


def touched_months(partitions: Iterable[str]) -> set[dt.date]:
    """Availability months whose bucket changes when silver ``txn_month`` partitions change.

    Args:
        partitions: ``txn_month`` values (``YYYY-MM``) that received data files.
    """
    months = {dt.date.fromisoformat(f"{p}-01") for p in partitions}
    # the last day of month m is available in m + 1
    return months | {add_months(m, 1) for m in months}


def stale_months(
    kept: dict[dt.date, int], needed: Sequence[dt.date], *, version: int, changed_since: dict[int, set[dt.date]]
) -> list[dt.date]:
    """The needed months to aggregate again from silver at ``version``.

    Args:
        kept: availability month -> silver version its kept buckets were built from.
        needed: availability months the build reads.
        version: the silver ``transactions`` version the build is pinned to.
        changed_since: kept version -> availability months touched between it and ``version``.
    """
    stale = []
    for month in needed:
        built = kept.get(month)
        if built is None or built > version or month in changed_since.get(built, set()):
            stale.append(month)
    return stale


def _kept_versions(spark: SparkSession, needed: Sequence[dt.date], settings: Settings) -> dict[dt.date, int]:
    """Availability month -> oldest silver version of its kept buckets (both tables must hold it).

    Only the ``needed`` months are read: the filter is on the partition column, so the other
    months' files are never opened.
    """
    per_table = []
    condition = _condition(needed)
    for table in (MONTHS_TABLE, COUNTERPARTY_TABLE):
        rows = (
            io.read(spark, table, settings=settings)
            .where(condition)
            .groupBy("avail_month")
            .agg(F.min(VERSION_COL).alias("v"), F.max(VERSION_COL).alias("w"))
            .collect()
        )
        # a month built from two versions is half-replaced: treat it as missing
        per_table.append({r["avail_month"]: r["v"] for r in rows if r["v"] == r["w"]})
    months, counterparties = per_table
    return {m: v for m, v in months.items() if counterparties.get(m) == v}


def _changed_since(
    spark: SparkSession, since: int, until: int, needed: Sequence[dt.date], settings: Settings
) -> set[dt.date]:
    """Availability months touched between two silver versions (all ``needed`` if ``since`` has expired)."""
    try:
        partitions = io.changed_partitions(
            spark, SILVER, since=since, until=until, column="txn_month", settings=settings
        )
    except Exception as error:  # noqa: BLE001 - an expired log version only costs a re-aggregation
        log.warning(
            "silver %s version %s is no longer readable (%s): re-aggregating every month",
            SILVER,
            since,
            str(error).splitlines()[0][:200],
        )
        return set(needed)
    return touched_months(partitions)


def _condition(months: Sequence[dt.date]) -> str:
    return "avail_month IN ({})".format(", ".join(f"DATE'{m.isoformat()}'" for m in months))


def refresh(spark: SparkSession, days: Sequence[dt.date], *, version: int, settings: Settings) -> list[dt.date]:
    """Aggregate again the buckets the snapshots ``days`` need that are missing or stale.

    Returns:
        The availability months written (empty when every needed bucket was reusable).
    """
    needed = needed_months(to_snapshots(days))
    kept = _kept_versions(spark, needed, settings)
    changed = {v: _changed_since(spark, v, version, needed, settings) for v in set(kept.values()) if v < version}
    stale = stale_months(kept, needed, version=version, changed_since=changed)
    if not stale:
        return []
    partitions = sorted({snapshot_month(add_months(m, back)) for m in stale for back in (-1, 0)})
    # rows without an enterprise belong to no feature row (and the key column is NOT NULL)
    raw = io.read(spark, SILVER, version=version, settings=settings).where(
        F.col("txn_month").isin(partitions) & F.col("uscc").isNotNull() & is_current_version()
    )
    condition = _condition(stale)
    stamp = F.lit(version).cast("long").alias(VERSION_COL)
    monthly = transactions.monthly_buckets(raw).where(condition).select("*", stamp)
    counterparties = transactions.counterparty_buckets(raw).where(condition).select("*", stamp)
    # one file per month: a later build reads 12 months, and small files cost more than their rows
    io.replace_where(monthly.repartition("avail_month"), MONTHS_TABLE, condition, settings=settings)
    io.replace_where(counterparties.repartition("avail_month"), COUNTERPARTY_TABLE, condition, settings=settings)
    return stale


def read_buckets(spark: SparkSession, days: Sequence[dt.date], *, settings: Settings) -> tuple[DataFrame, DataFrame]:
    """The kept buckets of the months the snapshots ``days`` need: (monthly, counterparty)."""
    condition = _condition(needed_months(to_snapshots(days)))
    return tuple(
        io.read(spark, t, settings=settings).where(condition).drop(VERSION_COL)
        for t in (MONTHS_TABLE, COUNTERPARTY_TABLE)
    )
