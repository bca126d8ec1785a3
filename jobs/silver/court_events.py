"""Silver ``court_events``: cases, enforcement and dishonest-debtor listings, matched to USCCs.

Court records usually carry only the company name, written with full-width
characters, other brackets or another legal-form suffix. The USCC is taken as
given when present, else matched on the exact registered name, else on the
normalised name; names shared by several enterprises are never matched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.silver.common import delivery_date_col, typed_candidates
from jobs.silver.conform import clean_text, normalise_company_name, normalise_uscc, parse_value
from schemas.feeds import get_source
from schemas.registry import get

USCC_LENGTH = 18


def _unique_names(enterprises: DataFrame, name_col: str, alias: str) -> DataFrame:
    """Name → USCC for names that identify exactly one enterprise."""
    return (
        enterprises.groupBy(F.col(name_col).alias("_name"))
        .agg(F.countDistinct("uscc").alias("_n"), F.first("uscc").alias(alias))
        .where(F.col("_n") == 1)
        .select("_name", alias)
    )


def resolve_uscc(events: DataFrame, enterprises: DataFrame) -> DataFrame:
    """Add ``uscc`` and ``uscc_match`` to court rows.

    Args:
        events: rows with ``party_name``, ``party_name_norm``, ``party_uscc``.
        enterprises: current silver enterprises (``uscc``, ``company_name``, ``company_name_norm``).
    """
    exact = _unique_names(enterprises, "company_name", "_uscc_exact")
    normalised = _unique_names(enterprises, "company_name_norm", "_uscc_norm")
    has_given = F.length(F.col("party_uscc")) == USCC_LENGTH
    joined = (
        events.join(exact, on=F.col("party_name") == exact["_name"], how="left")
        .drop("_name")
        .join(normalised, on=F.col("party_name_norm") == normalised["_name"], how="left")
        .drop("_name")
    )
    return (
        joined.withColumn(
            "uscc",
            F.when(has_given, F.col("party_uscc")).otherwise(F.coalesce(F.col("_uscc_exact"), F.col("_uscc_norm"))),
        )
        .withColumn(
            "uscc_match",
            F.when(has_given, F.lit("given"))
            .when(F.col("_uscc_exact").isNotNull(), F.lit("name_exact"))
            .when(F.col("_uscc_norm").isNotNull(), F.lit("name_normalised"))
            .otherwise(F.lit("unmatched")),
        )
        .drop("_uscc_exact", "_uscc_norm")
    )


def transform(
    bronze: DataFrame, *, enterprises: DataFrame, file_dates: Mapping[str, dt.date] | None = None
) -> DataFrame:
    """Bronze API rows → silver candidates (known_from = delivery date of the row's delivery unit).

    ``file_dates`` maps each delivery unit (``_source_file``: an API page's events of one
    publication day, see ``jobs.ingest.court_api``) to the day it was delivered, the day
    its events were published; an event restated by a later delivery becomes a later
    version even when its ``published_date`` is unchanged.

    Output: ``court_events`` columns incl. ``party_name_norm``, ``uscc`` and
    ``uscc_match``, plus trace columns.
    """
    spec = get("court_events")
    published = parse_value(F.col("published_date"), spec.field("published_date").dataType)
    candidates = typed_candidates(
        bronze,
        spec,
        payload=get_source("court_events").columns,
        derived={
            "party_name": clean_text(F.col("party_name")),
            "party_name_norm": normalise_company_name(F.col("party_name")),
            "party_uscc": normalise_uscc(F.col("party_uscc")),
            "event_type": F.lower(F.trim(F.col("event_type"))),
            "uscc": F.lit(None).cast("string"),
            "uscc_match": F.lit(None).cast("string"),
        },
        known_from=delivery_date_col(file_dates or {}),
        not_after={"event_date": published},
        file_dates=file_dates,
    )
    resolved = resolve_uscc(candidates.drop("uscc", "uscc_match"), enterprises)
    return resolved.select(*candidates.columns)
