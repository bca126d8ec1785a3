"""Stress tests: scenario shocks on inline frames, and end to end on a throwaway lakehouse with a real
registered champion rescoring through ``mlflow.pyfunc.spark_udf``."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs import portfolio, stress
from jobs.portfolio import PortfolioConfig
from jobs.portfolio.main import read_inputs
from jobs.portfolio.risk import portfolio_risk
from jobs.scoring import main as scoring
from jobs.stress.main import scenarios_from_settings, scoring_model
from jobs.stress.scenarios import BASELINE, absent_features, apply_scenario, parse_scenarios
from riskpipe.core import io
from riskpipe.core.config import load_settings
from tests.jobs.portfolio_data import DAY, Loan, feature_values, place_frame, silver_ledger, train_champion

MODEL = "stress_test_pd"
COLUMNS = ["uscc", "tax_sales_1m", "tax_sales_growth_12m", "court_defendant_cases_12m", "util_elec_decline_streak"]


def _frame(spark):
    return place_frame(
        spark,
        {1: ("c", "i"), 2: ("c", "i")},
        features={
            1: {
                "tax_sales_1m": 1000.0,
                "tax_sales_growth_12m": 0.1,
                "court_defendant_cases_12m": 3,
                "util_elec_decline_streak": 4,
            },
            2: {
                "tax_sales_1m": None,
                "tax_sales_growth_12m": -0.5,
                "court_defendant_cases_12m": 0,
                "util_elec_decline_streak": 11,
            },
        },
    )


def _scenario(*shocks):
    return parse_scenarios({"scenarios": {BASELINE: {}, "s": {"shocks": list(shocks)}}})["s"]


def test_the_configured_scenarios_name_catalogue_features_and_include_the_baseline():
    scenarios = {s.name: s for s in scenarios_from_settings(load_settings())}
    assert scenarios[BASELINE].shocks == () and len(scenarios) >= 3
    shocked = {f for s in scenarios["covid_2020"].shocks for f in s.features}
    assert {"tax_sales_12m", "tax_sales_growth_12m", "util_elec_yoy_3m", "court_defendant_cases_12m"} <= shocked


def test_shocks_scale_add_grow_set_and_clip_keep_missing_values_and_the_schema(spark):
    frame = _frame(spark)
    scenario = _scenario(
        {"features": ["tax_sales_1m"], "scale": 0.7},
        {"features": ["tax_sales_growth_12m"], "growth_scale": 0.7},
        {"features": ["court_defendant_cases_12m"], "scale": 2.5},
        {"features": ["util_elec_decline_streak"], "add": 3, "max": 12},
    )
    out = apply_scenario(frame, scenario)
    assert out.schema == frame.schema
    expected = spark.createDataFrame(
        [
            (1000.0 * 0.7, (1 + 0.1) * 0.7 - 1, round(3 * 2.5), min(4 + 3, 12)),
            (None, (1 - 0.5) * 0.7 - 1, 0, min(11 + 3, 12)),
        ],
        frame.select(*COLUMNS[1:]).schema,
    )
    assertDataFrameEqual(out.select(*COLUMNS[1:]), expected, rtol=1e-12)
    assertDataFrameEqual(
        apply_scenario(frame, _scenario({"features": "tax_sales_1m", "set": 5.0})).select("tax_sales_1m"),
        spark.createDataFrame([(5.0,), (None,)], "tax_sales_1m double"),
    )


def test_the_zero_shock_and_shocks_of_absent_features_return_the_features_unchanged(spark):
    frame = _frame(spark)
    assertDataFrameEqual(apply_scenario(frame, scenarios_from_settings(load_settings(), [BASELINE])[0]), frame)
    older = frame.drop("tax_sales_1m")  # a snapshot built before a feature entered the catalogue
    scenario = _scenario({"features": ["tax_sales_1m"], "scale": 0.5})
    assertDataFrameEqual(apply_scenario(older, scenario), older)
    assert absent_features(older, scenario) == ["tax_sales_1m"] and absent_features(frame, scenario) == []


@pytest.mark.parametrize(
    "shock, message",
    [
        ({"features": ["no_such_feature"], "scale": 2}, "not numeric catalogue features"),
        ({"features": ["tax_rating"], "scale": 2}, "not numeric catalogue features"),
        ({"features": ["tax_sales_1m"], "scale": 2, "add": 1}, "exactly one of"),
        ({"features": ["tax_sales_1m"], "scale": "x"}, "must be numbers"),
    ],
)
def test_a_bad_shock_is_an_error_naming_the_scenario(shock, message):
    with pytest.raises(ValueError, match=f"scenario 's' shock 0: .*{message}"):
        _scenario(shock)
    with pytest.raises(ValueError, match=BASELINE):
        parse_scenarios({"scenarios": {"s": {"shocks": []}}})


@pytest.fixture(scope="module")
def lakehouse(spark, settings, tmp_path_factory):
    """A throwaway lakehouse with 36 borrowers' features and 45 loans on DAY, scored by a real champion;
    portfolio and stress (baseline and the 2020 shock) run on it."""
    local = settings.replace(lakehouse_root=str(tmp_path_factory.mktemp("stress_lakehouse")))
    train_champion(spark, local, MODEL)
    rng, pick = np.random.default_rng(5), random.Random(5)
    values = feature_values(rng, 36)
    features = {
        b: {k: float(v[b]) if k != "court_defendant_cases_12m" else int(v[b]) for k, v in values.items()}
        for b in range(36)
    }
    loans = [
        Loan(
            f"L{i:02d}",
            i % 38,
            product=pick.choice(["Y_MODEL_WORKING_CAPITAL", "SME_WORKING_CAPITAL"]),
            outstanding=pick.uniform(2e5, 3e6),
            undrawn=pick.choice([0.0, 5e5]),
            collateral_type=pick.choice(["none", "real_estate"]),
            days_past_due=pick.choice([0] * 12 + [100]),
        )
        for i in range(45)
    ]  # borrowers 36 and 37 have no features: unscored
    places = place_frame(spark, {b: (f"county{b % 4}", f"industry{b % 3}") for b in range(36)}, features=features)
    io.append(places, "enterprise_features", settings=local)
    for table, frame in zip(("loans", "loan_balances"), silver_ledger(spark, loans)):
        io.append(frame, table, settings=local)
    scoring.run(DAY, settings=local, spark=spark, model_name=MODEL)
    summary = portfolio.run(DAY, settings=local, spark=spark, fund_balance=2.0e5)
    stressed = stress.run(DAY, scenarios=[BASELINE, "covid_2020"], settings=local, spark=spark, fund_balance=2.0e5)
    return local, summary, stressed


def _read(spark, table, local):
    return io.read(spark, table, settings=local).where(F.col("snapshot_date") == F.lit(DAY))


def test_portfolio_run_writes_reconciled_tables_and_a_rerun_commits_nothing(spark, lakehouse):
    local, summary, _ = lakehouse
    risk = _read(spark, "portfolio_risk", local)
    totals = risk.agg(F.count("*").alias("n"), F.sum("el").alias("el"), F.sum("fund_el").alias("fund_el")).first()
    metrics = _read(spark, "portfolio_metrics", local).first()
    assert summary["n_loans"] == totals["n"] == metrics["n_loans"] > 0 and all(summary["committed"].values())
    assert metrics["el"] == pytest.approx(totals["el"]) and metrics["fund_el"] <= 2.0e5 * (1 + 1e-12)
    assert {r["pd_source"] for r in risk.collect()} == {"model", "in_default", "unscored"}
    again = portfolio.run(DAY, settings=local, spark=spark, fund_balance=2.0e5)
    assert not any(again["committed"].values())


def test_the_zero_shock_reproduces_the_baseline_exactly(spark, lakehouse):
    local, _, stressed = lakehouse
    import mlflow.pyfunc

    loans, scores, places = read_inputs(spark, DAY, local)
    model, features_version = scoring_model(scores, local)
    predict = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=scoring.PREDICTION, env_manager="local")
    features = io.read(spark, "enterprise_features", version=features_version, settings=local)
    zero = scenarios_from_settings(local, [BASELINE])[0]
    rescored = scoring.score_frame(
        apply_scenario(features, zero), predict=predict, model=model, features_version=features_version
    )
    # exactly the published PD, score, grade and reasons (the version is pinned, so no alias is resolved)
    assertDataFrameEqual(rescored.drop("model_alias"), scores.drop("model_alias"))
    config = PortfolioConfig.from_settings(local.sections("portfolio", "default_definition"), fund_balance=2.0e5)
    assertDataFrameEqual(portfolio_risk(loans, rescored, places, config=config), _read(spark, "portfolio_risk", local))
    row = _read(spark, "stress_results", local).where(F.col("scenario") == BASELINE).first()
    for measure in ("pd_mean", "pd_weighted", "el", "bank_el", "fund_el", "fund_claim", "fund_adequacy"):
        assert row[f"stressed_{measure}"] == row[f"baseline_{measure}"], measure
    assert row["n_downgraded"] == row["n_upgraded"] == 0
    cells = _read(spark, "stress_migration", local).where(F.col("scenario") == BASELINE).collect()
    assert all(c["from_grade"] == c["to_grade"] for c in cells)
    assert sum(c["n_borrowers"] for c in cells) == row["n_scored"] == scores.count()
    assert [s["committed"] for s in stressed["scenarios"]] == [{"stress_results": True, "stress_migration": True}] * 2


def test_the_2020_shock_raises_pd_and_moves_grades_down_the_scale(spark, lakehouse):
    local, _, _ = lakehouse
    row = _read(spark, "stress_results", local).where(F.col("scenario") == "covid_2020").first()
    assert row["stressed_pd_mean"] > row["baseline_pd_mean"] and row["stressed_el"] > row["baseline_el"]
    assert row["stressed_fund_claim"] > row["baseline_fund_claim"]
    assert row["stressed_fund_adequacy"] < row["baseline_fund_adequacy"]
    assert row["n_downgraded"] > 0 and row["n_upgraded"] == 0
    cells = _read(spark, "stress_migration", local).where(F.col("scenario") == "covid_2020").collect()
    assert all(int(c["to_grade"]) >= int(c["from_grade"]) for c in cells)
    assert sum(c["n_borrowers"] for c in cells if int(c["to_grade"]) > int(c["from_grade"])) == row["n_downgraded"]
    assert row["model_name"] == MODEL and row["stressed_fund_el"] <= row["fund_balance"] * (1 + 1e-12)


def test_portfolio_uses_the_fund_balance_ingested_from_the_statements(spark, lakehouse, tmp_path):
    """The fund administrator's statement of May, delivered on 5 June, ingested as the source
    ``fund_statements``: the portfolio of 30 June draws on its closing balance, and says so."""
    from jobs.ingest.run import run_source

    local, _, _ = lakehouse
    landed = tmp_path / "landing" / "fund" / "statements" / "fund_statement_202105.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text(
        "pool,statement_date,opening_balance,contributions,payouts,closing_balance\n"
        "shared,2021-05-31,200000.00,0.00,50000.00,150000.00\n",
        encoding="utf-8",
    )
    fed = local.replace(landing_root=str(tmp_path / "landing"))
    ingested = run_source(
        "fund_statements", data_interval_start="2021-06-01", data_interval_end="2021-07-01", settings=fed, spark=spark
    )
    assert ingested["rows_published"] == 1
    try:
        summary = portfolio.run(DAY, settings=local, spark=spark)
        assert summary["fund_balance"] == 1.5e5 and summary["committed"]["portfolio_metrics"]
        assert summary["fund_balances"] == {
            "shared": {
                "balance": 1.5e5,
                "source": "fund_statements",
                "statement_date": "2021-05-31",
                "known_from": "2021-06-05",
            }
        }
        metrics = _read(spark, "portfolio_metrics", local).first()
        assert metrics["fund_balance"] == 1.5e5 and metrics["fund_el"] <= 1.5e5 * (1 + 1e-12)
        # the run's explicit balance still wins over the statement
        overridden = portfolio.run(DAY, settings=local, spark=spark, fund_balance=2.0e5)
        assert overridden["fund_balances"]["shared"] == {"balance": 2.0e5, "source": "override"}
    finally:
        # the other tests of the module read the portfolio of the fixture's balance
        portfolio.run(DAY, settings=local, spark=spark, fund_balance=2.0e5)
