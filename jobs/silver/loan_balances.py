"""Silver ``loan_balances``: one row per loan and business day (days past due, balances)."""

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
    """Bronze balance rows → silver candidates with the ``as_of_month`` partition.

    ``known_from`` is the extract's delivery date: a balance of (loan_id, as_of_date)
    restated by a later extract becomes a later version.
    """
    return typed_candidates(
        bronze,
        get("loan_balances"),
        payload=get_source("loan_balances").columns,
        derived={
            "uscc": normalise_uscc(F.col("uscc")),
            "status": F.lower(F.trim(F.col("status"))),
            "as_of_month": F.date_format(F.col("as_of_date"), "yyyy-MM"),
        },
        known_from=delivery_date_col(file_dates or {}),
        not_after={"as_of_date": F.date_sub(delivery_date_col(file_dates or {}), 1)},
        file_dates=file_dates,
    )
