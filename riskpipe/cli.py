"""The ``riskpipe`` command line: one entry point for every step of the pipeline.

Each subcommand module exposes ``register(subparsers)``; heavy imports happen
inside the command functions so that ``riskpipe --help`` stays fast.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskpipe",
        description="SME credit-risk monitoring pipeline: simulate sources, ingest to Delta, "
        "build features, train, score, warn and report.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # batch commands: MLflow's per-file download progress bars only flood the logs
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # ... and matplotlib's note for every plot with grade labels (training and report plots)
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
        return 0
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
