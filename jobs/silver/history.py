"""Deduplication and restatement history for silver tables.

Silver history tables keep one row per entity and *delivery* (``known_from``),
with ``known_to`` set to the next delivery's ``known_from`` and ``is_current``
on the latest, so features can ask what was known on any date D:
``known_from <= D AND (known_to IS NULL OR known_to > D)``. The chain is
recomputed over all versions of the entities a batch touches, so ingesting
deliveries in any order (a backfill after later months) gives the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

DUPLICATE, KNOWN, OWN = "_in_batch_duplicate", "_known", "_own_earlier_attempt"


def classify(valid: DataFrame, existing: DataFrame, keys: Sequence[str], *, batch_id: str | None) -> DataFrame:
    """Flag each valid row of a batch against itself and the silver table, in one pass.

    Of rows sharing ``keys`` within the batch, the last one in file order wins (a later line
    of the same delivery corrects an earlier one); the others are in-batch duplicates. A
    winning row is *known* when silver already holds its keys with the same
    ``_record_hash``, and *own* when that silver row came from this same ``batch_id`` (an
    earlier attempt of a retried batch published it).

    Args:
        valid: batch rows with ``keys``, ``_record_hash``, ``_source_file`` and ``_source_row``.
        existing: the silver table (``keys``, ``_record_hash``, ``_batch_id``).

    Returns:
        ``valid``'s columns plus booleans ``_in_batch_duplicate``, ``_known`` and
        ``_own_earlier_attempt`` (the last two are false on duplicates).
    """
    last_first = Window.partitionBy(*keys).orderBy(F.col("_source_file").desc(), F.col("_source_row").desc())
    ranked = valid.withColumn(DUPLICATE, F.row_number().over(last_first) > 1)
    own = F.col("_batch_id") == F.lit(batch_id) if batch_id is not None else F.lit(False)
    known = existing.select(*keys, "_record_hash", F.lit(True).alias(KNOWN), own.alias(OWN))
    joined = ranked.join(known, on=[*keys, "_record_hash"], how="left")
    is_known = ~F.col(DUPLICATE) & F.coalesce(F.col(KNOWN), F.lit(False))
    return joined.select(
        *valid.columns, DUPLICATE, is_known.alias(KNOWN), (is_known & F.coalesce(F.col(OWN), F.lit(False))).alias(OWN)
    )


def chain_versions(
    existing: DataFrame, fresh: DataFrame, *, entity_keys: Sequence[str], columns: Sequence[str]
) -> DataFrame:
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
    kept = existing.join(touched, on=list(entity_keys), how="left_semi").join(
        fresh.select(*version_keys), on=version_keys, how="left_anti"
    )
    versions = kept.select(*columns).unionByName(fresh.select(*columns))
    by_entity = Window.partitionBy(*entity_keys).orderBy("known_from")
    next_known = F.lead("known_from").over(by_entity)
    return versions.withColumn("known_to", next_known).withColumn("is_current", next_known.isNull()).select(*columns)
