"""Monitoring statistics: PSI from Spark bin counts, the Jeffreys backtest by grade, AUC and KS."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from jobs.model_monitoring.metrics import (
    MonitoringConfig,
    bin_counts,
    discrimination,
    edges_of,
    grade_counts,
    jeffreys_backtest,
    matured_predictions,
    matured_window,
)
from jobs.model_monitoring.reference import subject_bins
from models.evaluate import psi, psi_from_counts, psi_status
from schemas.gold_features import DEFAULT_LABELS
from schemas.gold_scores import RISK_SCORES

CONFIG = MonitoringConfig()
USCC = "91140000MA{:08d}"


def _spark_psi(spark, reference: np.ndarray, actual: np.ndarray) -> float:
    ref = subject_bins(spark.createDataFrame(pd.DataFrame({"x": reference})), ["x"], CONFIG.psi_bins)["x"]
    counts = bin_counts(spark.createDataFrame(pd.DataFrame({"x": actual})), {"x": edges_of(ref)}).toPandas()
    observed = ref["bin"].map(counts.set_index("bin")["rows"]).fillna(0)
    return psi_from_counts(ref["rows"].to_numpy(), observed.to_numpy())


def test_psi_is_zero_on_the_same_sample_and_act_on_a_shifted_one(spark):
    rng = np.random.default_rng(3)
    sample = rng.normal(0.0, 1.0, 3000)
    sample[:90] = np.nan  # a feed gap: its own bin
    shifted = rng.normal(0.8, 1.3, 3000)
    assert _spark_psi(spark, sample, sample) == 0.0
    drifted = _spark_psi(spark, sample, shifted)
    assert psi_status(drifted, CONFIG.psi_stable, CONFIG.psi_act) == "act"
    # Spark bins exactly like training does in numpy (models.evaluate.psi)
    assert drifted == pytest.approx(psi(sample, shifted, CONFIG.psi_bins), abs=1e-12)


def test_missing_values_alone_move_the_psi(spark):
    rng = np.random.default_rng(4)
    sample = rng.normal(0.0, 1.0, 2000)
    gappy = sample.copy()
    gappy[rng.random(2000) < 0.4] = np.nan
    assert _spark_psi(spark, sample, gappy) > CONFIG.psi_act


def _rows(day: dt.date, grade: str, n: int, defaults: int, pd_: float, start: int) -> tuple[list, list]:
    month = day.strftime("%Y-%m")
    scores = [
        dict(
            uscc=USCC.format(start + i),
            snapshot_date=day,
            snapshot_month=month,
            pd=pd_,
            score=600.0,
            grade=grade,
            grade_num=int(grade),
            model_name="m",
            model_version="1",
            features_version=0,
        )
        for i in range(n)
    ]
    labels = [
        dict(
            uscc=USCC.format(start + i),
            snapshot_date=day,
            snapshot_month=month,
            default_12m=i < defaults,
            in_default_at_snapshot=False,
            observed_months=12,
            censored=False,
            _built_from="{}",
        )
        for i in range(n)
    ]
    return scores, labels


def test_jeffreys_backtest_flags_mispredicted_grades_and_passes_a_calibrated_one(spark):
    as_of = dt.date(2021, 12, 31)
    cohort = dt.date(2020, 12, 31)
    calibrated = _rows(cohort, "3", 1000, 10, 0.01, 0)  # 1.0% realised vs 1.0% predicted
    under = _rows(cohort, "7", 500, 40, 0.03, 1000)  # 8.0% realised vs 3.0% predicted
    over = _rows(cohort, "9", 400, 4, 0.10, 3000)  # 1.0% realised vs 10% predicted
    too_recent = _rows(dt.date(2021, 1, 31), "7", 200, 200, 0.03, 2000)  # labels not final on as_of
    scores = RISK_SCORES.rows_to_df(spark, calibrated[0] + under[0] + over[0] + too_recent[0])
    labels = DEFAULT_LABELS.rows_to_df(spark, calibrated[1] + under[1] + over[1] + too_recent[1])
    matured = matured_predictions(scores, labels, as_of=as_of, config=CONFIG)
    tested = jeffreys_backtest(grade_counts(matured).toPandas(), CONFIG).set_index("grade")
    assert matured_window(as_of, CONFIG) == (dt.date(2020, 1, 31), cohort)
    assert tested.loc["3", "status"] == "green" and tested.loc["3", "p_value"] > 0.4
    assert tested.loc["7", "status"] == "red" and tested.loc["7", "rows"] == 500
    assert tested.loc["7", "default_rate"] == pytest.approx(0.08)
    assert tested.loc["7", "mean_pd"] == pytest.approx(0.03)
    assert tested.loc["7", "direction"] == "under" and tested.loc["9", "direction"] == "over"
    assert tested.loc["9", "status"] == "red"
    one_sided = jeffreys_backtest(
        grade_counts(matured).toPandas(), dataclasses.replace(CONFIG, backtest_sides="under")
    ).set_index("grade")
    assert one_sided.loc["9", "status"] == "green" and one_sided.loc["7", "status"] == "red"


def test_auc_and_ks_by_snapshot_equal_sklearn(spark):
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(5)
    scores, labels, expected = [], [], {}
    for k, day in enumerate((dt.date(2020, 11, 30), dt.date(2020, 12, 31))):
        n = 400
        y = rng.random(n) < 0.1
        pd_ = np.round(np.clip(0.05 + 0.1 * y + rng.normal(0, 0.08, n), 0.001, 0.999), 2)  # rounded: ties
        fpr, tpr, _ = roc_curve(y, pd_)
        expected[day] = (roc_auc_score(y, pd_), np.max(tpr - fpr))
        for i in range(n):
            uscc, month = USCC.format(k * n + i), day.strftime("%Y-%m")
            scores.append(
                dict(
                    uscc=uscc,
                    snapshot_date=day,
                    snapshot_month=month,
                    pd=float(pd_[i]),
                    score=0.0,
                    grade="5",
                    grade_num=5,
                    model_name="m",
                    model_version="1",
                    features_version=0,
                )
            )
            labels.append(
                dict(
                    uscc=uscc,
                    snapshot_date=day,
                    snapshot_month=month,
                    default_12m=bool(y[i]),
                    in_default_at_snapshot=False,
                    observed_months=12,
                    censored=False,
                    _built_from="{}",
                )
            )
    matured = matured_predictions(
        RISK_SCORES.rows_to_df(spark, scores),
        DEFAULT_LABELS.rows_to_df(spark, labels),
        as_of=dt.date(2021, 12, 31),
        config=CONFIG,
    )
    found = discrimination(matured).toPandas().set_index("snapshot_date")
    assert set(found.index) == set(expected)
    for day, (auc, ks) in expected.items():
        assert found.loc[day, "auc"] == pytest.approx(auc, abs=1e-12)
        assert found.loc[day, "ks"] == pytest.approx(ks, abs=1e-12)
        assert found.loc[day, "rows"] == 400
