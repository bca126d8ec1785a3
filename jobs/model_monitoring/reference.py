"""The training reference of a model version: PSI bins of its score and features on its training sample.

The training sample is rebuilt from what training logged to MLflow: the parent run's
``data.source.*`` params (table, format, pinned Delta version, label table and its version,
split date) and the model run's ``data.*`` params (id, date and label columns, exclusion
flags). It is read at exactly those versions with the training code's own selection
(:func:`models.data.read_modelling_frame`), restricted by default to the population scoring
applies the model to (active borrowers), cut at the split date, scored by the version in
Spark (:func:`jobs.scoring.main.score_frame`) and binned. The bins are stored once per version in
``monitoring_reference``: later months read them, so they never depend on the training
table's Delta history still being there (``VACUUM``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.model_monitoring.metrics import MonitoringConfig, bin_counts, bin_table, quantiles
from riskpipe.core import io
from riskpipe.core.config import Settings
from schemas.gold_monitoring import MONITORING_REFERENCE

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
ACTIVE = "is_active_borrower"  # the column scoring selects on (scoring.active_only)


def version_condition(name: str, version: str) -> str:
    """SQL condition selecting one model version's rows (names are checked: they go into SQL)."""
    for value in (name, version):
        if not SAFE_NAME.match(str(value)):
            raise ValueError(f"model name/version {value!r} has characters other than letters, digits, _ . -")
    return f"model_name = '{name}' AND model_version = '{version}'"


def _value(params: dict[str, str], key: str) -> str | None:
    value = params.get(key)
    return None if value in (None, "", "None") else value


def training_data_config(
    settings: Settings, name: str, version: str, features: list[str], *, mlflow_client: Any = None
) -> tuple[Any, dict]:
    """The :class:`models.config.DataConfig` that reproduces the training sample of ``name`` v``version``.

    Args:
        mlflow_client: the registry's client (default: the one of the settings' model configuration).

    Returns:
        ``(DataConfig, source)``: source holds the run id and what was read (for the reference rows).

    Raises:
        LookupError: when the run did not log a pinned Delta version of its training table.
    """
    from models.config import DataConfig, model_config
    from models.registry import client

    mlflow_client = mlflow_client or client(model_config(settings, {"name": name}))
    run = mlflow_client.get_run(mlflow_client.get_model_version(name, str(version)).run_id)
    params, tags = dict(run.data.params), dict(run.data.tags)
    parent_id = tags.get("mlflow.parentRunId")
    source = {
        k.removeprefix("data.source."): v
        for k, v in (mlflow_client.get_run(parent_id).data.params if parent_id else {}).items()
        if k.startswith("data.source.")
    }
    table = _value(source, "table") or _value(params, "data.table")
    data_format = _value(source, "format") or _value(params, "data.format") or "delta"
    data_version = _value(source, "version") or _value(tags, "data.version")
    if table is None or (data_format == "delta" and data_version is None):
        raise LookupError(
            f"{name} v{version} (run {run.info.run_id}) logged no training table and Delta "
            "version: its training sample cannot be rebuilt"
        )
    label_table = _value(source, "label_table") or _value(params, "data.label_table")
    label_version = _value(source, "label_version")
    flags = _value(params, "data.exclusion_flags")
    population = _value(params, "data.population_flags")  # absent for versions trained before it existed
    config = DataConfig(
        table=table,
        format=data_format,
        version=int(data_version) if data_version else None,
        label_table=label_table,
        label_version=int(label_version) if label_version else None,
        id_col=_value(params, "data.id_col") or "uscc",
        date_col=_value(params, "data.date_col") or "snapshot_date",
        label_col=_value(params, "data.label_col") or "default_12m",
        features=tuple(features),
        exclusion_flags=tuple(ast.literal_eval(flags)) if flags else DataConfig().exclusion_flags,
        population_flags=tuple(ast.literal_eval(population)) if population else (),
        policy_context_cols=(),  # the version's own features, whatever the profile says today
        split_date=_value(source, "split_date") or _value(params, "data.split_date") or DataConfig().split_date,
    )
    described = {
        "run_id": run.info.run_id,
        "table": table,
        "version": config.version,
        "label_table": label_table,
        "label_version": config.label_version,
        "split_date": config.split_date,
    }
    return config, described


def scored_population(settings: Settings, config: MonitoringConfig) -> Callable[[DataFrame], DataFrame] | None:
    """Row filter keeping the training rows of the population scoring applies the model to.

    Scoring keeps active borrowers (``scoring.active_only``); a training table may hold every
    enterprise. Comparing borrowers with everyone would show "drift" that is only a difference
    of populations, so the reference keeps the borrowers too (``monitoring.psi.reference_population``).
    """
    active_only = settings.scoring.active_only
    if config.reference_population == "training" or not active_only:
        return None

    def keep_active(table: DataFrame) -> DataFrame:
        return table.where(F.col(ACTIVE)) if ACTIVE in table.columns else table

    return keep_active


def training_sample(
    spark: SparkSession, config: Any, *, settings: Settings, row_filter: Callable[[DataFrame], DataFrame] | None = None
) -> DataFrame:
    """The training rows (snapshots before ``config.split_date``), as the training code selects them.

    Args:
        row_filter: optional restriction of the table's rows (:func:`scored_population`).

    Returns:
        ``uscc``, ``snapshot_date``, ``snapshot_month`` and the feature columns (doubles).
    """
    from models.data import read_modelling_frame

    frame, features, _ = read_modelling_frame(config, spark=spark, settings=settings, row_filter=row_filter)
    before_split = F.col(config.date_col) < F.to_date(F.lit(config.split_date))
    return frame.where(before_split).select(
        F.col(config.id_col).alias("uscc"),
        F.col(config.date_col).alias("snapshot_date"),
        F.date_format(F.col(config.date_col), "yyyy-MM").alias("snapshot_month"),
        *features,
    )


def subject_bins(frame: DataFrame, subjects: list[str], bins: int) -> dict[str, pd.DataFrame]:
    """Quantile edges of each subject on ``frame`` and its rows per bin: subject -> :func:`bin_table`."""
    found = quantiles(frame, subjects, bins).collect()[0]
    edges = {s: [float(v) for v in np.unique([q for q in (found[s] or []) if q is not None])] for s in subjects}
    counts: dict[str, dict[int, int]] = {s: {} for s in subjects}
    for row in bin_counts(frame, edges).collect():
        counts[row["subject"]][int(row["bin"])] = int(row["rows"])
    return {s: bin_table(edges[s], counts[s]) for s in subjects}


def reference_frame(
    spark: SparkSession, tables: dict[str, pd.DataFrame], *, name: str, version: str, source: dict
) -> DataFrame:
    """``monitoring_reference`` rows from subject -> bin table (``score`` is the score, the rest features)."""
    rows = []
    for subject, table in tables.items():
        total = int(table["rows"].sum())
        if total == 0:
            raise ValueError(f"{name} v{version}: the training sample is empty, no reference for {subject}")
        for bin_row in table.to_dict("records"):
            rows.append(
                {
                    **bin_row,
                    "model_name": name,
                    "model_version": str(version),
                    "subject": subject,
                    "subject_kind": "score" if subject == "score" else "feature",
                    "share": bin_row["rows"] / total,
                    "training_rows": total,
                    "source": json.dumps(source, sort_keys=True, default=str),
                }
            )
    return MONITORING_REFERENCE.rows_to_df(spark, rows)


def build_reference(
    spark: SparkSession, name: str, version: str, *, settings: Settings, config: MonitoringConfig
) -> DataFrame:
    """Rebuild the training sample of ``name`` v``version`` from MLflow, score it and bin it.

    ``source`` of the rows records the run, the tables and versions read, the split date and the
    population (``scored``: restricted to active borrowers like scoring; ``training``: all of it).
    """
    import mlflow.pyfunc

    from jobs.scoring.main import PREDICTION, resolve_model, score_frame

    model = resolve_model(settings=settings, name=name, version=str(version))
    data_config, source = training_data_config(settings, name, str(version), model.features)
    row_filter = scored_population(settings, config)
    source["population"] = "scored" if row_filter else "training"
    sample = training_sample(spark, data_config, settings=settings, row_filter=row_filter).cache()
    try:
        predict = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=PREDICTION, env_manager="local")
        scored = score_frame(sample, predict=predict, model=model, features_version=data_config.version or -1)
        tables = subject_bins(scored, ["score"], config.psi_bins)
        tables.update(subject_bins(sample, list(model.features), config.psi_bins))
    finally:
        sample.unpersist()
    return reference_frame(spark, tables, name=name, version=str(version), source=source)


def load_reference(
    spark: SparkSession, name: str, version: str, *, settings: Settings, config: MonitoringConfig
) -> pd.DataFrame:
    """The reference bins of a model version, built and stored on first use.

    Returns:
        ``monitoring_reference`` rows of the version as pandas (a few hundred rows).
    """
    condition = version_condition(name, str(version))
    stored = io.read(spark, MONITORING_REFERENCE, settings=settings).where(condition).toPandas()
    if stored.empty:
        built = build_reference(spark, name, str(version), settings=settings, config=config).cache()
        try:
            io.replace_partition(built, MONITORING_REFERENCE, condition, settings=settings)
            stored = built.toPandas()
        finally:
            built.unpersist()
    return stored.sort_values(["subject", "bin"], kind="mergesort").reset_index(drop=True)
