"""Each feature family on a small hand-computed example (snapshot D = 2021-06-30, M = June)."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.features import court, loans, tax, transactions, utility
from schemas.registry import get

D = dt.date(2021, 6, 30)
E = "91141100MA0000001J"
d = dt.date


def _one(df) -> dict:
    rows = df.collect()
    assert len(rows) == 1, rows
    return rows[0].asDict()


def _check(actual: dict, expected: dict) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert actual[name] == pytest.approx(value, rel=1e-9), name
        else:
            assert actual[name] == value, name


def _versioned(rows: list[dict]) -> list[dict]:
    return [{"known_to": None, "is_current": True, "_batch_id": "b", "_record_hash": "h", **r} for r in rows]


def test_tax_family(spark):
    def filing(period, sales, known_from=None, **extra):
        known_from = known_from or d(period.year + (period.month == 12), period.month % 12 + 1, 16)
        return dict(uscc=E, period=period, taxable_sales=sales, vat_paid=sales * 0.03, known_from=known_from, **extra)

    # on D (June 2021) the latest period known is M-2 = April: the windows end there
    filings = _versioned(
        [
            filing(d(2021, 5, 1), 999.0, arrears_amount=50.0),  # M-1 known early: latest filing, in no window
            filing(d(2021, 4, 1), 300.0),
            filing(d(2021, 3, 1), 200.0, penalty_amount=10.0, is_amendment=True),
            filing(d(2021, 2, 1), 100.0),
            filing(d(2020, 5, 1), 0.0),
            filing(d(2020, 4, 1), 100.0),
            filing(d(2020, 3, 1), 100.0),
            filing(d(2020, 2, 1), 100.0),
            filing(d(2021, 6, 1), 999.0),  # period M: not expected yet
            filing(d(2021, 1, 1), 999.0, known_from=d(2021, 7, 16)),  # filed late, after D
        ]
    )
    ratings = _versioned(
        [
            dict(uscc=E, rating_year=2019, rating="A", published_date=d(2020, 4, 20), known_from=d(2020, 4, 21)),
            dict(uscc=E, rating_year=2020, rating="C", published_date=d(2021, 4, 20), known_from=d(2021, 4, 21)),
        ]
    )
    out = _one(
        tax.transform(
            get("tax_filings").rows_to_df(spark, filings),
            ratings=get("tax_ratings").rows_to_df(spark, ratings),
            as_of=D,
        )
    )
    cv = (50000 / 3) ** 0.5 / 150
    _check(
        out,
        dict(
            tax_sales_1m=300.0,
            tax_sales_3m=600.0,
            tax_sales_12m=600.0,
            tax_sales_growth_3m=1.0,
            tax_sales_growth_6m=1.0,
            tax_sales_growth_12m=1.0,
            tax_sales_cv_12m=cv,
            tax_zero_filings_12m=1,
            tax_missed_filings_12m=8,
            tax_months_since_last_filing=1,
            tax_arrears_latest=50.0,
            tax_penalties_12m=10.0,
            tax_vat_paid_12m=18.0,
            tax_amendments_12m=1,
            tax_rating_ordinal=4,
            tax_rating="C",
        ),
    )


def test_utility_family(spark):
    def read(meter, kind, period, consumption, **extra):
        return dict(
            meter_id=meter,
            uscc=E,
            utility_type=kind,
            period=period,
            consumption=consumption,
            known_from=d(period.year + (period.month == 12), period.month % 12 + 1, 11),
            **extra,
        )

    rows = _versioned(
        [
            read("E1", "electricity", d(2021, 5, 1), 80.0, arrears_amount=30.0, bill_amount=40.0),
            read("E2", "electricity", d(2021, 5, 1), 5.0, arrears_amount=5.0),
            read("E1", "electricity", d(2021, 4, 1), 90.0),
            read("E1", "electricity", d(2021, 3, 1), 0.0),
            read("E1", "electricity", d(2021, 2, 1), 50.0),
            read("E1", "electricity", d(2020, 5, 1), 100.0),
            read("E1", "electricity", d(2020, 4, 1), 100.0, paid_flag=False),
            read("E1", "electricity", d(2020, 3, 1), 100.0),
            read("E1", "electricity", d(2020, 2, 1), 40.0),
            *[read("W1", "water", d(2021, m, 1), 10.0, arrears_amount=0.0) for m in (3, 5)],
            read("W1", "water", d(2021, 4, 1), 10.0, paid_flag=False, bill_amount=7.0),
            *[read("W1", "water", d(2020, m, 1), 20.0) for m in (3, 4, 5)],
        ]
    )
    out = _one(utility.transform(get("utility_reads").rows_to_df(spark, rows), as_of=D))
    _check(
        out,
        dict(
            util_elec_kwh_1m=85.0,
            util_elec_kwh_3m=175.0,
            util_elec_yoy_1m=0.85,
            util_elec_yoy_3m=175.0 / 300.0,
            util_water_yoy_3m=0.5,
            util_elec_decline_streak=3,
            util_elec_drop30_streak=0,
            util_elec_zero_months_12m=1,
            util_elec_reads_12m=4,
            util_unpaid_bills_12m=1,
            util_arrears_latest=35.0,
            util_bill_amount_3m=47.0,
        ),
    )


def test_court_family(spark):
    def event(i, case, etype, day, role="defendant", cause="loan_dispute", amount=None, publish_lag=3, uscc=E):
        published = day + dt.timedelta(days=publish_lag)
        return dict(
            event_id=f"CE{i}",
            case_id=case,
            event_type=etype,
            event_date=day,
            published_date=published,
            role=role,
            cause=cause,
            amount=amount,
            uscc=uscc,
            known_from=published,
        )

    rows = _versioned(
        [
            event(1, "A", "case_filed", d(2021, 1, 10), amount=1000.0),
            event(2, "A", "enforcement", d(2021, 3, 1), amount=900.0),
            event(3, "A", "dishonest_listed", d(2021, 5, 1), amount=900.0),
            event(4, "B", "case_filed", d(2019, 12, 1), cause="labour", amount=500.0),
            event(5, "B", "case_closed", d(2020, 6, 1), cause="labour"),
            event(6, "C", "case_filed", d(2021, 2, 1), role="plaintiff", cause="contract", amount=70.0),
            event(
                7, "D", "case_filed", d(2021, 6, 25), cause="contract", amount=5.0, publish_lag=7
            ),  # published after D
            event(8, "E", "case_filed", d(2021, 6, 1), amount=5.0, uscc=None),  # unmatched party
        ]
    )
    out = _one(court.transform(get("court_events").rows_to_df(spark, rows), as_of=D))
    _check(
        out,
        dict(
            court_defendant_cases_12m=1,
            court_defendant_cases_24m=2,
            court_loan_dispute_cases_12m=1,
            court_loan_dispute_cases_24m=1,
            court_labour_cases_12m=0,
            court_contract_cases_12m=0,
            court_defendant_amount_12m=1000.0,
            court_defendant_amount_24m=1500.0,
            court_plaintiff_cases_12m=1,
            court_active_enforcements=1,
            court_active_enforcement_amount=900.0,
            court_dishonest_listed=True,
            court_days_since_dishonest_listing=60,
            court_days_since_last_defendant_case=171,
        ),
    )


def test_court_case_closed_by_an_event_matched_elsewhere(spark):
    """A closing event whose party name resolved to a namesake, or to nobody, still closes the case."""
    namesake = "91141100MA0000002K"

    def event(i, case, etype, day, uscc=E, known_to=None):
        return dict(
            event_id=f"CE{i}",
            case_id=case,
            event_type=etype,
            event_date=day,
            published_date=day + dt.timedelta(days=3),
            role="defendant",
            cause="loan_dispute",
            amount=100.0,
            uscc=uscc,
            known_from=day + dt.timedelta(days=3),
            known_to=known_to,
        )

    rows = _versioned(
        [
            event(1, "A", "case_filed", d(2020, 9, 1)),
            event(2, "A", "enforcement", d(2020, 11, 1)),
            event(3, "A", "case_closed", d(2021, 3, 1), uscc=namesake),  # closed, typed as the namesake
            event(4, "B", "case_filed", d(2020, 9, 1)),
            event(5, "B", "enforcement", d(2020, 11, 1)),
            event(6, "B", "case_closed", d(2021, 4, 1), uscc=None),  # closed, party name unmatched
            event(7, "C", "case_filed", d(2020, 9, 1)),
            event(8, "C", "enforcement", d(2020, 11, 1)),
            event(9, "C", "case_closed", d(2021, 7, 20)),  # closed after D: still active
            event(10, "D", "case_filed", d(2020, 9, 1)),
            event(11, "D", "enforcement", d(2020, 11, 1)),
            event(12, "D", "case_closed", d(2021, 2, 1), known_to=d(2021, 2, 20)),  # withdrawn version
        ]
    )
    out = court.transform(get("court_events").rows_to_df(spark, rows), as_of=D).where(f"uscc = '{E}'")
    _check(_one(out), dict(court_active_enforcements=2, court_active_enforcement_amount=200.0))


def test_transactions_family(spark):
    def txn(i, day, amount, direction, cp=None, channel="transfer", balance=None, hour=12):
        return dict(
            txn_id=f"T{i}",
            account_id="A1",
            uscc=E,
            txn_ts=dt.datetime(day.year, day.month, day.day, hour),
            amount=amount,
            direction=direction,
            counterparty_account=cp,
            counterparty_name=cp,
            channel=channel,
            balance_after=balance,
            txn_date=day,
            txn_month=f"{day:%Y-%m}",
            known_from=day + dt.timedelta(days=1),
            is_current=True,
            _batch_id="b",
            _record_hash="h",
        )

    rows = [
        txn(1, d(2021, 6, 30), 1000.0, "C", "CP1", balance=1.0),  # on D: not available until D + 1
        txn(2, d(2021, 6, 29), 50.0, "D", balance=99_999.0, hour=9),
        txn(3, d(2021, 6, 29), 500.0, "C", "CP1", balance=10_000.0, hour=15),
        txn(4, d(2021, 5, 31), 300.0, "C", "CP2", balance=20_000.0),  # available 1 June: in the 1-month window
        txn(5, d(2021, 5, 30), 200.0, "D", channel="cash", balance=30_000.0),
        txn(6, d(2021, 3, 15), 100.0, "D", balance=5.0),  # available in March: 12 months only
        txn(7, d(2020, 7, 15), 400.0, "C", "CP1"),
        txn(8, d(2020, 6, 15), 999.0, "C", "CP1"),  # outside the 12-month window
    ]
    out = _one(transactions.transform(get("transactions").rows_to_df(spark, rows), as_of=D))
    _check(
        out,
        dict(
            txn_inflow_1m=800.0,
            txn_inflow_3m=800.0,
            txn_inflow_12m=1200.0,
            txn_outflow_1m=50.0,
            txn_outflow_3m=250.0,
            txn_outflow_12m=350.0,
            txn_inflow_trend_3m=800.0 / 300.0,
            txn_outflow_trend_3m=250.0 / 87.5,
            txn_net_flow_3m=550.0,
            txn_net_flow_ratio_12m=850.0 / 1550.0,
            txn_inflow_hhi_3m=0.53125,
            txn_cash_withdrawal_share_3m=0.8,
            txn_balance_cv_3m=0.5,
            txn_inactive_days_3m=88,
            txn_days_since_last=1,
            txn_count_3m=4,
        ),
    )


def test_loans_family(spark):
    def bal(loan, day, dpd=0, outstanding=0.0, status="active", undrawn=0.0):
        return dict(
            loan_id=loan,
            uscc=E,
            as_of_date=day,
            outstanding_principal=outstanding,
            undrawn_amount=undrawn,
            overdue_principal=0.0,
            days_past_due=dpd,
            status=status,
            as_of_month=f"{day:%Y-%m}",
            known_from=day + dt.timedelta(days=1),
            is_current=True,
            _batch_id="b",
            _record_hash="h",
        )

    balances = [
        bal("L1", d(2021, 6, 30), dpd=5, outstanding=800.0, undrawn=200.0),  # available only after D
        bal("L1", d(2021, 6, 29), outstanding=800.0, undrawn=200.0),
        bal("L1", d(2021, 4, 10), dpd=20, outstanding=900.0),
        bal("L1", d(2020, 9, 10), dpd=40, outstanding=1000.0),
        bal("L2", d(2021, 2, 1), status="closed"),
        bal("L2", d(2020, 8, 1), dpd=95, outstanding=300.0),
    ]
    contract = dict(uscc=E, principal=1000.0, fund_coverage_share=0.6, gov_recommended=True)
    versions = [
        dict(
            loan_id="L1",
            product="P1",
            start_date=d(2020, 1, 1),
            maturity_date=d(2022, 1, 1),
            status="active",
            known_from=d(2020, 1, 2),
            known_to=None,
            **contract,
        ),
        dict(
            loan_id="L2",
            product="P2",
            start_date=d(2019, 3, 1),
            maturity_date=d(2021, 3, 1),
            status="active",
            known_from=d(2019, 3, 2),
            known_to=d(2021, 2, 2),
            **contract,
        ),
        dict(
            loan_id="L2",
            product="P2",
            start_date=d(2019, 3, 1),
            maturity_date=d(2021, 3, 1),
            status="closed",
            known_from=d(2021, 2, 2),
            known_to=None,
            **contract,
        ),
        dict(
            loan_id="L3",
            product="P3",
            start_date=d(2021, 6, 30),
            maturity_date=d(2022, 6, 30),
            status="active",
            known_from=d(2021, 7, 1),
            known_to=None,
            **contract,
        ),
    ]
    out = _one(
        loans.transform(
            get("loan_balances").rows_to_df(spark, balances),
            loans=get("loans").rows_to_df(spark, _versioned(versions)),
            as_of=D,
        )
    )
    _check(
        out,
        dict(
            loan_exposure=800.0,
            loan_overdue_principal=0.0,
            loan_utilisation=0.8,
            loan_max_dpd_3m=20,
            loan_max_dpd_12m=95,
            loan_n_active=1,
            loan_n_loans=2,
            loan_n_products=1,
            loan_months_on_book=27,
            loan_gov_recommended=True,
            loan_fund_coverage_share=0.6,
            loan_restructured=False,
            loan_days_to_maturity=185,
        ),
    )
