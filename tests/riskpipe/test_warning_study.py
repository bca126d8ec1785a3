"""The warning study's offline helpers (pandas): a tier is the union of its signals, the greedy search
respects its false-alarm and lead limits, Wilson intervals, and the measured section of the docs."""

from __future__ import annotations

import pandas as pd
import pytest

from riskpipe.warning_study import BEGIN, END, greedy_tier, tier, wilson, write_doc

# borrowers d1..d4 default, p1..p6 perform; counted = first warnings per (borrower, signal)
POPULATION = pd.DataFrame(
    {
        "uscc": [f"d{i}" for i in range(1, 5)] + [f"p{i}" for i in range(1, 7)],
        "outcome": ["defaulter"] * 4 + ["performing"] * 6,
    }
)
COUNTED = pd.DataFrame(
    [
        ("d1", "defaulter", "A_1", 9.0),
        ("d2", "defaulter", "A_1", 7.0),
        ("p1", "performing", "A_1", None),
        ("d1", "defaulter", "A_2", 4.0),
        ("d2", "defaulter", "A_2", 3.0),
        ("d3", "defaulter", "A_2", 8.0),
        ("p1", "performing", "A_2", None),
        ("p2", "performing", "A_2", None),
        ("p3", "performing", "A_2", None),
        ("d3", "defaulter", "B", 2.0),
        ("d4", "defaulter", "B", 1.0),
        ("d4", "defaulter", "C", 10.0),
        ("p4", "performing", "C", None),
    ],
    columns=["uscc", "outcome", "signal_id", "lead_months"],
)


def test_a_tier_counts_each_borrower_once_with_its_earliest_warning():
    out = tier(COUNTED, POPULATION, ["A_1", "C"])
    assert (out["warned_defaulters"], out["defaulters"], out["warned_performing"], out["performing"]) == (3, 4, 2, 6)
    assert out["hit_rate"] == 0.75 and out["false_alarm_rate"] == pytest.approx(1 / 3)
    assert out["median_lead_months"] == 9.0 and out["unwarned"] == ["d3"]
    both = tier(COUNTED, POPULATION, ["A_1", "A_2"])  # d1: 9 months (A_1), not 4 (A_2)
    assert both["warned_defaulters"] == 3 and both["median_lead_months"] == 8.0


def test_greedy_search_keeps_within_its_limits_and_one_threshold_per_family():
    steps = greedy_tier(COUNTED, POPULATION, ["A_1", "A_2", "B", "C"], max_false_alarm_rate=0.4, min_median_lead=5.0)
    added = [s["added"] for s in steps]
    assert added[0] == "A_1"  # 2 defaulters for 1 false alarm
    assert "A_2" not in added  # same family as A_1
    assert all(s["false_alarm_rate"] <= 0.4 and s["median_lead_months"] >= 5.0 for s in steps)
    # B warns two defaulters without a false alarm, but alone (1-2 months ahead) it would pull the
    # median lead below 5 months: it joins only once C has warned its defaulter 10 months ahead
    assert added == ["A_1", "C", "B"] and steps[-1]["warned_defaulters"] == 4


def test_wilson_interval():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.49, abs=0.01) and high == pytest.approx(0.94, abs=0.01)
    assert wilson(0, 0) is None and wilson(0, 20)[0] == pytest.approx(0.0, abs=1e-12)


def test_the_measured_section_is_replaced_between_its_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n", encoding="utf-8")
    row = {
        "block": "severity",
        "signal": "high+",
        "severity": "high",
        "defaulters": 4,
        "warned_defaulters": 3,
        "hit_rate": 0.75,
        "performing": 6,
        "warned_performing": 1,
        "false_alarm_rate": 1 / 6,
        "lift": 4.5,
        "median_lead_months": 7.0,
    }
    result = {
        "name": "tuning",
        "root": "/x",
        "as_of": "2021-12-31",
        "enterprises": 10,
        "seed": 1,
        "window": "2020-01-31..2020-12-31",
        "catalogue_version": "abc",
        "borrowers": {"defaulter": 4, "performing": 6, "later_default": 0, "censored": 0},
        "rows": [row],
        "targets": [],
    }
    write_doc(str(doc), [result])
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "| high+ | 3/4 | 75% (" in text and "seed 1" in text
