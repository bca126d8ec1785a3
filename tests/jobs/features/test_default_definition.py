"""The one definition of default: ``in_default`` on inline frames and its configuration."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.features.default_definition import DefaultDefinition, in_default
from riskpipe.core.config import load_settings

BRIEF = DefaultDefinition(dpd_over=90, statuses=("restructured", "written_off"))


def _decide(spark, rows, definition):
    frame = spark.createDataFrame(rows, "dpd int, status string, expected boolean")
    out = frame.select(
        "dpd", "status", "expected", in_default(F.col("dpd"), F.col("status"), definition).alias("in_default")
    )
    return out.collect()


def test_more_than_90_days_or_a_default_status_is_default_and_null_never_is(spark):
    rows = [
        (0, "active", False),
        (89, "active", False),
        (90, "active", False),  # 90 days past due: not yet (more than 90 is substandard)
        (91, "active", True),
        (400, "active", True),
        (0, "restructured", True),
        (0, "written_off", True),
        (0, "closed", False),
        (120, "closed", True),
        (None, "active", False),
        (90, None, False),
        (None, None, False),
        (None, "restructured", True),
        (91, None, True),
    ]
    out = _decide(spark, rows, BRIEF)
    assert len(out) == len(rows)
    for row in out:
        assert row["in_default"] is row["expected"], row


def test_the_threshold_and_the_statuses_come_from_the_definition(spark):
    other = DefaultDefinition(dpd_over=30, statuses=("written_off",))
    out = _decide(
        spark,
        [(30, "active", False), (31, "active", True), (0, "restructured", False), (0, "written_off", True)],
        other,
    )
    assert [r["in_default"] for r in out] == [r["expected"] for r in out]
    nothing = DefaultDefinition(dpd_over=90, statuses=())
    assert [r["in_default"] for r in _decide(spark, [(0, "written_off", False), (91, None, True)], nothing)] == [
        False,
        True,
    ]


def test_the_default_profile_states_the_brief_definition():
    assert DefaultDefinition.from_settings(load_settings().sections("default_definition")) == BRIEF


@pytest.mark.parametrize(
    "section, message",
    [
        (None, "default_definition: expected a mapping"),
        ({"dpd_over": 90}, "exactly dpd_over and statuses"),
        ({"dpd_over": 90, "statuses": [], "grace_days": 5}, "exactly dpd_over and statuses"),
        ({"dpd_over": "90", "statuses": []}, "default_definition.dpd_over"),
        ({"dpd_over": -1, "statuses": []}, "default_definition.dpd_over"),
        ({"dpd_over": 90, "statuses": ["defaulted"]}, "default_definition.statuses"),
        ({"dpd_over": 90, "statuses": "restructured"}, "default_definition.statuses"),
    ],
)
def test_a_bad_definition_is_refused_naming_its_key(section, message):
    with pytest.raises(ValueError, match=message):
        DefaultDefinition.from_settings({} if section is None else {"default_definition": section})
