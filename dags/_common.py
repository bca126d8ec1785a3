"""Shared pieces of the DAGs: schedules, default_args (with the failure alert), tags, assets, the task factory.

Parse-time rules (the DAG processor imports these files every few seconds): no I/O, no
``Variable.get``, no Spark or runner import at module level. Everything heavy happens inside the
task callables, at run time.

Every ingestion task runs the pipeline stage ``ingest_<source>`` (the runner
``jobs.ingest.run.run_source(source, data_interval_start=..., data_interval_end=...)``) on the
run's data interval (ISO dates, end exclusive), runs in the ``riskpipe_delta_writer`` pool (one
lakehouse writer at a time; the ops tables ``ingest_manifest`` and ``quarantine`` are shared by all
sources) and declares the silver tables it publishes as outlets ``riskpipe://silver/<table>`` so
downstream DAGs can be scheduled on them.

A task is an entry point: it gets the settings and the Spark session from :func:`task_session`
and runs a stage of the pipeline declared in :mod:`riskpipe.pipeline` with them
(``pipeline.run(name, context, settings=..., spark=...)``); the DAG files only wire the stages to
schedules, assets and each other.

Every DAG (ingestion and gold) takes its ``default_args`` from :data:`DEFAULT_ARGS`, so every
task carries the :class:`FailureAlert` notifier: one e-mail per task that failed for good, sent
through the Airflow SMTP connection ``riskpipe_alerts_smtp`` to the recipients of the Airflow
Variable ``riskpipe_alert_to`` (docs/operations.md, "Failure alerts").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseNotifier, CronDataIntervalTimetable, Param, get_current_context, task

from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from riskpipe.core.config import Settings

# The simulator's default window starts in January 2019; a real deployment sets the first
# interval it wants to (back)fill. Read from the environment only: no I/O at parse time.
START_DATE_ENV = "RISKPIPE_INGEST_START_DATE"
START_DATE = datetime.fromisoformat(os.environ.get(START_DATE_ENV, "2019-01-01")).replace(tzinfo=UTC)

# Explicit data-interval timetables: Airflow 3 maps a bare cron string to a trigger timetable
# whose runs have an empty data interval; ingestion needs [start, end) of a day or a month.
DAILY = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
MONTHLY = CronDataIntervalTimetable("0 0 1 * *", timezone="UTC")

# Failure alerts. The SMTP server, sender and security settings are the Airflow connection (host,
# port, login, password; extra ``from_email``, ``disable_tls``, ``disable_ssl``...), the recipients an
# Airflow Variable (comma-separated addresses): both are read when a task fails, never at parse time,
# and neither lives in code.
ALERT_CONN_ID = "riskpipe_alerts_smtp"
ALERT_TO_VARIABLE = "riskpipe_alert_to"
# Jinja templates of the provider's SmtpNotifier, rendered with the failed task's context. A run
# without a logical date (manual, Airflow 3) has no ``ts``: the run id names it instead.
_WHEN = "{{ ts if ts is defined else run_id }}"
ALERT_SUBJECT = "riskpipe: {{ ti.dag_id }}.{{ ti.task_id }} failed (" + _WHEN + ")"
ALERT_HTML = (
    "<p>riskpipe task <b>{{ ti.dag_id }}.{{ ti.task_id }}</b> failed after its last try; "
    "Airflow will not retry it.</p>"
    "<table>"
    "<tr><td>DAG</td><td>{{ ti.dag_id }}</td></tr>"
    "<tr><td>Task</td><td>{{ ti.task_id }}"
    "{% if ti.map_index is not none and ti.map_index >= 0 %} (map index {{ ti.map_index }}){% endif %}</td></tr>"
    "<tr><td>Logical date</td><td>{{ ts if ts is defined else 'none (manual run)' }}</td></tr>"
    "<tr><td>Run</td><td>{{ run_id | e }}</td></tr>"
    "<tr><td>Try</td><td>{{ ti.try_number }} of {{ ti.max_tries + 1 }}</td></tr>"
    "<tr><td>Host</td><td>{{ ti.hostname }}</td></tr>"
    '<tr><td>Log</td><td><a href="{{ ti.log_url }}">{{ ti.log_url }}</a></td></tr>'
    "{% if exception is defined and exception %}"
    "<tr><td>Error</td><td><pre>{{ exception | string | truncate(2000) | e }}</pre></td></tr>"
    "{% endif %}"
    "</table>"
)


class FailureAlert(BaseNotifier):
    """The ``on_failure_callback`` of every riskpipe task: one e-mail when a task has failed for good.

    Airflow calls ``on_failure_callback`` only once a task instance is ``failed``, after its last
    retry (a failed try with retries left calls ``on_retry_callback``, which riskpipe leaves empty),
    so a retried-then-succeeded task sends nothing. The message names the DAG, task, logical date
    (or run id), try number and the link to the task's log (``[api] base_url`` of the deployment).

    Connection and recipients are looked up when a task fails, so the DAG files parse without I/O
    and a change of either needs no redeploy. A machine with no alert connection (a developer's
    laptop, the tests) or no recipients logs one warning and carries on: the task's failure is in
    its state and its log either way. A connection that is set but cannot deliver (server down,
    refused login) raises, and Airflow logs that error with the task's log.
    """

    def __init__(self, conn_id: str = ALERT_CONN_ID, to_variable: str = ALERT_TO_VARIABLE) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.to_variable = to_variable

    def notify(self, context: Any) -> None:
        """Send the alert of the failed task of ``context`` (or warn when alerts are not configured)."""
        from airflow.sdk import Connection, Variable
        from airflow.sdk.exceptions import AirflowNotFoundException

        ti = context.get("ti")
        failed = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
        try:
            Connection.get(self.conn_id)
        except AirflowNotFoundException:
            self.log.warning("No failure alert for %s: Airflow connection %r is not configured", failed, self.conn_id)
            return
        recipients = str(Variable.get(self.to_variable, default="") or "").replace(";", ",").split(",")
        to = [address.strip() for address in recipients if address.strip()]
        if not to:
            self.log.warning("No failure alert for %s: Airflow Variable %r has no address", failed, self.to_variable)
            return
        # A fresh provider notifier per alert: it renders its templates in place, once, so one shared
        # instance would send the first failed task's subject for every later one in the same process.
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(to=to, subject=ALERT_SUBJECT, html_content=ALERT_HTML, smtp_conn_id=self.conn_id)(context)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "riskpipe",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
    "depends_on_past": False,
    # final failures only: on_retry_callback stays empty (FailureAlert's docstring)
    "on_failure_callback": FailureAlert(),
}
BASE_TAGS = ("riskpipe", "ingestion")
INGEST_MODES = ("auto", "files", "jdbc")


def task_settings() -> Settings:
    """The settings of a task run (profile and environment of the worker), loaded at run time."""
    from riskpipe.core.config import load_settings

    return load_settings()


def task_session(app_name: str) -> tuple[Settings, SparkSession]:
    """The settings and the Spark session (named ``app_name``) a task passes to the jobs it calls.

    Run time only: Spark is imported and started here, never when the DAG file is parsed.
    """
    from riskpipe.core.spark import get_spark

    settings = task_settings()
    return settings, get_spark(settings=settings, app_name=app_name)


def silver_asset_uri(table: str) -> str:
    """The asset URI of a silver table: ``riskpipe://silver/<table>``."""
    return f"riskpipe://silver/{table}"


def silver_asset(table: str) -> Asset:
    """The Asset a task publishing silver ``table`` declares (name and URI are the same string)."""
    uri = silver_asset_uri(table)
    return Asset(name=uri, uri=uri)


def gold_asset(table: str) -> Asset:
    """The Asset of gold ``table``: ``riskpipe://gold/<table>`` as name and URI."""
    uri = f"riskpipe://gold/{table}"
    return Asset(name=uri, uri=uri)


def dag_kwargs(source_tag: str, *, schedule: CronDataIntervalTimetable, doc: str) -> dict[str, Any]:
    """Keyword arguments shared by every ingestion ``@dag``."""
    return {
        "schedule": schedule,
        "start_date": START_DATE,
        "catchup": True,
        "max_active_runs": 1,
        "default_args": dict(DEFAULT_ARGS),
        "tags": [*BASE_TAGS, source_tag],
        "doc_md": doc,
    }


def mode_param() -> dict[str, Param]:
    """The ``mode`` DAG param of sources that can also be read from core banking over JDBC."""
    return {
        "mode": Param(
            "auto",
            enum=list(INGEST_MODES),
            description="files: T+1 file drops; jdbc: PostgreSQL core banking through the "
            "Airflow connection riskpipe_core_banking or RISKPIPE_CORE_BANKING_* "
            "env vars; auto: jdbc when either is configured, else files",
        )
    }


def interval_dates(context: Any) -> tuple[str, str]:
    """ISO dates ``(start, end)`` of the run's data interval (end exclusive).

    Raises:
        ValueError: when the interval is missing or not made of whole days.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise ValueError("ingestion runs need a data interval; trigger them with a logical date")
    for bound in (start, end):
        if (bound.hour, bound.minute, bound.second, bound.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"data interval {start}..{end} is not made of whole days (UTC)")
    return start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")


def ingest_task(source: str, tables: tuple[str, ...] | None = None, *, jdbc_capable: bool = False):
    """Build the TaskFlow task that ingests ``source`` for the run's data interval.

    Args:
        source: runner source name (e.g. ``"tax_filings"``).
        tables: silver tables the source publishes (default: the table named like the source).
        jdbc_capable: read the DAG param ``mode`` and pass ``mode="jdbc"`` to the runner when chosen.

    Returns:
        A TaskFlow task (call it inside the ``@dag`` function) returning a small summary dict.
    """
    outlets = [silver_asset(table) for table in (tables or (source,))]

    @task(task_id=f"ingest_{source}", pool=DELTA_WRITER_POOL, outlets=outlets)
    def _ingest() -> dict[str, Any]:
        context = get_current_context()
        start, end = interval_dates(context)
        settings, spark = task_session(f"riskpipe-ingest-{source}")
        mode = resolve_mode(context["params"].get("mode", "files"), settings=settings) if jdbc_capable else "files"
        summary = small_summary(_run(source, start, end, mode, settings=settings, spark=spark))
        for outlet in outlets:
            # downstream asset-triggered runs (features) read the interval from the event
            context["outlet_events"][outlet].extra = {"data_interval_start": start, "data_interval_end": end}
        return summary

    return _ingest()


# Failures that retrying minutes later cannot fix: fail the task at once instead of burning
# retries (a lock, a flaky disk or an API timeout is still retried by default_args).
NON_RETRYABLE = (
    "jobs.ingest.batch:BatchRejectedError",
    "jobs.ingest.bronze:MalformedFileError",
    "jobs.ingest.connectors.files:ChangedFileError",
    "jobs.ingest.connectors.rest:AuthenticationError",
    "riskpipe.core.credentials:MissingCredentialsError",
    # a pin, or rows that break a declared rule, must be dealt with by a person first
    "jobs.maintenance.main:MaintenanceRefusedError",
)


def _non_retryable() -> tuple[type[BaseException], ...]:
    import importlib

    found = []
    for ref in NON_RETRYABLE:
        module, name = ref.split(":")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue  # an optional connector or a renamed class must not break every task
    return tuple(found)


@contextlib.contextmanager
def failing_for_good(what: str) -> Iterator[None]:
    """Turn the errors of :data:`NON_RETRYABLE` raised in the block into a failure Airflow does not retry."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except _non_retryable() as error:
        raise AirflowFailException(f"{what}: {type(error).__name__}: {error}") from error


def _run(source: str, start: str, end: str, mode: str, *, settings: Settings, spark: SparkSession) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return pipeline.run(
            pipeline.ingest_stage_name(source),
            pipeline.RunContext(interval=(start, end), mode=mode),
            settings=settings,
            spark=spark,
        )
    except _non_retryable() as error:
        raise AirflowFailException(f"{source} {start}..{end}: {type(error).__name__}: {error}") from error


def small_summary(summary: Any, *, max_chars: int = 4000) -> dict[str, Any]:
    """Keep XCom small: the runner's summary, or only its scalar fields when it is large."""
    import json

    if not isinstance(summary, dict):
        return {"result": str(summary)[:max_chars]}
    text = json.dumps(summary, default=str)
    if len(text) <= max_chars:
        return json.loads(text)
    return {
        key: value
        for key, value in json.loads(text).items()
        if isinstance(value, (str, int, float, bool)) or value is None
    }


def resolve_mode(requested: str, *, settings: Settings) -> str:
    """Turn the ``mode`` param into ``"files"`` or ``"jdbc"``.

    ``auto`` chooses ``jdbc`` when credentials for ``ingestion.core_banking.conn_id`` resolve
    (the Airflow connection ``riskpipe_core_banking``, or the ``RISKPIPE_CORE_BANKING_*`` env vars).

    Raises:
        ValueError: for an unknown mode, or ``jdbc`` without credentials (names what was tried).
    """
    if requested not in INGEST_MODES:
        raise ValueError(f"mode must be one of {INGEST_MODES}, got {requested!r}")
    if requested == "files":
        return "files"
    from riskpipe.core.credentials import MissingCredentialsError, get_connection

    conn_id = settings.ingestion.core_banking.conn_id
    try:
        get_connection(conn_id, settings=settings)
    except MissingCredentialsError as error:
        if requested == "jdbc":
            raise ValueError(f"mode=jdbc: {error}") from error
        return "files"
    return "jdbc"


def logical_date_for(dag: Any, interval_start: str) -> datetime:
    """The ``dag.test(logical_date=...)`` whose data interval starts at ``interval_start``.

    ``dag.test()`` infers a manual run's interval as the last complete one *before* the logical
    date, so the date to pass is the end of the interval that starts at ``interval_start``.
    """
    from croniter import croniter

    start = datetime.fromisoformat(interval_start).replace(tzinfo=UTC)
    timetable = getattr(dag.timetable, "timetable", dag.timetable)  # AssetOrTimeSchedule wraps a cron one
    end = croniter(timetable.expression, start).get_next(datetime)
    return end.astimezone(UTC)


def _last_month_end_before(day: str) -> str:
    """The last month-end strictly before ``day`` (ISO), as ISO: the latest complete month."""
    from datetime import date

    return (date.fromisoformat(day[:10]).replace(day=1) - timedelta(days=1)).isoformat()


def snapshot_dates(context: Any) -> list[str]:
    """Month-end snapshot date(s) a gold run works on, from whichever trigger started it.

    In order: the ``snapshot_date`` param (a manual run or a backfill by hand); the data
    interval of a scheduled run (its month's last day); the asset events that triggered the
    run (their ``snapshot_date`` extra, or the last month-end before their ingestion interval's
    end). Raises ValueError when none of them gives a date.
    """
    from datetime import date

    param = (context.get("params") or {}).get("snapshot_date")
    if param:
        return [date.fromisoformat(str(param)[:10]).isoformat()]
    end = context.get("data_interval_end")
    if end is not None and context.get("data_interval_start") is not None:
        return [_last_month_end_before(end.strftime("%Y-%m-%d"))]
    days = set()
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            if extra.get("snapshot_date"):
                days.add(str(extra["snapshot_date"]))
            elif extra.get("data_interval_end"):
                days.add(_last_month_end_before(str(extra["data_interval_end"])))
    if not days:
        raise ValueError(
            "no snapshot date: set the snapshot_date param, or trigger the run by its schedule or "
            "by an asset event that carries snapshot_date / data_interval_end"
        )
    return sorted(days)
