"""Guarantee 6: the model registry under concurrency and retries (a local SQLite store)."""

from __future__ import annotations

import dataclasses
import threading

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from models import registry
from models.tracking import keyed_run, log_metrics_once
from tests.faults.test_concurrency import _in_threads

NAME, EXPERIMENT = "faults_pd", "faults"
MIN_ALIAS_MOVES, LOADS = 4, 4
INPUT = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
RUN_KEY = "train-faults-features-v7"


class Constant(mlflow.pyfunc.PythonModel):
    """A model predicting one constant: which version answered shows in every row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"pd": [self.value] * len(model_input)})


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """One SQLite tracking store for the module (its schema migration is the slow part)."""
    from models.config import model_config

    root = tmp_path_factory.mktemp("mlflow_store")
    before = mlflow.get_tracking_uri()
    yield dataclasses.replace(
        model_config(settings),
        name=NAME,
        experiment=EXPERIMENT,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "artifacts"),
    )
    mlflow.set_tracking_uri(before)
    mlflow.set_registry_uri(before)


@pytest.fixture()
def config(store, request):
    """The store with a registered model name of the test's own."""
    cfg = dataclasses.replace(store, name=f"{NAME}_{request.function.__name__[5:30]}")
    registry.ensure_experiment(cfg)
    return cfg


def _log_model(config, value: float) -> tuple[str, str]:
    """Log a Constant model in a run of its own; (model URI, run id)."""
    with mlflow.start_run(experiment_id=registry.ensure_experiment(config)) as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(value), pip_requirements=["mlflow"])
    return info.model_uri, run.info.run_id


@pytest.mark.reliability(
    "6 MLflow", "two models registered at the same moment (threads)", "every registration gets its own version number"
)
def test_concurrent_registrations_get_distinct_versions(config):
    logged = [_log_model(config, float(v)) for v in range(4)]
    versions: list[str] = []
    for pair in (logged[:2], logged[2:]):
        errors = _in_threads(
            *[
                lambda uri=uri, run=run: versions.append(registry.register_version(config, uri, run_id=run, tags={}))
                for uri, run in pair
            ]
        )
        assert errors == []
    assert sorted(versions, key=int) == ["1", "2", "3", "4"]


@pytest.mark.reliability(
    "6 MLflow",
    "the champion alias moves while a loader resolves NAME@champion",
    "every load is one complete version: its predictions and its run match",
)
def test_a_loader_always_gets_one_complete_version_while_the_alias_moves(config):
    by_value = {}
    for value in (1.0, 2.0):
        uri, run_id = _log_model(config, value)
        by_value[value] = (registry.register_version(config, uri, run_id=run_id, tags={}), run_id)
    registry.set_alias(config, registry.CHAMPION, by_value[1.0][0])
    done, loads = threading.Event(), []

    def move() -> None:
        moves = 0
        while not done.is_set() or moves < MIN_ALIAS_MOVES:
            registry.set_alias(config, registry.CHAMPION, by_value[2.0 if moves % 2 == 0 else 1.0][0])
            moves += 1

    def load() -> None:
        try:
            for _ in range(LOADS):
                model = mlflow.pyfunc.load_model(f"models:/{config.name}@{registry.CHAMPION}")
                loads.append((set(model.predict(INPUT)["pd"]), model.metadata.run_id))
        finally:
            done.set()

    assert _in_threads(move, load) == []
    assert len(loads) == LOADS
    for values, run_id in loads:
        assert len(values) == 1, values  # one version answered every row
        value = values.pop()
        assert value in by_value and by_value[value][1] == run_id  # its predictions and its run agree


@pytest.mark.reliability(
    "6 MLflow",
    "a training run fails after logging some metrics and is retried",
    "the retry resumes the same run; every metric is logged exactly once",
)
@pytest.mark.reliability(
    "6 MLflow", "a finished training run is retried", "nothing is logged again; one run per run key"
)
def test_a_retried_run_does_not_double_log_metrics(config):
    experiment, run_key = registry.ensure_experiment(config), f"{RUN_KEY}-{config.name}"
    with pytest.raises(RuntimeError, match="killed"):
        with keyed_run(experiment, run_key=run_key, run_name="train") as first:
            log_metrics_once(first.run_id, {"oot_auc": 0.81})
            raise RuntimeError("killed between two logging calls")
    with keyed_run(experiment, run_key=run_key, run_name="train") as retry:
        logged = log_metrics_once(retry.run_id, {"oot_auc": 0.81, "oot_ks": 0.47})
    assert retry.resumed and retry.run_id == first.run_id and logged == {"oot_ks": 0.47}
    with keyed_run(experiment, run_key=run_key, run_name="train") as again:
        assert again.finished and again.run_id == first.run_id
    client = MlflowClient(tracking_uri=config.tracking_uri)
    for metric in ("oot_auc", "oot_ks"):
        assert len(client.get_metric_history(first.run_id, metric)) == 1
    assert client.get_run(first.run_id).info.status == "FINISHED"
    runs = client.search_runs([experiment], filter_string=f"tags.`riskpipe.run_key` = '{run_key}'")
    assert [r.info.run_id for r in runs] == [first.run_id]


@pytest.fixture()
def training_config(store, spark, settings, tmp_path):
    """A small two-model training on a synthetic snapshot Delta table, in the module's store."""
    from models.config import model_config
    from tests.models.synthetic import snapshot_table

    table = str(tmp_path / "snapshots")
    spark.createDataFrame(snapshot_table(n_ids=150, months=18)).write.format("delta").save(table)
    return model_config(
        settings,
        {
            "name": f"{NAME}_training_retry",
            "experiment": f"{EXPERIMENT}-training-retry",
            "tracking_uri": store.tracking_uri,
            "artifact_root": store.artifact_root,
            "data": {"table": table, "label_table": None, "version": 0, "split_date": "2021-01-01"},
            "lightgbm": {"num_boost_round": 30},
            "calibration": {"cv_folds": 2},
        },
    )


@pytest.mark.reliability(
    "6 MLflow",
    "the training job fails after the scorecard was logged and registered, while "
    "the challenger's artifacts are written; the task is retried with the same run key",
    "one parent run and one run per model; each model registered once, every metric "
    "logged once; a third attempt adds nothing",
)
def test_a_retried_training_job_logs_and_registers_each_model_once(training_config, spark, settings, monkeypatch):
    from models import train as training
    from models.tracking import RUN_KEY_TAG

    run_key, write, failed = "train_models/manual__2026-12-01", training._write_evaluation, []

    def fail_on_challenger(out, kind, *args, **kwargs):
        if kind == "lightgbm" and not failed:
            failed.append(kind)
            raise RuntimeError("worker lost while writing the challenger's artifacts")
        return write(out, kind, *args, **kwargs)

    monkeypatch.setattr(training, "_write_evaluation", fail_on_challenger)
    with pytest.raises(RuntimeError, match="worker lost"):
        training.train(training_config, spark=spark, settings=settings, run_key=run_key)
    first_versions = [row["version"] for row in registry.list_versions(training_config)]
    assert first_versions == [1]  # the scorecard only

    retried = training.train(training_config, spark=spark, settings=settings, run_key=run_key)
    again = training.train(training_config, spark=spark, settings=settings, run_key=run_key)

    versions = registry.list_versions(training_config)
    assert [(row["version"], row["kind"]) for row in versions] == [(1, "scorecard"), (2, "lightgbm")]
    assert retried.models["scorecard"].version == "1" and retried.models["lightgbm"].version == "2"
    assert {k: m.version for k, m in again.models.items()} == {k: m.version for k, m in retried.models.items()}
    assert again.parent_run_id == retried.parent_run_id
    assert registry.alias_version(training_config, registry.CHALLENGER) == retried.candidate_version == "1"
    client = MlflowClient(tracking_uri=training_config.tracking_uri)
    experiment = registry.ensure_experiment(training_config)
    runs = client.search_runs([experiment])
    keys = sorted(run.data.tags.get(RUN_KEY_TAG) for run in runs)
    assert keys == [run_key, f"{run_key}/lightgbm", f"{run_key}/scorecard"]
    assert {run.info.status for run in runs} == {"FINISHED"}
    for model in retried.models.values():
        for metric in ("oot_auc", "oot_ks", "oot_ece", "psi_score"):
            assert len(client.get_metric_history(model.run_id, metric)) == 1, (model.kind, metric)
