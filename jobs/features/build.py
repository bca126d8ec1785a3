"""Assemble the gold rows of one or many snapshots from silver DataFrames (pure, no I/O).

``features_frame`` joins every family onto the population of each snapshot and
``labels_frame`` labels the same population. Both take ``as_of`` as one month-end
or a list: a range is built in one pass (each family aggregates its source once
and pairs the aggregates with the broadcast list of snapshots), not as a loop of
single-snapshot builds. ``silver_filters`` gives the row filters that limit what
a build reads to the lookback of its snapshots.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features import consistency, court, labels, loans, profile, tax, transactions, utility
from jobs.features.default_definition import DefaultDefinition
from riskpipe.core.calendar import (
    DAILY_KEYS,
    SNAPSHOT,
    AsOf,
    add_months,
    daily_versions_on,
    is_current_version,
    restatement_groups,
    snapshot_month,
    to_snapshots,
)
from schemas.feature_catalogue import FEATURES_VERSION, fill_values, names

SILVER_TABLES = (
    "enterprises",
    "tax_filings",
    "tax_ratings",
    "utility_reads",
    "court_events",
    "transactions",
    "loans",
    "loan_balances",
)
KEYS = ["uscc", SNAPSHOT]
MONTHLY_LOOKBACK = max(tax.LOOKBACK_MONTHS, utility.LOOKBACK_MONTHS)
DAILY_LOOKBACK = max(transactions.LOOKBACK_MONTHS, loans.LOOKBACK_MONTHS)


def built_from_json(versions: Mapping[str, int]) -> str:
    """The ``_built_from`` lineage value: silver table -> Delta version, as sorted JSON."""
    return json.dumps({k: int(v) for k, v in sorted(versions.items())}, separators=(",", ":"))


def silver_filters(as_of: AsOf) -> dict[str, Column]:
    """Row filters limiting each silver table to what the snapshots can use.

    History tables are cut at the latest snapshot's ``known_from``; monthly feeds
    at their lookback (25 months for tax); daily T+1 feeds at their 12-month lookback, on the
    partition column too so Delta prunes whole months, and to the versions not superseded
    before the first snapshot (``calendar.daily_versions_on`` then picks each snapshot's version).
    """
    days = to_snapshots(as_of)
    first, last = days[0], days[-1]
    monthly_from = add_months(first, -MONTHLY_LOOKBACK)
    # daily rows available in month first-11 onwards: business dates from the day before it
    daily_from = add_months(first, -(DAILY_LOOKBACK - 1)) - dt.timedelta(days=1)
    known = F.col("known_from") <= F.lit(last)

    # a version superseded on or before the first snapshot is seen by none of them
    still_known = F.col("known_to").isNull() | (F.col("known_to") > F.lit(first))

    def daily(date_col: str, month_col: str) -> Column:
        return (
            (F.col(month_col) >= F.lit(snapshot_month(daily_from)))
            & (F.col(date_col) >= F.lit(daily_from))
            & (F.col(date_col) < F.lit(last))
            & still_known
        )

    return {
        "enterprises": known,
        "tax_ratings": known,
        "court_events": known,
        "loans": known,
        "tax_filings": known & (F.col("period") >= F.lit(monthly_from)),
        "utility_reads": known & (F.col("period") >= F.lit(monthly_from)),
        "transactions": daily("txn_date", "txn_month"),
        "loan_balances": daily("as_of_date", "as_of_month"),
    }


def features_frame(
    silver: Mapping[str, DataFrame],
    *,
    as_of: AsOf,
    built_from: str,
    txn_buckets: tuple[DataFrame, DataFrame] | None = None,
) -> DataFrame:
    """``enterprise_features`` rows for the snapshots ``as_of``, each from the versions it could see.

    Snapshots separated by a restatement of a daily row are built in separate groups
    (``daily_views``; one group without restatements) and the groups' rows unioned.
    """
    parts = [
        _features_of(view, as_of=group, built_from=built_from, txn_buckets=txn_buckets if current else None)
        for group, view, current in daily_views(silver, as_of=as_of)
    ]
    return functools.reduce(DataFrame.unionByName, parts)


def _features_of(
    silver: Mapping[str, DataFrame],
    *,
    as_of: AsOf,
    built_from: str,
    txn_buckets: tuple[DataFrame, DataFrame] | None = None,
) -> DataFrame:
    """``enterprise_features`` rows for the snapshots ``as_of`` (daily tables: one version per row).

    Args:
        silver: silver table name -> DataFrame (``SILVER_TABLES``), possibly pre-filtered
            with ``silver_filters``.
        as_of: one month-end or a list of month-ends.
        built_from: the ``_built_from`` lineage JSON.
        txn_buckets: kept (monthly, counterparty) transaction buckets of the snapshots' windows,
            aggregated from the current versions; None aggregates them from ``silver["transactions"]``.

    Returns:
        The ``enterprise_features`` columns: keys, county, industry, is_active_borrower, every
        catalogue feature (missing-source values filled per the catalogue) and lineage.
    """
    families = [
        tax.transform(silver["tax_filings"], ratings=silver["tax_ratings"], as_of=as_of),
        utility.transform(silver["utility_reads"], as_of=as_of),
        court.transform(silver["court_events"], as_of=as_of),
        (
            transactions.transform(silver["transactions"], as_of=as_of)
            if txn_buckets is None
            else transactions.from_buckets(*txn_buckets, as_of=as_of)
        ),
        loans.transform(silver["loan_balances"], loans=silver["loans"], as_of=as_of),
    ]
    joined = profile.transform(silver["enterprises"], as_of=as_of)
    for family in families:
        joined = joined.join(family, on=KEYS, how="left")
    with_consistency = consistency.transform(joined.fillna(fill_values()), as_of=as_of)
    return with_consistency.select(
        SNAPSHOT,
        "snapshot_month",
        "uscc",
        "county",
        "industry",
        (F.col("loan_n_active") > 0).alias("is_active_borrower"),
        *names(),
        F.lit(FEATURES_VERSION).alias("_features_version"),
        F.lit(built_from).alias("_built_from"),
    )


def daily_views(
    silver: Mapping[str, DataFrame], *, as_of: AsOf
) -> list[tuple[list[dt.date], dict[str, DataFrame], bool]]:
    """The snapshots ``as_of`` in groups, each with the silver tables as its snapshots see them.

    Daily T+1 tables keep every version of a restated row; the snapshots between two
    restatement days see the same versions (``calendar.restatement_groups``). A group after the
    last restatement day sees the current versions (``known_to`` null), which is the only
    group without restatements in the window (the common case: one group).

    Args:
        silver: silver table name -> DataFrame, filtered with ``silver_filters``.

    Returns:
        ``(snapshots, silver, current)`` triples: ``silver`` has the daily tables cut to the
        group's versions; ``current`` is true when those are the current versions (kept
        transaction buckets, aggregated from the current versions, then apply).
    """
    days = to_snapshots(as_of)
    restated_on = set()
    for table in DAILY_KEYS:
        restated_on |= {
            r["known_to"]
            for r in silver[table].where(F.col("known_to").isNotNull()).select("known_to").distinct().collect()
        }
    views = []
    for group in restatement_groups(days, restated_on):
        current = not any(day > group[-1] for day in restated_on)
        cut = {
            table: (
                silver[table].where(is_current_version())
                if current
                else daily_versions_on(silver[table], keys=keys, day=group[-1])
            )
            for table, keys in DAILY_KEYS.items()
        }
        views.append((group, {**silver, **cut}, current))
    return views


def labels_frame(
    silver: Mapping[str, DataFrame],
    *,
    as_of: AsOf,
    observed_until: dt.date | None,
    built_from: str,
    definition: DefaultDefinition,
) -> DataFrame:
    """``default_labels`` rows for the snapshots ``as_of`` (population: enterprises known on D).

    Args:
        silver: needs ``enterprises`` and ``loan_balances`` (the *unfiltered* balances, or at
            least all default rows: labels look 12 months ahead and far back).
        observed_until: last as_of_date in loan_balances known to the build.
        definition: the default definition (``default_definition:`` of the profile).
    """
    population = profile.transform(silver["enterprises"], as_of=as_of)
    labelled = labels.transform(
        silver["loan_balances"],
        population=population,
        as_of=as_of,
        observed_until=observed_until,
        definition=definition,
    )
    return labelled.select(*labels.OUTPUT, F.lit(built_from).alias("_built_from"))
