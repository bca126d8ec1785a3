"""Ingest intervals of several feeds and SIGKILL the process inside their derived checks.

``python -m tests.faults.killable_ingest SOURCE:START:END [SOURCE:START:END ...]`` runs
``jobs.ingest.run.run_source`` for each data interval ``[START, END)``, one after the other, with
``riskpipe.core.io.replace_where`` wrapped so that no gap register (``data_gaps``, ``continuity_gaps``)
is ever written: every feed but the last is parked at its gap register's write (its thread waits
there for good, so the next feed runs with nothing else writing), and at the last feed's write the
process kills itself with SIGKILL. By then each batch is whole and the manifest marks its files
succeeded: the gaps are computed but never written, the state a worker lost after the commit point
leaves. The process never returns.

The caller provides the environment: ``RISKPIPE_LAKEHOUSE``, ``RISKPIPE_LANDING`` and
``RISKPIPE_PROFILE``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

KILLED_AT = "derived checks, before the gap register's write"
GAP_TABLES = ("data_gaps", "continuity_gaps")


def main(argv: list[str]) -> int:
    intervals = [arg.split(":") for arg in argv]
    from riskpipe.core import io

    replace_where = io.replace_where
    parked = threading.Event()
    killer = threading.get_ident()

    def never_write_a_gap_register(frame, table, *args, **kwargs):
        if table not in GAP_TABLES:
            return replace_where(frame, table, *args, **kwargs)
        if threading.get_ident() == killer:
            print(f"killing myself: {KILLED_AT} ({table})", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        print(f"parked: {KILLED_AT} ({table})", flush=True)
        parked.set()
        threading.Event().wait()  # for good: the process dies with this write pending

    io.replace_where = never_write_a_gap_register
    from jobs.ingest.run import run_source
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    spark = get_spark(settings=settings, app_name="riskpipe-killable-ingest")

    failed: list[str] = []

    def ingest(source: str, start: str, end: str) -> None:
        try:
            run_source(source, data_interval_start=start, data_interval_end=end, settings=settings, spark=spark)
        except BaseException as exc:
            failed.append(f"{source}: {type(exc).__name__}: {exc}")
        else:
            failed.append(f"{source}: finished without reaching a gap register")
        parked.set()

    for source, start, end in intervals[:-1]:
        parked.clear()
        threading.Thread(target=ingest, args=(source, start, end), daemon=True).start()
        parked.wait()
        if failed:
            print(f"not parked in its derived checks: {failed[0]}", flush=True)
            return 4
    source, start, end = intervals[-1]
    run_source(source, data_interval_start=start, data_interval_end=end, settings=settings, spark=spark)
    print("the ingestion finished: the kill did not happen", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
