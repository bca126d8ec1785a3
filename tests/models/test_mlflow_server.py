"""Train -> register -> promote -> load ``models:/NAME@champion`` through a real MLflow server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.models.synthetic import FEATURES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    command = [str(Path(sys.executable).with_name("mlflow")), "server",
               "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
               "--artifacts-destination", str(root / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = (root / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                              env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{(root / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server not healthy:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_train_register_promote_and_load_champion_through_the_server(
        spark, mlflow_server, make_config, synthetic_frame, tracking_uri, tmp_path):
    import mlflow

    from models.registry import champion_version, promote
    from models.train import train

    parquet = str(tmp_path / "snapshots_parquet")
    spark.createDataFrame(synthetic_frame).write.parquet(parquet)
    config = make_config("sme_pd_served", {
        "tracking_uri": mlflow_server, "kinds": ["scorecard"],
        "data": {"table": parquet, "format": "parquet", "version": None},
    })
    try:
        result = train(config, spark=spark)
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
