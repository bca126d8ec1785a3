"""Small literal frames built in the JVM (snapshot dates, file delivery dates) and column helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F


def literal_frame(spark: SparkSession, rows: Sequence[dict[str, Column]]) -> DataFrame:
    """A small frame of literal rows (same keys in every row), built in the JVM.

    ``createDataFrame`` on a Python list goes through a Python RDD, so every query using it
    starts Python workers for a few rows (about 1 s of task time per use on 2 cores, the
    bulk of a one-month feature build's fixed cost); an inlined array of structs does not.
    """
    if not rows:
        raise ValueError("literal_frame needs at least one row")
    structs = [F.struct(*[value.alias(name) for name, value in row.items()]) for row in rows]
    return spark.range(0, 1, 1, numPartitions=1).select(F.inline(F.array(*structs)))


def names_where(checks: Iterable[tuple[str, Column]]) -> Column:
    """Array of the names whose condition is true, in order (empty when none; never null).

    A concatenation of one-element or empty arrays: ``filter(array, x -> x IS NOT NULL)``
    (and ``array_compact``, which is rewritten to it) is a lambda that Spark evaluates
    outside code generation together with every condition under it, which cost 3 µs per
    row on a batch of transactions.
    """
    empty = F.array().cast("array<string>")
    parts = [F.when(condition, F.array(F.lit(name))).otherwise(empty) for name, condition in checks]
    if not parts:
        return empty
    return F.concat(*parts) if len(parts) > 1 else parts[0]
