"""``riskpipe train``, ``riskpipe promote``, ``riskpipe rollback`` and ``riskpipe models list``.

Configuration comes from the ``models:`` section of the profile, then ``--config FILE.yaml``,
then the flags (later wins), so any snapshot table can be trained without code changes.
"""

from __future__ import annotations

import argparse
import sys


def _flag_overrides(args: argparse.Namespace) -> dict:
    data = {
        key: value
        for key, value in {
            "table": args.table,
            "format": args.format,
            "version": args.data_version,
            "label_table": args.label_table,
            "id_col": args.id_col,
            "date_col": args.date_col,
            "label_col": args.label_col,
            "split_date": args.split_date,
            "features": args.features,
            "categorical_features": args.categorical_features,
            "max_categories": args.max_categories,
        }.items()
        if value is not None
    }
    top = {key: value for key, value in {"seed": args.seed, "name": args.name}.items() if value is not None}
    if args.no_register:
        top["register"] = False
    return {**top, **({"data": data} if data else {})}


def _config(args: argparse.Namespace, settings, overrides: dict | None = None):
    from models.config import load_yaml_overrides, model_config

    layers = [load_yaml_overrides(args.config)] if getattr(args, "config", None) else []
    return model_config(settings, *layers, overrides or {})


def _settings():
    from riskpipe.core.config import load_settings

    return load_settings()


def column_lines(columns) -> list[str]:
    """What training did with each column (:func:`models.data.column_report`), for the terminal."""
    lines = []
    for role, title in (("numeric", "numeric features"), ("categorical", "categorical features")):
        names = columns.loc[columns["role"] == role, "column"].tolist()
        lines.append(f"{title} ({len(names)}): {', '.join(names) or '-'}")
    unused = columns[~columns["role"].isin(("numeric", "categorical"))]
    if len(unused):
        lines.append(f"not features ({len(unused)}):")
        width = max(len(c) for c in unused["column"])
        lines += [f"  {r.column:{width}s}  {r.type:10s} {r.role}: {r.reason}" for r in unused.itertuples()]
    left_out = columns[(columns["scorecard"] != "") & (columns["scorecard"] != "in model")]
    if len(left_out):
        lines.append(f"left out of the scorecard ({len(left_out)}):")
        width = max(len(c) for c in left_out["column"])
        lines += [f"  {r.column:{width}s}  {r.scorecard}" for r in left_out.itertuples()]
    return lines


def _train(args: argparse.Namespace) -> int:
    from models.train import train
    from riskpipe.core.spark import get_spark, stop_spark

    settings = _settings()
    config = _config(args, settings, _flag_overrides(args))
    try:
        spark = get_spark(settings=settings, app_name="riskpipe-train")
        result = train(config, spark=spark, settings=settings, run_key=args.run_key)
    finally:
        stop_spark()
    print(f"data: {result.source}")
    if result.columns is not None:
        print("\n".join(column_lines(result.columns)))
    for kind, model in result.models.items():
        m = model.metrics
        print(
            f"{kind:10s} version={model.version or '-':4s} OOT AUC={m['oot_auc']:.4f} "
            f"Gini={m['oot_gini']:.4f} KS={m['oot_ks']:.4f} ECE={m['oot_ece']:.4f} "
            f"PSI={m['psi_score']:.4f} run={model.run_id}"
        )
    if result.candidate_kind:
        print(f"candidate: {result.candidate_kind} ({result.candidate_reason})")
    if result.candidate_version:
        print(
            f"{config.name}@challenger -> version {result.candidate_version}; "
            f"run `riskpipe promote` to put it through the gate"
        )
    return 0


def _promote(args: argparse.Namespace) -> int:
    from models.registry import promote

    config = _config(args, _settings(), {"name": args.name} if args.name else {})
    decision = promote(config, args.version)
    for reason in decision.reasons:
        print(reason)
    print("PROMOTED" if decision.passed else "REJECTED: champion unchanged")
    return 0 if decision.passed else 2


def _rollback(args: argparse.Namespace) -> int:
    from models.registry import rollback

    config = _config(args, _settings(), {"name": args.name} if args.name else {})
    previous = rollback(config, args.to_version)
    print(f"{config.name}@champion: version {previous or 'none'} -> {args.to_version}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from models.registry import list_versions

    config = _config(args, _settings(), {"name": args.name} if args.name else {})
    rows = list_versions(config)
    if not rows:
        print(f"no versions of {config.name}", file=sys.stderr)
        return 1
    print(
        f"{'version':>7s} {'kind':10s} {'aliases':20s} {'oot_auc':>8s} {'oot_ece':>8s} {'psi':>7s} "
        f"{'data':>5s} decision"
    )
    for r in rows:
        fmt = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
        print(
            f"{r['version']:>7d} {r['kind']:10s} {r['aliases']:20s} {fmt(r['oot_auc']):>8s} "
            f"{fmt(r['oot_ece']):>8s} {fmt(r['psi_score']):>7s} {r['data_version']:>5s} {r['decision']}"
        )
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="YAML with a `models:` mapping (or the mapping itself)")
    parser.add_argument("--name", help="registered model name (default: mlflow.model_name of the profile)")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train the scorecard and LightGBM challenger, log and register them",
        description="Train on any snapshot table (Delta or Parquet): out-of-time split, WoE scorecard and "
        "LightGBM, calibration, evaluation, MLflow logging and registration. The new candidate "
        "gets the `challenger` alias.",
    )
    _common(train)
    train.add_argument("--table", help="declared table name or a path/URI")
    train.add_argument("--format", choices=("delta", "parquet"))
    train.add_argument("--data-version", type=int, help="Delta version to pin (default: latest)")
    train.add_argument("--label-table", help="table holding the label, joined on id and date")
    train.add_argument("--id-col")
    train.add_argument("--date-col")
    train.add_argument("--label-col")
    train.add_argument("--split-date", help="train on snapshots before this date, validate on/after it")
    train.add_argument(
        "--features",
        help="comma-separated feature columns (default: every numeric and string column not reserved or excluded)",
    )
    train.add_argument(
        "--categorical-features",
        help="comma-separated categorical feature columns (default: every string column; '' for none)",
    )
    train.add_argument(
        "--max-categories", type=int, help="drop a categorical column with more distinct values (default: 50)"
    )
    train.add_argument("--seed", type=int)
    train.add_argument("--no-register", action="store_true", help="log runs only, register nothing")
    train.add_argument(
        "--run-key",
        help="identity of this training: rerunning with the same key resumes its "
        "MLflow runs (a finished model is not logged or registered again)",
    )
    train.set_defaults(func=_train)

    promote = subparsers.add_parser(
        "promote",
        help="run the promotion gate and move @champion if it passes",
        description="Compare a version (default: @challenger) with @champion: OOT AUC margin, calibration "
        "error and score PSI. Exit code 2 when the gate refuses.",
    )
    _common(promote)
    promote.add_argument("--version", help="model version to promote (default: @challenger)")
    promote.set_defaults(func=_promote)

    rollback = subparsers.add_parser(
        "rollback",
        help="point @champion back at an earlier version",
        description="Move the champion alias to --to-version (recorded as tags).",
    )
    _common(rollback)
    rollback.add_argument("--to-version", required=True)
    rollback.set_defaults(func=_rollback)

    models = subparsers.add_parser(
        "models", help="inspect registered model versions", description="Model registry commands."
    )
    models_sub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    models_sub.required = True
    listing = models_sub.add_parser(
        "list",
        help="list versions with kind, aliases, metrics and decision",
        description="List every version of the registered model.",
    )
    _common(listing)
    listing.set_defaults(func=_list)
