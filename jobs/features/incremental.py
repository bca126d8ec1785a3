"""Which snapshots must be rebuilt after silver changed (pure; the I/O is in ``main``).

A silver row can change the features or labels of exactly the snapshots that can
see it:

* history tables: snapshots D >= ``known_from`` (the new version, and the
  ``known_to`` it sets on the previous version, only matter from then on), and for
  monthly feeds only while the period is inside the family's lookback (25 months for tax);
* transactions and loan balances (T+1): snapshots whose 12-month window holds the
  row's availability month; balances also feed the labels of the snapshots D with
  D < as_of_date <= D + 12 months, and a default row the ``in_default_at_snapshot`` of
  snapshots D >= as_of_date;
* when the last observed balance date moves, every snapshot whose
  ``observed_months`` changes (censoring).

Rebuilding these snapshots from the new silver gives the same rows as a full
rebuild (tests check it). Deleted silver rows are not detected: silver only grows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.features import labels, tax, utility
from jobs.features.default_definition import DefaultDefinition
from jobs.features.transactions import LOOKBACK_MONTHS as DAILY_LOOKBACK
from riskpipe.core.calendar import MONTH_START, SNAPSHOT, available_month, months_back, snapshots_frame
from riskpipe.core.frames import literal_frame

UNBOUNDED = ("enterprises", "tax_ratings", "court_events", "loans")
MONTHLY = {"tax_filings": tax.LOOKBACK_MONTHS, "utility_reads": utility.LOOKBACK_MONTHS}
DAILY_DATE = {"transactions": "txn_date", "loan_balances": "as_of_date"}


def _known() -> Column:
    return F.col("known_from") <= F.col(SNAPSHOT)


def _in_daily_window() -> Column:
    return months_back(F.col("avail_month")).between(0, DAILY_LOOKBACK - 1)


def _impacts(table: str, changes: DataFrame, definition: DefaultDefinition) -> tuple[DataFrame, Column]:
    """Distinct change keys of ``table`` and the condition pairing them with affected snapshots."""
    if table in UNBOUNDED:
        return changes.select("known_from").distinct(), _known()
    if table in MONTHLY:
        lookback = months_back(F.col("period")).between(1, MONTHLY[table])
        return changes.select("known_from", "period").distinct(), _known() & lookback
    if table == "transactions":
        return changes.select(available_month(F.col("txn_date")).alias("avail_month")).distinct(), _in_daily_window()
    if table == "loan_balances":
        keys = changes.select(
            F.col("as_of_date"),
            available_month(F.col("as_of_date")).alias("avail_month"),
            labels.is_default_row(definition).alias("is_default"),
        ).distinct()
        day, date = F.col(SNAPSHOT), F.col("as_of_date")
        in_label_window = (date > day) & (date <= F.add_months(day, labels.HORIZON_MONTHS))
        return keys, _in_daily_window() | in_label_window | (F.col("is_default") & (date <= day))
    raise KeyError(f"no impact rule for silver table {table!r}")


def _censoring_changes(
    spark: SparkSession,
    snapshots: Sequence[dt.date],
    observed_before: Mapping[dt.date, dt.date | None],
    observed_now: dt.date | None,
) -> set:
    if not snapshots:
        return set()
    frame = literal_frame(
        spark, [{SNAPSHOT: F.lit(d), "before": F.lit(observed_before.get(d)).cast("date")} for d in snapshots]
    )
    day, now = F.col(SNAPSHOT), F.lit(observed_now).cast("date")
    moved = ~labels.observed_months(F.col("before"), day).eqNullSafe(labels.observed_months(now, day))
    return {r[SNAPSHOT] for r in frame.where(moved).collect()}


def affected_snapshots(
    changes: Mapping[str, DataFrame],
    *,
    snapshots: Sequence[dt.date],
    observed_before: Mapping[dt.date, dt.date | None] | None = None,
    observed_now: dt.date | None = None,
    definition: DefaultDefinition,
) -> list[dt.date]:
    """The already-built snapshots that the silver ``changes`` make stale.

    Args:
        changes: silver table -> rows added since the build (any superset of the needed
            columns: known_from, period, txn_date, as_of_date, days_past_due, status).
        snapshots: the built snapshot dates to check (month-ends).
        observed_before: snapshot -> ``observed_until`` its labels were built with.
        observed_now: last as_of_date in loan_balances now.
        definition: the default definition the labels are built with.

    Returns:
        Sorted snapshot dates to rebuild.
    """
    if not snapshots:
        return []
    spark = next(iter(changes.values())).sparkSession if changes else None
    affected: set[dt.date] = set()
    if spark is None:
        return []
    snaps = F.broadcast(snapshots_frame(spark, list(snapshots)).select(SNAPSHOT, MONTH_START))
    for table, rows in sorted(changes.items()):
        keys, condition = _impacts(table, rows, definition)
        hits = keys.join(snaps, on=condition, how="inner").select(SNAPSHOT).distinct()
        affected |= {r[SNAPSHOT] for r in hits.collect()}
    if observed_before is not None:
        affected |= _censoring_changes(spark, snapshots, observed_before, observed_now)
    return sorted(affected)
