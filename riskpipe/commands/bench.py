"""``riskpipe bench``: time every pipeline stage at one or more sizes and compare the features with DuckDB.

Environment: ``BENCH_SIZE`` (enterprises, default 10,000), ``BENCH_SIZES`` (e.g. ``1000,3000,10000``:
a multi-size run, overrides ``BENCH_SIZE``), ``BENCH_MONTHS`` (default 36). Results:
``var/bench/results.json`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from riskpipe.core.config import REPO_ROOT

PAUSED = 75  # EX_TEMPFAIL: not finished, not failed; `--resume` goes on


def _bench(args: argparse.Namespace) -> int:
    from riskpipe.bench.runner import compare_only, maintenance_only, render_only, run_all, sizes_from_env
    from riskpipe.core.spark import stop_spark

    if args.render:
        render_only(Path(args.work), Path(args.doc))
        return 0
    sizes, months = sizes_from_env()
    if months < 36:
        raise SystemExit(
            "BENCH_MONTHS must be at least 36: training needs a year of snapshots, "
            "an out-of-time half year and 12 label months"
        )
    try:
        if args.compare_only:
            compare_only(sizes, months, Path(args.work), Path(args.doc))
        elif args.maintenance_only:
            maintenance_only(sizes, months, Path(args.work), Path(args.doc))
        else:
            results = run_all(
                sizes,
                months,
                Path(args.work),
                Path(args.doc),
                append=args.append,
                resume=args.resume,
                pause_after_min=args.pause_after,
            )
            if results.get("paused"):
                print(
                    f"paused in size {results['paused']}: go on with `riskpipe bench --resume` (same BENCH_SIZE(S))",
                    flush=True,
                )
                return PAUSED
    finally:
        stop_spark()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark every stage (and the features against DuckDB); writes docs/benchmarks.md",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--work", default=str(REPO_ROOT / "var" / "bench"), help="working folder, one subfolder per size"
    )
    parser.add_argument("--doc", default=str(REPO_ROOT / "docs" / "benchmarks.md"), help="markdown report to write")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the other sizes of an earlier results.json (same months) in the report and fit",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only render the markdown report again from the working folder's results.json",
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="only redo the DuckDB comparison of the sizes' runs in results.json, on their kept work folders",
    )
    parser.add_argument(
        "--maintenance-only",
        action="store_true",
        help="only run the maintenance step (silver transactions read before and after compaction) "
        "on the sizes' kept work folders",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on from where a paused run stopped (its sizes' checkpoints and results.json)",
    )
    parser.add_argument(
        "--pause-after",
        type=float,
        metavar="MINUTES",
        help="start no new stage or ingestion batch after MINUTES; the run can be resumed "
        "(for sizes that take longer than one sitting, e.g. BENCH_SIZE=100000)",
    )
    parser.set_defaults(func=_bench)
