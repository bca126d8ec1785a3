"""Bitemporal silver: restatements add versions dated by their delivery, in any arrival order.

Deliveries go through ``ingest_batch`` (typing, validation, bronze, the silver MERGE) with
small inline frames shaped like landed files; features are built with the feature job.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType
from pyspark.testing import assertDataFrameEqual

from jobs.features import main as features_main
from jobs.ingest.batch import BatchInput, ingest_batch
from jobs.ingest.bronze import CORRUPT
from riskpipe.core import io
from schemas.feeds import get_source
from schemas.registry import get
from tests.jobs.features import synthetic

d = dt.date
SNAPS = synthetic.SNAPSHOTS  # 2021-01-31 .. 2021-06-30
RESTATED_ON = d(2021, 4, 10)  # between the March and April month-ends
HISTORY_UPDATE = ["_record_hash", "known_to", "is_current"]
DAILY = ("transactions", "loan_balances", "court_events", "loans")


def _raw(spark, source_name: str, rows: list[dict], path: str):
    """Rows shaped like a landed file of ``source_name``: bronze payload, corrupt column, file and row."""
    source, bronze = get_source(source_name), get(f"bronze_{source_name}")
    fields = [bronze.field(c) for c in source.columns]
    text = [isinstance(f.dataType, StringType) for f in fields]

    def value(v, as_text):
        if v is None or not as_text or isinstance(v, str):
            return v
        return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v)

    schema = StructType(
        fields
        + [
            StructField(CORRUPT, StringType()),
            StructField("_source_file", StringType()),
            StructField("_source_row", LongType()),
        ]
    )
    data = [
        tuple(value(r.get(f.name), t) for f, t in zip(fields, text)) + (None, path, i)
        for i, r in enumerate(rows, start=1)
    ]
    return spark.createDataFrame(data, schema=schema)


def _deliver(spark, settings, source_name: str, rows: list[dict], *, day: dt.date) -> dict:
    """Ingest ``rows`` as one file of ``source_name`` delivered on ``day``."""
    path = f"restated/{source_name}_{day:%Y%m%d}"
    batch = BatchInput(
        source=get_source(source_name),
        batch_id=f"{source_name}-{day}",
        file_dates={path: day},
        raw=_raw(spark, source_name, rows, path),
        logical_date=day - dt.timedelta(days=1),
    )
    return ingest_batch(spark, batch, settings=settings)


def _write_silver(spark, rows: dict, settings) -> None:
    for table, table_rows in rows.items():
        spec = get(table)
        io.merge_upsert(spec.rows_to_df(spark, table_rows), spec, settings=settings, update_when_changed=HISTORY_UPDATE)


def _features(spark, settings):
    return io.read(spark, "enterprise_features", settings=settings).drop("_built_from").localCheckpoint()


def _pick(rows: list[dict], condition) -> dict:
    return next(r for r in rows if condition(r))


@pytest.fixture()
def own(settings, tmp_path):
    return settings.replace(lakehouse_root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))


@pytest.mark.slow
def test_restatements_keep_every_version_and_earlier_snapshots_rebuild_unchanged(spark, own):
    rows = synthetic.make()
    _write_silver(spark, rows, own)
    features_main.build_snapshots(spark, SNAPS, settings=own)
    before = _features(spark, own)

    code = synthetic.uscc(1)
    march = (d(2021, 3, 1), d(2021, 3, 25))
    txn = _pick(
        rows["transactions"],
        lambda r: r["uscc"] == code and r["direction"] == "C" and march[0] <= r["txn_date"] <= march[1],
    )
    balance = _pick(rows["loan_balances"], lambda r: r["uscc"] == code and march[0] <= r["as_of_date"] <= march[1])
    contract = _pick(rows["loans"], lambda r: r["uscc"] == code)
    event = _pick(
        rows["court_events"],
        lambda r: (
            r["event_type"] == "case_filed"
            and r["role"] == "defendant"
            and r["published_date"] < SNAPS[0]
            and r["event_date"] > d(2019, 5, 1)
        ),
    )
    restated = {
        "transactions": {**txn, "amount": txn["amount"] + 1_000_000.0},
        "loan_balances": {**balance, "days_past_due": 45, "overdue_principal": 5_000.0},
        "loans": {**contract, "status": "restructured"},
        "court_events": {**event, "amount": event["amount"] + 500_000.0, "party_uscc": event["uscc"]},
    }
    for table, row in restated.items():
        result = _deliver(spark, own, table, [row], day=RESTATED_ON)
        assert (result["rows_published"], result["rows_quarantined"]) == (1, 0), (table, result)

    keys = {
        "transactions": {"txn_id": txn["txn_id"]},
        "loan_balances": {"loan_id": balance["loan_id"], "as_of_date": balance["as_of_date"]},
        "loans": {"loan_id": contract["loan_id"]},
        "court_events": {"event_id": event["event_id"]},
    }
    for table, key in keys.items():
        condition = F.lit(True)
        for column, value in key.items():
            condition = condition & (F.col(column) == F.lit(value))
        versions = [
            r.asDict() for r in io.read(spark, table, settings=own).where(condition).orderBy("known_from").collect()
        ]
        # the last two versions: the one known before the restatement, closed on its delivery day, and the new one
        old, new = versions[-2:]
        assert old["known_to"] == RESTATED_ON and not old["is_current"], table
        assert (new["known_from"], new["known_to"], new["is_current"]) == (RESTATED_ON, None, True), table

    # a rerun of a delivery is a no-op: no silver commit
    silver_version = io.version(spark, "transactions", settings=own)
    assert _deliver(spark, own, "transactions", [restated["transactions"]], day=RESTATED_ON)["rows_published"] == 1
    assert io.version(spark, "transactions", settings=own) == silver_version

    features_main.build_snapshots(spark, SNAPS, settings=own)
    after = _features(spark, own)
    earlier = F.col("snapshot_date") < F.lit(RESTATED_ON)
    assert before.where(earlier).count() > 0
    assertDataFrameEqual(after.where(earlier), before.where(earlier), checkRowOrder=False)

    def value(frame, day, column, uscc=code):
        return frame.where((F.col("snapshot_date") == F.lit(day)) & (F.col("uscc") == uscc)).first()[column]

    april = SNAPS[3]
    assert value(after, april, "txn_inflow_3m") == pytest.approx(value(before, april, "txn_inflow_3m") + 1_000_000.0)
    assert value(after, SNAPS[2], "loan_max_dpd_3m") == value(before, SNAPS[2], "loan_max_dpd_3m")
    assert value(after, april, "loan_max_dpd_3m") == max(45, value(before, april, "loan_max_dpd_3m"))
    assert value(after, april, "loan_restructured") and not value(before, april, "loan_restructured")
    assert value(after, april, "court_defendant_amount_24m", event["uscc"]) == pytest.approx(
        value(before, april, "court_defendant_amount_24m", event["uscc"]) + 500_000.0
    )


def _ordered_deliveries(spark, settings, order: list[int]) -> dict:
    """Deliver three versions of a transaction, a balance and a court event in ``order``; silver tables."""
    code = synthetic.uscc(1)
    _write_silver(
        spark,
        {
            "enterprises": [
                dict(
                    uscc=code,
                    company_name="企业一",
                    company_name_norm="企业一",
                    known_from=d(2019, 1, 1),
                    is_current=True,
                    _batch_id="e",
                    _record_hash="e",
                )
            ]
        },
        settings,
    )
    days = [d(2021, 3, 2), d(2021, 4, 10), d(2021, 5, 10)]
    for index in order:
        day, step = days[index], index + 1
        _deliver(
            spark,
            settings,
            "transactions",
            [
                dict(
                    txn_id="T1",
                    account_id="A1",
                    uscc=code,
                    txn_ts=dt.datetime(2021, 3, 1, 10),
                    amount=100.0 * step,
                    direction="C",
                    channel="pos",
                    balance_after=1_000.0,
                )
            ],
            day=day,
        )
        _deliver(
            spark,
            settings,
            "loan_balances",
            [
                dict(
                    loan_id="L1",
                    uscc=code,
                    as_of_date=d(2021, 3, 1),
                    outstanding_principal=1_000.0,
                    undrawn_amount=0.0,
                    overdue_principal=0.0,
                    days_past_due=10 * index,
                    repaid_amount=0.0,
                    status="active",
                )
            ],
            day=day,
        )
        _deliver(
            spark,
            settings,
            "court_events",
            [
                dict(
                    event_id="CE1",
                    case_id="C1",
                    event_type="case_filed",
                    event_date=d(2021, 2, 20),
                    published_date=d(2021, 2, 25),
                    party_name="企业一",
                    party_uscc=code,
                    role="defendant",
                    cause="contract",
                    amount=1_000.0 * step,
                    status="open",
                )
            ],
            day=day,
        )
    return {t: io.read(spark, t, settings=settings).localCheckpoint() for t in DAILY[:3]}


@pytest.mark.slow
def test_a_restatement_arriving_before_an_older_delivery_ends_as_in_order(spark, settings, tmp_path):
    in_order = _ordered_deliveries(
        spark, settings.replace(lakehouse_root=str(tmp_path / "a"), landing_root=str(tmp_path / "landing")), [0, 1, 2]
    )
    out_of_order = _ordered_deliveries(
        spark, settings.replace(lakehouse_root=str(tmp_path / "b"), landing_root=str(tmp_path / "landing")), [0, 2, 1]
    )
    for table, frame in in_order.items():
        chain = [(r["known_from"], r["known_to"], r["is_current"]) for r in frame.orderBy("known_from").collect()]
        assert chain == [
            (d(2021, 3, 2), d(2021, 4, 10), False),
            (d(2021, 4, 10), d(2021, 5, 10), False),
            (d(2021, 5, 10), None, True),
        ], table
        assertDataFrameEqual(out_of_order[table], frame, checkRowOrder=False)


def test_a_changed_file_reprocessed_is_a_later_delivery_than_the_contents_it_follows(tmp_path):
    from jobs.ingest.connectors.files import LandedFile, Plan
    from jobs.ingest.run import delivery_dates

    source = get_source("transactions")
    rel = "bank/transactions/transactions_20210301.parquet"
    path = tmp_path / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    landed = LandedFile(path=path, rel_path=rel, size=1, checksum="c2")
    start = d(2021, 3, 1)
    # first delivery: the date its name gives (T+1)
    assert delivery_dates(source, Plan(to_process=[landed]), start=start) == {rel: d(2021, 3, 2)}
    # the same name with new content, landed on 20 April: known from the day it landed
    landed_day = dt.datetime(2021, 4, 20, 8, tzinfo=dt.UTC).timestamp()
    os.utime(path, (landed_day, landed_day))
    changed = Plan(to_process=[landed], earlier_versions={rel: 1})
    assert delivery_dates(source, changed, start=start) == {rel: d(2021, 4, 20)}
    # landed (or copied with its old time) no later than the name's date: still after each earlier content
    os.utime(path, (0, 0))
    assert delivery_dates(source, Plan(to_process=[landed], earlier_versions={rel: 2}), start=start) == {
        rel: d(2021, 3, 4)
    }
