"""The early-warning backtest on inline frames: catch rate, lead time and false alarms by severity, lift."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.features.pit import month_end, snapshot_month
from jobs.warning_evaluation import backtest
from schemas.registry import get
from tests.jobs.features.synthetic import uscc

MONTHS = [month_end(dt.date(2021, m, 1)) for m in range(1, 7)]
FIRST, LAST = MONTHS[0], MONTHS[-1]


def _scores(spark, borrowers):
    return get("risk_scores").rows_to_df(spark, [
        {"uscc": uscc(b), "snapshot_date": d, "snapshot_month": snapshot_month(d), "pd": 0.01, "score": 600.0,
         "grade": "G3", "grade_num": 3, "model_name": "m", "model_version": "1", "features_version": 0}
        for b in borrowers for d in MONTHS])


def _warnings(spark, fired):
    return get("early_warnings").rows_to_df(spark, [
        {"uscc": uscc(b), "loan_id": f"L{b}", "snapshot_date": MONTHS[i], "snapshot_month": snapshot_month(MONTHS[i]),
         "signal_id": signal, "severity": severity, "description": signal, "evidence": "{}",
         "catalogue_version": "v"} for b, i, signal, severity in fired])


def _labels(spark, defaults):
    return get("default_labels").rows_to_df(spark, [
        {"uscc": uscc(b), "snapshot_date": FIRST, "snapshot_month": snapshot_month(FIRST), "default_12m": True,
         "default_date": day, "in_default_at_snapshot": False, "observed_months": 12, "censored": False,
         "_built_from": "test"} for b, day in defaults.items()])


@pytest.fixture(scope="module")
def result(spark):
    # 1 and 2 default in the window, 9 defaulted before it (neither group), 3..8 never default
    defaults = {1: dt.date(2021, 5, 20), 2: dt.date(2021, 6, 10), 9: dt.date(2020, 6, 1)}
    fired = [(1, 0, "ELEC_ZERO", "high"), (1, 2, "TAX_SALES_DROP", "medium"),  # 1: warned 3.6 months ahead
             (1, 5, "DPD_90_PLUS", "critical"),                                 # the default itself: ignored
             (2, 5, "TAX_SALES_DROP", "medium"),                                # 2: warned only after default
             (3, 1, "TAX_SALES_DROP", "medium"), (4, 3, "UTILITY_NEW_ARREARS", "low"), (9, 0, "ELEC_ZERO", "high")]
    return backtest(_warnings(spark, fired), _labels(spark, defaults), _scores(spark, range(1, 10)),
                    first=FIRST, last=LAST)


def test_catch_rate_lead_time_and_false_alarms_by_minimum_severity(result):
    by = {r["min_severity"]: r for r in result["by_severity"]}
    assert [r["min_severity"] for r in result["by_severity"]] == ["low", "medium", "high", "critical"]
    assert by["low"]["defaulters"] == 2 and by["low"]["non_defaulters"] == 6
    assert (by["low"]["caught"], by["low"]["false_alarms"]) == (1, 2)
    assert by["low"]["median_lead_months"] == pytest.approx(3.6, abs=0.06)
    assert (by["medium"]["caught"], by["medium"]["false_alarms"]) == (1, 1)
    assert (by["high"]["caught"], by["high"]["false_alarms"], by["high"]["catch_rate"]) == (1, 0, 0.5)
    assert by["critical"]["caught"] == 0 and by["critical"]["median_lead_months"] is None


def test_lift_ranks_the_signals_that_warn_defaulters_rather_than_others(result):
    by = {r["signal_id"]: r for r in result["by_signal"]}
    assert "DPD_90_PLUS" not in by
    assert (by["ELEC_ZERO"]["defaulters_warned"], by["ELEC_ZERO"]["non_defaulters_warned"]) == (1, 0)
    assert by["ELEC_ZERO"]["lift"] is None            # never fired on a non-defaulter
    assert by["TAX_SALES_DROP"]["lift"] == pytest.approx((1 / 2) / (1 / 6), abs=0.01)
    assert by["UTILITY_NEW_ARREARS"]["defaulter_rate"] == 0.0
    assert result["by_signal"][0]["signal_id"] == "ELEC_ZERO"
