"""Order-independent aggregates for gold tables that are rewritten only when their content changes.

Spark adds the rows of a group in whatever order its partitions arrive, and a double sum depends on
that order in its last bits. Tables written with :func:`riskpipe.core.io.replace_partition` compare the
new rows with the stored ones, so a rerun must produce bit-identical values or it commits a
spurious new version (and a Change Data Feed update) although nothing changed.
"""

from __future__ import annotations

from pyspark.sql import Column, WindowSpec
from pyspark.sql import functions as F

# 20 integer digits (CNY amounts up to 1e20) and 18 decimals (PDs, shares)
EXACT = "decimal(38,18)"


def exact_sum(value: Column | str, over: WindowSpec | None = None) -> Column:
    """Sum of doubles through decimals, returned as double: the same result in any row order.

    Args:
        value: the column to add up.
        over: a window to sum over instead of the group.
    """
    column = F.col(value) if isinstance(value, str) else value
    total = F.sum(column.cast(EXACT))
    return (total if over is None else total.over(over)).cast("double")
