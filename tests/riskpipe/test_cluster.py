"""Scale-out proof: the same factory runs Delta jobs on a real Spark standalone cluster."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from riskpipe.jars import spark_home

pytestmark = pytest.mark.cluster


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on port {port}")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    home = spark_home()
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOG_DIR=str(tmp), SPARK_WORKER_DIR=str(tmp / "work"),
               PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    spark_class = str(home / "bin" / "spark-class")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(ui)], env=env, stdout=open(tmp / "master.log", "w"), stderr=subprocess.STDOUT)
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        _wait_for_port(port)
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
             "--memory", "1g", "--webui-port", str(worker_ui), "--work-dir", str(tmp / "work")],
            env=env, stdout=open(tmp / "worker.log", "w"), stderr=subprocess.STDOUT)
        _wait_for_port(worker_ui)
        yield url, tmp
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


JOB = textwrap.dedent("""
    import sys
    from riskpipe.spark import get_spark
    from riskpipe.config import load_settings
    settings = load_settings()
    spark = get_spark(settings, app_name="cluster-proof")
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


def test_delta_write_and_read_on_standalone_cluster(standalone_cluster):
    url, tmp = standalone_cluster
    env = dict(os.environ, RISKPIPE_SPARK_MASTER=url, RISKPIPE_LAKEHOUSE=str(tmp / "lake"),
               RISKPIPE_DRIVER_MEMORY="1g", RISKPIPE_EXECUTOR_MEMORY="1g")
    proc = subprocess.run([sys.executable, "-c", JOB], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:] + (tmp / "worker.log").read_text()[-2000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    assert "rows=1000" in line and f"total={sum(range(1000)) * 2}" in line
    # driver + one executor on the worker: the work really ran on the cluster
    assert "executors=2" in line
    # the worker launched an executor for our application
    apps = list(Path(tmp / "work").glob("app-*"))
    assert apps, "no application directory on the worker"
