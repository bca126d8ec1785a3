"""The government's recommendation is policy context, never a driver of the bank's own PD (issue 31, item 4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.models.synthetic import snapshot_table

SPLIT = "2021-07-01"


@pytest.fixture(scope="module")
def table_with_recommendation(tmp_path_factory) -> str:
    """The synthetic table plus both recommendation flags, made to predict the label (recommended
    borrowers default less, as on the demo portfolio), as Parquet."""
    frame = snapshot_table(n_ids=200, months=24, seed=11)
    rng = np.random.default_rng(3)
    frame["ent_gov_recommended"] = np.where(
        frame["default_12m"] == 1, rng.random(len(frame)) < 0.2, rng.random(len(frame)) < 0.6
    )
    frame["loan_gov_recommended"] = frame["ent_gov_recommended"].astype(int)
    path = str(tmp_path_factory.mktemp("policy") / "snapshots.parquet")
    frame.to_parquet(path, index=False)
    return path


def _data_config(path: str, **changes):
    from models.config import DataConfig

    return dataclasses.replace(DataConfig(table=path, format="parquet", label_table=None, split_date=SPLIT), **changes)


def test_recommended_and_not_recommended_with_the_same_data_get_the_same_pd(spark, settings, table_with_recommendation):
    from models.config import ModelConfig
    from models.data import load_training_data
    from models.pyfunc import Scorer
    from models.scorecard import fit_binning
    from models.train import fit_state

    data = load_training_data(_data_config(table_with_recommendation), spark=spark, settings=settings)
    assert "ent_gov_recommended" not in data.features and "loan_gov_recommended" not in data.features
    # the flag does carry information on this table: excluded by policy, not for lack of signal
    raw = pd.read_parquet(table_with_recommendation)
    raw = raw[pd.to_datetime(raw["snapshot_date"]) < pd.Timestamp(SPLIT)].astype({"ent_gov_recommended": float})
    _, iv = fit_binning(raw, ["ent_gov_recommended"], "default_12m", ModelConfig().scorecard)
    assert iv["iv"].iloc[0] > 0.1

    for kind in ("scorecard", "lightgbm"):
        state, _ = fit_state(kind, data, ModelConfig())
        assert not {"ent_gov_recommended", "loan_gov_recommended"} & set(state["features"])
        row = data.valid.head(1)
        recommended = row.assign(ent_gov_recommended=True, loan_gov_recommended=1.0)
        not_recommended = row.assign(ent_gov_recommended=False, loan_gov_recommended=0.0)
        scorer = Scorer(state)
        assert scorer.predict(recommended)["pd"].iloc[0] == scorer.predict(not_recommended)["pd"].iloc[0]


def test_policy_context_is_configurable_and_refused_as_an_explicit_feature(spark, settings, table_with_recommendation):
    from models.data import load_training_data

    allowed = load_training_data(
        _data_config(table_with_recommendation, policy_context_cols=()), spark=spark, settings=settings
    )
    assert "ent_gov_recommended" in allowed.features
    with pytest.raises(ValueError, match="policy context"):
        load_training_data(
            _data_config(table_with_recommendation, features=("noise_1", "ent_gov_recommended")),
            spark=spark,
            settings=settings,
        )


def test_training_keeps_only_the_population_the_model_scores(spark, settings, tmp_path):
    """``data.population_flags``: rows outside the scored population (an enterprise without a loan,
    which cannot default) are not training evidence; the flag itself is no feature."""
    from models.data import load_training_data

    frame = snapshot_table(n_ids=200, months=24, seed=5)
    rng = np.random.default_rng(8)
    frame["is_active_borrower"] = rng.random(len(frame)) < 0.6
    frame.loc[~frame["is_active_borrower"], "default_12m"] = 0  # no loan: no default, by definition
    path = str(tmp_path / "with_population.parquet")
    frame.to_parquet(path, index=False)

    everyone = load_training_data(_data_config(path), spark=spark, settings=settings)
    borrowers = load_training_data(
        _data_config(path, population_flags=("is_active_borrower",)), spark=spark, settings=settings
    )
    assert "is_active_borrower" in everyone.features and "is_active_borrower" not in borrowers.features
    kept = frame[frame["is_active_borrower"] & ~frame["in_default_at_snapshot"] & ~frame["censored"]]
    assert len(borrowers.train) + len(borrowers.valid) == len(kept)
    assert set(borrowers.train["uscc"] + borrowers.train["snapshot_date"].astype(str)) <= set(
        kept["uscc"] + kept["snapshot_date"].astype(str)
    )
    with pytest.raises(ValueError, match="population_flags"):
        load_training_data(_data_config(path, population_flags=("has_a_loan",)), spark=spark, settings=settings)
