import datetime as dt

from pyspark.testing import assertDataFrameEqual

from jobs.silver.history import DUPLICATE, KNOWN, OWN, chain_versions, classify
from schemas.registry import get

SPEC = get("tax_filings")
U = "91350100M000100Y43"
MAR, APR, MAY = dt.date(2020, 3, 16), dt.date(2020, 4, 16), dt.date(2020, 5, 16)


def _row(known_from, sales, *, file="f.csv", row=1, period=dt.date(2020, 2, 1)):
    return {
        "uscc": U,
        "period": period,
        "taxable_sales": sales,
        "known_from": known_from,
        "is_current": True,
        "_batch_id": "b",
        "_record_hash": f"h{sales}",
        "_source_file": file,
        "_source_row": row,
    }


def _zip(spark, df, trace):
    rows = [dict(r.asDict(), **t) for r, t in zip(df.collect(), trace)]
    schema = df.schema.add("_source_file", "string").add("_source_row", "long")
    return spark.createDataFrame(rows, schema)


def test_later_line_of_the_same_delivery_wins(spark):
    batch = _zip(
        spark,
        SPEC.rows_to_df(
            spark,
            [
                {k: v for k, v in _row(MAR, 100.0).items() if not k.startswith("_s")},
                {k: v for k, v in _row(MAR, 120.0).items() if not k.startswith("_s")},
                {k: v for k, v in _row(MAR, 120.0).items() if not k.startswith("_s")},
            ],
        ),
        [{"_source_file": "f.csv", "_source_row": n} for n in (2, 3, 4)],
    )
    flagged = classify(batch, SPEC.rows_to_df(spark, []), SPEC.keys, batch_id="b")
    got = sorted((r["_source_row"], r[DUPLICATE], r[KNOWN], r[OWN]) for r in flagged.collect())
    assert got == [(2, True, False, False), (3, True, False, False), (4, False, False, False)]
    assert flagged.columns == [*batch.columns, DUPLICATE, KNOWN, OWN]


def test_restatements_chain_in_any_arrival_order(spark):
    def versions(*rows):
        return SPEC.rows_to_df(spark, [{k: v for k, v in r.items() if not k.startswith("_s")} for r in rows])

    original, amendment, late = _row(MAR, 100.0), _row(MAY, 90.0), _row(APR, 95.0)
    in_order = chain_versions(
        versions(original, late), versions(amendment), entity_keys=["uscc", "period"], columns=SPEC.columns
    )
    backfill = chain_versions(
        versions(amendment, late), versions(original), entity_keys=["uscc", "period"], columns=SPEC.columns
    )
    assertDataFrameEqual(in_order, backfill)
    got = {r["known_from"]: (r["known_to"], r["is_current"]) for r in in_order.collect()}
    assert got == {MAR: (APR, False), APR: (MAY, False), MAY: (None, True)}


def _silver(spark, *rows, batch_id="b"):
    return SPEC.rows_to_df(
        spark, [{**{k: v for k, v in r.items() if not k.startswith("_s")}, "_batch_id": batch_id} for r in rows]
    )


def _batch(spark, *rows):
    bare = SPEC.rows_to_df(spark, [{k: v for k, v in r.items() if not k.startswith("_s")} for r in rows])
    return _zip(spark, bare, [{"_source_file": "f.csv", "_source_row": n} for n in range(2, 2 + len(rows))])


def test_identical_redelivery_is_already_known(spark):
    existing = _silver(spark, _row(MAR, 100.0), batch_id="earlier")
    flagged = classify(_batch(spark, _row(MAR, 100.0), _row(APR, 90.0)), existing, SPEC.keys, batch_id="b")
    got = {r["known_from"]: (r[DUPLICATE], r[KNOWN], r[OWN]) for r in flagged.collect()}
    assert got == {MAR: (False, True, False), APR: (False, False, False)}


def test_rows_an_earlier_attempt_of_the_same_batch_published_are_its_own(spark):
    existing = _silver(spark, _row(MAR, 100.0), batch_id="b")
    changed = _silver(spark, _row(MAR, 101.0), batch_id="b")  # same keys, other content: not known
    again = _batch(spark, _row(MAR, 100.0))
    assert [(r[KNOWN], r[OWN]) for r in classify(again, existing, SPEC.keys, batch_id="b").collect()] == [(True, True)]
    assert [(r[KNOWN], r[OWN]) for r in classify(again, existing, SPEC.keys, batch_id="c").collect()] == [(True, False)]
    assert [(r[KNOWN], r[OWN]) for r in classify(again, changed, SPEC.keys, batch_id="b").collect()] == [(False, False)]
