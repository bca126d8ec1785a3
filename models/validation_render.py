"""Files of a :class:`models.validation.ValidationReport`: Markdown, a self-contained HTML page, CSV
tables and a metrics JSON, and their logging to the version's MLflow run under ``validation/``.

The HTML page has inline CSS, traffic-light cells and two charts embedded as PNG data URIs
(calibration by grade with the Jeffreys intervals; the Gini of each model with its interval), and
no JavaScript, so it can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import io
import json
import math
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.validation import ValidationReport, format_pd

TEMPLATES = Path(__file__).resolve().parent / "templates"
ARTIFACT_PATH = "validation"
PSI_LIGHTS = {"stable": "green", "watch": "amber", "act": "red"}
LIGHT_COLOURS = {"green": "#1a9850", "amber": "#f39c12", "red": "#d73027", "empty": "#9e9e9e", "info": "#4a6f96"}
READING = (
    "How to read it: each check has a traffic light and the report's status is the worst of them. "
    "Discrimination is the out-of-time Gini with its interval: green when even the lower bound reaches "
    "the minimum. Calibration tests every grade's observed defaults against its mean PD (Jeffreys test, "
    "ECB IRB back-testing): amber or red grades under- or over-predict beyond sampling noise, and a red "
    "grade blocks promotion. The PD floor is a rule, not a statistic: any served PD below it is red. "
    "Stability is the PSI of the score between the training and the out-of-time sample."
)
ORACLE_TEXT = (
    "Simulated data only. The simulator knows each enterprise's latent 12-month PD; ranking the same "
    "out-of-time rows by it gives the oracle Gini, the best attainable with perfect information up to "
    "the randomness of defaults. The ratio model Gini / oracle Gini is the share of that ranking the "
    "model recovers; above 1 is sampling noise (or the label differs from the latent event: the label is "
    "the 12-month default of a borrower, the latent PD that of a payment stop)."
)


# ------------------------------------------------------------------ formatting


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: Any, column: str) -> str:
    """A cell as text: PDs and rates as percentages (never a positive PD as 0.00 %), p-values with
    three decimals, counts with thousands separators."""
    if hasattr(value, "item"):
        value = value.item()
    if _is_missing(value):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if column in ("count", "defaults", "rows") or (isinstance(value, int) and "grades" in column):
        # obligor-weighted counts are fractions (a borrower seen in k months weighs 1/k a row)
        return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"
    if "grades" in column:
        return f"{value:.0f}"
    if "p_value" in column:
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if "pd" in column or "rate" in column or column.startswith("ci_") or "share" in column or column == "coverage":
        return format_pd(float(value))
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}"


def _cells(frame: pd.DataFrame) -> dict[str, Any]:
    columns = list(frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        row = []
        for column, value in zip(columns, record):
            text = fmt(value, column)
            light = PSI_LIGHTS.get(value, value)
            cls = (
                f"light light-{light}"
                if column == "status"
                else ("num" if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else "")
            )
            row.append({"text": text, "cls": cls})
        rows.append(row)
    return {"columns": columns, "rows": rows}


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame is None or frame.empty:
        return "_none_\n"
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in frame.itertuples(index=False):
        cells = [fmt(v, c).upper() if c == "status" else fmt(v, c) for c, v in zip(columns, record)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


CALIBRATION_COLUMNS = [
    "grade",
    "pd_lower",
    "pd_upper",
    "rows",
    "count",
    "defaults",
    "default_rate",
    "mean_pd",
    "mean_latent_pd",
    "ci_lower",
    "ci_upper",
    "p_value",
    "direction",
    "status",
]


def _present(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


def _interval(value: float, low: float, high: float) -> str:
    return "" if _is_missing(value) else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def models_display(models: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The discrimination table for people: one interval column per measure, lights as counts."""
    level = f"{confidence:.0%}"
    rows = []
    for r in models.to_dict("records"):
        lights = (
            ""
            if _is_missing(r["grades_green"])
            else f"{r['grades_green']:.0f} / {r['grades_amber']:.0f} / {r['grades_red']:.0f}"
        )
        rows.append(
            {
                "model": f"{r['role']}: {r['label']}",
                "rows": r["rows"],
                "defaults": r["defaults"],
                "default_rate": r["default_rate"],
                f"AUC [{level}]": _interval(r["auc"], r["auc_lower"], r["auc_upper"]),
                f"Gini [{level}]": _interval(r["gini"], r["gini_lower"], r["gini_upper"]),
                "KS": r["ks"],
                "Brier": r["brier"],
                "mean_pd": r["mean_pd"],
                "min_pd": r["min_pd"],
                "score PSI": r["psi_score"],
                "grades green / amber / red": lights,
            }
        )
    return pd.DataFrame(rows)


def comparisons_display(comparisons: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``a vs b``: both Ginis on the shared rows, the difference and the ratio with intervals."""
    level = f"{confidence:.0%}"
    return pd.DataFrame(
        [
            {
                "a vs b": r["comparison"],
                "rows": r["rows"],
                "Gini a": r["gini_a"],
                "Gini b": r["gini_b"],
                f"a − b [{level}]": _interval(r["difference"], r["difference_lower"], r["difference_upper"]),
                "p_value (a = b)": r["p_value"],
                f"a / b [{level}]": _interval(r["ratio"], r["ratio_lower"], r["ratio_upper"]),
            }
            for r in comparisons.to_dict("records")
        ]
    )


def oracle_display(oracle: dict[str, Any]) -> list[tuple[str, str]]:
    """The oracle's key figures as (label, text)."""
    facts = [("rows with a latent PD", f"{oracle['rows']:,} of {oracle['rows_oot']:,} ({oracle['coverage']:.1%})")]
    if "gini" in oracle:
        facts += [
            ("oracle Gini (latent PD)", _interval(oracle["gini"], oracle["gini_lower"], oracle["gini_upper"])),
            ("model Gini on the same rows", f"{oracle['model_gini']:.3f}"),
            ("ratio model / oracle", _interval(oracle["ratio"], oracle["ratio_lower"], oracle["ratio_upper"])),
            (
                "mean latent PD vs default rate",
                f"{format_pd(oracle['mean_latent_pd'])} vs {format_pd(oracle['default_rate'])}",
            ),
        ]
    return facts


# ------------------------------------------------------------------ charts


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def calibration_chart(calibration: pd.DataFrame, title: str = "") -> str:
    """Observed default rate per grade with its Jeffreys interval (coloured by status), mean PD and,
    when present, mean latent PD; log scale. Returns a PNG data URI."""
    plt = _pyplot()
    tested = calibration[calibration["count"] > 0].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    x = np.arange(len(tested))
    positive = pd.concat([tested["mean_pd"], tested["default_rate"][tested["default_rate"] > 0]])
    floor = float(positive.min()) / 3 if len(positive) else 1e-4
    rate = tested["default_rate"].clip(lower=floor)
    low, high = tested["ci_lower"].clip(lower=floor), tested["ci_upper"].clip(lower=floor)
    colours = [LIGHT_COLOURS.get(status, "#333333") for status in tested["status"]]
    ax.vlines(x, low, high, colors=colours, linewidth=6, alpha=0.35)
    # no defaults: a hollow marker at the bottom of the axis (a zero rate has no log)
    faces = [c if d > 0 else "white" for c, d in zip(colours, tested["defaults"])]
    ax.scatter(x, rate, s=49, c=faces, edgecolors=colours, linewidths=1.5, zorder=3)
    ax.plot(x, tested["mean_pd"], "x", color="#222222", markersize=9, mew=2, label="mean PD", zorder=4)
    if "mean_latent_pd" in tested:
        ax.plot(
            x,
            tested["mean_latent_pd"].clip(lower=floor),
            "D",
            color="#4a6f96",
            markersize=5,
            label="mean latent PD (simulator)",
            zorder=4,
        )
    ax.plot([], [], "o", color="#555555", label="observed default rate (Jeffreys interval)")
    ax.set_yscale("log")
    # percentages rather than powers of ten: readable, and no mathtext to typeset
    from matplotlib.ticker import FuncFormatter, NullLocator

    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_pd(value)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks(x, [f"{g}\nn={c:,.0f}" for g, c in zip(tested["grade"], tested["count"])], fontsize=8)
    ax.set(xlabel="grade (1 best)", ylabel="12-month default rate", title=title or "Calibration by grade (OOT)")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    # fixed margins: a tight bounding box would draw the figure twice
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.2, top=0.91)
    return _data_uri(fig)


def gini_chart(models: pd.DataFrame, min_gini: float) -> str:
    """Each model's Gini with its interval as a horizontal bar, the minimum as a dashed line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 0.7 + 0.55 * len(models)))
    colours = {"model": "#1f3b57", "challenger": "#8c6bb1", "oracle": "#4a6f96"}
    y = np.arange(len(models))[::-1]
    for yi, row in zip(y, models.to_dict("records")):
        colour = colours.get(row["role"], "#333333")
        ax.hlines(yi, row["gini_lower"], row["gini_upper"], color=colour, linewidth=8, alpha=0.35)
        ax.plot(row["gini"], yi, "o", color=colour, markersize=8)
        ax.annotate(
            f"{row['gini']:.3f}", (row["gini"], yi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8
        )
    ax.axvline(min_gini, color="#d73027", linestyle="--", linewidth=1, label=f"minimum {min_gini:.2f}")
    ax.set_yticks(y, [f"{r['role']}: {r['label']}" for r in models.to_dict("records")], fontsize=8)
    ax.set_ylim(-0.7, len(models) - 0.3)
    low = min(0.0, float(models["gini_lower"].min()) - 0.05)
    ax.set_xlim(low, min(1.0, float(models["gini_upper"].max()) + 0.08))
    ax.set_xlabel("out-of-time Gini with its interval")
    ax.legend(fontsize=8, loc="lower right")
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(left=0.3, right=0.98, bottom=0.55 / height, top=1 - 0.1 / height)
    return _data_uri(fig)


# ------------------------------------------------------------------ documents


def _title(report: ValidationReport) -> str:
    model = report.info.get("model", {})
    return f"Model validation — {model.get('name', '')} v{model.get('version', '?')} ({model.get('kind', '')})"


def _facts(report: ValidationReport) -> list[tuple[str, str]]:
    model, data, method = report.info.get("model", {}), report.info.get("data", {}), report.info["method"]
    facts = [
        (
            "model",
            f"{model.get('name', '')} v{model.get('version', '?')} · {model.get('kind', '')} · run "
            f"{model.get('run_id', '')}",
        )
    ]
    table = f"{data.get('table', '')} @ version {data.get('version', '')}"
    if data.get("label_table"):
        table += f"; labels {data.get('label_table')} @ version {data.get('label_version', '')}"
    facts += [
        ("data", table),
        ("out of time", f"snapshots {data.get('oot_snapshots', '')} (split date {data.get('split_date', '')})"),
        (
            "method",
            f"{method['confidence']:.0%} intervals by {method['ci_method']}"
            + (
                f" ({method['bootstrap_samples']} resamples by {method['bootstrap_by']}, seed {method['seed']})"
                if method["ci_method"] == "bootstrap"
                else ""
            ),
        ),
        ("made by", f"{report.info.get('origin', '')} at {report.info.get('generated_at', '')}"),
    ]
    return facts


def render_markdown(report: ValidationReport) -> str:
    """The report as Markdown (the same content as the HTML page, without charts)."""
    confidence = report.info["method"]["confidence"]
    parts = [f"# {_title(report)}\n", f"**Status: {report.status.upper()}**\n"]
    parts += [f"- **{k}**: {v}" for k, v in _facts(report)]
    parts += [
        "",
        "## Checks\n",
        _markdown_table(report.checks),
        READING + "\n",
        "## Discrimination (out of time)\n",
        _markdown_table(models_display(report.models, confidence)),
    ]
    if not report.comparisons.empty:
        parts += [
            "### Side by side (same rows)\n",
            _markdown_table(comparisons_display(report.comparisons, confidence)),
        ]
    parts += [
        "## Calibration by grade (Jeffreys test)\n",
        _markdown_table(_present(report.calibration, CALIBRATION_COLUMNS)),
    ]
    if report.challenger_calibration is not None:
        parts += ["### Challenger\n", _markdown_table(_present(report.challenger_calibration, CALIBRATION_COLUMNS))]
    floor = report.pd_floor
    parts += [
        "## PD floor\n",
        f"Minimum PD on the OOT sample {format_pd(floor['min_pd'])}; {floor['rows_below']:,} "
        f"rows ({floor['share_below']:.2%}) below the floor of {format_pd(floor['floor'])}: "
        f"**{floor['status'].upper()}**.\n",
        "## Stability (PSI train vs out of time)\n",
        _markdown_table(report.stability),
    ]
    if report.oracle:
        parts += [
            "## Oracle (simulated data only)\n",
            ORACLE_TEXT + "\n",
            "\n".join(f"- **{k}**: {v}" for k, v in oracle_display(report.oracle)) + "\n",
        ]
    if report.notes:
        parts += ["## Notes\n", "\n".join(f"- {n}" for n in report.notes) + "\n"]
    return "\n".join(parts)


def render_html(report: ValidationReport) -> str:
    """The self-contained HTML page (inline CSS, embedded PNG charts, no JavaScript)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    floor = report.pd_floor
    oracle = None
    if report.oracle:
        oracle = {"text": ORACLE_TEXT, "facts": oracle_display(report.oracle)}
    confidence = report.info["method"]["confidence"]
    return env.get_template("validation.html.j2").render(
        title=_title(report),
        status=report.status,
        facts=_facts(report),
        reading=READING,
        checks=_cells(report.checks),
        models=_cells(models_display(report.models, confidence)),
        comparisons=(
            _cells(comparisons_display(report.comparisons, confidence)) if not report.comparisons.empty else None
        ),
        calibration=_cells(_present(report.calibration, CALIBRATION_COLUMNS)),
        challenger_calibration=(
            _cells(_present(report.challenger_calibration, CALIBRATION_COLUMNS))
            if report.challenger_calibration is not None
            else None
        ),
        calibration_chart=calibration_chart(report.calibration),
        gini_chart=gini_chart(report.models, report.info["method"]["min_gini"]),
        pd_floor={
            "text": f"Minimum PD on the OOT sample {format_pd(floor['min_pd'])}; {floor['rows_below']:,} rows "
            f"({floor['share_below']:.2%}) below the floor of {format_pd(floor['floor'])}.",
            "status": floor["status"],
        },
        stability=_cells(report.stability),
        oracle=oracle,
        notes=report.notes,
        colours=LIGHT_COLOURS,
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_report(report: ValidationReport, out: str | Path) -> dict[str, Path]:
    """Write report.md, report.html, the tables as CSV and metrics.json into ``out``; returns the paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "report.md", "html": folder / "report.html", "json": folder / "metrics.json"}
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    tables = {
        "models": report.models,
        "comparisons": report.comparisons,
        "calibration": report.calibration,
        "challenger_calibration": report.challenger_calibration,
        "stability": report.stability,
        "checks": report.checks,
    }
    for name, table in tables.items():
        if table is not None:
            paths[name] = folder / f"{name}.csv"
            table.to_csv(paths[name], index=False)
    summary = {
        "status": report.status,
        "metrics": report.metrics(),
        "info": report.info,
        "pd_floor": report.pd_floor,
        "oracle": report.oracle,
        "notes": report.notes,
    }
    paths["json"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=_json_default), encoding="utf-8")
    return paths


def log_report(
    report: ValidationReport,
    folder: str | Path,
    *,
    run_id: str,
    model_name: str | None = None,
    version: str | None = None,
    once: bool = False,
    mlflow_client: Any = None,
) -> None:
    """Log ``folder`` (from :func:`write_report`) to run ``run_id`` under ``validation/``, the key
    figures as metrics and the status as run tags (and as model-version tags when ``version`` is given).

    Args:
        once: log only metrics the run lacks (:func:`models.tracking.log_metrics_once`: a retried
            training adds nothing twice); otherwise log the new values (a re-validation).
        mlflow_client: the store's client (default: ``MlflowClient()`` of the current tracking URI).
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag
    from mlflow.utils.time import get_current_time_millis

    from models.tracking import log_metrics_once

    client = mlflow_client or MlflowClient()
    client.log_artifacts(run_id, str(folder), artifact_path=ARTIFACT_PATH)
    metrics = report.metrics()
    if once:
        log_metrics_once(run_id, metrics)
    else:
        now = get_current_time_millis()
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(metrics.items())])
    tags = report.tags()
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    if model_name and version:
        summary = "; ".join(f"{r['check']} {r['status']}: {r['value']}" for r in report.checks.to_dict("records"))
        for key, value in {"validation.status": report.status, "validation.summary": summary}.items():
            client.set_model_version_tag(model_name, str(version), key, value[:4900])


def report_training(models: dict[str, Any], fitted: dict[str, tuple[dict, Any]], data: Any, config: Any) -> None:
    """The validation report of every model a training logged, into its run (training calls this).

    Args:
        models: kind -> :class:`models.train.ModelResult` (run id, registered version).
        fitted: kind -> ``(state, Evaluation)`` as training computed them.
        data: the :class:`models.data.TrainingData` (ids and dates of the OOT rows).
        config: the :class:`models.config.ModelConfig`.

    Each model's challenger is the next other kind of the same training, scored on the same rows.
    No oracle (training reads no simulator truth: ``riskpipe validate`` adds it). Metrics are logged
    once (:func:`models.tracking.log_metrics_once`), so a retried training adds nothing twice.
    """
    import tempfile
    from datetime import datetime

    from models.validation import validation_report

    dates = pd.to_datetime(data.valid[config.data.date_col])
    source = data.source
    labels = {kind: f"v{result.version or '-'} {kind}" for kind, result in models.items()}
    for kind, result in models.items():
        state, evaluation = fitted[kind]
        others = [k for k in models if k != kind]
        info = {
            "model": {"name": config.name, "version": result.version or "-", "kind": kind, "run_id": result.run_id},
            "data": {
                **{k: source.get(k) for k in ("table", "version", "label_table", "label_version", "split_date")},
                "oot_snapshots": f"{dates.min().date()}..{dates.max().date()}",
                "rows_oot": len(data.valid),
            },
            "origin": "training",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        report = validation_report(
            evaluation,
            info=info,
            features=list(state["features"]),
            config=config.validation,
            ids=data.valid[config.data.id_col].to_numpy(),
            challenger=(labels[others[0]], fitted[others[0]][1]) if others else None,
        )
        with tempfile.TemporaryDirectory() as tmp:
            write_report(report, tmp)
            log_report(
                report,
                tmp,
                run_id=result.run_id,
                model_name=config.name if result.version else None,
                version=result.version,
                once=True,
            )
