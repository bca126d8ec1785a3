"""The timed pipeline stages of one benchmark size, reusing the demo's stage functions.

Each size gets its own lakehouse, landing folder and MLflow store under ``var/bench/n<size>``
(environment variables read by ``riskpipe.config.load_settings``), so the benchmark never
touches the demo's data.
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
from pathlib import Path
from typing import Any, Callable, Iterator

from riskpipe.bench.memory import measured
from riskpipe.commands import demo

BENCH_START = "2018-01"
SCORED_MONTHS = 12
NOT_INGESTED = ("truth", "fund")  # the simulator's ground truth and the fund balance: no ingestion reads them


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
    """Accumulate the time spent in the silver MERGE (``jobs.batch._publish``) into ``totals['silver']``."""
    from jobs import batch

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
def court_api(landing: Path) -> Iterator[None]:
    """The simulator's court REST API, as the demo starts it for the ingestion of court events."""
    from riskpipe.simulate.server import start_server

    os.environ.setdefault("RISKPIPE_COURT_API_TOKEN", "bench-token")
    server, _thread = start_server(str(landing), "127.0.0.1", 0, os.environ["RISKPIPE_COURT_API_TOKEN"])
    os.environ["RISKPIPE_COURT_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield
    finally:
        server.shutdown()


def _stage(stages: dict, name: str, func: Callable[[], Any]) -> Any:
    progress(f"stage {name} ...")
    record: dict[str, Any] = {}
    with measured(record):
        value = func()
    stages[name] = record
    progress(f"stage {name}: {record['seconds']:.1f} s, peak RSS {record['peak_rss_mb']:.0f} MB")
    return value


def _ingest(args: argparse.Namespace, landing: Path, stages: dict) -> None:
    totals: dict[str, float] = {}
    with court_api(landing), silver_timer(totals):
        _stage(stages, "ingest", lambda: demo._ingest_history(args))
    silver = totals.get("silver", 0.0)
    # the silver MERGE runs inside ingest: report it apart, and ingest as the rest (bronze, validation)
    stages["silver"] = {"seconds": silver, "peak_rss_mb": stages["ingest"]["peak_rss_mb"], "inside": "ingest"}
    stages["ingest"]["seconds"] -= silver
    stages["ingest"]["includes_silver_s"] = silver


def _score(days: list[dt.date]) -> dict:
    from jobs import scoring
    from models.config import model_config
    from models.registry import champion_version

    alias = None if champion_version(model_config(None)) else "challenger"
    if alias:
        progress("no champion (the promotion gate rejected the model): scoring with @challenger")
    return scoring.run(days, alias=alias)


def _scoring_throughput(spark, days: list[dt.date]) -> dict:
    """Marginal scoring rate on replicated feature rows (``riskpipe.bench.throughput``)."""
    from models.config import model_config
    from models.registry import champion_version
    from riskpipe.bench import throughput

    alias = None if champion_version(model_config(None)) else "challenger"
    progress(f"scoring throughput on replicated feature rows ({', '.join(map(str, throughput.DEFAULT_ROWS))}) ...")
    try:
        result = throughput.measure(spark, days, alias=alias)
    except Exception as error:  # noqa: BLE001 - the other stages stay reported
        progress(f"scoring throughput failed: {error!r}")
        return {"error": repr(error)[:500]}
    rate = result["marginal_rows_per_s"]
    progress(f"scoring throughput: marginal {rate or 0:,.0f} rows/s; "
             + ", ".join(f"{r['rows']:,} rows in {r['seconds']:.1f} s" for r in result["runs"]))
    return result


def snapshot_days(months: int) -> list[dt.date]:
    """The month-ends the full feature build covers (as ``demo._features`` builds them)."""
    from jobs.features.pit import month_ends

    first = dt.date.fromisoformat(f"{BENCH_START}-01")
    args = argparse.Namespace(months=months, start=BENCH_START)
    return month_ends(dt.date(first.year + 1, first.month, 1), demo._last_snapshot(args))


def run_size(enterprises: int, months: int, root: Path) -> dict[str, Any]:
    """Simulate, ingest and run every stage for one size; returns timings, rows and peak memory.

    Args:
        enterprises: simulated enterprises.
        months: simulated months (36 or more: training needs 12 label months and an out-of-time half year).
        root: working folder of this size (emptied first).
    """
    from jobs import post_loan
    from jobs.features.main import update
    from jobs.features.pit import add_months, month_ends
    from riskpipe import io
    from riskpipe.spark import get_spark

    use_folders(root)
    args = argparse.Namespace(enterprises=enterprises, months=months, start=BENCH_START, seed=demo.DEMO_SEED)
    landing = Path(os.environ["RISKPIPE_LANDING"])
    stages: dict[str, Any] = {}
    progress(f"size {enterprises} enterprises x {months} months in {root}")
    _stage(stages, "simulate", lambda: demo._simulate(args, landing))
    per_source = json.loads((landing / "manifest" / "summary.json").read_text()).get("rows_per_source", {})
    _ingest(args, landing, stages)
    _stage(stages, "features_full", lambda: demo._features(args))
    spark = get_spark()
    feature_rows = io.read(spark, "enterprise_features").count()
    last = demo._last_snapshot(args)
    _stage(stages, "features_incremental", lambda: update(spark, last))
    _stage(stages, "train", lambda: demo._train(args))
    scored_days = month_ends(add_months(last, -SCORED_MONTHS + 1), last)
    scored = _stage(stages, "score", lambda: _score(scored_days))
    throughput = _scoring_throughput(spark, scored_days)
    warned = _stage(stages, "warnings", lambda: post_loan.run(scored_days))
    _stage(stages, "report", lambda: demo._portfolio_and_report(args))
    feature_days = snapshot_days(months)
    return {"enterprises": enterprises, "months": months, "input_rows": input_rows(per_source),
            "rows_per_source": per_source, "feature_rows": feature_rows, "feature_snapshots": len(feature_days),
            "scored_rows": scored.get("rows"),
            "scored_model": f"{scored.get('model_name')} v{scored.get('model_version')}",
            "warnings": warned.get("warnings"), "stages": stages,
            "scoring_throughput": throughput}
