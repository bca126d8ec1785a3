"""to_quarantine shapes failing rows; write_quarantine is idempotent."""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import functions as F

from jobs.ingest.quarantine import to_quarantine, write_quarantine
from riskpipe.core import io
from schemas.registry import get
from tests.expectations.cases import CASES, batch

AT = dt.datetime(2024, 7, 1, 3, 0)


def invalid_rows(spark):
    good = CASES["tax_filings"][0]
    df = batch(spark, "tax_filings", [{**good, "vat_paid": -5.0}, {**good, "period": None}], ["f.csv:2", "f.csv:3"])
    df = df.withColumn("_source_file", F.lit("tax/filings/f.csv")).withColumn(
        "_source_row", F.split("_row_id", ":")[1].cast("long")
    )
    rule = F.when(F.col("period").isNull(), F.lit("tax_filings.period.not_null")).otherwise(
        F.lit("tax_filings.vat_paid.non_negative")
    )
    return df.withColumn("_failed_rules", F.array(rule)).withColumn("_reason", F.concat(rule, F.lit(": bad")))


def test_to_quarantine_matches_the_declaration(spark):
    q = to_quarantine(invalid_rows(spark), table_name="tax_filings", batch_id="b1", failure_rate=0.5, quarantined_at=AT)
    assert q.schema.simpleString() == get("quarantine").schema.simpleString()
    rows = {r["source_row"]: r for r in q.collect()}
    first, second = rows[2], rows[3]
    assert first["source_file"] == "tax/filings/f.csv" and first["batch_id"] == "b1"
    assert first["rules"] == ["tax_filings.vat_paid.non_negative"]
    assert first["record_key"] == "91350100M000100Y43|2024-05-01"
    assert second["record_key"] is None  # period unreadable
    record = json.loads(first["record"])
    assert record["vat_paid"] == -5.0 and record["uscc"] == "91350100M000100Y43"
    assert "company_name" in record and "_failed_rules" not in record
    assert json.loads(second["record"])["period"] is None  # nulls kept
    assert first["quarantined_at"] == AT and first["failure_rate"] == 0.5
    assert len({first["_record_hash"], second["_record_hash"]}) == 2


def test_write_quarantine_twice_does_not_duplicate(spark, settings):
    q = to_quarantine(
        invalid_rows(spark), table_name="tax_filings", batch_id="b-rerun", failure_rate=0.5, quarantined_at=AT
    )
    write_quarantine(q, settings=settings)
    write_quarantine(q, settings=settings)
    stored = io.read(spark, "quarantine", settings=settings).where(F.col("batch_id") == "b-rerun")
    assert stored.count() == 2
