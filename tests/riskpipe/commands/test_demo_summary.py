"""The demo's last line on the warnings: each target with its value, in percent or months, met or not."""

from __future__ import annotations

from riskpipe.commands.demo import _warning_summary


def test_the_warning_line_names_each_target_its_value_and_whether_it_is_met(capsys):
    result = {
        "window": "2020-01-31..2020-12-31",
        "history": {"lead_censored": False},
        "targets": [
            {"metric": "false_alarm_rate", "value": 0.108, "target": "<= 0.2", "met": True},
            {"metric": "median_lead_months", "value": 6.0, "target": ">= 6", "met": True},
            {"metric": "hit_rate", "value": None, "target": ">= 0.8", "met": False},
        ],
    }
    _warning_summary(result, "high")
    assert capsys.readouterr().out == (
        "    early warnings high+ on 2020-01-31..2020-12-31: false_alarm_rate 10.8% (<= 0.2: met); "
        "median_lead_months 6.0 months (>= 6: met); hit_rate - (>= 0.8: NOT met)\n"
    )


def test_the_warning_line_says_when_leads_are_capped_by_the_score_history(capsys):
    result = {
        "window": "2020-01-31..2020-12-31",
        "history": {"lead_censored": True},
        "targets": [{"metric": "median_lead_months", "value": 4.75, "target": ">= 6", "met": False}],
    }
    _warning_summary(result, "high")
    assert "leads capped by the score history: median_lead_months 4.8 months (>= 6: NOT met)" in capsys.readouterr().out
