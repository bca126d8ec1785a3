"""Point-in-time helpers: snapshot dates, known versions and availability windows.

A feature as of snapshot D may only use what was available on D:

* history tables (``known_from``/``known_to``): the version with
  ``known_from <= D AND (known_to IS NULL OR known_to > D)``;
* daily T+1 tables (transactions, loan balances): rows with ``date + 1 day <= D``, in the
  version known on D: the first version of a row from its business date's T+1 on (a late
  delivery does not hold it back), a restated version from its ``known_from``, each until
  its ``known_to`` (:func:`daily_versions_on`). Builds of several snapshots are split at the
  restatement days (:func:`restatement_groups`) so each part reads one set of versions.

Snapshots are month-ends, so a daily row is bucketed by its *availability month*
(the month of ``date + 1 day``): the rows available on D are exactly those whose
availability month is on or before M, the month of D. Monthly aggregates per
enterprise are therefore computed once and shared by every snapshot; windows over
the last n months are then joins on month offsets with the (small, broadcast)
frame of snapshots. The same code builds one snapshot or a 36-month range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from dateutil.relativedelta import relativedelta
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.core.frames import literal_frame

AsOf = dt.date | str | Sequence[dt.date | str]

T_PLUS_DAYS = 1  # daily extracts arrive the day after the business date
SNAPSHOT = "snapshot_date"
MONTH_START = "snapshot_month_start"  # first day of M, internal to the transforms


def month_end(day: dt.date) -> dt.date:
    """Last day of ``day``'s month."""
    return dt.date(day.year, day.month, 1) + relativedelta(day=31)


def add_months(day: dt.date, months: int) -> dt.date:
    """First day of the month ``months`` after ``day``'s month."""
    return dt.date(day.year, day.month, 1) + relativedelta(months=months)


def month_ends(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """Month-ends of the months from ``start``'s to ``end``'s, inclusive."""
    first, last = _date(start), _date(end)
    if last < first:
        raise ValueError(f"empty snapshot range {first}..{last}")
    out, month = [], first.replace(day=1)
    while month <= last.replace(day=1):
        out.append(month_end(month))
        month = add_months(month, 1)
    return out


def snapshot_month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _date(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def to_snapshots(as_of: AsOf) -> list[dt.date]:
    """Normalise ``as_of`` (a date, ISO string or a sequence of them) to sorted unique month-ends.

    Raises:
        ValueError: a date is not the last day of its month, or the list is empty.
    """
    values: Iterable = [as_of] if isinstance(as_of, (dt.date, str)) else as_of
    days = sorted({_date(v) for v in values})
    if not days:
        raise ValueError("no snapshot date given")
    wrong = [str(d) for d in days if d != month_end(d)]
    if wrong:
        raise ValueError(f"snapshot dates must be month-ends (T+1 availability is bucketed by month): {wrong}")
    return days


def snapshots_frame(spark: SparkSession, as_of: AsOf) -> DataFrame:
    """One row per snapshot: ``snapshot_date``, ``snapshot_month`` (YYYY-MM), ``snapshot_month_start``."""
    rows = [
        {SNAPSHOT: F.lit(d), "snapshot_month": F.lit(snapshot_month(d)), MONTH_START: F.lit(d.replace(day=1))}
        for d in to_snapshots(as_of)
    ]
    return literal_frame(spark, rows)


def known_on(snapshot: Column | str = SNAPSHOT) -> Column:
    """Condition: the history row's version is the one known on ``snapshot``."""
    day = F.col(snapshot) if isinstance(snapshot, str) else snapshot
    return (F.col("known_from") <= day) & (F.col("known_to").isNull() | (F.col("known_to") > day))


def months_back(month: Column) -> Column:
    """Whole months from ``month`` (a first-of-month date) to M (1 = the previous month)."""
    return F.months_between(F.col(MONTH_START), month).cast("int")


def available_month(business_date: Column) -> Column:
    """First day of the month in which a T+1 row of ``business_date`` becomes available."""
    return F.trunc(F.date_add(business_date, T_PLUS_DAYS), "month")


def known_versions(history: DataFrame, snapshots: DataFrame, *, extra: Column | None = None) -> DataFrame:
    """Pair each history row with every snapshot on which its version is the known one.

    Args:
        history: a silver history table (``known_from``, ``known_to`` and payload).
        snapshots: ``snapshots_frame`` output (broadcast: a handful of rows).
        extra: further join condition (e.g. a lookback bound) to prune pairs early.

    Returns:
        ``history`` columns plus ``snapshot_date`` and ``snapshot_month_start``.
    """
    snaps = F.broadcast(snapshots.select(SNAPSHOT, MONTH_START))
    condition = known_on(snaps[SNAPSHOT])
    if extra is not None:
        condition = condition & extra
    return history.join(snaps, on=condition, how="inner")


def in_month_window(snapshots: DataFrame, bucketed: DataFrame, *, month_col: str, months: int) -> DataFrame:
    """Pair monthly buckets of a daily T+1 feed with the snapshots whose last ``months`` months hold them.

    Args:
        snapshots: ``snapshots_frame`` output.
        bucketed: rows with ``month_col``, the availability month (first day).
        months: window length; offset 0 is month M itself.

    Returns:
        ``bucketed`` columns plus ``snapshot_date``, ``snapshot_month_start`` and ``m_back``
        (0 = available in M, 1 = in M-1, ...).
    """
    snaps = F.broadcast(snapshots.select(SNAPSHOT, MONTH_START))
    offset = F.months_between(snaps[MONTH_START], F.col(month_col))
    within = (offset >= 0) & (offset < months)
    return bucketed.join(snaps, on=within, how="inner").withColumn("m_back", months_back(F.col(month_col)))


def safe_ratio(numerator: Column, denominator: Column) -> Column:
    """``numerator / denominator``, null when the denominator is null or not positive."""
    return F.when(denominator > 0, numerator / denominator)


# Entity keys of the daily T+1 tables: a restatement is a later version of the same keys.
DAILY_KEYS = {"transactions": ("txn_id",), "loan_balances": ("loan_id", "as_of_date")}
FIRST_KNOWN = "_first_known_from"


def is_current_version() -> Column:
    """Condition: the latest known version of a history row (what current-state readers use)."""
    return F.col("known_to").isNull()


def daily_versions_on(daily: DataFrame, *, keys: Sequence[str], day: dt.date) -> DataFrame:
    """The versions of a daily T+1 table that snapshots with the restatements of ``day`` see.

    A row's first version counts from its T+1 availability (the bucket rule of the features),
    a later version from its ``known_from``; each stops at its ``known_to``. Versions are told
    apart with the (few) superseded rows only, so the join stays small.

    Args:
        daily: silver ``transactions`` or ``loan_balances`` (``keys``, ``known_from``, ``known_to``).
        keys: the entity keys (``DAILY_KEYS``).
        day: the snapshot; every snapshot with the same restatement days on or before it
            (:func:`restatement_groups`) sees the same versions.

    Returns:
        ``daily``'s columns, one version per entity at most.
    """
    firsts = daily.where(F.col("known_to").isNotNull()).groupBy(*keys).agg(F.min("known_from").alias(FIRST_KNOWN))
    flagged = daily.join(firsts, on=list(keys), how="left")
    is_first = F.col(FIRST_KNOWN).isNull() | (F.col("known_from") == F.col(FIRST_KNOWN))
    cut = F.lit(day)
    known = (F.col("known_to").isNull() | (F.col("known_to") > cut)) & (is_first | (F.col("known_from") <= cut))
    return flagged.where(known).select(*daily.columns)


def restatement_groups(days: Sequence[dt.date], restated_on: Iterable[dt.date]) -> list[list[dt.date]]:
    """Split snapshots into runs that see the same versions of the daily tables.

    Args:
        days: sorted snapshots.
        restated_on: the days on which a version of a daily row was superseded (``known_to``).

    Returns:
        Consecutive groups of ``days``; no restatement day falls after a group's first
        snapshot and on or before its last.
    """
    cuts = sorted(set(restated_on))
    groups: dict[int, list[dt.date]] = {}
    for day in days:
        groups.setdefault(sum(1 for c in cuts if c <= day), []).append(day)
    return [groups[k] for k in sorted(groups)]
