"""Pre-loan assessment: hard rules beat any score, limits, point in time, audit, replay and the CLI.

Policy tests are pure Python. The end-to-end tests share one tiny silver lakehouse, one
champion (``tests/jobs/assess_data.py``) and two full assessments (the feature build is the
expensive part): a clean applicant and a listed one.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from jobs.assess.policy import DecisionConfig, decide, recommend_limit
from tests.jobs.assess_data import GOOD, LISTED, LISTING_PUBLISHED, silver_frames, train_champion, write_silver

MODEL_NAME = "assess_test_pd"
EXCELLENT = {"pd": 0.001, "score": 700.0, "grade": "1"}


@pytest.fixture(scope="module")
def policy(settings) -> DecisionConfig:
    from jobs.assess.main import decision_config

    return decision_config(settings)


def test_profile_policy_is_valid_and_round_trips_through_json(policy):
    assert DecisionConfig.from_mapping(json.loads(json.dumps(policy.to_dict()))) == policy
    decline = {r.code for r in policy.rules if r.action == "decline"}
    assert decline >= {"INVALID_USCC", "DISHONEST_DEBTOR", "TAX_RATING_D", "ACTIVE_ENFORCEMENT", "DPD_90_CURRENT"}


def test_bad_policy_is_rejected_with_the_reason(policy):
    rule = {"code": "X", "text": "x", "action": "decline", "when": [{"feature": "no_such_feature", "op": "=="}]}
    with pytest.raises(ValueError, match="no_such_feature"):
        DecisionConfig.from_mapping({"rules": [rule]})
    with pytest.raises(ValueError, match="grade_bands"):
        DecisionConfig.from_mapping({"grade_bands": {"approve": [1, 6], "decline": [8, 10]}})


def test_hard_rule_declines_even_the_best_grade(policy):
    for values in (
        {"court_dishonest_listed": True},
        {"tax_rating": "D"},
        {"court_active_enforcements": 2},
        {"loan_current_dpd": 95},
    ):
        outcome = decide(values, EXCELLENT, limit_values={"tax_sales_12m": 1e7}, amount=1e5, config=policy)
        assert (outcome.decision, outcome.recommended_limit) == ("decline", 0.0), values
        assert len(outcome.rule_hits) == 1


def test_limit_is_bounded_by_request_sales_share_grade_and_product_maximum(policy):
    share, cap = policy.limit.sales_share, policy.limit.max_amount
    sales = {"tax_sales_12m": 2_000_000.0, "loan_exposure": 100_000.0}
    limit, text = recommend_limit(sales, grade=1, amount=1e9, policy=policy.limit)
    assert limit <= share * 2_000_000 - 100_000 and limit > share * 2_000_000 - 100_000 - policy.limit.rounding
    assert "verified 12-month sales" in text
    assert recommend_limit(sales, grade=1, amount=123_456.0, policy=policy.limit)[0] == 123_456.0
    assert recommend_limit(sales, grade=6, amount=1e9, policy=policy.limit)[0] < limit
    assert recommend_limit({"tax_sales_12m": 1e10}, grade=1, amount=1e9, policy=policy.limit)[0] == cap
    tiny = decide({}, EXCELLENT, limit_values={"tax_sales_12m": 10_000.0}, amount=1e5, config=policy)
    assert tiny.decision == "refer" and tiny.recommended_limit < policy.limit.min_amount


def test_thin_or_unscored_files_are_referred(policy):
    thin = {"in_registry": True, "scoreable": True, "tax_months_since_last_filing": None}
    outcome = decide(thin, EXCELLENT, limit_values={}, amount=1e5, config=policy)
    assert outcome.decision == "refer" and outcome.rule_hits == ["NO_TAX_FILINGS"]
    unknown = decide({"uscc_valid": True, "in_registry": False}, None, limit_values={}, amount=1e5, config=policy)
    assert (unknown.decision, unknown.recommended_limit, unknown.rule_hits) == ("refer", None, ["NOT_IN_REGISTRY"])


def test_cut_keeps_only_what_was_available_on_the_assessment_date(spark):
    from jobs.assess.applicant import available_on, snapshot_dates

    silver = silver_frames(spark)
    assert snapshot_dates(dt.date(2021, 6, 20)) == (dt.date(2021, 5, 31), dt.date(2021, 6, 30))
    assert snapshot_dates(dt.date(2021, 6, 30)) == (dt.date(2021, 6, 30), dt.date(2021, 6, 30))
    for day, listed in ((LISTING_PUBLISHED - dt.timedelta(days=1), 0), (LISTING_PUBLISHED, 1)):
        cut = available_on(silver, uscc=LISTED, as_of=day)
        assert cut["court_events"].count() == listed
    # the May filing is known from June 16: not on the 15th
    latest = available_on(silver, uscc=LISTED, as_of=dt.date(2021, 6, 15))["tax_filings"].agg({"period": "max"})
    assert latest.first()[0] == dt.date(2021, 4, 1)


@pytest.fixture(scope="module")
def env(spark, settings, tmp_path_factory):
    """``(settings, champion version)``: settings point at a private lakehouse and model name."""
    root = tmp_path_factory.mktemp("assess")
    local = settings.replace(lakehouse_root=str(root / "lakehouse"), model_name=MODEL_NAME)
    write_silver(spark, local)
    return local, train_champion(spark, local, str(root / "mlartifacts"))


@pytest.fixture(scope="module")
def good(spark, env):
    """The clean applicant asks for more than the policy can lend."""
    from jobs.assess.main import assess

    return assess(
        GOOD,
        3_000_000,
        24,
        as_of="2021-06-30",
        settings=env[0],
        spark=spark,
        purpose="walnut purchase",
        product="Y_MODEL_WORKING_CAPITAL",
    )


@pytest.fixture(scope="module")
def listed(spark, env):
    """The listed, government-recommended applicant, assessed mid-month after the listing was published."""
    from jobs.assess.main import assess

    return assess(LISTED, 500_000, 12, as_of=LISTING_PUBLISHED + dt.timedelta(days=12), settings=env[0], spark=spark)


def _band(record) -> str:
    return DecisionConfig.from_mapping(json.loads(record.config)).band(int(record.grade))


def test_clean_applicant_approved_within_sales_share(good, env):
    features = json.loads(good.feature_values)
    share = json.loads(good.config)["limit"]["sales_share"]
    assert good.decision == "approve" and good.rule_hits == [] and _band(good) == "approve"
    assert good.uscc_valid and good.company_name == "核桃食品有限公司" and good.gov_recommended is False
    assert (good.model_name, good.model_version) == (MODEL_NAME, env[1])
    assert good.model_uri == f"models:/{MODEL_NAME}/{env[1]}" and 0 < good.pd < 1
    assert 0 < good.recommended_limit < good.requested_amount
    assert good.recommended_limit <= share * features["tax_sales_12m"] - features["loan_exposure"]
    assert features["tax_sales_12m"] > 0 and features["loan_exposure"] == 300_000.0
    assert good.features_snapshot_date == dt.date(2021, 6, 30)


def test_dishonest_debtor_declined_whatever_the_score_and_the_recommendation(listed):
    assert (listed.decision, listed.recommended_limit, listed.rule_hits) == ("decline", 0.0, ["DISHONEST_DEBTOR"])
    assert any("dishonest-debtor" in reason for reason in listed.decision_reasons)
    assert _band(listed) == "approve"  # the score alone would approve
    assert listed.gov_recommended is True  # recorded and shown; it did not approve
    assert any("Government-recommended" in reason for reason in listed.decision_reasons)
    # point in time: the model scored May's month-end (before the listing); the rules saw June 20
    assert listed.features_snapshot_date == dt.date(2021, 5, 31)
    assert json.loads(listed.feature_values)["court_dishonest_listed"] is False
    assert json.loads(listed.policy_values)["court_dishonest_listed"] is True


def test_audit_rows_appended_with_inputs_and_model_version(spark, env, good, listed):
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from riskpipe.core import io

    rows = {
        r["decision_id"]: r
        for r in io.read(spark, "credit_decisions", settings=env[0])
        .where(F.col("decision_id").isin(good.decision_id, listed.decision_id))
        .collect()
    }
    assert len(rows) == 2
    row = rows[good.decision_id]
    assert (row["decision"], row["model_version"], row["uscc"], row["assessed_at"]) == (
        "approve",
        env[1],
        GOOD,
        dt.date(2021, 6, 30),
    )
    assert json.loads(row["feature_values"]) == json.loads(good.feature_values)
    assert set(json.loads(row["silver_versions"])) >= {"tax_filings", "court_events", "loan_balances"}
    assert rows[listed.decision_id]["rule_hits"] == ["DISHONEST_DEBTOR"]
    with pytest.raises(Exception, match="(?i)append"):  # the audit is append-only
        DeltaTable.forPath(spark, io.table_path("credit_decisions", settings=env[0])).delete(
            F.col("decision_id") == good.decision_id
        )


def test_replay_reproduces_the_decisions(spark, env, good, listed):
    from jobs.assess.main import replay

    for record in (good, listed):
        result = replay(record.decision_id, settings=env[0], spark=spark)
        assert result.matches, result.differences
        assert (result.replayed.decision, result.replayed.recommended_limit, result.replayed.pd) == (
            record.decision,
            record.recommended_limit,
            record.pd,
        )


@pytest.fixture
def cli_env(env, monkeypatch):
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", env[0].lakehouse_root)
    monkeypatch.setenv("RISKPIPE_MODEL_NAME", MODEL_NAME)
    return env[0]


def test_cli_declines_an_invalid_uscc_and_records_it(spark, cli_env, capsys):
    from pyspark.sql import functions as F

    from riskpipe.cli import main
    from riskpipe.core import io

    wrong = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")
    assert main(["assess", "--uscc", wrong, "--amount", "200,000", "--term", "12", "--as-of", "2021-06-30"]) == 0
    out = capsys.readouterr().out
    assert "DECISION: DECLINE" in out and "INVALID_USCC" in out and "not scored" in out
    decision_id = re.search(r"decision id: (\S+)", out).group(1)
    row = io.read(spark, "credit_decisions", settings=cli_env).where(F.col("decision_id") == decision_id).first()
    assert (row["decision"], row["uscc_valid"], row["recommended_limit"], row["pd"]) == ("decline", False, 0.0, None)


def test_cli_replay_prints_the_recorded_decision(cli_env, listed, capsys):
    from riskpipe.cli import main

    assert main(["assess", "--replay", listed.decision_id]) == 0
    out = capsys.readouterr().out
    assert "DECISION: DECLINE" in out and "DISHONEST_DEBTOR" in out and "replay: same decision" in out
    assert "government recommended: yes" in out and f"grade {listed.grade}" in out
