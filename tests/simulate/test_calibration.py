"""The generative model is realistic and calibrated (default rate, timing, signals)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .features import FEATURES, build_panel, load_tax

SNAPSHOTS = list(pd.period_range("2019-04", "2020-12", freq="M"))
TRAIN_LAST, TEST_FIRST = pd.Period("2019-12", "M"), pd.Period("2020-03", "M")


@pytest.fixture(scope="module")
def panel(calibration_data):
    return build_panel(calibration_data[0], SNAPSHOTS)


def test_twelve_month_default_rate_is_realistic(panel):
    by_snapshot = panel.groupby("snapshot")["default_12m"].mean()
    assert 0.02 <= panel["default_12m"].mean() <= 0.06
    assert by_snapshot.min() >= 0.005 and by_snapshot.max() <= 0.12
    assert panel.groupby("snapshot").size().min() > 800  # most enterprises borrow


def test_defaults_cluster_in_the_shock_years(calibration_data):
    root = calibration_data[0]
    d = pd.read_parquet(root / "truth/defaults.parquet")
    per_year = pd.to_datetime(d["default_date"]).dt.year.value_counts()
    assert per_year.get(2020, 0) > 1.5 * per_year.get(2019, 0)
    assert per_year.get(2020, 0) + per_year.get(2021, 0) > 2 * (per_year.get(2018, 0) + per_year.get(2019, 0))
    assert set(d["trigger"]) <= {"dpd90", "restructured"}


def test_simple_aggregates_predict_default_out_of_time(panel):
    train = panel[panel["snapshot"] <= TRAIN_LAST]
    test = panel[panel["snapshot"] >= TEST_FIRST]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[FEATURES].fillna(0), train["default_12m"])
    auc = roc_auc_score(test["default_12m"], model.predict_proba(test[FEATURES].fillna(0))[:, 1])
    print(f"out-of-time AUC of the simple logistic regression: {auc:.3f}")
    assert 0.70 < auc < 0.95


def test_harvest_seasonality_visible_in_tax_sales(calibration_data):
    root = calibration_data[0]
    tax = load_tax(root)
    registry = pd.read_csv(root / "registry/enterprises.csv", dtype=str)
    walnut = set(registry.loc[registry["industry"] == "walnut", "uscc"])
    sales = tax[tax["uscc"].isin(walnut)].groupby("period")["sales"].sum()
    harvest = sales[[pd.Period(f"2019-{m:02d}", "M") for m in (9, 10, 11)]].mean()
    spring = sales[[pd.Period(f"2019-{m:02d}", "M") for m in (3, 4, 5)]].mean()
    assert harvest > 2.5 * spring


def test_shock_visible_in_tax_sales(calibration_data):
    tax = load_tax(calibration_data[0])
    sales = tax.groupby("period")["sales"].sum()
    for month in ("02", "03", "04"):
        assert sales[pd.Period(f"2020-{month}", "M")] < 0.85 * sales[pd.Period(f"2019-{month}", "M")]


def test_shock_visible_in_bank_inflows(dirty_data):
    root = dirty_data[0]
    inflow = {}
    for year in (2019, 2020):
        files = sorted(root.glob(f"bank/transactions/transactions_{year}0[234]??.parquet"))
        files = [f for f in files if "_redelivery" not in f.name]
        total = 0.0
        for f in files:
            try:
                df = pd.read_parquet(f)
            except Exception:  # a truncated file: its re-delivery is counted instead
                df = pd.read_parquet(f.with_name(f.stem + "_redelivery.parquet"))
            ok = (df["direction"] == "C") & (df["amount"] > 0) & (df["amount"] < 1e11)
            total += df.loc[ok, "amount"].sum()
        inflow[year] = total
    assert inflow[2020] < 0.85 * inflow[2019]


def test_latent_truth_is_consistent(calibration_data):
    root = calibration_data[0]
    latent = pd.read_parquet(root / "truth/latent_pd.parquet")
    assert latent["latent_pd_12m"].between(0, 1).all()
    d = pd.read_parquet(root / "truth/defaults.parquet")
    period = pd.to_datetime(d["default_date"]).dt.to_period("M") - 6
    key = pd.DataFrame({"uscc": d["uscc"], "period": period.astype(str)})
    before = latent.merge(key, on=["uscc", "period"])["latent_pd_12m"]
    assert before.mean() > 3 * latent["latent_pd_12m"].mean() * 0.5
    assert np.isfinite(latent["health"]).all()
