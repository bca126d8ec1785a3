"""Failure alerts: one e-mail per task that failed for good, none for a retried-then-succeeded one.

Two throwaway DAGs built on the project's ``DEFAULT_ARGS`` (so with its ``FailureAlert``; one
retry, no delay) run with ``dag.test()`` on the session's SQLite metadata DB. The alert connection
``riskpipe_alerts_smtp`` points at an ``aiosmtpd`` server on 127.0.0.1 started by the test (plain
SMTP, no TLS, no login), and the test reads what reached it. Every DAG of ``dags/`` must carry the
alert on every task, and a machine without the connection must only warn.
"""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest

from dags._common import ALERT_CONN_ID, ALERT_TO_VARIABLE, DEFAULT_ARGS, FailureAlert

LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=UTC)
RECIPIENTS = ["risk-ops@example.org", "oncall@example.org"]
SENDER = "riskpipe-alerts@example.org"


class _Inbox:
    """aiosmtpd handler keeping every message it receives (envelope recipients and parsed e-mail)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # the name aiosmtpd calls
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def inbox(monkeypatch, airflow_home):
    """A local SMTP server, and the alert connection and recipients pointing at it."""
    from aiosmtpd.controller import Controller

    handler, port = _Inbox(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        # JSON, not URI: the hook reads these flags with bool(), and a URI would give it the string "false"
        "extra": {"from_email": SENDER, "disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}", json.dumps(connection))
    monkeypatch.setenv(f"AIRFLOW_VAR_{ALERT_TO_VARIABLE.upper()}", ", ".join(RECIPIENTS))
    try:
        yield handler
    finally:
        controller.stop()


def _dag(dag_id: str, body):
    """DAG ``dag_id`` on the shared default args: task ``work`` runs ``body``, then ``report``.

    ``report`` never runs when ``work`` fails for good (``upstream_failed``): it must not alert.

    ``dag.test()`` runs only DAGs serialized in the metadata DB, and re-parses ``dags/`` for them;
    a DAG of a test module is in no bundle, so the test writes it to the DB under the
    ``dags-folder`` bundle itself, as the DAG processor would.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.sdk import dag, task

    @dag(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": timedelta(0)},
    )
    def _alert_test():
        task(task_id="work")(body)() >> task(task_id="report")(lambda: None)()

    built = _alert_test()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(built)
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return built


def _states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        return {ti.task_id: str(ti.state) for ti in tis}


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, message
    return part.get_content()


def test_a_task_failing_for_good_sends_one_alert(inbox):
    def always_fails() -> None:
        raise RuntimeError("injected failure <for the alert test>")

    run = _dag("riskpipe_alert_fails", always_fails).test(logical_date=LOGICAL_DATE)
    assert str(run.state) == "failed"
    assert _states(run) == {"work": "failed", "report": "upstream_failed"}
    assert len(inbox.received) == 1, [m["Subject"] for _, m in inbox.received]
    recipients, message = inbox.received[0]
    assert sorted(recipients) == sorted(RECIPIENTS)
    assert message["From"] == SENDER
    assert message["Subject"] == f"riskpipe: riskpipe_alert_fails.work failed ({LOGICAL_DATE.isoformat()})"
    body = _html(message)
    for expected in ("riskpipe_alert_fails", "work", LOGICAL_DATE.isoformat(), run.run_id, "2 of 2"):
        assert expected in body, (expected, body)
    # the link to the log of the failed (second) try, on the deployment's [api] base_url
    links = re.findall(r'href="(https?://[^"]+)"', body)
    assert [link.split("/dags/", 1)[1] for link in links] == [
        f"riskpipe_alert_fails/runs/{quote(run.run_id)}/tasks/work?try_number=2"
    ], body
    assert "injected failure &lt;for the alert test&gt;" in body


def test_a_task_that_succeeds_on_its_retry_sends_nothing(inbox, tmp_path: Path):
    marker = tmp_path / "first-try-done"

    def fails_once() -> None:
        if not marker.exists():
            marker.touch()
            raise RuntimeError("injected first-try failure")

    run = _dag("riskpipe_alert_retried", fails_once).test(logical_date=LOGICAL_DATE)
    assert str(run.state) == "success"
    assert _states(run) == {"work": "success", "report": "success"}
    assert marker.exists()  # the first try did fail
    assert inbox.received == []


@pytest.mark.parametrize("missing", ["connection", "recipients"])
def test_alerts_not_configured_only_warn(monkeypatch, airflow_home, missing):
    from structlog.testing import capture_logs

    if missing == "connection":
        monkeypatch.delenv(f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}", raising=False)
        named = ALERT_CONN_ID
    else:
        monkeypatch.setenv(f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}", json.dumps({"conn_type": "smtp", "host": "x"}))
        monkeypatch.setenv(f"AIRFLOW_VAR_{ALERT_TO_VARIABLE.upper()}", " , ")
        named = ALERT_TO_VARIABLE

    class _TI:
        dag_id, task_id = "some_dag", "some_task"

    # Airflow logs through structlog, whose output pytest's caplog does not always see
    with capture_logs() as logs:
        FailureAlert().notify({"ti": _TI()})  # returns: no SMTP server is tried
    lines = [entry["event"] % tuple(entry.get("positional_args", ())) for entry in logs]
    assert [entry["log_level"] for entry in logs] == ["warning"], logs
    assert "some_dag.some_task" in lines[0] and repr(named) in lines[0], lines


def test_every_task_of_every_dag_alerts_on_final_failure_only(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= 10
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            name = f"{dag.dag_id}.{task.task_id}"
            assert [type(cb) for cb in task.on_failure_callback] == [FailureAlert], name
            assert not task.on_retry_callback, name
