"""Shared fixtures: one session-scoped SparkSession on a throwaway lakehouse."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

TEST_ENV = {
    "RISKPIPE_SPARK_MASTER": "local[2]",
    "RISKPIPE_SHUFFLE_PARTITIONS": "2",
    "RISKPIPE_SPARK_UI": "false",
    "RISKPIPE_DRIVER_MEMORY": "3g",
    # Adaptive query execution re-plans every shuffle of a query as a job of its own: on the tests'
    # frames of a few dozen rows it only adds jobs (an ingested batch ran 96 Spark jobs with it,
    # 58 without, same result). Production and the bench keep it (conf/default.yaml); results do
    # not depend on it, and tests/riskpipe/core/test_config.py checks the default.
    #
    # Interpreted expressions (factoryMode NO_CODEGEN, an option Spark's own test suites use): on
    # frames of a few dozen rows, compiling each query's generated Java costs more CPU than running
    # it. Measured alone on 2 cores: tests/jobs/test_stress.py 79 -> 64 s, tests/jobs/ingest/
    # test_backfill.py 85 -> 70 s, test_run_faults.py 97 -> 79 s (CPU time -18 to -21%). Results do not
    # depend on it; the demo and the bench run compiled code.
    #
    # One task to read a Delta log (the profile's 4 are for logs of thousands of commits): a few
    # tenths of a second less per snapshot read.
    "RISKPIPE_SPARK_CONF": (
        "spark.sql.adaptive.enabled=false;"
        "spark.sql.codegen.factoryMode=NO_CODEGEN;"
        "spark.databricks.delta.snapshotPartitions=1"
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    # Settings are read from the environment, so point every table at a fresh
    # lakehouse before anything loads them.
    root = Path(tempfile.mkdtemp(prefix="riskpipe-test-"))
    config._riskpipe_tmp = root  # type: ignore[attr-defined]
    os.environ["RISKPIPE_LAKEHOUSE"] = str(root / "lakehouse")
    os.environ["RISKPIPE_LANDING"] = str(root / "landing")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["RISKPIPE_MLFLOW_ARTIFACT_ROOT"] = str(root / "mlartifacts")
    os.environ["RISKPIPE_DATA_DOCS_DIR"] = str(root / "data_docs")
    # Airflow must never touch the repo's airflow_home (or ~/airflow) from tests.
    os.environ["AIRFLOW_HOME"] = str(root / "airflow")
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)


# Modules by measured cost, heaviest first, and whether their tests are ``slow``. With ``--dist
# loadfile --no-loadscope-reorder`` (the Makefile) pytest-xdist hands out modules in collection
# order, so the long ones start at once on both workers and the many short ones fill in behind
# them; xdist's default order (most tests first) would start the one-test production-like run
# last, leaving one core idle while it runs alone. The ``slow`` ones are the long fault-injection
# loops (real processes killed and rerun), the end-to-end simulator pipeline and the
# production-like run on real services: ``make test`` (CI, every stop) leaves them out, ``make
# test-all`` runs them (docs/testing.md).
MODULES_BY_COST = (
    ("tests/test_production_like.py", True),
    ("tests/test_end_to_end.py", True),
    ("tests/jobs/test_bitemporal.py", True),
    ("tests/faults/test_exactly_once.py", True),
    ("tests/faults/test_kill_points.py", True),
    ("tests/faults/test_restore.py", True),
    ("tests/dags/test_dag_runs.py", True),
    ("tests/dags/test_monthly_chain_runs.py", True),
    ("tests/test_s3_lakehouse.py", True),
    ("tests/jobs/ingest/test_run.py", False),
    ("tests/faults/test_airflow.py", True),
    ("tests/faults/test_derived_checks.py", True),
    ("tests/faults/test_hostile_input.py", False),
    ("tests/faults/test_concurrency.py", False),
    ("tests/faults/test_replay.py", True),
    ("tests/faults/test_atomic_write.py", True),
    ("tests/jobs/features/test_incremental.py", False),
    ("tests/expectations/test_validate.py", False),
    ("tests/jobs/ingest/test_run_faults.py", False),
    ("tests/jobs/ingest/test_backfill.py", False),
    ("tests/jobs/test_assess.py", False),
    ("tests/jobs/test_stress.py", False),
    ("tests/jobs/test_fund.py", False),
    ("tests/riskpipe/core/test_jars.py", False),
    ("tests/faults/test_reconciliation.py", True),
)
SLOW_MODULES = frozenset(path for path, slow in MODULES_BY_COST if slow)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    rank = {path: i for i, (path, _slow) in enumerate(MODULES_BY_COST)}
    for item in items:
        if item.nodeid.split("::", 1)[0] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_unconfigure(config: pytest.Config) -> None:
    root = getattr(config, "_riskpipe_tmp", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def settings():
    from riskpipe.core.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def spark(settings):
    from riskpipe.core.spark import get_spark

    session = get_spark(settings=settings, app_name="riskpipe-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lakehouse_root(settings) -> str:
    return settings.lakehouse_root


# Size of the shared simulator pipeline: big enough for a few dozen defaults, small enough for
# make test. Bank transactions (the largest feed by far) are left out; every other source is in.
SIM_PIPELINE = {"enterprises": 300, "months": 30, "sources": ("tax", "utility", "court", "loans")}


@pytest.fixture(scope="session")
def sim_pipeline(pytestconfig, spark, settings, tmp_path_factory):
    """The whole pipeline on real simulator data, built once per session and shared.

    Simulated, ingested, features and labels built, champion trained and promoted in the
    session's MLflow store; see :mod:`riskpipe.testing.pipeline`. Tests must treat its silver
    and feature tables as read-only (the gold scoring tables are theirs to write).
    """
    from riskpipe.testing.pipeline import build_sim_pipeline

    # The store of pytest_configure: MLFLOW_TRACKING_URI may since have been rewritten
    # by ``mlflow.set_tracking_uri`` (e.g. by a test talking to a real tracking server).
    root = pytestconfig._riskpipe_tmp  # type: ignore[attr-defined]
    return build_sim_pipeline(
        tmp_path_factory.mktemp("sim_pipeline"),
        spark=spark,
        settings=settings,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "mlartifacts"),
        **SIM_PIPELINE,
    )
