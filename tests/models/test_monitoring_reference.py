"""The monitoring reference of a registered version is rebuilt from what training logged to MLflow."""

from __future__ import annotations

import json

import mlflow
import numpy as np

from jobs.model_monitoring.metrics import MonitoringConfig
from jobs.model_monitoring.reference import build_reference
from models.evaluate import bin_index, quantile_edges


def test_reference_bins_are_those_of_the_versions_training_sample(spark, settings, trained, training_data):
    config, result = trained
    version = result.models["scorecard"].version
    monitoring = MonitoringConfig()
    reference = build_reference(spark, config.name, version, settings=settings, config=monitoring).toPandas()

    train = training_data.train  # what training itself selected: same table version, flags and split
    scores = mlflow.pyfunc.load_model(f"models:/{config.name}/{version}").predict(train)["score"].to_numpy()
    features = sorted(set(reference.loc[reference["subject_kind"] == "feature", "subject"]))
    assert features and set(features) <= set(training_data.features)
    for subject, values in [("score", scores)] + [(f, train[f].to_numpy(float)) for f in features]:
        bins = reference[reference["subject"] == subject].sort_values("bin")
        edges = quantile_edges(values, monitoring.psi_bins)
        expected = np.bincount(bin_index(values, edges), minlength=len(edges) + 2)
        assert bins["rows"].tolist() == expected.tolist(), subject
        assert np.allclose(bins["upper"].dropna().to_numpy(), edges)
        assert (bins["training_rows"] == len(train)).all()
    source = json.loads(reference["source"].iloc[0])
    assert source["run_id"] == result.models["scorecard"].run_id
    assert (source["version"], source["split_date"]) == (0, config.data.split_date)
