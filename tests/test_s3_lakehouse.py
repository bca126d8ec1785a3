"""The lakehouse on a real S3-compatible server: the pipeline's commands on ``s3a://`` (issue 33, item 4).

The server is the Versity S3 Gateway on a folder of the test (:mod:`riskpipe.testing.s3_server`),
built once per clone into ``.cache/tools/`` by ``tests/s3/build-s3-server.sh``; the S3A client is
hadoop-aws of ``conf/production.yaml``, resolved once into ``.cache/jars/`` by ``riskpipe jars``.
Both are prepared side by side in the module fixture (``make test`` starts the server's build
before lint, see the Makefile).

The pipeline runs as a user runs it against object storage: the ``riskpipe`` commands, each in its
own process with its own Spark session, configured by the production profile and environment
variables only. Where the production stack and this test share a setting (bucket, region, path
style, lakehouse root, MLflow's artifact destination) it comes from ``docker/s3.env``, the stack's
one file of S3 settings; the endpoint and the keys are the test's server's. The rest of the
production profile applies as it is (hadoop-aws, Delta's log store and optimized writes), except
what a user sizes for a machine: a local Spark master, memory and partitions for 2 cores.

The data are small on purpose (the cost of a batch is per commit, not per row): 100 simulated
enterprises over 24 months from 2019-07 (nine defaults), two sources: the registry and the loan
ledger. The stages: ingestion, features and labels of the nine labelled month-ends, training of
the scorecard (MLflow's tracking store is a local SQLite file; the artifacts go to the bucket
through boto3, as ``MLFLOW_S3_ENDPOINT_URL`` directs), the promotion gate, scoring of the last
month-end with the champion loaded back from the bucket. Then delta-rs reads ``risk_scores`` from
the server, and the bucket's listing shows that every table and the model are there and that
nothing went to a local folder instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from riskpipe.core.config import REPO_ROOT
from riskpipe.testing.s3_server import S3Server
from tests.conftest import TEST_ENV
from tests.docker.stack import s3_settings

BUILD = REPO_ROOT / "tests" / "s3" / "build-s3-server.sh"
PRODUCTION = REPO_ROOT / "conf" / "production.yaml"
SIM = ["--enterprises", "100", "--months", "24", "--start", "2019-07", "--seed", "20190", "--sources", "loans"]
# two sources: the registry (ingest_registry) and the loan ledger (ingest_loans: contracts and daily balances)
SOURCES = ("enterprises", "loans", "loan_balances")
# the window and the month after it, when a monthly feed delivers the window's last month
INTERVAL = ("2019-07-01", "2021-08-01")
# the labelled month-ends (a 12-month outcome is observed up to 2021-06); scoring takes the last
FIRST_SNAPSHOT, LAST_SNAPSHOT = "2019-10-31", "2020-06-30"
SPLIT_DATE = "2020-03-01"
# 100 enterprises give a few dozen defaulted loan-months: too few for the production gate's limits
# on calibration by grade and score PSI (sampling noise), so the gate runs on wider ones; model
# quality is the simulator pipeline tests' business (tests/models/sim_champion.py)
MODELS = """\
models:
  kinds: [scorecard]
  calibration: {cv_folds: 2}
  gate: {max_calibration_error: 0.5, max_score_psi: 1.0, max_red_grades: 10}
"""
# generous: a busy 2-core machine runs a command several times slower than an idle one
COMMAND_TIMEOUT_SECONDS = 1800


def _prepare(env: dict[str, str]) -> Path:
    """Build the S3 server and resolve the production profile's jars side by side; the server's path."""
    started = {
        "s3 server build": subprocess.Popen(
            ["bash", str(BUILD)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ),
        "riskpipe jars": subprocess.Popen(
            [sys.executable, "-m", "riskpipe.cli", "jars"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        ),
    }
    out = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
        if process.returncode != 0:
            pytest.fail(f"{name} failed:\n{stdout}\n{stderr or ''}", pytrace=False)
        out[name] = stdout
    return Path(out["s3 server build"].strip().splitlines()[-1])


class Lakehouse:
    """The running server and the environment of the commands (their output: ``<root>/logs/``)."""

    def __init__(self, root: Path, server: S3Server, stack: dict[str, str]) -> None:
        self.root, self.server, self.stack = root, server, stack
        self.bucket = stack["RISKPIPE_S3_BUCKET"]
        self.lakehouse = stack["RISKPIPE_LAKEHOUSE"]
        self.env = _command_env(root, stack) | server.client_env()
        self.began = time.monotonic()

    def run(self, *args: str) -> str:
        """``riskpipe <args>`` in its own process; fails the test with its output when it fails.

        Prints the wall time and the CPU time of the command's processes (its Spark JVM included),
        which on a busy machine says more about the cost than the wall time.
        """
        import psutil

        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        out, err = logs / f"{args[0]}.out", logs / f"{args[0]}.err"
        began, cpu = time.monotonic(), {}
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "riskpipe.cli", *args], env=self.env, cwd=self.root, stdout=stdout, stderr=stderr
            )
            while process.poll() is None:
                if time.monotonic() - began > COMMAND_TIMEOUT_SECONDS:
                    for proc in psutil.Process(process.pid).children(recursive=True):
                        proc.kill()
                    process.kill()
                try:
                    top = psutil.Process(process.pid)
                    for proc in (top, *top.children(recursive=True)):
                        times = proc.cpu_times()
                        cpu[proc.pid] = times.user + times.system
                except psutil.Error:
                    pass
                time.sleep(1)
        print(
            f"[s3 {time.monotonic() - self.began:6.1f} s] riskpipe {args[0]}: {time.monotonic() - began:.1f} s, "
            f"{sum(cpu.values()):.0f} s of CPU",
            flush=True,
        )
        if process.returncode != 0:
            pytest.fail(
                f"riskpipe {' '.join(args)} exited {process.returncode}:\n"
                f"{out.read_text()[-4000:]}\n{err.read_text()[-6000:]}\n"
                f"--- {self.server.service.log_path} ---\n{self.server.service.log_tail(30)}",
                pytrace=False,
            )
        return out.read_text()


def _command_env(root: Path, stack: dict[str, str]) -> dict[str, str]:
    """The environment of every command: the production profile, the stack's S3 settings, this machine's sizes."""
    # nothing of the test session's own settings (its local lakehouse, MLflow store, S3 variables)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKPIPE_", "MLFLOW_", "AWS_"))}
    if os.environ.get("RISKPIPE_JARS_DIR"):
        env["RISKPIPE_JARS_DIR"] = os.environ["RISKPIPE_JARS_DIR"]
    env.update(TEST_ENV)
    env.update(
        RISKPIPE_PROFILE=str(PRODUCTION),
        RISKPIPE_LAKEHOUSE=stack["RISKPIPE_LAKEHOUSE"],
        RISKPIPE_S3_ENDPOINT=stack["RISKPIPE_S3_ENDPOINT"],
        RISKPIPE_S3_PATH_STYLE=stack["RISKPIPE_S3_PATH_STYLE"],
        RISKPIPE_LANDING=str(root / "landing"),
        RISKPIPE_DATA_DOCS_DIR="",
        # production sizes its executors for a cluster; this is one 2-core machine
        RISKPIPE_DRIVER_MEMORY="2g",
        RISKPIPE_EXECUTOR_MEMORY="1g",
        # one machine is every node: Spark loads the jars in place instead of copying the ~600 MB
        # AWS SDK into each command's work folder
        RISKPIPE_JARS_ON_EVERY_NODE="true",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        RISKPIPE_MLFLOW_ARTIFACT_ROOT=stack["MLFLOW_ARTIFACTS_DESTINATION"],
        MLFLOW_S3_ENDPOINT_URL=stack["MLFLOW_S3_ENDPOINT_URL"],
    )
    # Delta reads its log with one task per snapshot partition: the profile's 50 are for a cluster
    env["RISKPIPE_SPARK_CONF"] += ";spark.databricks.delta.snapshotPartitions=2"
    return env


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3-lakehouse")
    began = time.monotonic()
    # the stack's defaults until the server has an endpoint: the jars need only the profile
    stack = s3_settings()
    binary = _prepare(_command_env(root, stack))
    print(f"[s3 {time.monotonic() - began:6.1f} s] server built, jars resolved", flush=True)
    with S3Server(binary, root / "s3", region=stack["AWS_REGION"]) as server:
        stack = s3_settings({"RISKPIPE_S3_ENDPOINT": server.url})
        server.create_bucket(stack["RISKPIPE_S3_BUCKET"])
        state = Lakehouse(root, server, stack)
        (root / "models.yaml").write_text(MODELS, encoding="utf-8")
        state.run("simulate", *SIM, "--out", str(root / "landing"), "--quiet")
        state.run("ingest", *SOURCES, "--start", INTERVAL[0], "--end", INTERVAL[1])
        state.run("features", "build", "--from", FIRST_SNAPSHOT, "--to", LAST_SNAPSHOT)
        state.run("train", "--config", str(root / "models.yaml"), "--split-date", SPLIT_DATE)
        state.run("promote", "--config", str(root / "models.yaml"))
        state.run("score", "--as-of", LAST_SNAPSHOT)
        yield state


def _key(state: Lakehouse, table: str) -> str:
    """The object key prefix of a declared table in the bucket."""
    from schemas.registry import get

    return get(table).location(state.lakehouse).removeprefix(f"s3a://{state.bucket}/")


def test_scores_are_read_back_from_s3_with_delta_rs(lakehouse):
    from deltalake import DeltaTable

    # delta-rs names the scheme s3://; the object keys are the ones S3A wrote
    uri = f"s3://{lakehouse.bucket}/{_key(lakehouse, 'risk_scores')}"
    scores = DeltaTable(uri, storage_options=dict(lakehouse.server.storage_options()))
    frame = scores.to_pandas()
    assert len(frame) > 0 and frame["uscc"].is_unique
    assert set(frame["snapshot_date"].astype(str)) == {LAST_SNAPSHOT}
    assert frame["pd"].between(0, 1).all() and frame["grade"].notna().all()
    # scored by the champion the gate promoted: the first registered version
    assert set(frame["model_version"]) == {"1"} and set(frame["model_alias"]) == {"champion"}
    assert scores.history()[0]["operation"] in {"WRITE", "REPLACE TABLE AS SELECT", "MERGE", "CREATE OR REPLACE TABLE"}


def test_every_table_and_the_model_are_objects_in_the_bucket(lakehouse):
    keys = lakehouse.server.keys(lakehouse.bucket)
    tables = (*SOURCES, *(f"bronze_{s}" for s in SOURCES), "enterprise_features", "default_labels", "risk_scores")
    for table in tables:
        assert any(k.startswith(f"{_key(lakehouse, table)}/_delta_log/") and k.endswith(".json") for k in keys), table
    lake = lakehouse.lakehouse.removeprefix(f"s3a://{lakehouse.bucket}/")
    artifacts = lakehouse.stack["MLFLOW_ARTIFACTS_DESTINATION"].removeprefix(f"s3://{lakehouse.bucket}/")
    assert {k.split("/")[0] for k in keys} == {lake.split("/")[0], artifacts.split("/")[0]}
    # the registered model that scoring loaded back
    assert any(k.startswith(f"{artifacts}/") and k.endswith("/MLmodel") for k in keys)
    # and nothing went to a local folder instead: the test's folder holds what the test made
    assert sorted(p.name for p in lakehouse.root.iterdir()) == ["landing", "logs", "mlflow.db", "models.yaml", "s3"]


def test_the_server_keeps_the_objects_on_its_own_disk(lakehouse):
    first_commit = lakehouse.server.data / lakehouse.bucket / _key(lakehouse, "risk_scores") / "_delta_log"
    assert (first_commit / "00000000000000000000.json").read_bytes().startswith(b"{")


def test_the_server_refuses_a_second_create_of_one_key(lakehouse):
    """S3 conditional writes: the put-if-absent a Delta log store would need for more than one writer
    (docs/operations.md, "One writer at a time on S3"); delta-spark 4.4 does not use it yet."""
    from botocore.exceptions import ClientError

    client, key = lakehouse.server.client(), "conditional/00000000000000000000.json"
    client.put_object(Bucket=lakehouse.bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        client.put_object(Bucket=lakehouse.bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert client.get_object(Bucket=lakehouse.bucket, Key=key)["Body"].read() == b"first"
    client.delete_object(Bucket=lakehouse.bucket, Key=key)
