"""Scoring throughput: the per-row rate of the scoring transform, apart from its fixed cost.

At benchmark sizes of a few hundred borrowers the ``score`` stage is all fixed cost (resolving the
model, starting the Python workers, loading the model in each, one Delta commit), so rows per
second of that stage says nothing about how fast scoring runs on a real portfolio. Here the
scored month-ends' feature rows are replicated (a cross join with a range, no driver-side
copy) to a few sizes (whole copies, as many distinct row counts as sizes), scored by
``jobs.scoring.main.score_frame`` through the champion's ``mlflow.pyfunc.spark_udf`` exactly as the
scoring job does, and written to Spark's ``noop`` sink. ``time = fixed + per_row × rows`` over
the sizes gives the marginal rate.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from riskpipe.core.config import Settings

DEFAULT_ROWS = (50_000, 200_000, 500_000)


def replicate(frame: DataFrame, rows: int, *, partitions: int) -> DataFrame:
    """``frame`` repeated until it holds at least ``rows`` rows, spread over ``partitions``.

    Every copy keeps its columns; ``uscc`` gets the copy number appended so the keys stay unique.
    """
    base = frame.count()
    if base == 0:
        raise ValueError("no feature rows to replicate")
    copies = spark_range(frame.sparkSession, math.ceil(rows / base), partitions)
    return (
        F.broadcast(frame)
        .crossJoin(copies)
        .withColumn("uscc", F.concat(F.col("uscc"), F.lit("#"), F.col("copy").cast("string")))
        .drop("copy")
    )


def copy_counts(base_rows: int, sizes: Sequence[int]) -> list[int]:
    """How many copies of the ``base_rows`` feature rows to score, one count per size.

    Each size is rounded up to whole copies. Sizes that round to the same count are measured
    once, and the largest count is doubled until there are as many counts as sizes: a
    portfolio whose one copy already exceeds every size (100,000 enterprises have about 690,000
    active borrower-months) would otherwise score the same rows three times, and a line
    through three equal row counts has no slope, so no marginal rate.
    """
    if base_rows <= 0:
        raise ValueError("no feature rows to replicate")
    counts = sorted({max(1, math.ceil(size / base_rows)) for size in sizes})
    while len(counts) < len(sizes):
        counts.append(2 * counts[-1])
    return counts


def spark_range(spark: SparkSession, n: int, partitions: int) -> DataFrame:
    return spark.range(0, n, numPartitions=partitions).withColumnRenamed("id", "copy")


def measure(
    spark: SparkSession,
    days: Sequence[dt.date],
    *,
    alias: str | None = None,
    sizes: Sequence[int] = DEFAULT_ROWS,
    settings: Settings,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Score replicated feature rows of ``days`` at each size; seconds and rows per size, and the fit.

    Returns:
        ``{"model": "name vN", "base_rows": n, "runs": [{"rows", "seconds", "rows_per_s"}],
        "fit": {"fixed", "per_row", "r2"}, "marginal_rows_per_s": float | None}``.
    """
    import mlflow.pyfunc

    from jobs.scoring.main import PREDICTION, resolve_model, score_frame
    from riskpipe.bench.fit import fit_line
    from riskpipe.core import io
    from riskpipe.core.calendar import snapshot_month

    # resolve_model reads the scoring alias from the settings when no alias is given (a champion exists)
    model = resolve_model(settings=settings, name=model_name, alias=alias)
    months = [snapshot_month(d) for d in days]
    features = (
        io.read(spark, "enterprise_features", settings=settings)
        .where(F.col("snapshot_month").isin(*months) & F.col("is_active_borrower"))
        .select("uscc", "snapshot_date", "snapshot_month", *model.features)
        .cache()
    )
    base_rows = features.count()
    predict = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=PREDICTION, env_manager="local")
    partitions = max(2, spark.sparkContext.defaultParallelism)
    runs = []
    try:
        # warm-up: the Python workers start and load the model once (the fixed cost of the stage)
        began = time.perf_counter()
        score_frame(features, predict=predict, model=model, features_version=0).write.format("noop").mode(
            "overwrite"
        ).save()
        warmup = time.perf_counter() - began
        for copies in copy_counts(base_rows, sizes):
            rows = base_rows * copies
            frame = replicate(features, rows, partitions=partitions)
            scored = score_frame(frame, predict=predict, model=model, features_version=0)
            began = time.perf_counter()
            scored.write.format("noop").mode("overwrite").save()
            seconds = time.perf_counter() - began
            runs.append({"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds})
    finally:
        features.unpersist()
    line = fit_line([r["rows"] for r in runs], [r["seconds"] for r in runs])
    marginal = 1.0 / line["per_row"] if line["per_row"] and line["per_row"] > 0 else None
    return {
        "model": f"{model.name} v{model.version}",
        "base_rows": base_rows,
        "partitions": partitions,
        "warmup_s": warmup,
        "runs": runs,
        "fit": line,
        "marginal_rows_per_s": marginal,
    }
