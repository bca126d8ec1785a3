"""One of two processes running the same file batch through ``run_source`` at the same moment.

``python -m tests.faults.concurrent_batch LANDING LAKES TRIALS READY_DIR NAME`` ingests the
tax filings of ``LANDING`` for March 2020 into ``LAKES/trial-<i>`` for each of ``TRIALS``
trials. One Spark session serves every trial. Before each trial it touches
``READY_DIR/trial-<i>/NAME`` and waits for the other process's file, so both attempts of the
batch start together. Prints one summary line per trial.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from riskpipe.core.config import load_settings
from riskpipe.core.spark import get_spark

WRITERS = 2
WAIT_S = 600.0
POLL_S = 0.02
SOURCE, START, END = "tax_filings", "2020-03-01", "2020-04-01"


def _barrier(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).touch()
    deadline = time.monotonic() + WAIT_S
    while len(list(folder.iterdir())) < WRITERS and time.monotonic() < deadline:
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    from jobs.ingest.run import run_source

    landing, lakes, trials, ready, name = Path(argv[0]), Path(argv[1]), int(argv[2]), Path(argv[3]), argv[4]
    os.environ["RISKPIPE_LANDING"] = str(landing)
    os.environ["RISKPIPE_DATA_DOCS_DIR"] = ""
    spark = get_spark(settings=load_settings(), app_name=f"riskpipe-concurrent-batch-{name}")
    for trial in range(trials):
        # each trial's settings (and so every table, the manifest's too) point at its own lakehouse
        os.environ["RISKPIPE_LAKEHOUSE"] = str(lakes / f"trial-{trial}")
        settings = load_settings()
        _barrier(ready / f"trial-{trial}", name)
        try:
            summary = run_source(
                SOURCE, data_interval_start=START, data_interval_end=END, spark=spark, settings=settings
            )
        except BaseException:
            for later in range(trial + 1, trials):  # the other process must not wait for this one
                (ready / f"trial-{later}").mkdir(parents=True, exist_ok=True)
                (ready / f"trial-{later}" / name).touch()
            raise
        print(
            json.dumps(
                {
                    "trial": trial,
                    "name": name,
                    "batch_id": summary["batch_id"],
                    "rows_published": summary.get("rows_published"),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
