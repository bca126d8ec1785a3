"""``riskpipe info``, ``riskpipe jars`` and ``riskpipe tables``: settings, jars and the table registry."""

from __future__ import annotations

import argparse
import re

# Spark's own default redaction pattern: keys that name credentials.
_SECRET_KEY = re.compile(r"(?i)secret|password|token|access[.]?key")


def _info(args: argparse.Namespace) -> int:
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import spark_conf

    settings = load_settings()
    for name in settings.__dataclass_fields__:
        # object_store_conf may hold credentials; its keys appear (redacted) with --spark-conf
        if name not in ("raw", "object_store_conf"):
            print(f"{name:24s} {getattr(settings, name)}")
    if args.spark_conf:
        for key, value in sorted(spark_conf(settings).items()):
            print(f"  {key} = {_shown(key, value)}")
    return 0


def _shown(key: str, value: str) -> str:
    if key == "spark.jars":
        return f"<{value.count(',') + 1} jars>"
    if _SECRET_KEY.search(key):
        return "<redacted>"
    return value


def _jars(args: argparse.Namespace) -> int:
    from riskpipe.core.config import load_settings
    from riskpipe.core.jars import ensure_jars

    ensure_jars(settings=load_settings(), verbose=True)
    return 0


def _tables(args: argparse.Namespace) -> int:
    from schemas.registry import all_tables

    specs = all_tables(args.layer)
    if args.create:
        from riskpipe.commands import session
        from riskpipe.core.io import ensure_table, table_path

        settings, spark = session("riskpipe-tables")
        for spec in specs:
            ensure_table(spark, spec, settings=settings)
            print(f"ensured {spec.layer}.{spec.name} at {table_path(spec, settings=settings)}")
        return 0
    for spec in specs:
        keys = ",".join(spec.keys) or "-"
        parts = ",".join(spec.partition_by) or "-"
        print(f"{spec.layer:7s} {spec.name:24s} keys={keys:32s} partitions={parts:12s} {spec.description}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    info = subparsers.add_parser(
        "info",
        help="show resolved settings (profile + environment)",
        description="Show the resolved settings from conf/default.yaml, "
        "RISKPIPE_PROFILE and RISKPIPE_* environment variables.",
    )
    info.add_argument("--spark-conf", action="store_true", help="also print the Spark configuration")
    info.set_defaults(func=_info)

    jars = subparsers.add_parser(
        "jars",
        help="resolve and cache the Delta and JDBC jars",
        description="Resolve the configured Maven packages once with Spark's Ivy "
        "(fallback: mvn dependency:copy) into the jar cache.",
    )
    jars.set_defaults(func=_jars)

    tables = subparsers.add_parser(
        "tables",
        help="list (or create) the declared tables",
        description="List every table declared in schemas/, or create them.",
    )
    tables.add_argument("--layer", choices=("bronze", "silver", "gold", "ops"), help="only this layer")
    tables.add_argument("--create", action="store_true", help="create missing Delta tables")
    tables.set_defaults(func=_tables)
