"""A minimal client of Airflow 3's public REST API (``/api/v2``), authenticated by JWT.

``AirflowClient`` gets a token from ``/auth/token`` (SimpleAuthManager, or any auth manager with
that endpoint), unpauses DAGs, triggers runs with a logical date, data interval and conf, waits
for them and, when a run fails, collects the logs of its failed tasks so that a failure can be
read in CI. Used by :class:`riskpipe.testing.airflow_stack.AirflowStack`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import requests

from riskpipe.testing.services import Service

RUN_POLL_SECONDS = 2
# a task in one of these states has already failed once: report at once instead of waiting for retries
TASK_FAILURE_STATES = {"failed", "up_for_retry", "upstream_failed"}


class DagRunFailed(AssertionError):
    """A DAG run failed (or a task of it failed once); the message holds the failed tasks' logs."""


class AirflowClient:
    """Minimal client of Airflow 3's public REST API (``/api/v2``), authenticated by JWT."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self.session = requests.Session()

    def login(self) -> None:
        response = self.session.post(
            f"{self.base_url}/auth/token", timeout=30, json={"username": self.username, "password": self.password}
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method /api/v2<path>``; logs in on first use and again when the token expired."""
        if "Authorization" not in self.session.headers:
            self.login()
        url = f"{self.base_url}/api/v2{path}"
        response = self.session.request(method, url, timeout=60, **kwargs)
        if response.status_code == 401:
            self.login()
            response = self.session.request(method, url, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise requests.HTTPError(
                f"{method} {path}: {response.status_code} {response.text[:2000]}", response=response
            )
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    # -- DAGs and runs --------------------------------------------------------
    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.get("/dags", limit=1000)["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return self.get("/importErrors")["import_errors"]

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None,
        run_id: str | None = None,
        data_interval: tuple[datetime, datetime] | None = None,
        conf: Mapping[str, Any] | None = None,
        note: str | None = None,
    ) -> str:
        """Create a manual run and return its run id.

        Args:
            logical_date: the run's logical date (timezone-aware), or None for a run without one.
            data_interval: explicit ``(start, end)``; needs a logical date. Without it Airflow infers
                the interval from the timetable (the last complete one before the logical date).
        """
        body: dict[str, Any] = {
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": dict(conf or {}),
        }
        if run_id:
            body["dag_run_id"] = run_id
        if data_interval:
            body["data_interval_start"], body["data_interval_end"] = (d.isoformat() for d in data_interval)
        if note:
            body["note"] = note
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="run_after")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        value = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]
        if isinstance(value, str):  # the stored JSON document, as text
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log of one try as text (the API returns structured lines)."""
        payload = self.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}", full_content=True
        )
        lines = []
        for item in payload.get("content") or []:
            if isinstance(item, dict):
                extra = {k: v for k, v in item.items() if k not in {"timestamp", "event", "level", "logger"}}
                lines.append(
                    " ".join(
                        str(p)
                        for p in (item.get("timestamp", ""), item.get("level", ""), item.get("event", ""), extra or "")
                        if p
                    )
                )
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def failure_report(self, dag_id: str, run_id: str, *, max_chars: int = 12000) -> str:
        """Task states of a run plus the (tail of the) log of every task that failed."""
        parts = [f"DAG run {dag_id} / {run_id}:"]
        for ti in self.task_instances(dag_id, run_id):
            parts.append(f"  {ti['task_id']}: {ti['state']} (try {ti.get('try_number')})")
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] in TASK_FAILURE_STATES:
                for attempt in range(1, max(1, int(ti.get("try_number") or 1)) + 1):
                    try:
                        text = self.task_log(dag_id, run_id, ti["task_id"], attempt)
                    except requests.RequestException as error:
                        text = f"(log not available: {error})"
                    parts.append(f"--- log of {ti['task_id']} try {attempt} ---\n{text[-max_chars:]}")
        return "\n".join(parts)

    def wait_for_run(
        self, dag_id: str, run_id: str, *, timeout: float, watch: Iterable[Service] = ()
    ) -> dict[str, Any]:
        """Poll a run until it succeeds; return it.

        Raises:
            DagRunFailed: when the run fails, a task of it fails once (even with retries left) or
                ``timeout`` passes; with the failed tasks' logs and the services' log tails.
            ServiceError: when one of the ``watch`` services exits meanwhile.
        """
        deadline = time.monotonic() + timeout
        watch = list(watch)
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] == "success":
                return run
            failed = [ti["task_id"] for ti in self.task_instances(dag_id, run_id) if ti["state"] in TASK_FAILURE_STATES]
            if run["state"] == "failed" or failed or time.monotonic() > deadline:
                reason = (
                    f"state {run['state']}"
                    if run["state"] == "failed"
                    else f"failed tasks {failed}"
                    if failed
                    else f"still {run['state']} after {timeout:.0f} s"
                )
                raise DagRunFailed(f"{dag_id} {run_id}: {reason}\n{self.failure_report(dag_id, run_id)}")
            for service in watch:
                if not service.running:
                    raise service.failure(f"exited while {dag_id} {run_id} was {run['state']}")
            time.sleep(RUN_POLL_SECONDS)

    def wait_for_new_run(
        self, dag_id: str, *, run_type: str, known: Iterable[str] = (), timeout: float, watch: Iterable[Service] = ()
    ) -> dict[str, Any]:
        """Wait until a run of ``run_type`` (e.g. ``asset_triggered``) not in ``known`` appears; return it."""
        deadline = time.monotonic() + timeout
        known = set(known)
        while True:
            runs = [r for r in self.dag_runs(dag_id) if r["run_type"] == run_type and r["dag_run_id"] not in known]
            if runs:
                return runs[0]
            if time.monotonic() > deadline:
                raise DagRunFailed(
                    f"no new {run_type} run of {dag_id} after {timeout:.0f} s; runs: "
                    f"{[(r['dag_run_id'], r['state']) for r in self.dag_runs(dag_id)]}"
                )
            for service in watch:
                if not service.running:
                    raise service.failure(f"exited while waiting for a {run_type} run of {dag_id}")
            time.sleep(RUN_POLL_SECONDS)
