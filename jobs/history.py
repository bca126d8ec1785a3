"""Deduplication and restatement history for silver tables.

Silver history tables keep one row per entity and *delivery* (``known_from``),
with ``known_to`` set to the next delivery's ``known_from`` and ``is_current``
on the latest, so features can ask what was known on any date D:
``known_from <= D AND (known_to IS NULL OR known_to > D)``. The chain is
recomputed over all versions of the entities a batch touches, so ingesting
deliveries in any order (a backfill after later months) gives the same table.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def split_batch_duplicates(df: DataFrame, keys: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """Separate rows that repeat a key within the batch.

    Of rows sharing ``keys``, the last one in file order wins (a later line of
    the same delivery corrects an earlier one); the others are duplicates.

    Returns:
        ``(unique, duplicates)`` with the input columns.
    """
    last_first = Window.partitionBy(*keys).orderBy(F.col("_source_file").desc(), F.col("_source_row").desc())
    ranked = df.withColumn("_rank", F.row_number().over(last_first))
    is_first = F.col("_rank") == 1
    return ranked.where(is_first).drop("_rank"), ranked.where(~is_first).drop("_rank")


def split_known(unique: DataFrame, existing: DataFrame, keys: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """Separate rows already present in the target with identical content.

    Returns:
        ``(fresh, already_present)``: fresh rows are new keys or changed content.
    """
    known = existing.select(*keys, "_record_hash")
    on = [*keys, "_record_hash"]
    return unique.join(known, on=on, how="left_anti"), unique.join(known, on=on, how="left_semi")


def chain_versions(existing: DataFrame, fresh: DataFrame, *, entity_keys: Sequence[str],
                   columns: Sequence[str]) -> DataFrame:
    """All versions of the touched entities with ``known_to``/``is_current`` recomputed.

    Args:
        existing: current silver rows (any entities; only touched ones are used).
        fresh: new versions (silver columns); a fresh row replaces an existing
            row with the same entity keys and ``known_from``.
        entity_keys: keys of the entity without ``known_from`` (e.g. uscc, period).
        columns: the silver output columns.

    Returns:
        Rows to MERGE on ``entity_keys + known_from``, with ``columns``.
    """
    touched = fresh.select(*entity_keys).distinct()
    version_keys = [*entity_keys, "known_from"]
    kept = (existing.join(touched, on=list(entity_keys), how="left_semi")
            .join(fresh.select(*version_keys), on=version_keys, how="left_anti"))
    versions = kept.select(*columns).unionByName(fresh.select(*columns))
    by_entity = Window.partitionBy(*entity_keys).orderBy("known_from")
    next_known = F.lead("known_from").over(by_entity)
    return (versions
            .withColumn("known_to", next_known)
            .withColumn("is_current", next_known.isNull())
            .select(*columns))
