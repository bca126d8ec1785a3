"""Airflow 3 as deployed, on localhost: api-server, scheduler (LocalExecutor) and dag-processor.

``AirflowStack`` is the process side of ``docker/compose.yaml`` without containers: it migrates
the metadata database given by ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (PostgreSQL in a
production-like run) and creates the Delta writer pool through :mod:`riskpipe.airflow_env`,
writes the SimpleAuthManager password file, and starts the three services with one
environment, so the task processes the scheduler starts inherit exactly that environment
(``RISKPIPE_*``, ``MLFLOW_TRACKING_URI``...), as in production. Tasks reach the api-server's
execution API (``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``), with JWTs signed by a secret
shared by the three services.

Its ``client`` is an :class:`riskpipe.testing.airflow_api.AirflowClient` logged in as the admin.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import requests

from riskpipe.testing.airflow_api import AirflowClient, DagRunFailed  # noqa: F401 - re-exported
from riskpipe.testing.services import Service, ServiceError, free_port, stop_all

START_TIMEOUT_SECONDS = 240


class AirflowStack:
    """Migrate the metadata DB, then run api-server, dag-processor and scheduler on one environment.

    Args:
        home: ``AIRFLOW_HOME`` (created); the services' logs go to ``<home>/services/``.
        env: the complete base environment of the three services and so of every task (build it
            from scratch: nothing of the calling process is added). It must hold
            ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``; ``AIRFLOW__*`` settings in it win over the
            stack's own (executor, auth, secrets, ports).
        username: the SimpleAuthManager admin login (its password is generated).

    Attributes (valid once started):
        url: the api-server's base URL; ``client``: an :class:`AirflowClient` logged in as admin;
        env: the complete environment of the services.
    """

    def __init__(self, home: str | Path, *, env: Mapping[str, str], username: str = "admin") -> None:
        from riskpipe.airflow_env import airflow_env

        if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env:
            raise ValueError("AirflowStack needs AIRFLOW__DATABASE__SQL_ALCHEMY_CONN in env")
        self.home = Path(home)
        self.log_dir = self.home / "services"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.username, self.password = username, secrets.token_urlsafe(16)
        passwords = self.home / "auth" / "passwords.json"
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
        base = dict(env)
        for key, value in settings.items():
            base.setdefault(key, value)
        base["AIRFLOW_HOME"] = str(self.home)
        self.env = airflow_env(base)
        self.passwords_file = passwords
        self.services: list[Service] = []
        self.client = AirflowClient(self.url, self.username, self.password)

    def _service(self, name: str, *args: str) -> Service:
        command = [sys.executable, "-m", "airflow", *args]
        service = Service(name, command, log_dir=self.log_dir, env=self.env, cwd=self.home).start()
        self.services.append(service)
        return service

    def migrate(self) -> None:
        """``airflow db migrate`` and the ``riskpipe_delta_writer`` pool (docker/airflow/init.sh's first step)."""
        from riskpipe.airflow_env import ensure_airflow_db

        self.home.mkdir(parents=True, exist_ok=True)
        ensure_airflow_db(self.env, force=True)

    def write_passwords(self) -> None:
        self.passwords_file.parent.mkdir(parents=True, exist_ok=True)
        self.passwords_file.write_text(json.dumps({self.username: self.password}) + "\n", encoding="utf-8")
        self.passwords_file.chmod(0o600)

    def start(self, *, expected_dags: Iterable[str] = (), migrate: bool = True) -> AirflowStack:
        """Start the services and wait for the API, a healthy scheduler and the ``expected_dags`` parsed."""
        try:
            if migrate:
                self.migrate()
            self.write_passwords()
            api = self._service(
                "api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"
            )
            self._service("dag-processor", "dag-processor")
            self._service("scheduler", "scheduler")
            api.wait_until(
                self._healthy, timeout=START_TIMEOUT_SECONDS, what="api-server up, scheduler and dag-processor healthy"
            )
            self.client.login()
            wanted = set(expected_dags)
            api.wait_until(
                lambda: self._parsed(wanted), timeout=START_TIMEOUT_SECONDS, what=f"DAGs {sorted(wanted)} parsed"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        for service in self.services:
            if not service.running:
                raise service.failure("exited during start-up")
        health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def _parsed(self, wanted: set[str]) -> bool:
        errors = self.client.import_errors()
        if errors:
            raise ServiceError(
                "DAG import errors:\n" + "\n".join(f"{e['filename']}: {e.get('stack_trace')}" for e in errors)
            )
        return wanted <= self.client.dag_ids()

    def logs(self, lines: int = 80) -> str:
        return "\n".join(f"--- {s.log_path} (last {lines} lines) ---\n{s.log_tail(lines)}" for s in self.services)

    def stop(self) -> None:
        services, self.services = self.services, []
        stop_all(services)

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")
