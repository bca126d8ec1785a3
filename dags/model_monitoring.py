"""Monitor the champion once a month, after scoring; retrain when drift passes the act threshold.

Scheduled on the asset ``riskpipe://gold/risk_scores`` (published by ``score_monthly`` with
the snapshot date in the event). ``monitor_model`` writes gold ``model_monitoring`` for each
snapshot (PSI of the score and features against the training sample, the PD backtest by grade
on matured snapshots, AUC and KS; ``monitoring:`` section of the profile) and publishes
``riskpipe://gold/model_monitoring``. ``drift_decision`` then follows ``trigger_retraining``
(a run of ``train_models``, whose candidate still has to pass the promotion gate) only when the
latest snapshot has an alert listed in ``monitoring.retrain.triggers`` (default: the score's
PSI above 0.25), else ``no_retraining``. The triggered run is named after the snapshot, so
clearing this DAG never retrains twice for the same month. A manual run or a backfill sets the
``snapshot_date`` param (a month-end).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, Param, dag, get_current_context, task

from dags._common import DEFAULT_ARGS, START_DATE, small_summary, snapshot_dates, task_session
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

SCORES = Asset(name="riskpipe://gold/risk_scores", uri="riskpipe://gold/risk_scores")
MONITORING = Asset(name="riskpipe://gold/model_monitoring", uri="riskpipe://gold/model_monitoring")
TAGS = ["riskpipe", "models", "monitoring", "gold"]
TRAIN_DAG_ID = "train_models"
MONITOR_TASK, TRIGGER_TASK, SKIP_TASK = "monitor_model", "trigger_retraining", "no_retraining"
_LATEST = f"ti.xcom_pull(task_ids='{MONITOR_TASK}')"


def retraining_branch(summary: dict[str, Any]) -> str:
    """The task to follow after monitoring: ``trigger_retraining`` when the job's summary of the
    latest snapshot says its alerts call for retraining (``retrain``), else ``no_retraining``."""
    return TRIGGER_TASK if summary.get("retrain") else SKIP_TASK


@dag(
    dag_id="model_monitoring",
    schedule=[SCORES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=dict(DEFAULT_ARGS),
    tags=TAGS,
    doc_md=__doc__,
    params={
        "snapshot_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="month-end to monitor (default: from the risk_scores event)",
        )
    },
)
def model_monitoring():
    @task(task_id="snapshot_dates")
    def which_snapshots() -> list[str]:
        """Month-end(s) to monitor: the param, else the triggering risk_scores events."""
        return snapshot_dates(get_current_context())

    @task(task_id=MONITOR_TASK, pool=DELTA_WRITER_POOL, inlets=[SCORES], outlets=[MONITORING])
    def monitor(days: list[str]) -> dict[str, Any]:
        """Monitor each snapshot in order; return the latest one's summary (it decides on retraining)."""
        settings, spark = task_session("riskpipe-model-monitoring")
        summaries = [
            small_summary(
                pipeline.run("model_monitoring", pipeline.RunContext(snapshots=(day,)), settings=settings, spark=spark)
            )
            for day in days
        ]
        get_current_context()["outlet_events"][MONITORING].extra = {"snapshot_date": days[-1]}
        return {**summaries[-1], "months": [s.get("snapshot_date") for s in summaries]}

    @task.branch(task_id="drift_decision")
    def decide(summary: dict[str, Any]) -> str:
        return retraining_branch(summary)

    retrain = TriggerDagRunOperator(
        task_id=TRIGGER_TASK,
        trigger_dag_id=TRAIN_DAG_ID,
        trigger_run_id=f"drift__{{{{ {_LATEST}['snapshot_date'] }}}}",
        skip_when_already_exists=True,
        conf={"split_date": f"{{{{ {_LATEST}['retrain_split_date'] }}}}", "promote": True},
    )
    decide(monitor(which_snapshots())) >> [retrain, EmptyOperator(task_id=SKIP_TASK)]


dag = model_monitoring()

if __name__ == "__main__":
    dag.test(run_conf={"snapshot_date": "2021-06-30"})
