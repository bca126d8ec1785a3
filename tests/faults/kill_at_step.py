"""Run one ingestion batch and SIGKILL the process at a chosen step of it.

``python -m tests.faults.kill_at_step STEP SOURCE START END`` runs ``jobs.ingest.run.run_source``
for ``[START, END)`` with one write of the batch wrapped so that the process kills itself with
SIGKILL there (:data:`STEPS`). It prints ``killing myself: <step>`` first and never returns.

The caller provides the environment: ``RISKPIPE_LAKEHOUSE``, ``RISKPIPE_LANDING`` and
``RISKPIPE_DATA_DOCS_DIR``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

# step -> (module, function, when): the function's call at which the process dies
STEPS = {
    "after bronze": ("riskpipe.core.io", "insert_new", "after"),
    "after quarantine": ("riskpipe.core.io", "insert_new", "after"),
    "during the silver MERGE": ("riskpipe.core.io", "merge_upsert", "during"),
    "after the silver MERGE": ("riskpipe.core.io", "merge_upsert", "after"),
    "after the manifest": ("jobs.ingest.connectors.files", "record", "after"),
    "during the derived checks": ("riskpipe.core.io", "replace_where", "before"),
}
GAP_TABLES = ("data_gaps", "continuity_gaps")
# "during": the MERGE has read its source and is writing or committing when the kill lands
DURING_DELAY_S = 0.5


def _target_call(step: str, source: str, args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether this call of the wrapped function is the batch's write of ``step``."""
    table = args[1] if len(args) > 1 else kwargs.get("table")
    table = getattr(table, "name", table)  # a table name or its TableSpec
    if step == "after bronze":
        return table == f"bronze_{source}"
    if step == "after quarantine":
        return table == "quarantine"
    if step in ("during the silver MERGE", "after the silver MERGE"):
        return table == source
    if step == "after the manifest":
        return kwargs.get("status") == "succeeded"
    return table in GAP_TABLES


def _die(step: str) -> None:
    print(f"killing myself: {step}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    import importlib

    step, source, start, end = argv
    module_name, name, when = STEPS[step]
    module = importlib.import_module(module_name)
    original: Callable[..., Any] = getattr(module, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _target_call(step, source, args, kwargs):
            return original(*args, **kwargs)
        if when == "before":
            _die(step)
        if when == "during":
            threading.Timer(DURING_DELAY_S, _die, args=(step,)).start()
        result = original(*args, **kwargs)
        if when == "after":
            _die(step)
        threading.Event().wait()  # "during": the timer kills the process
        return result

    setattr(module, name, wrapped)
    from jobs.ingest.run import run_source
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    spark = get_spark(settings=settings, app_name="riskpipe-kill-at-step")
    run_source(source, data_interval_start=start, data_interval_end=end, settings=settings, spark=spark)
    print(f"finished without reaching the step: {step}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
