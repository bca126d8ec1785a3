"""Silver ``tax_filings``: monthly VAT returns, typed, with restatement history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import clean_text, normalise_uscc, parse_period
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze tax rows → silver candidates.

    Input columns: ``bronze_tax_filings`` (strings). Output: ``tax_filings``
    columns (period as the first day of the month, amounts in CNY, known_from =
    the file's delivery date) plus trace columns.
    """
    return typed_candidates(
        bronze,
        get("tax_filings"),
        payload=get_source("tax_filings").columns,
        parsers={"period": parse_period},
        derived={"uscc": normalise_uscc(F.col("uscc")), "company_name": clean_text(F.col("company_name"))},
        known_from=delivery_date_col(file_dates),
        # the drop of month M holds returns filed during M; it is delivered on the next 1st
        not_after={"period": _last_day_of_drop(file_dates), "filing_date": _last_day_of_drop(file_dates)},
        file_dates=file_dates,
    )


def _last_day_of_drop(file_dates):
    return F.date_sub(delivery_date_col(file_dates), 1)
