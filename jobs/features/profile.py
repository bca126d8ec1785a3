"""The enterprise population of each snapshot and its registry profile.

The population of snapshot D is every enterprise whose registry version is known
on D; county and industry come from that version, so a later re-registration does
not rewrite history.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import SNAPSHOT, AsOf, known_versions, snapshots_frame

OUTPUT = ["uscc", SNAPSHOT, "snapshot_month", "county", "industry", "ent_age_months", "ent_gov_recommended"]


def transform(enterprises: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Population and profile features per enterprise and snapshot.

    Args:
        enterprises: silver ``enterprises`` (uscc, county, industry, founded_date, gov_recommended,
            recommended_date, known_from, known_to).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date``, ``snapshot_month``, ``county``, ``industry``,
        ``ent_age_months``, ``ent_gov_recommended`` (one row per enterprise known on D).
    """
    snaps = snapshots_frame(enterprises.sparkSession, as_of)
    known = known_versions(enterprises, snaps).join(snaps.select(SNAPSHOT, "snapshot_month"), on=SNAPSHOT, how="inner")
    day = F.col(SNAPSHOT)
    recommended = F.coalesce(F.col("gov_recommended"), F.lit(False)) & (
        F.col("recommended_date").isNull() | (F.col("recommended_date") <= day)
    )
    # one version per enterprise is known on D; the latest known_from guards against a broken chain
    latest = known.groupBy("uscc", SNAPSHOT, "snapshot_month").agg(
        F.max_by(F.struct("county", "industry", "founded_date", recommended.alias("rec")), "known_from").alias("v")
    )
    return latest.select(
        "uscc",
        SNAPSHOT,
        "snapshot_month",
        F.col("v.county").alias("county"),
        F.col("v.industry").alias("industry"),
        F.floor(F.months_between(day, F.col("v.founded_date"))).cast("int").alias("ent_age_months"),
        F.col("v.rec").alias("ent_gov_recommended"),
    ).select(*OUTPUT)
