"""Reason codes: the three features that push a row most toward default.

Contributions are "toward default" amounts per feature (bigger = worse):

* scorecard: points lost against the feature's best bin (:meth:`Scorecard.points_lost`);
* LightGBM: SHAP values in log-odds from ``Booster.predict(pred_contrib=True)``.

Only strictly positive contributions become reasons; a row with fewer than three gets None in
the remaining slots. Ties keep feature order, so codes are stable for a given model.
Codes are the feature names in upper snake case (``tax_sales_growth_12m`` ->
``TAX_SALES_GROWTH_12M``); texts come from ``models.reason_texts`` or are derived from the name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

N_REASONS = 3


def reason_code(feature: str) -> str:
    """Stable code of a feature: upper snake case, ASCII letters, digits and ``_`` only."""
    return re.sub(r"[^A-Z0-9]+", "_", feature.upper()).strip("_")


def reason_text(feature: str, texts: Mapping[str, str] | None = None) -> str:
    """Readable text of a feature's reason code (configured, else derived from the name)."""
    if texts and feature in texts:
        return texts[feature]
    return f"Unfavourable {feature.replace('_', ' ')}"


def reason_catalogue(features: list[str], texts: Mapping[str, str] | None = None) -> dict[str, str]:
    """``code -> text`` for every feature of a model.

    Raises:
        ValueError: when two features map to the same code.
    """
    catalogue: dict[str, str] = {}
    for feature in features:
        code = reason_code(feature)
        if code in catalogue:
            raise ValueError(f"features collide on reason code {code!r}; rename one of them")
        catalogue[code] = reason_text(feature, texts)
    return catalogue


def top_reasons(contributions: np.ndarray, features: list[str], n: int = N_REASONS) -> list[list[str | None]]:
    """Top-``n`` reason codes per row.

    Args:
        contributions: ``rows x features`` array, larger = pushes more toward default.
        features: column names of ``contributions``.

    Returns:
        ``n`` lists (reason_1, reason_2, ...), each with one code or None per row.
    """
    contributions = np.asarray(contributions, dtype=float)
    codes = np.asarray([reason_code(f) for f in features], dtype=object)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :n]
    picked = np.take_along_axis(contributions, order, axis=1)
    out: list[list[str | None]] = []
    for k in range(n):
        if k >= contributions.shape[1]:
            out.append([None] * contributions.shape[0])
            continue
        column = codes[order[:, k]]
        out.append([code if value > 0 else None for code, value in zip(column, picked[:, k])])
    return out
