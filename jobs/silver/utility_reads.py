"""Silver ``utility_reads``: monthly electricity and water reads, normalised to kWh / m3."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import electricity_to_kwh, normalise_uscc, normalised_unit, parse_period
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze meter reads → silver candidates.

    Output: ``utility_reads`` columns; ``consumption`` delivered in MWh is
    multiplied by 1000 and ``unit`` becomes kWh (water stays m3).
    """
    return typed_candidates(
        bronze,
        get("utility_reads"),
        payload=get_source("utility_reads").columns,
        parsers={"period": parse_period},
        derived={
            "uscc": normalise_uscc(F.col("uscc")),
            "utility_type": F.lower(F.trim(F.col("utility_type"))),
            # consumption first: it needs the unit as delivered
            "consumption": electricity_to_kwh(F.col("consumption"), F.col("unit")),
            "unit": normalised_unit(F.col("unit")),
        },
        known_from=delivery_date_col(file_dates),
        not_after={"period": delivery_date_col(file_dates), "read_date": delivery_date_col(file_dates)},
        file_dates=file_dates,
    )
