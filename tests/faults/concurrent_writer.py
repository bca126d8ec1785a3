"""One of two processes MERGE-ing into the same table at the same moment.

``python -m tests.faults.concurrent_writer TABLE OFFSET ROWS READY_DIR NAME`` upserts ``ROWS``
synthetic rows from id ``OFFSET`` into ``TABLE`` of ``RISKPIPE_LAKEHOUSE``. After its Spark
session is up it touches ``READY_DIR/NAME`` and waits for the other process's file, so both
MERGEs start together.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from riskpipe.core import io
from riskpipe.core.config import load_settings
from riskpipe.core.spark import get_spark
from tests.faults.data import synthetic

WRITERS = 2
WAIT_S = 600.0
POLL_S = 0.05


def main(argv: list[str]) -> int:
    table, offset, rows, ready_dir, name = argv[0], int(argv[1]), int(argv[2]), Path(argv[3]), argv[4]
    settings = load_settings()
    spark = get_spark(settings=settings, app_name=f"riskpipe-concurrent-{name}")
    frame = synthetic(spark, table, rows, offset=offset).cache()
    frame.count()
    io.ensure_table(spark, table, settings=settings)
    (ready_dir / name).touch()
    deadline = time.monotonic() + WAIT_S
    while len(list(ready_dir.iterdir())) < WRITERS and time.monotonic() < deadline:
        time.sleep(POLL_S)
    io.merge_upsert(frame, table, settings=settings)
    print(f"{name} merged", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
