"""Scale-out proof: the same factory runs Delta jobs on a real Spark standalone cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from riskpipe.testing.spark_cluster import SparkStandalone

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    with SparkStandalone(tmp_path_factory.mktemp("cluster"), cores=1, memory="1g") as cluster:
        yield cluster


JOB = textwrap.dedent("""
    import sys
    from riskpipe.core.spark import get_spark
    from riskpipe.core.config import load_settings
    settings = load_settings()
    spark = get_spark(settings=settings, app_name="cluster-proof")
    assert spark.sparkContext.master == settings.spark_master, spark.sparkContext.master
    path = settings.lakehouse_root + "/cluster_proof"
    spark.range(0, 1000, numPartitions=4).selectExpr("id", "id * 2 AS twice") \\
        .write.format("delta").mode("overwrite").save(path)
    df = spark.read.format("delta").load(path)
    total = df.selectExpr("sum(twice)").collect()[0][0]
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    print(f"RESULT rows={df.count()} total={total} executors={executors}")
    spark.stop()
""")


def test_delta_write_and_read_on_standalone_cluster(standalone_cluster, tmp_path):
    env = dict(
        os.environ,
        RISKPIPE_SPARK_MASTER=standalone_cluster.url,
        RISKPIPE_LAKEHOUSE=str(tmp_path / "lake"),
        RISKPIPE_DRIVER_MEMORY="1g",
        RISKPIPE_EXECUTOR_MEMORY="1g",
    )
    proc = subprocess.run([sys.executable, "-c", JOB], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:] + standalone_cluster.logs()
    line = next(out for out in proc.stdout.splitlines() if out.startswith("RESULT"))
    assert "rows=1000" in line and f"total={sum(range(1000)) * 2}" in line
    # driver + one executor on the worker: the work really ran on the cluster
    assert "executors=2" in line
    # the worker launched an executor for our application, and the master saw it finish
    assert list(standalone_cluster.work_dir.glob("app-*")), "no application directory on the worker"
    finished = [a for a in standalone_cluster.finished_applications() if a["name"] == "cluster-proof"]
    assert [a["state"] for a in finished] == ["FINISHED"], standalone_cluster.status()
