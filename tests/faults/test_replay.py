"""Guarantee 2: replaying an interval and backfilling an earlier one gives the tables of one clean run."""

from __future__ import annotations

import pytest

from riskpipe.core import io
from tests.faults.data import content_hash

SOURCE = "tax_filings"
ENTERPRISES, MONTHS, SEED, FIRST_MONTH = 20, 4, 17, "2019-01"
# monthly data intervals [start, end) of the deliveries
INTERVALS = (("2019-02-01", "2019-03-01"), ("2019-03-01", "2019-04-01"), ("2019-04-01", "2019-05-01"))
CLEAN_ORDER = (0, 1, 2)
# the last interval twice (a retried DAG run), then the skipped middle one (a backfill)
REPLAY_ORDER = (0, 2, 2, 1)
COMPARED = (SOURCE, f"bronze_{SOURCE}", "quarantine")
# a delivery holds ~20 rows, so one defect is 5%: quarantine it instead of rejecting the batch
MAX_FAILURE_RATE = 0.5


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """Simulator tax deliveries of 20 enterprises over four months (dirty data included)."""
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    root = tmp_path_factory.mktemp("replay_landing")
    simulate(
        SimConfig(enterprises=ENTERPRISES, months=MONTHS, seed=SEED, start=FIRST_MONTH, sources=("tax",), quiet=True),
        root,
    )
    return root


def _settings():
    """The environment's settings, with the small-batch failure threshold."""
    from riskpipe.core.config import load_settings

    return load_settings().merged({"ingestion": {"max_failure_rate": MAX_FAILURE_RATE}})


def _ingest(spark, landing, lake, order) -> tuple[dict[str, str], list[dict]]:
    """Run the intervals in ``order`` into ``lake``; content hashes of the compared tables, summaries."""
    from jobs.ingest.run import run_source

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(lake))
        mp.setenv("RISKPIPE_LANDING", str(landing))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        settings = _settings()
        summaries = [
            run_source(
                SOURCE,
                data_interval_start=INTERVALS[i][0],
                data_interval_end=INTERVALS[i][1],
                spark=spark,
                settings=settings,
            )
            for i in order
        ]
        hashes = {table: content_hash(io.read(spark, table, settings=settings)) for table in COMPARED}
    return hashes, summaries


@pytest.mark.reliability(
    "2 idempotent replay",
    "an interval ingested twice, then an earlier one backfilled",
    "silver, bronze and quarantine content hashes equal one clean run in order",
)
@pytest.mark.reliability(
    "2 idempotent replay", "an interval ingested twice", "the replay processes no file and publishes nothing"
)
@pytest.mark.reliability(
    "2 idempotent replay",
    "an earlier interval backfilled after a later one",
    "the backfill is not skipped: its rows are published",
)
def test_replay_and_backfill_converge_to_the_clean_run(spark, landing, tmp_path):
    clean, clean_runs = _ingest(spark, landing, tmp_path / "clean", CLEAN_ORDER)
    replayed, replay_runs = _ingest(spark, landing, tmp_path / "replayed", REPLAY_ORDER)
    assert all(run["rows_published"] > 0 for run in clean_runs)
    replay, backfill = replay_runs[2], replay_runs[3]
    assert replay["files"] == [] and replay["batch_id"] is None and replay["files_skipped"]
    assert backfill["rows_published"] > 0 and backfill["batch_id"] == clean_runs[1]["batch_id"]
    assert replayed == clean
