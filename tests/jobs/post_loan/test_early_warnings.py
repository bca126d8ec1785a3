"""Early-warning engine: catalogue validation, signals on inline frames, and point-in-time firing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from jobs.features.build import features_frame
from jobs.post_loan.early_warnings import (
    catalogue_version,
    evaluate,
    load_catalogue,
    parse_catalogue,
    warning_inputs,
)
from jobs.post_loan.loan_state import loan_state
from riskpipe.core.config import resolve_path
from schemas.registry import get
from tests.jobs.features import synthetic
from tests.jobs.features.conftest import frames


@pytest.fixture(scope="module")
def silver_rows() -> dict:
    return synthetic.make()


CATALOGUE = resolve_path("conf/early_warnings.yaml")
REQUIRED_SIGNALS = {
    "ELEC_YOY_DROP_2M",
    "ELEC_ZERO",
    "TAX_SALES_DROP",
    "TAX_MISSED_FILING",
    "TAX_NEW_ARREARS",
    "COURT_NEW_DEFENDANT_CASE",
    "COURT_ENFORCEMENT",
    "COURT_DISHONEST_DEBTOR",
    "DPD_1_30",
    "DPD_31_90",
    "DPD_90_PLUS",
    "INFLOW_DROP",
    "PD_UP_2_GRADES",
}


def test_catalogue_has_every_required_signal_with_a_valid_severity():
    signals = load_catalogue(CATALOGUE)
    assert REQUIRED_SIGNALS <= {s.id for s in signals}
    assert len(catalogue_version(signals)) == 12


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": "X", "description": "d", "severity": "severe", "condition": "true"}, "severity"),
        ({"id": "X", "description": "d", "severity": "low"}, "needs"),
    ],
)
def test_bad_catalogue_entries_are_rejected_naming_the_signal(entry, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_catalogue({"signals": [entry]}, source="cat.yaml")
    assert "cat.yaml" in str(error.value) and "X" in str(error.value)


def test_days_past_due_signals_are_flagged_as_the_default_process():
    signals = {s.id: s for s in load_catalogue(CATALOGUE)}
    assert {i for i, s in signals.items() if s.past_due} == {"DPD_1_30", "DPD_31_90", "DPD_90_PLUS"}
    assert all("days_past_due" not in s.condition for s in signals.values() if not s.past_due)
    with pytest.raises(ValueError, match="past_due"):
        parse_catalogue(
            {"signals": [{"id": "X", "description": "d", "severity": "low", "condition": "true", "past_due": "yes"}]}
        )


def test_duplicate_ids_are_rejected():
    entry = {"id": "X", "description": "d", "severity": "low", "condition": "true"}
    with pytest.raises(ValueError, match="duplicate"):
        parse_catalogue({"signals": [entry, entry]})


def _inputs(spark, features_rows, loan_rows, score_rows, *, as_of, previous_rows=()):
    features = get("enterprise_features").rows_to_df(spark, list(features_rows) + list(previous_rows))
    scores = get("risk_scores").rows_to_df(spark, score_rows)
    loans = spark.createDataFrame(
        [(code, as_of, *rest) for code, *rest in loan_rows],
        "uscc string, snapshot_date date, loan_id string, days_past_due int, "
        "outstanding_principal double, loan_status string, product string, "
        "is_active boolean",
    )
    return warning_inputs(features, scores=scores, loans=loans)


def _feature_row(code, day, **values):
    return {
        "uscc": code,
        "snapshot_date": day,
        "snapshot_month": f"{day:%Y-%m}",
        "is_active_borrower": True,
        "_features_version": "t",
        "_built_from": "{}",
        **values,
    }


def _score(code, day, pd_, grade):
    return {
        "uscc": code,
        "snapshot_date": day,
        "snapshot_month": f"{day:%Y-%m}",
        "pd": pd_,
        "score": 500.0,
        "grade": str(grade),
        "grade_num": grade,
        "model_name": "m",
        "model_version": "1",
        "features_version": 0,
    }


def test_signals_fire_on_their_conditions_with_evidence(spark):
    day, before = dt.date(2021, 6, 30), dt.date(2021, 5, 31)
    a, b = synthetic.uscc(1), synthetic.uscc(2)
    features = [
        _feature_row(a, day, court_dishonest_listed=True, util_elec_kwh_1m=0.0, tax_arrears_latest=500.0),
        _feature_row(b, day, court_dishonest_listed=False, util_elec_kwh_1m=100.0, tax_arrears_latest=0.0),
    ]
    previous = [_feature_row(a, before, tax_arrears_latest=0.0)]
    loans = [
        (a, "L1", 45, 1e5, "active", "p", True),
        (a, "L2", 0, 1e5, "active", "p", True),
        (b, "L3", 0, 1e5, "active", "p", True),
        (b, "L4", 200, 1e5, "closed", "p", False),
    ]
    scores = [
        _score(a, day, 0.2, 8),
        _score(a, dt.date(2021, 4, 30), 0.02, 4),
        _score(a, dt.date(2020, 12, 31), 0.001, 1),
    ]  # outside the three-month history: ignored
    inputs = _inputs(spark, features, loans, scores, as_of=day, previous_rows=previous)
    fired = evaluate(inputs, load_catalogue(CATALOGUE), version="v").collect()
    by_loan = {}
    for row in fired:
        by_loan.setdefault(row["loan_id"], set()).add(row["signal_id"])
    assert by_loan["L1"] == {
        "COURT_DISHONEST_DEBTOR",
        "ELEC_ZERO",
        "TAX_NEW_ARREARS",
        "DPD_31_90",
        "PD_UP_2_GRADES",
        "PD_GRADE_8",
    }
    assert by_loan["L2"] == by_loan["L1"] - {"DPD_31_90"}
    assert "L3" not in by_loan and "L4" not in by_loan  # inactive loans are not monitored
    dishonest = next(r for r in fired if r["loan_id"] == "L1" and r["signal_id"] == "COURT_DISHONEST_DEBTOR")
    assert dishonest["severity"] == "medium" and dishonest["catalogue_version"] == "v"
    grade = next(r for r in fired if r["loan_id"] == "L1" and r["signal_id"] == "PD_UP_2_GRADES")
    assert json.loads(grade["evidence"]) == {"grade_num": 8, "grade_jump_3m": 4, "pd": 0.2}


def test_a_condition_that_does_not_resolve_names_the_signal(spark):
    day = dt.date(2021, 6, 30)
    inputs = _inputs(spark, [_feature_row(synthetic.uscc(1), day)], [], [], as_of=day)
    bad = parse_catalogue(
        {"signals": [{"id": "TYPO", "description": "d", "severity": "low", "condition": "util_elec_yoy_9m < 0.5"}]}
    )
    with pytest.raises(ValueError, match="TYPO"):
        evaluate(inputs, bad, version="v")


def _collapse(data: dict, code: str, first_period: dt.date, late: dict | None = None) -> dict:
    """Enterprise ``code`` uses a steady 30,000 kWh a month until ``first_period``, then 3,000."""
    reads = [r for r in data["utility_reads"] if not (r["uscc"] == code and r["utility_type"] == "electricity")]
    for period in synthetic._periods():
        known = (late or {}).get(period, synthetic._month(period, 1).replace(day=11))
        reads.append(
            dict(
                meter_id=f"E-{code}",
                uscc=code,
                utility_type="electricity",
                period=period,
                read_date=known,
                consumption=3000.0 if period >= first_period else 30000.0,
                unit="kWh",
                bill_amount=1.0,
                paid_flag=True,
                arrears_amount=0.0,
                known_from=known,
                known_to=None,
                is_current=True,
                _batch_id="b",
                _record_hash=f"e{code}{period}",
            )
        )
    return {**data, "utility_reads": reads}


def test_electricity_collapse_warns_in_the_month_the_second_read_becomes_available(spark, silver_rows):
    on_time, late = synthetic.uscc(1), synthetic.uscc(3)  # enterprises 0 and 2: loans active through 2021
    collapse = dt.date(2021, 3, 1)
    data = _collapse(silver_rows, on_time, collapse)
    # for the second enterprise the April read is delivered late, on 20 June
    data = _collapse(data, late, collapse, {dt.date(2021, 4, 1): dt.date(2021, 6, 20)})
    snapshots = [dt.date(2021, 3, 31), dt.date(2021, 4, 30), dt.date(2021, 5, 31), dt.date(2021, 6, 30)]
    silver = frames(spark, data)
    features = features_frame(silver, as_of=snapshots, built_from="{}")
    loans = loan_state(silver["loans"], silver["loan_balances"], as_of=snapshots)
    signals = [s for s in load_catalogue(CATALOGUE) if s.id == "ELEC_YOY_DROP_2M"]
    inputs = warning_inputs(features, scores=get("risk_scores").rows_to_df(spark, []), loans=loans)
    fired = evaluate(inputs, signals, version="v").groupBy("uscc").agg(F.min("snapshot_date").alias("first"))
    first = {r["uscc"]: r["first"] for r in fired.collect()}
    # reads of March and April 2021 are known from 11 April and 11 May: two months down by the end of May
    assert first.get(on_time) == dt.date(2021, 5, 31)
    # the late April read: the warning waits for it, and fires in the month it arrives
    assert first.get(late) == dt.date(2021, 6, 30)
