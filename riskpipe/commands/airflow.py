"""``riskpipe airflow ...``: set up the embedded Airflow, check the DAGs and run them locally.

* ``init``        migrate the metadata database (once per Airflow version) and create the
                  ``riskpipe_delta_writer`` pool;
* ``dags-check``  parse ``dags/`` with the real ``airflow`` CLI and fail on any import error;
* ``env``         print the Airflow environment as ``export`` lines (``eval "$(riskpipe airflow env)"``
                  before using the ``airflow`` CLI directly);
* ``run``         run DAGs in this process with ``dag.test()`` for every data interval of a window
                  (what ``make demo`` uses: no scheduler, one SparkSession for all runs).

Airflow reads its configuration at import, so every command builds the environment with
:mod:`riskpipe.airflow_env` before Airflow is imported.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, date, datetime, timedelta

# Order of a full local run: the registry first, so the other feeds can resolve enterprises.
INGESTION_DAGS = (
    "ingest_registry",
    "ingest_tax",
    "ingest_utility",
    "ingest_court",
    "ingest_transactions",
    "ingest_loans",
    "ingest_fund",
)


def _init(args: argparse.Namespace) -> int:
    from riskpipe.airflow_env import DELTA_WRITER_POOL, delta_writer_slots, ensure_airflow_db

    env = ensure_airflow_db(slots=args.slots, force=args.force)
    print(f"AIRFLOW_HOME      {env['AIRFLOW_HOME']}")
    print(f"metadata database {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}")
    print(f"dags folder       {env['AIRFLOW__CORE__DAGS_FOLDER']}")
    print(f"pool              {DELTA_WRITER_POOL} ({args.slots or delta_writer_slots(env)} slot(s))")
    return 0


def _last_json(text: str):
    # The airflow CLI may print warnings before its JSON output.
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise ValueError(f"no JSON in airflow output:\n{text}")


def _dags_check(args: argparse.Namespace) -> int:
    from riskpipe.airflow_env import run_airflow

    errors = _last_json(run_airflow(["dags", "list-import-errors", "--local", "-o", "json"]).stdout)
    for error in errors:
        print(f"IMPORT ERROR {error.get('filepath')}:\n{error.get('error')}", file=sys.stderr)
    dags = _last_json(run_airflow(["dags", "list", "--local", "-o", "json"], check=False).stdout)
    for dag in sorted(dags, key=lambda d: d["dag_id"]):
        print(f"{dag['dag_id']:24s} {dag['fileloc']}")
    missing = sorted(set(INGESTION_DAGS) - {d["dag_id"] for d in dags})
    if missing:
        print(f"missing DAGs: {', '.join(missing)}", file=sys.stderr)
    return 1 if errors or missing else 0


def _env(args: argparse.Namespace) -> int:
    from riskpipe.airflow_env import airflow_env

    env = airflow_env()
    for key in sorted(env):
        if key == "AIRFLOW_HOME" or key.startswith("AIRFLOW__") or key == "PYTHONPATH":
            print(f"export {key}={shlex.quote(env[key])}")
    return 0


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _test(dag, dag_id: str, label: str, *, logical_date: datetime | None, conf: dict | None) -> bool:
    """One ``dag.test()`` run, printed as a line; True when it succeeded."""
    began = time.monotonic()
    run = dag.test(logical_date=logical_date, run_conf=conf) if logical_date else dag.test(run_conf=conf)
    state = str(getattr(run, "state", "unknown"))
    print(f"{dag_id:22s} {label} {state:8s} {time.monotonic() - began:6.1f}s", flush=True)
    return state == "success"


def _run(args: argparse.Namespace) -> int:
    from riskpipe.airflow_env import apply_to_process, ensure_airflow_db

    ensure_airflow_db()
    apply_to_process()
    from airflow.dag_processing.dagbag import DagBag
    from croniter import croniter

    from riskpipe.airflow_env import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        print(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}", file=sys.stderr)
        return 1
    conf = json.loads(args.conf) if args.conf else None
    try:
        for dag_id in args.dag_ids or INGESTION_DAGS:
            dag = bag.dags[dag_id]
            timetable = getattr(dag.timetable, "timetable", dag.timetable)  # AssetOrTimeSchedule wraps a cron one
            if not hasattr(timetable, "expression"):
                # asset-triggered or manual (score_monthly, train_models): one run, told what to do by --conf
                if not _test(dag, dag_id, "manual run", logical_date=None, conf=conf):
                    return 1
                continue
            if args.start is None:
                print(f"{dag_id} runs on data intervals: give --start", file=sys.stderr)
                return 2
            start = _utc(args.start)
            cron = croniter(timetable.expression, start - timedelta(seconds=1))
            interval_start = cron.get_next(datetime)
            end = _utc(args.end) if args.end else croniter(timetable.expression, interval_start).get_next(datetime)
            while interval_start < end:
                interval_end = croniter(timetable.expression, interval_start).get_next(datetime)
                # dag.test() infers a manual run's interval as the last complete one before
                # the logical date: pass the interval's end.
                if not _test(
                    dag,
                    dag_id,
                    f"{interval_start:%Y-%m-%d}..{interval_end:%Y-%m-%d}",
                    logical_date=interval_end,
                    conf=conf,
                ):
                    return 1
                interval_start = interval_end
    except KeyError as error:
        print(f"unknown DAG {error}; known: {', '.join(sorted(bag.dags))}", file=sys.stderr)
        return 2
    finally:
        from riskpipe.core.spark import stop_spark

        stop_spark()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "airflow",
        help="set up the embedded Airflow, check and run the DAGs",
        description="Airflow helpers (AIRFLOW_HOME defaults to <repo>/airflow_home, "
        "SQLite metadata DB; any AIRFLOW__* variable you set wins).",
    )
    sub = parser.add_subparsers(dest="airflow_command", metavar="ACTION")
    sub.required = True

    init = sub.add_parser(
        "init",
        help="migrate the metadata DB and create the Delta writer pool",
        description="Run `airflow db migrate` (once per Airflow version) and "
        "`airflow pools set riskpipe_delta_writer N`.",
    )
    init.add_argument(
        "--slots",
        type=int,
        default=None,
        help="pool size (default RISKPIPE_DELTA_WRITER_SLOTS or 1; more is refused unless the "
        "lakehouse's store supports concurrent Delta writers: HDFS, ADLS Gen2, GCS, S3 with "
        "Delta's DynamoDB log store)",
    )
    init.add_argument("--force", action="store_true", help="migrate and set the pool even if done before")
    init.set_defaults(func=_init)

    check = sub.add_parser(
        "dags-check",
        help="parse dags/ with the airflow CLI; fail on import errors",
        description="Run `airflow dags list-import-errors --local` and `airflow dags list "
        "--local`; exit 1 on any import error or missing ingestion DAG.",
    )
    check.set_defaults(func=_dags_check)

    env = sub.add_parser(
        "env",
        help="print the Airflow environment as export lines",
        description="Print AIRFLOW_HOME and AIRFLOW__* settings; use "
        '`eval "$(riskpipe airflow env)"` before calling `airflow` directly.',
    )
    env.set_defaults(func=_env)

    run = sub.add_parser(
        "run",
        help="run DAGs in-process (dag.test) for each data interval of a window",
        description="For each DAG, run dag.test() for every data interval that starts in "
        "[--start, --end): one SparkSession, no scheduler. Stops at the first "
        "failed run.",
    )
    run.add_argument(
        "dag_ids", nargs="*", metavar="DAG_ID", help=f"DAGs to run, in order (default: {' '.join(INGESTION_DAGS)})"
    )
    run.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first day of the window (YYYY-MM-DD); the first interval starts on or after it "
        "(DAGs on data intervals); an asset-triggered or manual DAG runs once, with --conf",
    )
    run.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="end of the window, exclusive (default: one interval after --start)",
    )
    run.add_argument("--conf", default=None, help='JSON run conf / params, e.g. \'{"mode": "files"}\'')
    run.set_defaults(func=_run)
