"""The Airflow environment of riskpipe: one place that says where Airflow keeps its state.

Airflow reads its configuration from ``AIRFLOW__SECTION__KEY`` environment variables when
``airflow`` is first imported, so every caller (the ``riskpipe airflow`` commands, ``make demo``,
the DAG tests) builds the environment with :func:`airflow_env` and either runs the ``airflow``
CLI with it or applies it to ``os.environ`` *before* importing Airflow.

The embedded default is a SQLite metadata database under ``AIRFLOW_HOME`` (``<repo>/airflow_home``,
ignored by git). A production deployment passes ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (PostgreSQL)
and an executor of its choice; whatever the caller sets explicitly wins over the defaults here.

:func:`ensure_airflow_db` migrates the metadata database once per Airflow version and creates the
``riskpipe_delta_writer`` pool: Delta on a local disk, and on S3 with Delta's default log store,
does not protect concurrent writers in separate processes, so every task that writes the lakehouse
runs in this pool (1 slot = one writer at a time). ``RISKPIPE_DELTA_WRITER_SLOTS`` raises the size
only where the lakehouse allows it (HDFS, ADLS Gen2, GCS, or S3 with Delta's DynamoDB log store:
:func:`riskpipe.core.config.single_writer_reason`); elsewhere a larger pool is refused.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from riskpipe.core.config import REPO_ROOT, load_settings, single_writer_reason

DELTA_WRITER_POOL = "riskpipe_delta_writer"
DEFAULT_DELTA_WRITER_SLOTS = 1
SLOTS_ENV = "RISKPIPE_DELTA_WRITER_SLOTS"
DEFAULT_AIRFLOW_HOME = REPO_ROOT / "airflow_home"
DAGS_FOLDER = REPO_ROOT / "dags"
_STAMP_NAME = ".riskpipe-db-migrated"
_LOCK_NAME = ".riskpipe-db.lock"

# Defaults only: any of these given by the caller's environment wins.
_DEFAULTS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # SQLite allows one writer: keep the local executor to a single task at a time.
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "2",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
    "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "5",
    "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "1",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
}


def airflow_env(base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``base_env`` (default: ``os.environ``) completed with riskpipe's Airflow settings.

    Args:
        base_env: environment to complete; never modified.

    Returns:
        A new dict with ``AIRFLOW_HOME`` (default ``<repo>/airflow_home``),
        ``AIRFLOW__CORE__DAGS_FOLDER`` (``<repo>/dags``), a SQLite metadata database under
        ``AIRFLOW_HOME`` unless ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` is given, examples off,
        and the repo on ``PYTHONPATH`` so DAG files import ``riskpipe``/``jobs`` without install.
    """
    env = dict(os.environ if base_env is None else base_env)
    home = Path(env.get("AIRFLOW_HOME") or DEFAULT_AIRFLOW_HOME).expanduser().resolve()
    env["AIRFLOW_HOME"] = str(home)
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    for key, value in _DEFAULTS.items():
        env.setdefault(key, value)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO_ROOT) not in paths:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *paths])
    return env


def delta_writer_slots(env: Mapping[str, str] | None = None) -> int:
    """Slots of the ``riskpipe_delta_writer`` pool (``RISKPIPE_DELTA_WRITER_SLOTS``, default 1).

    Raises:
        ValueError: for a value that is not a positive integer, or more than one slot on a
            lakehouse that allows one writer at a time (:func:`check_writer_slots`).
    """
    env = os.environ if env is None else env
    value = env.get(SLOTS_ENV, str(DEFAULT_DELTA_WRITER_SLOTS))
    try:
        slots = int(value)
    except ValueError:
        raise ValueError(f"{SLOTS_ENV} must be a positive integer, got {value!r}") from None
    if slots < 1:
        raise ValueError(f"{SLOTS_ENV} must be a positive integer, got {value!r}")
    return check_writer_slots(slots, env)


def check_writer_slots(slots: int, env: Mapping[str, str]) -> int:
    """``slots``, unless it is more than one and the lakehouse of ``env``'s settings takes one writer at a time.

    Raises:
        ValueError: naming why the lakehouse needs a single writer and what would allow more.
    """
    if slots > 1:
        reason = single_writer_reason(load_settings(env))
        if reason is not None:
            raise ValueError(
                f"{DELTA_WRITER_POOL} cannot have {slots} slots: {reason} (docs/operations.md, Scaling out)"
            )
    return slots


def airflow_cli() -> list[str]:
    """The ``airflow`` command of this interpreter (works without the venv on ``PATH``)."""
    return [sys.executable, "-m", "airflow"]


def run_airflow(
    args: list[str], env: Mapping[str, str] | None = None, *, check: bool = True, capture: bool = True
) -> subprocess.CompletedProcess:
    """Run ``airflow <args>`` with :func:`airflow_env` and return the completed process.

    Raises:
        RuntimeError: when ``check`` and the command fails, with its output.
    """
    full_env = airflow_env(env)
    result = subprocess.run(airflow_cli() + list(args), env=full_env, text=True, capture_output=capture, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`airflow {' '.join(args)}` failed with exit code {result.returncode}:\n"
            f"{result.stdout or ''}{result.stderr or ''}"
        )
    return result


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_key(env: Mapping[str, str], slots: int) -> str:
    # Re-run when Airflow is upgraded, the database moves or the pool size changes.
    return "\n".join(
        [
            metadata.version("apache-airflow-core"),
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
            f"{DELTA_WRITER_POOL}={slots}",
        ]
    )


def ensure_airflow_db(
    env: Mapping[str, str] | None = None, *, slots: int | None = None, force: bool = False
) -> dict[str, str]:
    """Migrate the Airflow metadata database and create the Delta writer pool, once.

    Safe for concurrent callers (file lock under ``AIRFLOW_HOME``); a stamp file keyed on the
    Airflow version, the database URL and the pool size makes later calls return at once.

    Args:
        env: base environment (default ``os.environ``), completed by :func:`airflow_env`.
        slots: pool size; default :func:`delta_writer_slots`.
        force: migrate and set the pool even when the stamp says it is done.

    Returns:
        The Airflow environment used.
    """
    full_env = airflow_env(env)
    slots = delta_writer_slots(full_env) if slots is None else check_writer_slots(slots, full_env)
    home = Path(full_env["AIRFLOW_HOME"])
    stamp = home / _STAMP_NAME
    key = _stamp_key(full_env, slots)
    with _file_lock(home / _LOCK_NAME):
        if not force and stamp.exists() and stamp.read_text(encoding="utf-8") == key:
            return full_env
        run_airflow(["db", "migrate"], full_env)
        run_airflow(
            ["pools", "set", DELTA_WRITER_POOL, str(slots), "riskpipe: one Delta writer per table at a time"], full_env
        )
        stamp.write_text(key, encoding="utf-8")
    return full_env


def apply_to_process(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Put the Airflow environment into ``os.environ`` (call before the first ``import airflow``).

    Raises:
        RuntimeError: when Airflow was already imported with another ``AIRFLOW_HOME``; its
            configuration is read once at import and cannot be redirected afterwards.
    """
    full_env = airflow_env(env)
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME  # type: ignore[attr-defined]

        if Path(AIRFLOW_HOME).resolve() != Path(full_env["AIRFLOW_HOME"]):
            raise RuntimeError(
                f"airflow was imported with AIRFLOW_HOME={AIRFLOW_HOME}; "
                f"cannot switch to {full_env['AIRFLOW_HOME']} in this process"
            )
    for key, value in full_env.items():
        if key == "AIRFLOW_HOME" or key.startswith("AIRFLOW__") or key == "PYTHONPATH":
            os.environ[key] = value
    return full_env
