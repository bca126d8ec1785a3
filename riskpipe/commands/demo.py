"""``riskpipe demo``: the whole pipeline end to end on the embedded default stack.

Steps (each prints progress): simulate the five sources, ingest them into
bronze/silver (a backfill in batches of bounded size), run one ingestion DAG through
Airflow's ``dag.test()``, then the later stages (features, training, scoring, report).

Every pipeline step runs stages declared in :mod:`riskpipe.pipeline` (the ones the DAGs and the
test fixture run), in their declared order; the demo only chooses what each works on.

The settings are loaded once and passed to every step, with the Spark session started from them:
the steps that hand over to an Airflow process stop the session first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskpipe import pipeline

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from riskpipe.core.config import Settings

DEMO_ENTERPRISES = 600
DEMO_MONTHS = 48
DEMO_START = "2018-01"
DEMO_SEED = 20181
MONITORED_MONTHS = 12


def _step(title: str):
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f"    done in {time.perf_counter() - started:.1f} s", flush=True)


def _simulate(args: argparse.Namespace, landing: Path) -> None:
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    config = SimConfig(enterprises=args.enterprises, months=args.months, seed=args.seed, start=args.start)
    summary = simulate(config, landing)
    print(f"    rows per source: {json.dumps(summary.get('rows_per_source', {}))}", flush=True)
    print(f"    injected defects: {json.dumps(summary.get('defects_per_type', {}))}", flush=True)


def _window(args: argparse.Namespace) -> tuple[str, str, str]:
    """(first day, first day after the simulated window, first day after the last delivery)."""
    first = dt.date.fromisoformat(f"{args.start}-01")
    months = first.year * 12 + first.month - 1 + args.months
    end = dt.date(months // 12, months % 12 + 1, 1)
    # monthly feeds deliver the window's last period one month later
    last_delivery = dt.date((months + 1) // 12, (months + 1) % 12 + 1, 1)
    return first.isoformat(), end.isoformat(), last_delivery.isoformat()


def _ingest_history(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> None:
    """Backfill the whole window per source, in batches of bounded size (what a first load does):
    the stage ``ingest_<source>`` of each batch of ``jobs.ingest.backfill.backfill_intervals``."""
    from jobs.ingest.backfill import backfill_intervals
    from jobs.ingest.run import as_date
    from riskpipe.commands import progress, say

    start, end, _ = _window(args)
    for source in pipeline.SOURCES:
        began = time.perf_counter()
        intervals = backfill_intervals(source, as_date(start), as_date(end), settings=settings)
        for interval in progress(f"ingest {source}", "batch")(intervals):
            batch = pipeline.RunContext(interval=interval)
            summary = pipeline.run(pipeline.ingest_stage_name(source), batch, settings=settings, spark=spark)
            counts = {k: summary.get(k) for k in ("rows_read", "rows_published", "rows_quarantined", "rows_duplicate")}
            first, last = summary.get("interval", (start, end))
            say(f"    {source:14s} {first}..{last} {counts} {time.perf_counter() - began:.0f}s")


def _ingest_with_airflow(args: argparse.Namespace) -> None:
    """The last monthly deliveries go through the Airflow DAGs (dag.test on the SQLite metadata DB)."""
    _, end, last_delivery = _window(args)
    cmd = [
        sys.executable,
        "-m",
        "riskpipe.cli",
        "airflow",
        "run",
        "ingest_tax",
        "ingest_utility",
        "ingest_fund",
        "--start",
        end,
        "--end",
        last_delivery,
    ]
    print("    " + " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def feature_snapshots(args: argparse.Namespace) -> list[dt.date]:
    """The month-ends the full feature build covers: the first year is history for the 12-month
    lookbacks, so the snapshots start after it and run to the window's last month."""
    from riskpipe.core.calendar import month_ends

    first = dt.date.fromisoformat(f"{args.start}-01")
    return month_ends(dt.date(first.year + 1, first.month, 1), _last_snapshot(args))


def _features(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> None:
    """The stage ``features``: every snapshot of :func:`feature_snapshots` built in full."""
    full = pipeline.RunContext(snapshots=tuple(feature_snapshots(args)), full=True)
    summary = pipeline.run("features", full, settings=settings, spark=spark)
    print(
        f"    snapshots {summary.get('snapshot_months', [])[:1]}..{summary.get('snapshot_months', [])[-1:]}"
        f" rows {summary.get('rows')}",
        flush=True,
    )


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The demo's model configuration: the out-of-time split of its window."""
    first = dt.date.fromisoformat(f"{args.start}-01")
    months = first.year * 12 + first.month - 1 + args.months
    # labels need 12 observed months: the last uncensored snapshot is a year before the end;
    # the out-of-time sample is its last six months
    split_months = months - 12 - 6
    split = dt.date(split_months // 12, split_months % 12 + 1, 1)
    return {"data": {"split_date": split.isoformat()}}


def _train_and_promote(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> None:
    """The stages ``train`` (the scorecard and LightGBM candidates) and ``promote`` (the gate)."""
    training = pipeline.RunContext(model=model_overrides(args))
    result = pipeline.run("train", training, settings=settings, spark=spark)
    print(f"    trained {result}"[:600], flush=True)
    decision = pipeline.run("promote", training, settings=settings, spark=spark)
    print(f"    promotion gate: passed={decision.passed} reasons={decision.reasons}", flush=True)


def _train(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> bool:
    """Train and promote; returns whether a champion exists to score with."""
    from models.config import model_config
    from models.registry import champion_version

    _train_and_promote(args, settings, spark)
    return champion_version(model_config(settings, model_overrides(args))) is not None


def _last_snapshot(args: argparse.Namespace) -> dt.date:
    first = dt.date.fromisoformat(f"{args.start}-01")
    months = first.year * 12 + first.month - 1 + args.months
    return dt.date(months // 12, months % 12 + 1, 1) - dt.timedelta(days=1)


def scored_snapshots(args: argparse.Namespace) -> list[dt.date]:
    """The month-ends the demo scores: the last three years of the window.

    The monitored year, the year the warning back-test judges (its 12-month outcome is observed) and
    the year before that: a default early in the judged year counts warnings up to 12 months before
    it, and PD and grade signals fire only on scored month-ends, so a shorter history would cap their
    lead at the first scored month (``warning_evaluation.backtest``'s ``lead_censored``).
    """
    from riskpipe.core.calendar import add_months, month_ends

    last = _last_snapshot(args)
    return month_ends(add_months(last, -MONITORED_MONTHS * 3 + 1), last)


def _score_history(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> None:
    """The stages ``score`` of :func:`scored_snapshots` but the last month and ``post_loan`` of the
    last year but one month (what a first deployment backfills)."""
    scored = scored_snapshots(args)
    summary = pipeline.run("score", pipeline.RunContext(snapshots=tuple(scored[:-1])), settings=settings, spark=spark)
    print(
        f"    backfilled {summary['rows']} borrower-months {scored[0]}..{scored[-2]} with "
        f"{summary['model_name']} v{summary['model_version']}",
        flush=True,
    )
    monitored = pipeline.RunContext(snapshots=tuple(scored[-MONITORED_MONTHS:-1]))
    result = pipeline.run("post_loan", monitored, settings=settings, spark=spark)
    print(
        f"    monitored {scored[-MONITORED_MONTHS]}..{scored[-2]}: {result['warnings']} warnings on "
        f"{result['loans_warned']} loans on {scored[-2]}",
        flush=True,
    )


def _score_and_monitor(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Backfill the scores of the last three years and the monitoring of the last year but one month,
    then the last month the way production does it: through the Airflow DAG score_monthly.

    Returns:
        The warning back-test (:func:`_warning_backtest`).
    """
    from riskpipe.core.spark import get_spark, stop_spark

    last = _last_snapshot(args)
    _score_history(args, settings, get_spark(settings=settings, app_name="riskpipe-scoring"))
    stop_spark()  # the DAG run below is another process writing the same tables
    cmd = [
        sys.executable,
        "-m",
        "riskpipe.cli",
        "airflow",
        "run",
        "score_monthly",
        "--conf",
        json.dumps({"snapshot_date": last.isoformat()}),
    ]
    print("    " + " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)
    spark = get_spark(settings=settings, app_name="riskpipe-warning-backtest")
    backtest = _warning_backtest(last, settings, spark)
    _watch_list_load(last, settings, spark)
    _warning_targets(backtest)
    _assess_applicants(last, settings, get_spark(settings=settings, app_name="riskpipe-assess"))
    return backtest


def _warning_backtest(last: dt.date, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """The stage ``warning_backtest``: the warning catalogue judged like a classifier on the 12
    month-ends whose 12-month horizon is observed by ``last`` (replayed, defaults known on
    ``last``), printed for every minimum severity and the watch-list severity."""
    result = pipeline.run("warning_backtest", pipeline.RunContext(snapshots=(last,)), settings=settings, spark=spark)
    counts = result["borrowers"]
    print(
        f"    warnings judged on {result['window']}: {counts['defaulter']} borrowers defaulted in the window, "
        f"{counts['performing']} performed for 12 months (past-due signals apart)",
        flush=True,
    )
    history = result["history"]
    if history["lead_censored"]:
        print(
            f"    leads are capped: a lead is measured from {history['needed_from']}, features start "
            f"{history['features_from']}, scores {history['scores_from']}",
            flush=True,
        )

    minimum = settings.early_warnings.watch_list_min_severity
    watch_list_load = f"{minimum}+ with past due"
    for row in result["rows"]:
        if row["block"] == "severity" or row["signal"] in ("any past due", watch_list_load):
            name = {"any past due": "past due", watch_list_load: f"{minimum}+ & DPD"}.get(row["signal"], row["signal"])
            print(
                f"    {name:>11s}: {row['warned_defaulters']}/{row['defaulters']} defaulters warned "
                f"({_pct(row['hit_rate'])}), median lead {row['median_lead_months']} months; performing borrowers "
                f"warned {row['warned_performing']}/{row['performing']} ({_pct(row['false_alarm_rate'])})",
                flush=True,
            )
    return result


def _pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _warning_targets(result: dict[str, Any]) -> None:
    """The backtest of :func:`_warning_backtest` against the targets (``early_warnings.targets``)."""
    for check in result["targets"]:
        print(
            f"    target {check['metric']} {check['target']}: {_shown(check)} {'met' if check['met'] else 'NOT met'}",
            flush=True,
        )


def _shown(check: dict[str, Any]) -> str:
    """A target check's value: a rate in percent, a lead in months."""
    value = check["value"]
    return "-" if value is None else (f"{value:.1%}" if check["metric"].endswith("rate") else f"{value:.1f} months")


def _watch_list_load(last: dt.date, settings: Settings, spark: SparkSession) -> None:
    """How many of the active loans of ``last`` are on the watch list."""
    from pyspark.sql import functions as F

    from riskpipe.core import io

    minimum = settings.early_warnings.watch_list_min_severity
    on_last = F.col("snapshot_date") == F.lit(last)
    active = io.read(spark, "loan_classification", settings=settings).where(on_last).count()
    watched = io.read(spark, "watch_list", settings=settings).where(on_last & (F.col("status") != "cleared")).count()
    print(f"    on {last}: {watched} of {active} active loans on the watch list ({minimum} or worse)", flush=True)


def _assess_applicants(day: dt.date, settings: Settings, spark: SparkSession) -> None:
    """Two pre-loan assessments as of ``day``: the best-scored government-recommended borrower, and
    one on the dishonest-debtor list (declined whatever its score). Both land in credit_decisions."""
    from pyspark.sql import functions as F

    from jobs.assess.main import assess
    from riskpipe.core import io

    on_day = F.col("snapshot_date") == F.lit(day)
    features = io.read(spark, "enterprise_features", settings=settings).where(on_day)
    scores = io.read(spark, "risk_scores", settings=settings).where(on_day).select("uscc", "pd")
    recommended = (
        features.where(F.col("ent_gov_recommended") & ~F.col("court_dishonest_listed"))
        .join(scores, on="uscc", how="inner")
        .orderBy("pd", "uscc")
        .select("uscc")
        .first()
    )
    listed = features.where(F.col("court_dishonest_listed")).orderBy("uscc").select("uscc").first()
    for row in (recommended, listed):
        if row is None:
            continue
        record = assess(
            row["uscc"], 500000, 12, as_of=day, settings=settings, spark=spark, purpose="working capital (demo)"
        )
        print("    " + record.render().replace("\n", "\n    "), flush=True)


def _portfolio_and_report(args: argparse.Namespace, settings: Settings, spark: SparkSession) -> None:
    """The stages ``portfolio`` (risk under the fund), ``stress``, ``model_monitoring`` and ``report``
    (the HTML report) of the last month."""
    last = _last_snapshot(args)
    month = pipeline.RunContext(snapshots=(last,))
    totals = pipeline.run("portfolio", month, settings=settings, spark=spark)
    print(f"    portfolio {last}: {json.dumps(totals.get('metrics', totals), default=str)[:400]}", flush=True)
    stressed = pipeline.run("stress", month, settings=settings, spark=spark)
    print(f"    stress: {json.dumps(stressed, default=str)[:400]}", flush=True)
    monitored = pipeline.run("model_monitoring", month, settings=settings, spark=spark)
    print(
        f"    model monitoring: alerts {len(monitored.get('alerts', []))}, retrain {monitored.get('retrain')}",
        flush=True,
    )
    written = pipeline.run("report", month, settings=settings, spark=spark)
    print(f"    report: {written['path']}", flush=True)


# What a model validator checks (issue 31; docs/models.md, "Model risk figures of the demo")
TARGET_GREEN_GRADES = 8
TARGET_ORACLE_RATIO = 0.9


def _model_risk_figures(args: argparse.Namespace, settings: Settings, warnings: dict[str, Any]) -> None:
    """The champion's validation report (out of time, with the simulator's latent PD as oracle), the
    lowest PD served in risk_scores and the warnings' back-test (``warnings``), against the validator's
    targets."""
    from pyspark.sql import functions as F

    from jobs.model_monitoring.validation import validate_version
    from models.config import model_config
    from models.registry import champion_version
    from riskpipe.core import io
    from riskpipe.core.spark import get_spark

    config = model_config(settings)
    version = champion_version(config)
    if version is None:
        print("    no champion: nothing to validate", flush=True)
        return
    spark = get_spark(settings=settings, app_name="riskpipe-validate")
    result = validate_version(version, config=config, settings=settings, spark=spark)
    grades = result["grades"]
    tested = sum(grades.values())
    floor = config.calibration.pd_floor
    served = (
        io.read(spark, "risk_scores", settings=settings)
        .agg(F.min("pd").alias("min_pd"), F.count("*").alias("n"))
        .first()
    )
    low, high = result["gini_ci"]
    print(f"    champion {config.name} v{version}: validation {result['status'].upper()}; report {result['html']}")
    from models.registry import version_metrics

    logged, _ = version_metrics(config, version)
    by_row = [int(logged.get(f"oot_grades_{k}_by_row", -1)) for k in ("green", "amber", "red")]
    print(
        f"    calibration (OOT, Jeffreys per grade, each borrower one observation): {grades['green']} of {tested} "
        f"populated grades green, {grades['amber']} amber, {grades['red']} red (target: >= {TARGET_GREEN_GRADES} "
        f"green, none red); counting every borrower-month as independent: {by_row[0]} green, {by_row[1]} "
        f"amber, {by_row[2]} red",
        flush=True,
    )
    print(
        f"    PD floor {floor:.2%}: lowest PD served {served['min_pd']:.4%} over {served['n']:,} scored "
        f"borrower-months, {result['min_pd']:.4%} out of time",
        flush=True,
    )
    if "oracle_ratio" in result:
        print(
            f"    discrimination (OOT): Gini {result['gini']:.3f} [{low:.3f}, {high:.3f}]; latent-PD Gini "
            f"{result['oracle_gini']:.3f}; ratio {result['oracle_ratio']:.2f} (target >= {TARGET_ORACLE_RATIO})",
            flush=True,
        )
    else:
        print(
            f"    discrimination (OOT): Gini {result['gini']:.3f} [{low:.3f}, {high:.3f}] (no simulator truth)",
            flush=True,
        )
    targets = settings.early_warnings.targets
    if targets:
        _warning_summary(warnings, targets.min_severity)


def _warning_summary(result: dict[str, Any], min_severity: str) -> None:
    """One line: the warnings' targets on the back-test window (a portfolio the catalogue was not set on)."""
    checks = result.get("targets") or []
    if not checks:
        return
    shown = "; ".join(f"{c['metric']} {_shown(c)} ({c['target']}: {'met' if c['met'] else 'NOT met'})" for c in checks)
    capped = ", leads capped by the score history" if result["history"]["lead_censored"] else ""
    print(f"    early warnings {min_severity}+ on {result['window']}{capped}: {shown}", flush=True)


def _demo(args: argparse.Namespace) -> int:
    import os

    from riskpipe.core.config import load_settings

    settings = load_settings()
    landing = Path(settings.landing_root)
    started = _step(f"1/8 simulate {args.enterprises} enterprises x {args.months} months into {landing}")
    if args.skip_simulate and (landing / "manifest" / "summary.json").exists():
        print("    reusing existing simulator output")
    else:
        _simulate(args, landing)
    _done(started)
    os.environ.setdefault("RISKPIPE_COURT_API_TOKEN", "demo-token")
    started = _step(f"2/8 ingest the history of every source into {settings.lakehouse_root}")
    from riskpipe.simulate.server import start_server

    server, _thread = start_server(str(landing), "127.0.0.1", 0, os.environ["RISKPIPE_COURT_API_TOKEN"])
    court_api = {"base_url": f"http://127.0.0.1:{server.server_address[1]}"}
    from riskpipe.core.spark import get_spark, stop_spark

    try:
        served = settings.merged({"ingestion": {"court_api": court_api}})
        _ingest_history(args, served, get_spark(settings=served, app_name="riskpipe-demo-ingest"))
    finally:
        server.shutdown()
    _done(started)
    stop_spark()  # the Airflow run below is another process writing the same tables
    started = _step("3/8 the latest monthly deliveries through the Airflow ingestion DAGs")
    _ingest_with_airflow(args)
    _done(started)
    started = _step("4/8 point-in-time features and default labels for every month-end (gold)")
    _features(args, settings, get_spark(settings=settings, app_name="riskpipe-features"))
    _done(started)
    started = _step("5/8 train, evaluate and register the models in MLflow; promotion gate")
    if not _train(args, settings, get_spark(settings=settings, app_name="riskpipe-train")):
        print(
            "\nThe promotion gate refused the candidate and there is no champion to score with: the demo "
            "stops here. The reasons are printed above; `riskpipe validate` writes the model's validation "
            "report. Tables up to the features are in place.",
            flush=True,
        )
        return 2
    _done(started)
    started = _step("6/8 scoring with the champion, early warnings, watch list, loan classes; pre-loan decisions")
    warnings = _score_and_monitor(args, settings)
    _done(started)
    started = _step("7/8 portfolio risk under the fund, stress tests, model monitoring, the HTML report")
    _portfolio_and_report(args, settings, get_spark(settings=settings, app_name="riskpipe-portfolio"))
    _done(started)
    started = _step("8/8 model risk figures: the champion's validation report against a validator's targets")
    _model_risk_figures(args, settings, warnings)
    _done(started)
    print(f"\nDemo finished. Lakehouse: {settings.lakehouse_root}\nLanding files: {landing}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline end to end on simulated data",
        description="Simulate the sources, ingest them into Delta and run every later stage "
        "on the embedded default stack (local Spark, Delta on disk, MLflow on SQLite, "
        "Airflow on SQLite).",
    )
    parser.add_argument("--enterprises", type=int, default=DEMO_ENTERPRISES)
    parser.add_argument("--months", type=int, default=DEMO_MONTHS)
    parser.add_argument("--start", default=DEMO_START, help="first simulated month, YYYY-MM")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--skip-simulate", action="store_true", help="reuse simulator output if present")
    parser.set_defaults(func=_demo)
