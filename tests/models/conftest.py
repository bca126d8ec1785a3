"""Fixtures of the model tests: a synthetic Delta table with two versions and a trained model."""

from __future__ import annotations

import os

import pytest

from tests.models.synthetic import snapshot_table

SPLIT_DATE = "2021-07-01"


@pytest.fixture(scope="session", autouse=True)
def tracking_uri() -> str:
    """The temp SQLite store of tests/conftest.py, captured before any test of this package runs:
    ``mlflow.set_tracking_uri`` also rewrites the MLFLOW_TRACKING_URI environment variable."""
    return os.environ["MLFLOW_TRACKING_URI"]


@pytest.fixture(scope="session")
def synthetic_frame():
    return snapshot_table()


@pytest.fixture(scope="session")
def delta_table(spark, synthetic_frame, tmp_path_factory) -> str:
    """Version 0: the synthetic table. Version 1: the same plus six more months (other rows)."""
    path = str(tmp_path_factory.mktemp("tables") / "snapshots")
    spark.createDataFrame(synthetic_frame).write.format("delta").save(path)
    later = snapshot_table(n_ids=100, months=6, seed=99, start="2022-01-01")
    spark.createDataFrame(later).write.format("delta").mode("append").save(path)
    return path


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("mlartifacts"))


@pytest.fixture(scope="session")
def make_config(settings, artifact_root, delta_table, tracking_uri):
    """``make_config(name, **overrides)``: a small, fast ModelConfig on the synthetic table."""
    from models.config import model_config

    def _make(name: str, overrides: dict | None = None):
        base = {
            "name": name,
            "experiment": f"test-{name}",
            "tracking_uri": tracking_uri,
            "artifact_root": artifact_root,
            # the synthetic table carries its own label (no separate label table)
            "data": {"table": delta_table, "label_table": None, "version": 0, "split_date": SPLIT_DATE},
            "lightgbm": {"num_boost_round": 60},
            "calibration": {"cv_folds": 2},
        }
        return model_config(settings, base, overrides or {})

    return _make


@pytest.fixture(scope="session")
def training_data(spark, make_config, settings):
    from models.data import load_training_data

    return load_training_data(make_config("sme_pd_data").data, spark=spark, settings=settings)


@pytest.fixture(scope="session")
def trained(spark, make_config, settings):
    """Both kinds trained, logged and registered under ``sme_pd_main``."""
    from models.train import train

    config = make_config("sme_pd_main")
    return config, train(config, spark=spark, settings=settings)
