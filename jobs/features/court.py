"""Court features: defendant cases by cause and amount, active enforcement, dishonest-debtor listing.

Court events are paired with every snapshot on which their version is known
(published, hence ``known_from``, by D) and whose event date is not after D (a
future-dated event is a data defect, not knowledge). Case state needs the full
history (a listing years ago may still be in force), so court events have no
lookback bound; the table is small.

Closing a case (结案) is a fact about the case, not about one party: the court
publishes each event with a typed party name, and the closing event's name may
resolve to no enterprise or to a namesake (two registered names that differ only
in the legal-form suffix). So a case counts as closed once any known event of the
case closes it, whichever enterprise its party name was matched to.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import SNAPSHOT, AsOf, known_versions, snapshots_frame

DEFENDANT, PLAINTIFF = "defendant", "plaintiff"
OUTPUT = [
    "uscc",
    SNAPSHOT,
    "court_defendant_cases_12m",
    "court_defendant_cases_24m",
    "court_loan_dispute_cases_12m",
    "court_loan_dispute_cases_24m",
    "court_labour_cases_12m",
    "court_contract_cases_12m",
    "court_defendant_amount_12m",
    "court_defendant_amount_24m",
    "court_plaintiff_cases_12m",
    "court_active_enforcements",
    "court_active_enforcement_amount",
    "court_dishonest_listed",
    "court_days_since_dishonest_listing",
    "court_days_since_last_defendant_case",
]


def _when_type(event_type: str, value: Column) -> Column:
    return F.when(F.col("event_type") == event_type, value)


def case_states(events: DataFrame, *, as_of: AsOf) -> DataFrame:
    """State of every case of a matched party as known on each snapshot.

    Returns:
        ``uscc``, ``snapshot_date``, ``case_key``, ``role``, ``cause``, ``filed_date``,
        ``claim_amount``, ``enforced``, ``enforce_amount``, ``closed``, ``listed_date``,
        ``removed_date``.
    """
    snaps = snapshots_frame(events.sparkSession, as_of)
    known = known_versions(events, snaps, extra=F.col("event_date") <= snaps[SNAPSHOT]).withColumn(
        "case_key", F.coalesce(F.col("case_id"), F.col("event_id"))
    )
    # matched or not: a closing event closes the case for every party
    closed_cases = (
        known.where(F.col("event_type") == "case_closed")
        .select(SNAPSHOT, "case_key")
        .distinct()
        .withColumn("closed", F.lit(True))
    )
    party_states = (
        known.where(F.col("uscc").isNotNull())
        .groupBy("uscc", SNAPSHOT, "case_key")
        .agg(
            F.max("role").alias("role"),
            F.max("cause").alias("cause"),
            F.min(_when_type("case_filed", F.col("event_date"))).alias("filed_date"),
            F.max(_when_type("case_filed", F.col("amount"))).alias("claim_amount"),
            F.max(_when_type("enforcement", F.lit(True))).alias("enforced"),
            F.max_by(_when_type("enforcement", F.col("amount")), _when_type("enforcement", F.col("event_date"))).alias(
                "enforce_amount"
            ),
            F.max(_when_type("dishonest_listed", F.col("event_date"))).alias("listed_date"),
            F.max(_when_type("dishonest_removed", F.col("event_date"))).alias("removed_date"),
        )
    )
    return party_states.join(closed_cases, on=[SNAPSHOT, "case_key"], how="left").select(
        "uscc",
        SNAPSHOT,
        "case_key",
        "role",
        "cause",
        "filed_date",
        "claim_amount",
        "enforced",
        "enforce_amount",
        "closed",
        "listed_date",
        "removed_date",
    )


def transform(events: DataFrame, *, as_of: AsOf) -> DataFrame:
    """Court features per enterprise and snapshot.

    Args:
        events: silver ``court_events`` (event_id, case_id, event_type, event_date, role, cause,
            amount, uscc (resolved; unmatched rows are ignored), known_from, known_to).
        as_of: snapshot date(s), month-ends.

    Returns:
        ``uscc``, ``snapshot_date`` and the ``court_*`` features of the catalogue.
    """
    cases = case_states(events, as_of=as_of)
    day = F.col(SNAPSHOT)
    is_defendant = F.col("role") == DEFENDANT
    filed = F.col("filed_date").isNotNull()
    within = {m: filed & (F.col("filed_date") > F.add_months(day, -m)) for m in (12, 24)}
    cause = {c: F.col("cause") == c for c in ("loan_dispute", "labour", "contract")}
    active_enf = is_defendant & F.coalesce(F.col("enforced"), F.lit(False)) & F.col("closed").isNull()
    still_listed = F.col("listed_date").isNotNull() & (
        F.col("removed_date").isNull() | (F.col("removed_date") < F.col("listed_date"))
    )

    def count(condition: Column) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).cast("int")

    return (
        cases.groupBy("uscc", SNAPSHOT)
        .agg(
            count(is_defendant & within[12]).alias("court_defendant_cases_12m"),
            count(is_defendant & within[24]).alias("court_defendant_cases_24m"),
            count(is_defendant & within[12] & cause["loan_dispute"]).alias("court_loan_dispute_cases_12m"),
            count(is_defendant & within[24] & cause["loan_dispute"]).alias("court_loan_dispute_cases_24m"),
            count(is_defendant & within[12] & cause["labour"]).alias("court_labour_cases_12m"),
            count(is_defendant & within[12] & cause["contract"]).alias("court_contract_cases_12m"),
            F.sum(F.when(is_defendant & within[12], F.col("claim_amount"))).alias("court_defendant_amount_12m"),
            F.sum(F.when(is_defendant & within[24], F.col("claim_amount"))).alias("court_defendant_amount_24m"),
            count((F.col("role") == PLAINTIFF) & within[12]).alias("court_plaintiff_cases_12m"),
            count(active_enf).alias("court_active_enforcements"),
            F.sum(F.when(active_enf, F.col("enforce_amount"))).alias("court_active_enforcement_amount"),
            F.max(still_listed).alias("court_dishonest_listed"),
            F.datediff(day, F.max("listed_date")).alias("court_days_since_dishonest_listing"),
            F.datediff(day, F.max(F.when(is_defendant, F.col("filed_date")))).alias(
                "court_days_since_last_defendant_case"
            ),
        )
        .select(*OUTPUT)
    )
