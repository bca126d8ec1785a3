"""The study behind ``conf/early_warnings.yaml`` and ``docs/early_warnings.md`` (issue 31): candidate
signals screened on a tuning portfolio, tiers combined from them, and the catalogue measured on
portfolios its thresholds were not set on. The lakehouses are only read.

Commands (from the repository root, ``PYTHONPATH=.``)::

    python -m riskpipe.warning_study screen --lakehouse TUNING_ROOT --out var/warning_study/tuning
    python -m riskpipe.warning_study combine --study var/warning_study/tuning --signals ELEC_DROP30_2 COURT_ANY_12M ...
    python -m riskpipe.warning_study measure --portfolio tuning=TUNING_ROOT \\
        --portfolio demo=var --portfolio second=SECOND_ROOT --write docs/early_warnings.md

``screen`` replays every candidate of :func:`candidates` (and the catalogue's own signals) with
``jobs.post_loan.warning_evaluation`` on the portfolio's evaluation window (the 12 month-ends whose horizon
is observed), and writes the per-candidate table (``screen.csv``) with the per-borrower first
warnings (``counted.parquet``) and outcomes (``outcomes.parquet``) that ``combine`` unions offline
(pandas) to size a severity tier. ``measure`` judges the catalogue in ``conf/`` on each portfolio
(``jobs.post_loan.warning_evaluation.run``) and writes the Markdown tables with the portfolio, seed and
window each figure comes from. Re-run ``measure`` after re-scoring: PD/grade signals read
``risk_scores`` as stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jobs.post_loan.early_warnings import Signal

HORIZON_NOTE = "12-month horizon"


def _grid(prefix: str, template: str, values: Iterable[Any], evidence: Sequence[str]) -> list[Signal]:
    out = []
    for value in values:
        tag = str(value).replace("-", "M").replace(".", "")
        out.append(
            Signal(f"{prefix}_{tag}", template.format(v=value), "low", template.format(v=value), tuple(evidence))
        )
    return out


def candidates() -> list[Signal]:
    """The candidate signals screened: each feature family at a few thresholds, persistence
    (the same condition on the previous month-end too) and master-scale grade levels."""
    c: list[Signal] = []
    c += _grid("ELEC_DROP30", "util_elec_drop30_streak >= {v}", (1, 2, 3, 4, 6), ["util_elec_drop30_streak"])
    c += _grid("ELEC_DECLINE", "util_elec_decline_streak >= {v}", (3, 4, 6, 9), ["util_elec_decline_streak"])
    c += _grid("ELEC_YOY3", "util_elec_yoy_3m <= {v}", (0.5, 0.6, 0.7, 0.8, 0.9), ["util_elec_yoy_3m"])
    c += _grid("ELEC_YOY1", "util_elec_yoy_1m <= {v}", (0.3, 0.5, 0.7), ["util_elec_yoy_1m"])
    c += _grid(
        "ELEC_YOY3_2M",
        "util_elec_yoy_3m <= {v} AND prev_util_elec_yoy_3m <= {v}",
        (0.6, 0.7, 0.8, 0.9),
        ["util_elec_yoy_3m"],
    )
    c += _grid("ELEC_ZERO_12M", "util_elec_zero_months_12m >= {v}", (1, 2), ["util_elec_zero_months_12m"])
    c += [Signal("ELEC_ZERO", "zero electricity", "low", "util_elec_kwh_1m = 0")]
    c += _grid("WATER_YOY3", "util_water_yoy_3m <= {v}", (0.6, 0.8), ["util_water_yoy_3m"])
    c += _grid("UTIL_UNPAID", "util_unpaid_bills_12m >= {v}", (1, 2, 3), ["util_unpaid_bills_12m"])
    c += [
        Signal("UTIL_ARREARS", "utility arrears", "low", "util_arrears_latest > 0"),
        Signal(
            "UTIL_NEW_ARREARS",
            "new utility arrears",
            "low",
            "util_arrears_latest > 0 AND coalesce(prev_util_arrears_latest, 0) = 0",
        ),
    ]
    c += _grid("TAX_G3", "tax_sales_growth_3m <= {v}", (-0.2, -0.3, -0.4, -0.5, -0.6, -0.7), ["tax_sales_growth_3m"])
    c += _grid(
        "TAX_G3_2M",
        "tax_sales_growth_3m <= {v} AND prev_tax_sales_growth_3m <= {v}",
        (-0.2, -0.3, -0.4),
        ["tax_sales_growth_3m"],
    )
    c += _grid("TAX_G6", "tax_sales_growth_6m <= {v}", (-0.2, -0.3, -0.4, -0.5), ["tax_sales_growth_6m"])
    c += _grid("TAX_G12", "tax_sales_growth_12m <= {v}", (-0.1, -0.2, -0.3), ["tax_sales_growth_12m"])
    c += _grid("TAX_LATE", "tax_months_since_last_filing >= {v}", (3, 4), ["tax_months_since_last_filing"])
    c += _grid("TAX_MISSED_12M", "tax_missed_filings_12m >= {v}", (1, 2), ["tax_missed_filings_12m"])
    c += _grid("TAX_ZERO_12M", "tax_zero_filings_12m >= {v}", (1, 2, 3), ["tax_zero_filings_12m"])
    # arrears against the tax paid over a year: a level, not the mere presence of arrears
    c += _grid(
        "TAX_ARREARS_RATIO",
        "tax_arrears_latest > 0 AND tax_arrears_latest >= {v} * tax_vat_paid_12m",
        (0.05, 0.1, 0.2, 0.5, 1.0),
        ["tax_arrears_latest", "tax_vat_paid_12m"],
    )
    c += _grid(
        "UTIL_ARREARS_RATIO",
        "util_arrears_latest > 0 AND util_arrears_latest >= {v} * util_bill_amount_3m",
        (0.1, 0.25, 0.5, 1.0),
        ["util_arrears_latest", "util_bill_amount_3m"],
    )
    c += [
        Signal("TAX_ARREARS", "tax arrears", "low", "tax_arrears_latest > 0"),
        Signal(
            "TAX_NEW_ARREARS",
            "new tax arrears",
            "low",
            "tax_arrears_latest > 0 AND coalesce(prev_tax_arrears_latest, 0) = 0",
        ),
        Signal("TAX_PENALTIES", "tax penalties", "low", "tax_penalties_12m > 0"),
        Signal("TAX_AMENDED", "amended filings", "low", "tax_amendments_12m >= 1"),
        Signal("TAX_RATING_CD", "tax rating C or D", "low", "tax_rating IN ('C', 'D')"),
        Signal("TAX_RATING_D", "tax rating D", "low", "tax_rating = 'D'"),
        Signal("TAX_RATING_M_PLUS", "tax rating M or worse", "low", "tax_rating_ordinal >= 3"),
    ]
    c += [
        Signal(
            "COURT_NEW_CASE",
            "new defendant case",
            "low",
            "court_days_since_last_defendant_case <= 31 OR court_defendant_cases_24m > prev_court_defendant_cases_24m",
        ),
        Signal("COURT_LOAN_DISPUTE_12M", "loan dispute", "low", "court_loan_dispute_cases_12m >= 1"),
        Signal("COURT_LABOUR_12M", "labour case", "low", "court_labour_cases_12m >= 1"),
        Signal("COURT_CONTRACT_12M", "contract case", "low", "court_contract_cases_12m >= 1"),
        Signal("COURT_ENFORCEMENT", "enforcement", "low", "court_active_enforcements > 0"),
        Signal("COURT_DISHONEST", "dishonest debtor", "low", "court_dishonest_listed"),
    ]
    c += _grid("COURT_CASES_12M", "court_defendant_cases_12m >= {v}", (1, 2), ["court_defendant_cases_12m"])
    c += _grid(
        "COURT_CASE_DAYS",
        "court_days_since_last_defendant_case <= {v}",
        (92, 183),
        ["court_days_since_last_defendant_case"],
    )
    c += _grid("INFLOW_TREND", "txn_inflow_trend_3m <= {v}", (0.4, 0.5, 0.6, 0.7, 0.8), ["txn_inflow_trend_3m"])
    c += _grid(
        "INFLOW_TREND_2M",
        "txn_inflow_trend_3m <= {v} AND prev_txn_inflow_trend_3m <= {v}",
        (0.6, 0.7, 0.8),
        ["txn_inflow_trend_3m"],
    )
    c += _grid("TXN_INACTIVE", "txn_inactive_days_3m >= {v}", (20, 30, 45), ["txn_inactive_days_3m"])
    c += _grid("TXN_SILENT", "txn_days_since_last >= {v}", (15, 30), ["txn_days_since_last"])
    c += _grid("TXN_CASH", "txn_cash_withdrawal_share_3m >= {v}", (0.15, 0.2, 0.3), ["txn_cash_withdrawal_share_3m"])
    c += _grid("TXN_NET_OUT", "txn_net_flow_ratio_12m <= {v}", (-0.05, -0.1, -0.2), ["txn_net_flow_ratio_12m"])
    c += _grid("TXN_HHI", "txn_inflow_hhi_3m >= {v}", (0.3, 0.5), ["txn_inflow_hhi_3m"])
    c += _grid("CONS_SALES_INFLOW", "cons_sales_to_inflow_3m >= {v}", (1.5, 2.0), ["cons_sales_to_inflow_3m"])
    c += _grid(
        "CONS_GAP", "cons_elec_vs_sales_growth_gap_3m <= {v}", (-0.3, -0.5), ["cons_elec_vs_sales_growth_gap_3m"]
    )
    c += _grid("LOAN_UTIL", "loan_utilisation >= {v}", (0.95, 0.99), ["loan_utilisation"])
    c += _grid("GRADE", "grade_num >= {v}", (5, 6, 7, 8, 9, 10), ["grade_num"])
    # the grade of D and the best grade of the three month-ends before it: four months at that level
    c += _grid("GRADE_HELD", "grade_num >= {v} AND grade_num - grade_jump_3m >= {v}", (6, 7, 8, 9), ["grade_num"])
    c += _grid("GRADE_JUMP", "grade_jump_3m >= {v}", (1, 2, 3), ["grade_jump_3m"])
    # days past due and its history are the default process itself
    c += [
        Signal("DPD_ANY", "past due", "low", "days_past_due > 0", past_due=True),
        Signal("DPD_HISTORY_12M", "past due in the last 12 months", "low", "loan_max_dpd_12m > 0", past_due=True),
        Signal("LOAN_RESTRUCTURED", "restructured", "low", "loan_restructured", past_due=True),
    ]
    return c


# --------------------------------------------------------------------------------------------- spark side


def _settings(root: str):
    from riskpipe.core.config import load_settings

    base = Path(root)
    lakehouse = base / "lakehouse" if (base / "lakehouse").is_dir() else base
    return load_settings().replace(lakehouse_root=str(lakehouse))


def _last_snapshot(spark, settings) -> dt.date:
    from pyspark.sql import functions as F

    from riskpipe.core import io

    return io.read(spark, "enterprise_features", settings=settings).agg(F.max("snapshot_date")).first()[0]


def screen(root: str, out: str, *, extra: Sequence[Signal] = ()) -> Path:
    """Replay the candidates (and ``extra`` signals) on ``root``'s evaluation window; write
    ``screen.csv``, ``counted.parquet``, ``outcomes.parquet`` and ``meta.json`` under ``out``."""
    from pyspark.sql import functions as F

    from jobs.post_loan.warning_evaluation import (
        HORIZON_MONTHS,
        catalogue_frame,
        classifier_table,
        counted_warnings,
        outcomes,
        replay,
        window_ending,
    )
    from riskpipe.core import io
    from riskpipe.core.spark import get_spark

    settings = _settings(root)
    spark = get_spark(settings=settings, app_name="riskpipe-warning-study")
    last_day = _last_snapshot(spark, settings)
    first, last = window_ending(last_day)
    seen, signals = set(), []
    for s in list(extra) + list(candidates()):  # a catalogue signal keeps its id
        if s.id not in seen:
            seen.add(s.id)
            signals.append(s)
    warnings, loans = replay(spark, first, last, signals=signals, settings=settings)
    labels = io.read(spark, "default_labels", settings=settings).where(
        F.col("snapshot_date").between(F.lit(first), F.lit(last))
    )
    population = outcomes(loans, labels, first=first, last=last).cache()
    catalogue = catalogue_frame(spark, signals)
    counted = counted_warnings(population, warnings, catalogue, first=first, last=last).cache()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    population.toPandas().to_parquet(folder / "outcomes.parquet")
    counted.toPandas().to_parquet(folder / "counted.parquet")
    table = classifier_table(population, counted, catalogue).toPandas()
    table.to_csv(folder / "screen.csv", index=False)
    conditions = {s.id: s.condition for s in signals}
    (folder / "meta.json").write_text(
        json.dumps(
            {
                "lakehouse": settings.lakehouse_root,
                "window": f"{first}..{last}",
                "horizon_months": HORIZON_MONTHS,
                "conditions": conditions,
            },
            indent=1,
        )
    )
    return folder


# -------------------------------------------------------------------------------------------- pandas side


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson interval of a proportion k/n (None when n is 0)."""
    if not n:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def tier(counted, population, signal_ids: Sequence[str]) -> dict[str, Any]:
    """Hit rate, false-alarm rate, lift and median lead of the union of ``signal_ids``
    (``counted.parquet`` and ``outcomes.parquet`` of :func:`screen`)."""
    import pandas as pd

    chosen = counted[counted["signal_id"].isin(list(signal_ids))]
    per = chosen.groupby(["uscc", "outcome"], as_index=False)["lead_months"].max()
    n_def = int((population["outcome"] == "defaulter").sum())
    n_perf = int((population["outcome"] == "performing").sum())
    hits = per[per["outcome"] == "defaulter"]
    alarms = int((per["outcome"] == "performing").sum())
    hit_rate = len(hits) / n_def if n_def else None
    fa_rate = alarms / n_perf if n_perf else None
    return {
        "signals": len(signal_ids),
        "defaulters": n_def,
        "warned_defaulters": len(hits),
        "hit_rate": hit_rate,
        "performing": n_perf,
        "warned_performing": alarms,
        "false_alarm_rate": fa_rate,
        "lift": hit_rate / fa_rate if hit_rate is not None and fa_rate else None,
        "median_lead_months": float(hits["lead_months"].median()) if len(hits) else None,
        "lead_6m_plus": int((hits["lead_months"] >= 6).sum()) if len(hits) else 0,
        "unwarned": sorted(set(population.loc[population["outcome"] == "defaulter", "uscc"]) - set(hits["uscc"]))
        if isinstance(population, pd.DataFrame)
        else [],
    }


def greedy_tier(
    counted, population, pool: Sequence[str], *, max_false_alarm_rate: float, min_median_lead: float, max_steps: int = 8
) -> list[dict[str, Any]]:
    """Grow a tier from ``pool`` one signal at a time: each step adds the signal warning the most
    defaulters not yet warned per performing borrower newly warned, among those keeping the tier
    within ``max_false_alarm_rate`` and ``min_median_lead``; at most one threshold per family (the id
    without its last ``_<value>``). Returns the tier after each step (:func:`tier` plus ``added``)."""
    chosen: list[str] = []
    steps = []

    def family(sid: str) -> str:
        head, _, tail = sid.rpartition("_")
        return head if head and tail.replace("M", "").isdigit() else sid

    current = tier(counted, population, chosen)
    for _ in range(max_steps):
        best, best_score = None, 0.0
        for sid in pool:
            if sid in chosen or family(sid) in {family(c) for c in chosen}:
                continue
            trial = tier(counted, population, chosen + [sid])
            if trial["false_alarm_rate"] is None or trial["false_alarm_rate"] > max_false_alarm_rate:
                continue
            if trial["median_lead_months"] is None or trial["median_lead_months"] < min_median_lead:
                continue
            gained = trial["warned_defaulters"] - current["warned_defaulters"]
            cost = trial["warned_performing"] - current["warned_performing"]
            score = gained / (cost + 1.0)
            if gained > 0 and score > best_score:
                best, best_score = sid, score
        if best is None:
            break
        chosen.append(best)
        current = tier(counted, population, chosen)
        steps.append({"added": best, **{k: v for k, v in current.items() if k != "unwarned"}})
    return steps


def load_study(folder: str):
    import pandas as pd

    base = Path(folder)
    return (
        pd.read_parquet(base / "counted.parquet"),
        pd.read_parquet(base / "outcomes.parquet"),
        json.loads((base / "meta.json").read_text()),
    )


# ---------------------------------------------------------------------------------------------- measure


def _portfolio_meta(root: str) -> dict[str, Any]:
    summary = Path(root) / "landing" / "manifest" / "summary.json"
    if not summary.exists():
        return {}
    config = json.loads(summary.read_text()).get("config", {})
    return {k: config.get(k) for k in ("enterprises", "seed", "start", "months")}


def measure(portfolios: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """``jobs.post_loan.warning_evaluation.run`` of the catalogue in conf/ on each (name, root) portfolio."""
    from jobs.post_loan.warning_evaluation import run
    from riskpipe.core.spark import get_spark

    results = []
    for name, root in portfolios:
        settings = _settings(root)
        spark = get_spark(settings=settings, app_name="riskpipe-warning-study")
        as_of = _last_snapshot(spark, settings)
        result = run(as_of, settings=settings, spark=spark)
        results.append({"name": name, "root": root, "as_of": str(as_of), **_portfolio_meta(root), **result})
    return results


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def _ci(k: int, n: int) -> str:
    interval = wilson(k, n)
    return "–" if interval is None else f"{interval[0]:.0%}–{interval[1]:.0%}"


def _num(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:g}"


def markdown_tables(result: dict[str, Any]) -> str:
    """One portfolio's figures: the targets, the severity block, the signals, the past-due block."""
    head = (
        "| {} | warned defaulters | hit rate (95% CI) | warned performing | false-alarm rate (95% CI) | lift "
        "| median lead (months) |\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    if result.get("targets"):
        checks = "; ".join(
            f"{c['metric']} {c['target']}: "
            f"{_pct(c['value']) if c['metric'].endswith('rate') else _num(c['value'])} "
            f"{'met' if c['met'] else '**not met**'}"
            for c in result["targets"]
        )
        lines.append(f"Targets (high and worse): {checks}.\n")
    for block, title in (
        ("severity", "minimum severity"),
        ("signal", "signal"),
        ("past_due", "past-due signal"),
        ("with_past_due", "minimum severity, past due included (the watch list)"),
    ):
        rows = [r for r in result["rows"] if r["block"] == block]
        table = head.format(title)
        for r in rows:
            name = (
                r["signal"] if block in ("severity", "with_past_due") else f"{r['signal']} ({r['severity'] or 'any'})"
            )
            table += (
                f"| {name} | {r['warned_defaulters']}/{r['defaulters']} | {_pct(r['hit_rate'])} "
                f"({_ci(r['warned_defaulters'], r['defaulters'])}) | {r['warned_performing']}/{r['performing']} "
                f"| {_pct(r['false_alarm_rate'])} ({_ci(r['warned_performing'], r['performing'])}) "
                f"| {_num(r['lift'])} | {_num(r['median_lead_months'])} |\n"
            )
        lines.append(table)
    return "\n".join(lines)


BEGIN, END = "<!-- measured:begin -->", "<!-- measured:end -->"


def _history_note(history: dict[str, Any] | None) -> str:
    if not history:
        return ""
    state = "**leads capped**" if history["lead_censored"] else "leads not capped"
    return (
        f"History: a lead is measured from {history['needed_from']}; features from {history['features_from']}, "
        f"scores from {history['scores_from']} ({state})."
    )


def measured_markdown(results: Sequence[dict[str, Any]]) -> str:
    """The measured section of docs/early_warnings.md: one heading and table set per portfolio."""
    parts = []
    for r in results:
        counts = r["borrowers"]
        parts.append(
            f"### {r['name']}: {r.get('enterprises')} enterprises, seed {r.get('seed')}\n\n"
            f"Window {r['window']} (as of {r['as_of']}), catalogue `{r['catalogue_version']}`: "
            f"{counts['defaulter']} defaulters, {counts['performing']} performing borrowers; left out "
            f"{counts['later_default']} defaulting in the 12 months after the window and {counts['censored']} "
            f"not observed 12 months. Source: `{r['root']}`. {_history_note(r.get('history'))}\n\n" + markdown_tables(r)
        )
    return "\n".join(parts)


def write_doc(path: str, results: Sequence[dict[str, Any]]) -> None:
    """Replace the text between :data:`BEGIN` and :data:`END` in ``path`` with the measured tables."""
    text = Path(path).read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(path).write_text(f"{head}{BEGIN}\n{measured_markdown(results)}\n{END}{tail}", encoding="utf-8")


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskpipe.warning_study", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("screen")
    p.add_argument("--lakehouse", required=True, help="portfolio root (holding lakehouse/) or the lakehouse itself")
    p.add_argument("--out", required=True)
    p.add_argument("--extra", nargs="*", default=[], help="more candidates: catalogue-format YAML files")
    p = sub.add_parser("combine")
    p.add_argument("--study", required=True)
    p.add_argument("--signals", nargs="+", required=True)
    p = sub.add_parser("measure")
    p.add_argument("--portfolio", action="append", required=True, help="name=root")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--write", help="replace the measured section of this Markdown file (docs/early_warnings.md)")
    args = parser.parse_args(argv)
    if args.command == "screen":
        from jobs.post_loan.early_warnings import load_catalogue
        from riskpipe.core.config import resolve_path

        extra = [s for path in [resolve_path("conf/early_warnings.yaml"), *args.extra] for s in load_catalogue(path)]
        print(screen(args.lakehouse, args.out, extra=extra))
    elif args.command == "combine":
        counted, population, _ = load_study(args.study)
        print(json.dumps(tier(counted, population, args.signals), indent=1, default=str))
    else:
        results = measure([tuple(p.split("=", 1)) for p in args.portfolio])
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        if args.write:
            write_doc(args.write, results)
        print(measured_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
