"""Load any snapshot table for training and split it out of time.

Input: one Delta or Parquet table with an id column, a snapshot-date column, numeric feature
columns and a binary label (optionally the label and exclusion flags come from a second table
joined on id and date). The Delta version read is resolved *before* reading and pinned, so the
logged version is exactly the data the model saw.

Selection and filtering run in Spark; the result is collected to the driver as pandas
(training runs on one machine). ``data.max_rows`` (default 2 million rows) guards the driver:
at ~30 float features that is about 0.5 GB of pandas memory. Sample the table upstream, or
raise the limit together with the driver memory, for bigger portfolios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from models.config import DataConfig

NUMERIC_TYPES = ("boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


@dataclass
class TrainingData:
    """Out-of-time split of the training table.

    Attributes:
        train: rows with ``date_col < split_date``; columns id, date, features, label.
        valid: rows with ``date_col >= split_date`` (the out-of-time sample).
        features: candidate feature columns, in table order.
        source: table, format, Delta version(s), row counts and default rates (for logging).
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    source: dict[str, Any] = field(default_factory=dict)


def resolve_location(table: str, settings: Any = None) -> str:
    """A declared table name -> its lakehouse path; a path or URI is returned unchanged."""
    if "/" in table or "://" in table:
        return table
    from riskpipe.io import table_path

    return table_path(table, settings)


def delta_version(spark: Any, location: str) -> int:
    """Latest committed version of the Delta table at ``location``."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, location):
        raise FileNotFoundError(f"no Delta table at {location}")
    return int(DeltaTable.forPath(spark, location).history(1).select("version").collect()[0][0])


def read_pinned(spark: Any, location: str, fmt: str, version: int | None) -> tuple[Any, int | None]:
    """Read ``location``; for Delta, at ``version`` (default: the latest, resolved first).

    Returns:
        ``(DataFrame, version)``; the version is None for Parquet.
    """
    if fmt == "parquet":
        return spark.read.parquet(location), None
    pinned = delta_version(spark, location) if version is None else int(version)
    return spark.read.format("delta").option("versionAsOf", pinned).load(location), pinned


def numeric_features(df: Any, config: DataConfig) -> list[str]:
    """Feature columns: the configured list, or every numeric column not excluded.

    Raises:
        ValueError: when a configured feature is missing or is a policy-context column
            (``data.policy_context_cols``, e.g. the government recommendation).
    """
    reserved = {config.id_col, config.date_col, config.label_col, *config.exclude_cols,
                *config.exclusion_flags, *config.policy_context_cols}
    if config.features:
        policy = [c for c in config.features if c in config.policy_context_cols]
        if policy:
            raise ValueError(f"features {policy} are policy context (data.policy_context_cols), not risk "
                             "drivers of the bank's own PD; remove them from data.features or from "
                             "data.policy_context_cols")
        missing = [c for c in config.features if c not in df.columns]
        if missing:
            raise ValueError(f"features not in the table: {missing}; columns: {df.columns}")
        return list(config.features)
    types = dict(df.dtypes)
    found = [c for c in df.columns if c not in reserved and types[c].startswith(NUMERIC_TYPES)]
    if not found:
        raise ValueError(f"no numeric feature columns found in {df.columns}")
    return found


def modelling_frame(df: Any, *, config: DataConfig, features: list[str]) -> Any:
    """Drop excluded rows and rows without an outcome; keep id, date, features and label.

    Output columns: ``id_col``, ``date_col`` (date), features (double), ``label_col`` (int 0/1).
    """
    from pyspark.sql import functions as F

    for column in (config.id_col, config.date_col, config.label_col):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not in the table; columns: {df.columns}")
    for flag in config.exclusion_flags:
        if flag in df.columns:
            is_excluded = F.coalesce(F.col(flag).cast("boolean"), F.lit(False))
            df = df.filter(~is_excluded)
    has_outcome = F.col(config.label_col).isNotNull()
    return df.filter(has_outcome).select(
        F.col(config.id_col).cast("string").alias(config.id_col),
        F.to_date(F.col(config.date_col)).alias(config.date_col),
        *[F.col(c).cast("double").alias(c) for c in features],
        F.col(config.label_col).cast("int").alias(config.label_col),
    )


def out_of_time_split(frame: pd.DataFrame, *, date_col: str, split_date: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on snapshots before ``split_date``, validate on snapshots on or after it (never random).

    Raises:
        ValueError: when either side is empty or has no defaults.
    """
    split = pd.Timestamp(split_date)
    dates = pd.to_datetime(frame[date_col])
    train, valid = frame[dates < split], frame[dates >= split]
    for name, part in (("train", train), ("validation", valid)):
        if part.empty:
            raise ValueError(f"{name} sample is empty for split_date={split_date} "
                             f"(snapshots {dates.min().date()}..{dates.max().date()})")
    return train.reset_index(drop=True), valid.reset_index(drop=True)


def read_modelling_frame(config: DataConfig, *, spark: Any, settings: Any = None,
                         row_filter: Callable[[Any], Any] | None = None) -> tuple[Any, list[str], dict]:
    """Read the table (and the label table) at pinned versions and select the modelling rows, in Spark.

    Args:
        row_filter: optional ``DataFrame -> DataFrame`` applied to the joined table before the
            selection (e.g. model monitoring keeps the population that is scored).

    Returns:
        ``(DataFrame, features, source)``: the :func:`modelling_frame` output (not collected),
        the feature columns, and the source (table, location, format, Delta version(s)).
    """
    location = resolve_location(config.table, settings)
    df, version = read_pinned(spark, location, config.format, config.version)
    source: dict[str, Any] = {"table": config.table, "location": location, "format": config.format,
                              "version": version}
    if config.label_table:
        label_location = resolve_location(config.label_table, settings)
        labels, label_version = read_pinned(spark, label_location, config.format, config.label_version)
        keep = [config.id_col, config.date_col, config.label_col,
                *[c for c in config.exclusion_flags if c in labels.columns]]
        df = df.drop(*[c for c in keep[2:] if c in df.columns]).join(
            labels.select(*keep), on=[config.id_col, config.date_col], how="inner")
        source.update(label_table=config.label_table, label_location=label_location,
                      label_version=label_version)
    features = numeric_features(df, config)
    if row_filter is not None:
        df = row_filter(df)
    return modelling_frame(df, config=config, features=features), features, source


def load_training_data(config: DataConfig, *, spark: Any = None, settings: Any = None) -> TrainingData:
    """Read, filter, collect and split the training table.

    Args:
        config: the ``models.data`` section.
        spark: a SparkSession; :func:`riskpipe.spark.get_spark` when None.

    Raises:
        ValueError: for missing columns, a non-binary label, too many rows or an empty split.
    """
    if spark is None:
        from riskpipe.spark import get_spark

        spark = get_spark(settings, app_name="riskpipe-train")
    frame_df, features, source = read_modelling_frame(config, spark=spark, settings=settings)
    rows = frame_df.count()
    if rows > config.max_rows:
        raise ValueError(f"{rows} rows exceed data.max_rows={config.max_rows}; sample the table "
                         "upstream or raise the limit together with the driver memory")
    frame = frame_df.toPandas()
    labels_seen = set(frame[config.label_col].unique())
    if not labels_seen <= {0, 1} or len(labels_seen) < 2:
        raise ValueError(f"label {config.label_col!r} must be binary 0/1 with both classes, got {labels_seen}")
    # Spark returns rows in file order; sort so a data version always gives the same frame.
    frame = frame.sort_values([config.date_col, config.id_col], kind="mergesort").reset_index(drop=True)
    train, valid = out_of_time_split(frame, date_col=config.date_col, split_date=config.split_date)
    source.update(split_date=config.split_date, rows_train=len(train), rows_valid=len(valid),
                  default_rate_train=float(train[config.label_col].mean()),
                  default_rate_valid=float(valid[config.label_col].mean()),
                  snapshots=f"{frame[config.date_col].min()}..{frame[config.date_col].max()}")
    return TrainingData(train=train, valid=valid, features=features, source=source)
