"""The timed pipeline stages of one benchmark size: the stages declared in :mod:`riskpipe.pipeline`,
run as the demo runs them (its step functions where the bench times the same step).

Each size gets its own lakehouse, landing folder and MLflow store under ``var/bench/n<size>``
(environment variables read by ``riskpipe.core.config.load_settings``), so the benchmark never
touches the demo's data. :func:`run_size` loads the settings of its size once and passes them to
every stage.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskpipe import pipeline
from riskpipe.bench.checkpoint import CHECKPOINT, Checkpoint
from riskpipe.bench.memory import measured
from riskpipe.commands import demo

if TYPE_CHECKING:
    from riskpipe.core.config import Settings

BENCH_START = "2018-01"
SCORED_MONTHS = 12
NOT_INGESTED = ("truth",)  # the simulator's ground truth: no ingestion reads it


def input_rows(rows_per_source: dict[str, int]) -> int:
    """Rows of the simulated source files that ingestion reads."""
    return int(sum(v for k, v in rows_per_source.items() if k not in NOT_INGESTED))


def progress(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def use_folders(root: Path, *, fresh: bool = True) -> None:
    """Point settings (lakehouse, landing, MLflow) at ``root``, emptied first when ``fresh``."""
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    os.environ["RISKPIPE_LAKEHOUSE"] = str(root / "lakehouse")
    os.environ["RISKPIPE_LANDING"] = str(root / "landing")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["RISKPIPE_MLFLOW_ARTIFACT_ROOT"] = str(root / "mlartifacts")


@contextlib.contextmanager
def silver_timer(totals: dict) -> Iterator[None]:
    """Accumulate the time spent in the silver MERGE (``jobs.ingest.batch._publish``) into ``totals['silver']``."""
    from jobs.ingest import batch

    original = batch._publish

    def timed(*args: Any, **kwargs: Any):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals["silver"] = totals.get("silver", 0.0) + time.perf_counter() - began

    batch._publish = timed
    try:
        yield
    finally:
        batch._publish = original


@contextlib.contextmanager
def court_api(landing: Path, settings: Settings) -> Iterator[Settings]:
    """The simulator's court REST API, as the demo starts it; yields ``settings`` pointing at it."""
    from riskpipe.simulate.server import start_server

    os.environ.setdefault("RISKPIPE_COURT_API_TOKEN", "bench-token")
    server, _thread = start_server(str(landing), "127.0.0.1", 0, os.environ["RISKPIPE_COURT_API_TOKEN"])
    try:
        yield settings.merged(
            {"ingestion": {"court_api": {"base_url": f"http://127.0.0.1:{server.server_address[1]}"}}}
        )
    finally:
        server.shutdown()


def _ingest(args: argparse.Namespace, landing: Path, checkpoint: Checkpoint, settings: Settings, spark: Any) -> None:
    """Backfill every source as ``demo._ingest_history`` does, one checkpointed batch at a time.

    Each batch is the stage ``ingest_<source>`` on an interval of
    ``jobs.ingest.backfill.backfill_intervals``; its time, the silver MERGE's share of it and its
    peak memory are recorded, and the ``ingest`` and ``silver`` stages are their sums (peaks: the
    largest) once every batch is done.
    """
    from jobs.ingest.backfill import backfill_intervals
    from jobs.ingest.run import as_date

    if "ingest" in checkpoint.stages:
        progress("stage ingest: done in an earlier part")
        return
    start, end, _ = demo._window(args)
    with court_api(landing, settings) as ingest_settings:
        for source in pipeline.SOURCES:
            for first, last in backfill_intervals(source, as_date(start), as_date(end), settings=ingest_settings):
                key = f"{source} {first}..{last}"
                if checkpoint.batch_done(key):
                    continue
                checkpoint.check_time(f"ingestion batch {key}")
                totals: dict[str, float] = {}
                record: dict[str, Any] = {"key": key}
                with silver_timer(totals), measured(record):
                    summary = pipeline.run(
                        pipeline.ingest_stage_name(source),
                        pipeline.RunContext(interval=(first, last)),
                        settings=ingest_settings,
                        spark=spark,
                    )
                record.update(
                    silver_s=totals.get("silver", 0.0),
                    rows_read=summary.get("rows_read"),
                    rows_published=summary.get("rows_published"),
                )
                checkpoint.add_batch(record)
                progress(
                    f"ingest {key}: {record['rows_read']} rows in {record['seconds']:.1f} s "
                    f"(silver {record['silver_s']:.1f} s), peak RSS {record['peak_rss_mb']:.0f} MB"
                )
    batches = checkpoint.data["batches"]
    total, silver = sum(b["seconds"] for b in batches), sum(b["silver_s"] for b in batches)
    peak = max(b["peak_rss_mb"] for b in batches)
    # the silver MERGE runs inside ingest: report it apart, and ingest as the rest (bronze, validation)
    checkpoint.stages["ingest"] = {
        "seconds": total - silver,
        "peak_rss_mb": peak,
        "includes_silver_s": silver,
        "batches": len(batches),
    }
    checkpoint.stages["silver"] = {"seconds": silver, "peak_rss_mb": peak, "inside": "ingest"}
    checkpoint.save()


def _score(days: list[dt.date], settings: Settings, spark: Any) -> dict:
    """The stage ``score`` of ``days``, with ``@challenger`` when the gate left no champion."""
    from models.config import model_config
    from models.registry import champion_version

    alias = None if champion_version(model_config(settings)) else "challenger"
    if alias:
        progress("no champion (the promotion gate rejected the model): scoring with @challenger")
    return pipeline.run(
        "score", pipeline.RunContext(snapshots=tuple(days), alias=alias), settings=settings, spark=spark
    )


def _scoring_throughput(spark, days: list[dt.date], settings: Settings) -> dict:
    """Marginal scoring rate on replicated feature rows (``riskpipe.bench.throughput``)."""
    from models.config import model_config
    from models.registry import champion_version
    from riskpipe.bench import throughput

    alias = None if champion_version(model_config(settings)) else "challenger"
    progress(f"scoring throughput on replicated feature rows ({', '.join(map(str, throughput.DEFAULT_ROWS))}) ...")
    try:
        result = throughput.measure(spark, days, alias=alias, settings=settings)
    except Exception as error:  # noqa: BLE001 - the other stages stay reported
        progress(f"scoring throughput failed: {error!r}")
        return {"error": repr(error)[:500]}
    rate = result["marginal_rows_per_s"]
    progress(
        f"scoring throughput: marginal {rate or 0:,.0f} rows/s; "
        + ", ".join(f"{r['rows']:,} rows in {r['seconds']:.1f} s" for r in result["runs"])
    )
    return result


def maintenance_step(spark: Any, settings: Settings) -> dict:
    """Silver transactions read before and after the weekly compaction (``riskpipe.bench.maintenance``)."""
    from riskpipe.bench import maintenance

    try:
        return maintenance.measure(spark, settings, progress=progress)
    except Exception as error:  # noqa: BLE001 - the other stages stay reported
        progress(f"maintenance step failed: {error!r}")
        return {"error": repr(error)[:500]}


def snapshot_days(months: int) -> list[dt.date]:
    """The month-ends the full feature build covers (as ``demo._features`` builds them)."""
    return demo.feature_snapshots(argparse.Namespace(months=months, start=BENCH_START))


def _feature_rows(settings: Settings, spark: Any) -> int:
    from riskpipe.core import io

    return io.read(spark, "enterprise_features", settings=settings).count()


def run_size(
    enterprises: int, months: int, root: Path, *, resume: bool = False, deadline: float | None = None
) -> dict[str, Any]:
    """Simulate, ingest and run every stage for one size; returns timings, rows and peak memory.

    Args:
        enterprises: simulated enterprises.
        months: simulated months (36 or more: training needs 12 label months and an out-of-time half year).
        root: working folder of this size (emptied first unless ``resume``).
        resume: carry on from ``root``'s checkpoint (:mod:`riskpipe.bench.checkpoint`).
        deadline: ``time.monotonic()`` after which no new stage or ingestion batch starts;
            :class:`~riskpipe.bench.checkpoint.Paused` is raised then.
    """
    from riskpipe.core.calendar import add_months, month_ends
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    # a folder without a checkpoint (an older or interrupted run) is started again, not built upon
    use_folders(root, fresh=not (resume and (root / CHECKPOINT).exists()))
    settings = load_settings()
    spark = get_spark(settings=settings, app_name="riskpipe-bench")
    cp = Checkpoint(root, enterprises, months, deadline=deadline)
    args = argparse.Namespace(enterprises=enterprises, months=months, start=BENCH_START, seed=demo.DEMO_SEED)
    landing = Path(settings.landing_root)
    progress(
        f"size {enterprises} enterprises x {months} months in {root}"
        + (f" (part {len(cp.data['parts'])})" if resume else "")
    )
    cp.stage("simulate", lambda: demo._simulate(args, landing), log=progress)
    per_source = json.loads((landing / "manifest" / "summary.json").read_text()).get("rows_per_source", {})
    _ingest(args, landing, cp, settings, spark)
    cp.stage("features_full", lambda: demo._features(args, settings, spark), log=progress)
    feature_rows = cp.value("feature_rows", lambda: _feature_rows(settings, spark))
    last = demo._last_snapshot(args)
    one_month = pipeline.RunContext(snapshots=(last,))
    cp.stage(
        "features_incremental",
        lambda: _summary(pipeline.run("features", one_month, settings=settings, spark=spark)),
        log=progress,
    )
    cp.stage("train", lambda: demo._train(args, settings, spark), log=progress)
    scored_days = month_ends(add_months(last, -SCORED_MONTHS + 1), last)
    scored = cp.stage("score", lambda: _summary(_score(scored_days, settings, spark)), log=progress)
    throughput = cp.value("scoring_throughput", lambda: _scoring_throughput(spark, scored_days, settings))
    monitored = pipeline.RunContext(snapshots=tuple(scored_days))
    warned = cp.stage(
        "warnings",
        lambda: _summary(pipeline.run("post_loan", monitored, settings=settings, spark=spark)),
        log=progress,
    )
    cp.stage("report", lambda: demo._portfolio_and_report(args, settings, spark), log=progress)
    # last: compaction rewrites silver transactions, which the stages above must read as ingested
    maintained = cp.value("maintenance", lambda: maintenance_step(spark, settings))
    feature_days = snapshot_days(months)
    return {
        "enterprises": enterprises,
        "months": months,
        "input_rows": input_rows(per_source),
        "rows_per_source": per_source,
        "feature_rows": feature_rows,
        "feature_snapshots": len(feature_days),
        "scored_rows": scored.get("rows"),
        "scored_model": f"{scored.get('model_name')} v{scored.get('model_version')}",
        "warnings": warned.get("warnings"),
        "stages": cp.stages,
        "scoring_throughput": throughput,
        "maintenance": maintained,
        "parts": _parts(cp),
        "ingest_batches": cp.data["batches"],
    }


def _summary(value: Any) -> Any:
    """A stage's return value as kept in the checkpoint (JSON: dates as ISO strings)."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def _parts(cp: Checkpoint) -> list[dict[str, Any]]:
    """The parts the run took (start time, commit and what each ran), when it took more than one."""
    return [
        {"started": p["started"], "commit": p["commit"], "ran": len(p["ran"])} for p in cp.data["parts"] if p["ran"]
    ]
