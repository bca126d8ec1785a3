"""Default labels: 12-month horizon, already-defaulted enterprises and censoring."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from jobs.features import labels
from jobs.features.default_definition import DefaultDefinition
from schemas.registry import get

d = dt.date
X, Y, Z = "91141100MA0000001J", "91141100MA0000002M", "91141100MA0000003Q"
SNAPS = [d(2020, 12, 31), d(2021, 6, 30), d(2021, 9, 30)]
DEFINITION = DefaultDefinition(dpd_over=90, statuses=("restructured", "written_off"))


def bal(uscc, loan, day, dpd=0, status="active"):
    return dict(
        loan_id=loan,
        uscc=uscc,
        as_of_date=day,
        days_past_due=dpd,
        status=status,
        as_of_month=f"{day:%Y-%m}",
        known_from=day + dt.timedelta(days=1),
        is_current=True,
        _batch_id="b",
        _record_hash="h",
    )


def test_labels_horizon_in_default_and_censoring(spark):
    balances = get("loan_balances").rows_to_df(
        spark,
        [
            bal(X, "L1", d(2021, 9, 14), dpd=90),  # 90 days past due is not a default ...
            bal(X, "L1", d(2021, 9, 15), dpd=91),  # ... more than 90 is: X defaults on 15 Sep 2021
            bal(X, "L1", d(2021, 10, 1), dpd=106),
            bal(Z, "L2", d(2021, 1, 10), status="written_off"),
            bal(Y, "L3", d(2022, 1, 15)),  # last balance date known to the build
        ],
    )
    population = spark.createDataFrame(
        [(u, s, f"{s:%Y-%m}") for u in (X, Y, Z) for s in SNAPS],
        "uscc string, snapshot_date date, snapshot_month string",
    )
    out = labels.transform(
        balances, population=population, as_of=SNAPS, observed_until=d(2022, 1, 15), definition=DEFINITION
    )
    got = out.select(
        "uscc", "snapshot_date", "default_12m", "default_date", "in_default_at_snapshot", "observed_months", "censored"
    )
    rows = [
        # uscc, D, default_12m, default_date, in_default, observed_months, censored
        (X, SNAPS[0], True, d(2021, 9, 15), False, 12, False),
        (X, SNAPS[1], True, d(2021, 9, 15), False, 6, True),
        (X, SNAPS[2], False, None, True, 3, True),
        (Y, SNAPS[0], False, None, False, 12, False),
        (Y, SNAPS[1], False, None, False, 6, True),
        (Y, SNAPS[2], False, None, False, 3, True),
        (Z, SNAPS[0], True, d(2021, 1, 10), False, 12, False),
        (Z, SNAPS[1], False, None, True, 6, True),
        (Z, SNAPS[2], False, None, True, 3, True),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(rows, got.schema), checkRowOrder=False)


def test_the_default_date_is_the_first_balance_in_default_by_the_given_definition(spark):
    balances = get("loan_balances").rows_to_df(
        spark,
        [
            bal(X, "L1", d(2021, 2, 1), dpd=31),
            bal(X, "L1", d(2021, 3, 3), dpd=61),
            bal(X, "L1", d(2021, 5, 3), dpd=122),
            bal(Y, "L3", d(2021, 4, 1), status="restructured"),
            bal(Y, "L3", d(2021, 8, 1), status="written_off"),
            bal(Z, "L2", d(2021, 3, 1), dpd=None),
        ],
    )
    population = spark.createDataFrame(
        [(u, SNAPS[0], "2020-12") for u in (X, Y, Z)], "uscc string, snapshot_date date, snapshot_month string"
    )

    def default_dates(definition):
        out = labels.transform(balances, population=population, observed_until=d(2022, 1, 15), definition=definition)
        return {r["uscc"]: r["default_date"] for r in out.collect()}

    assert default_dates(DEFINITION) == {X: d(2021, 5, 3), Y: d(2021, 4, 1), Z: None}
    assert default_dates(DefaultDefinition(dpd_over=30, statuses=("written_off",))) == {
        X: d(2021, 2, 1),
        Y: d(2021, 8, 1),
        Z: None,
    }
