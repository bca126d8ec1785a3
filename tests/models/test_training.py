"""Training on a synthetic Delta table: determinism, version pinning, calibration, reason codes,
and loading the logged model in a fresh Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.models.synthetic import FEATURES

SPLIT = pd.Timestamp("2021-07-01")


def _core(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("champion_")}


def test_same_data_version_and_seed_give_identical_metrics(spark, make_config, trained, settings):
    from models.train import train

    config, first = trained
    again = train(make_config("sme_pd_repeat", {"register": False}), spark=spark, settings=settings)
    for kind in ("scorecard", "lightgbm"):
        assert _core(again.models[kind].metrics) == _core(first.models[kind].metrics), kind
        assert again.models[kind].version is None
    assert first.source["version"] == 0 and first.candidate_version == first.models["scorecard"].version


def test_delta_version_is_pinned_and_split_is_out_of_time(spark, make_config, training_data, synthetic_frame, settings):
    from models.data import load_training_data

    assert training_data.source["version"] == 0
    assert pd.to_datetime(training_data.train["snapshot_date"]).max() < SPLIT
    assert pd.to_datetime(training_data.valid["snapshot_date"]).min() >= SPLIT
    kept = ~(synthetic_frame["in_default_at_snapshot"] | synthetic_frame["censored"])
    assert len(training_data.train) + len(training_data.valid) == int(kept.sum())
    assert training_data.features == FEATURES
    latest = load_training_data(make_config("x", {"data": {"version": None}}).data, spark=spark, settings=settings)
    assert latest.source["version"] == 1
    assert len(latest.valid) > len(training_data.valid)
    assert 0.02 < training_data.source["default_rate_train"] < 0.06


def test_models_discriminate_and_pd_matches_default_rate_by_grade(trained, training_data):
    """Tolerance: overall |mean PD - default rate| <= 1.5 points; per grade with >= 30 rows,
    within 3 binomial standard errors + 1 point; count-weighted error (ECE) <= 0.02."""
    import mlflow

    config, result = trained
    mlflow.set_tracking_uri(config.tracking_uri)
    valid = training_data.valid
    for kind, model in result.models.items():
        assert model.metrics["oot_auc"] > 0.70, kind
        assert model.metrics["oot_gini"] == pytest.approx(2 * model.metrics["oot_auc"] - 1)
        assert model.metrics["oot_ece"] <= 0.02, kind
        assert model.metrics["psi_score"] < 0.10, kind
        out = mlflow.pyfunc.load_model(f"models:/{config.name}/{model.version}").predict(valid[FEATURES])
        y = valid["default_12m"].to_numpy()
        assert abs(out["pd"].mean() - y.mean()) <= 0.015, kind
        by_grade = pd.DataFrame({"grade": out["grade"], "pd": out["pd"], "y": y}).groupby("grade")
        for grade, rows in by_grade:
            if len(rows) < 30:
                continue
            mean_pd = rows["pd"].mean()
            tolerance = 3 * np.sqrt(mean_pd * (1 - mean_pd) / len(rows)) + 0.01
            assert abs(mean_pd - rows["y"].mean()) <= tolerance, (kind, grade, mean_pd, rows["y"].mean())
    card = result.models["scorecard"]
    assert card.metrics["iv.tax_arrears_ratio"] > card.metrics["iv.noise_1"]


def _scorer(config, version):
    import mlflow

    from models.pyfunc import Scorer

    mlflow.set_tracking_uri(config.tracking_uri)
    path = mlflow.artifacts.download_artifacts(f"models:/{config.name}/{version}")
    with open(os.path.join(path, "artifacts", "state.json"), encoding="utf-8") as handle:
        return Scorer(json.load(handle))


def test_scorecard_reason_codes_point_at_the_bad_features(trained):
    config, result = trained
    scorer = _scorer(config, result.models["scorecard"].version)
    card = scorer.card
    assert card.points_table().groupby("feature")["points"].count().min() >= 2
    best, worst = {}, {}
    for b in card.bins:
        values = [b.splits[0] - 1] + list(b.splits)  # one value inside each regular bin
        best[b.feature] = values[int(np.argmax(b.points))]
        worst[b.feature] = values[int(np.argmin(b.points))]
    row = pd.DataFrame([{f: best.get(f, 0.0) for f in FEATURES}])
    assert scorer.predict(row)[["reason_1", "reason_2", "reason_3"]].isna().all(axis=None)
    bad = row.assign(tax_arrears_ratio=worst["tax_arrears_ratio"], court_cases_12m=worst["court_cases_12m"])
    out = scorer.predict(pd.concat([bad, row, bad], ignore_index=True))
    assert {out.loc[0, "reason_1"], out.loc[0, "reason_2"]} == {"TAX_ARREARS_RATIO", "COURT_CASES_12M"}
    assert out.loc[0, "reason_3"] is None and out.loc[0, "score"] < out.loc[1, "score"]
    assert out.loc[0].equals(out.loc[2])  # stable, whatever else is in the batch


def test_lightgbm_reason_codes_follow_shap(trained, training_data):
    config, result = trained
    scorer = _scorer(config, result.models["lightgbm"].version)
    row = training_data.train[FEATURES].median().to_frame().T
    bad = row.assign(tax_arrears_ratio=1.0)
    out = scorer.predict(pd.concat([row, bad], ignore_index=True))
    assert out.loc[1, "reason_1"] == "TAX_ARREARS_RATIO"
    assert out.loc[1, "pd"] > out.loc[0, "pd"]


def test_logged_model_loads_and_predicts_in_a_fresh_process(trained, training_data, tmp_path):
    config, result = trained
    rows = training_data.valid[FEATURES].head(50)
    rows.to_parquet(tmp_path / "rows.parquet")
    probe = textwrap.dedent(f"""
        import sys, mlflow, pandas as pd
        assert "models" not in sys.modules
        rows = pd.read_parquet({str(tmp_path / "rows.parquet")!r})
        for kind, uri in {{'scorecard': 'models:/{config.name}/{result.models["scorecard"].version}',
                           'lightgbm': 'models:/{config.name}/{result.models["lightgbm"].version}'}}.items():
            out = mlflow.pyfunc.load_model(uri).predict(rows)
            out.to_parquet({str(tmp_path)!r} + f'/{{kind}}.parquet')
        print('ok')
    """)
    env = {**os.environ, "MLFLOW_TRACKING_URI": config.tracking_uri}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=180
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    for kind, model in result.models.items():
        fresh = pd.read_parquet(tmp_path / f"{kind}.parquet")
        expected = _scorer(config, model.version).predict(rows)
        assert list(fresh.columns) == ["pd", "score", "grade", "reason_1", "reason_2", "reason_3"]
        np.testing.assert_allclose(fresh["pd"], expected["pd"], rtol=1e-9)
        assert fresh["grade"].tolist() == expected["grade"].tolist()
        assert fresh["reason_1"].tolist() == expected["reason_1"].tolist()
