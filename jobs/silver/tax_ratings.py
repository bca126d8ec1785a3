"""Silver ``tax_ratings``: annual tax credit ratings (A/B/M/C/D), known from publication."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import normalise_uscc, parse_value, to_halfwidth
from schemas.feeds import get_source
from schemas.registry import get


def transform(bronze: DataFrame, *, file_dates: Mapping[str, dt.date]) -> DataFrame:
    """Bronze rating rows → silver candidates.

    Output: ``tax_ratings`` columns; known_from is the later of the publication
    date and the file's delivery date (a rating cannot be known before it is published).
    """
    published = parse_value(F.col("published_date"), get("tax_ratings").field("published_date").dataType)
    return typed_candidates(
        bronze,
        get("tax_ratings"),
        payload=get_source("tax_ratings").columns,
        derived={"uscc": normalise_uscc(F.col("uscc")), "rating": F.upper(F.trim(to_halfwidth(F.col("rating"))))},
        known_from=F.coalesce(F.greatest(published, delivery_date_col(file_dates)), delivery_date_col(file_dates)),
        file_dates=file_dates,
    )
