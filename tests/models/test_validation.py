"""The model validation report: Gini intervals (DeLong, bootstrap), the oracle ratio, the checks and
their traffic lights, the rendered page, and ``riskpipe validate`` on a registered version."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.calibration import MasterScale
from models.config import DEFAULT_GRADE_BOUNDS, ValidationConfig
from models.evaluate import evaluate
from models.validation import auc_delong, compare_gini, format_pd, gini_ci, latent_pd_for, validation_report

SCALE = MasterScale(list(DEFAULT_GRADE_BOUNDS))


def _pairwise_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DeLong et al. (1988) by its definition: the O(m·n) kernel, ties count one half."""
    components = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        components.append((kernel.mean(axis=1), kernel.mean(axis=0)))
    v10 = np.column_stack([c[0] for c in components])
    v01 = np.column_stack([c[1] for c in components])
    return np.cov(v10, rowvar=False) / v10.shape[0] + np.cov(v01, rowvar=False) / v01.shape[0]


def _sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes drawn from a latent PD, and a model PD that sees it with noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    latent = 1 / (1 + np.exp(-(-3.0 + 1.2 * x)))
    y = (rng.random(n) < latent).astype(int)
    model = 1 / (1 + np.exp(-(-3.0 + 1.0 * x + rng.normal(0, 0.8, n))))
    return y, model, latent


def test_fast_delong_equals_the_pairwise_definition_with_ties():
    from sklearn.metrics import roc_auc_score

    y, a, b = _sample(400, seed=1)
    a = np.round(a, 2)  # ties inside and across the classes
    aucs, cov = auc_delong(y, np.column_stack([a, b]))
    assert aucs == pytest.approx([roc_auc_score(y, a), roc_auc_score(y, b)], abs=1e-12)
    assert cov == pytest.approx(_pairwise_delong(y, a, b), rel=1e-9)


def test_bootstrap_and_delong_intervals_agree_on_independent_rows():
    y, model, _ = _sample(3000, seed=2)
    delong = gini_ci(y, model, method="delong")
    boot = gini_ci(y, model, method="bootstrap", samples=400, seed=7)
    assert boot.gini == delong.gini and delong.gini == pytest.approx(2 * delong.auc - 1)
    assert boot.se_auc == pytest.approx(delong.se_auc, rel=0.2)
    assert boot.gini_lower == pytest.approx(delong.gini_lower, abs=0.03)
    assert boot.gini_upper == pytest.approx(delong.gini_upper, abs=0.03)
    assert gini_ci(y, model, method="bootstrap", samples=400, seed=7) == boot  # seeded
    with pytest.raises(ValueError, match="both classes"):
        gini_ci(np.zeros(10), np.linspace(0, 1, 10))


def test_bootstrap_by_entity_widens_the_interval_of_repeated_snapshots():
    """Five snapshots of each of 600 borrowers, identical: only 600 independent observations."""
    y, model, _ = _sample(600, seed=3)
    ids = np.tile(np.arange(600), 5)
    y5, model5 = np.tile(y, 5), np.tile(model, 5)
    by_row = gini_ci(y5, model5, method="delong")
    by_entity = gini_ci(y5, model5, method="bootstrap", samples=300, seed=1, groups=ids)
    width = lambda ci: ci.gini_upper - ci.gini_lower  # noqa: E731
    assert width(by_entity) > 1.8 * width(by_row)  # about sqrt(5) = 2.2 times wider
    assert width(by_entity) == pytest.approx(width(gini_ci(y, model, method="delong")), rel=0.25)


def test_compare_gini_gives_the_difference_and_the_oracle_ratio():
    y, model, latent = _sample(4000, seed=4)
    same = compare_gini(y, model, model)
    assert (same.difference, same.ratio, same.p_value) == (0.0, 1.0, 1.0)
    for method in ("delong", "bootstrap"):
        pair = compare_gini(y, model, latent, method=method, samples=300, seed=3)
        g_model, g_latent = gini_ci(y, model).gini, gini_ci(y, latent).gini
        assert (pair.gini_a, pair.gini_b) == pytest.approx((g_model, g_latent), abs=1e-12)
        assert pair.ratio == pytest.approx(g_model / g_latent)
        assert pair.ratio < 1 and pair.ratio_lower < pair.ratio < pair.ratio_upper
        assert pair.difference_lower < pair.difference < pair.difference_upper < 0  # the noisy model is worse
        assert pair.p_value < 0.05


def _evaluation(y, pd_train, pd_oot, y_train):
    frames = {"train": pd.DataFrame({"f": pd_train}), "oot": pd.DataFrame({"f": pd_oot})}
    scored = {
        "train": pd.DataFrame({"y": y_train, "pd": pd_train, "score": -np.log(pd_train)}),
        "oot": pd.DataFrame({"y": y, "pd": pd_oot, "score": -np.log(pd_oot)}),
    }
    return evaluate(scored, frames, features=["f"], scale=SCALE)


INFO = {
    "model": {"name": "sme_pd", "version": "3", "kind": "scorecard", "run_id": "r"},
    "data": {"table": "t", "version": 1, "split_date": "2021-01-01", "oot_snapshots": "a..b"},
    "origin": "test",
    "generated_at": "now",
}


@pytest.fixture(scope="module")
def report_inputs():
    y_train, pd_train, _ = _sample(5000, seed=5)
    y, pd_oot, latent = _sample(5000, seed=6)
    champion = _evaluation(y, pd_train, pd_oot, y_train)
    halved = _evaluation(y, pd_train / 2, pd_oot / 2, y_train)  # same ranking, PD half the default rate
    return y, pd_oot, latent, champion, halved


def test_report_checks_oracle_ratio_and_traffic_lights(report_inputs):
    y, pd_oot, latent, champion, halved = report_inputs
    config = ValidationConfig()
    latent_known = latent.copy()
    latent_known[:500] = np.nan  # the truth misses some rows
    report = validation_report(
        champion,
        info=INFO,
        features=["f"],
        config=config,
        challenger=("v4 halved", halved),
        latent_pd=latent_known,
        logged={"oot_auc": champion.metrics["oot_auc"]},
    )
    checks = report.checks.set_index("check")["status"]
    assert checks["discrimination"] == "green" and checks["reproduction"] == "green"
    assert checks["pd_floor"] == ("red" if pd_oot.min() < config.pd_floor else "green")
    known = ~np.isnan(latent_known)
    expected = gini_ci(y[known], pd_oot[known]).gini / gini_ci(y[known], latent[known]).gini
    assert report.oracle["ratio"] == pytest.approx(expected)
    assert report.oracle["coverage"] == pytest.approx(0.9) and report.oracle["rows"] == 4500
    models = report.models.set_index("role")
    assert models.loc["challenger", "gini"] == pytest.approx(models.loc["model", "gini"])  # same ranking
    # halving every PD under-predicts the populated grades: red there, the champion's grades are not
    assert models.loc["challenger", "grades_red"] >= 3 > models.loc["model", "grades_red"]
    assert report.challenger_calibration["direction"].isin(["under", "ok", ""]).all()
    assert report.status == max(checks[checks != "info"], key=["green", "amber", "red"].index)
    metrics = report.metrics()
    assert metrics["validation.oracle_ratio"] == pytest.approx(expected)
    assert metrics["validation.oot_gini_lower"] < metrics["validation.oot_gini"] < metrics["validation.oot_gini_upper"]
    assert set(report.calibration["status"]) <= {"green", "amber", "red", "empty"}
    assert "mean_latent_pd" in report.calibration


def test_pd_floor_is_red_when_a_served_pd_is_below_it(report_inputs):
    y, pd_oot, _, champion, _ = report_inputs
    low = pd_oot.copy()
    low[0] = 0.0001
    evaluation = _evaluation(y, pd_oot, low, y)
    report = validation_report(evaluation, info=INFO, features=["f"], config=ValidationConfig(pd_floor=0.0003))
    assert report.pd_floor["rows_below"] >= 1 and report.pd_floor["status"] == "red" and report.status == "red"
    assert format_pd(0.0001) == "0.01%" and format_pd(0.0000123) == "0.00123%" and format_pd(0.0523) == "5.23%"


def test_rendered_page_shows_traffic_lights_charts_and_no_zero_pd(report_inputs, tmp_path):
    from models.validation_render import render_markdown, write_report

    y, _, latent, champion, halved = report_inputs
    report = validation_report(
        champion,
        info=INFO,
        features=["f"],
        config=ValidationConfig(),
        challenger=("v4 halved", halved),
        latent_pd=latent,
    )
    paths = write_report(report, tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    assert f'class="badge badge-{report.status}"' in html
    assert 'class="light light-red"' in html and 'class="light light-green"' in html
    assert html.count('src="data:image/png;base64,') == 2
    assert "Oracle — latent PD of the simulator" in html and "<script" not in html
    assert f"min PD {format_pd(report.pd_floor['min_pd'])}" in html and report.pd_floor["min_pd"] > 0
    markdown = render_markdown(report)
    assert "| RED |" in markdown and "## Oracle (simulated data only)" in markdown
    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert saved["status"] == report.status and saved["metrics"] == pytest.approx(report.metrics())
    assert pd.read_csv(paths["calibration"])["status"].tolist() == report.calibration["status"].tolist()


def test_rendered_page_draws_in_a_real_browser(report_inputs, tmp_path):
    from PIL import Image

    from models.validation_render import LIGHT_COLOURS, write_report
    from riskpipe.testing.browser import render

    _, _, latent, champion, halved = report_inputs
    report = validation_report(
        champion,
        info=INFO,
        features=["f"],
        config=ValidationConfig(),
        challenger=("v4 halved", halved),
        latent_pd=latent,
    )
    shot = render(write_report(report, tmp_path)["html"], tmp_path / "page.png", width=1280, height=2400)
    assert shot.console == [], shot.console
    pixels = np.asarray(Image.open(shot.screenshot).convert("RGB")).astype(int)
    for light in ("green", "red"):  # the traffic-light dots and chart markers are drawn in their colours
        rgb = np.array([int(LIGHT_COLOURS[light][i : i + 2], 16) for i in (1, 3, 5)])
        drawn = (np.abs(pixels - rgb).max(axis=2) < 12).sum()
        assert drawn > 100, f"{light}: {drawn} pixels"


def test_latent_pd_is_matched_by_enterprise_and_month():
    frame = pd.DataFrame(
        {"uscc": ["a", "a", "b"], "snapshot_date": pd.to_datetime(["2021-01-31", "2021-02-28", "2021-01-31"])}
    )
    truth = pd.DataFrame(
        {"uscc": ["a", "a", "c"], "period": ["2021-01", "2021-02", "2021-01"], "latent_pd_12m": [0.01, 0.02, 0.5]}
    )
    got = latent_pd_for(frame, truth, id_col="uscc", date_col="snapshot_date")
    assert got[:2].tolist() == [0.01, 0.02] and np.isnan(got[2])


# ------------------------------------------------------------------ on a registered version


def test_training_logs_the_report_of_each_version(trained):
    from mlflow import MlflowClient

    config, result = trained
    client = MlflowClient(tracking_uri=config.tracking_uri)
    for kind, model in result.models.items():
        run = client.get_run(model.run_id)
        files = {f.path for f in client.list_artifacts(model.run_id, "validation")}
        assert {"validation/report.html", "validation/report.md", "validation/calibration.csv"} <= files
        assert run.data.metrics["validation.oot_gini"] == pytest.approx(model.metrics["oot_gini"], abs=1e-12)
        assert run.data.tags["validation.origin"] == "training"
        other = next(k for k in result.models if k != kind)
        assert run.data.tags["validation.challenger"] == f"v{result.models[other].version} {other}"


def test_riskpipe_validate_rebuilds_the_oot_sample_and_adds_the_oracle(trained, synthetic_frame, tmp_path, capsys):
    """``riskpipe validate --version N`` on the small trained model, with a simulator-format truth table."""
    from mlflow import MlflowClient

    from riskpipe.cli import main
    from tests.models.synthetic import true_pd

    config, result = trained
    version = result.models["scorecard"].version
    truth = pd.DataFrame(
        {
            "uscc": synthetic_frame["uscc"],
            "period": pd.to_datetime(synthetic_frame["snapshot_date"]).dt.strftime("%Y-%m"),
            "health": 0.0,
            "latent_pd_12m": true_pd(synthetic_frame),
        }
    )
    truth.to_parquet(tmp_path / "latent_pd.parquet")
    out = tmp_path / "report"
    code = main(["validate", "--version", version, "--name", config.name, "--truth", str(tmp_path), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and f"report: {out / 'report.html'}" in printed and "champion / oracle" in printed

    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    metrics, logged = saved["metrics"], result.models["scorecard"].metrics
    assert metrics["validation.oot_auc"] == pytest.approx(logged["oot_auc"], abs=1e-9)  # the same OOT rows
    checks = pd.read_csv(out / "checks.csv").set_index("check")["status"]
    assert checks["reproduction"] == "green"
    # the simulated truth covers every OOT row; the model sees the features the true PD is made of
    assert saved["oracle"]["coverage"] == 1.0
    assert saved["oracle"]["ratio"] == pytest.approx(metrics["validation.oot_gini"] / metrics["validation.oracle_gini"])
    assert 0.7 < saved["oracle"]["ratio"] < 1.1
    assert saved["info"]["model"]["version"] == version
    # the challenger is the LightGBM of the same training, scored on the same rows
    assert metrics["validation.challenger_gini"] == pytest.approx(
        result.models["lightgbm"].metrics["oot_gini"], abs=1e-9
    )

    client = MlflowClient(tracking_uri=config.tracking_uri)
    run = client.get_run(result.models["scorecard"].run_id)
    assert run.data.metrics["validation.oracle_ratio"] == pytest.approx(saved["oracle"]["ratio"])
    assert run.data.tags["validation.oracle"] == "yes" and run.data.tags["validation.origin"] == "riskpipe validate"
    assert client.get_model_version(config.name, version).tags["validation.status"] == saved["status"]
