"""The ``riskpipe`` command line: one entry point for every step of the pipeline.

Each subcommand module exposes ``register(subparsers)``; heavy imports happen
inside the command functions so that ``riskpipe --help`` stays fast. Logging is set up here once
(``--log-level``); an error the user can act on (bad input, a refused batch, missing credentials)
prints one line and exits 1, with the traceback only at ``--log-level DEBUG``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence

# Subcommand modules, each with register(subparsers). Order = order in --help.
COMMAND_MODULES = (
    "riskpipe.commands.info",
    "riskpipe.simulate.cli",
    "riskpipe.commands.ingest",
    "riskpipe.commands.delta",
    "riskpipe.commands.features",
    "riskpipe.commands.models",
    "riskpipe.commands.validate",
    "riskpipe.commands.assess",
    "riskpipe.commands.score",
    "riskpipe.commands.model_monitoring",
    "riskpipe.commands.portfolio",
    "riskpipe.commands.report",
    "riskpipe.commands.airflow",
    "riskpipe.commands.demo",
    "riskpipe.commands.bench",
)

# Errors that name what to fix (the file, row, field, table or setting): one line, exit 1.
# "module:Class", resolved only when a command fails so that --help imports nothing heavy.
KNOWN_ERRORS = (
    "builtins:ValueError",
    "builtins:FileNotFoundError",
    "expectations.validate:BatchRejectedError",
    "jobs.ingest.batch:ReconciliationError",
    "jobs.ingest.restore:RestoreRefusedError",
    "jobs.ingest.core_banking:IntervalBeforeWatermarkError",
    "jobs.ingest.connectors.files:ChangedFileError",
    "riskpipe.core.credentials:MissingCredentialsError",
    "jobs.ingest.connectors.rest:RestError",
    "jobs.maintenance.main:MaintenanceRefusedError",
    "riskpipe.core.jars:JarResolutionError",
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# libraries that log every connection or plot at INFO: warnings only, whatever --log-level says
QUIET_LIBRARIES = ("py4j", "matplotlib", "urllib3", "filelock", "asyncio")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskpipe",
        description="SME credit-risk monitoring pipeline: simulate sources, ingest to Delta, "
        "build features, train, score, warn and report.",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level of riskpipe's own modules (default WARNING); DEBUG also prints tracebacks",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def known_errors() -> tuple[type[BaseException], ...]:
    """The classes of :data:`KNOWN_ERRORS` (raises if one no longer exists: the list must follow the code)."""
    return tuple(getattr(importlib.import_module(ref.split(":")[0]), ref.split(":")[1]) for ref in KNOWN_ERRORS)


def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (a no-op where logging is already set up, e.g. under pytest)."""
    # the handler filters too: a library that sets its own logger to INFO (Great Expectations does)
    # would otherwise print through it whatever the root's level
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def main(argv: Sequence[str] | None = None) -> int:
    # batch commands: MLflow's per-file download progress bars only flood the logs
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - known errors are reported, others re-raised
        if args.log_level == "DEBUG" or not isinstance(error, known_errors()):
            raise
        message = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"riskpipe {args.command}: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
        return 0
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
