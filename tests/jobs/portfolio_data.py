"""Inline test data of the portfolio and stress tests, built from the ``schemas`` declarations.

Loans go through silver ``loans``/``loan_balances`` rows and the real
:func:`jobs.loan_state.loan_state`, scores are ``risk_scores`` rows and the borrowers' county
and industry are ``enterprise_features`` rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jobs.loan_state import loan_state
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
    contracts = get("loans").rows_to_df(spark, [dict(
        loan_id=x.loan_id, uscc=uscc(x.borrower), product=x.product, principal=x.outstanding + x.undrawn,
        credit_limit=x.outstanding + x.undrawn, interest_rate=0.05, start_date=START,
        maturity_date=dt.date(2022, 7, 15), guarantee_type=x.guarantee_type, collateral_type=x.collateral_type,
        fund_coverage_share=x.fund_coverage_share, gov_recommended=True, status="active", known_from=START,
        known_to=None, is_current=True, _batch_id="b", _record_hash=x.loan_id) for x in loans])
    balance_date = day - dt.timedelta(days=1)
    balances = get("loan_balances").rows_to_df(spark, [dict(
        loan_id=x.loan_id, uscc=uscc(x.borrower), as_of_date=balance_date, outstanding_principal=x.outstanding,
        undrawn_amount=x.undrawn, overdue_principal=0.0, days_past_due=x.days_past_due, repaid_amount=0.0,
        status=x.status, as_of_month=f"{balance_date:%Y-%m}", _batch_id="b", _record_hash=x.loan_id)
        for x in loans])
    return contracts, balances


def loan_frame(spark, loans: list[Loan], *, day: dt.date = DAY):
    """:func:`jobs.loan_state.loan_state` of ``loans`` on ``day``."""
    contracts, balances = silver_ledger(spark, loans, day=day)
    return loan_state(contracts, balances, as_of=day)


def score_frame(spark, rows: dict[int, tuple[float, int]], *, day: dt.date = DAY):
    """``risk_scores`` rows: borrower -> (pd, grade)."""
    return get("risk_scores").rows_to_df(spark, [dict(
        uscc=uscc(b), snapshot_date=day, snapshot_month=f"{day:%Y-%m}", pd=pd_, score=600.0, grade=str(g),
        grade_num=g, model_name="m", model_version="1", features_version=0) for b, (pd_, g) in rows.items()])


def place_frame(spark, rows: dict[int, tuple[str | None, str | None]], *, day: dt.date = DAY, features=None):
    """``enterprise_features`` rows: borrower -> (county, industry), plus optional feature values per borrower."""
    features = features or {}
    return get("enterprise_features").rows_to_df(spark, [dict(
        uscc=uscc(b), snapshot_date=day, snapshot_month=f"{day:%Y-%m}", county=county, industry=industry,
        is_active_borrower=True, _features_version="test", _built_from="{}", **features.get(b, {}))
        for b, (county, industry) in rows.items()])
