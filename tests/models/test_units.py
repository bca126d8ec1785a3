"""Pure pieces: points scaling, PSI, reason codes, the promotion gate, calibration, configuration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.calibration import MasterScale, calibration_errors, fit_calibrator, grade_table, obligor_weights
from models.config import GateConfig, model_config
from models.evaluate import psi, psi_status
from models.reasons import reason_catalogue, reason_code, top_reasons
from models.registry import promotion_gate
from models.scorecard import scaling, score_from_pd


def test_points_scaling_gives_600_at_50_to_1_and_20_per_doubling():
    factor, offset = scaling(600, 50, 20)
    pd_at = lambda good_odds: 1.0 / (1.0 + good_odds)  # noqa: E731  good:bad odds -> PD
    assert score_from_pd(pd_at(50), factor, offset) == pytest.approx(600.0, abs=1e-6)
    assert score_from_pd(pd_at(100), factor, offset) == pytest.approx(620.0, abs=1e-6)
    assert score_from_pd(pd_at(25), factor, offset) == pytest.approx(580.0, abs=1e-6)
    assert factor == pytest.approx(20 / math.log(2))


def test_psi_of_a_sample_against_itself_is_zero_and_a_shift_acts():
    rng = np.random.default_rng(1)
    sample = rng.normal(0, 1, 5000)
    sample[:100] = np.nan
    assert psi(sample, sample) == 0.0
    shifted = rng.normal(0.8, 1, 5000)
    assert psi(sample, shifted) > 0.25
    assert psi_status(psi(sample, shifted)) == "act"
    same_population = rng.normal(0, 1, 5000)
    same_population[:100] = np.nan
    assert psi(sample, same_population) < 0.10
    # the missing share counts too: a feed that stops being missing is a shift
    assert psi(sample, rng.normal(0, 1, 5000)) > psi(sample, same_population)


def test_reason_codes_rank_contributions_and_are_stable():
    features = ["tax_sales_growth_12m", "court cases (12m)", "utility_consumption_yoy", "age"]
    contributions = np.array(
        [
            [0.0, 5.0, 1.0, 3.0],  # court > age > utility
            [2.0, 0.0, 0.0, 0.0],  # only one reason
            [1.0, 1.0, 1.0, 1.0],  # ties keep feature order
        ]
    )
    r1, r2, r3 = top_reasons(contributions, features)
    assert (r1[0], r2[0], r3[0]) == ("COURT_CASES_12M", "AGE", "UTILITY_CONSUMPTION_YOY")
    assert (r1[1], r2[1], r3[1]) == ("TAX_SALES_GROWTH_12M", None, None)
    assert (r1[2], r2[2], r3[2]) == ("TAX_SALES_GROWTH_12M", "COURT_CASES_12M", "UTILITY_CONSUMPTION_YOY")
    assert top_reasons(contributions, features) == [r1, r2, r3]
    assert reason_code("tax_sales_growth_12m") == "TAX_SALES_GROWTH_12M"
    catalogue = reason_catalogue(["tax_sales_growth_12m"], {"tax_sales_growth_12m": "Taxable sales falling"})
    assert catalogue == {"TAX_SALES_GROWTH_12M": "Taxable sales falling"}
    with pytest.raises(ValueError, match="collide"):
        reason_catalogue(["a_b", "a-b"])


def test_gate_refuses_a_worse_model_and_accepts_a_better_one():
    gate = GateConfig(max_auc_drop=0.01, min_auc=0.6, max_calibration_error=0.02, max_score_psi=0.25, max_red_grades=0)
    champion = {"oot_auc": 0.80}
    ok = {
        "oot_ece": 0.01,
        "psi_score": 0.05,
        "oot_grades_red": 0.0,
        "oot_grades_tested": 10.0,
        "oot_overall_red": 0.0,
        "oot_overall_mean_pd": 0.05,
        "oot_overall_default_rate": 0.052,
    }
    worse = promotion_gate({**ok, "oot_auc": 0.78}, champion, gate)
    assert not worse.passed and worse.checks["auc_vs_champion"] is False
    assert any(r.startswith("FAIL auc_vs_champion") for r in worse.reasons)
    better = promotion_gate({**ok, "oot_auc": 0.81}, champion, gate)
    assert better.passed and all(r.startswith("PASS") for r in better.reasons)
    within_margin = promotion_gate({**ok, "oot_auc": 0.795}, champion, gate)
    assert within_margin.passed
    drifted = promotion_gate({**ok, "oot_auc": 0.85, "psi_score": 0.30}, champion, gate)
    assert not drifted.passed and drifted.checks == {
        "min_auc": True,
        "auc_vs_champion": True,
        "calibration": True,
        "calibration_overall": True,
        "stability": False,
        "calibration_by_grade": True,
    }
    miscalibrated = promotion_gate({**ok, "oot_auc": 0.85, "oot_ece": 0.05}, None, gate)
    assert not miscalibrated.passed and "auc_vs_champion" not in miscalibrated.checks
    # a low average error hides a red grade: the per-grade test refuses it
    red_grade = promotion_gate({**ok, "oot_auc": 0.85, "oot_grades_red": 1.0}, None, gate)
    assert not red_grade.passed and red_grade.checks["calibration"] is True
    assert "FAIL calibration_by_grade: 1 of 10 grades red" in " ".join(red_grade.reasons)
    level = promotion_gate({**ok, "oot_auc": 0.85, "oot_overall_red": 1.0}, None, gate)
    assert not level.passed and level.checks["calibration_by_grade"] is True
    # by default ECE is reported, not a gate check
    default = promotion_gate({**ok, "oot_auc": 0.85, "oot_ece": 0.05}, None, GateConfig())
    assert default.passed and "calibration" not in default.checks
    missing = promotion_gate({"oot_auc": 0.85}, None, gate)
    assert not missing.passed and any("metric missing" in r for r in missing.reasons)


def test_jeffreys_test_per_grade_traffic_lights():
    from models.backtest import JeffreysConfig, jeffreys_test, summary

    table = pd.DataFrame(
        {
            "grade": ["1", "2", "3", "4", "5"],
            "count": [1000, 400, 300, 200, 0],
            "defaults": [10, 4, 30, 20, 0],
            "mean_pd": [0.011, 0.003, 0.04, 0.16, np.nan],
        }
    )
    tested = jeffreys_test(table).set_index("grade")
    # 1.1% predicted against 10/1000 realised: inside the interval; 0.3% vs 1% realised in 400 rows:
    # outside 95% only; 4% vs 10% in 300 rows: under-predicted beyond 99.9%; 16% vs 10%: over
    assert list(tested["status"]) == ["green", "amber", "red", "amber", "empty"]
    assert list(tested["direction"]) == ["ok", "under", "under", "over", ""]
    assert tested.loc["1", "ci_lower"] < 0.01 < tested.loc["1", "ci_upper"]
    assert tested.loc["3", "p_value"] < 0.001 < tested.loc["1", "p_value"]
    assert summary(tested) == {"grades_tested": 4.0, "grades_green": 1.0, "grades_amber": 2.0, "grades_red": 1.0}
    one_sided = jeffreys_test(table, JeffreysConfig(sides="under")).set_index("grade")
    assert one_sided.loc["4", "status"] == "green" and one_sided.loc["3", "status"] == "red"
    with pytest.raises(ValueError, match="amber_confidence"):
        JeffreysConfig(amber_confidence=0.999, red_confidence=0.95)
    from models.evaluate import overall_test

    # pooled, the grades' errors offset: 64 defaults in 1,900 (3.4%) against a mean PD of 3.0%
    pooled = overall_test(table.fillna({"mean_pd": 0.0}), JeffreysConfig())
    assert pooled["overall_default_rate"] == pytest.approx(64 / 1900)
    assert pooled["overall_mean_pd"] == pytest.approx((11 + 1.2 + 12 + 32) / 1900)
    assert pooled["overall_red"] == 0.0 and pooled["overall_amber"] == 0.0
    # every PD halved (a calm training window before a downturn): the level is red
    halved = overall_test(table.fillna({"mean_pd": 0.0}).assign(mean_pd=lambda t: t["mean_pd"] / 2), JeffreysConfig())
    assert halved["overall_red"] == 1.0 and halved["overall_p_value"] < 0.001


def test_served_pd_is_floored():
    from models.calibration import floor_pd

    assert list(floor_pd(np.array([0.0, 1e-6, 0.0003, 0.2]))) == [0.0003, 0.0003, 0.0003, 0.2]
    assert list(floor_pd(np.array([0.0001, 0.01]), 0.001)) == [0.001, 0.01]


def test_calibration_and_master_scale():
    rng = np.random.default_rng(3)
    raw = rng.normal(-3.5, 1.0, 20000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-raw))).astype(int)
    for method in ("platt", "isotonic"):
        pd_ = fit_calibrator(raw, y, method).predict(raw)
        assert abs(pd_.mean() - y.mean()) < 0.002, method
    scale = MasterScale([0.01, 0.05, 0.2])
    assert list(scale.grade(np.array([0.001, 0.01, 0.049, 0.5]))) == ["1", "2", "2", "4"]
    table = grade_table(np.array([0.001, 0.03, 0.03, 0.5]), np.array([0, 0, 1, 1]), scale)
    assert list(table["count"]) == [1, 2, 0, 1]
    errors = calibration_errors(table, min_count=2)
    assert errors["max_grade_gap"] == pytest.approx(0.47)
    # two borrowers: one safe in four monthly rows, one defaulting in two: each weighs one
    ids = np.array(["a", "a", "a", "a", "b", "b"])
    weights = obligor_weights(ids)
    assert list(weights) == [0.25] * 4 + [0.5] * 2
    weighted = grade_table(np.array([0.001] * 4 + [0.5, 0.5]), np.array([0, 0, 0, 0, 1, 1]), scale, weights)
    assert list(weighted["rows"]) == [4, 0, 0, 2] and list(weighted["count"]) == [1.0, 0.0, 0.0, 1.0]
    assert list(weighted["defaults"]) == [0.0, 0.0, 0.0, 1.0]


def test_config_overrides_and_unknown_keys(settings):
    config = model_config(settings, {"scorecard": {"pdo": 40}, "data": {"features": "a, b"}})
    assert config.scorecard.pdo == 40 and config.scorecard.base_score == 600
    assert config.data.features == ("a", "b")
    assert config.name == settings.model_name
    with pytest.raises(ValueError, match="unknown key"):
        model_config(settings, {"scorecard": {"pdo_typo": 1}})
    with pytest.raises(ValueError, match="candidate"):
        model_config(settings, {"kinds": ["lightgbm"], "candidate": "scorecard"})


def test_auto_candidate_is_chosen_on_the_training_window_with_a_preference(settings):
    from models.train import choose_candidate

    auto = model_config(settings, {"candidate": "auto", "prefer": "scorecard", "prefer_margin": 0.02})
    assert choose_candidate(auto, {"scorecard": 0.63, "lightgbm": 0.74})[0] == "lightgbm"
    kind, reason = choose_candidate(auto, {"scorecard": 0.73, "lightgbm": 0.74})
    assert kind == "scorecard" and "within 0.02" in reason and "lightgbm 0.740" in reason
    assert choose_candidate(model_config(settings, {"candidate": "scorecard"}), {"lightgbm": 0.9})[0] == "scorecard"
    kind, reason = choose_candidate(auto, {"scorecard": 0.7})
    assert kind == "scorecard" and "no out-of-fold Gini for ['lightgbm']" in reason


def test_cli_help_and_parsing():
    import argparse

    from riskpipe.commands.models import register

    parser = argparse.ArgumentParser(prog="riskpipe")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--table", "t", "--split-date", "2021-01-01", "--data-version", "3"])
    assert args.func.__name__ == "_train" and args.data_version == 3
    assert parser.parse_args(["models", "list"]).func.__name__ == "_list"
    assert parser.parse_args(["rollback", "--to-version", "2"]).to_version == "2"
    for command in (["train"], ["promote"], ["rollback"], ["models", "list"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*command, "--help"])
        assert exit_info.value.code == 0


def test_calibration_falls_back_to_in_sample_when_a_fold_cannot_be_fitted():
    """Defaults only in the last block of snapshots: the scorecard fitted without that block has no
    default to learn from, so out-of-fold calibration is impossible; the state says what was used."""
    from models.config import ModelConfig
    from models.data import TrainingData
    from models.train import fit_state
    from tests.models.synthetic import FEATURES, snapshot_table

    frame = snapshot_table(n_ids=60, months=12, seed=4)
    frame = frame[~frame["in_default_at_snapshot"] & ~frame["censored"]].reset_index(drop=True)
    late = frame.index >= 2 * len(frame) // 3
    frame["default_12m"] = np.where(late, frame["default_12m"] | (frame["tax_arrears_ratio"] > 0.2), 0).astype(int)
    data = TrainingData(train=frame, valid=frame.tail(50), features=list(FEATURES))
    state, _ = fit_state("scorecard", data, ModelConfig())
    assert state["calibration_sample"]["sample"].startswith("train_in_sample (")
    assert state["calibration_sample"]["rows"] == len(frame)
