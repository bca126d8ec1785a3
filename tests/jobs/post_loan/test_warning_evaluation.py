"""Early warnings judged like a classifier, on inline frames: who is a defaulter or a performing borrower,
leads measured from warnings before the window, past-due signals apart, rates, lift and targets."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row

from jobs.post_loan.early_warnings import Signal
from jobs.post_loan.warning_evaluation import (
    ANY_PAST_DUE,
    backtest,
    check_targets,
    lead_history,
    outcomes,
    severity_row,
    window_ending,
)
from riskpipe.core.calendar import add_months, month_end, month_ends, snapshot_month
from schemas.registry import get
from tests.jobs.features.synthetic import uscc

FIRST, LAST = dt.date(2021, 1, 31), dt.date(2021, 6, 30)
WINDOW = month_ends(FIRST, LAST)
SIGNALS = (
    Signal("ELEC_ZERO", "zero electricity", "high", "true"),
    Signal("TAX_DROP", "sales down", "medium", "true"),
    Signal("UTIL_ARREARS", "utility arrears", "low", "true"),
    Signal("COURT_LISTED", "dishonest debtor", "critical", "true"),
    Signal("DPD_1_30", "1-30 days past due", "high", "true", past_due=True),
    Signal("DPD_90_PLUS", "90+ days past due", "critical", "true", past_due=True),
)

# borrower: (first default date or None, labels censored in the window, a loan active in the window)
BORROWERS = {
    1: (dt.date(2021, 3, 15), False, True),  # defaulter, warned high 8.5 months before (before the window)
    2: (dt.date(2021, 5, 10), False, True),  # defaulter warned only by days past due (and 17 months before)
    3: (None, False, True),  # performing, a medium false alarm in the window, a high one before
    4: (None, False, True),  # performing, never warned
    5: (dt.date(2021, 9, 30), False, True),  # defaults in the horizon after the window: neither group
    6: (None, True, True),  # no default seen yet, not observed 12 months: neither group
    7: (dt.date(2020, 11, 20), False, True),  # in default before the window: not monitored
    8: (None, False, True),  # performing, a cured arrears (1-30 days past due) in the window
    9: (None, False, False),  # its only loan is not active: not monitored
    10: (None, False, True),  # performing, its loan renewed in 2021-04: one borrower, warned twice
}
RENEWED = {"L10a": WINDOW[:3], "L10b": WINDOW[3:]}
WARNINGS = [  # borrower, month-end, signal
    (1, dt.date(2020, 6, 30), "ELEC_ZERO"),
    (1, dt.date(2021, 1, 31), "DPD_1_30"),
    (1, dt.date(2021, 3, 31), "DPD_90_PLUS"),  # after the default: never counts
    (2, dt.date(2019, 12, 31), "TAX_DROP"),  # 16+ months before: outside the horizon
    (2, dt.date(2021, 2, 28), "DPD_1_30"),
    (2, dt.date(2021, 3, 31), "DPD_1_30"),
    (3, dt.date(2020, 10, 31), "ELEC_ZERO"),  # before the window: not a false alarm
    (3, dt.date(2021, 4, 30), "TAX_DROP"),
    (5, dt.date(2021, 2, 28), "COURT_LISTED"),
    (6, dt.date(2021, 2, 28), "COURT_LISTED"),
    (7, dt.date(2021, 2, 28), "COURT_LISTED"),
    (9, dt.date(2021, 2, 28), "COURT_LISTED"),
    (8, dt.date(2021, 5, 31), "DPD_1_30"),
    (4, dt.date(2021, 2, 28), "UNKNOWN_SIGNAL"),  # not in the catalogue judged: ignored
    (10, dt.date(2021, 2, 28), "TAX_DROP"),
    (10, dt.date(2021, 5, 31), "TAX_DROP"),
]


def _loan_of(borrower: int, day: dt.date) -> str:
    return next((loan for loan, days in RENEWED.items() if day in days), None) if borrower == 10 else f"L{borrower}"


def _label(borrower: int, day: dt.date) -> dict:
    default, censored, _ = BORROWERS[borrower]
    in_horizon = default is not None and day < default <= month_end(add_months(day, 12))
    return {
        "uscc": uscc(borrower),
        "snapshot_date": day,
        "snapshot_month": snapshot_month(day),
        "default_12m": in_horizon,
        "default_date": default if in_horizon else None,
        "in_default_at_snapshot": default is not None and default <= day,
        "observed_months": 6 if censored else 12,
        "censored": censored,
        "_built_from": "test",
    }


@pytest.fixture(scope="module")
def frames(spark):
    loans = spark.createDataFrame(
        [
            Row(uscc=uscc(b), loan_id=_loan_of(b, d), snapshot_date=d, is_active=active)
            for b, (_, _, active) in BORROWERS.items()
            for d in WINDOW
        ]
    )
    labels = get("default_labels").rows_to_df(spark, [_label(b, d) for b in BORROWERS for d in WINDOW])
    warnings = get("early_warnings").rows_to_df(
        spark,
        [
            {
                "uscc": uscc(b),
                "loan_id": _loan_of(b, d),
                "snapshot_date": d,
                "snapshot_month": snapshot_month(d),
                "signal_id": s,
                "severity": "low",
                "description": s,
                "evidence": "{}",
                "catalogue_version": "v",
            }
            for b, d, s in WARNINGS
        ],
    )
    return loans, labels, warnings


@pytest.fixture(scope="module")
def result(frames):
    loans, labels, warnings = frames
    return backtest(warnings, loans, labels, signals=SIGNALS, first=FIRST, last=LAST)


def _row(result, block, signal):
    return next(r for r in result["rows"] if r["block"] == block and r["signal"] == signal)


def test_outcomes_split_monitored_borrowers_into_defaulters_performing_and_the_excluded(frames):
    loans, labels, _ = frames
    out = {r["uscc"]: r for r in outcomes(loans, labels, first=FIRST, last=LAST).collect()}
    assert {code: row["outcome"] for code, row in out.items()} == {
        uscc(1): "defaulter",
        uscc(2): "defaulter",
        uscc(3): "performing",
        uscc(4): "performing",
        uscc(5): "later_default",
        uscc(6): "censored",
        uscc(8): "performing",
        uscc(10): "performing",
    }
    # a defaulter is monitored until its default (months in default are not); a renewal is one borrower
    assert out[uscc(1)]["months_monitored"] == 2 and out[uscc(10)]["months_monitored"] == 6
    assert out[uscc(1)]["default_date"] == dt.date(2021, 3, 15)


def test_population_counts(result):
    assert result["borrowers"] == {"defaulter": 2, "performing": 4, "later_default": 1, "censored": 1}
    assert all(r["defaulters"] == 2 and r["performing"] == 4 for r in result["rows"])


def test_lead_is_measured_from_a_warning_before_the_window(result):
    high = severity_row(result, "high")
    assert (high["warned_defaulters"], high["hit_rate"]) == (1, 0.5)
    # ELEC_ZERO on 2020-06-30, default on 2021-03-15: 8.5 months, though the window opens in 2021-01
    assert high["median_lead_months"] == pytest.approx(8.5, abs=0.05)
    # the high warning of performing borrower 3 came before the window: not a false alarm
    assert (high["warned_performing"], high["false_alarm_rate"], high["lift"]) == (0, 0.0, None)


def test_past_due_signals_never_count_as_early_warnings(result):
    # borrower 2 was warned only by DPD_1_30 (high) and by a medium signal more than 12 months before default
    low = severity_row(result, "low")
    assert low["warned_defaulters"] == 1 and low["median_lead_months"] == pytest.approx(8.5, abs=0.05)
    assert not any(r["block"] == "signal" and r["signal"].startswith("DPD") for r in result["rows"])
    dpd = _row(result, "past_due", "DPD_1_30")
    assert (dpd["warned_defaulters"], dpd["warned_performing"], dpd["false_alarm_rate"]) == (2, 1, 0.25)
    # reported apart: 1.5 (borrower 1) and 2.4 (borrower 2) months, the default process itself
    assert dpd["median_lead_months"] == pytest.approx(1.95, abs=0.06)
    assert _row(result, "past_due", "DPD_90_PLUS")["warned_defaulters"] == 0  # fired after the default
    assert _row(result, "past_due", ANY_PAST_DUE)["warned_defaulters"] == 2


def test_false_alarms_are_performing_borrowers_warned_in_the_window(result):
    medium = severity_row(result, "medium")
    # borrowers 3 and 10 (warned on both its loans: once)
    assert (medium["warned_performing"], medium["false_alarm_rate"]) == (2, 0.5)
    assert medium["lift"] == pytest.approx(1.0)
    # a later defaulter, a censored borrower, one in default and one without an active loan raise none
    critical = severity_row(result, "critical")
    assert (critical["warned_defaulters"], critical["warned_performing"]) == (0, 0)
    assert critical["median_lead_months"] is None


def test_every_signal_and_severity_has_a_row_in_order(result):
    assert [r["signal"] for r in result["rows"] if r["block"] == "severity"] == [
        "low+",
        "medium+",
        "high+",
        "critical+",
    ]
    signals = [r["signal"] for r in result["rows"] if r["block"] == "signal"]
    assert set(signals) == {"ELEC_ZERO", "TAX_DROP", "UTIL_ARREARS", "COURT_LISTED"}
    assert signals[0] == "ELEC_ZERO"  # hits without false alarms first
    assert _row(result, "signal", "UTIL_ARREARS")["warned_defaulters"] == 0
    assert [r["block"] for r in result["rows"]][-7:] == ["past_due"] * 3 + ["with_past_due"] * 4


def test_the_watch_list_load_counts_days_past_due_too(result):
    early, carried = severity_row(result, "high"), _row(result, "with_past_due", "high+ with past due")
    # DPD_1_30 (high) adds defaulter 2 and performing borrower 8 (a cured arrears)
    assert (early["warned_defaulters"], early["warned_performing"]) == (1, 0)
    assert (carried["warned_defaulters"], carried["warned_performing"], carried["false_alarm_rate"]) == (2, 1, 0.25)
    assert _row(result, "with_past_due", "critical+ with past due")["warned_defaulters"] == 0


def test_targets_are_checked_on_the_configured_severity(result):
    targets = {"min_severity": "medium", "max_false_alarm_rate": 0.2, "min_hit_rate": 0.5, "min_median_lead_months": 6}
    checks = {c["metric"]: c for c in check_targets(result, targets)}
    assert not checks["false_alarm_rate"]["met"] and checks["hit_rate"]["met"] and checks["median_lead_months"]["met"]
    assert checks["false_alarm_rate"]["value"] == 0.5
    checks = {c["metric"]: c for c in check_targets(result, {**targets, "min_severity": "critical"})}
    assert not checks["median_lead_months"]["met"] and checks["median_lead_months"]["value"] is None


def test_the_window_ends_a_horizon_before_the_data():
    assert window_ending(dt.date(2021, 12, 31)) == (dt.date(2020, 1, 31), dt.date(2020, 12, 31))
    assert window_ending(dt.date(2021, 6, 30), months=6) == (dt.date(2020, 1, 31), dt.date(2020, 6, 30))


def test_a_lead_is_capped_when_scores_start_after_the_horizon_before_the_window(spark):
    first = dt.date(2020, 1, 31)

    def days(*dates):
        return spark.createDataFrame([(d,) for d in dates], "snapshot_date date")

    features = days(dt.date(2018, 12, 31), dt.date(2019, 1, 31), dt.date(2020, 1, 31))
    scored_late = lead_history(features, days(dt.date(2020, 1, 31), dt.date(2020, 2, 29)), first=first)
    assert scored_late == {
        "needed_from": "2019-01-31",
        "features_from": "2019-01-31",
        "scores_from": "2020-01-31",
        "lead_censored": True,
    }
    scored = lead_history(features, days(dt.date(2018, 12, 31), dt.date(2019, 1, 31)), first=first)
    assert scored["scores_from"] == "2019-01-31" and not scored["lead_censored"]
    unscored = lead_history(features, days(), first=first)
    assert unscored["scores_from"] is None and unscored["lead_censored"]
