"""Loan classification and the watch list on inline frames: floors, raises, IFRS 9 stages, status changes."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.features.default_definition import DefaultDefinition
from jobs.post_loan.loan_classification import ClassificationConfig, classify
from jobs.post_loan.watch_list import watch_list
from riskpipe.core.config import load_settings
from schemas.gold_scores import FIVE_CATEGORIES
from schemas.registry import get
from tests.jobs.features.synthetic import uscc

DAY = dt.date(2021, 6, 30)
CODE = uscc(1)
# days past due -> the lowest class the 2023 rules allow
DPD_BUCKETS = {
    0: "normal",
    1: "special_mention",
    30: "special_mention",
    31: "special_mention",
    90: "special_mention",
    91: "substandard",
    270: "substandard",
    271: "doubtful",
    360: "doubtful",
    361: "loss",
    2000: "loss",
}


@pytest.fixture(scope="module")
def config() -> ClassificationConfig:
    return ClassificationConfig.from_settings(load_settings().sections("classification", "default_definition"))


def _loans(spark, rows):
    schema = (
        "uscc string, loan_id string, snapshot_date date, snapshot_month string, start_date date, "
        "days_past_due int, outstanding_principal double, loan_status string, is_active boolean"
    )
    return spark.createDataFrame(
        [
            (CODE, loan, DAY, "2021-06", dt.date(2020, 1, 15), dpd, 1e5, status, active)
            for loan, dpd, status, active in rows
        ],
        schema,
    )


def _warnings(spark, rows):
    return get("early_warnings").rows_to_df(
        spark,
        [
            dict(
                uscc=CODE,
                loan_id=loan,
                snapshot_date=day,
                snapshot_month=f"{day:%Y-%m}",
                signal_id=signal,
                severity=severity,
                description="d",
                evidence="{}",
                catalogue_version="v",
            )
            for loan, day, signal, severity in rows
        ],
    )


def _scores(spark, rows):
    return get("risk_scores").rows_to_df(
        spark,
        [
            dict(
                uscc=CODE,
                snapshot_date=day,
                snapshot_month=f"{day:%Y-%m}",
                pd=pd_,
                score=500.0,
                grade=str(g),
                grade_num=g,
                model_name="m",
                model_version="1",
                features_version=0,
            )
            for day, pd_, g in rows
        ],
    )


def test_five_category_floors_hold_in_every_days_past_due_bucket(spark, config):
    loans = _loans(spark, [(f"L{dpd}", dpd, "active", True) for dpd in DPD_BUCKETS])
    out = classify(loans, warnings=_warnings(spark, []), scores=_scores(spark, []), config=config).collect()
    assert {r["days_past_due"]: r["dpd_floor_class"] for r in out} == DPD_BUCKETS
    for row in out:
        assert row["suggested_class"] == DPD_BUCKETS[row["days_past_due"]]
        assert row["is_default"] == (row["days_past_due"] > 90)
        assert row["ifrs9_stage"] == (3 if row["days_past_due"] > 90 else 2 if row["days_past_due"] > 0 else 1)


def test_warnings_and_restructuring_raise_the_class_but_never_lower_the_floor(spark, config):
    loans = _loans(
        spark,
        [
            ("CRIT", 0, "active", True),
            ("HIGH", 0, "active", True),
            ("LOW", 0, "active", True),
            ("RESTR", 0, "restructured", True),
            ("LOSS", 400, "active", True),
            ("CLOSED", 0, "closed", False),
        ],
    )
    warnings = _warnings(
        spark,
        [
            ("CRIT", DAY, "COURT_DISHONEST_DEBTOR", "critical"),
            ("HIGH", DAY, "ELEC_YOY_DROP_2M", "high"),
            ("LOW", DAY, "UTILITY_NEW_ARREARS", "low"),
            ("LOSS", DAY, "ELEC_ZERO", "high"),
        ],
    )
    out = {
        r["loan_id"]: r for r in classify(loans, warnings=warnings, scores=_scores(spark, []), config=config).collect()
    }
    assert set(out) == {"CRIT", "HIGH", "LOW", "RESTR", "LOSS"}  # inactive loans are not classified
    # a critical warning raises to special mention only: substandard would be a default the labels and
    # the portfolio cannot see (an officer's manual override may still judge the loan substandard)
    assert out["CRIT"]["suggested_class"] == "special_mention" and out["CRIT"]["ifrs9_stage"] == 2
    assert not out["CRIT"]["is_default"]
    assert out["CRIT"]["class_reasons"] == ["warnings: COURT_DISHONEST_DEBTOR"]
    assert out["HIGH"]["suggested_class"] == "special_mention" and out["HIGH"]["ifrs9_stage"] == 2
    assert out["LOW"]["suggested_class"] == "normal" and out["LOW"]["ifrs9_stage"] == 1
    assert out["RESTR"]["suggested_class"] == "substandard" and out["RESTR"]["is_default"]
    assert out["RESTR"]["ifrs9_stage"] == 3 and out["RESTR"]["stage_reason"] == "credit-impaired: restructured"
    assert out["LOSS"]["suggested_class"] == "loss"
    for row in out.values():
        assert FIVE_CATEGORIES.index(row["suggested_class"]) >= FIVE_CATEGORIES.index(row["dpd_floor_class"])


def test_default_stage_3_and_substandard_follow_the_default_definition(spark, config):
    raw = load_settings().sections("classification", "default_definition")
    raw["default_definition"] = {"dpd_over": 60, "statuses": ["restructured"]}
    raw["classification"]["dpd_floors"] = [
        {"dpd": 0, "class": "special_mention"},
        {"dpd": 60, "class": "substandard"},
        {"dpd": 360, "class": "loss"},
    ]
    other = ClassificationConfig.from_settings(raw)
    assert other.default_definition == DefaultDefinition(dpd_over=60, statuses=("restructured",))
    loans = _loans(
        spark,
        [
            ("D60", 60, "active", True),
            ("D61", 61, "active", True),
            ("R", 0, "restructured", True),
            ("NULL", 0, None, True),
        ],
    )
    out = {
        r["loan_id"]: r
        for r in classify(loans, warnings=_warnings(spark, []), scores=_scores(spark, []), config=other).collect()
    }
    got = {k: (r["is_default"], r["ifrs9_stage"], r["suggested_class"]) for k, r in out.items()}
    assert got == {
        "D60": (False, 2, "special_mention"),
        "D61": (True, 3, "substandard"),
        "R": (True, 3, "substandard"),
        "NULL": (False, 1, "normal"),
    }
    assert out["D61"]["stage_reason"] == "credit-impaired: 61 days past due"


def _raw(**changes):
    """The default profile with ``classification`` / ``default_definition`` keys replaced."""
    raw = load_settings().sections("classification", "default_definition")
    for path, value in changes.items():
        section, key = path.split("__")
        raw[section][key] = value
    return raw


@pytest.mark.parametrize(
    "changes, message",
    [
        # the substandard floor must be the definition's threshold
        (
            {
                "classification__dpd_floors": [
                    {"dpd": 0, "class": "special_mention"},
                    {"dpd": 60, "class": "substandard"},
                ]
            },
            r"dpd_floors: the substandard floor is at more than 60 days past due, "
            r"but default_definition.dpd_over is 90",
        ),
        (
            {"classification__dpd_floors": [{"dpd": 0, "class": "special_mention"}, {"dpd": 120, "class": "doubtful"}]},
            r"dpd_floors: .* more than 120 days",
        ),
        ({"classification__dpd_floors": [{"dpd": 0, "class": "special_mention"}]}, r"dpd_floors: .* at no floor"),
        ({"default_definition__dpd_over": 30}, r"default_definition.dpd_over is 30"),
        # no warning may make a loan substandard: labels and the portfolio cannot see warnings
        (
            {"classification__severity_floors": {"critical": "substandard"}},
            r"severity_floors: .*critical.*cannot see warnings.*manual override",
        ),
        ({"classification__severity_floors": {"high": "doubtful"}}, r"severity_floors: .*high"),
        # restructuring reaches substandard exactly when restructured is a default status
        ({"classification__restructured_floor": "special_mention"}, r"restructured_floor: .* substandard or worse"),
        ({"default_definition__statuses": ["written_off"]}, r"restructured_floor: .* below substandard"),
        ({"classification__ifrs9": {"stage2_dpd": 30, "stage3_dpd": 90}}, r"stage3_dpd: stage 3 is a loan in default"),
    ],
)
def test_configuration_that_would_break_the_one_default_definition_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        ClassificationConfig.from_settings(_raw(**changes))


def test_the_default_profile_raises_critical_warnings_to_special_mention_only(config):
    assert config.severity_floors == {"high": "special_mention", "critical": "special_mention"}
    assert config.default_definition == DefaultDefinition.from_settings(load_settings().sections("default_definition"))


def test_a_sharp_pd_increase_since_origination_is_stage_2(spark, config):
    loans = _loans(spark, [("L1", 0, "active", True)])
    scores = _scores(
        spark,
        [
            (dt.date(2019, 12, 31), 0.001, 1),  # before the loan started: not origination
            (dt.date(2020, 1, 31), 0.02, 4),
            (DAY, 0.08, 7),
        ],
    )
    (row,) = classify(loans, warnings=_warnings(spark, []), scores=scores, config=config).collect()
    assert row["pd_at_origination"] == pytest.approx(0.02)
    assert row["suggested_class"] == "normal" and row["ifrs9_stage"] == 2 and row["stage_reason"].startswith("SICR")


def test_watch_list_marks_new_ongoing_and_cleared_loans(spark):
    before = dt.date(2021, 5, 31)
    now = _warnings(
        spark,
        [("A", DAY, "ELEC_ZERO", "high"), ("A", DAY, "DPD_1_30", "medium"), ("B", DAY, "TAX_SALES_DROP", "medium")],
    )
    prev = _warnings(spark, [("A", before, "ELEC_ZERO", "high"), ("C", before, "COURT_ENFORCEMENT", "high")])
    out = watch_list(now.unionByName(prev), as_of=DAY)
    expected = get("watch_list").rows_to_df(
        spark,
        [
            dict(
                uscc=CODE,
                loan_id="A",
                snapshot_date=DAY,
                snapshot_month="2021-06",
                status="ongoing",
                max_severity="high",
                signals=["DPD_1_30", "ELEC_ZERO"],
                new_signals=["DPD_1_30"],
                n_signals=2,
            ),
            dict(
                uscc=CODE,
                loan_id="B",
                snapshot_date=DAY,
                snapshot_month="2021-06",
                status="new",
                max_severity="medium",
                signals=["TAX_SALES_DROP"],
                new_signals=["TAX_SALES_DROP"],
                n_signals=1,
            ),
            dict(
                uscc=CODE,
                loan_id="C",
                snapshot_date=DAY,
                snapshot_month="2021-06",
                status="cleared",
                max_severity="high",
                signals=[],
                new_signals=[],
                n_signals=0,
            ),
        ],
    )
    assertDataFrameEqual(out.select(*expected.columns), expected, checkRowOrder=False)
    assert out.where(F.col("status") == "cleared").count() == 1


def test_the_watch_list_takes_only_warnings_of_the_minimum_severity(spark):
    before = dt.date(2021, 5, 31)
    now = _warnings(
        spark,
        [("A", DAY, "ELEC_ZERO", "high"), ("A", DAY, "DPD_1_30", "medium"), ("B", DAY, "TAX_SALES_DROP", "medium")],
    )
    prev = _warnings(spark, [("B", before, "COURT_ENFORCEMENT", "high")])
    out = {r["loan_id"]: r for r in watch_list(now.unionByName(prev), as_of=DAY, min_severity="high").collect()}
    assert set(out) == {"A", "B"}
    assert out["A"]["status"] == "new" and out["A"]["signals"] == ["ELEC_ZERO"]
    assert out["B"]["status"] == "cleared"  # only a medium warning left: off the list
    with pytest.raises(ValueError, match="min_severity"):
        watch_list(now, as_of=DAY, min_severity="severe")
