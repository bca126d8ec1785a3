"""Incremental builds: change detection is exact and incremental == full rebuild (Delta, own lakehouse)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.features import main as features_main
from jobs.features import txn_months
from jobs.features.build import SILVER_TABLES, features_frame
from jobs.features.default_definition import DefaultDefinition
from jobs.features.incremental import affected_snapshots
from riskpipe.core import io
from schemas.registry import get
from tests.jobs.features import synthetic

d = dt.date
E = synthetic.uscc(1)
SNAPS = synthetic.SNAPSHOTS  # 2021-01-31 .. 2021-06-30
HISTORY_UPDATE = ["_record_hash", "known_to", "is_current"]
DEFINITION = DefaultDefinition(dpd_over=90, statuses=("restructured", "written_off"))


def test_affected_snapshots_follow_each_source_rule(spark):
    tax_rows = get("tax_filings").rows_to_df(
        spark,
        [
            dict(
                uscc=E,
                period=d(2021, 2, 1),
                known_from=d(2021, 4, 20),
                is_current=True,
                _batch_id="n",
                _record_hash="h",
            )
        ],
    )
    txn_rows = get("transactions").rows_to_df(
        spark,
        [
            dict(
                txn_id="T",
                uscc=E,
                txn_date=d(2021, 1, 31),
                txn_month="2021-01",
                known_from=d(2021, 2, 1),
                is_current=True,
                _batch_id="n",
                _record_hash="h",
            )
        ],
    )
    bal_rows = get("loan_balances").rows_to_df(
        spark,
        [
            dict(
                loan_id="L",
                uscc=E,
                as_of_date=d(2021, 6, 10),
                as_of_month="2021-06",
                days_past_due=0,
                known_from=d(2021, 6, 11),
                is_current=True,
                _batch_id="n",
                _record_hash="h",
            )
        ],
    )
    # restatement known 20 Apr: April..June; a 31 Jan transaction is available 1 Feb: Feb..June
    assert affected_snapshots({"tax_filings": tax_rows}, snapshots=SNAPS, definition=DEFINITION) == SNAPS[3:]
    assert affected_snapshots({"transactions": txn_rows}, snapshots=SNAPS, definition=DEFINITION) == SNAPS[1:]
    # a balance on 10 June is in the 12-month label window of every earlier snapshot, and in June's features
    assert affected_snapshots({"loan_balances": bal_rows}, snapshots=SNAPS[:3], definition=DEFINITION) == SNAPS[:3]
    # a balance older than every window matters only when it is in default (in_default_at_snapshot of later D)
    for dpd, status, affected in [(90, "active", []), (91, "active", SNAPS), (0, "restructured", SNAPS)]:
        old_rows = get("loan_balances").rows_to_df(
            spark,
            [
                dict(
                    loan_id="L",
                    uscc=E,
                    as_of_date=d(2019, 6, 10),
                    as_of_month="2019-06",
                    days_past_due=dpd,
                    status=status,
                    known_from=d(2019, 6, 11),
                    is_current=True,
                    _batch_id="n",
                    _record_hash="h",
                )
            ],
        )
        assert affected_snapshots({"loan_balances": old_rows}, snapshots=SNAPS, definition=DEFINITION) == affected
    # moving the observation end from 10 to 11 June changes no snapshot's whole observed months ...
    assert (
        affected_snapshots(
            {},
            snapshots=SNAPS,
            observed_before={s: d(2021, 6, 10) for s in SNAPS},
            observed_now=d(2021, 6, 11),
            definition=DEFINITION,
        )
        == []
    )


def _write_silver(spark, rows: dict, settings) -> None:
    for table, table_rows in rows.items():
        spec = get(table)
        update = HISTORY_UPDATE if "known_to" in spec.columns else "_record_hash"
        io.merge_upsert(spec.rows_to_df(spark, table_rows), spec, settings=settings, update_when_changed=update)


def _late_rows(rows: dict) -> dict:
    """A restatement known on 20 Jun 2021 and a transaction of 10 May 2021 delivered late."""
    filing = next(r for r in rows["tax_filings"] if r["uscc"] == E and r["period"] == d(2021, 3, 1) and r["is_current"])
    restated = {
        **filing,
        "taxable_sales": 1.0,
        "is_amendment": True,
        "known_from": d(2021, 6, 20),
        "known_to": None,
        "is_current": True,
        "_batch_id": "late-tax",
        "_record_hash": "late-h1",
    }
    old = {**filing, "known_to": d(2021, 6, 20), "is_current": False}
    txn = {
        **rows["transactions"][0],
        "txn_id": "LATE1",
        "txn_date": d(2021, 5, 10),
        "txn_month": "2021-05",
        "txn_ts": dt.datetime(2021, 5, 10, 12),
        "amount": 12345.0,
        "uscc": E,
        "_batch_id": "late-txn",
        "known_from": d(2021, 6, 20),
    }
    return {"tax_filings": [old, restated], "transactions": [txn]}


def _kept_buckets(spark, settings) -> dict:
    """Availability month -> silver version of its kept transaction buckets."""
    return {
        r["avail_month"]: r["v"]
        for r in io.read(spark, txn_months.MONTHS_TABLE, settings=settings)
        .groupBy("avail_month")
        .agg(F.max(txn_months.VERSION_COL).alias("v"))
        .collect()
    }


def _gold(spark, settings):
    features = io.read(spark, "enterprise_features", settings=settings).drop("_built_from")
    label_rows = io.read(spark, "default_labels", settings=settings).drop("_built_from")
    return features.localCheckpoint(), label_rows.localCheckpoint()


@pytest.mark.slow
def test_incremental_build_equals_full_rebuild(spark, settings, silver_rows, tmp_path):
    settings = settings.replace(lakehouse_root=str(tmp_path / "lakehouse"))
    _write_silver(spark, silver_rows, settings)
    first = features_main.build_range(spark, SNAPS[0], SNAPS[-1], settings=settings)
    assert first["snapshot_months"] == [f"2021-0{m}" for m in range(1, 7)]
    assert features_main.plan_range(spark, SNAPS[0], SNAPS[-1], settings=settings) == []

    kept_before = _kept_buckets(spark, settings)
    assert sorted(kept_before) == txn_months.needed_months(SNAPS)

    _write_silver(spark, _late_rows(silver_rows), settings)
    assert features_main.plan_range(spark, SNAPS[0], SNAPS[-1], settings=settings) == SNAPS[4:]
    features_main.build_range(spark, SNAPS[0], SNAPS[-1], settings=settings)
    incremental = _gold(spark, settings)
    assert incremental[0].where(f"uscc = '{E}' AND snapshot_month = '2021-05'").first()["txn_inflow_1m"] > 12345
    # the late transaction (10 May) re-aggregated the kept buckets of May and June only ...
    kept_after = _kept_buckets(spark, settings)
    assert {m for m in kept_after if kept_after[m] != kept_before[m]} == {d(2021, 5, 1), d(2021, 6, 1)}
    # ... and gold equals aggregating silver from scratch (no kept buckets)
    silver = {t: io.read(spark, t, settings=settings) for t in SILVER_TABLES}
    fresh = features_frame(silver, as_of=SNAPS, built_from="{}").drop("_built_from")
    assertDataFrameEqual(incremental[0], fresh.select(*incremental[0].columns), checkRowOrder=False, rtol=1e-9)

    features_main.build_range(spark, SNAPS[0], SNAPS[-1], full=True, settings=settings)
    full = _gold(spark, settings)
    assertDataFrameEqual(incremental[0], full[0], checkRowOrder=False)
    assertDataFrameEqual(incremental[1], full[1], checkRowOrder=False)


@pytest.mark.slow
def test_monthly_update_fills_the_history_from_the_configured_first_snapshot(spark, settings, silver_rows, tmp_path):
    settings = settings.replace(lakehouse_root=str(tmp_path / "lakehouse")).merged(
        {"features": {"first_snapshot": SNAPS[1].isoformat()}}
    )
    _write_silver(spark, silver_rows, settings)
    # an empty gold: the first monthly run builds every month-end from first_snapshot up to its own
    first = features_main.update(spark, SNAPS[3], settings=settings)
    assert first["snapshot_months"] == ["2021-02", "2021-03", "2021-04"]
    # the next month: only the new snapshot (nothing earlier is missing or stale)
    assert features_main.update(spark, SNAPS[4], settings=settings)["snapshot_months"] == ["2021-05"]
