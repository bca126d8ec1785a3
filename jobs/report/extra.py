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

from jobs.report import plots
from jobs.report.render import section, table
from riskpipe.core import io
from riskpipe.core.calendar import snapshot_month
from riskpipe.core.config import Settings

MONEY = 1e4  # figures are shown in 10,000 CNY (万元), the unit loan officers use
# plots are drawn with matplotlib's bundled fonts, which have no CJK glyphs: the HTML says 万元
PLOT_MONEY = "10k CNY"


def _month(spark: SparkSession, name: str, day: dt.date, settings: Settings) -> pd.DataFrame:
    if not io.exists(spark, name, settings=settings):
        return pd.DataFrame()
    return io.read(spark, name, settings=settings).where(F.col("snapshot_month") == snapshot_month(day)).toPandas()


def portfolio_section(spark: SparkSession, day: dt.date, settings: Settings) -> tuple[list, list[dict[str, Any]]]:
    """KPIs and a section for EL under the fund (empty when portfolio risk was not run for ``day``)."""
    metrics, summary = (
        _month(spark, "portfolio_metrics", day, settings),
        _month(spark, "portfolio_summary", day, settings),
    )
    if metrics.empty:
        return [], []
    m = metrics.iloc[0]
    kpis = [
        ("EAD (万元)", f"{m['ead'] / MONEY:,.0f}"),
        ("expected loss (万元)", f"{m['el'] / MONEY:,.1f}"),
        ("bank EL / fund EL (万元)", f"{m['bank_el'] / MONEY:,.1f} / {m['fund_el'] / MONEY:,.1f}"),
        ("fund adequacy", "n/a" if pd.isna(m["fund_adequacy"]) else f"{m['fund_adequacy']:.2f}×"),
        ("top-10 borrower share", f"{m['top_n_share']:.1%}"),
    ]
    by_grade = summary[summary["dimension"] == "grade"]
    # grades are strings in the summary ("1".."10", "unknown"): order them as the master scale
    by_grade = (
        by_grade.assign(_order=pd.to_numeric(by_grade["value"], errors="coerce").fillna(99))
        .sort_values("_order")
        .drop(columns="_order")
    )
    shown = summary[summary["dimension"].isin(["county", "industry", "product"])].copy()
    for column in ("ead", "el", "bank_el", "fund_el"):
        shown[column] = shown[column] / MONEY
    shown = shown[["dimension", "value", "n_loans", "ead", "el", "bank_el", "fund_el", "el_rate"]]
    plot = (
        plots.bar(
            by_grade.assign(el=by_grade["el"] / MONEY),
            x="value",
            y="el",
            title="Expected loss by grade",
            ylabel=f"EL ({PLOT_MONEY})",
            colour="#d7301f",
        )
        if len(by_grade)
        else None
    )
    text = (
        f"EL = PD × LGD × EAD. The risk compensation fund pays its coverage share of each loss until its balance "
        f"({m['fund_balance'] / MONEY:,.0f} 万元) is used up; {int(m['n_fund_capped'])} loans hit the cap. "
        f"HHI by borrower {m['hhi_borrower']:.3f}."
    )
    return kpis, [
        section(
            "portfolio",
            "Expected loss and the risk compensation fund",
            text=text,
            plots_=[(plot, "EL by grade")] if plot else [],
            tables=[
                table(
                    shown.sort_values(["dimension", "el"], ascending=[True, False]),
                    "EL by county, industry and product (万元)",
                )
            ],
        )
    ]


def stress_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    results = _month(spark, "stress_results", day, settings)
    if results.empty:
        return []
    shown = results[
        [
            "scenario",
            "baseline_pd_weighted",
            "stressed_pd_weighted",
            "baseline_el",
            "stressed_el",
            "baseline_fund_adequacy",
            "stressed_fund_adequacy",
            "n_downgraded",
        ]
    ].copy()
    for column in ("baseline_el", "stressed_el"):
        shown[column] = shown[column] / MONEY
    plot = plots.bar(
        shown,
        x="scenario",
        y="stressed_el",
        title=f"Stressed expected loss by scenario ({PLOT_MONEY})",
        ylabel=f"EL ({PLOT_MONEY})",
        colour="#fc8d59",
    )
    return [
        section(
            "stress",
            "Stress tests",
            text="Scenario shocks applied to the snapshot's features, rescored by the "
            "champion; baseline and stressed side by side (EL in 万元).",
            plots_=[(plot, "stressed EL")],
            tables=[table(shown)],
        )
    ]


def monitoring_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    from jobs.model_monitoring.main import summary

    frame = (
        summary(spark, day, settings=settings)
        if io.exists(spark, "model_monitoring", settings=settings)
        else pd.DataFrame()
    )
    if frame.empty:
        return []
    psi = frame[frame["metric"] == "psi"].sort_values("value", ascending=False).head(20)
    perf = frame[frame["metric"].isin(["auc", "ks", "backtest_default_rate"])][["metric", "subject", "value", "status"]]
    plot = plots.bar(
        psi, x="subject", y="value", title="PSI against the training sample (top 20)", ylabel="PSI", threshold=0.25
    )
    alerts = frame[frame["alert"]][["metric", "subject", "value", "status"]]
    return [
        section(
            "monitoring",
            "Model performance and drift",
            text="PSI < 0.10 stable, 0.10–0.25 watch, > 0.25 act; the backtest compares realised 12-month "
            "default rates with predicted PD by grade once labels mature.",
            plots_=[(plot, "PSI by feature")],
            tables=[table(perf, "performance and backtest"), table(alerts, "alerts")],
        )
    ]


def _target_table(checks: list[dict[str, Any]]) -> pd.DataFrame:
    shown = [
        {
            "metric": c["metric"],
            "value": ""
            if c["value"] is None
            else (f"{c['value']:.0%}" if c["metric"].endswith("rate") else f"{c['value']:g} months"),
            "target": c["target"],
            "met": "yes" if c["met"] else "NO",
        }
        for c in checks
    ]
    return pd.DataFrame(shown, columns=["metric", "value", "target", "met"])


def warning_backtest_section(spark: SparkSession, day: dt.date, settings: Settings) -> list[dict[str, Any]]:
    """The warning catalogue judged like a classifier (``jobs.post_loan.warning_evaluation.run``): on the 12
    month-ends ending a year before ``day``, replayed from the stored features, scores and ledger,
    with the defaults known on ``day``; left out when those tables are missing or the window holds
    no defaulter.
    """
    from jobs.post_loan.warning_evaluation import run, window_ending

    needed = ("enterprise_features", "loans", "loan_balances", "default_labels")
    if not all(io.exists(spark, t, settings=settings) for t in needed):
        return []
    first, last = window_ending(day)
    features = io.read(spark, "enterprise_features", settings=settings)
    if features.where(F.col("snapshot_date") == F.lit(last)).isEmpty():
        return []
    result = run(day, settings=settings, spark=spark, window=(first, last))
    rows = pd.DataFrame(result["rows"])
    if rows.empty or not rows["defaulters"].iloc[0]:
        return []
    columns = [
        "signal",
        "severity",
        "warned_defaulters",
        "hit_rate",
        "warned_performing",
        "false_alarm_rate",
        "lift",
        "median_lead_months",
    ]
    severity = rows[rows["block"] == "severity"]
    counts = result["borrowers"]
    text = (
        f"Window {result['window']} (month-ends), catalogue {result['catalogue_version']}, replayed on the "
        "stored features, scores and loan ledger. Unit: the borrower with a loan under monitoring (default is "
        f"the obligor's). {counts['defaulter']} borrowers defaulted in the window, {counts['performing']} "
        f"performed (no default within {result['horizon_months']} months after any monitored month-end, fully "
        f"observed); {counts['later_default']} defaulting after the window and {counts['censored']} not yet "
        f"observed are left out. A defaulter is warned by a warning in the {result['horizon_months']} months "
        "before its default, also before the window; lead = months from that first warning to the default. "
        "False alarm: a performing borrower warned in the window. Lift = hit rate / false-alarm rate. "
        "Past-due signals are the default process itself: they are left out of every severity row and shown "
        "apart; the last table counts them in, as the watch list does."
    )
    tables = (
        [table(_target_table(result["targets"]), "targets, on the catalogue's severity of the watch list")]
        if result["targets"]
        else []
    )
    tables += [
        table(severity[columns], "by minimum severity (past-due signals excluded)"),
        table(rows[rows["block"] == "signal"][columns], "by signal"),
        table(
            rows[rows["block"] == "past_due"][columns],
            "past-due signals: the default process itself, not early warnings",
        ),
        table(
            rows[rows["block"] == "with_past_due"][columns],
            "by minimum severity, past-due signals included: what the watch list carries",
        ),
    ]
    return [
        section(
            "warning_backtest",
            "Early warnings judged like a classifier",
            text=text,
            plots_=[(plots.catch_vs_false_alarms(severity), "hit rate and false alarms by severity")],
            tables=tables,
        )
    ]
