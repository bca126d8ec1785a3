"""Silver ``enterprises``: the registry and the government's recommendation list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import typed_candidates
from jobs.silver.conform import clean_text, normalise_company_name, normalise_uscc, parse_value
from schemas.feeds import get_source
from schemas.registry import get

# Registry rows carry no delivery date; a registration is known from its founding.
REGISTRY_EPOCH = dt.date(1970, 1, 1)


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze registry rows → silver candidates with a name-matching key.

    Output: ``enterprises`` columns incl. ``company_name_norm``; known_from is the
    founding date (the registry is a snapshot, not a feed with delivery dates).
    """
    founded = parse_value(F.col("founded_date"), get("enterprises").field("founded_date").dataType)
    return typed_candidates(
        bronze,
        get("enterprises"),
        payload=get_source("enterprises").columns,
        derived={
            "uscc": normalise_uscc(F.col("uscc")),
            "company_name": clean_text(F.col("company_name")),
            "company_name_norm": normalise_company_name(F.col("company_name")),
            "county": clean_text(F.col("county")),
        },
        known_from=F.coalesce(founded, F.lit(REGISTRY_EPOCH)),
    )
