"""Production-like run without Docker: the DAGs on real services, driven through Airflow's REST API.

Started on localhost by the ``prodlike`` fixture, each on free ports with its log under the
test's tmp folder (printed when the test fails), and all stopped in its teardown:

* one throwaway PostgreSQL server (Debian's binaries) with the databases ``airflow``, ``mlflow`` and
  ``core_banking`` (the simulator's loan ledger, the bank's core banking system);
* an MLflow tracking server on the ``mlflow`` database, artifacts proxied (``mlflow-artifacts:``);
* a Spark standalone master and worker (pyspark's own Spark);
* Airflow 3: ``api-server``, ``scheduler`` (LocalExecutor) and ``dag-processor`` on the ``airflow``
  database, the SimpleAuthManager with a generated admin password.

Configuration reaches the task processes only through the environment the three Airflow services
are started with, as in ``docker/compose.yaml``: ``RISKPIPE_SPARK_MASTER=spark://...``,
``RISKPIPE_LAKEHOUSE``, ``RISKPIPE_LANDING``, ``MLFLOW_TRACKING_URI=http://...``, the Airflow connection
``AIRFLOW_CONN_RISKPIPE_CORE_BANKING`` and ``RISKPIPE_PROFILE`` (``features.first_snapshot``, so the
first features run fills the history, and the gate limits, see :func:`_profile`).

How runs are created (no catch-up storm): ``RISKPIPE_INGEST_START_DATE`` is the start of the test,
so the ingestion DAGs' schedules have nothing to catch up; the history is loaded as a first
deployment would, by one manual run per ingestion DAG whose data interval spans the simulated
window (``POST /api/v2/dags/{id}/dagRuns`` with a logical date and ``data_interval_start/end``).
Then:

1. ingest_registry (file drop), then ingest_loans (``mode=jdbc``: loans and daily balances from
   the core banking database by watermark), then ingest_utility and ingest_tax (file drops);
2. features_monthly: triggered by the **asset events** of tax_filings and utility_reads (real
   asset trigger); it builds every month-end from ``first_snapshot`` to the window's last;
3. train_models: explicit trigger with params (split date, promote) -> ``models:/sme_pd@champion``;
4. score_monthly: **explicit trigger** with the ``snapshot_date`` param (the last month-end): it
   scores the snapshot with the champion and runs the post-loan monitoring. It stays paused until
   the champion exists (asset events are not queued for a paused DAG), so the features run of
   step 2 does not start a scoring run without a model; triggering it through the features asset
   would need one more features run (one more cold Spark application), which the time budget of
   ``make test`` does not allow. The asset wiring features -> scoring is checked by
   tests/dags/test_features_dag.py.

5. the rest of the monthly chain, with no further trigger: ``model_monitoring`` and
   ``portfolio_monthly`` (portfolio risk under the fund, then the stress scenarios, and the
   warnings' backtest) start on the ``risk_scores`` event of step 4, and ``report_monthly`` once all
   six of its input assets have an event for the month;
6. ``score_monthly`` triggered a second time for the same month: the chain runs again and every
   table holds the month's rows once, the report one file with the same content.

Every Spark job runs on the standalone cluster: the master's JSON API must list each task's
application as finished. Sources are the ones features and labels need for a model (registry,
tax, utility, loans); court events and bank transactions are left out for time (the court API
and the file-drop ledger have their own DAG tests in tests/dags/).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.postgres]

SIM = {"enterprises": 120, "months": 30, "seed": 20190, "start": "2019-01", "sources": ("tax", "utility", "loans")}
WINDOW = (dt.datetime(2019, 1, 1, tzinfo=dt.UTC), dt.datetime(2021, 7, 1, tzinfo=dt.UTC))
FIRST_SNAPSHOT, LAST_SNAPSHOT = "2019-07-31", "2021-06-30"
SPLIT_DATE = "2020-01-01"  # train on 2019-07..12, out of time 2020-01..06 (12-month labels observed)
MODEL_NAME = "sme_pd"
# This test checks the wiring, not the model: with 120 enterprises and the 2020 shock between
# train and out of time, calibration by grade and score PSI are mostly sampling noise (runs of
# this seed measured OOT AUC 0.87, calibration error 0.03-0.06, score PSI 0.29-0.56). The gate
# still runs and must pass, on limits no sane model of this sample misses.
GATE = {"max_calibration_error": 0.15, "max_score_psi": 1.5}
# in order; the DAGs of one group run together (the Delta writer pool still serialises their tasks)
INGESTION = (("ingest_registry",), ("ingest_loans",), ("ingest_utility", "ingest_tax"))
INGEST_CONF = {"ingest_loans": {"mode": "jdbc"}}
# the DAGs that the risk_scores events of score_monthly start, directly or through their assets
CHAIN = ("model_monitoring", "portfolio_monthly", "report_monthly")
DAGS = [dag for group in INGESTION for dag in group] + ["features_monthly", "train_models", "score_monthly", *CHAIN]
# the month's rows of each gold table the chain writes, keyed as the table declares them
CHAIN_TABLES = ("model_monitoring", "portfolio_risk", "portfolio_metrics", "stress_results")
# Spark application of every task that runs a Spark job (app_name of the jobs)
SPARK_APPS = {
    "riskpipe-ingest-enterprises",
    "riskpipe-ingest-loans",
    "riskpipe-ingest-loan_balances",
    "riskpipe-ingest-utility_reads",
    "riskpipe-ingest-tax_filings",
    "riskpipe-ingest-tax_ratings",
    "riskpipe-features",
    "riskpipe-train",
    "riskpipe-scoring",
    "riskpipe-post-loan",
    "riskpipe-model-monitoring",
    "riskpipe-portfolio",
    "riskpipe-stress",
    "riskpipe-report",
}
RUN_TIMEOUT = 1200
# prefixes of the calling process's variables the services must not inherit (pytest's own settings)
NOT_INHERITED = ("RISKPIPE_", "MLFLOW_", "AIRFLOW_", "SPARK_", "PYSPARK_")


def _profile(path: Path, reports: Path) -> Path:
    path.write_text(
        textwrap.dedent(f"""\
        # production-like test: the first features run fills the history from this month-end
        features:
          first_snapshot: "{FIRST_SNAPSHOT}"
        # {SIM["enterprises"]} enterprises are too few for the production limits on calibration
        # by grade and score PSI (sampling noise; the 2020 shock lies between train and out of
        # time): the gate still runs, on wider limits. Model quality is the simulator pipeline
        # tests' business (tests/models/sim_champion.py).
        models:
          gate: {{max_calibration_error: {GATE["max_calibration_error"]}, max_score_psi: {GATE["max_score_psi"]}}}
        # the score's PSI between the 2019 training sample and mid-2021 is the 2020 shock plus
        # the sampling noise of 120 enterprises: no alert triggers a retraining in this test (the
        # branch is tests/dags/test_model_monitoring_dag.py's business)
        monitoring:
          retrain: {{triggers: []}}
        report:
          output_dir: "{reports}"
        """),
        encoding="utf-8",
    )
    return path


def _progress(message: str, began: float) -> None:
    print(f"[prodlike {time.monotonic() - began:6.1f} s] {message}", flush=True)


class Prodlike:
    """The running services and what the test needs to know about them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.began = time.monotonic()
        self.pg = self.cluster = self.mlflow = self.airflow = None
        self.env: dict[str, str] = {}
        self.first_chain: dict[str, object] = {}

    def service_logs(self) -> str:
        parts = []
        for holder in (self.cluster, self.mlflow and self.mlflow.service, self.airflow):
            if holder is None:
                continue
            parts.append(
                holder.logs() if hasattr(holder, "logs") else f"--- {holder.log_path} ---\n{holder.log_tail()}"
            )
        return "\n".join(parts)


@pytest.fixture(scope="module")
def prodlike(tmp_path_factory):
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig
    from riskpipe.simulate.postgres import load_postgres
    from riskpipe.testing.airflow_stack import AirflowStack
    from riskpipe.testing.mlflow_server import MlflowServer
    from riskpipe.testing.postgres import PostgresServer
    from riskpipe.testing.spark_cluster import SparkStandalone

    root = tmp_path_factory.mktemp("prodlike")
    state = Prodlike(root)
    try:
        state.pg = PostgresServer(database="airflow").start()
        state.pg.create_database("mlflow")
        state.pg.create_database("core_banking")
        _progress(f"PostgreSQL on port {state.pg.port}", state.began)
        state.cluster = SparkStandalone(root / "spark", cores=2, memory="2g")
        state.mlflow = MlflowServer(root / "mlflow", backend_store_uri=state.pg.uri_for("mlflow", driver="psycopg2"))
        start_date = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).replace(microsecond=0)
        base = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
        state.env = {
            **base,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": state.pg.uri_for("airflow", driver="psycopg2"),
            "RISKPIPE_SPARK_MASTER": state.cluster.url,
            "RISKPIPE_LAKEHOUSE": str(root / "lakehouse"),
            "RISKPIPE_LANDING": str(root / "landing"),
            "RISKPIPE_PROFILE": str(_profile(root / "profile.yaml", root / "reports")),
            "RISKPIPE_DRIVER_MEMORY": "1g",
            "RISKPIPE_EXECUTOR_MEMORY": "1g",
            "RISKPIPE_SHUFFLE_PARTITIONS": "2",
            "RISKPIPE_SPARK_UI": "false",
            "RISKPIPE_SPARK_CONF": os.environ.get("RISKPIPE_SPARK_CONF", ""),  # the tests' (conftest)
            "RISKPIPE_DATA_DOCS_DIR": "",  # no Data Docs site rebuilt after every batch
            "RISKPIPE_INGEST_START_DATE": start_date.isoformat(),
            "MLFLOW_TRACKING_URI": state.mlflow.url,
            "AIRFLOW_CONN_RISKPIPE_CORE_BANKING": state.pg.uri_for("core_banking"),
            "PYSPARK_PYTHON": sys.executable,
            # the DAG files do not change during the test: parse them once, not every 30 s, and
            # leave the two cores to the Spark jobs
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        }
        state.airflow = AirflowStack(root / "airflow", env=state.env)
        # The slow starts overlap: Airflow's migrations, MLflow's migrations, the JVMs, the simulator.
        with ThreadPoolExecutor(max_workers=3) as pool:
            migrated = pool.submit(state.airflow.migrate)
            mlflow_up = pool.submit(state.mlflow.start)
            cluster_up = pool.submit(state.cluster.start)
            simulate(SimConfig(quiet=True, **SIM), root / "landing")
            loaded = load_postgres(root / "landing", state.pg.dsn_for("core_banking"))
            _progress(
                f"simulated {SIM['enterprises']} enterprises x {SIM['months']} months; core banking: {loaded}",
                state.began,
            )
            for name, future in (("spark", cluster_up), ("mlflow", mlflow_up), ("airflow db", migrated)):
                future.result()
                _progress(f"{name} ready", state.began)
        state.airflow.start(expected_dags=DAGS, migrate=False)
        _progress(f"Airflow up on {state.airflow.url}, DAGs parsed", state.began)
        yield state
    except BaseException:
        print(state.service_logs(), file=sys.stderr)
        raise
    finally:
        for holder in (state.airflow, state.mlflow, state.cluster, state.pg):
            if holder is not None:
                try:
                    holder.stop()
                except Exception as error:  # noqa: BLE001 - stop the others
                    print(f"could not stop {holder}: {error}", file=sys.stderr)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _run_flow(state: Prodlike) -> dict[str, list[str]]:
    """Drive the DAGs as an operator would; returns dag_id -> run ids, all successful."""
    client, watch = state.airflow.client, state.airflow.services
    runs: dict[str, list[str]] = {}
    for dag_id in DAGS:
        if dag_id != "score_monthly":
            client.set_paused(dag_id, False)
    for group in INGESTION:
        triggered = {
            dag_id: client.trigger(
                dag_id,
                logical_date=_now(),
                data_interval=WINDOW,
                conf=INGEST_CONF.get(dag_id),
                note="initial load of the history",
            )
            for dag_id in group
        }
        for dag_id, run_id in triggered.items():
            client.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT, watch=watch)
            runs.setdefault(dag_id, []).append(run_id)
            _progress(f"{dag_id} {run_id}: success", state.began)

    features = client.wait_for_new_run("features_monthly", run_type="asset_triggered", timeout=300, watch=watch)
    client.wait_for_run("features_monthly", features["dag_run_id"], timeout=RUN_TIMEOUT, watch=watch)
    runs["features_monthly"] = [features["dag_run_id"]]
    _progress(f"features_monthly {features['dag_run_id']} (asset-triggered): success", state.began)

    train = client.trigger("train_models", logical_date=None, conf={"split_date": SPLIT_DATE, "promote": True})
    client.wait_for_run("train_models", train, timeout=RUN_TIMEOUT, watch=watch)
    runs["train_models"] = [train]
    decision = client.xcom("train_models", train, "promote")
    assert decision and decision.get("promoted"), f"the gate refused the first champion: {decision}"
    _progress(f"train_models {train}: success, promoted {decision}", state.began)

    client.set_paused("score_monthly", False)
    for attempt in (1, 2):
        score = client.trigger("score_monthly", logical_date=None, conf={"snapshot_date": LAST_SNAPSHOT})
        client.wait_for_run("score_monthly", score, timeout=RUN_TIMEOUT, watch=watch)
        runs.setdefault("score_monthly", []).append(score)
        _progress(f"score_monthly {score} ({attempt} of 2): success", state.began)
        # the rest of the chain follows the scores' events, with no trigger of ours
        for dag_id in CHAIN:
            chained = client.wait_for_new_run(
                dag_id, run_type="asset_triggered", known=runs.get(dag_id, ()), timeout=RUN_TIMEOUT, watch=watch
            )
            client.wait_for_run(dag_id, chained["dag_run_id"], timeout=RUN_TIMEOUT, watch=watch)
            runs.setdefault(dag_id, []).append(chained["dag_run_id"])
            _progress(f"{dag_id} {chained['dag_run_id']} (asset-triggered): success", state.began)
        if attempt == 1:
            state.first_chain = _chain_outputs(state)
    return runs


def _chain_outputs(state: Prodlike) -> dict[str, object]:
    """What the chain wrote for the month: each gold table's rows of it, and the report files."""
    tables = {}
    for table in CHAIN_TABLES:
        frame = _read_gold(state, table)
        tables[table] = frame[frame["snapshot_date"].astype(str) == LAST_SNAPSHOT]
    reports = {p.name: p.read_bytes() for p in sorted((state.root / "reports").glob("*.html"))}
    return {"tables": tables, "reports": reports}


def _read_gold(state: Prodlike, table: str):
    """A gold table as pandas, read with delta-rs (no JVM in the test process)."""
    from deltalake import DeltaTable

    from riskpipe.core import io
    from riskpipe.core.config import load_settings

    return DeltaTable(io.table_path(table, settings=load_settings(state.env))).to_pandas()


@pytest.mark.timeout(5400)
def test_dags_run_on_real_services_through_the_rest_api(prodlike):
    try:
        _check(prodlike)
    except BaseException:
        print(prodlike.service_logs())
        raise


def _check(state: Prodlike) -> None:
    from mlflow import MlflowClient

    runs = _run_flow(state)
    client = state.airflow.client

    # every run the scheduler knows succeeded, and none was created by a catch-up
    for dag_id in DAGS:
        known = client.dag_runs(dag_id)
        assert {r["dag_run_id"] for r in known} == set(runs[dag_id]), (dag_id, known)
        assert {r["state"] for r in known} == {"success"}, (dag_id, known)
        assert not [r for r in known if r["run_type"] == "scheduled"], (dag_id, known)
    summary = client.xcom("features_monthly", runs["features_monthly"][0], "build_features")
    assert summary["snapshot_months"][0] == FIRST_SNAPSHOT[:7] and summary["snapshot_months"][-1] == LAST_SNAPSHOT[:7]
    assert len(summary["snapshot_months"]) == 24, summary

    # the champion resolves on the tracking server, its artifacts are served by it
    mlflow = MlflowClient(tracking_uri=state.mlflow.url, registry_uri=state.mlflow.url)
    champion = mlflow.get_model_version_by_alias(MODEL_NAME, "champion")
    assert mlflow.get_run(champion.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    assert any(state.mlflow.artifacts.rglob("MLmodel")), "no model artifacts written by the server"

    # gold: features of every month-end, scores of the last one by the champion
    features = _read_gold(state, "enterprise_features")
    months = sorted(features["snapshot_month"].unique())
    assert months[0] == FIRST_SNAPSHOT[:7] and months[-1] == LAST_SNAPSHOT[:7] and len(months) == 24, months
    scores = _read_gold(state, "risk_scores")
    scored = scores[scores["snapshot_date"].astype(str) == LAST_SNAPSHOT]
    assert len(scored) > 0, scores["snapshot_date"].unique()
    assert set(scored["model_name"]) == {MODEL_NAME}
    assert set(scored["model_version"].astype(str)) == {str(champion.version)}
    assert scored["pd"].between(0, 1).all()

    # the chain after scoring, run by the scheduler twice for the month: its rows once, the same report
    from schemas.registry import get

    second = _chain_outputs(state)
    for table in CHAIN_TABLES:
        rows, before = second["tables"][table], state.first_chain["tables"][table]
        keys = list(get(table).keys)
        assert len(rows) > 0, f"{table}: no rows for {LAST_SNAPSHOT}"
        assert not rows.duplicated(keys).any(), f"{table}: a key twice for {LAST_SNAPSHOT}"
        assert len(rows) == len(before), f"{table}: {len(before)} rows, then {len(rows)}"
    assert list(second["reports"]) == [f"risk_report_{LAST_SNAPSHOT}.html"], list(second["reports"])
    assert second["reports"] == state.first_chain["reports"], "the second chain changed the report"

    # the metadata lives in PostgreSQL: the DAG runs in Airflow's database, the model in MLflow's
    conn = state.pg.connect()  # the login role's database is Airflow's
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT dag_id, count(*) FROM dag_run GROUP BY dag_id")
            assert dict(cur.fetchall()) == {dag: len(ids) for dag, ids in runs.items()}
    finally:
        conn.close()

    # every Spark job ran on the standalone cluster and finished there
    apps = state.cluster.finished_applications()
    finished = {a["name"] for a in apps if a["state"] == "FINISHED"}
    assert SPARK_APPS <= finished, f"missing on the cluster: {SPARK_APPS - finished}; master: {apps}"
    assert list(state.cluster.work_dir.glob("app-*")), "the worker ran no executor"
    _progress(
        f"checked: {len(apps)} Spark applications, champion v{champion.version}, "
        f"{len(scored)} scores for {LAST_SNAPSHOT}",
        state.began,
    )
