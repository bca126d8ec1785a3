"""The bench's maintenance step: reads of silver ``transactions`` before and after the weekly compaction.

Three reads the jobs make are timed (best of :data:`REPEATS`, each to a count or a small aggregate):

* ``feature window``: the feature build's read of the last 12 months (``txn_month`` and ``txn_date``
  filters), summed per enterprise;
* ``batch key range``: the rows of one day's ``txn_id`` range in the last month, as a batch's MERGE
  bounds silver (``jobs.ingest.batch``);
* ``one enterprise``: every transaction of one USCC, as a pre-loan assessment reads its applicant.

On two layouts of the same rows: the table as the bench's backfill wrote it (a few large batches),
and a copy laid out as the daily DAG runs leave it (one file per business date and month: each
daily MERGE inserts one). Each is compacted by ``jobs.maintenance.main.compact_table`` (the
table's Z-order, ``maintenance.optimize.max_file_bytes``) and read again; the content fingerprint
(row count and the sum of every row's hash) must not change. Afterwards the copy is deleted and the
table restored to its files as ingested (a RESTORE commit, same content).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from riskpipe.core.config import Settings
    from schemas.registry import TableSpec

TABLE = "transactions"
DAILY_COPY = "transactions_daily_layout"
REPEATS = 3
WINDOW_MONTHS = 12
# the daily-layout copy rewrites the whole table: up to 10,000 x 36 (23M transactions), not 100,000 x 36
DAILY_COPY_MAX_ROWS = 30_000_000


def _best_of(action) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(REPEATS):
        began = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - began)
    return min(times), value


def _reads(frame: DataFrame, probe: dict[str, Any]) -> dict[str, Any]:
    from pyspark.sql import functions as F

    window = frame.where(
        (F.col("txn_month") >= F.lit(probe["from_month"])) & (F.col("txn_date") >= F.lit(probe["from_date"]))
    )
    queries = {
        "feature window": lambda: window.groupBy("uscc").agg(F.sum("amount").alias("s")).count(),
        "batch key range": lambda: frame.where(
            (F.col("txn_month") == F.lit(probe["day_month"])) & F.col("txn_id").between(probe["lo"], probe["hi"])
        ).count(),
        "one enterprise": lambda: frame.where(F.col("uscc") == F.lit(probe["uscc"])).count(),
    }
    found = {}
    for name, query in queries.items():
        seconds, rows = _best_of(query)
        found[name] = {"seconds": round(seconds, 3), "rows": int(rows)}
    return found


def _probe(frame: DataFrame) -> dict[str, Any]:
    """The values the reads filter on, taken from the data: the last month, one day of it, one USCC."""
    import datetime as dt

    from pyspark.sql import functions as F

    last = frame.agg(F.max("txn_date").alias("d")).first()["d"]
    day = last - dt.timedelta(days=3)
    bounds = frame.where(F.col("txn_date") == F.lit(day)).agg(F.min("txn_id").alias("lo"), F.max("txn_id").alias("hi"))
    lo, hi = bounds.first()
    first = (last.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    for _ in range(WINDOW_MONTHS - 2):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    uscc = frame.where(F.col("txn_date") == F.lit(day)).select("uscc").orderBy("uscc").first()["uscc"]
    return {
        "from_month": first.strftime("%Y-%m"),
        "from_date": first.isoformat(),
        "day": day.isoformat(),
        "day_month": day.strftime("%Y-%m"),
        "lo": lo,
        "hi": hi,
        "uscc": uscc,
    }


def _fingerprint(frame: DataFrame) -> tuple[int, str]:
    from pyspark.sql import functions as F

    row = frame.agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.xxhash64(*frame.columns).cast("decimal(38,0)")).alias("h")
    ).first()
    return int(row["n"]), str(row["h"])


def _layout(spark: SparkSession, spec: TableSpec, label: str, probe: dict, settings: Settings) -> dict[str, Any]:
    from jobs.maintenance.main import compact_table
    from riskpipe.core import io

    frame = io.read(spark, spec, settings=settings)
    before = _fingerprint(frame)
    reads_before = _reads(frame, probe)
    began = time.perf_counter()
    compacted = compact_table(spark, spec, settings=settings, pinned={})
    optimize_s = time.perf_counter() - began
    frame = io.read(spark, spec, settings=settings)
    after = _fingerprint(frame)
    reads_after = _reads(frame, probe)
    return {
        "layout": label,
        "rows": before[0],
        "files_before": compacted["files_before"],
        "files_after": compacted.get("files_after", compacted["files_before"]),
        "optimize_s": round(optimize_s, 1),
        "content_unchanged": before == after,
        "reads": {name: {"before": reads_before[name], "after": reads_after[name]} for name in reads_before},
    }


def measure(spark: SparkSession, settings: Settings, *, progress=print) -> dict[str, Any]:
    """Compact silver ``transactions`` (and a daily-layout copy) and time the jobs' reads before and after."""

    from riskpipe.core import io
    from schemas.registry import get

    spec = get(TABLE)
    copy_spec = dataclasses.replace(spec, name=DAILY_COPY)
    source = io.read(spark, spec, settings=settings)
    probe = _probe(source)
    days = source.select("txn_date").distinct().count()
    targets = [("as the bench's backfill wrote it", spec)]
    if source.count() <= DAILY_COPY_MAX_ROWS:
        progress(f"maintenance: copying silver {TABLE} as daily runs lay it out ...")
        # one file per business date and month: the files a daily MERGE per day inserts
        io.append(source.repartitionByRange(days, "txn_date"), copy_spec, settings=settings)
        targets.append(("as daily runs write it", copy_spec))
    as_ingested = io.version(spark, spec, settings=settings)
    layouts = []
    try:
        for label, target in targets:
            progress(f"maintenance: reads, compaction, reads of {TABLE} {label} ...")
            layouts.append(_layout(spark, target, label, probe, settings))
    finally:
        # back to the files as ingested (same content): the step can be repeated, and a later stage
        # of a resumed bench reads what it would have read without it
        if io.version(spark, spec, settings=settings) != as_ingested:
            io.restore(spark, spec, as_ingested, settings=settings)
        path = io.table_path(copy_spec, settings=settings)
        if "://" not in path:
            shutil.rmtree(path, ignore_errors=True)
    result = {
        "table": f"silver.{TABLE}",
        "zorder_by": list(spec.zorder_by),
        "max_file_bytes": settings.maintenance.optimize.max_file_bytes,
        "business_dates": days,
        "probe": probe,
        "layouts": layouts,
    }
    progress(f"maintenance: {result}")
    if not all(layout["content_unchanged"] for layout in layouts):
        raise AssertionError(f"compaction changed the content of silver {TABLE}: {layouts}")
    return result
