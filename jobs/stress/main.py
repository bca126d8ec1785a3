"""Stress tests of one month-end: shock the features, rescore, recompute the expected loss, compare.

The features are read at the Delta version recorded in ``risk_scores`` of D and rescored by the
model version recorded there (the champion that scored D), through the same
``mlflow.pyfunc.spark_udf`` path as :mod:`jobs.scoring.main`. So the baseline is exactly the
published ``risk_scores`` and ``portfolio_risk`` of D, and the ``zero_shock`` scenario
reproduces it; any difference in another scenario is the shock alone, never a model change.
Each scenario's ``stress_results`` row and ``stress_migration`` rows replace the previous ones of
the same snapshot and scenario (skipped when unchanged).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.portfolio import fund
from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.main import read_inputs
from jobs.portfolio.risk import portfolio_risk
from jobs.scoring.main import PREDICTION, ResolvedModel, resolve_model, score_frame
from jobs.stress.compare import grade_moves, migration, results
from jobs.stress.scenarios import Scenario, absent_features, apply_scenario, load_scenarios
from riskpipe.core import io
from riskpipe.core.calendar import snapshot_month, to_snapshots
from riskpipe.core.config import Settings, resolve_path
from schemas.gold_portfolio import STRESS_MIGRATION, STRESS_RESULTS


def scenarios_from_settings(settings: Settings, names: Iterable[str] | None = None) -> list[Scenario]:
    """The configured scenarios (``stress.scenarios``), all or those named, in file order.

    Raises:
        ValueError: naming an unknown scenario and the known ones.
    """
    path = resolve_path(settings.stress.scenarios)
    known = load_scenarios(path)
    names = list(names or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown stress scenario(s) {unknown}; {path} defines {sorted(known)}")
    return [known[n] for n in names]


def scoring_model(scores: DataFrame, settings: Settings) -> tuple[ResolvedModel, int]:
    """The model version and features version that scored ``scores`` (risk_scores of one snapshot).

    Raises:
        ValueError: when the snapshot was scored by several models or feature versions.
    """
    found = scores.select("model_name", "model_version", "features_version").distinct().collect()
    if len(found) != 1:
        raise ValueError(
            f"risk_scores of the snapshot come from {len(found)} model/feature versions "
            f"{[tuple(r) for r in found]}; rescore the snapshot with one model first"
        )
    name, version, features_version = found[0]
    return resolve_model(settings=settings, name=name, version=version), int(features_version)


def _stress_one(
    scenario: Scenario,
    *,
    day: dt.date,
    features: DataFrame,
    predict: Any,
    model: ResolvedModel,
    features_version: int,
    inputs: tuple[DataFrame, DataFrame, DataFrame],
    baseline: DataFrame,
    config: PortfolioConfig,
    settings: Settings,
) -> dict[str, Any]:
    loans, scores, places = inputs
    stressed_scores = score_frame(
        apply_scenario(features, scenario), predict=predict, model=model, features_version=features_version
    ).cache()
    stressed = portfolio_risk(loans, stressed_scores, places, config=config).cache()
    moves = grade_moves(scores, stressed_scores, baseline).cache()
    cached = [stressed_scores, stressed, moves]
    try:
        row = results(
            baseline,
            stressed,
            moves,
            scenario=scenario,
            day=day,
            config=config,
            model=(model.name, model.version, features_version),
        ).cache()
        matrix = migration(moves, scenario=scenario.name, day=day).cache()
        cached.extend([row, matrix])
        condition = f"snapshot_month = '{snapshot_month(day)}' AND scenario = '{scenario.name}'"
        committed = {
            STRESS_RESULTS.name: io.replace_partition(row, STRESS_RESULTS, condition, settings=settings),
            STRESS_MIGRATION.name: io.replace_partition(matrix, STRESS_MIGRATION, condition, settings=settings),
        }
        summary = (
            row.select(
                "baseline_el",
                "stressed_el",
                "baseline_pd_mean",
                "stressed_pd_mean",
                "baseline_fund_adequacy",
                "stressed_fund_adequacy",
                "n_downgraded",
                "n_upgraded",
            )
            .first()
            .asDict()
        )
    finally:
        for frame in cached:
            frame.unpersist()
    return {
        "scenario": scenario.name,
        **summary,
        "not_shocked": absent_features(features, scenario),
        "committed": committed,
    }


def run(
    as_of: dt.date | str,
    *,
    scenarios: Iterable[str] | None = None,
    settings: Settings,
    spark: SparkSession,
    fund_balance: float | None = None,
) -> dict[str, Any]:
    """Stress snapshot ``as_of`` (a month-end, scored first) under the named scenarios (default: all).

    Args:
        as_of: the month-end D.
        scenarios: scenario names from ``stress.scenarios`` (conf/stress_scenarios.yaml); all when None.
        fund_balance: the shared pool's balance for this run (as :func:`jobs.portfolio.run`); by
            default the fund balances known on D (:func:`jobs.portfolio.fund.config_on`).

    Returns:
        Summary: snapshot, model and features versions, the fund balances and their source
        (``fund_balances``, as :func:`jobs.portfolio.run`), and per scenario the baseline and stressed
        EL, mean PD and fund adequacy, downgrades, upgrades, the shocked features absent from the
        snapshot (``not_shocked``) and whether each table committed.
    """
    import mlflow.pyfunc

    (day,) = to_snapshots(as_of)
    chosen = scenarios_from_settings(settings, scenarios)
    loans, scores, places = read_inputs(spark, day, settings)
    config, balances = fund.config_on(spark, day, settings, fund_balance=fund_balance)
    scores, loans = scores.cache(), loans.cache()
    model, features_version = scoring_model(scores, settings)
    features = (
        io.read(spark, "enterprise_features", version=features_version, settings=settings)
        .where((F.col("snapshot_month") == snapshot_month(day)) & (F.col("snapshot_date") == F.lit(day)))
        .join(scores.select("uscc"), on="uscc", how="left_semi")
        .cache()
    )
    baseline = portfolio_risk(loans, scores, places, config=config).cache()
    predict = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=PREDICTION, env_manager="local")
    try:
        outcomes = [
            _stress_one(
                s,
                day=day,
                features=features,
                predict=predict,
                model=model,
                features_version=features_version,
                inputs=(loans, scores, places),
                baseline=baseline,
                config=config,
                settings=settings,
            )
            for s in chosen
        ]
    finally:
        for frame in (scores, loans, features, baseline):
            frame.unpersist()
    return {
        "snapshot_date": day.isoformat(),
        "model_name": model.name,
        "model_version": model.version,
        "features_version": features_version,
        "fund_balances": fund.describe(balances),
        "scenarios": outcomes,
    }


def run_all(as_of: dt.date | str, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Every configured scenario of snapshot ``as_of`` (what the demo and the monthly DAG call)."""
    return run(as_of, settings=settings, spark=spark)
