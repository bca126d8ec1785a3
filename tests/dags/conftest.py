"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a migrated SQLite metadata DB.

Airflow reads its configuration once, at the first ``import airflow``; this conftest is
imported before any test module of ``tests/dags`` and points the process at a fresh
AIRFLOW_HOME in a temp dir, removed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from riskpipe.airflow_env import DAGS_FOLDER, airflow_env, apply_to_process, ensure_airflow_db

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="riskpipe-airflow-test-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
for _key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
    del os.environ[_key]  # a developer's own Airflow settings must not leak into the tests
apply_to_process()


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """AIRFLOW_HOME with the metadata DB migrated and the Delta writer pool created."""
    ensure_airflow_db(airflow_env())
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_home):
    """The DagBag of ``dags/`` loaded in this process."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
