"""Report plots: matplotlib figures rendered to PNG and embedded as data URIs (no external files)."""

from __future__ import annotations

import base64
import io as _io
import logging

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and in CI
# grades and months are drawn as categories on purpose; matplotlib logs each such axis
logging.getLogger("matplotlib.category").setLevel(logging.WARNING)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEVERITY_COLOURS = {"critical": "#8e0b1f", "high": "#d7301f", "medium": "#fc8d59", "low": "#fdcc8a"}
GRADE_CMAP = "RdYlGn_r"


def to_data_uri(fig) -> str:
    """PNG data URI of ``fig`` (closed afterwards)."""
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grade_distribution(grades: pd.DataFrame) -> str:
    """Bars of borrowers per grade, coloured from green (1) to red (10), with mean PD on a second axis."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    colours = plt.get_cmap(GRADE_CMAP)(np.linspace(0.05, 0.95, max(len(grades), 1)))
    ax.bar(grades["grade"].astype(str), grades["n"], color=colours)
    ax.set_xlabel("grade (1 best, 10 worst)")
    ax.set_ylabel("borrowers")
    twin = ax.twinx()
    twin.plot(grades["grade"].astype(str), grades["mean_pd"] * 100, color="#333333", marker="o")
    twin.set_ylabel("mean PD (%)")
    ax.set_title("Grade distribution")
    return to_data_uri(fig)


def pd_trend(trend: pd.DataFrame) -> str:
    """Mean and 90th-percentile PD per month-end."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(
        pd.to_datetime(trend["snapshot_date"]),
        trend["mean_pd"] * 100,
        label="mean PD",
        color="#2b8cbe",
        marker="o",
        markersize=3,
    )
    ax.plot(
        pd.to_datetime(trend["snapshot_date"]),
        trend["p90_pd"] * 100,
        label="90th percentile",
        color="#e34a33",
        linestyle="--",
    )
    ax.set_ylabel("PD (%)")
    ax.legend(loc="upper left")
    ax.set_title("Portfolio PD over time")
    fig.autofmt_xdate()
    return to_data_uri(fig)


def migration_heatmap(migration: pd.DataFrame) -> str:
    """Grade migration counts (rows: grade three months ago; columns: grade now)."""
    grades = list(range(1, 11))
    matrix = (
        migration.pivot_table(index="from_grade", columns="to_grade", values="n", aggfunc="sum")
        .reindex(index=grades, columns=grades)
        .fillna(0)
        if len(migration)
        else pd.DataFrame(0, index=grades, columns=grades)
    )
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.imshow(np.log1p(matrix.to_numpy()), cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if value:
            ax.text(j, i, int(value), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(10), grades)
    ax.set_yticks(range(10), grades)
    ax.set_xlabel("grade now")
    ax.set_ylabel("grade three months ago")
    ax.set_title("Grade migration")
    return to_data_uri(fig)


def warnings_trend(trend: pd.DataFrame) -> str:
    """Warnings per month-end, stacked by severity."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    table = (
        trend.pivot_table(index="snapshot_date", columns="severity", values="n", aggfunc="sum").fillna(0)
        if len(trend)
        else pd.DataFrame()
    )
    bottom = np.zeros(len(table))
    for severity in ("low", "medium", "high", "critical"):
        if severity in table:
            ax.bar(
                [str(d)[:7] for d in table.index],
                table[severity],
                bottom=bottom,
                label=severity,
                color=SEVERITY_COLOURS[severity],
            )
            bottom += table[severity].to_numpy()
    ax.set_ylabel("warnings")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Early warnings by severity")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return to_data_uri(fig)


def bar(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    title: str,
    ylabel: str,
    colour: str = "#2b8cbe",
    threshold: float | None = None,
) -> str:
    """A generic bar chart (optionally with a horizontal threshold line)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(frame[x].astype(str), frame[y], color=colour)
    if threshold is not None:
        ax.axhline(threshold, color="#d7301f", linestyle="--", linewidth=1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    return to_data_uri(fig)


def catch_vs_false_alarms(frame: pd.DataFrame) -> str:
    """Side-by-side bars per minimum severity (column ``signal``, e.g. ``high+``): share of defaulters
    warned before default (``hit_rate``), and share of performing borrowers warned (``false_alarm_rate``);
    the median lead time is written over each pair."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(frame))
    hits = frame["hit_rate"].astype(float).fillna(0.0) * 100
    ax.bar(x - 0.2, hits, width=0.4, color="#2c7fb8", label="defaulters warned")
    ax.bar(
        x + 0.2,
        frame["false_alarm_rate"].astype(float).fillna(0.0) * 100,
        width=0.4,
        color="#fdae61",
        label="performing borrowers warned",
    )
    for i, lead in enumerate(frame["median_lead_months"]):
        if pd.notna(lead):
            ax.annotate(f"{lead:g} mo", (i - 0.2, float(hits.iloc[i])), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, list(frame["signal"]))
    ax.set_ylabel("%")
    ax.set_ylim(0, 110)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Defaulters warned before default vs false alarms (median lead time)")
    return to_data_uri(fig)
