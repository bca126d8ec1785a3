"""LightGBM challenger on the same inputs as the scorecard.

Deterministic for a seed: every LightGBM random stream is seeded, ``deterministic`` and
``force_row_wise`` remove thread-order effects, and ``num_threads`` stays small (2 cores).
Missing values are left to LightGBM's own handling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.config import LightGBMConfig


def lightgbm_params(config: LightGBMConfig, seed: int) -> dict[str, Any]:
    """Training parameters of the booster (logged as MLflow params)."""
    return {
        "objective": "binary",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l2": config.lambda_l2,
        "num_threads": config.n_jobs,
        "seed": seed,
        "bagging_seed": seed,
        "feature_fraction_seed": seed,
        "data_random_seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit_lightgbm(train: pd.DataFrame, features: list[str], label: str,
                 config: LightGBMConfig, seed: int) -> Any:
    """Fit a binary LightGBM booster on ``train[features]`` -> ``train[label]``."""
    import lightgbm as lgb

    dataset = lgb.Dataset(train[features].to_numpy(float), label=train[label].to_numpy(),
                          feature_name=list(features), free_raw_data=True)
    return lgb.train(lightgbm_params(config, seed), dataset, num_boost_round=config.num_boost_round)


def out_of_fold_log_odds(train: pd.DataFrame, features: list[str], label: str,
                         config: LightGBMConfig, seed: int, folds: int) -> np.ndarray:
    """Raw log-odds of each training row from a booster that did not see it.

    Calibrating on in-sample boosted scores would fit their overconfidence; folds are
    contiguous blocks of snapshots (the frame is sorted by date), not random rows.
    """
    out = np.empty(len(train))
    for block in np.array_split(np.arange(len(train)), folds):
        mask = np.zeros(len(train), dtype=bool)
        mask[block] = True
        booster = fit_lightgbm(train[~mask], features, label, config, seed)
        out[mask] = booster.predict(train.loc[mask, features].to_numpy(float), raw_score=True)
    return out


def booster_to_string(booster: Any) -> str:
    return booster.model_to_string()


def booster_from_string(text: str) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)
