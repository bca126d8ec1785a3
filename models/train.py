"""Train the scorecard and its LightGBM challenger, evaluate out of time, log and register.

One MLflow parent run per training (data source, Delta version, configuration) with one child
run per model (parameters, metrics in one batch, plots, tables, model card and the pyfunc
model). Deterministic for a given data version and seed. When a ``champion`` already exists,
it is scored on the same out-of-time sample (``champion_oot_auc``) so the promotion gate
compares like with like.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.calibration import MasterScale, fit_calibrator
from models.config import ModelConfig
from models.data import TrainingData, column_report, load_training_data
from models.evaluate import Evaluation, evaluate
from models.pyfunc import RiskPipeModel, Scorer, categorical_features, model_signature, pip_requirements
from models.reasons import reason_catalogue
from models.scorecard import fit_binning, fit_scorecard, scaling
from models.tracking import KeyedRun, keyed_run, log_metrics_once

if TYPE_CHECKING:
    from riskpipe.core.config import Settings

MODELS_DIR = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)


@dataclass
class ModelResult:
    kind: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    version: str | None = None


@dataclass
class TrainResult:
    parent_run_id: str
    source: dict[str, Any]
    models: dict[str, ModelResult] = field(default_factory=dict)
    candidate_version: str | None = None
    candidate_kind: str | None = None
    candidate_reason: str = ""
    columns: pd.DataFrame | None = None  # models.data.column_report: what each column was used for


def out_of_fold_scorecard_log_odds(
    train: pd.DataFrame, features: list[str], label: str, config: ModelConfig, folds: int
) -> np.ndarray:
    """Log-odds of each training row from a scorecard (binning, selection and regression) fitted
    without it; folds are contiguous blocks of snapshots (the frame is sorted by date).

    A scorecard's own training rows are scored too confidently: its bins and coefficients were
    chosen on them, so calibrating on them keeps the overfit slope (PDs too low at the safe end
    and too high at the risky end out of time).
    """
    out = np.empty(len(train))
    for block in np.array_split(np.arange(len(train)), folds):
        mask = np.zeros(len(train), dtype=bool)
        mask[block] = True
        card, _ = fit_scorecard(train[~mask], features, label, config.scorecard)
        out[mask] = card.log_odds(train.loc[mask])
    return out


def _calibration_sample(kind: str, data: TrainingData, config: ModelConfig, raw_fn) -> tuple[np.ndarray, np.ndarray]:
    """``(raw log-odds, outcomes)`` the calibrator is fitted on: out-of-fold predictions on the training
    sample (``fit_on: train``), or the model's predictions on the OOT sample (``fit_on: validation``)."""
    label = config.data.label_col
    if config.calibration.fit_on == "validation":
        return raw_fn(data.valid), data.valid[label].to_numpy()
    if kind == "lightgbm":
        from models.challenger import out_of_fold_log_odds

        raw = out_of_fold_log_odds(
            data.train, data.features, label, config.lightgbm, config.seed, config.calibration.cv_folds
        )
        return raw, data.train[label].to_numpy()
    raw = out_of_fold_scorecard_log_odds(data.train, data.features, label, config, config.calibration.cv_folds)
    return raw, data.train[label].to_numpy()


def _fitted_calibration_sample(
    kind: str, data: TrainingData, config: ModelConfig, raw_fn
) -> tuple[np.ndarray, np.ndarray, str]:
    """:func:`_calibration_sample` and its name; on a training sample too small for a model to be fitted
    without one of its blocks (a scorecard fold where no feature reaches ``min_iv``), the model's own
    log-odds of the training sample, named so (the model card and the state say it)."""
    sample = "train_out_of_fold" if config.calibration.fit_on == "train" else "validation"
    try:
        raw, y = _calibration_sample(kind, data, config, raw_fn)
    except ValueError as error:
        if config.calibration.fit_on != "train":
            raise
        logger.warning("%s: out-of-fold calibration impossible (%s); calibrating on in-sample log-odds", kind, error)
        return raw_fn(data.train), data.train[config.data.label_col].to_numpy(), f"train_in_sample ({error})"[:300]
    return raw, y, sample


def fit_state(kind: str, data: TrainingData, config: ModelConfig) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Fit one model and its calibrator; return the JSON-able scoring state and extra tables."""
    label = config.data.label_col
    factor, offset = scaling(config.scorecard.base_score, config.scorecard.base_odds, config.scorecard.pdo)
    tables: dict[str, pd.DataFrame] = {}
    if kind == "scorecard":
        card, iv = fit_scorecard(data.train, data.features, label, config.scorecard)
        body: dict[str, Any]
        features, body = card.features, {"scorecard": card.to_dict()}
        raw_fn = card.log_odds
        tables.update(iv=iv, points_table=card.points_table())
    else:
        from models.challenger import booster_to_string, category_levels, fit_lightgbm, lightgbm_matrix

        levels = category_levels(data.train, data.features)
        booster = fit_lightgbm(data.train, data.features, label, config.lightgbm, config.seed, levels)
        features, body = list(data.features), {"booster": booster_to_string(booster), "categories": levels}

        def raw_fn(frame: pd.DataFrame) -> np.ndarray:
            return booster.predict(lightgbm_matrix(frame, features, levels), raw_score=True)

    raw, y, sample = _fitted_calibration_sample(kind, data, config, raw_fn)
    calibrator = fit_calibrator(raw, y, config.calibration.method)
    # out-of-fold discrimination inside the training window: how the kinds compare before the
    # out-of-time sample is looked at (models.config candidate: auto)
    from sklearn.metrics import roc_auc_score

    state = {
        "kind": kind,
        "features": features,
        **body,
        "calibrator": calibrator.to_dict(),
        "calibration_sample": {
            "sample": sample,
            "rows": int(len(y)),
            "defaults": int(np.sum(y)),
            "gini": float(2 * roc_auc_score(y, raw) - 1),
        },
        "master_scale": MasterScale(list(config.calibration.grade_bounds)).to_dict(),
        "pd_floor": config.calibration.pd_floor,
        "scaling": {"factor": factor, "offset": offset},
        "reasons": reason_catalogue(features, config.reason_texts),
    }
    return state, tables


def evaluate_state(
    state: dict[str, Any], data: TrainingData, config: ModelConfig, iv: pd.DataFrame | None
) -> Evaluation:
    """Score train and out-of-time samples with the served Scorer and evaluate."""
    scorer = Scorer(state)
    label = config.data.label_col
    scored = {}
    for name, frame in (("train", data.train), ("oot", data.valid)):
        out = scorer.predict(frame)
        scored[name] = pd.DataFrame({"y": frame[label].to_numpy(), "pd": out["pd"], "score": out["score"]})
    evaluation = evaluate(
        scored,
        {"train": data.train, "oot": data.valid},
        features=data.features,
        scale=scorer.scale,
        iv=iv,
        psi_bins=config.psi_bins,
        min_grade_count=config.calibration.min_grade_count,
        jeffreys=config.calibration.jeffreys,
        ids={"train": data.train[config.data.id_col].to_numpy(), "oot": data.valid[config.data.id_col].to_numpy()},
    )
    if state.get("calibration_sample", {}).get("sample") == "train_out_of_fold":
        evaluation.metrics["cv_gini"] = state["calibration_sample"]["gini"]
    return evaluation


def choose_candidate(config: ModelConfig, cv_gini: dict[str, float]) -> tuple[str, str]:
    """``(kind, reason)`` of the kind that becomes ``challenger``.

    A configured kind is taken as it is. ``auto`` decides on the training window only (never on
    the out-of-time sample the gate and the validator judge): the kind with the highest
    out-of-fold Gini, unless ``prefer`` (the interpretable scorecard by default) is within
    ``prefer_margin`` of it.
    """
    if config.candidate != "auto":
        return config.candidate, "configured (models.candidate)"
    missing = [k for k in config.kinds if k not in cv_gini]
    if missing:
        fallback = config.prefer if config.prefer in config.kinds else config.kinds[0]
        return fallback, (
            f"auto: no out-of-fold Gini for {missing} (calibration.fit_on: validation, or a "
            f"training sample too small for folds): {fallback}, the preferred kind"
        )
    best = max(config.kinds, key=lambda k: (cv_gini[k], k == config.prefer))
    figures = ", ".join(f"{k} {cv_gini[k]:.3f}" for k in config.kinds)
    if config.prefer in cv_gini and cv_gini[config.prefer] >= cv_gini[best] - config.prefer_margin:
        return config.prefer, (
            f"auto: {config.prefer} within {config.prefer_margin} of the best out-of-fold "
            f"Gini on the training window ({figures})"
        )
    return best, f"auto: highest out-of-fold Gini on the training window ({figures})"


def _benchmark_champion(config: ModelConfig, data: TrainingData) -> dict[str, Any]:
    """OOT AUC of the current champion on this training's out-of-time sample, if possible."""
    import mlflow
    from sklearn.metrics import roc_auc_score

    from models.registry import champion_version

    version = champion_version(config)
    if version is None:
        return {}
    try:
        model = mlflow.pyfunc.load_model(f"models:/{config.name}/{version}")
        out = model.predict(data.valid)
    except Exception as error:  # a champion on other features cannot be scored here
        return {"champion_version": version, "note": f"champion v{version} not scoreable on this data: {error}"}
    auc = float(roc_auc_score(data.valid[config.data.label_col], out["pd"]))
    return {"champion_version": version, "champion_oot_auc": auc}


MODEL_URI_TAG = "riskpipe.model_uri"


@contextlib.contextmanager
def _step_run(experiment_id: str, run_key: str | None, run_name: str, *, nested: bool) -> Iterator[KeyedRun]:
    """A keyed (resumable) run when ``run_key`` is given, else a new plain run."""
    import mlflow

    if run_key is not None:
        with keyed_run(experiment_id, run_key=run_key, run_name=run_name, nested=nested) as run:
            yield run
        return
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested) as run:
        yield KeyedRun(run.info.run_id, finished=False, resumed=False)


def _model_params(kind: str, config: ModelConfig) -> dict[str, Any]:
    params = config.to_params()
    if kind == "lightgbm":
        from models.challenger import lightgbm_params

        booster_params = lightgbm_params(config.lightgbm, config.seed)
        params.update({f"lightgbm_params.{k}": str(v) for k, v in booster_params.items()})
    return params


def _write_evaluation(
    out: Path,
    kind: str,
    state: dict,
    tables: dict,
    evaluation: Evaluation,
    data: TrainingData,
    config: ModelConfig,
    params: dict,
    bench: dict,
) -> None:
    """Plots, tables and the model card of one model into ``out``."""
    from models.report import model_card, write_plots, write_tables

    write_plots(evaluation, out, kind)
    write_tables(evaluation, out, tables)
    note = bench.get("note", "")
    if "champion_oot_auc" in bench:
        note = f"Champion v{bench['champion_version']} on the same OOT sample: AUC {bench['champion_oot_auc']:.4f}."
    (out / "model_card.md").write_text(
        model_card(
            kind=kind,
            name=config.name,
            evaluation=evaluation,
            source=data.source,
            params=params,
            features=state["features"],
            reasons=state["reasons"],
            champion_note=note,
        ),
        encoding="utf-8",
    )


def _log_model_run(
    kind: str,
    state: dict,
    tables: dict,
    evaluation: Evaluation,
    data: TrainingData,
    config: ModelConfig,
    bench: dict,
    *,
    experiment_id: str,
    run_key: str | None = None,
) -> ModelResult:
    """One child run: parameters, metrics, evaluation artifacts and the pyfunc model; registered.

    With a ``run_key`` the child is keyed ``<run_key>/<kind>``: a retry finds a finished child
    and returns it (registered once), or resumes an unfinished one and logs only the metrics
    it lacks.
    """
    import mlflow

    from models.registry import register_version, version_of_run

    params = _model_params(kind, config)
    metrics = dict(evaluation.metrics)
    if "champion_oot_auc" in bench:
        metrics["champion_oot_auc"] = bench["champion_oot_auc"]
    child_key = f"{run_key}/{kind}" if run_key is not None else None
    # the child run must name the parent's experiment, or MLflow files it (and its
    # artifacts) under the Default experiment in ./mlruns
    with _step_run(experiment_id, child_key, kind, nested=True) as run:
        if run.finished:
            result = _finished_model(kind, run.run_id)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                mlflow.log_params(params)
                mlflow.set_tags(
                    {
                        "model_kind": kind,
                        **data_tags(data.source),
                        "benchmark.champion_version": str(bench.get("champion_version", "")),
                    }
                )
                log_metrics_once(run.run_id, metrics)  # one batch request; a resumed run adds only the missing
                _write_evaluation(out, kind, state, tables, evaluation, data, config, params, bench)
                mlflow.log_artifacts(str(out), artifact_path="evaluation")
                state_path = out / "state.json"
                state_path.write_text(json.dumps(state), encoding="utf-8")
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=RiskPipeModel(),
                    artifacts={"state": str(state_path)},
                    code_paths=[str(MODELS_DIR)],
                    signature=model_signature(state["features"], categorical_features(state)),
                    input_example=data.valid[state["features"]].head(5),
                    pip_requirements=pip_requirements(kind),
                )
                mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
            result = ModelResult(kind=kind, run_id=run.run_id, model_uri=info.model_uri, metrics=metrics)
    if config.register:
        result.version = version_of_run(config, result.run_id) or register_version(
            config,
            result.model_uri,
            run_id=result.run_id,
            tags={"model_kind": kind, **data_tags(data.source)},
        )
    return result


def data_tags(source: dict[str, Any]) -> dict[str, str]:
    """The tags naming the data a model was trained on: the table and label table and their Delta versions.

    They pin those versions: the weekly maintenance never vacuums the files a registered version's
    data needs (``jobs.maintenance.pins``).
    """
    tags = {"data.table": str(source["table"]), "data.version": str(source["version"])}
    if source.get("label_table") is not None:
        tags["data.label_table"] = str(source["label_table"])
        tags["data.label_version"] = str(source["label_version"])
    return tags


def _finished_model(kind: str, run_id: str) -> ModelResult:
    """The result of a child run that an earlier attempt finished."""
    from mlflow import MlflowClient

    run = MlflowClient().get_run(run_id)
    return ModelResult(kind=kind, run_id=run_id, model_uri=run.data.tags[MODEL_URI_TAG], metrics=dict(run.data.metrics))


def train(
    config: ModelConfig,
    *,
    spark: Any,
    settings: Settings,
    data: TrainingData | None = None,
    run_key: str | None = None,
) -> TrainResult:
    """Train every model kind of ``config``; log, register and mark the candidate ``challenger``.

    Args:
        config: from :func:`models.config.model_config`.
        spark: SparkSession used to read the table.
        settings: resolves a declared table name to its lakehouse path.
        data: an already loaded :class:`TrainingData` (skips reading).
        run_key: identity of this training (e.g. the Airflow DAG run). A retry with the same
            key resumes the same MLflow runs: finished models are neither logged nor
            registered again, and no metric is logged twice (:mod:`models.tracking`).

    Returns:
        TrainResult with one ModelResult per kind (run id, model URI, metrics, registered version).
    """
    import mlflow

    from models.registry import ensure_experiment, set_alias

    data = data or load_training_data(config.data, spark=spark, settings=settings)
    experiment_id = ensure_experiment(config)
    bench = _benchmark_champion(config, data) if config.register else {}
    iv = None
    fitted: dict[str, tuple[dict, Evaluation]] = {}
    run_name = f"train-{config.data.table.rstrip('/').rsplit('/', 1)[-1]}"
    with _step_run(experiment_id, run_key, run_name, nested=False) as parent:
        if not parent.finished:
            mlflow.log_params({f"data.source.{k}": str(v) for k, v in data.source.items()})
            mlflow.set_tags({"riskpipe.step": "train", "data.version": str(data.source["version"])})
        result = TrainResult(parent_run_id=parent.run_id, source=data.source)
        for kind in config.kinds:
            state, tables = fit_state(kind, data, config)
            if iv is None:
                iv = tables.get("iv")
                if iv is None:
                    iv = fit_binning(data.train, data.features, config.data.label_col, config.scorecard)[1]
                    tables["iv"] = iv
            if data.columns is not None:
                result.columns = tables["columns"] = column_report(data.columns, iv)
            evaluation = evaluate_state(state, data, config, iv)
            fitted[kind] = (state, evaluation)
            result.models[kind] = _log_model_run(
                kind, state, tables, evaluation, data, config, bench, experiment_id=experiment_id, run_key=run_key
            )
    kind, reason = choose_candidate(
        config, {k: m.metrics["cv_gini"] for k, m in result.models.items() if "cv_gini" in m.metrics}
    )
    result.candidate_kind, result.candidate_reason = kind, reason
    mlflow.MlflowClient().set_tag(result.parent_run_id, "candidate.kind", kind)
    mlflow.MlflowClient().set_tag(result.parent_run_id, "candidate.reason", reason)
    candidate = result.models[kind]
    if candidate.version is not None:
        set_alias(config, "challenger", candidate.version)
        result.candidate_version = candidate.version
    if config.validation.on_training:
        from models.validation_render import report_training

        report_training(result.models, fitted, data, config)
    return result
