"""Bad batches through the real runner: loud failures, nothing published, nothing lost."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from riskpipe.core import io
from riskpipe.core.uscc import check_digit

HEADER = (
    "uscc,company_name,period,filing_date,taxable_sales,vat_paid,cit_prepaid,arrears_amount,penalty_amount,is_amendment"
)


def _uscc(n: int) -> str:
    first17 = f"91141102MA{n:07d}"
    return first17 + check_digit(first17)


def _row(n: int, sales: str = "1000.0") -> str:
    return f"{_uscc(n)},吕梁{n}号核桃有限公司,2020-02,2020-03-10,{sales},13.0,0,0,0,false"


@pytest.fixture()
def lake(tmp_path, spark):
    """An empty lakehouse and landing folder of its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lake"))
        mp.setenv("RISKPIPE_LANDING", str(tmp_path / "landing"))
        mp.setenv("RISKPIPE_DATA_DOCS_DIR", "")
        (tmp_path / "landing" / "tax" / "filings").mkdir(parents=True)
        yield tmp_path / "landing" / "tax" / "filings"


def _run(spark):
    from jobs.ingest.run import run_source

    return run_source(
        "tax_filings",
        data_interval_start="2020-03-01",
        data_interval_end="2020-04-01",
        settings=_settings(),
        spark=spark,
    )


def _count(spark, table: str) -> int:
    return io.read(spark, table, settings=_settings()).count()


def test_bad_rows_below_the_threshold_are_quarantined_and_the_rest_published(spark, lake):
    rows = [_row(n) for n in range(40)]
    rows[3] = _row(3).rsplit(",", 2)[0]  # too few fields: not padded
    rows[7] = _row(7) + ",surplus"  # too many fields: not cut
    (lake / "tax_filings_202003.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    summary = _run(spark)
    assert summary["rows_read"] == 40 and summary["rows_quarantined"] == 2 and summary["rows_published"] == 38
    rules = {r for row in io.read(spark, "quarantine", settings=_settings()).collect() for r in row["rules"]}
    assert rules == {"tax_filings.row.malformed"}
    lines = sorted(r["source_row"] for r in io.read(spark, "quarantine", settings=_settings()).collect())
    assert lines == [5, 9]  # the file's line numbers (header is line 1)


def test_a_batch_over_the_failure_threshold_publishes_nothing(spark, lake):
    rows = [_row(n, sales="-5" if n % 4 == 0 else "1000.0") for n in range(40)]
    (lake / "tax_filings_202003.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    from expectations.validate import BatchRejectedError

    with pytest.raises(BatchRejectedError) as err:
        _run(spark)
    message = str(err.value)
    assert "tax_filings" in message and "10 of 40 rows" in message
    assert "tax_filings.taxable_sales.non_negative: 10 rows" in message
    assert _count(spark, "tax_filings") == 0
    assert _count(spark, "quarantine") == 10  # nothing lost: the failing rows are kept with their rules
    status = io.read(spark, "ingest_manifest", settings=_settings()).select("status").collect()
    assert [r["status"] for r in status] == ["rejected"]


def test_a_truncated_file_fails_naming_it_and_changes_no_table(spark, lake):
    good = "\n".join([HEADER, *[_row(n) for n in range(5)]]) + "\n"
    (lake / "tax_filings_202003.csv").write_text(good[:-30], encoding="utf-8")
    from jobs.ingest.bronze import MalformedFileError

    with pytest.raises(MalformedFileError, match="tax_filings_202003.csv: truncated"):
        _run(spark)
    for table in ("bronze_tax_filings", "tax_filings", "quarantine", "ingest_manifest"):
        assert _count(spark, table) == 0, table


def test_a_changed_file_under_an_old_name_is_detected(spark, lake):
    path = lake / "tax_filings_202003.csv"
    path.write_text("\n".join([HEADER, *[_row(n) for n in range(5)]]) + "\n", encoding="utf-8")
    _run(spark)
    assert _run(spark)["files_skipped"] == ["tax/filings/tax_filings_202003.csv"]  # a rerun skips it
    path.write_text("\n".join([HEADER, *[_row(n, "2000.0") for n in range(5)]]) + "\n", encoding="utf-8")
    from jobs.ingest.connectors.files import ChangedFileError

    with pytest.raises(ChangedFileError, match="tax_filings_202003.csv"):
        _run(spark)
    assert io.read(spark, "tax_filings", settings=_settings()).where(F.col("taxable_sales") == 2000.0).count() == 0


def _settings(on_new_column: str | None = None):
    """The settings of the environment ``lake`` sets, with ``ingestion.on_new_column`` set when given."""
    from riskpipe.core.config import load_settings

    settings = load_settings()
    return settings.merged({"ingestion": {"on_new_column": on_new_column}}) if on_new_column else settings


def _deliver(lake, month: str, rows: list[str], *, extra_column: str | None = None) -> None:
    header = HEADER + (f",{extra_column}" if extra_column else "")
    (lake / f"tax_filings_{month}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_an_added_column_is_rejected_naming_the_file_and_the_column(spark, lake):
    from jobs.ingest.bronze import MalformedFileError
    from jobs.ingest.run import run_source

    _deliver(lake, "202003", [_row(n) + ",LL-01" for n in range(5)], extra_column="branch_code")
    with pytest.raises(MalformedFileError, match=r"tax_filings_202003\.csv: new columns \['branch_code'\]"):
        run_source(
            "tax_filings",
            data_interval_start="2020-03-01",
            data_interval_end="2020-04-01",
            settings=_settings("reject"),
            spark=spark,
        )
    for table in ("bronze_tax_filings", "tax_filings", "quarantine", "ingest_manifest"):
        assert _count(spark, table) == 0, table


def test_an_added_column_is_evolved_into_bronze_and_the_rows_published(spark, lake):
    """Bronze keeps everything received, so it gains the column (earlier rows read null);
    silver keeps its declared contract and publishes the rows."""
    from jobs.ingest.run import run_source

    evolve = _settings("evolve")
    february = [_row(n).replace(",2020-02,2020-03-10,", ",2020-01,2020-02-10,") for n in range(3)]
    _deliver(lake, "202002", february)
    run_source(
        "tax_filings", data_interval_start="2020-02-01", data_interval_end="2020-03-01", settings=evolve, spark=spark
    )
    _deliver(lake, "202003", [_row(n) + f",LL-{n:02d}" for n in range(5)], extra_column="branch_code")
    summary = run_source(
        "tax_filings", data_interval_start="2020-03-01", data_interval_end="2020-04-01", settings=evolve, spark=spark
    )

    assert summary["rows_read"] == 5 and summary["rows_published"] == 5
    bronze = io.read(spark, "bronze_tax_filings", settings=evolve)
    assert "branch_code" in bronze.columns
    by_file = {(r["_source_file"], r["branch_code"]) for r in bronze.select("_source_file", "branch_code").collect()}
    assert by_file == {
        ("tax/filings/tax_filings_202002.csv", None),
        *{("tax/filings/tax_filings_202003.csv", f"LL-{n:02d}") for n in range(5)},
    }
    silver = io.read(spark, "tax_filings", settings=evolve)
    assert "branch_code" not in silver.columns and silver.count() == 8
