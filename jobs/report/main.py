"""``riskpipe report --as-of D``: write the monthly risk report as one self-contained HTML file.

Output: ``<reports_dir>/risk_report_<D>.html`` (``report.output_dir`` in the profile,
default ``var/reports``). Plots are embedded PNGs and there is no JavaScript, so the file
can be mailed or archived as it is. The file is replaced only when its content changes, so a
rerun of a snapshot (a cleared DAG run, a second trigger of the month) leaves the report that
was mailed or archived untouched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from jobs.report.data import ReportData, gather
from jobs.report.extra import monitoring_section, portfolio_section, stress_section, warning_backtest_section
from jobs.report.render import core_sections, render
from riskpipe.core.calendar import to_snapshots
from riskpipe.core.config import Settings, resolve_path


def kpis(data: ReportData) -> list[tuple[str, str]]:
    """Headline figures of the snapshot."""
    n = int(data.grades["n"].sum())
    mean_pd = float((data.grades["n"] * data.grades["mean_pd"]).sum() / n) if n else float("nan")
    loans = int(data.classes["n"].sum()) if len(data.classes) else 0
    stage3 = int(data.classes.loc[data.classes["ifrs9_stage"] == 3, "n"].sum()) if loans else 0
    watched = (
        int(data.watch_status.loc[data.watch_status["status"] != "cleared", "n"].sum()) if len(data.watch_status) else 0
    )
    return [
        ("borrowers scored", f"{n:,}"),
        ("mean PD", f"{mean_pd:.2%}"),
        ("active loans", f"{loans:,}"),
        ("loans on the watch list", f"{watched:,}"),
        ("stage 3 loans", f"{stage3:,}"),
    ]


def output_path(as_of: dt.date, settings: Settings, out: str | None = None) -> Path:
    folder = Path(out) if out else Path(resolve_path(settings.report.output_dir))
    return folder / f"risk_report_{as_of.isoformat()}.html"


def run(as_of: dt.date | str, *, settings: Settings, spark: SparkSession, out: str | None = None) -> dict[str, Any]:
    """Gather, render and write the report of snapshot ``as_of``; returns its path and sections."""
    (day,) = to_snapshots(as_of)
    data = gather(spark, day, settings)
    money_kpis, portfolio = portfolio_section(spark, day, settings)
    sections = (
        portfolio
        + core_sections(data)
        + warning_backtest_section(spark, day, settings)
        + stress_section(spark, day, settings)
        + monitoring_section(spark, day, settings)
    )
    html = render(data, kpis=kpis(data) + money_kpis, sections=sections)
    path = output_path(day, settings, out)
    written = write_if_changed(path, html)
    return {
        "path": str(path),
        "sections": [s["id"] for s in sections],
        "bytes": len(html.encode("utf-8")),
        "written": written,
    }


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless the file already holds it; True when the file was written.

    The new content goes to a temporary file in the same folder first and replaces ``path`` in one
    rename, so a reader (or a mailer) never sees half a report.
    """
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return True
