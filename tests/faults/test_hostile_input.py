"""Guarantee 5: corrupt and hostile deliveries end in a clear error or in quarantine; silver unchanged.

Complements ``tests/jobs/ingest/test_run_faults.py`` (malformed rows, rejected batch, changed file, new
column) and ``tests/jobs/ingest/connectors/test_rest.py`` (every kind of bad page, at the client), which are not
repeated here; the truncated file and the API failing mid-way are, through a whole ingestion run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs.ingest.bronze import MalformedFileError
from jobs.ingest.connectors.rest import (
    MalformedPageError,
    PageCapError,
    PageOrderError,
    RetriesExhaustedError,
    TotalMismatchError,
)
from riskpipe.core import io
from schemas.feeds import get_source
from tests.faults.data import synthetic, table_versions
from tests.jobs.ingest.connectors.conftest import TOKEN, CourtApiStub, Fault, make_events
from tests.jobs.ingest.test_run_faults import HEADER, _row, _uscc

TABLES = (
    "tax_filings",
    "bronze_tax_filings",
    "quarantine",
    "loans",
    "bronze_loans",
    "court_events",
    "bronze_court_events",
    "ingest_manifest",
)
SEED_ROWS, GOOD_ROWS = 5, 60  # 2 bad rows of 60 stay under the 5% rejection threshold
HUGE_BYTES = 1 << 20
INJECTION = "'; DROP TABLE x; --"


def _month_row(n: int, month: int, name: str | None = None, uscc: str | None = None) -> str:
    """A tax filing row of period 2020-(month-1), filed in 2020-month."""
    row = _row(n).replace(",2020-02,2020-03-10,", f",2020-{month - 1:02d},2020-{month:02d}-10,")
    if name is not None:
        row = row.replace(f"吕梁{n}号核桃有限公司", name)
    return row.replace(_uscc(n), uscc) if uscc is not None else row


@pytest.fixture(scope="module")
def lake(tmp_path_factory, spark):
    """A lakehouse whose silver tax filings already hold a few rows, and its landing folder."""
    from riskpipe.core.config import load_settings

    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(root / "lake"))
        mp.setenv("RISKPIPE_LANDING", str(root / "landing"))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        for folder in ("tax/filings", "bank/loans"):
            (root / "landing" / folder).mkdir(parents=True)
        io.merge_upsert(synthetic(spark, "tax_filings", SEED_ROWS), "tax_filings", settings=load_settings())
        yield root / "landing"


@pytest.fixture(scope="module")
def lake_settings(lake):
    """The settings of the environment ``lake`` sets (its lakehouse and landing folder)."""
    from riskpipe.core.config import load_settings

    return load_settings()


def _versions(spark, settings) -> dict[str, set[int]]:
    """The committed versions of every table a run could write (each created empty if absent):
    unchanged means the run committed nothing, which is what "no table changed" asks."""
    for table in TABLES:
        io.ensure_table(spark, table, settings=settings)
    return table_versions(TABLES, settings=settings)


def _ingest(source: str, start: str, end: str) -> dict:
    """Ingest with the settings of the environment the fixtures set (lakehouse, landing, court API)."""
    from jobs.ingest.run import run_source
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    return run_source(
        source, data_interval_start=start, data_interval_end=end, settings=settings, spark=get_spark(settings=settings)
    )


def _rejected(spark, settings, source: str, path: Path, start: str, end: str, message: str) -> None:
    """Ingesting ``path`` fails with ``message`` (naming the file) and commits to no table."""
    before = _versions(spark, settings)
    try:
        with pytest.raises(MalformedFileError, match=message) as error:
            _ingest(source, start, end)
        assert path.name in str(error.value)
    finally:
        path.unlink()
    assert _versions(spark, settings) == before


@pytest.mark.reliability("5 hostile input", "empty file", "MalformedFileError naming the file; no table changed")
@pytest.mark.reliability(
    "5 hostile input",
    "file in GBK instead of UTF-8",
    "MalformedFileError naming the file and the byte offset; no table changed",
)
@pytest.mark.reliability(
    "5 hostile input",
    "semicolon instead of comma delimiter",
    "MalformedFileError naming the file and the missing columns; no table changed",
)
def test_unreadable_text_files_fail_naming_the_file(spark, lake, lake_settings):
    folder = lake / "tax" / "filings"
    empty = folder / "tax_filings_202003.csv"
    empty.write_bytes(b"")
    _rejected(spark, lake_settings, "tax_filings", empty, "2020-03-01", "2020-04-01", r"empty file")
    gbk = folder / "tax_filings_202004.csv"
    gbk.write_bytes(("\n".join([HEADER, *[_month_row(n, 4) for n in range(3)]]) + "\n").encode("gbk"))
    _rejected(spark, lake_settings, "tax_filings", gbk, "2020-04-01", "2020-05-01", r"not valid UTF-8 at byte \d+")
    semicolons = folder / "tax_filings_202005.csv"
    text = "\n".join([HEADER, *[_month_row(n, 5) for n in range(3)]]).replace(",", ";") + "\n"
    semicolons.write_text(text, encoding="utf-8")
    _rejected(
        spark,
        lake_settings,
        "tax_filings",
        semicolons,
        "2020-05-01",
        "2020-06-01",
        r"header lacks columns .*\(wrong delimiter\?\)",
    )


@pytest.mark.reliability(
    "5 hostile input",
    "CSV cut off in the middle of its last row",
    "MalformedFileError naming the file; no table changed",
)
def test_a_truncated_file_fails_naming_it(spark, lake, lake_settings):
    path = lake / "tax" / "filings" / "tax_filings_202007.csv"
    text = "\n".join([HEADER, *[_month_row(n, 7) for n in range(5)]]) + "\n"
    path.write_text(text[:-30], encoding="utf-8")
    _rejected(
        spark, lake_settings, "tax_filings", path, "2020-07-01", "2020-08-01", r"tax_filings_202007.csv: truncated"
    )


@pytest.fixture
def court_api(tmp_path, monkeypatch):
    """A paged court API (23 events, pages of 5) that ingestion reads, retrying twice, quickly."""
    with CourtApiStub(make_events(23)) as stub:
        profile = tmp_path / "court_api.yaml"
        profile.write_text(
            "ingestion:\n  court_api:\n    page_size: 5\n    timeout_seconds: 5\n"
            "    max_retries: 2\n    backoff_seconds: 0.01\n    max_pages: 5\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("RISKPIPE_PROFILE", str(profile))
        monkeypatch.setenv("RISKPIPE_COURT_API_URL", stub.base_url)
        monkeypatch.setenv("RISKPIPE_COURT_API_TOKEN", TOKEN)
        yield stub


@pytest.mark.reliability(
    "5 hostile input",
    "the court API answers page 3 of 5 with an HTML maintenance page",
    "MalformedPageError naming the URL and the page; no table changed",
)
@pytest.mark.reliability(
    "5 hostile input",
    "the court API fails with HTTP 500 from page 3 of 5, on every retry",
    "the run fails after its retries naming the page's URL and the error; no table changed",
)
def test_an_api_failing_mid_way_changes_no_table(spark, lake, lake_settings, court_api):
    before = _versions(spark, lake_settings)
    court_api.inject(3, Fault("body", 200, body="<html><body><h1>Maintenance</h1></body></html>"))
    with pytest.raises(MalformedPageError, match=r"page 3\).*not JSON"):
        _ingest("court_events", "2024-01-01", "2024-02-01")
    assert court_api.count(2) == 1 and court_api.count(4) == 0  # pages 1-2 fetched, nothing after the bad one
    assert _versions(spark, lake_settings) == before
    court_api.inject(3, *[Fault("status", 500, body='{"error": "internal"}')] * 3)
    with pytest.raises(RetriesExhaustedError, match=r"page=3.*after 3 attempts.*HTTP 500"):
        _ingest("court_events", "2024-01-01", "2024-02-01")
    assert _versions(spark, lake_settings) == before


def _page_body(stub: CourtApiStub, page: int, first: int, last: int, *, next_page: int | None, total: int = 23) -> str:
    """A 200 page of the stub's events ``first..last-1`` with the given paging fields."""
    return json.dumps(
        {"data": stub.events[first:last], "page": page, "page_size": 5, "total": total, "next_page": next_page}
    )


@pytest.mark.reliability(
    "5 hostile input",
    "the court API's pages add up to 22 records, its total says 23",
    "TotalMismatchError naming both counts; no table changed",
)
@pytest.mark.reliability(
    "5 hostile input",
    "the court API's page 2 offers next_page 4",
    "PageOrderError naming the expected page 3 and the offered 4; no table changed",
)
@pytest.mark.reliability(
    "5 hostile input",
    "the court API offers more pages than the source's max_pages",
    "PageCapError naming the source and the cap; no table changed",
)
def test_api_paging_that_does_not_add_up_changes_no_table(spark, lake, lake_settings, court_api, tmp_path, monkeypatch):
    before = _versions(spark, lake_settings)
    court_api.inject(3, Fault("body", 200, body=_page_body(court_api, 3, 10, 14, next_page=4)))
    with pytest.raises(TotalMismatchError, match=r"court_events: received 22 records .* announced total 23"):
        _ingest("court_events", "2024-01-01", "2024-02-01")
    assert _versions(spark, lake_settings) == before
    court_api.inject(2, Fault("body", 200, body=_page_body(court_api, 2, 5, 10, next_page=4)))
    with pytest.raises(PageOrderError, match=r"next_page 4 does not follow page 2: expected 3"):
        _ingest("court_events", "2024-01-01", "2024-02-01")
    assert _versions(spark, lake_settings) == before
    profile = tmp_path / "court_api_cap.yaml"
    profile.write_text(
        "ingestion:\n  court_api:\n    page_size: 5\n    max_retries: 2\n    backoff_seconds: 0.01\n    max_pages: 3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RISKPIPE_PROFILE", str(profile))
    with pytest.raises(PageCapError, match=r"court_events: more than max_pages=3 pages"):
        _ingest("court_events", "2024-01-01", "2024-02-01")
    assert _versions(spark, lake_settings) == before


@pytest.mark.reliability(
    "5 hostile input", "Parquet extract with a broken footer", "MalformedFileError naming the file; no table changed"
)
def test_a_parquet_file_with_a_broken_footer_fails_naming_it(spark, lake, lake_settings):
    columns = get_source("loans").columns
    path = lake / "bank" / "loans" / "loans_20200315.parquet"
    pq.write_table(pa.table({c: pa.array(["x"] * 3) for c in columns}), path)
    path.write_bytes(path.read_bytes()[:-12])  # cut the footer length and the magic bytes
    _rejected(spark, lake_settings, "loans", path, "2020-03-15", "2020-03-16", r"unreadable Parquet file")


@pytest.mark.reliability(
    "5 hostile input",
    "a 1 MB company name in one row",
    "the row is quarantined with its file, row and the rule naming the field",
)
@pytest.mark.reliability(
    "5 hostile input",
    "a USCC holding an SQL injection string",
    "kept as data: verbatim in bronze, quarantined as a malformed USCC; nothing executed, tables intact",
)
def test_a_huge_field_and_an_injection_string_are_quarantined(spark, lake, lake_settings):
    before = io.read(spark, "tax_filings", settings=lake_settings).count()
    rows = [_month_row(n, 6) for n in range(GOOD_ROWS)]
    rows[4] = _month_row(4, 6, name="核" * (HUGE_BYTES // 3))
    rows[9] = _month_row(9, 6, uscc=f'"{INJECTION}"')
    path = lake / "tax" / "filings" / "tax_filings_202006.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    summary = _ingest("tax_filings", "2020-06-01", "2020-07-01")
    assert summary["rows_read"] == GOOD_ROWS and summary["rows_quarantined"] == 2
    assert io.read(spark, "tax_filings", settings=lake_settings).count() == before + GOOD_ROWS - 2
    quarantined = {
        r["source_row"]: r
        for r in io.read(spark, "quarantine", settings=lake_settings)
        .where(F.col("source_file") == "tax/filings/tax_filings_202006.csv")
        .collect()
    }
    assert sorted(quarantined) == [6, 11]  # file line numbers (the header is line 1)
    assert any("company_name" in rule for rule in quarantined[6]["rules"]), quarantined[6]["rules"]
    assert any("uscc" in rule for rule in quarantined[11]["rules"]), quarantined[11]["rules"]
    # kept as data: verbatim in bronze, in its normalised form (blanks dropped, upper case) in quarantine
    landed = io.read(spark, "bronze_tax_filings", settings=lake_settings).where(
        (F.col("_source_file") == "tax/filings/tax_filings_202006.csv") & (F.col("_source_row") == 11)
    )
    assert [r["uscc"] for r in landed.collect()] == [INJECTION]
    assert INJECTION.replace(" ", "").upper() in quarantined[11]["record"]
    for table in ("tax_filings", "bronze_tax_filings", "quarantine"):
        assert io.exists(spark, table, settings=lake_settings), table
