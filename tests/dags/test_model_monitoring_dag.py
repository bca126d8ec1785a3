"""The model-monitoring DAG runs on the risk_scores asset and triggers retraining only on act-level drift."""

from __future__ import annotations

import datetime as dt

import pytest

from dags.model_monitoring import SKIP_TASK, TRIGGER_TASK, retraining_branch
from jobs.model_monitoring.main import retraining
from jobs.model_monitoring.metrics import MonitoringConfig
from models.evaluate import psi_status
from schemas.gold_monitoring import ALERT_STATUSES

CONFIG = MonitoringConfig()


def test_the_dag_parses_is_scheduled_on_scores_and_triggers_train_models(dagbag):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    assert "model_monitoring.py" not in str(dagbag.import_errors)
    dag = dagbag.dags["model_monitoring"]
    condition = dag.timetable.asset_condition
    assert {a.uri for a in getattr(condition, "objects", [condition])} == {"riskpipe://gold/risk_scores"}
    assert {"riskpipe", "models", "monitoring"} <= set(dag.tags)
    assert all(t.retries >= 2 for t in dag.tasks)
    assert {o.uri for o in dag.get_task("monitor_model").outlets} == {"riskpipe://gold/model_monitoring"}
    trigger = dag.get_task(TRIGGER_TASK)
    assert isinstance(trigger, TriggerDagRunOperator) and trigger.trigger_dag_id == "train_models"
    assert "train_models" in dagbag.dags
    assert dag.get_task("drift_decision").downstream_task_ids == {TRIGGER_TASK, SKIP_TASK}
    assert trigger.skip_when_already_exists and "retrain_split_date" in trigger.conf["split_date"]


def _summary(metric: str, value: float, status: str, subject: str = "score", config: MonitoringConfig = CONFIG) -> dict:
    alerts = [{"metric": metric, "subject": subject, "value": value, "status": status}]
    return retraining([a for a in alerts if a["status"] in ALERT_STATUSES], dt.date(2021, 12, 31), config)


@pytest.mark.parametrize(
    "psi, task", [(0.05, SKIP_TASK), (0.18, SKIP_TASK), (0.25, SKIP_TASK), (0.26, TRIGGER_TASK), (1.2, TRIGGER_TASK)]
)
def test_retraining_is_triggered_only_above_the_act_threshold(psi, task):
    summary = _summary("psi", psi, psi_status(psi, CONFIG.psi_stable, CONFIG.psi_act))
    assert retraining_branch(summary) == task
    if task == TRIGGER_TASK:  # validated on the last six matured snapshots (2020-07..2020-12)
        assert summary["retrain_split_date"] == "2020-07-01" and summary["retrain_reasons"]


def test_feature_drift_and_a_red_backtest_retrain_only_when_configured():
    assert retraining_branch(_summary("backtest_default_rate", 0.2, "red", subject="7")) == SKIP_TASK
    assert retraining_branch(_summary("psi", 0.9, "act", subject="ent_age_months")) == SKIP_TASK
    any_psi = MonitoringConfig.from_settings({"monitoring": {"retrain": {"triggers": ["psi"]}}})
    assert retraining_branch(_summary("psi", 0.9, "act", subject="ent_age_months", config=any_psi)) == TRIGGER_TASK


def test_an_unknown_monitoring_key_is_an_error():
    with pytest.raises(ValueError, match="monitoring.retrain.on"):
        MonitoringConfig.from_settings({"monitoring": {"retrain": {"on": ["psi"]}}})
