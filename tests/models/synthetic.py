"""A synthetic snapshot table with a known logistic default relationship (test data only).

``rows = n_ids * months``; eight features, seven with a known effect on the log-odds of default
and one pure noise column; ~4% default rate; some missing values and a few excluded rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# log-odds effect per unit of each feature (0 = noise)
EFFECTS = {
    "tax_sales_growth_12m": -3.0,
    "utility_consumption_yoy": -2.5,
    "court_cases_12m": 0.6,
    "tax_arrears_ratio": 4.0,
    "inflow_decline_3m": 0.7,
    "balance_volatility": 0.4,
    "enterprise_age_years": -0.04,
    "noise_1": 0.0,
}
FEATURES = list(EFFECTS)
INTERCEPT = -4.2


def features_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` rows of the eight features; ``shift`` moves every distribution (drift)."""
    return pd.DataFrame(
        {
            "tax_sales_growth_12m": rng.normal(0.0 - shift * 0.2, 0.2, n),
            "utility_consumption_yoy": rng.normal(0.0 - shift * 0.15, 0.15, n),
            "court_cases_12m": rng.poisson(0.3 + shift, n).astype(float),
            "tax_arrears_ratio": rng.exponential(0.1 * (1 + shift), n),
            "inflow_decline_3m": rng.normal(shift, 1.0, n),
            "balance_volatility": rng.lognormal(0.0 + shift * 0.5, 0.5, n),
            "enterprise_age_years": rng.uniform(1, 30, n),
            "noise_1": rng.normal(0, 1, n),
        }
    )


def true_pd(frame: pd.DataFrame) -> np.ndarray:
    logit = INTERCEPT + sum(b * frame[f].fillna(frame[f].mean()) for f, b in EFFECTS.items())
    return 1.0 / (1.0 + np.exp(-logit.to_numpy()))


def snapshot_table(n_ids: int = 300, months: int = 24, seed: int = 7, start: str = "2020-01-01") -> pd.DataFrame:
    """Columns: uscc, snapshot_date, the features, default_12m, in_default_at_snapshot, censored."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=months, freq="MS")
    n = n_ids * months
    frame = features_frame(rng, n)
    frame.insert(0, "snapshot_date", np.repeat(dates.date, n_ids))
    frame.insert(0, "uscc", np.tile([f"91140000MA{i:08d}" for i in range(n_ids)], months))
    frame["default_12m"] = (rng.random(n) < true_pd(frame)).astype(int)
    missing = rng.random(n) < 0.05  # a utility feed gap: missing, not zero
    frame.loc[missing, "utility_consumption_yoy"] = np.nan
    frame["in_default_at_snapshot"] = rng.random(n) < 0.01
    frame["censored"] = rng.random(n) < 0.01
    return frame


# log-odds effect of each category of the string columns of :func:`mixed_table` (test data only)
CATEGORY_EFFECTS = {
    "purpose": {"working_capital": 0.0, "equipment": -0.5, "refinance": 1.0, "expansion": 0.3, "bridge": 1.5},
    "housing": {"own": -0.6, "rent": 0.5, "family": 0.0},
    "employment_band": {"<1y": 0.9, "1-5y": 0.0, "5y+": -0.7},
}
CATEGORY_SHARES = {
    "purpose": [0.40, 0.25, 0.20, 0.145, 0.005],  # "bridge" is rarer than scorecard.cat_cutoff (1%)
    "housing": [0.5, 0.35, 0.15],
    "employment_band": [0.3, 0.4, 0.3],
}
MIXED_NUMERIC = ["tax_arrears_ratio", "tax_sales_growth_12m", "court_cases_12m"]


def mixed_table(n_ids: int = 250, months: int = 24, seed: int = 11, start: str = "2020-01-01") -> pd.DataFrame:
    """An application-style extract: numeric and string attributes with known effects.

    Columns: customer_id, as_of (date), the :data:`MIXED_NUMERIC` columns (doubles), the
    :data:`CATEGORY_EFFECTS` columns (strings; ``employment_band`` 5% missing), bad_12m (0/1).
    """
    rng = np.random.default_rng(seed)
    n = n_ids * months
    frame = features_frame(rng, n)[MIXED_NUMERIC]
    logit = INTERCEPT + 0.3 + sum(EFFECTS[f] * frame[f] for f in MIXED_NUMERIC)
    for column, effects in CATEGORY_EFFECTS.items():
        values = rng.choice(list(effects), size=n, p=CATEGORY_SHARES[column])
        logit = logit + np.array([effects[v] for v in values])
        frame[column] = values.astype(object)
    frame.loc[rng.random(n) < 0.05, "employment_band"] = None
    frame.insert(0, "as_of", np.repeat(pd.date_range(start, periods=months, freq="MS").date, n_ids))
    frame.insert(0, "customer_id", np.tile([f"C{i:06d}" for i in range(n_ids)], months))
    frame["bad_12m"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit.to_numpy()))).astype(int)
    return frame
