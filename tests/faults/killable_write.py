"""A Spark append of many files whose last task stalls: run it, then kill it mid-write.

``python -m tests.faults.killable_write TABLE ROWS PARTITIONS OFFSET STALL_S`` appends
``ROWS`` synthetic rows of the declared ``TABLE`` in ``PARTITIONS`` files to the lakehouse of
``RISKPIPE_LAKEHOUSE``. The task of the last partition sleeps ``STALL_S`` seconds before
writing, so the other files are in the table folder long before the commit is attempted.
"""

from __future__ import annotations

import sys
import time

from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from riskpipe.core import io
from riskpipe.core.config import load_settings
from riskpipe.core.spark import get_spark
from tests.faults.data import synthetic


def _stall(last_id: int, seconds: float):
    """Identity on ids that sleeps once, on the last id (in the last partition)."""

    def stall(value: int) -> int:
        if value == last_id:
            time.sleep(seconds)
        return value

    return F.udf(stall, LongType()).asNondeterministic()


def main(argv: list[str]) -> int:
    table, rows, partitions, offset, stall_s = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    settings = load_settings()
    spark = get_spark(settings=settings, app_name="riskpipe-killable-write")
    ids = spark.range(offset, offset + rows, numPartitions=partitions)
    ids = ids.select(_stall(offset + rows - 1, stall_s)(F.col("id")).alias("id"))
    io.append(synthetic(spark, table, rows, ids=ids), table, settings=settings)
    print("committed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
