"""The monthly model-monitoring job on small inline gold tables, in a lakehouse of its own."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from jobs.model_monitoring import main as model_monitoring
from jobs.model_monitoring.metrics import MonitoringConfig
from jobs.model_monitoring.reference import reference_frame, subject_bins
from riskpipe.core import io
from schemas.gold_features import DEFAULT_LABELS, ENTERPRISE_FEATURES
from schemas.gold_monitoring import MODEL_MONITORING, MONITORING_REFERENCE
from schemas.gold_scores import RISK_SCORES

D = dt.date(2021, 12, 31)
MATURED = dt.date(2020, 12, 31)  # D - 12 months: its labels are final on D
STABLE, DRIFTING = "tax_sales_growth_12m", "tax_zero_filings_12m"
N = 300
USCC = "91140000MA{:08d}"


@pytest.fixture(scope="module")
def lakehouse(spark, settings, tmp_path_factory):
    """Reference of sme_pd v3, and D's and D-12's scores, features and labels, written with io."""
    own = settings.replace(lakehouse_root=str(tmp_path_factory.mktemp("monitoring-lakehouse")))
    rng = np.random.default_rng(11)
    training = pd.DataFrame(
        {
            "score": rng.normal(600, 40, 2000),
            STABLE: rng.normal(0, 0.2, 2000),
            DRIFTING: rng.poisson(0.5, 2000).astype(float),
        }
    )
    tables = subject_bins(spark.createDataFrame(training), ["score", STABLE, DRIFTING], MonitoringConfig().psi_bins)
    reference = reference_frame(spark, tables, name="sme_pd", version="3", source={"run_id": "inline"})
    io.append(reference, MONITORING_REFERENCE, settings=own)
    days, uscc = (MATURED, D), [USCC.format(i) for i in range(N)]
    drifting = {MATURED: rng.poisson(0.5, N), D: rng.poisson(3.5, N)}
    features = [
        dict(
            uscc=u,
            snapshot_date=day,
            snapshot_month=day.strftime("%Y-%m"),
            is_active_borrower=True,
            _features_version="test",
            _built_from="{}",
            **{STABLE: float(s), DRIFTING: int(z)},
        )
        for day in days
        for u, s, z in zip(uscc, rng.normal(0, 0.2, N), drifting[day])
    ]
    io.append(ENTERPRISE_FEATURES.rows_to_df(spark, features), ENTERPRISE_FEATURES, settings=own)
    version = io.version(spark, ENTERPRISE_FEATURES, settings=own)
    pd_ = np.where(np.arange(N) < N // 2, 0.01, 0.08)  # grades 3 and 7
    scores, labels = [], []
    for day in days:
        # grade 3 calibrated, grade 7 under-predicted (30% realised against 8% predicted)
        defaulted = rng.random(N) < np.where(np.arange(N) < N // 2, 0.01, 0.30)
        common = dict(snapshot_date=day, snapshot_month=day.strftime("%Y-%m"))
        scores += [
            dict(
                uscc=u,
                **common,
                pd=float(p),
                score=float(s),
                grade="3" if p < 0.05 else "7",
                grade_num=3 if p < 0.05 else 7,
                model_name="sme_pd",
                model_version="3",
                features_version=version,
            )
            for u, p, s in zip(uscc, pd_, rng.normal(600, 40, N))
        ]
        labels += [
            dict(
                uscc=u,
                **common,
                default_12m=bool(y),
                in_default_at_snapshot=False,
                observed_months=12 if day == MATURED else 0,
                censored=day != MATURED,
                _built_from="{}",
            )
            for u, y in zip(uscc, defaulted)
        ]
    io.append(RISK_SCORES.rows_to_df(spark, scores), RISK_SCORES, settings=own)
    io.append(DEFAULT_LABELS.rows_to_df(spark, labels), DEFAULT_LABELS, settings=own)
    return own


def test_the_job_writes_every_metric_and_a_rerun_commits_nothing(spark, lakehouse):
    result = model_monitoring.run(D, settings=lakehouse, spark=spark)
    assert result["committed"] and (result["model_name"], result["model_version"]) == ("sme_pd", "3")
    written = model_monitoring.summary(spark, D, settings=lakehouse)
    assert len(written) == result["rows"] and set(written["snapshot_date"]) == {D}
    by_key = written.set_index(["metric", "subject"])
    assert by_key.loc[("psi", STABLE), "status"] in ("stable", "watch")
    assert by_key.loc[("psi", DRIFTING), "status"] == "act" and by_key.loc[("psi", DRIFTING), "alert"]
    assert by_key.loc[("psi", "score"), "status"] == "stable"
    assert json.loads(by_key.loc[("psi", DRIFTING), "details"])["rows"] == N
    assert by_key.loc[("backtest_default_rate", "7"), "status"] == "red"
    assert by_key.loc[("backtest_default_rate", "3"), "status"] == "green"
    assert set(written.loc[written["metric"].isin(["auc", "ks"]), "subject"]) == {MATURED.isoformat()}
    assert {(a["metric"], a["subject"]) for a in result["alerts"]} == set(by_key.index[by_key["alert"]].tolist())
    # a feature's drift is an alert; by default only the score's drift calls for retraining
    assert not result["retrain"] and result["retrain_split_date"] == "2020-07-01"

    version = io.version(spark, MODEL_MONITORING, settings=lakehouse)
    again = model_monitoring.run(D, settings=lakehouse, spark=spark)
    assert not again["committed"] and io.version(spark, MODEL_MONITORING, settings=lakehouse) == version
    assert again["alerts"] == result["alerts"]
    assert model_monitoring.history(spark, metric="psi", subject=DRIFTING, settings=lakehouse)["status"].tolist() == [
        "act"
    ]


def test_an_unscored_month_fails_clearly(spark, lakehouse):
    with pytest.raises(ValueError, match="riskpipe score --as-of 2021-11-30"):
        model_monitoring.run(dt.date(2021, 11, 30), settings=lakehouse, spark=spark)


def test_reading_results_before_any_monitoring_creates_nothing(spark, settings, tmp_path):
    empty = settings.replace(lakehouse_root=str(tmp_path / "lakehouse"))
    assert model_monitoring.summary(spark, D, settings=empty).empty
    assert model_monitoring.history(spark, settings=empty).empty
    assert not io.exists(spark, MODEL_MONITORING, settings=empty)
