"""File-drop discovery and the exactly-once manifest (real Delta table on the test lakehouse)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.ingest.connectors.files import (
    ChangedFileError,
    LandedFile,
    batch_id_for,
    discover,
    manifest,
    plan,
    record,
)

T0 = datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2024, 2, 1, 8, 5, tzinfo=UTC)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def statuses(spark, source, settings):
    rows = manifest(spark, source, settings=settings).select("path", "checksum", "status").collect()
    return {(r["path"], r["checksum"]): r["status"] for r in rows}


def test_discover_sorted_hashed_relative_and_skips_hidden(tmp_path):
    drop = tmp_path / "tax" / "filings"
    write(drop / "tax_filings_202402.csv", "uscc,period\nB,2024-01\n")
    write(drop / "tax_filings_202401.csv", "uscc,period\nA,2023-12\n")
    write(drop / ".tax_filings_202403.csv.part", "in flight")
    write(drop / "_SUCCESS", "")
    write(drop / "notes.txt", "not matched")

    files = discover(drop, "*.csv", root=tmp_path)

    assert [f.rel_path for f in files] == ["tax/filings/tax_filings_202401.csv", "tax/filings/tax_filings_202402.csv"]
    first = files[0]
    assert first.size == first.path.stat().st_size
    assert first.checksum == hashlib.sha256(first.path.read_bytes()).hexdigest()


def test_discover_paths_are_relative_to_the_landing_root_given(settings):
    drop = Path(settings.landing_root) / "utility"
    write(drop / "utility_reads_202401.jsonl", '{"meter_id": "M1"}\n')

    found = discover(drop, "utility_reads_*.jsonl", root=settings.landing_root)

    assert [f.rel_path for f in found] == ["utility/utility_reads_202401.jsonl"]


def test_discover_outside_the_landing_root_is_a_clear_error(tmp_path):
    drop = tmp_path / "elsewhere"
    write(drop / "utility_reads_202401.jsonl", '{"meter_id": "M1"}\n')

    with pytest.raises(ValueError, match="not inside the landing root"):
        discover(drop, "*.jsonl", root=tmp_path / "landing")


def test_discover_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        discover(tmp_path / "no_such_dir", "*.csv", root=tmp_path)


def test_batch_id_is_deterministic():
    a = LandedFile(Path("/x/a"), "a", 1, "aaa")
    b = LandedFile(Path("/x/b"), "b", 1, "bbb")

    assert batch_id_for("tax", "2024-02-01", [a, b]) == batch_id_for("tax", "2024-02-01", [b, a])
    assert batch_id_for("tax", "2024-02-01", [a, b]) == batch_id_for(
        "tax",
        "2024-02-01",
        [LandedFile(Path("/elsewhere/b"), "b", 1, "bbb"), LandedFile(Path("/elsewhere/a"), "a", 1, "aaa")],
    )
    assert batch_id_for("tax", "2024-02-01", [a]) != batch_id_for("tax", "2024-03-01", [a])
    assert batch_id_for("tax", "2024-02-01", [a]) != batch_id_for("utility", "2024-02-01", [a])
    assert batch_id_for("tax", "2024-02-01T00:00:00+00:00", [a]).startswith("tax-2024-02-01-")


def test_the_same_bytes_under_a_new_name_get_their_own_batch_id():
    original = LandedFile(Path("/x/tax_filings_202402.csv"), "tax_filings_202402.csv", 1, "aaa")
    redelivered = LandedFile(
        Path("/x/tax_filings_202402_redelivery.csv"), "tax_filings_202402_redelivery.csv", 1, "aaa"
    )

    assert batch_id_for("tax", "2024-02-01", [original]) != batch_id_for("tax", "2024-02-01", [redelivered])


def test_processed_files_are_skipped_failed_and_unfinished_ones_retried(spark, tmp_path, settings):
    source = "files_test_lifecycle"
    for month in ("01", "02", "03"):
        write(tmp_path / f"f_2024{month}.csv", f"month,{month}\n")
    files = discover(tmp_path, "*.csv", root=tmp_path)
    first = plan(spark, source, files, settings=settings)
    assert first.to_process == files and not first.already_done and not first.changed

    batch = batch_id_for(source, "2024-02-01", files)
    record(spark, source, files, batch_id=batch, status="started", logical_date="2024-02-01", now=T0, settings=settings)
    record(
        spark,
        source,
        files[:1],
        batch_id=batch,
        status="succeeded",
        logical_date="2024-02-01",
        counts={files[0].rel_path: {"rows_read": 1, "rows_published": 1}},
        now=T1,
        settings=settings,
    )
    record(
        spark,
        source,
        files[1:2],
        batch_id=batch,
        status="failed",
        logical_date="2024-02-01",
        error="bad header",
        now=T1,
        settings=settings,
    )
    # files[2] stays "started": the run died before recording an outcome.

    again = plan(spark, source, files, settings=settings)
    assert again.already_done == files[:1] and again.to_process == files[1:]
    rows = {r["path"]: r for r in manifest(spark, source, settings=settings).collect()}
    done, failed, crashed = (rows[f.rel_path] for f in files)
    assert (done["status"], done["rows_read"], done["rows_published"], done["batch_id"]) == ("succeeded", 1, 1, batch)
    assert done["started_at"] < done["finished_at"]
    assert (failed["status"], failed["error"]) == ("failed", "bad header")
    assert (crashed["status"], crashed["finished_at"]) == ("started", None)


def test_changed_file_fails_by_default_or_is_reprocessed_superseding_the_old_entry(spark, tmp_path, settings):
    source = "files_test_changed"
    path = write(tmp_path / "loans.csv", "id\n1\n")
    old = discover(tmp_path, "*.csv", root=tmp_path)
    record(spark, source, old, batch_id="b1", status="succeeded", logical_date="2024-02-01", now=T1, settings=settings)
    write(path, "id\n1\n2\n")
    new = discover(tmp_path, "*.csv", root=tmp_path)

    with pytest.raises(ChangedFileError) as err:
        plan(spark, source, new, settings=settings)
    message = str(err.value)
    assert "loans.csv" in message and old[0].checksum in message and new[0].checksum in message

    planned = plan(spark, source, new, on_changed="reprocess", settings=settings)
    assert planned.to_process == new and planned.changed == [(new[0], old[0].checksum)]
    record(spark, source, new, batch_id="b2", status="succeeded", logical_date="2024-02-02", now=T1, settings=settings)
    assert statuses(spark, source, settings) == {
        ("loans.csv", old[0].checksum): "superseded",
        ("loans.csv", new[0].checksum): "succeeded",
    }
    assert plan(spark, source, new, on_changed="fail", settings=settings).already_done == new


def test_record_rejects_unknown_status(spark, settings):
    with pytest.raises(ValueError, match="status must be one of"):
        record(
            spark,
            "x",
            [LandedFile(Path("/a"), "a", 1, "c")],
            batch_id="b",
            status="done",
            logical_date="2024-02-01",
            settings=settings,
        )
