"""``riskpipe history``, ``riskpipe restore`` and ``riskpipe vacuum``: a declared table's Delta versions.

``history`` shows which commit did what; ``restore`` brings a table back to the content of an
earlier version after a bad run (as a new commit, so the bad versions stay inspectable), or,
with ``--to-batch B``, every table an ingestion batch wrote back to before it (``jobs/ingest/restore.py``);
``vacuum`` deletes data files no version within the retention needs, including the orphan
files of a killed write. TABLE is a name from ``riskpipe tables``.
"""

from __future__ import annotations

import argparse
import json
import sys

HISTORY_LIMIT = 20
# riskpipe.core.io.DEFAULT_RETAIN_HOURS (Delta's 7 days), repeated so that --help stays free of Spark imports
DEFAULT_RETAIN_HOURS = 168.0


def _history(args: argparse.Namespace) -> int:
    from riskpipe.commands import session
    from riskpipe.core import io

    settings, spark = session("riskpipe-history")
    for commit in io.history(spark, args.table, limit=args.limit, settings=settings):
        print(json.dumps(commit, default=str, sort_keys=True), flush=True)
    return 0


def _restore(args: argparse.Namespace) -> dict:
    from riskpipe.commands import session
    from riskpipe.core import io

    if args.to_batch is not None:
        if args.table is not None or args.version is not None:
            raise SystemExit("restore: --to-batch B restores every table of B's source; give no TABLE or --version")
        return _restore_batch(args)
    if args.table is None or args.version is None:
        raise SystemExit("restore: give TABLE --version N, or --to-batch B")
    settings, spark = session("riskpipe-restore")
    before = io.version(spark, args.table, settings=settings)
    if not 0 <= args.version < before:
        raise SystemExit(
            f"restore {args.table}: version {args.version} is not an earlier version "
            f"(latest is {before}); see riskpipe history {args.table}"
        )
    io.restore(spark, args.table, args.version, settings=settings)
    return {
        "table": args.table,
        "restored_to": args.version,
        "previous_version": before,
        "new_version": io.version(spark, args.table, settings=settings),
    }


def _restore_batch(args: argparse.Namespace) -> dict:
    from jobs.ingest.restore import RestoreRefusedError, restore_to_batch
    from riskpipe.commands import session

    settings, spark = session("riskpipe-restore")
    try:
        result = restore_to_batch(spark, args.to_batch, settings=settings, force=args.force)
    except (RestoreRefusedError, ValueError) as error:
        raise SystemExit(str(error)) from error
    for table in result["tables"]:
        print(
            f"restored {table['table']}: {table['action']}, version {table['from_version']} -> "
            f"{table['new_version']} (content of version {table['to_version']})",
            file=sys.stderr,
            flush=True,
        )
    return result


def _vacuum(args: argparse.Namespace) -> dict:
    from riskpipe.commands import session
    from riskpipe.core import io

    settings, spark = session("riskpipe-vacuum")
    io.vacuum(spark, args.table, retain_hours=args.retain_hours, settings=settings)
    return {"table": args.table, "vacuumed": True, "retain_hours": args.retain_hours}


def register(subparsers: argparse._SubParsersAction) -> None:
    history = subparsers.add_parser(
        "history",
        help="list a table's Delta commits, newest first",
        description="Print one JSON line per Delta commit of TABLE: version, timestamp, operation, "
        "parameters and metrics.",
    )
    history.add_argument("table", help="declared table name (see riskpipe tables)")
    history.add_argument("--limit", type=int, default=HISTORY_LIMIT, help=f"commits to show (default {HISTORY_LIMIT})")
    history.set_defaults(func=_history)

    restore = subparsers.add_parser(
        "restore",
        help="restore a table to an earlier Delta version, or a source to before a batch",
        description="Restore TABLE to the content of --version N (from riskpipe history), or, with "
        "--to-batch B, roll bronze, silver, quarantine and the ingest manifest of B's source "
        "back to before batch B, so that the next run ingests B's files again. A restore is a "
        "new commit: later versions stay in the history.",
    )
    restore.add_argument("table", nargs="?", help="declared table name (see riskpipe tables)")
    restore.add_argument("--version", type=int, help="version to restore TABLE to")
    restore.add_argument("--to-batch", metavar="B", help="batch id (see the ingest manifest) to roll back")
    restore.add_argument(
        "--force", action="store_true", help="with --to-batch: also roll back later batches of the source"
    )
    restore.set_defaults(func=_restore)

    vacuum = subparsers.add_parser(
        "vacuum",
        help="delete data files no retained version references",
        description="VACUUM TABLE: delete files not referenced by any version younger than "
        "--retain-hours, e.g. the orphan files of a killed write. Time travel to older "
        "versions is no longer possible afterwards.",
    )
    vacuum.add_argument("table", help="declared table name (see riskpipe tables)")
    vacuum.add_argument(
        "--retain-hours",
        type=float,
        default=DEFAULT_RETAIN_HOURS,
        help=f"retention in hours (default {DEFAULT_RETAIN_HOURS:g}, Delta's own)",
    )
    vacuum.set_defaults(func=_vacuum)
