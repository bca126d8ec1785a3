"""Artifacts of a trained model: plots, tables and the Markdown model card.

Plots use matplotlib's Agg backend (no display). Everything is written to a folder that the
trainer logs to the MLflow run with ``mlflow.log_artifacts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.evaluate import Evaluation, psi_status


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)


def write_plots(evaluation: Evaluation, out: Path, title: str) -> None:
    """roc.png, ks.png, calibration.png and score_distribution.png into ``out``."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    oot = evaluation.scored["oot"]
    fpr, tpr, _ = roc_curve(oot["y"], oot["pd"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"OOT AUC {evaluation.metrics['oot_auc']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    ax.legend(loc="lower right")
    _save(fig, out / "roc.png")

    order = np.argsort(-oot["pd"].to_numpy(), kind="stable")
    y = oot["y"].to_numpy()[order]
    cum_bad, cum_good = np.cumsum(y) / max(y.sum(), 1), np.cumsum(1 - y) / max((1 - y).sum(), 1)
    share = np.arange(1, len(y) + 1) / len(y)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(share, cum_bad, label="defaults")
    ax.plot(share, cum_good, label="non-defaults")
    ax.set(
        xlabel="share of population (riskiest first)",
        ylabel="cumulative share",
        title=f"KS {evaluation.metrics['oot_ks']:.3f} — {title}",
    )
    ax.legend(loc="lower right")
    _save(fig, out / "ks.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, table in evaluation.grades.items():
        filled = table[table["count"] > 0]
        ax.plot(filled["grade"], filled["default_rate"], marker="o", label=f"{name} default rate")
        ax.plot(filled["grade"], filled["mean_pd"], marker="x", linestyle="--", label=f"{name} mean PD")
    ax.set(xlabel="grade", ylabel="rate", yscale="log", title=f"Calibration by grade — {title}")
    ax.legend()
    _save(fig, out / "calibration.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, frame in evaluation.scored.items():
        ax.hist(frame["score"], bins=30, alpha=0.5, density=True, label=name)
    ax.set(
        xlabel="score",
        ylabel="density",
        title=f"Score distribution (PSI {evaluation.metrics['psi_score']:.3f}) — {title}",
    )
    ax.legend()
    _save(fig, out / "score_distribution.png")


def write_tables(evaluation: Evaluation, out: Path, extra: dict[str, pd.DataFrame]) -> None:
    """grades_train.csv, grades_oot.csv, stability.csv and every ``extra`` table as CSV."""
    for name, table in evaluation.grades.items():
        table.to_csv(out / f"grades_{name}.csv", index=False)
    evaluation.stability.to_csv(out / "stability.csv", index=False)
    for name, table in extra.items():
        table.to_csv(out / f"{name}.csv", index=False)


def _markdown(table: pd.DataFrame, digits: int = 4) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join(
        "| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
        for row in table.itertuples(index=False)
    )
    return header + body


def model_card(
    *,
    kind: str,
    name: str,
    evaluation: Evaluation,
    source: dict[str, Any],
    params: dict[str, str],
    features: list[str],
    reasons: dict[str, str],
    champion_note: str = "",
) -> str:
    """The Markdown model card: data versions, parameters, metrics, calibration, limitations."""
    m = evaluation.metrics
    key = ["auc", "gini", "ks", "brier", "log_loss", "default_rate", "mean_pd", "ece", "max_grade_gap", "rows"]
    metrics = pd.DataFrame(
        [
            {"metric": k, "train": m.get(f"train_{k}", float("nan")), "out_of_time": m.get(f"oot_{k}", float("nan"))}
            for k in key
        ]
    )
    data = "\n".join(f"- **{k}**: {v}" for k, v in source.items())
    used = ", ".join(f"`{f}`" for f in features)
    reason_lines = "\n".join(f"- `{code}`: {text}" for code, text in reasons.items())
    param_lines = "\n".join(f"- `{k}` = {v}" for k, v in sorted(params.items()))
    return f"""# Model card — {name} ({kind})

## Purpose
12-month probability of default (PD), score, master-scale grade and three reason codes for SME
borrowers of the bank–government cooperation product. Input to credit decisions, never a decision.

## Data
{data}

Out-of-time validation: trained on snapshots before the split date, validated on snapshots on or after it.

## Features used
{used}

## Metrics
{_markdown(metrics)}
PSI of the score, train vs out of time: {m["psi_score"]:.4f} ({psi_status(m["psi_score"])}).
{champion_note}

## Calibration by grade (out of time)
Jeffreys test per grade (`models.backtest`): {m.get("oot_grades_green", 0):.0f} green,
{m.get("oot_grades_amber", 0):.0f} amber, {m.get("oot_grades_red", 0):.0f} red of
{m.get("oot_grades_tested", 0):.0f} populated grades; lowest served PD {m.get("oot_min_pd", float("nan")):.4%}.

{_markdown(evaluation.grades["oot"])}

## Stability (PSI train vs out of time)
{_markdown(evaluation.stability)}

## Reason codes
{reason_lines}

## Parameters
{param_lines}

## Limitations
- Trained on the snapshots and data version above only; a portfolio, product or policy change
  (e.g. a new government recommendation policy, a COVID-like shock) needs re-validation.
- PD is calibrated on the {params.get("calibration.fit_on", "train")} sample; grades with few
  rows have noisy observed default rates.
- Reason codes explain the model, not causality; LightGBM reasons are SHAP values in log-odds.
- The training frame is collected to one machine (`data.max_rows`).
"""
