"""Promotion through the gate, recorded decisions, rollback and the version listing."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def gate_config(make_config):
    return make_config("sme_pd_gate", {"kinds": ["scorecard"]})


def _tags(config, version):
    from models.registry import client

    return client(config).get_model_version(config.name, str(version)).tags


def test_promote_rollback_and_recorded_reasons(spark, make_config, gate_config, capsys, settings):
    from models.registry import champion_version, list_versions, promote, rollback
    from models.train import train
    from riskpipe.commands.models import _list

    strong = train(gate_config, spark=spark, settings=settings).candidate_version
    first = promote(gate_config)
    assert first.passed and "auc_vs_champion" not in first.checks  # no champion yet
    assert champion_version(gate_config) == strong
    assert _tags(gate_config, strong)["promotion.decision"] == "promoted"

    # a weaker candidate on the same data (only the strongest feature passes a high IV floor):
    # the champion is benchmarked on the candidate's OOT sample
    weak_config = make_config("sme_pd_gate", {"kinds": ["scorecard"], "scorecard": {"min_iv": 0.3}})
    weak = train(weak_config, spark=spark, settings=settings)
    assert "champion_oot_auc" in weak.models["scorecard"].metrics
    refused = promote(gate_config)
    assert not refused.passed and refused.checks["auc_vs_champion"] is False
    tags = _tags(gate_config, weak.candidate_version)
    assert tags["promotion.decision"] == "rejected"
    assert "FAIL auc_vs_champion" in tags["promotion.reasons"]
    assert tags["promotion.champion_before"] == strong
    assert champion_version(gate_config) == strong

    # an operator rolls back to the weak version; the stronger one then passes the gate again
    assert rollback(gate_config, weak.candidate_version) == strong
    assert champion_version(gate_config) == weak.candidate_version
    assert _tags(gate_config, weak.candidate_version)["rollback.from_version"] == strong
    better = promote(gate_config, strong)
    assert better.passed and better.checks["auc_vs_champion"] is True
    assert champion_version(gate_config) == strong
    assert _tags(gate_config, weak.candidate_version)["promotion.replaced_by"] == strong

    rows = {r["version"]: r for r in list_versions(gate_config)}
    assert rows[int(strong)]["aliases"] == "champion" and rows[int(weak.candidate_version)]["decision"] == "rejected"
    import argparse

    assert _list(argparse.Namespace(config=None, name=gate_config.name)) == 0
    assert "champion" in capsys.readouterr().out


def test_promote_without_candidate_is_a_clear_error(make_config):
    from models.registry import promote

    with pytest.raises(ValueError, match="challenger"):
        promote(make_config("sme_pd_never_trained"))


def test_gate_refuses_a_deliberately_miscalibrated_candidate(spark, make_config, training_data):
    """The same scorecard with its calibration shifted (odds x 4.5, ranking unchanged) is registered
    and refused by the per-grade Jeffreys test; the correctly calibrated one passes it."""
    from models.registry import champion_version, ensure_experiment, promote
    from models.train import _log_model_run, evaluate_state, fit_state

    config = make_config("sme_pd_miscalibrated", {"kinds": ["scorecard"]})
    experiment_id = ensure_experiment(config)
    state, tables = fit_state("scorecard", training_data, config)
    good = _log_model_run(
        "scorecard",
        state,
        dict(tables),
        evaluate_state(state, training_data, config, tables["iv"]),
        training_data,
        config,
        {},
        experiment_id=experiment_id,
    )
    shifted = {
        **state,
        "calibrator": {
            **state["calibrator"],
            "coef": [state["calibrator"]["coef"][0] + 1.5, state["calibrator"]["coef"][1]],
        },
    }
    evaluation = evaluate_state(shifted, training_data, config, tables["iv"])
    assert evaluation.metrics["oot_auc"] == pytest.approx(good.metrics["oot_auc"])
    bad = _log_model_run(
        "scorecard", shifted, dict(tables), evaluation, training_data, config, {}, experiment_id=experiment_id
    )

    refused = promote(config, bad.version)
    assert not refused.passed and refused.checks["calibration_by_grade"] is False
    assert refused.checks["min_auc"] is True
    assert champion_version(config) is None
    accepted = promote(config, good.version)
    assert accepted.passed and accepted.checks["calibration_by_grade"] is True, accepted.reasons
    assert champion_version(config) == good.version
