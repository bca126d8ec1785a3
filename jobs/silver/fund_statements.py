"""Silver ``fund_statements``: the risk compensation fund's monthly statements, known from delivery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import clean_text
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze statement rows → silver candidates.

    Output: ``fund_statements`` columns; known_from is the statement file's delivery date (the
    statement of month M reaches the bank in M+1, ``schemas.feeds.FUND_STATEMENT_DAY``), and a
    statement dated after its own delivery is a parse failure (``statement_date.after_delivery``).
    """
    return typed_candidates(
        bronze,
        get("fund_statements"),
        payload=get_source("fund_statements").columns,
        derived={"pool": clean_text(F.col("pool"))},
        known_from=delivery_date_col(file_dates),
        not_after={"statement_date": delivery_date_col(file_dates)},
        file_dates=file_dates,
    )
