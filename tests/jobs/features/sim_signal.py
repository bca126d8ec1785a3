"""Features carry signal: a logistic regression trained on early snapshots ranks later defaults.

Runs on the session's end-to-end pipeline (``sim_pipeline``: simulated sources ingested through
the DAGs' runner, gold features and labels built for every month-end). The regression is
deliberately plain, one or two features per family, like the simulator's own calibration check
(docs/simulator.md: ≈0.75–0.80 out of time on 2,500 enterprises with six aggregates).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pyspark.sql import functions as F

from riskpipe.core import io

# The simulator is built for ≈0.75–0.80 with a handful of aggregates; the portfolio of the
# shared pipeline is small (a few dozen defaulting borrowers), so the floor leaves room for
# sampling noise while still failing for features that carry no signal (≈0.5).
OOT_AUC_FLOOR = 0.70
MIN_OOT_DEFAULTS = 20  # defaulting rows in the out-of-time sample for the AUC to mean anything
FEATURES = (
    "tax_sales_growth_3m",
    "tax_missed_filings_12m",
    "tax_rating_ordinal",
    "util_elec_yoy_3m",
    "util_unpaid_bills_12m",
    "court_defendant_cases_12m",
    "txn_inflow_trend_3m",
    "txn_balance_cv_3m",
    "loan_max_dpd_3m",
)
CLIP = 10.0  # ratios and growth rates have heavy tails; clip before standardising


def _modelling_frame(spark, pipeline):
    features = io.read(spark, "enterprise_features", settings=pipeline.settings)
    labels = io.read(spark, "default_labels", settings=pipeline.settings)
    scoreable = F.col("is_active_borrower") & ~F.col("in_default_at_snapshot") & ~F.col("censored")
    return (
        features.select("uscc", "snapshot_date", "is_active_borrower", *FEATURES)
        .join(
            labels.select("uscc", "snapshot_date", "default_12m", "in_default_at_snapshot", "censored"),
            on=["uscc", "snapshot_date"],
            how="inner",
        )
        .where(scoreable)
        .select(
            "uscc",
            "snapshot_date",
            *[F.col(c).cast("double").alias(c) for c in FEATURES],
            F.col("default_12m").cast("int").alias("default_12m"),
        )
        .toPandas()
    )


def test_features_rank_later_defaults_out_of_time(spark, sim_pipeline):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = _modelling_frame(spark, sim_pipeline)
    x = data[list(FEATURES)].fillna(0.0).clip(-CLIP, CLIP)
    y = data["default_12m"]
    is_train = data["snapshot_date"] < dt.date.fromisoformat(sim_pipeline.split_date)
    assert y[is_train].sum() >= MIN_OOT_DEFAULTS and y[~is_train].sum() >= MIN_OOT_DEFAULTS, (
        int(y[is_train].sum()),
        int(y[~is_train].sum()),
    )

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[is_train], y[is_train])
    auc = roc_auc_score(y[~is_train], model.predict_proba(x[~is_train])[:, 1])
    print(f"features OOT AUC {auc:.3f} on {int((~is_train).sum())} rows, {int(y[~is_train].sum())} defaults")
    assert auc >= OOT_AUC_FLOOR
    # and the ranking is not one feature's alone: several of them carry weight
    weights = dict(zip(FEATURES, np.abs(model[-1].coef_[0])))
    assert sum(w > 0.05 for w in weights.values()) >= 3, weights
