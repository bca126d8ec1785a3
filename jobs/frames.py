"""Small literal frames built in the JVM (snapshot dates, file delivery dates)."""

from __future__ import annotations

from collections.abc import Sequence

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
