"""The one Spark session factory used by every job, DAG task and test.

Defaults suit a 2-core, 24 GB machine (``local[*]``, few shuffle partitions,
adaptive execution); everything is overridable through the profile and
environment variables described in :mod:`riskpipe.core.config`. Pointing
``RISKPIPE_SPARK_MASTER`` at ``spark://host:7077`` (or ``yarn``, ``k8s://...``)
is the only change needed to run the same jobs on a cluster.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from riskpipe.core.config import REPO_ROOT, Settings
from riskpipe.core.jars import ensure_jars

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def spark_conf(settings: Settings) -> dict[str, str]:
    """Build the full Spark configuration for ``settings`` (pure; no JVM)."""
    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.driver.memory": settings.driver_memory,
        "spark.executor.memory": settings.executor_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(max(2, settings.shuffle_partitions)),
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(REPO_ROOT / "var" / "spark-warehouse"),
        # Delta tables here are created by path; keep the Derby metastore out of the cwd.
        # JDBC timestamps without time zone are read in the JVM zone: pin it to UTC
        # like the session, so watermarks never shift with the machine's zone.
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={REPO_ROOT / 'var' / 'derby'} -Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
    }
    jars = ensure_jars(settings=settings)
    if jars:
        # With the jar cache on every node (the docker/ image), executors load the jars in place
        # instead of each fetching them from the driver (the AWS SDK bundle alone is ~600 MB).
        prefix = "local:" if settings.jars_on_every_node else ""
        conf["spark.jars"] = ",".join(prefix + jar for jar in jars)
    conf.update(settings.spark_conf)
    conf.update(settings.object_store_conf)
    return conf


def get_spark(*, settings: Settings, app_name: str | None = None) -> SparkSession:
    """Return the active session or build one from ``settings``.

    Args:
        settings: resolved settings, loaded once by the entry point (CLI command, DAG task, test fixture).
        app_name: overrides ``spark.app_name`` from the profile.

    Returns:
        A SparkSession with Delta Lake enabled.
    """
    # Workers must run the same interpreter as the driver, or Python UDFs
    # (mlflow.pyfunc.spark_udf included) fail with missing modules.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    Path(REPO_ROOT / "var").mkdir(exist_ok=True)
    builder = SparkSession.builder.master(settings.spark_master).appName(app_name or settings.app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def stop_spark() -> None:
    """Stop the active session, if any (used by CLI commands on exit)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
