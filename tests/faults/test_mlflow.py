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
def store(tmp_path_factory):
    """One SQLite tracking store for the module (its schema migration is the slow part)."""
    from models.config import model_config

    root = tmp_path_factory.mktemp("mlflow_store")
    before = mlflow.get_tracking_uri()
    yield dataclasses.replace(model_config(), name=NAME, experiment=EXPERIMENT,
                              tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts"))
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


@pytest.mark.reliability("6 MLflow", "two models registered at the same moment (threads)",
                         "every registration gets its own version number")
def test_concurrent_registrations_get_distinct_versions(config):
    logged = [_log_model(config, float(v)) for v in range(4)]
    versions: list[str] = []
    for pair in (logged[:2], logged[2:]):
        errors = _in_threads(*[lambda uri=uri, run=run: versions.append(
            registry.register_version(config, uri, run_id=run, tags={})) for uri, run in pair])
        assert errors == []
    assert sorted(versions, key=int) == ["1", "2", "3", "4"]


@pytest.mark.reliability("6 MLflow", "the champion alias moves while a loader resolves NAME@champion",
                         "every load is one complete version: its predictions and its run match")
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
        assert len(values) == 1, values          # one version answered every row
        value = values.pop()
        assert value in by_value and by_value[value][1] == run_id  # its predictions and its run agree


@pytest.mark.reliability("6 MLflow", "a training run fails after logging some metrics and is retried",
                         "the retry resumes the same run; every metric is logged exactly once")
@pytest.mark.reliability("6 MLflow", "a finished training run is retried",
                         "nothing is logged again; one run per run key")
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
