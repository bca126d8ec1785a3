"""Silver ``loans``: loan contracts under the cooperation product, with change history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import normalise_uscc
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze contract rows → silver candidates (known_from = extract delivery date)."""
    return typed_candidates(
        bronze,
        get("loans"),
        payload=get_source("loans").columns,
        derived={"uscc": normalise_uscc(F.col("uscc")), "status": F.lower(F.trim(F.col("status")))},
        known_from=delivery_date_col(file_dates),
        file_dates=file_dates,
    )
