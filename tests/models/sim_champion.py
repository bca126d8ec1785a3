"""The champion trained on simulator data: out-of-time discrimination and calibration by grade.

Runs on the session's end-to-end pipeline (``sim_pipeline``): the champion (the kind chosen by
out-of-fold Gini) was trained on the active borrowers' simulated, ingested, point-in-time features
and promoted through the gate. The model
is loaded back from the registry as production would (``models:/<name>@champion``) and scores
the out-of-time sample of the data version it was trained on.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

# Domain brief: on a real portfolio with 1-6 % default rates an AUC of 0.75-0.85 is strong.
# The simulator is built for that range; the floor is its lower end.
OOT_AUC_FLOOR = 0.75
# Monotonicity of the realised rate across grades: neighbouring grades with at least this many rows,
# compared within Z binomial standard errors of their pooled rate.
MIN_GRADE_ROWS = 40
CALIBRATION_Z = 3.0
MIN_POPULATED_GRADES = 4


@pytest.fixture(scope="module")
def champion(spark, sim_pipeline):
    """(registry model, pinned OOT sample, scored OOT frame, logged metrics of the champion)."""
    import mlflow

    from models.data import load_training_data
    from models.registry import version_metrics

    config = sim_pipeline.model_config
    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{config.name}@champion")
    source = sim_pipeline.train_result.source
    pinned = dataclasses.replace(config.data, version=source["version"], label_version=source["label_version"])
    data = load_training_data(pinned, spark=spark, settings=sim_pipeline.settings)
    scored = model.predict(data.valid[model.metadata.get_input_schema().input_names()])
    metrics, _ = version_metrics(config, sim_pipeline.champion_version)
    return data, scored, metrics


def test_champion_reproduces_its_logged_out_of_time_metrics(champion, sim_pipeline):
    from sklearn.metrics import roc_auc_score

    data, scored, metrics = champion
    y = data.valid[sim_pipeline.model_config.data.label_col]
    assert len(scored) == len(data.valid) == metrics["oot_rows"]
    assert roc_auc_score(y, scored["pd"]) == pytest.approx(metrics["oot_auc"], abs=1e-9)
    assert float(np.mean(scored["pd"])) == pytest.approx(metrics["oot_mean_pd"], abs=1e-9)


def test_champion_ranks_later_defaults_out_of_time(champion):
    _, _, metrics = champion
    print(
        f"champion OOT AUC {metrics['oot_auc']:.3f}, KS {metrics['oot_ks']:.3f} on "
        f"{metrics['oot_rows']:.0f} rows at default rate {metrics['oot_default_rate']:.2%}"
    )
    assert metrics["oot_auc"] >= OOT_AUC_FLOOR


def _grades(champion) -> pd.DataFrame:
    data, scored, _ = champion
    frame = pd.DataFrame(
        {"grade": scored["grade"].astype(int), "pd": scored["pd"].to_numpy(), "y": data.valid["default_12m"].to_numpy()}
    )
    table = frame.groupby("grade").agg(
        rows=("y", "size"), defaults=("y", "sum"), default_rate=("y", "mean"), mean_pd=("pd", "mean")
    )
    print(table.to_string())
    return table[table["rows"] >= MIN_GRADE_ROWS]


def test_mean_pd_by_grade_passes_the_jeffreys_test_counted_per_borrower(champion, sim_pipeline):
    """The promotion gate's test, rebuilt from the served PDs: no grade red, and the PD's level (all
    grades pooled) not red. Each borrower of the six OOT months weighs one (``unit: obligor``)."""
    from models.backtest import jeffreys_test
    from models.calibration import MasterScale, grade_table, obligor_weights
    from models.evaluate import overall_test

    data, scored, _ = champion
    config = sim_pipeline.model_config
    y = data.valid[config.data.label_col].to_numpy()
    weights = obligor_weights(data.valid[config.data.id_col].to_numpy())
    tested = jeffreys_test(
        grade_table(scored["pd"].to_numpy(), y, MasterScale(list(config.calibration.grade_bounds)), weights),
        config.calibration.jeffreys,
    )
    print(
        tested[
            ["grade", "rows", "count", "defaults", "default_rate", "mean_pd", "ci_lower", "ci_upper", "status"]
        ].to_string()
    )
    assert (tested["status"] != "empty").sum() >= MIN_POPULATED_GRADES
    assert not (tested["status"] == "red").any(), tested
    assert overall_test(tested, config.calibration.jeffreys)["overall_red"] == 0.0


def test_default_rate_does_not_fall_as_the_grade_worsens(champion):
    """Grade 1 is best: across the populated grades the observed default rate is weakly
    increasing, up to the binomial noise of two neighbouring grades."""
    grades = _grades(champion)
    assert len(grades) >= MIN_POPULATED_GRADES, grades
    rates, rows = grades["default_rate"].to_numpy(), grades["rows"].to_numpy()
    for k in range(len(grades) - 1):
        pooled = (rates[k] * rows[k] + rates[k + 1] * rows[k + 1]) / (rows[k] + rows[k + 1])
        noise = CALIBRATION_Z * math.sqrt(pooled * (1 - pooled) * (1 / rows[k] + 1 / rows[k + 1]))
        assert rates[k + 1] >= rates[k] - noise, grades
    assert rates[-1] > rates[0], grades


def test_validation_report_of_the_champion_recovers_most_of_the_oracle_gini(spark, sim_pipeline, tmp_path):
    """``riskpipe validate`` on the simulated champion: the OOT sample rebuilt from MLflow gives the logged
    AUC, and the simulator's latent PD (found under the landing folder) gives the oracle Gini.

    The ratio may exceed 1: the latent PD is that of a payment stop (constant for every distressed
    enterprise), the label a borrower's default, and the OOT sample holds a few dozen defaults
    (seed 20190: Gini 0.748, oracle 0.685, ratio 1.09 [0.92, 1.26])."""
    from jobs.model_monitoring.validation import validate_version

    config = sim_pipeline.model_config
    result = validate_version(
        sim_pipeline.champion_version, config=config, settings=sim_pipeline.settings, spark=spark, out=str(tmp_path)
    )
    checks = pd.read_csv(tmp_path / "checks.csv").set_index("check")["status"]
    print(
        f"champion Gini {result['gini']:.3f} {result['gini_ci']}, oracle Gini {result['oracle_gini']:.3f}, "
        f"ratio {result['oracle_ratio']:.3f} {result['oracle_ratio_ci']}, grades {result['grades']}, "
        f"min PD {result['min_pd']:.5f}, status {result['status']}"
    )
    saved = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert checks["reproduction"] == "green"
    assert saved["oracle"]["coverage"] == 1.0  # every OOT row is a simulated enterprise-month
    assert result["oracle_gini"] > 0.3 and 0.5 < result["oracle_ratio"] < 1.5
    assert sum(result["grades"].values()) >= MIN_POPULATED_GRADES
