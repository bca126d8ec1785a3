"""Turn :class:`jobs.report.data.ReportData` into sections (plots + tables) and the final HTML."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from jobs.report import plots
from jobs.report.data import ReportData

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _cell(value: Any, column: str) -> dict[str, str]:
    cls = ""
    if column in ("severity", "max_severity"):
        cls = f"sev-{value}"
    elif column == "status":
        cls = f"status-{value}"
    if isinstance(value, float):
        text = "" if math.isnan(value) else (f"{value:.2%}" if "pd" in column or "rate" in column else f"{value:,.2f}")
        return {"text": text, "cls": cls or "num"}
    if isinstance(value, int):
        return {"text": f"{value:,}", "cls": cls or "num"}
    return {"text": "" if value is None else str(value), "cls": cls}


def table(frame: pd.DataFrame, caption: str = "") -> dict[str, Any]:
    """A frame as a template table (formatted cells, CSS classes for severities and statuses)."""
    columns = list(frame.columns)
    rows = [
        [_cell(v.item() if hasattr(v, "item") else v, c) for c, v in zip(columns, row)]
        for row in frame.itertuples(index=False)
    ]
    return {"caption": caption, "columns": columns, "rows": rows}


def section(
    id_: str, title: str, *, text: str = "", plots_: list[tuple[str, str]] = (), tables: list[dict] = ()
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "text": text,
        "plots": [{"uri": u, "alt": a} for u, a in plots_],
        "tables": list(tables),
    }


def core_sections(data: ReportData) -> list[dict[str, Any]]:
    """Grades and migration, classification, warnings and the watch list."""
    classes = data.classes.sort_values(["ifrs9_stage", "suggested_class"]) if len(data.classes) else data.classes
    return [
        section(
            "grades",
            "Grades and migration",
            text="Master-scale grades of the active borrowers on the snapshot date and their moves over three months.",
            plots_=[
                (plots.grade_distribution(data.grades), "grade distribution"),
                (plots.migration_heatmap(data.migration), "grade migration matrix"),
                (plots.pd_trend(data.pd_trend), "PD over time"),
            ],
        ),
        section(
            "classification",
            "Five-category classification and IFRS 9 stages",
            text="Suggested class: the days-past-due floor raised by warnings and restructuring.",
            tables=[table(classes)],
        ),
        section(
            "warnings",
            "Early warnings and the watch list",
            plots_=[(plots.warnings_trend(data.warnings_trend), "warnings by severity")],
            tables=[
                table(data.signals, "signals firing on the snapshot date"),
                table(data.watch_status, "watch list status"),
                table(data.watch_new, "new on the watch list"),
                table(data.top_warnings, "top warnings (most severe first)"),
            ],
        ),
    ]


def render(data: ReportData, *, kpis: list[tuple[str, str]], sections: list[dict[str, Any]]) -> str:
    """The self-contained HTML document."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template("report.html.j2").render(
        as_of=data.as_of.isoformat(), model=data.model, kpis=kpis, sections=sections
    )
