"""``riskpipe ingest``: land one source (or all) for a data interval, outside Airflow."""

from __future__ import annotations

import argparse
import json

from riskpipe import pipeline

# the sources of the ingestion stages, in their declared order (court events are matched to
# enterprises by name)
ALL_SOURCES = pipeline.SOURCES


def _ingest(args: argparse.Namespace) -> int:
    from jobs.ingest.backfill import run_backfill
    from riskpipe.commands import progress, say, session

    # one Spark session for every source named; they run in the declared ingestion order
    sources = ALL_SOURCES if "all" in args.source else pipeline.ingest_order(args.source)
    settings, spark = session(f"riskpipe-ingest-{'-'.join(args.source)}")
    for source in sources:
        # a long window is split into batches of bounded size (ingestion.backfill_max_batch_bytes)
        run_backfill(
            source,
            start=args.start,
            end=args.end,
            settings=settings,
            spark=spark,
            on_batch=lambda summary: say(json.dumps(summary, default=str)),
            progress=progress(f"ingest {source}", "batch"),
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="ingest a source for a data interval into bronze/silver",
        description="Ingest the landed files (or API pages) of each SOURCE whose delivery falls in "
        "[--start, --end) into bronze, quarantine and silver Delta tables. "
        "Idempotent: files already ingested are skipped. A long window is ingested "
        "as consecutive batches of at most ingestion.backfill_max_batch_bytes of files. "
        "Several sources run in one Spark session, in the declared ingestion order.",
    )
    parser.add_argument("source", nargs="+", choices=("all", *ALL_SOURCES), help="sources to ingest, or all")
    parser.add_argument("--start", required=True, help="data interval start (YYYY-MM-DD, inclusive)")
    parser.add_argument("--end", required=True, help="data interval end (YYYY-MM-DD, exclusive)")
    parser.set_defaults(func=_ingest)
