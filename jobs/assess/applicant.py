"""The applicant's point-in-time values from silver, for an assessment date D that may be any day.

``features_frame`` builds month-end snapshots only: T+1 feeds are bucketed by availability
month and monthly filings are expected for M-1, so a snapshot on the 10th would count the
filing due on the 15th as missed and sum 11 months of sales. An assessment on D therefore uses
two rows of the same build:

* the **model snapshot** P = the last month-end on or before D (D itself when D is a
  month-end): exactly the definition the model was trained and is monitored on; the model
  scores it and the limit reads its verified sales;
* the **policy view** E = the month-end of D's month, built from silver cut at what was
  available on D (versions with ``known_from <= D``, later supersessions undone, daily rows
  with ``date + 1 day <= D``, ratings published by D, court events dated by D, contracts
  started by D). The hard rules read it, so a dishonest-debtor listing published on the 5th
  declines an application on the 20th, and nothing published after D is seen. (Durations in
  that view, such as ``ent_age_months``, are measured to E, at most a month after D.)

The cut does not change snapshot P (everything P uses was available on P <= D), so both rows
come from one ``features_frame`` call on the applicant's rows only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.features.build import features_frame, silver_filters
from riskpipe.core import io
from riskpipe.core.calendar import DAILY_KEYS, SNAPSHOT, T_PLUS_DAYS, daily_versions_on, month_end
from riskpipe.core.config import Settings

DAILY_DATE = {"transactions": "txn_date", "loan_balances": "as_of_date"}
CLOSED = "closed"
EXTRA_COLUMNS = ("company_name", "loan_current_dpd")


def snapshot_dates(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """``(model snapshot P, policy snapshot E)`` of assessment date ``as_of`` (see the module doc)."""
    end = month_end(as_of)
    model_day = end if as_of == end else as_of.replace(day=1) - dt.timedelta(days=1)
    return model_day, end


def _known_by(day: Column) -> Column:
    return F.col("known_from") <= day


def available_on(silver: Mapping[str, DataFrame], *, uscc: str, as_of: dt.date) -> dict[str, DataFrame]:
    """Each silver table cut to the applicant's rows available on ``as_of``.

    History tables keep versions with ``known_from <= as_of`` and get ``known_to`` nulled when
    the superseding version came later (so the version current on ``as_of`` stays current);
    daily tables keep the one version of each row known on ``as_of``, as the current one.
    """
    day = F.lit(as_of)
    out = {}
    for table, df in silver.items():
        mine = df.where(F.col("uscc") == F.lit(uscc))
        if table in DAILY_DATE:
            available = mine.where(F.date_add(F.col(DAILY_DATE[table]), T_PLUS_DAYS) <= day)
            out[table] = daily_versions_on(available, keys=DAILY_KEYS[table], day=as_of).withColumn(
                "known_to", F.lit(None).cast("date")
            )
        else:
            out[table] = mine.where(_known_by(day)).withColumn(
                "known_to", F.when(F.col("known_to") <= day, F.col("known_to"))
            )
    published = F.coalesce(F.col("published_date"), F.col("known_from")) <= day
    recommended_by_d = F.col("recommended_date").isNull() | (F.col("recommended_date") <= day)
    out["tax_ratings"] = out["tax_ratings"].where(published)
    out["court_events"] = out["court_events"].where(F.col("event_date") <= day)
    out["loans"] = out["loans"].where(F.col("start_date") <= day)
    out["enterprises"] = out["enterprises"].withColumn("gov_recommended", F.col("gov_recommended") & recommended_by_d)
    return out


def current_dpd(balances: DataFrame) -> DataFrame:
    """Days past due now, per enterprise.

    Args:
        balances: ``loan_balances`` rows available on D (uscc, loan_id, as_of_date, days_past_due,
            status).

    Returns:
        ``uscc``, ``loan_current_dpd``: the maximum over the enterprise's loans of the DPD on
        each loan's latest available balance, closed loans excluded.
    """
    latest = balances.groupBy("uscc", "loan_id").agg(
        F.max_by(F.struct("days_past_due", "status"), "as_of_date").alias("last")
    )
    still_open = ~F.coalesce(F.col("last.status") == CLOSED, F.lit(False))
    return latest.groupBy("uscc").agg(
        F.max(F.when(still_open, F.col("last.days_past_due"))).cast("int").alias("loan_current_dpd")
    )


def registered_name(enterprises: DataFrame) -> DataFrame:
    """``uscc``, ``company_name`` of the registry version current after the cut (``known_to`` null)."""
    current = enterprises.where(F.col("known_to").isNull())
    return current.groupBy("uscc").agg(F.max_by("company_name", "known_from").alias("company_name"))


def applicant_frame(silver: Mapping[str, DataFrame], *, uscc: str, as_of: dt.date, built_from: str) -> DataFrame:
    """The applicant's rows for the model snapshot P and the policy snapshot E (one row when equal).

    Returns:
        Every ``enterprise_features`` column plus ``company_name`` and ``loan_current_dpd``
        (null without balances), one row per snapshot on which the applicant is registered.
    """
    cut = available_on(silver, uscc=uscc, as_of=as_of)
    features = features_frame(cut, as_of=list(snapshot_dates(as_of)), built_from=built_from)
    return (
        features.join(registered_name(cut["enterprises"]), on="uscc", how="left")
        .join(current_dpd(cut["loan_balances"]), on="uscc", how="left")
        .select(*features.columns, *EXTRA_COLUMNS)
    )


@dataclass(frozen=True)
class ApplicantValues:
    """What :func:`read_applicant` returns.

    Attributes:
        model_day, policy_day: snapshots P and E.
        model_row: the applicant's row of P (None when not registered on P).
        policy_row: the applicant's row of E (None when not registered on D).
        silver_versions: Delta version of each silver table read.
    """

    model_day: dt.date
    policy_day: dt.date
    model_row: dict[str, Any] | None
    policy_row: dict[str, Any] | None
    silver_versions: dict[str, int]


def read_applicant(spark: SparkSession, uscc: str, as_of: dt.date, *, settings: Settings) -> ApplicantValues:
    """Read silver at pinned versions, limited to the applicant and the lookback, and build both rows."""
    from jobs.features.build import built_from_json
    from jobs.features.main import silver_versions

    model_day, policy_day = snapshot_dates(as_of)
    versions = silver_versions(spark, settings)
    filters = silver_filters([model_day, policy_day])
    silver = {t: io.read(spark, t, version=v, settings=settings).where(filters[t]) for t, v in versions.items()}
    rows = applicant_frame(silver, uscc=uscc, as_of=as_of, built_from=built_from_json(versions)).collect()
    by_day = {r[SNAPSHOT]: r.asDict() for r in rows}
    return ApplicantValues(model_day, policy_day, by_day.get(model_day), by_day.get(policy_day), versions)
