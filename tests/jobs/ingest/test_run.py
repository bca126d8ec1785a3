"""Ingestion guarantees on real simulator output: nothing lost, nothing doubled, every defect caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from riskpipe.core import io
from tests.faults.data import table_versions

SOURCES = (
    "enterprises",
    "tax_filings",
    "tax_ratings",
    "utility_reads",
    "court_events",
    "transactions",
    "loans",
    "loan_balances",
    "fund_statements",
)
START, END = "2019-01-01", "2019-11-01"
TOKEN = "test-court-token"


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """Simulate 40 enterprises x 9 months with extra dirt and serve the court API."""
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig
    from riskpipe.simulate.server import start_server

    root = tmp_path_factory.mktemp("ingest")
    env = {
        "RISKPIPE_LAKEHOUSE": str(root / "lake"),
        "RISKPIPE_LANDING": str(root / "landing"),
        "RISKPIPE_DATA_DOCS_DIR": str(root / "docs"),
        "RISKPIPE_COURT_API_TOKEN": TOKEN,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        config = SimConfig(enterprises=40, months=9, seed=11, start="2019-01")
        config.dirty = config.dirty.scaled(4.0)
        simulate(config, root / "landing")
        server, _ = start_server(str(root / "landing"), "127.0.0.1", 0, TOKEN)
        mp.setenv("RISKPIPE_COURT_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
        try:
            yield root
        finally:
            server.shutdown()


@pytest.fixture(scope="module")
def landed_settings(landed):
    """The settings of the module's lakehouse, landing folder and court API (the environment ``landed`` sets)."""
    from riskpipe.core.config import load_settings

    return load_settings()


@pytest.fixture(scope="module")
def first_run(spark, landed_settings):
    from jobs.ingest.run import run_source

    return {
        s: run_source(s, data_interval_start=START, data_interval_end=END, settings=landed_settings, spark=spark)
        for s in SOURCES
    }


def test_every_row_is_published_quarantined_or_a_recognised_duplicate(first_run):
    for source, summary in first_run.items():
        assert summary["rows_read"] > 0, source
        accounted = summary["rows_published"] + summary["rows_quarantined"] + summary["rows_duplicate"]
        assert summary["rows_read"] == accounted, (source, summary)


def test_bronze_keeps_every_row_as_received(spark, first_run, landed_settings):
    for source, summary in first_run.items():
        assert (
            io.read(spark, f"bronze_{source}", settings=landed_settings)
            .where(F.col("_batch_id") == summary["batch_id"])
            .count()
            == summary["rows_read"]
        )


def test_quarantine_names_the_rules_and_the_batch(spark, first_run, landed_settings):
    quarantined = io.read(spark, "quarantine", settings=landed_settings).collect()
    assert quarantined
    for row in quarantined:
        assert row["rules"] and all("." in rule for rule in row["rules"])
        assert row["batch_id"] == first_run[row["table_name"]]["batch_id"]
        assert json.loads(row["record"])


def _defects(landed: Path) -> list[dict]:
    with (landed / "landing" / "manifest" / "defects.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


REJECTED = {"malformed_uscc", "negative_amount", "absurd_amount", "future_date"}


def _quarantined_keys(spark, settings) -> dict[str, set]:
    out: dict[str, set] = {}
    for row in io.read(spark, "quarantine", settings=settings).select("table_name", "record").collect():
        record = json.loads(row["record"])
        for key in ("txn_id", "event_id"):
            if record.get(key):
                out.setdefault(row["table_name"], set()).add(record[key])
        period = (record.get("period") or "")[:7]  # typed rows carry the month's first day
        if record.get("meter_id"):
            out.setdefault(row["table_name"], set()).add((record["meter_id"], period))
        if record.get("filing_date"):
            out.setdefault(row["table_name"], set()).add((period, record["filing_date"]))
    return out


def _defect_key(defect: dict):
    key = defect["key"]
    if "txn_id" in key:
        return key["txn_id"]
    if "meter_id" in key:
        return (key["meter_id"], key["period"])
    return (key.get("period"), key.get("filing_date"))


def test_every_rejectable_defect_is_quarantined_by_a_named_rule(spark, first_run, landed, landed_settings):
    table_of = {"tax": "tax_filings", "utility": "utility_reads", "bank": "transactions"}
    quarantined = _quarantined_keys(spark, landed_settings)
    missed = [
        d
        for d in _defects(landed)
        if d["defect_type"] in REJECTED
        and d["source"] in table_of
        and _defect_key(d) not in quarantined.get(table_of[d["source"]], set())
    ]
    assert not missed, missed[:5]


def test_unit_mixups_and_fullwidth_codes_are_normalised(spark, first_run, landed, landed_settings):
    reads = {
        (r["meter_id"], str(r["period"])[:7]): r
        for r in io.read(spark, "utility_reads", settings=landed_settings).collect()
    }
    for defect in _defects(landed):
        if defect["defect_type"] == "unit_mix" and defect["source"] == "utility":
            row = reads.get((defect["key"]["meter_id"], defect["key"]["period"]))
            if row is not None:
                assert row["unit"] == "kWh"
                assert row["consumption"] == pytest.approx(defect["detail"]["original"], rel=1e-6)
    fullwidth = [
        d
        for d in _defects(landed)
        if d["defect_type"] == "fullwidth" and d["source"] == "tax" and d["detail"]["column"] == "uscc"
    ]
    known = {r["uscc"] for r in io.read(spark, "tax_filings", settings=landed_settings).select("uscc").collect()}
    assert all(d["detail"]["original"] in known for d in fullwidth)


def test_restatements_keep_history(spark, first_run, landed, landed_settings):
    restated = [d["key"] for d in _defects(landed) if d["defect_type"] == "restatement"]
    filings = io.read(spark, "tax_filings", settings=landed_settings)
    for key in restated:
        versions = (
            filings.where((F.col("uscc") == key["uscc"]) & (F.date_format("period", "yyyy-MM") == key["period"]))
            .orderBy("known_from")
            .collect()
        )
        assert len(versions) >= 2, key
        assert [v["is_current"] for v in versions][-1] is True
        assert versions[0]["known_to"] == versions[1]["known_from"]


def test_rerun_of_the_same_interval_changes_nothing(spark, first_run, landed_settings):
    from jobs.ingest.run import run_source

    tables = [*SOURCES, *(f"bronze_{s}" for s in SOURCES), "quarantine"]
    # no commit to any table: stronger than equal contents, and read from the logs alone
    before = table_versions(tables, settings=landed_settings)
    for source in SOURCES:
        run_source(source, data_interval_start=START, data_interval_end=END, settings=landed_settings, spark=spark)
    assert table_versions(tables, settings=landed_settings) == before


def test_court_events_fetched_over_months_are_known_from_their_publication_day(spark, first_run, landed_settings):
    """One request over the whole interval, as a backfill makes it: silver must hold what the daily
    schedule would have delivered, or point-in-time features see no court history before the backfill."""
    assert first_run["court_events"]["interval"] == [str(START), str(END)]
    events = io.read(spark, "court_events", settings=landed_settings)
    later = events.where(F.col("known_from") != F.col("published_date")).select(
        "event_id", "published_date", "known_from"
    )
    assert events.count() > 0
    assert later.limit(5).collect() == []
    assert events.select("known_from").distinct().count() > 1


def test_court_events_are_matched_to_enterprises_by_name(spark, first_run, landed_settings):
    events = io.read(spark, "court_events", settings=landed_settings).where(F.col("role") == "defendant")
    matches = {r["uscc_match"]: r["count"] for r in events.groupBy("uscc_match").count().collect()}
    assert matches.get("name_exact", 0) + matches.get("name_normalised", 0) > 0
    assert matches.get("name_normalised", 0) > 0, matches


def test_missing_months_are_recorded_as_gaps(spark, first_run, landed, landed_settings):
    """A row that never arrives cannot be quarantined; the completeness rule names it."""
    gaps = {
        (r["table_name"], r["entity_key"], str(r["period"])[:7])
        for r in io.read(spark, "data_gaps", settings=landed_settings).collect()
    }
    first = {}
    for table, entity_col in (("tax_filings", "uscc"), ("utility_reads", "meter_id")):
        firsts = io.read(spark, table, settings=landed_settings).groupBy(entity_col).agg(F.min("period").alias("p"))
        for row in firsts.collect():
            first[(table, row[entity_col])] = str(row["p"])[:7]
    checked = 0
    for defect in _defects(landed):
        if defect["defect_type"] != "missing_month" or defect["source"] not in ("tax", "utility"):
            continue
        table = "tax_filings" if defect["source"] == "tax" else "utility_reads"
        entity = defect["key"]["uscc" if table == "tax_filings" else "meter_id"]
        if first.get((table, entity), "9999") > defect["key"]["period"]:
            continue  # nothing delivered before it: no span to miss it from
        assert (table, entity, defect["key"]["period"]) in gaps, defect
        checked += 1
    assert checked > 0
