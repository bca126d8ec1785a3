"""Report sections of the portfolio, stress and model-monitoring steps (left out when not run).

Each reader returns small pandas frames from the gold tables of the snapshot; each builder
turns them into a section with a plot and tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.features.pit import snapshot_month
from jobs.report import plots
from jobs.report.render import section, table
from riskpipe import io
from riskpipe.config import Settings

MONEY = 1e4   # figures are shown in 10,000 CNY (万元), the unit loan officers use
# plots are drawn with matplotlib's bundled fonts, which have no CJK glyphs: the HTML says 万元
PLOT_MONEY = "10k CNY"


def _month(spark: SparkSession, name: str, day: dt.date, settings: Settings) -> pd.DataFrame:
    if not io.exists(spark, name, settings):
        return pd.DataFrame()
    return io.read(spark, name, settings=settings).where(F.col("snapshot_month") == snapshot_month(day)).toPandas()


def portfolio_section(spark: SparkSession, day: dt.date, settings: Settings) -> tuple[list, list[dict[str, Any]]]:
    """KPIs and a section for EL under the fund (empty when portfolio risk was not run for ``day``)."""
    metrics, summary = _month(spark, "portfolio_metrics", day, settings), _month(spark, "portfolio_summary", day,
                                                                               settings)
    if metrics.empty:
        return [], []
    m = metrics.iloc[0]
    kpis = [("EAD (万元)", f"{m['ead'] / MONEY:,.0f}"), ("expected loss (万元)", f"{m['el'] / MONEY:,.1f}"),
            ("bank EL / fund EL (万元)", f"{m['bank_el'] / MONEY:,.1f} / {m['fund_el'] / MONEY:,.1f}"),
            ("fund adequacy", "n/a" if pd.isna(m["fund_adequacy"]) else f"{m['fund_adequacy']:.2f}×"),
            ("top-10 borrower share", f"{m['top_n_share']:.1%}")]
    by_grade = summary[summary["dimension"] == "grade"]
    # grades are strings in the summary ("1".."10", "unknown"): order them as the master scale
    by_grade = by_grade.assign(_order=pd.to_numeric(by_grade["value"], errors="coerce").fillna(99)) \
        .sort_values("_order").drop(columns="_order")
    shown = summary[summary["dimension"].isin(["county", "industry", "product"])].copy()
    for column in ("ead", "el", "bank_el", "fund_el"):
        shown[column] = shown[column] / MONEY
    shown = shown[["dimension", "value", "n_loans", "ead", "el", "bank_el", "fund_el", "el_rate"]]
    plot = plots.bar(by_grade.assign(el=by_grade["el"] / MONEY), x="value", y="el", title="Expected loss by grade",
                     ylabel=f"EL ({PLOT_MONEY})", colour="#d7301f") if len(by_grade) else None
    text = (f"EL = PD × LGD × EAD. The risk compensation fund pays its coverage share of each loss until its balance "
            f"({m['fund_balance'] / MONEY:,.0f} 万元) is used up; {int(m['n_fund_capped'])} loans hit the cap. "
            f"HHI by borrower {m['hhi_borrower']:.3f}.")
    return kpis, [section("portfolio", "Expected loss and the risk compensation fund", text=text,
                          plots_=[(plot, "EL by grade")] if plot else [],
                          tables=[table(shown.sort_values(["dimension", "el"], ascending=[True, False]),
                                        "EL by county, industry and product (万元)")])]


def stress_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    results = _month(spark, "stress_results", day, settings)
    if results.empty:
        return []
    shown = results[["scenario", "baseline_pd_weighted", "stressed_pd_weighted", "baseline_el", "stressed_el",
                     "baseline_fund_adequacy", "stressed_fund_adequacy", "n_downgraded"]].copy()
    for column in ("baseline_el", "stressed_el"):
        shown[column] = shown[column] / MONEY
    plot = plots.bar(shown, x="scenario", y="stressed_el", title=f"Stressed expected loss by scenario ({PLOT_MONEY})",
                     ylabel=f"EL ({PLOT_MONEY})", colour="#fc8d59")
    return [section("stress", "Stress tests", text="Scenario shocks applied to the snapshot's features, rescored by the "
                    "champion; baseline and stressed side by side (EL in 万元).",
                    plots_=[(plot, "stressed EL")], tables=[table(shown)])]


def monitoring_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    from jobs.model_monitoring import summary

    frame = summary(spark, day, settings=settings) if io.exists(spark, "model_monitoring", settings) else pd.DataFrame()
    if frame.empty:
        return []
    psi = frame[frame["metric"] == "psi"].sort_values("value", ascending=False).head(20)
    perf = frame[frame["metric"].isin(["auc", "ks", "backtest_default_rate"])][["metric", "subject", "value",
                                                                                 "status"]]
    plot = plots.bar(psi, x="subject", y="value", title="PSI against the training sample (top 20)", ylabel="PSI",
                     threshold=0.25)
    alerts = frame[frame["alert"]][["metric", "subject", "value", "status"]]
    return [section("monitoring", "Model performance and drift",
                    text="PSI < 0.10 stable, 0.10–0.25 watch, > 0.25 act; the backtest compares realised 12-month "
                         "default rates with predicted PD by grade once labels mature.",
                    plots_=[(plot, "PSI by feature")],
                    tables=[table(perf, "performance and backtest"), table(alerts, "alerts")])]


BACKTEST_MONTHS = 12


def warning_backtest_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    """How early the warnings of the last 12 monitored months pointed at the defaults that followed.

    Only defaults known on ``day`` count (their dates are at most ``day``), so the section is point
    in time; left out when warnings, scores or labels are missing.
    """
    from jobs.features.pit import add_months, month_end
    from jobs.warning_evaluation import backtest

    if not all(io.exists(spark, t, settings) for t in ("early_warnings", "risk_scores", "default_labels")):
        return []
    first = month_end(add_months(day, -(BACKTEST_MONTHS - 1)))
    labels = io.read(spark, "default_labels", settings=settings).where(F.col("default_date") <= F.lit(day))
    result = backtest(io.read(spark, "early_warnings", settings=settings), labels,
                      io.read(spark, "risk_scores", settings=settings), first=first, last=day)
    severity = pd.DataFrame(result["by_severity"])
    if severity.empty or not severity["defaulters"].iloc[0]:
        return []
    severity = severity[["min_severity", "defaulters", "caught", "catch_rate", "median_lead_months",
                         "non_defaulters", "false_alarms", "false_alarm_rate"]]
    signals = pd.DataFrame(result["by_signal"])
    plot = plots.catch_vs_false_alarms(severity)
    text = (f"Window {result['window']}: borrowers that defaulted in it, and how many months before their default "
            "the first warning fired, against the non-defaulters warned at least once (false alarms). Lift: how "
            "many times more often a signal warns a later defaulter than a non-defaulter.")
    return [section("warning_backtest", "Early-warning backtest", text=text, plots_=[(plot, "catch rate")],
                    tables=[table(severity, "lead time and false alarms by minimum severity"),
                            table(signals, "by signal")])]
