"""Train -> register -> promote -> load ``models:/NAME@champion`` through a real MLflow server."""

from __future__ import annotations

import pytest

from riskpipe.testing.mlflow_server import MlflowServer
from tests.models.synthetic import FEATURES


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server.url


def test_train_register_promote_and_load_champion_through_the_server(
    spark, mlflow_server, make_config, synthetic_frame, tracking_uri, tmp_path, settings
):
    import mlflow

    from models.registry import champion_version, promote
    from models.train import train

    parquet = str(tmp_path / "snapshots_parquet")
    spark.createDataFrame(synthetic_frame).write.parquet(parquet)
    config = make_config(
        "sme_pd_served",
        {
            "tracking_uri": mlflow_server,
            "kinds": ["scorecard"],
            "data": {"table": parquet, "format": "parquet", "version": None},
        },
    )
    try:
        result = train(config, spark=spark, settings=settings)
        assert result.source["version"] is None and result.candidate_version == "1"
        assert promote(config).passed
        assert champion_version(config) == "1"
        model = mlflow.pyfunc.load_model(f"models:/{config.name}@champion")
        out = model.predict(synthetic_frame[FEATURES].head(20))
        assert out["pd"].between(0, 1).all() and out["grade"].notna().all()
        run = mlflow.get_run(result.models["scorecard"].run_id)
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert "oot_auc" in run.data.metrics
    finally:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
