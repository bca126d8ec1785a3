"""``riskpipe validate --version N``: the model validation report of a registered version.

Rebuilds the version's out-of-time sample at the data versions training logged, scores it with the
registered model and writes the report (Markdown, HTML, CSV tables, metrics JSON) to ``--out``
(default ``<report.output_dir>/validation/<name>_v<N>``), logging it to the version's MLflow run
under ``validation/``. Prints a short summary and the path of the HTML page. Exit code 0 whatever
the traffic lights say (they are results, logged with the report); ``--fail-on-red`` exits 2 when
the report's status is red.
"""

from __future__ import annotations

import argparse

RED_EXIT_CODE = 2


def _validate(args: argparse.Namespace) -> int:
    from pyspark.sql import SparkSession

    from jobs.model_monitoring.validation import validate_version
    from models.config import load_yaml_overrides, model_config
    from models.validation import format_pd
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark, stop_spark

    settings = load_settings()
    owned = SparkSession.getActiveSession() is None  # stop only a session this command started
    layers = [load_yaml_overrides(args.config)] if args.config else []
    config = model_config(settings, *layers, {"name": args.name} if args.name else {})
    spark = get_spark(settings=settings, app_name="riskpipe-validate")
    try:
        result = validate_version(
            args.version,
            config=config,
            settings=settings,
            spark=spark,
            challenger=args.challenger,
            truth=args.truth,
            use_truth=not args.no_truth,
            out=args.out,
            log=not args.no_log,
        )
    finally:
        if owned:
            stop_spark()
    low, high = result["gini_ci"]
    grades = result["grades"]
    print(f"{config.name} v{result['version']}: {result['status'].upper()}")
    print(f"  OOT Gini {result['gini']:.3f} [{low:.3f}, {high:.3f}]")
    if "challenger" in result:
        print(f"  challenger {result['challenger']['label']}: Gini {result['challenger']['gini']:.3f}")
    if "oracle_ratio" in result:
        r_low, r_high = result["oracle_ratio_ci"]
        print(
            f"  oracle Gini {result['oracle_gini']:.3f}; champion / oracle {result['oracle_ratio']:.3f} "
            f"[{r_low:.3f}, {r_high:.3f}] (simulated data)"
        )
    print(f"  grades {grades['green']} green / {grades['amber']} amber / {grades['red']} red (Jeffreys test)")
    print(f"  min PD {format_pd(result['min_pd'])} ({result['rows_below_pd_floor']} rows below the floor)")
    print(f"report: {result['html']}")
    return RED_EXIT_CODE if args.fail_on_red and result["status"] == "red" else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="model validation report of a registered version (HTML, logged to MLflow)",
        description="Discrimination out of time with confidence intervals (DeLong or bootstrap), calibration by "
        "grade with the Jeffreys test, the PD floor, stability (PSI), the challenger side by side and, "
        "on simulated data, the oracle Gini of the latent PD. Rebuilds the version's out-of-time sample "
        "from what training logged; writes Markdown, HTML and CSV and logs them under validation/ of "
        "the version's run.",
    )
    parser.add_argument("--version", required=True, help="registered model version to validate")
    parser.add_argument(
        "--challenger", metavar="M", help="version shown side by side (default: the other kind of the same training)"
    )
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument(
        "--truth",
        metavar="PATH",
        help="simulator latent-PD table (truth/ folder or latent_pd.parquet; default: "
        "<landing_root>/truth/latent_pd.parquet when it exists)",
    )
    truth.add_argument("--no-truth", action="store_true", help="leave the oracle section out")
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default: <report.output_dir>/validation/<name>_v<N>)"
    )
    parser.add_argument("--no-log", action="store_true", help="write the files only, log nothing to MLflow")
    parser.add_argument("--fail-on-red", action="store_true", help=f"exit {RED_EXIT_CODE} when the status is red")
    parser.add_argument("--config", metavar="YAML", help="YAML with a `models:` mapping (or the mapping itself)")
    parser.add_argument("--name", help="registered model name (default: mlflow.model_name of the profile)")
    parser.set_defaults(func=_validate)
