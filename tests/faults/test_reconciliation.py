"""Guarantee 6: a batch's row counts reconcile, per file and in total, with what Delta committed.

rows read = inserted + updated + quarantined + duplicates, for every file of a batch,
and the silver MERGE's and the bronze insert's ``operationMetrics`` (read from the batch's own
commit) agree with the counts; a mismatch fails the batch before the manifest marks its files done.
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from riskpipe.core import io
from tests.jobs.ingest.test_run_faults import HEADER, _row, _run, _settings, lake  # noqa: F401  (lake: the fixture)

ORIGINAL, REDELIVERY = "tax_filings_202003.csv", "tax_filings_202003_redelivery.csv"


def _two_file_batch(lake) -> dict[str, dict[str, int]]:
    """Two files of one interval: the first with a malformed line, the second repeating 5 of its
    rows (the later file wins them: duplicates in the first). Returns the expected counts per file."""
    first = [_row(n) for n in range(20)]
    first[3] = _row(3).rsplit(",", 2)[0]
    second = [_row(n) for n in range(15, 30)]
    for name, rows in ((ORIGINAL, first), (REDELIVERY, second)):
        (lake / name).write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    counts = {
        ORIGINAL: dict(rows_read=20, rows_inserted=14, rows_quarantined=1, rows_duplicate=5),
        REDELIVERY: dict(rows_read=15, rows_inserted=15, rows_quarantined=0, rows_duplicate=0),
    }
    return {
        f"tax/filings/{name}": {"rows_updated": 0, **c, "rows_published": c["rows_inserted"]}
        for name, c in counts.items()
    }


def _manifest_counts(spark) -> dict[str, dict[str, int]]:
    from jobs.ingest.connectors.files import COUNT_COLUMNS

    return {
        r["path"]: {c: r[c] for c in COUNT_COLUMNS}
        for r in io.read(spark, "ingest_manifest", settings=_settings()).where(F.col("status") == "succeeded").collect()
    }


@pytest.mark.reliability(
    "6 reconciliation",
    "a batch of two files: a malformed line in one, five rows repeated in the other",
    "per-file counts (read, inserted, updated, "
    "quarantined, duplicate) in the summary and the manifest; the silver MERGE's "
    "operationMetrics equal the counts",
)
def test_a_multi_file_batch_keeps_counts_per_file_that_reconcile_with_the_commits(spark, lake):
    expected = _two_file_batch(lake)
    summary = _run(spark)
    assert summary["per_file"] == expected
    assert _manifest_counts(spark) == expected
    assert (summary["rows_read"], summary["rows_inserted"], summary["rows_quarantined"], summary["rows_duplicate"]) == (
        35,
        29,
        1,
        5,
    )
    # the silver MERGE committed what the counts say, read back from Delta's history
    merge = next(c for c in io.history(spark, "tax_filings", settings=_settings()) if c["operation"] == "MERGE")
    assert io.tagged_batch(merge["userMetadata"]) == summary["batch_id"]
    assert int(merge["operationMetrics"]["numTargetRowsInserted"]) == 29


@pytest.mark.reliability(
    "6 reconciliation",
    "the commit's metrics read back one row less than the batch counted (silver MERGE; bronze insert)",
    "the batch fails naming the batch, the "
    "table and both counts; the manifest marks no file done; a rerun (silver case) "
    "publishes the batch",
)
@pytest.mark.parametrize("table", ["tax_filings", "bronze_tax_filings"])
def test_a_commit_that_disagrees_with_the_counts_fails_the_batch_before_the_manifest(spark, lake, monkeypatch, table):
    from jobs.ingest.batch import ReconciliationError

    expected = _two_file_batch(lake)
    metric = "numTargetRowsInserted" if table == "tax_filings" else "numSourceRows"
    counted = 29 if table == "tax_filings" else 35
    real = io.commit_metrics

    def one_row_less(spark_, name, **kwargs):
        metrics = real(spark_, name, **kwargs)
        return {**metrics, metric: metrics[metric] - 1} if name == table else metrics

    with monkeypatch.context() as mp:
        mp.setattr(io, "commit_metrics", one_row_less)
        with pytest.raises(ReconciliationError) as err:
            _run(spark)
    assert (err.value.table, err.value.expected, err.value.committed) == (table, counted, counted - 1)
    message = str(err.value)
    assert f"table {table}" in message and f"counts {counted}, Delta committed {counted - 1}" in message
    assert err.value.batch_id in message
    assert _manifest_counts(spark) == {}  # the files are not marked done: a rerun processes them
    if table != "tax_filings":
        return
    rerun = _run(spark)
    assert rerun["batch_id"] == err.value.batch_id and rerun["rows_published"] == 29
    assert {path: c["rows_read"] for path, c in _manifest_counts(spark).items()} == {
        path: c["rows_read"] for path, c in expected.items()
    }
