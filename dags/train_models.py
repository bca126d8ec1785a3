"""Train the PD models (WoE scorecard + LightGBM challenger), then put the candidate through
the promotion gate. Manual by default; set ``RISKPIPE_TRAIN_SCHEDULE`` to a cron expression
(e.g. ``0 6 5 * *``) to retrain monthly. Params pin the data: the Delta version of the
training table, the out-of-time split date and whether to promote after training.
Training only reads the lakehouse and writes MLflow, so it does not take the Delta writer pool."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param, dag, task

from dags._common import DEFAULT_ARGS, task_session, task_settings
from riskpipe import pipeline

SCHEDULE_ENV = "RISKPIPE_TRAIN_SCHEDULE"


@dag(
    dag_id="train_models",
    schedule=os.environ.get(SCHEDULE_ENV) or None,
    start_date=datetime(2019, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=dict(DEFAULT_ARGS),
    tags=["riskpipe", "models"],
    doc_md=__doc__,
    params={
        "table": Param(None, type=["null", "string"], description="training table (default: models.data.table)"),
        "data_version": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            description="Delta version of the table to train on (default: latest, logged)",
        ),
        "split_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="out-of-time split: train before, validate on/after (default: config)",
        ),
        "promote": Param(True, type="boolean", description="run the promotion gate after training"),
    },
)
def train_models():
    @task
    def train(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        params = params or {}
        data = {
            k: v
            for k, v in {
                "table": params.get("table"),
                "version": params.get("data_version"),
                "split_date": params.get("split_date"),
            }.items()
            if v is not None
        }
        # keyed by the DAG run: a retried attempt resumes its MLflow runs instead of logging
        # and registering the same models twice
        settings, spark = task_session("riskpipe-train")
        context = pipeline.RunContext(
            model={"data": data} if data else {}, run_key=f"train_models/{run_id}" if run_id else None
        )
        result = pipeline.run("train", context, settings=settings, spark=spark)
        return {
            "source": {k: str(v) for k, v in result.source.items()},
            "candidate_version": result.candidate_version,
            "models": {
                k: {
                    "version": m.version,
                    "run_id": m.run_id,
                    "oot_auc": m.metrics["oot_auc"],
                    "oot_ece": m.metrics["oot_ece"],
                    "psi_score": m.metrics["psi_score"],
                }
                for k, m in result.models.items()
            },
        }

    @task
    def promote(summary: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        if not (params or {}).get("promote", True) or not summary.get("candidate_version"):
            return {"promoted": False, "reasons": ["promotion not requested"]}
        # the gate reads MLflow only: no Spark session
        context = pipeline.RunContext(version=summary["candidate_version"])
        decision = pipeline.run("promote", context, settings=task_settings(), spark=None)
        # A refused candidate is a normal outcome, not a task failure: the champion stays.
        return {"promoted": decision.passed, "version": summary["candidate_version"], "reasons": decision.reasons}

    promote(train())


dag = train_models()

if __name__ == "__main__":
    dag.test()
