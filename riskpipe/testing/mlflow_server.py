"""A real MLflow tracking server (``mlflow server``) on a free localhost port.

The backend store is a SQLite file under ``root`` unless a URI is given (``postgresql://...``
for a production-like run); artifacts are served by the server itself (``--artifacts-destination``,
runs get ``mlflow-artifacts:`` URIs), so clients need no access to the artifact folder::

    with MlflowServer(tmp_path, backend_store_uri=pg.uri) as server:
        env["MLFLOW_TRACKING_URI"] = server.url

As in ``docker/compose.yaml``, the options reach the server through ``MLFLOW_*`` environment
variables, so a database password never shows on a command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from riskpipe.testing.services import Service, free_port

# The first start on an empty database runs MLflow's migrations: slow on a busy machine.
START_TIMEOUT_SECONDS = 240


class MlflowServer:
    """Context manager around ``mlflow server``.

    Attributes (valid once started):
        url: ``http://127.0.0.1:<port>``, the clients' ``MLFLOW_TRACKING_URI``.
        artifacts: the folder the server writes artifacts to.
        service: the :class:`~riskpipe.testing.services.Service` (log: ``<root>/mlflow-server.log``).
    """

    def __init__(self, root: str | Path, *, backend_store_uri: str | None = None, workers: int = 1) -> None:
        self.root = Path(root)
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.root / 'mlflow.db'}"
        self.artifacts = self.root / "artifacts"
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service: Service | None = None

    def start(self) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(MLFLOW_BACKEND_STORE_URI=self.backend_store_uri, MLFLOW_ARTIFACTS_DESTINATION=str(self.artifacts))
        command = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.service = Service("mlflow-server", command, log_dir=self.root, env=env).start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Block until ``/health`` answers 200."""
        self.service.wait_until(
            lambda: requests.get(f"{self.url}/health", timeout=2).status_code == 200,
            timeout=timeout,
            what=f"{self.url}/health",
        )

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
