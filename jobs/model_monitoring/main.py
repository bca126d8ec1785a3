"""Monthly model monitoring of one month-end D: drift, calibration backtest and discrimination.

For the model version that scored D (read from ``risk_scores``, not from the alias):

* **PSI** of the score and of each model feature, D's scored population against the
  version's training sample restricted to the scored population (bins from
  ``monitoring_reference``, built on first use);
  stable < 0.10 <= watch <= 0.25 < act (``monitoring.psi``).
* **Backtest** on the matured snapshots D' in [D - 12 - window + 1, D - 12] months with final
  labels (uncensored, not in default on D'): realised 12-month default rate against the mean
  predicted PD per grade (and ``all``), with the Jeffreys test of the promotion gate
  (:mod:`models.backtest`); green / amber / red.
* **AUC and KS** of each matured snapshot; green / amber / red below the configured floors.

Writes ``model_monitoring`` for D's month with ``replaceWhere`` (skipped when unchanged), and
returns the alerts (rows whose status is act or red) and whether they call for retraining.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.model_monitoring.metrics import (
    MonitoringConfig,
    bin_counts,
    discrimination,
    edges_of,
    grade_counts,
    jeffreys_backtest,
    matured_predictions,
    matured_window,
    traffic_light,
)
from jobs.model_monitoring.reference import load_reference
from models.evaluate import psi_from_counts, psi_status
from riskpipe.core import io
from riskpipe.core.calendar import add_months, snapshot_month, to_snapshots
from riskpipe.core.config import Settings
from schemas.gold_features import DEFAULT_LABELS, ENTERPRISE_FEATURES
from schemas.gold_monitoring import ALERT_STATUSES, MODEL_MONITORING
from schemas.gold_scores import RISK_SCORES


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def psi_rows(reference: pd.DataFrame, actual: pd.DataFrame, config: MonitoringConfig) -> list[dict[str, Any]]:
    """PSI rows, one per subject of the reference.

    Args:
        reference: ``monitoring_reference`` rows of one version (subject, subject_kind, bin, lower,
            upper, is_missing, rows, training_rows).
        actual: D's :func:`jobs.model_monitoring.metrics.bin_counts` (subject, bin, rows).

    Returns:
        Dicts with metric ``psi``, subject, value, status and details (rows, training rows, and
        per bin: bounds, expected share, actual share).
    """
    out = []
    for subject, ref in reference.groupby("subject", sort=True):
        ref = ref.sort_values("bin")
        counts = actual[actual["subject"] == subject].set_index("bin")["rows"]
        observed = ref["bin"].map(counts).fillna(0).astype(int)
        value = psi_from_counts(ref["rows"].to_numpy(), observed.to_numpy())
        n, total = int(observed.sum()), int(ref["rows"].sum())
        bins = [
            {
                "bin": int(b["bin"]),
                "lower": _number(b["lower"]),
                "upper": _number(b["upper"]),
                "missing": bool(b["is_missing"]),
                "expected": int(b["rows"]) / max(total, 1),
                "actual": int(o) / max(n, 1),
            }
            for b, o in zip(ref.to_dict("records"), observed)
        ]
        out.append(
            {
                "metric": "psi",
                "subject": subject,
                "value": value,
                "status": psi_status(value, config.psi_stable, config.psi_act),
                "details": _json(
                    {
                        "kind": ref["subject_kind"].iloc[0],
                        "rows": n,
                        "training_rows": total,
                        "bins": bins,
                        "stable_below": config.psi_stable,
                        "act_above": config.psi_act,
                    }
                ),
            }
        )
    return out


def backtest_rows(counts: pd.DataFrame, config: MonitoringConfig) -> list[dict[str, Any]]:
    """``backtest_default_rate`` rows per grade and for ``all`` grades pooled.

    Args:
        counts: :func:`jobs.model_monitoring.metrics.grade_counts` as pandas.

    Returns:
        Dicts: value = realised default rate; details: rows, defaults, mean_pd, p_value, snapshots,
        model versions, confidence levels.
    """
    if counts.empty:
        return []
    pooled = {
        "grade": "all",
        "grade_num": 0,
        "rows": counts["rows"].sum(),
        "defaults": counts["defaults"].sum(),
        "sum_pd": counts["sum_pd"].sum(),
        "obligors": counts["obligors"].sum(),
        "obligor_defaults": counts["obligor_defaults"].sum(),
        "obligor_sum_pd": counts["obligor_sum_pd"].sum(),
        "first_snapshot": counts["first_snapshot"].min(),
        "last_snapshot": counts["last_snapshot"].max(),
        "model_versions": sorted({v for vs in counts["model_versions"] for v in vs}),
    }
    tested = jeffreys_backtest(pd.concat([counts, pd.DataFrame([pooled])], ignore_index=True), config)
    return [
        {
            "metric": "backtest_default_rate",
            "subject": str(r["grade"]),
            "value": float(r["default_rate"]),
            "status": r["status"],
            "details": _json(
                {
                    "rows": int(r["rows"]),
                    "defaults": int(r["defaults"]),
                    "mean_pd": float(r["mean_pd"]),
                    "obligors": float(r["obligors"]),
                    "obligor_defaults": float(r["obligor_defaults"]),
                    "unit": config.backtest_unit,
                    "p_value": float(r["p_value"]),
                    "ci_lower": float(r["ci_lower"]),
                    "ci_upper": float(r["ci_upper"]),
                    "direction": r["direction"],
                    "test": "jeffreys",
                    "first_snapshot": r["first_snapshot"],
                    "last_snapshot": r["last_snapshot"],
                    "model_versions": list(r["model_versions"]),
                    "amber_confidence": config.amber_confidence,
                    "red_confidence": config.red_confidence,
                }
            ),
        }
        for r in tested.sort_values("grade_num").to_dict("records")
    ]


def discrimination_rows(by_snapshot: pd.DataFrame, config: MonitoringConfig) -> list[dict[str, Any]]:
    """``auc`` and ``ks`` rows per matured snapshot (subject = its date) from
    :func:`jobs.model_monitoring.metrics.discrimination` as pandas."""
    out = []
    for r in by_snapshot.sort_values("snapshot_date").to_dict("records"):
        facts = {"rows": int(r["rows"]), "defaults": int(r["defaults"]), "mean_pd": float(r["mean_pd"])}
        for metric, amber, red in (("auc", config.auc_amber, config.auc_red), ("ks", config.ks_amber, config.ks_red)):
            value = float(r[metric])
            out.append(
                {
                    "metric": metric,
                    "subject": r["snapshot_date"].isoformat(),
                    "value": value,
                    "status": traffic_light(value, amber_below=amber, red_below=red),
                    "details": _json({**facts, "amber_below": amber, "red_below": red}),
                }
            )
    return out


def scored_by(scores: DataFrame, day: dt.date) -> tuple[str, str, int]:
    """``(model_name, model_version, features_version)`` that scored ``day`` (one run, one version).

    Raises:
        ValueError: when ``day`` is not scored, or was scored by several model versions.
    """
    found = scores.select("model_name", "model_version", "features_version").distinct().collect()
    if not found:
        raise ValueError(f"risk_scores has no rows for {day}: score it first (riskpipe score --as-of {day})")
    if len({(r["model_name"], r["model_version"]) for r in found}) > 1:
        raise ValueError(f"{day} was scored by several model versions {sorted(map(tuple, found))}: rescore it")
    return found[0]["model_name"], found[0]["model_version"], max(int(r["features_version"]) for r in found)


def monitoring_frame(
    spark: SparkSession, rows: list[dict[str, Any]], *, day: dt.date, name: str, version: str
) -> DataFrame:
    """``model_monitoring`` rows of ``day`` from metric dicts (metric, subject, value, status, details)."""
    common = {
        "snapshot_date": day,
        "snapshot_month": snapshot_month(day),
        "model_name": name,
        "model_version": str(version),
    }
    return MODEL_MONITORING.rows_to_df(spark, [{**common, **r, "alert": r["status"] in ALERT_STATUSES} for r in rows])


def _population(
    spark: SparkSession,
    scores: DataFrame,
    features: list[str],
    *,
    day: dt.date,
    features_version: int,
    settings: Settings,
) -> DataFrame:
    """D's scored rows with their score and the model's features, read at the version that was scored."""
    snapshot = (
        io.read(spark, ENTERPRISE_FEATURES, version=features_version, settings=settings)
        .where(F.col("snapshot_month") == snapshot_month(day))
        .select("uscc", *features)
    )
    return scores.select("uscc", "score").join(snapshot, on="uscc", how="left")


def retraining(alerts: list[dict[str, Any]], day: dt.date, config: MonitoringConfig) -> dict[str, Any]:
    """Whether the alerts call for retraining (an alert matching ``monitoring.retrain.triggers``: a metric,
    or ``metric:subject``), and the split date of that training (the last ``retrain_oot_months``
    matured snapshots out of time)."""
    reasons = [
        f"{a['metric']} {a['subject']} = {a['value']:.4f} ({a['status']})"
        for a in alerts
        if a["metric"] in config.retrain_on or f"{a['metric']}:{a['subject']}" in config.retrain_on
    ]
    _, last_matured = matured_window(day, config)
    split = add_months(last_matured, -(config.retrain_oot_months - 1))
    return {"retrain": bool(reasons), "retrain_reasons": reasons, "retrain_split_date": split.isoformat()}


def run(as_of: dt.date | str, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Monitor the model that scored month-end ``as_of``; write ``model_monitoring`` for its month.

    Returns:
        Summary: snapshot_date, model_name, model_version, rows, committed, alerts (metric,
        subject, value, status of every act/red row), retrain, retrain_reasons, retrain_split_date.
    """
    (day,) = to_snapshots(as_of)
    config = MonitoringConfig.from_settings(settings.sections("monitoring"))
    scores = io.read(spark, RISK_SCORES, settings=settings)
    scored = scores.where(F.col("snapshot_month") == snapshot_month(day)).cache()
    matured = matured_predictions(
        scores, io.read(spark, DEFAULT_LABELS, settings=settings), as_of=day, config=config
    ).cache()
    try:
        name, version, features_version = scored_by(scored, day)
        reference = load_reference(spark, name, version, settings=settings, config=config)
        features = sorted(set(reference.loc[reference["subject_kind"] == "feature", "subject"]))
        population = _population(spark, scored, features, day=day, features_version=features_version, settings=settings)
        edges = {s: edges_of(ref) for s, ref in reference.groupby("subject", sort=True)}
        rows = psi_rows(reference, bin_counts(population, edges).toPandas(), config)
        rows += backtest_rows(grade_counts(matured).toPandas(), config)
        rows += discrimination_rows(discrimination(matured).toPandas(), config)
        frame = monitoring_frame(spark, rows, day=day, name=name, version=version)
        committed = io.replace_partition(
            frame, MODEL_MONITORING, f"snapshot_month = '{snapshot_month(day)}'", settings=settings
        )
    finally:
        scored.unpersist()
        matured.unpersist()
    alerts = [
        {k: r[k] for k in ("metric", "subject", "value", "status")} for r in rows if r["status"] in ALERT_STATUSES
    ]
    return {
        "snapshot_date": day.isoformat(),
        "model_name": name,
        "model_version": version,
        "rows": len(rows),
        "committed": committed,
        "alerts": alerts,
        **retraining(alerts, day, config),
    }


def summary(spark: SparkSession, as_of: dt.date | str | None = None, *, settings: Settings) -> pd.DataFrame:
    """The latest monitoring results on or before ``as_of`` (default: the latest month), for reports.

    Returns:
        ``model_monitoring`` rows of that month-end as pandas (every column; ``details`` is a JSON
        string), sorted by metric and subject; empty when nothing was monitored yet (the table is
        not created by reading it).
    """
    if not io.exists(spark, MODEL_MONITORING, settings=settings):
        return pd.DataFrame(columns=MODEL_MONITORING.columns)
    table = io.read(spark, MODEL_MONITORING, settings=settings)
    if as_of is not None:
        table = table.where(F.col("snapshot_date") <= F.lit(to_snapshots(as_of)[0]))
    latest = table.agg(F.max("snapshot_date")).collect()[0][0]
    if latest is None:
        return pd.DataFrame(columns=MODEL_MONITORING.columns)
    rows = table.where(F.col("snapshot_month") == snapshot_month(latest)).toPandas()
    return rows.sort_values(["metric", "subject"], kind="mergesort").reset_index(drop=True)


def history(
    spark: SparkSession,
    *,
    metric: str = "psi",
    subject: str = "score",
    as_of: dt.date | str | None = None,
    settings: Settings,
) -> pd.DataFrame:
    """One metric of one subject over every monitored month-end (e.g. the PSI of the score, for a plot).

    Returns:
        ``snapshot_date``, ``model_version``, ``value``, ``status``, ``alert``, sorted by date
        (empty when nothing was monitored yet).
    """
    if not io.exists(spark, MODEL_MONITORING, settings=settings):
        return pd.DataFrame(columns=["snapshot_date", "model_version", "value", "status", "alert"])
    table = io.read(spark, MODEL_MONITORING, settings=settings).where(
        (F.col("metric") == metric) & (F.col("subject") == subject)
    )
    if as_of is not None:
        table = table.where(F.col("snapshot_date") <= F.lit(to_snapshots(as_of)[0]))
    rows = table.select("snapshot_date", "model_version", "value", "status", "alert").toPandas()
    return rows.sort_values("snapshot_date", kind="mergesort").reset_index(drop=True)
