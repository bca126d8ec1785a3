"""LightGBM challenger on the same inputs as the scorecard.

Deterministic for a seed: every LightGBM random stream is seeded, ``deterministic`` and
``force_row_wise`` remove thread-order effects, and ``num_threads`` stays small (2 cores).
Missing values are left to LightGBM's own handling.

Categorical (string) features are LightGBM categorical features. Their codes are fixed by
:func:`category_levels` (the sorted categories of the training sample, code = position), which
the fitted state stores, so scoring maps a category to the code it was trained with. A
category not seen in training, like a missing value, is coded NaN: LightGBM treats it as
missing (it follows the side of each split that the categories outside the split's set take).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.config import LightGBMConfig
from models.scorecard import as_category, categorical_columns


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


def category_levels(train: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """``feature -> sorted categories`` of each categorical feature of the training sample."""
    return {f: sorted(as_category(train[f]).dropna().unique().tolist()) for f in categorical_columns(train, features)}


def lightgbm_matrix(frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]) -> np.ndarray:
    """``frame[features]`` as a float matrix: numeric features as they are, categorical ones
    (those in ``levels``) as their code in ``levels``; missing and unseen categories are NaN."""
    columns = []
    for feature in features:
        if feature in levels:
            codes = {category: float(i) for i, category in enumerate(levels[feature])}
            columns.append(as_category(frame[feature]).map(codes).to_numpy(dtype=float, na_value=np.nan))
        else:
            columns.append(frame[feature].to_numpy(dtype=float))
    return np.column_stack(columns)


def fit_lightgbm(
    train: pd.DataFrame,
    features: list[str],
    label: str,
    config: LightGBMConfig,
    seed: int,
    levels: dict[str, list[str]] | None = None,
) -> Any:
    """Fit a binary LightGBM booster on ``train[features]`` -> ``train[label]``.

    Args:
        levels: category codes of the categorical features (default: :func:`category_levels`
            of ``train``); pass the full training sample's when fitting on a part of it.
    """
    import lightgbm as lgb

    levels = category_levels(train, features) if levels is None else levels
    dataset = lgb.Dataset(
        lightgbm_matrix(train, features, levels),
        label=train[label].to_numpy(),
        feature_name=list(features),
        categorical_feature=[f for f in features if f in levels],
        free_raw_data=True,
    )
    return lgb.train(lightgbm_params(config, seed), dataset, num_boost_round=config.num_boost_round)


def out_of_fold_log_odds(
    train: pd.DataFrame, features: list[str], label: str, config: LightGBMConfig, seed: int, folds: int
) -> np.ndarray:
    """Raw log-odds of each training row from a booster that did not see it.

    Calibrating on in-sample boosted scores would fit their overconfidence; folds are
    contiguous blocks of snapshots (the frame is sorted by date), not random rows.
    """
    levels = category_levels(train, features)
    out = np.empty(len(train))
    for block in np.array_split(np.arange(len(train)), folds):
        mask = np.zeros(len(train), dtype=bool)
        mask[block] = True
        booster = fit_lightgbm(train[~mask], features, label, config, seed, levels)
        out[mask] = booster.predict(lightgbm_matrix(train[mask], features, levels), raw_score=True)
    return out


def booster_to_string(booster: Any) -> str:
    return booster.model_to_string()


def booster_from_string(text: str) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)
