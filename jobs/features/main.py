"""Thin entry points of the feature build: read silver, call the pure builders, write gold.

All Delta I/O goes through ``riskpipe.core.io``. Silver tables are read at pinned Delta
versions (recorded in ``_built_from``), filtered to the lookback of the snapshots
being built; gold partitions are replaced with ``replaceWhere`` on
``snapshot_month`` in one commit per table, so a failed build leaves gold as it was (the kept
transaction buckets it may have refreshed first are a function of a silver version, so they
stay valid).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.features import labels, txn_months
from jobs.features.build import (
    SILVER_TABLES,
    built_from_json,
    features_frame,
    labels_frame,
    silver_filters,
)
from jobs.features.default_definition import DefaultDefinition
from jobs.features.incremental import affected_snapshots
from riskpipe.core import io
from riskpipe.core.calendar import AsOf, is_current_version, month_ends, snapshot_month, to_snapshots
from riskpipe.core.config import Settings

log = logging.getLogger(__name__)
FEATURES_TABLE, LABELS_TABLE = "enterprise_features", "default_labels"


def silver_versions(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Latest Delta version of every silver table the build reads."""
    return {t: io.version(spark, t, settings=settings) for t in SILVER_TABLES}


def _months_condition(days: Sequence[dt.date]) -> str:
    return "snapshot_month IN ({})".format(", ".join(f"'{snapshot_month(d)}'" for d in days))


def build_snapshots(
    spark: SparkSession, as_of: AsOf, *, settings: Settings, versions: dict[str, int] | None = None
) -> dict[str, Any]:
    """Build features and labels of the snapshots ``as_of`` in one pass and replace their partitions.

    ``versions`` pins the silver versions read (default: the latest, ``silver_versions``).

    Returns:
        Small summary: snapshot months, rows written, silver versions, observed_until.
    """
    days = to_snapshots(as_of)
    versions = versions or silver_versions(spark, settings)
    lineage = built_from_json(versions)
    full = {t: io.read(spark, t, version=v, settings=settings) for t, v in versions.items()}
    filters = silver_filters(days)
    silver = {t: df.where(filters[t]) for t, df in full.items()}
    observed_until = full["loan_balances"].agg(F.max("as_of_date")).first()[0]
    txn_months.refresh(spark, days, version=versions["transactions"], settings=settings)
    buckets = txn_months.read_buckets(spark, days, settings=settings)
    features = features_frame(silver, as_of=days, built_from=lineage, txn_buckets=buckets)
    definition = DefaultDefinition.from_settings(settings.sections("default_definition"))
    # labels look ahead at the outcome: the current versions of the balances
    label_input = {
        "enterprises": silver["enterprises"],
        "loan_balances": full["loan_balances"].where(is_current_version() & labels.is_default_row(definition)),
    }
    label_rows = labels_frame(
        label_input, as_of=days, observed_until=observed_until, built_from=lineage, definition=definition
    )
    condition = _months_condition(days)
    io.replace_where(features, FEATURES_TABLE, condition, settings=settings)
    io.replace_where(label_rows, LABELS_TABLE, condition, settings=settings)
    counts = {
        r["snapshot_month"]: r["count"]
        for r in io.read(spark, FEATURES_TABLE, settings=settings)
        .where(condition)
        .groupBy("snapshot_month")
        .count()
        .collect()
    }
    log.info("features built for %s from %s", [snapshot_month(d) for d in days], lineage)
    return {
        "snapshot_months": [snapshot_month(d) for d in days],
        "rows": counts,
        "silver_versions": versions,
        "observed_until": str(observed_until) if observed_until else None,
    }


def build_snapshot(spark: SparkSession, as_of: dt.date | str, *, settings: Settings) -> dict[str, Any]:
    """Build one month-end snapshot (reads only its lookback windows; replaces its partition)."""
    return build_snapshots(spark, [as_of], settings=settings)


def built_state(spark: SparkSession, settings: Settings) -> tuple[dict[dt.date, dict[str, int]], dict]:
    """What gold holds: snapshot -> silver versions it was built from, and snapshot -> observed_until."""
    built = {}
    for row in (
        io.read(spark, FEATURES_TABLE, settings=settings).select("snapshot_date", "_built_from").distinct().collect()
    ):
        versions = json.loads(row["_built_from"])
        previous = built.get(row["snapshot_date"], versions)
        built[row["snapshot_date"]] = {t: min(v, previous.get(t, v)) for t, v in versions.items()}
    observed = {
        r["snapshot_date"]: r["observed_until"]
        for r in io.read(spark, LABELS_TABLE, settings=settings)
        .groupBy("snapshot_date")
        .agg(F.min("observed_until").alias("observed_until"))
        .collect()
    }
    return built, observed


def silver_changes(
    spark: SparkSession, since: dict[str, int], *, settings: Settings, until: dict[str, int] | None = None
) -> dict[str, DataFrame]:
    """Rows of each silver table delivered by batches newer than Delta version ``since[table]``.

    ``until`` gives the versions to compare with (default: the latest of each table).

    A silver row carries the ``_batch_id`` that delivered its version; rows whose batch is
    not in the table at the old version are new. (Re-chained ``known_to`` values of old
    versions need no detection: they follow the new versions' ``known_from``.)
    """
    changes = {}
    for table in SILVER_TABLES:
        old = since.get(table, -1)
        now = until[table] if until else io.version(spark, table, settings=settings)
        if old >= now:
            continue
        current = io.read(spark, table, version=now, settings=settings)
        if old < 0:
            changes[table] = current
            continue
        seen = io.read(spark, table, version=old, settings=settings).select("_batch_id").distinct()
        changes[table] = current.join(F.broadcast(seen), on="_batch_id", how="left_anti")
    return changes


def plan_range(
    spark: SparkSession,
    start: dt.date | str,
    end: dt.date | str,
    *,
    full: bool = False,
    settings: Settings,
    state: tuple[dict, dict] | None = None,
    versions: dict[str, int] | None = None,
) -> list[dt.date]:
    """Snapshots of ``[start, end]`` to build: all when ``full``, else the missing and the stale ones.

    ``state`` is ``built_state``'s result when the caller has just read it; ``versions`` the
    silver versions the build will read (default: the latest).
    """
    wanted = month_ends(start, end)
    if full:
        return wanted
    built, observed = state or built_state(spark, settings)
    present = [d for d in wanted if d in built]
    if not present:
        return wanted
    since = {t: min(built[d].get(t, -1) for d in present) for t in SILVER_TABLES}
    changes = silver_changes(spark, since, settings=settings, until=versions)
    balances = io.read(
        spark, "loan_balances", version=versions["loan_balances"] if versions else None, settings=settings
    )
    now = balances.agg(F.max("as_of_date")).first()[0]
    stale = affected_snapshots(
        changes,
        snapshots=present,
        observed_before=observed,
        observed_now=now,
        definition=DefaultDefinition.from_settings(settings.sections("default_definition")),
    )
    return sorted(set(wanted) - set(present) | set(stale))


def build_range(
    spark: SparkSession,
    start: dt.date | str,
    end: dt.date | str,
    *,
    full: bool = False,
    settings: Settings,
) -> dict[str, Any]:
    """Build the month-ends from ``start`` to ``end``: everything with ``full``, else incrementally."""
    versions = silver_versions(spark, settings)
    todo = plan_range(spark, start, end, full=full, settings=settings, versions=versions)
    if not todo:
        return {"snapshot_months": [], "rows": {}, "up_to_date": True}
    return build_snapshots(spark, todo, settings=settings, versions=versions)


def first_snapshot(settings: Settings) -> dt.date | None:
    """``features.first_snapshot`` of the profile: the first month-end gold must hold (None: not set)."""
    value = settings.features.first_snapshot
    return to_snapshots(value)[0] if value else None


def update(spark: SparkSession, as_of: dt.date | str, *, settings: Settings) -> dict[str, Any]:
    """Monthly run: (re)build snapshot ``as_of`` plus every earlier month missing or made stale since built.

    "Earlier" starts at ``features.first_snapshot`` when the profile sets it (so the first run on an
    empty gold builds the whole history in one pass: a first deployment), else at the earliest
    snapshot already built (an empty gold then gets ``as_of`` only).
    """
    day = to_snapshots(as_of)[0]
    # one set of silver versions for planning and building: a batch landing meanwhile waits for the next run
    versions = silver_versions(spark, settings)
    state = built_state(spark, settings)
    built, _ = state
    starts = [d for d in built if d < day]
    first = first_snapshot(settings)
    if first is not None and first < day:
        starts.append(first)
    todo = (
        set(plan_range(spark, min(starts), day, settings=settings, state=state, versions=versions)) if starts else set()
    )
    return build_snapshots(spark, sorted(todo | {day}), settings=settings, versions=versions)


def main(
    *,
    as_of: str | None = None,
    start: str | None = None,
    end: str | None = None,
    full: bool = False,
    settings: Settings,
    spark: SparkSession,
) -> dict[str, Any]:
    """One snapshot (``as_of``, always rebuilt) or a range (what the CLI's ``features`` command runs)."""
    if as_of is not None:
        return build_snapshot(spark, as_of, settings=settings)
    if start is None or end is None:
        raise ValueError("give as_of, or start and end")
    return build_range(spark, start, end, full=full, settings=settings)
