"""``riskpipe history``, ``riskpipe restore`` and ``riskpipe vacuum``: a declared table's Delta versions.

``history`` shows which commit did what; ``restore`` brings a table back to the content of an
earlier version after a bad run (as a new commit, so the bad versions stay inspectable), or,
with ``--to-batch B``, every table an ingestion batch wrote back to before it (``jobs/ingest/restore.py``);
``vacuum`` deletes data files no version within the retention needs, including the orphan
files of a killed write, and never a file a pinned version needs; ``maintain`` runs the weekly
maintenance (``jobs/maintenance``) by hand. TABLE is a name from ``riskpipe tables``.
"""

from __future__ import annotations

import argparse
import json
import sys

HISTORY_LIMIT = 20
# the stages of riskpipe.pipeline.MAINTENANCE without their prefix, in their order
STEPS = ("retention", "constraints", "compaction", "vacuum")


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
    from jobs.maintenance.main import vacuum_table
    from jobs.maintenance.pins import all_pins
    from riskpipe.commands import session
    from schemas.registry import get

    settings, spark = session("riskpipe-vacuum")
    # a refusal (VacuumRefusedError, naming the pins) is one of the CLI's known errors: exit 1
    pins = all_pins(spark, settings)
    result = vacuum_table(spark, get(args.table), settings=settings, pins=pins, retain_hours=args.retain_hours)
    return {**result, "retain_hours": args.retain_hours}


def _maintain(args: argparse.Namespace) -> dict:
    from riskpipe import pipeline
    from riskpipe.commands import session

    settings, spark = session("riskpipe-maintenance")
    context = pipeline.RunContext(tables=tuple(args.table or ()))
    steps = [f"maintenance_{step}" for step in (args.step or STEPS)]
    # a refusal (MaintenanceRefusedError) is one of the CLI's known errors: exit 1 naming its tables
    return {name: pipeline.run(name, context, settings=settings, spark=spark) for name in pipeline.in_order(steps)}


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
        help="delete data files no retained version references (never a pinned version's)",
        description="VACUUM TABLE: delete files not referenced by any version younger than the "
        "retention, e.g. the orphan files of a killed write. Refused, naming the pin, when it would "
        "delete a file that a registered model's training data or a scored snapshot's features "
        "need. Versions whose files are deleted can no longer be read.",
    )
    vacuum.add_argument("table", help="declared table name (see riskpipe tables)")
    vacuum.add_argument(
        "--retain-hours",
        type=float,
        default=None,
        help="retention in hours (default: the table's delta.deletedFileRetentionDuration, "
        "maintenance.retention of the profile)",
    )
    vacuum.set_defaults(func=_vacuum)

    maintain = subparsers.add_parser(
        "maintain",
        help="the weekly Delta maintenance: retention, CHECK constraints, compaction, VACUUM",
        description="Run the steps of the DAG delta_maintenance by hand, in its order: the layers' "
        "retention properties, the gold tables' CHECK constraints from their declared value rules, "
        "OPTIMIZE (Z-order) of what changed since the last one, VACUUM that never deletes a pinned "
        "version's files. Prints what each step did as JSON; a refusal exits 1 naming the tables and why.",
    )
    maintain.add_argument("--step", action="append", choices=STEPS, help="run only this step (repeatable)")
    maintain.add_argument(
        "--table", action="append", help="maintain only this declared table (repeatable; default: all)"
    )
    maintain.set_defaults(func=_maintain)
