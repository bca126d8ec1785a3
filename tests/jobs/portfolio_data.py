"""Inline test data of the portfolio and stress tests, built from the ``schemas`` declarations.

Loans go through silver ``loans``/``loan_balances`` rows and the real
:func:`jobs.post_loan.loan_state.loan_state`, scores are ``risk_scores`` rows and the borrowers' county
and industry are ``enterprise_features`` rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jobs.post_loan.loan_state import loan_state
from schemas.registry import get
from tests.jobs.features.synthetic import uscc

DAY = dt.date(2021, 6, 30)
MONTH = "2021-06"
START = dt.date(2020, 7, 15)


@dataclass(frozen=True)
class Loan:
    """One loan of the test ledger with its latest balance (business date D - 1)."""

    loan_id: str
    borrower: int
    product: str = "Y_MODEL_WORKING_CAPITAL"
    guarantee_type: str | None = "fund_guarantee"
    collateral_type: str | None = "none"
    fund_coverage_share: float | None = 0.6
    outstanding: float = 1.0e6
    undrawn: float = 0.0
    days_past_due: int = 0
    status: str = "active"


def silver_ledger(spark, loans: list[Loan], *, day: dt.date = DAY):
    """``(silver loans, silver loan_balances)`` frames of ``loans``, balances dated the day before ``day``."""
    contracts = get("loans").rows_to_df(
        spark,
        [
            dict(
                loan_id=x.loan_id,
                uscc=uscc(x.borrower),
                product=x.product,
                principal=x.outstanding + x.undrawn,
                credit_limit=x.outstanding + x.undrawn,
                interest_rate=0.05,
                start_date=START,
                maturity_date=dt.date(2022, 7, 15),
                guarantee_type=x.guarantee_type,
                collateral_type=x.collateral_type,
                fund_coverage_share=x.fund_coverage_share,
                gov_recommended=True,
                status="active",
                known_from=START,
                known_to=None,
                is_current=True,
                _batch_id="b",
                _record_hash=x.loan_id,
            )
            for x in loans
        ],
    )
    balance_date = day - dt.timedelta(days=1)
    balances = get("loan_balances").rows_to_df(
        spark,
        [
            dict(
                loan_id=x.loan_id,
                uscc=uscc(x.borrower),
                as_of_date=balance_date,
                outstanding_principal=x.outstanding,
                undrawn_amount=x.undrawn,
                overdue_principal=0.0,
                days_past_due=x.days_past_due,
                repaid_amount=0.0,
                status=x.status,
                as_of_month=f"{balance_date:%Y-%m}",
                known_from=day,
                is_current=True,
                _batch_id="b",
                _record_hash=x.loan_id,
            )
            for x in loans
        ],
    )
    return contracts, balances


def loan_frame(spark, loans: list[Loan], *, day: dt.date = DAY):
    """:func:`jobs.post_loan.loan_state.loan_state` of ``loans`` on ``day``."""
    contracts, balances = silver_ledger(spark, loans, day=day)
    return loan_state(contracts, balances, as_of=day)


def score_frame(spark, rows: dict[int, tuple[float, int]], *, day: dt.date = DAY):
    """``risk_scores`` rows: borrower -> (pd, grade)."""
    return get("risk_scores").rows_to_df(
        spark,
        [
            dict(
                uscc=uscc(b),
                snapshot_date=day,
                snapshot_month=f"{day:%Y-%m}",
                pd=pd_,
                score=600.0,
                grade=str(g),
                grade_num=g,
                model_name="m",
                model_version="1",
                features_version=0,
            )
            for b, (pd_, g) in rows.items()
        ],
    )


def place_frame(spark, rows: dict[int, tuple[str | None, str | None]], *, day: dt.date = DAY, features=None):
    """``enterprise_features`` rows: borrower -> (county, industry), plus optional feature values per borrower."""
    features = features or {}
    return get("enterprise_features").rows_to_df(
        spark,
        [
            dict(
                uscc=uscc(b),
                snapshot_date=day,
                snapshot_month=f"{day:%Y-%m}",
                county=county,
                industry=industry,
                is_active_borrower=True,
                _features_version="test",
                _built_from="{}",
                **features.get(b, {}),
            )
            for b, (county, industry) in rows.items()
        ],
    )


MODEL_FEATURES = ("tax_sales_growth_12m", "util_elec_yoy_3m", "court_defendant_cases_12m")


def feature_values(rng, n: int) -> dict[str, list]:
    """``n`` draws of :data:`MODEL_FEATURES`: sales growth, electricity year over year, defendant cases."""
    return {
        "tax_sales_growth_12m": rng.normal(0.0, 0.25, n),
        "util_elec_yoy_3m": rng.lognormal(0.0, 0.2, n),
        "court_defendant_cases_12m": rng.poisson(0.4, n),
    }


def train_champion(spark, settings, name: str, *, seed: int = 1) -> str:
    """Train a scorecard on :data:`MODEL_FEATURES` with the real trainer, register it and alias it champion.

    The default relationship is known (lower sales growth and electricity, more court cases:
    riskier), so the shocks of the stress scenarios must raise its PD.
    """
    import numpy as np
    import pandas as pd

    from models.config import model_config
    from models.data import TrainingData
    from models.registry import set_alias
    from models.train import train

    rng = np.random.default_rng(seed)
    n, months = 3000, 6
    frame = pd.DataFrame(feature_values(rng, n)).astype(float)
    logit = (
        -3.5
        - 3.0 * frame["tax_sales_growth_12m"]
        - 2.5 * (frame["util_elec_yoy_3m"] - 1)
        + 0.7 * frame["court_defendant_cases_12m"]
    )
    frame["default_12m"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.insert(
        0, "snapshot_date", np.repeat(pd.date_range("2020-01-31", periods=months, freq="ME").date, n // months)
    )
    frame.insert(0, "uscc", [f"T{i:05d}" for i in range(n)])
    split = frame["snapshot_date"] >= dt.date(2020, 5, 1)
    data = TrainingData(
        frame[~split].reset_index(drop=True),
        frame[split].reset_index(drop=True),
        list(MODEL_FEATURES),
        {"table": "inline", "version": 0},
    )
    config = model_config(
        settings, {"name": name, "experiment": f"test-{name}", "kinds": ["scorecard"], "candidate": "scorecard"}
    )
    version = train(config, spark=spark, settings=settings, data=data).models["scorecard"].version
    set_alias(config, "champion", version)
    return version
