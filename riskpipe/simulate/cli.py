"""``riskpipe simulate`` sub-command (generate | serve | load-postgres).

Usage::

    riskpipe simulate --enterprises 10000 --months 36 --seed 7 --out var/landing
    riskpipe simulate serve --data var/landing --port 8765        # needs RISKPIPE_COURT_API_TOKEN
    riskpipe simulate load-postgres --data var/landing --dsn postgresql://u@localhost:5432/db
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from riskpipe.simulate.config import (
    ALL_SOURCES,
    DEFAULT_ENTERPRISES,
    DEFAULT_MONTHS,
    DEFAULT_SEED,
    DEFAULT_START,
    SimConfig,
)

ACTIONS = ("serve", "load-postgres")


def _sources(text: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = set(items) - set(ALL_SOURCES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown sources {sorted(unknown)}; choose from {','.join(ALL_SOURCES)}")
    return items


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``simulate`` sub-command to a top-level argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "simulate",
        help="generate deterministic source files (or serve / load them)",
        description="Generate deterministic, realistic and dirty source files for riskpipe. "
        "Actions: 'serve' (court REST API) and 'load-postgres' (core banking).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "action", nargs="?", choices=ACTIONS, help="serve the court API or load core banking into PostgreSQL"
    )
    gen = parser.add_argument_group("generate")
    gen.add_argument(
        "--enterprises", type=int, default=None, help=f"number of enterprises (default {DEFAULT_ENTERPRISES})"
    )
    gen.add_argument("--months", type=int, default=None, help=f"window length in months (default {DEFAULT_MONTHS})")
    gen.add_argument("--start", default=None, help=f"first month YYYY-MM (default {DEFAULT_START})")
    gen.add_argument("--seed", type=int, default=None, help=f"random seed (default {DEFAULT_SEED})")
    gen.add_argument("--out", help="output directory")
    gen.add_argument("--config", help="YAML with dirty-data rates / model parameters")
    gen.add_argument(
        "--sources", type=_sources, default=None, help=f"comma-separated subset of {','.join(ALL_SOURCES)}"
    )
    gen.add_argument("--clean", action="store_true", help="no injected defects")
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    srv = parser.add_argument_group("serve / load-postgres")
    srv.add_argument("--data", help="directory written by 'riskpipe simulate'")
    srv.add_argument("--host", default="127.0.0.1", help="bind address (serve)")
    srv.add_argument("--port", type=int, default=8765, help="port (serve)")
    srv.add_argument("--dsn", help="PostgreSQL DSN (load-postgres)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Dispatch on the parsed arguments; returns the process exit code."""
    if args.action == "serve":
        return _serve(args)
    if args.action == "load-postgres":
        return _load(args)
    return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from riskpipe.simulate import simulate

    if not args.out:
        print("error: --out is required", file=sys.stderr)
        return 2
    overrides = {
        "enterprises": args.enterprises,
        "months": args.months,
        "start": args.start,
        "seed": args.seed,
        "sources": args.sources,
        "quiet": args.quiet or None,
    }
    try:
        if args.config:
            cfg = SimConfig.from_yaml(args.config, **overrides)
        else:
            cfg = SimConfig.from_mapping({}, **overrides)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.clean:
        cfg = cfg.with_clean()
    started = time.perf_counter()
    summary = simulate(cfg, args.out)
    if not cfg.quiet:
        print(
            json.dumps(
                {
                    "out": args.out,
                    "seconds": round(time.perf_counter() - started, 1),
                    "rows_per_source": summary["rows_per_source"],
                    "defects_per_type": summary["defects_per_type"],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from riskpipe.simulate.server import TOKEN_ENV, start_server

    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"error: set {TOKEN_ENV} to the bearer token clients must send", file=sys.stderr)
        return 2
    if not args.data:
        print("error: --data is required", file=sys.stderr)
        return 2
    server, thread = start_server(args.data, args.host, args.port, token)
    host, port = server.server_address[:2]
    print(f"serving court events on http://{host}:{port}/api/v1/court-events", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _load(args: argparse.Namespace) -> int:
    from riskpipe.simulate.postgres import load_postgres

    if not args.data or not args.dsn:
        print("error: --data and --dsn are required", file=sys.stderr)
        return 2
    counts = load_postgres(args.data, args.dsn)
    print(json.dumps(counts))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m riskpipe.simulate``)."""
    parser = argparse.ArgumentParser(prog="riskpipe")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["simulate", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
