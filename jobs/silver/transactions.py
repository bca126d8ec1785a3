"""Silver ``transactions``: account transactions from T+1 extracts, partitioned by month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import normalise_uscc
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date] | None = None) -> DataFrame:
    """Bronze transactions → silver candidates with ``txn_date`` and ``txn_month``.

    A T+1 extract of business day D is delivered on D+1, so a transaction dated
    after D is rejected as ``transactions.txn_ts.after_delivery``. ``known_from`` is
    the extract's delivery date: a transaction restated by a later extract becomes a
    later version of the same ``txn_id``.
    """
    return typed_candidates(
        bronze,
        get("transactions"),
        payload=get_source("transactions").columns,
        derived={
            "uscc": normalise_uscc(F.col("uscc")),
            "direction": F.upper(F.trim(F.col("direction"))),
            "txn_date": F.to_date(F.col("txn_ts")),
            "txn_month": F.date_format(F.col("txn_ts"), "yyyy-MM"),
        },
        known_from=delivery_date_col(file_dates or {}),
        not_after={"txn_ts": F.date_sub(delivery_date_col(file_dates or {}), 1)},
        file_dates=file_dates,
    )
