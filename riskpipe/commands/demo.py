"""``riskpipe demo``: the whole pipeline end to end on the embedded default stack.

Steps (each prints progress): simulate the five sources, ingest them into
bronze/silver (by year, like a backfill), run one ingestion DAG through
Airflow's ``dag.test()``, then the later stages as they exist (features,
training, scoring, report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

DEMO_ENTERPRISES = 600
DEMO_MONTHS = 36
DEMO_START = "2019-01"
DEMO_SEED = 20181


def _step(title: str):
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f"    done in {time.perf_counter() - started:.1f} s", flush=True)


def _years(start: str, months: int) -> list[tuple[str, str]]:
    first = dt.date.fromisoformat(f"{start}-01")
    last_year = (first.year * 12 + first.month - 1 + months) // 12
    return [(f"{y}-01-01", f"{y + 1}-01-01") for y in range(first.year, last_year + 1)]


def _simulate(args: argparse.Namespace, landing: Path) -> None:
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    config = SimConfig(enterprises=args.enterprises, months=args.months, seed=args.seed, start=args.start)
    summary = simulate(config, landing)
    print(json.dumps({k: v for k, v in summary.items() if k in ("rows", "defects", "seconds")}, default=str)[:2000])


def _ingest(args: argparse.Namespace) -> None:
    from jobs.ingest import run_source
    from riskpipe.commands.ingest import ALL_SOURCES

    for start, end in _years(args.start, args.months):
        for source in ALL_SOURCES:
            summary = run_source(source, data_interval_start=start, data_interval_end=end)
            counts = {k: summary.get(k) for k in ("rows_read", "rows_published", "rows_quarantined",
                                                 "rows_duplicate")}
            print(f"    {start[:4]} {source:14s} {counts}", flush=True)


def _features(args: argparse.Namespace) -> None:
    from jobs.features.main import build_range
    from riskpipe.spark import get_spark

    first = dt.date.fromisoformat(f"{args.start}-01")
    # the first year is history for the 12-month lookbacks; snapshots start after it
    start = dt.date(first.year + 1, first.month, 1)
    last = dt.date(first.year + (first.month - 1 + args.months) // 12, (first.month - 1 + args.months) % 12 + 1, 1)
    summary = build_range(get_spark(), start, last - dt.timedelta(days=1), full=True)
    print(f"    snapshots {summary.get('snapshot_months', [])[:1]}..{summary.get('snapshot_months', [])[-1:]}"
          f" rows {summary.get('rows')}", flush=True)


def _demo(args: argparse.Namespace) -> int:
    import os

    from riskpipe.config import load_settings

    settings = load_settings()
    landing = Path(settings.landing_root)
    started = _step(f"1/3 simulate {args.enterprises} enterprises x {args.months} months into {landing}")
    if args.skip_simulate and (landing / "manifest" / "summary.json").exists():
        print("    reusing existing simulator output")
    else:
        _simulate(args, landing)
    _done(started)
    os.environ.setdefault("RISKPIPE_COURT_API_TOKEN", "demo-token")
    started = _step(f"2/3 ingest all sources into {settings.lakehouse_root} (bronze, quarantine, silver)")
    from riskpipe.simulate.server import start_server

    server, _thread = start_server(str(landing), "127.0.0.1", 0, os.environ["RISKPIPE_COURT_API_TOKEN"])
    os.environ["RISKPIPE_COURT_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _ingest(args)
    finally:
        server.shutdown()
    _done(started)
    started = _step("3/3 point-in-time features and default labels for every month-end (gold)")
    _features(args)
    _done(started)
    print(f"\nDemo finished. Lakehouse: {settings.lakehouse_root}\nLanding files: {landing}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline end to end on simulated data",
        description="Simulate the sources, ingest them into Delta and run every later stage "
                    "on the embedded default stack (local Spark, Delta on disk, MLflow on SQLite, "
                    "Airflow on SQLite).")
    parser.add_argument("--enterprises", type=int, default=DEMO_ENTERPRISES)
    parser.add_argument("--months", type=int, default=DEMO_MONTHS)
    parser.add_argument("--start", default=DEMO_START, help="first simulated month, YYYY-MM")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--skip-simulate", action="store_true", help="reuse simulator output if present")
    parser.set_defaults(func=_demo)
