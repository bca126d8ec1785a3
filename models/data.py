"""Load any snapshot table for training and split it out of time.

Input: one Delta or Parquet table with an id column, a snapshot-date column, feature columns
and a binary label (optionally the label and exclusion flags come from a second table joined
on id and date). Numeric columns become numeric features (doubles); string columns become
categorical features (strings; blank strings count as missing). What every column was used
for, or why it was not, is the *column roles* table (:func:`column_roles`,
:func:`screen_features`), logged with each model as ``evaluation/columns.csv``. The Delta
version read is resolved *before* reading and pinned, so the logged version is exactly the
data the model saw.

Selection and filtering run in Spark; the result is collected to the driver as pandas
(training runs on one machine). ``data.max_rows`` (default 2 million rows) guards the driver:
at ~30 float features that is about 0.5 GB of pandas memory. Sample the table upstream, or
raise the limit together with the driver memory, for bigger portfolios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.config import DataConfig

if TYPE_CHECKING:
    from riskpipe.core.config import Settings

NUMERIC_TYPES = ("boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
STRING_TYPES = ("string", "varchar", "char")
FEATURE_ROLES = ("numeric", "categorical")
ROLE_COLUMNS = ["column", "type", "role", "reason"]


@dataclass
class TrainingData:
    """Out-of-time split of the training table.

    Attributes:
        train: rows with ``date_col < split_date``; columns id, date, features, label.
        valid: rows with ``date_col >= split_date`` (the out-of-time sample).
        features: candidate feature columns, in table order; numeric ones are doubles,
            categorical ones strings (object dtype, None when missing).
        source: table, format, Delta version(s), row counts and default rates (for logging).
        columns: the column roles (:func:`screen_features`): column, type, role, reason;
            None when the frames were built without reading a table.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    source: dict[str, Any] = field(default_factory=dict)
    columns: pd.DataFrame | None = None


def resolve_location(table: str, settings: Settings) -> str:
    """A declared table name -> its lakehouse path; a path or URI is returned unchanged."""
    if "/" in table or "://" in table:
        return table
    from riskpipe.core.io import table_path

    return table_path(table, settings=settings)


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


def _role(name: str, dtype: str, config: DataConfig) -> tuple[str, str]:
    """``(role, reason)`` of one column from its name, Spark type and the configuration."""
    categorical = config.categorical_features
    if name == config.id_col:
        return "id", "entity id (data.id_col)"
    if name == config.date_col:
        return "date", "snapshot date (data.date_col)"
    if name == config.label_col:
        return "label", "label (data.label_col)"
    if name in config.exclusion_flags:
        return "exclusion_flag", "rows where true are dropped (data.exclusion_flags)"
    if name in config.population_flags:
        return "population_flag", "rows where not true are dropped (data.population_flags)"
    if name in config.policy_context_cols:
        return "dropped", "policy context, not a risk driver of the PD (data.policy_context_cols)"
    if name in config.exclude_cols:
        return "dropped", "excluded by config (data.exclude_cols)"
    if config.features and name not in config.features:
        return "dropped", "not in data.features"
    base = dtype.split("(", 1)[0]  # decimal(10,2), varchar(20)
    is_string, is_numeric = base in STRING_TYPES, base in NUMERIC_TYPES
    if categorical is not None and name in categorical and (is_string or is_numeric):
        return "categorical", "listed in data.categorical_features"
    if is_string:
        if categorical is None:
            return "categorical", "string column"
        return "dropped", "string column not in data.categorical_features"
    if is_numeric:
        return "numeric", "numeric column"
    return "dropped", f"unsupported type {dtype}"


def column_roles(dtypes: list[tuple[str, str]], config: DataConfig) -> pd.DataFrame:
    """What each column of the table is for, from its Spark type and the configuration.

    Args:
        dtypes: ``DataFrame.dtypes`` of the (joined) table: ``(name, Spark type)`` pairs.

    Returns:
        One row per column, in table order: ``column``, ``type``, ``role`` (``id``, ``date``,
        ``label``, ``exclusion_flag``, ``numeric``, ``categorical`` or ``dropped``) and
        ``reason``. Numeric and boolean columns are numeric features, string columns
        categorical (``data.categorical_features``: None = every string column); ``id``,
        ``date``, ``label``, flags, ``data.exclude_cols`` and other types (date, timestamp,
        array, map, struct, binary) are not features.

    Raises:
        ValueError: when a configured feature or categorical feature is not in the table, is
            excluded by ``data.exclude_cols``, or cannot be a feature (a reserved column, an
            unsupported type, a string column left out of ``data.categorical_features``).
    """
    types = dict(dtypes)
    listed = {
        "data.features": tuple(config.features),
        "data.categorical_features": tuple(config.categorical_features or ()),
    }
    for key, names in listed.items():
        missing = [c for c in names if c not in types]
        if missing:
            raise ValueError(f"{key}: {missing} not in the table; columns: {list(types)}")
        excluded = [c for c in names if c in config.exclude_cols]
        if excluded:
            raise ValueError(f"{key}: {excluded} are also in data.exclude_cols (never features)")
        policy = [c for c in names if c in config.policy_context_cols]
        if policy:
            raise ValueError(
                f"{key}: {policy} are policy context (data.policy_context_cols), not risk drivers "
                "of the bank's own PD; remove them from the features or from data.policy_context_cols"
            )
    frame = pd.DataFrame([(name, dtype, *_role(name, dtype, config)) for name, dtype in dtypes], columns=ROLE_COLUMNS)
    listed_names = {*listed["data.features"], *listed["data.categorical_features"]}
    refused = frame[frame["column"].isin(listed_names) & ~frame["role"].isin(FEATURE_ROLES)]
    if len(refused):
        raise ValueError(
            "configured features that cannot be features: "
            + "; ".join(f"{r.column} ({r.type}): {r.reason}" for r in refused.itertuples())
        )
    return frame


def features_of(roles: pd.DataFrame, role: str | None = None) -> list[str]:
    """Feature columns of a roles table (numeric and categorical, or one of them), in table order."""
    kept = roles["role"].isin(FEATURE_ROLES) if role is None else roles["role"] == role
    return roles.loc[kept, "column"].tolist()


def screen_features(frame: pd.DataFrame, roles: pd.DataFrame, *, max_categories: int) -> pd.DataFrame:
    """Drop features the collected modelling rows cannot support.

    A feature with no values, or a single value, in ``frame`` is dropped (``constant``); a
    categorical feature with more than ``max_categories`` distinct values is dropped
    (``too many categories``: an identifier or free text, not a risk driver).

    Returns:
        ``roles`` with those rows turned into ``dropped`` and the reason given.
    """
    roles = roles.copy()
    for i in roles.index[roles["role"].isin(FEATURE_ROLES)]:
        column, role = roles.at[i, "column"], roles.at[i, "role"]
        distinct = int(frame[column].nunique(dropna=True))
        reason = None
        if distinct == 0:
            reason = "no values in the modelling rows"
        elif distinct == 1:
            reason = "constant (one value in the modelling rows)"
        elif role == "categorical" and distinct > max_categories:
            reason = f"too many categories ({distinct} > data.max_categories {max_categories})"
        if reason is not None:
            roles.loc[i, ["role", "reason"]] = ["dropped", reason]
    return roles


def modelling_frame(
    df: Any, *, config: DataConfig, features: list[str], categorical: list[str] | tuple[str, ...] = ()
) -> Any:
    """Drop excluded rows, rows outside the population and rows without an outcome; keep id, date,
    features and label.

    Output columns: ``id_col``, ``date_col`` (date), features (double; those in ``categorical``
    string, trimmed, blank = null), ``label_col`` (int 0/1).
    """
    from pyspark.sql import functions as F

    for column in (config.id_col, config.date_col, config.label_col):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not in the table; columns: {df.columns}")
    for flag in config.exclusion_flags:
        if flag in df.columns:
            is_excluded = F.coalesce(F.col(flag).cast("boolean"), F.lit(False))
            df = df.filter(~is_excluded)
    for flag in config.population_flags:
        if flag not in df.columns:
            raise ValueError(f"data.population_flags: {flag!r} not in the table; columns: {df.columns}")
        in_population = F.coalesce(F.col(flag).cast("boolean"), F.lit(False))
        df = df.filter(in_population)
    has_outcome = F.col(config.label_col).isNotNull()

    def as_feature(column: str) -> Any:
        if column not in categorical:
            return F.col(column).cast("double").alias(column)
        text = F.trim(F.col(column).cast("string"))  # spaces, as models.scorecard.as_category
        has_text = text != ""
        return F.when(has_text, text).alias(column)

    return df.filter(has_outcome).select(
        F.col(config.id_col).cast("string").alias(config.id_col),
        F.to_date(F.col(config.date_col)).alias(config.date_col),
        *[as_feature(c) for c in features],
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
            raise ValueError(
                f"{name} sample is empty for split_date={split_date} "
                f"(snapshots {dates.min().date()}..{dates.max().date()})"
            )
    return train.reset_index(drop=True), valid.reset_index(drop=True)


def _read_modelling_frame(
    config: DataConfig, *, spark: Any, settings: Settings, row_filter: Callable[[Any], Any] | None = None
) -> tuple[Any, pd.DataFrame, dict]:
    """:func:`read_modelling_frame` with the column roles instead of the feature list."""
    location = resolve_location(config.table, settings)
    df, version = read_pinned(spark, location, config.format, config.version)
    source: dict[str, Any] = {"table": config.table, "location": location, "format": config.format, "version": version}
    if config.label_table:
        label_location = resolve_location(config.label_table, settings)
        labels, label_version = read_pinned(spark, label_location, config.format, config.label_version)
        keep = [
            config.id_col,
            config.date_col,
            config.label_col,
            *[c for c in config.exclusion_flags if c in labels.columns],
        ]
        df = df.drop(*[c for c in keep[2:] if c in df.columns]).join(
            labels.select(*keep), on=[config.id_col, config.date_col], how="inner"
        )
        source.update(label_table=config.label_table, label_location=label_location, label_version=label_version)
    roles = column_roles(df.dtypes, config)
    if row_filter is not None:
        df = row_filter(df)
    frame = modelling_frame(
        df, config=config, features=features_of(roles), categorical=features_of(roles, "categorical")
    )
    return frame, roles, source


def read_modelling_frame(
    config: DataConfig, *, spark: Any, settings: Settings, row_filter: Callable[[Any], Any] | None = None
) -> tuple[Any, list[str], dict]:
    """Read the table (and the label table) at pinned versions and select the modelling rows, in Spark.

    Args:
        row_filter: optional ``DataFrame -> DataFrame`` applied to the joined table before the
            selection (e.g. model monitoring keeps the population that is scored).

    Returns:
        ``(DataFrame, features, source)``: the :func:`modelling_frame` output (not collected),
        the feature columns (:func:`column_roles`, before :func:`screen_features`), and the
        source (table, location, format, Delta version(s)).
    """
    frame, roles, source = _read_modelling_frame(config, spark=spark, settings=settings, row_filter=row_filter)
    return frame, features_of(roles), source


def load_training_data(config: DataConfig, *, spark: Any, settings: Settings) -> TrainingData:
    """Read, filter, collect, screen and split the training table.

    Args:
        config: the ``models.data`` section.
        spark: the SparkSession that reads the table.
        settings: resolve a declared table name to its lakehouse path.

    Raises:
        ValueError: for missing columns, a non-binary label, too many rows, no usable feature
            or an empty split.
    """
    frame_df, roles, source = _read_modelling_frame(config, spark=spark, settings=settings)
    rows = frame_df.count()
    if rows > config.max_rows:
        raise ValueError(
            f"{rows} rows exceed data.max_rows={config.max_rows}; sample the table "
            "upstream or raise the limit together with the driver memory"
        )
    frame = frame_df.toPandas()
    labels_seen = set(frame[config.label_col].unique())
    if not labels_seen <= {0, 1} or len(labels_seen) < 2:
        raise ValueError(f"label {config.label_col!r} must be binary 0/1 with both classes, got {labels_seen}")
    roles = screen_features(frame, roles, max_categories=config.max_categories)
    features = features_of(roles)
    if not features:
        raise ValueError(
            "no usable feature column: " + "; ".join(f"{r.column}: {r.reason}" for r in roles.itertuples())
        )
    frame = frame[[config.id_col, config.date_col, *features, config.label_col]]
    # Spark returns rows in file order; sort so a data version always gives the same frame.
    frame = frame.sort_values([config.date_col, config.id_col], kind="mergesort").reset_index(drop=True)
    train, valid = out_of_time_split(frame, date_col=config.date_col, split_date=config.split_date)
    source.update(
        split_date=config.split_date,
        rows_train=len(train),
        rows_valid=len(valid),
        default_rate_train=float(train[config.label_col].mean()),
        default_rate_valid=float(valid[config.label_col].mean()),
        snapshots=f"{frame[config.date_col].min()}..{frame[config.date_col].max()}",
        features_numeric=len(features_of(roles, "numeric")),
        features_categorical=len(features_of(roles, "categorical")),
    )
    return TrainingData(train=train, valid=valid, features=features, source=source, columns=roles)


def column_report(roles: pd.DataFrame, iv: pd.DataFrame | None) -> pd.DataFrame:
    """The column roles with the scorecard's verdict on each feature (``evaluation/columns.csv``).

    Args:
        roles: :func:`screen_features` output.
        iv: the scorecard's IV table (:func:`models.scorecard.fit_scorecard`: feature, iv,
            selected, reason and, after the sign check, in_model), or None.

    Returns:
        ``column``, ``type``, ``role``, ``reason``, ``iv`` (features only) and ``scorecard``:
        ``in model``, or why the scorecard left the feature out (IV below ``min_iv``, wrong
        coefficient sign, too few observed values); empty for other columns.
    """
    report = roles.copy()
    report["iv"], report["scorecard"] = np.nan, ""
    if iv is None:
        return report
    verdicts = iv.set_index("feature")
    kept = verdicts["in_model"] if "in_model" in verdicts else verdicts["selected"]
    for i in report.index[report["column"].isin(verdicts.index)]:
        feature = report.at[i, "column"]
        report.at[i, "iv"] = float(verdicts.at[feature, "iv"])
        report.at[i, "scorecard"] = "in model" if bool(kept[feature]) else str(verdicts.at[feature, "reason"])
    return report
