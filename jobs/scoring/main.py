"""Monthly scoring: every active borrower of a snapshot, by the champion model, into ``risk_scores``.

The alias (``champion``) is resolved to a version once per run and the model is loaded by
that version (``models:/NAME/VERSION``), so a promotion during the run cannot mix two
models in one snapshot. Scoring is distributed: the model runs inside
``mlflow.pyfunc.spark_udf`` on the executors and nothing is collected to the driver.
The features are read at a pinned Delta version, recorded in every row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from riskpipe.core import io
from riskpipe.core.calendar import AsOf, snapshot_month, to_snapshots
from riskpipe.core.config import Settings
from schemas.gold_scores import RISK_SCORES

# numpy's vectorised arithmetic can differ in the last bit with the size of the batch the UDF
# gets; rounding keeps a rerun of the same snapshot identical (and so a no-op commit-wise)
PD_DECIMALS = 12
PREDICTION = StructType(
    [
        StructField("pd", DoubleType()),
        StructField("score", DoubleType()),
        StructField("grade", StringType()),
        StructField("reason_1", StringType()),
        StructField("reason_2", StringType()),
        StructField("reason_3", StringType()),
    ]
)


@dataclass(frozen=True)
class ResolvedModel:
    """A registered model version behind an alias."""

    name: str
    version: str
    alias: str | None
    features: list[str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def resolve_model(
    *, settings: Settings, name: str | None = None, alias: str | None = None, version: str | None = None
) -> ResolvedModel:
    """Resolve ``name@alias`` (default: the configured model and scoring alias) to one version.

    Raises:
        LookupError: when the alias is not set (no model promoted yet).
    """
    from mlflow.models import get_model_info

    from models.config import model_config
    from models.registry import alias_version, client

    config = model_config(settings, {"name": name} if name else {})
    client(config)  # points MLflow at the configured tracking and registry store
    alias = None if version else (alias or settings.scoring.alias)
    if version is None:
        version = alias_version(config, alias)
        if version is None:
            raise LookupError(
                f"model {config.name!r} has no version with alias {alias!r}: train and promote "
                f"one first (riskpipe train; riskpipe promote)"
            )
    info = get_model_info(f"models:/{config.name}/{version}")
    features = info.signature.inputs.input_names() if info.signature else []
    return ResolvedModel(config.name, str(version), alias, list(features))


def score_frame(features: DataFrame, *, predict: Any, model: ResolvedModel, features_version: int) -> DataFrame:
    """Score a features frame.

    Args:
        features: ``enterprise_features`` rows (uscc, snapshot_date, snapshot_month and the model's
            feature columns).
        predict: a Spark UDF taking one struct of the model's features (as doubles) and returning
            :data:`PREDICTION` (``mlflow.pyfunc.spark_udf``).
        model: the resolved model version.
        features_version: Delta version of ``enterprise_features`` that ``features`` was read at.

    Returns:
        The ``risk_scores`` columns.
    """
    inputs = F.struct(*[F.col(c).cast("double").alias(c) for c in model.features])
    return (
        features.withColumn("p", predict(inputs))
        .select(
            "uscc",
            "snapshot_date",
            "snapshot_month",
            F.round(F.col("p.pd"), PD_DECIMALS).alias("pd"),
            F.col("p.score").alias("score"),
            F.col("p.grade").alias("grade"),
            F.col("p.grade").cast("int").alias("grade_num"),
            F.col("p.reason_1").alias("reason_1"),
            F.col("p.reason_2").alias("reason_2"),
            F.col("p.reason_3").alias("reason_3"),
            F.lit(model.name).alias("model_name"),
            F.lit(model.version).alias("model_version"),
            F.lit(model.alias).cast("string").alias("model_alias"),
            F.lit(features_version).cast("long").alias("features_version"),
        )
        .select(*RISK_SCORES.columns)
    )


def _months(days: list[dt.date]) -> str:
    return ", ".join(f"'{snapshot_month(d)}'" for d in days)


def _selection(days: list[dt.date], active_only: bool) -> Column:
    condition = F.col("snapshot_month").isin(*[snapshot_month(d) for d in days])
    return condition & F.col("is_active_borrower") if active_only else condition


def run(
    as_of: AsOf,
    *,
    settings: Settings,
    spark: SparkSession,
    model_name: str | None = None,
    alias: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Score snapshot(s) ``as_of`` (month-ends) into ``risk_scores``, replacing their months in one commit.

    Several snapshots (a backfill) are scored in one distributed pass by the same model version.

    Returns:
        Summary: snapshots, rows, model name/version, features version, whether a version was committed.
    """
    import mlflow.pyfunc

    days = to_snapshots(as_of)
    model = resolve_model(settings=settings, name=model_name, alias=alias, version=version)
    features_version = io.version(spark, "enterprise_features", settings=settings)
    active_only = settings.scoring.active_only
    features = io.read(spark, "enterprise_features", version=features_version, settings=settings).where(
        _selection(days, active_only)
    )
    found = {r["snapshot_month"] for r in features.select("snapshot_month").distinct().collect()}
    missing = [d.isoformat() for d in days if snapshot_month(d) not in found]
    if missing:
        raise ValueError(
            f"enterprise_features has no {'active ' if active_only else ''}rows for snapshot(s) "
            f"{missing}; build the features first (riskpipe features build --as-of {missing[0]})"
        )
    predict = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=PREDICTION, env_manager="local")
    scores = score_frame(features, predict=predict, model=model, features_version=features_version).cache()
    try:
        rows = scores.count()
        committed = io.replace_partition(scores, RISK_SCORES, f"snapshot_month IN ({_months(days)})", settings=settings)
    finally:
        scores.unpersist()
    return {
        "snapshot_dates": [d.isoformat() for d in days],
        "rows": rows,
        "model_name": model.name,
        "model_version": model.version,
        "features_version": features_version,
        "committed": committed,
    }
