"""Reading landed files: field counts, truncation, encodings, schema changes, broken Parquet."""

from pathlib import Path

import pandas as pd
import pytest

from jobs.ingest.bronze import MalformedFileError, precheck, read_parquet_feed, read_text_feed
from schemas.feeds import get_source

TAX = get_source("tax_filings")
HEADER = ",".join(TAX.columns)
GOOD = "91350100M000100Y43,吕梁核桃有限公司,2020-02,2020-03-10,1000,130,0,0,0,false"


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_rows_with_too_few_or_too_many_fields_are_flagged_not_padded(spark, tmp_path):
    path = _write(
        tmp_path,
        "tax_filings_202003.csv",
        "\n".join([HEADER, GOOD, GOOD.rsplit(",", 2)[0], GOOD + ",extra", GOOD]) + "\n",
    )
    precheck(TAX, [path])
    rows = read_text_feed(spark, TAX, [str(path)]).orderBy("_source_row").collect()
    assert [r["_source_row"] for r in rows] == [2, 3, 4, 5]
    assert [r["_corrupt_record"] is not None for r in rows] == [False, True, True, False]
    assert rows[0]["taxable_sales"] == "1000" and rows[0]["_source_file"].endswith("tax_filings_202003.csv")


def test_quoted_commas_are_one_field(spark, tmp_path):
    line = '91350100M000100Y43,"吕梁,核桃有限公司",2020-02,2020-03-10,1000,130,0,0,0,false'
    path = _write(tmp_path, "tax_filings_202003.csv", f"{HEADER}\n{line}\n")
    row = read_text_feed(spark, TAX, [str(path)]).collect()[0]
    assert row["company_name"] == "吕梁,核桃有限公司" and row["_corrupt_record"] is None


@pytest.mark.parametrize(
    "content, message",
    [
        (f"{HEADER}\n{GOOD}\n{GOOD[:20]}", "truncated"),
        (b"", "empty file"),
        (f"{HEADER}\n{GOOD}\n".encode("gbk"), "not valid UTF-8"),
        (HEADER.replace(",", ";") + "\n" + GOOD.replace(",", ";") + "\n", "wrong delimiter"),
        (HEADER.replace("taxable_sales", "sales") + "\n" + GOOD + "\n", "breaking schema change"),
        (HEADER + ",branch\n" + GOOD + ",x\n", "new columns"),
    ],
)
def test_malformed_files_fail_loudly_naming_the_file(tmp_path, content, message):
    path = _write(tmp_path, "tax_filings_202003.csv", content)
    with pytest.raises(MalformedFileError, match=message) as err:
        precheck(TAX, [path])
    assert "tax_filings_202003.csv" in str(err.value)


def test_new_column_can_be_evolved(tmp_path):
    path = _write(tmp_path, "tax_filings_202003.csv", HEADER + ",branch\n" + GOOD + ",x\n")
    assert precheck(TAX, [path], on_new_column="evolve") == ["branch"]


def test_parquet_with_a_broken_footer_is_rejected(spark, tmp_path):
    source = get_source("loan_balances")
    frame = pd.DataFrame({c: ["x"] for c in source.columns})
    good = tmp_path / "loan_balances_20200301.parquet"
    frame.to_parquet(good)
    broken = _write(tmp_path, "loan_balances_20200302.parquet", good.read_bytes()[:-20])
    assert precheck(source, [good]) == []
    with pytest.raises(MalformedFileError, match="loan_balances_20200302.parquet: unreadable Parquet"):
        precheck(source, [good, broken])
    rows = read_parquet_feed(spark, source, [str(good)]).collect()
    assert rows[0]["_source_row"] == 1
