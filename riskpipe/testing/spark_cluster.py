"""A real Spark standalone cluster (one master, one worker) from the installed pyspark.

``SparkStandalone`` starts ``org.apache.spark.deploy.master.Master`` and one
``org.apache.spark.deploy.worker.Worker`` with ``spark-class`` of pyspark's own Spark home,
on free localhost ports, with their logs and the worker's application folders under ``root``::

    with SparkStandalone(tmp_path) as cluster:
        env = {**os.environ, "RISKPIPE_SPARK_MASTER": cluster.url}
        ...
        cluster.applications()   # the master's JSON API: active and completed applications

Executors run the interpreter of this process (``PYSPARK_PYTHON``), so they see the same
packages as the drivers, as docs/operations.md asks of a production cluster.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

from riskpipe.testing.services import Service, free_port, stop_all

START_TIMEOUT_SECONDS = 90


class SparkStandalone:
    """Context manager around a standalone master and worker.

    Attributes (valid once started):
        url: ``spark://127.0.0.1:<port>``, the value of ``RISKPIPE_SPARK_MASTER``.
        ui_url: the master's web UI (``<ui_url>/json/`` is its JSON API).
        work_dir: the worker's folder; one ``app-*`` folder per application it ran.
        services: the master and worker :class:`~riskpipe.testing.services.Service`.
    """

    def __init__(self, root: str | Path, *, cores: int = 1, memory: str = "1g") -> None:
        from riskpipe.core.jars import spark_home

        self.root = Path(root)
        self.cores, self.memory = cores, memory
        self.home = spark_home()
        self.port, self.ui_port, self.worker_ui_port = free_port(), free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.ui_url = f"http://127.0.0.1:{self.ui_port}"
        self.work_dir = self.root / "work"
        self.master: Service | None = None
        self.worker: Service | None = None

    @property
    def services(self) -> list[Service]:
        return [s for s in (self.master, self.worker) if s is not None]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update(
            SPARK_HOME=str(self.home),
            SPARK_LOG_DIR=str(self.root),
            SPARK_WORKER_DIR=str(self.work_dir),
            PYSPARK_PYTHON=sys.executable,
            SPARK_LOCAL_IP="127.0.0.1",
        )
        return env

    def start(self) -> SparkStandalone:
        spark_class = str(self.home / "bin" / "spark-class")
        env = self._env()
        try:
            self.master = Service(
                "spark-master",
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    self.port,
                    "--webui-port",
                    self.ui_port,
                ],
                log_dir=self.root,
                env=env,
            ).start()
            self.master.wait_for_port(self.port, timeout=START_TIMEOUT_SECONDS)
            self.worker = Service(
                "spark-worker",
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    self.url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    self.cores,
                    "--memory",
                    self.memory,
                    "--webui-port",
                    self.worker_ui_port,
                    "--work-dir",
                    self.work_dir,
                ],
                log_dir=self.root,
                env=env,
            ).start()
            self.worker.wait_until(
                lambda: self.status().get("aliveworkers", 0) >= 1,
                timeout=START_TIMEOUT_SECONDS,
                what="the worker registered with the master",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def status(self) -> dict[str, Any]:
        """The master's JSON API: workers, cores, ``activeapps`` and ``completedapps``."""
        response = requests.get(f"{self.ui_url}/json/", timeout=5)
        response.raise_for_status()
        return response.json()

    def applications(self) -> list[dict[str, Any]]:
        """Every application the master knows, active first (``id``, ``name``, ``state``, ``cores``...)."""
        status = self.status()
        return [*status.get("activeapps", []), *status.get("completedapps", [])]

    def finished_applications(self, *, timeout: float = 30) -> list[dict[str, Any]]:
        """The completed applications, once none is active any more (or ``timeout`` passed).

        A driver that stopped its session is listed as completed only after the master
        processed its unregistration, a moment after the driver's process ended.
        """
        deadline = time.monotonic() + timeout
        status = self.status()
        while status.get("activeapps") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = self.status()
        return list(status.get("completedapps", []))

    def logs(self) -> str:
        return "\n".join(f"--- {s.log_path} ---\n{s.log_tail()}" for s in self.services)

    def stop(self) -> None:
        stop_all([self.master, self.worker])
        self.master = self.worker = None

    def __enter__(self) -> SparkStandalone:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
