"""Entry points of the pre-loan assessment: :func:`assess` and :func:`replay`.

This is a job (it reads silver and appends to a gold table through ``riskpipe.core.io``) that uses
the registered model the way monthly scoring does, so it lives in ``jobs/`` rather than in
``models/`` (training and the served model).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.assess.applicant import ApplicantValues, read_applicant
from jobs.assess.policy import DecisionConfig, decide
from jobs.assess.record import REPLAYED_FIELDS, TABLE, Assessment, to_json
from jobs.assess.scoring import ModelRef, load_model, resolve_model, score_values
from riskpipe.core import io
from riskpipe.core.calendar import snapshot_month
from riskpipe.core.config import Settings
from riskpipe.core.uscc import is_valid, normalise
from schemas.feature_catalogue import FEATURES_VERSION, names
from schemas.registry import get

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MODEL_COLUMNS = ("is_active_borrower", *names())  # what an enterprise_features row offers a model
REPLAY_TOLERANCE = 1e-12


def decision_config(settings: Settings, config: DecisionConfig | Mapping[str, Any] | None = None) -> DecisionConfig:
    """The ``decisions:`` section of the profile; keys of a ``config`` mapping replace its keys."""
    if isinstance(config, DecisionConfig):
        return config
    base = settings.sections("decisions")["decisions"]
    return DecisionConfig.from_mapping({**base, **(config or {})})


def _day(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _check_request(amount: float, term_months: int) -> None:
    if not (isinstance(amount, (int, float)) and math.isfinite(amount) and amount > 0):
        raise ValueError(f"requested amount must be a positive number of CNY, got {amount!r}")
    if not (isinstance(term_months, int) and term_months >= 1):
        raise ValueError(f"term must be a whole number of months >= 1, got {term_months!r}")


def _policy_values(applicant: ApplicantValues | None, *, valid: bool, amount: float, term: int) -> dict[str, Any]:
    """What the rules see: the policy-view features and the derived values."""
    values: dict[str, Any] = {"uscc_valid": valid, "request_amount": float(amount), "request_term_months": term}
    if applicant is None:
        return values
    values.update(in_registry=applicant.policy_row is not None, scoreable=applicant.model_row is not None)
    row = applicant.policy_row
    if row is not None:
        values.update({name: row.get(name) for name in MODEL_COLUMNS})
        values["loan_current_dpd"] = row.get("loan_current_dpd") or 0  # no balance: nothing past due
    return values


def assess(
    uscc: str,
    amount: float,
    term_months: int,
    *,
    as_of: dt.date | str,
    settings: Settings,
    spark: SparkSession,
    model_uri: str | None = None,
    config: DecisionConfig | Mapping | None = None,
    purpose: str | None = None,
    product: str | None = None,
) -> Assessment:
    """Assess a loan application as of ``as_of``, append the record to ``credit_decisions`` and return it.

    What a credit officer gets:

    1. **USCC check** (GB 32100-2015): an invalid code is declined (rule ``INVALID_USCC``)
       without reading any data.
    2. **Point-in-time values** from silver (see :mod:`jobs.assess.applicant`): the model scores
       the last month-end snapshot on or before ``as_of``; the policy rules see everything
       available on ``as_of`` itself.
    3. **Hard policy rules** (``decisions.rules``): dishonest-debtor listing
       (``court_dishonest_listed``), tax rating D (``tax_rating``), active enforcement
       (``court_active_enforcements``), a loan currently 90+ days past due
       (``loan_current_dpd``) and an invalid USCC decline whatever the score; thin or stale
       data (no VAT filing in 24 months, filings older than 3 months, unknown or unscoreable
       applicant), rating C, past delinquency, a young enterprise or a term above the product
       maximum refer the file to a credit officer.
    4. **Champion score** (``models:/<models.name>@champion``, pinned to its version): PD,
       score, grade 1..10 and three reason codes. Grade bands (``decisions.grade_bands``,
       default 1-6 approve, 7-8 refer, 9-10 decline) give the model's recommendation.
    5. **Decision** = the most severe of rules and grade band. **Limit**: the share
       ``decisions.limit.sales_share`` of verified 12-month sales (``tax_sales_12m``) times the
       grade multiplier, less outstanding bank exposure (``loan_exposure``), capped at the
       product maximum, rounded down, never above ``amount``; 0 when declined; a limit below
       the product minimum turns an approval into a referral.
    6. The government recommendation (``ent_gov_recommended``) is recorded and shown; it
       never changes the decision.

    Args:
        uscc: applicant's USCC (full-width or lower case accepted, normalised).
        amount: requested amount (CNY, > 0).
        term_months: requested term in months (>= 1).
        as_of: assessment date; nothing available after it is used. Recorded as ``assessed_at``.
        model_uri: a model to use instead of the champion (e.g. ``models:/sme_pd/3``).
        config: the decisions configuration, or a mapping merged over the profile's section.
        purpose, product: recorded as given.

    Returns:
        The :class:`Assessment` appended to ``credit_decisions``.

    Raises:
        ValueError: bad amount or term. LookupError: no champion to score with.
    """
    _check_request(amount, term_months)
    policy = decision_config(settings, config)
    day, code = _day(as_of), normalise(uscc)
    valid = is_valid(code)
    applicant = read_applicant(spark, code, day, settings=settings) if valid else None
    model_row = applicant.model_row if applicant else None
    ref, score = _score(model_row, model_uri=model_uri, settings=settings, alias=policy.model_alias)
    values = _policy_values(applicant, valid=valid, amount=amount, term=term_months)
    outcome = decide(values, score, limit_values=model_row or {}, amount=float(amount), config=policy)
    record = Assessment(
        decision_id=str(uuid.uuid4()),
        decision_month=snapshot_month(day),
        assessed_at=day,
        recorded_at=dt.datetime.now(dt.UTC),
        uscc=code,
        uscc_valid=valid,
        requested_amount=float(amount),
        term_months=int(term_months),
        purpose=purpose,
        product=product,
        decision=outcome.decision,
        recommended_limit=outcome.recommended_limit,
        rule_hits=outcome.rule_hits,
        decision_reasons=outcome.reasons,
        policy_values=to_json(values),
        config=to_json(policy.to_dict()),
        **_applicant_fields(applicant),
        **_model_fields(ref, score),
    )
    io.append(get(TABLE).rows_to_df(spark, [record.to_row()]), TABLE, settings=settings)
    return record


def _score(
    model_row: Mapping[str, Any] | None, *, model_uri: str | None, settings: Settings, alias: str
) -> tuple[ModelRef | None, dict[str, Any] | None]:
    """Score the model snapshot's row with the version-pinned model (nothing when there is no row)."""
    if model_row is None:
        return None, None
    ref = resolve_model(model_uri, settings=settings, alias=alias)
    return ref, score_values(load_model(ref, settings=settings), model_row, settings=settings)


def _applicant_fields(applicant: ApplicantValues | None) -> dict[str, Any]:
    if applicant is None:
        return {}
    policy_row, model_row = applicant.policy_row or {}, applicant.model_row
    return {
        "company_name": policy_row.get("company_name"),
        "gov_recommended": policy_row.get("ent_gov_recommended"),
        "features_snapshot_date": applicant.model_day if model_row else None,
        "feature_values": to_json({k: model_row.get(k) for k in MODEL_COLUMNS}) if model_row else None,
        "silver_versions": to_json(applicant.silver_versions),
        "features_version": FEATURES_VERSION,
    }


def _model_fields(ref: ModelRef | None, score: Mapping[str, Any] | None) -> dict[str, Any]:
    if ref is None or score is None:
        return {}
    return {"model_name": ref.name, "model_version": ref.version, "model_uri": ref.uri, **score}


@dataclass(frozen=True)
class Replay:
    """A recorded assessment and the same assessment re-run from its stored values."""

    recorded: Assessment
    replayed: Assessment

    @property
    def differences(self) -> dict[str, tuple[Any, Any]]:
        """Replayed fields that differ: ``name -> (recorded, replayed)``."""
        out = {}
        for name in REPLAYED_FIELDS:
            a, b = getattr(self.recorded, name), getattr(self.replayed, name)
            same = (
                math.isclose(a, b, rel_tol=REPLAY_TOLERANCE, abs_tol=REPLAY_TOLERANCE)
                if isinstance(a, float) and isinstance(b, float)
                else a == b
            )
            if not same:
                out[name] = (a, b)
        return out

    @property
    def matches(self) -> bool:
        return not self.differences


def replay(decision_id: str, *, settings: Settings, spark: SparkSession) -> Replay:
    """Re-run a recorded decision from its stored policy values, feature values, model version and config.

    Nothing is read from silver and nothing is written: the rules run on ``policy_values``, the
    model behind ``model_uri`` (a pinned version) scores ``feature_values``, and the decision
    and limit are recomputed with the stored ``config``.

    Raises:
        KeyError: no such decision.
    """
    from pyspark.sql import functions as F

    rows = io.read(spark, TABLE, settings=settings).where(F.col("decision_id") == decision_id).collect()
    if len(rows) != 1:
        raise KeyError(f"decision {decision_id!r}: {len(rows)} rows in {TABLE}")
    recorded = Assessment.from_row(rows[0].asDict())
    features = json.loads(recorded.feature_values) if recorded.feature_values else None
    score = None
    if features is not None and recorded.model_uri:
        ref = ModelRef(recorded.model_name, recorded.model_version, recorded.model_uri)
        score = score_values(load_model(ref, settings=settings), features, settings=settings)
    outcome = decide(
        json.loads(recorded.policy_values),
        score,
        limit_values=features or {},
        amount=recorded.requested_amount,
        config=DecisionConfig.from_mapping(json.loads(recorded.config)),
    )
    replayed = dataclasses.replace(
        recorded,
        decision=outcome.decision,
        recommended_limit=outcome.recommended_limit,
        rule_hits=outcome.rule_hits,
        decision_reasons=outcome.reasons,
        **{k: v for k, v in (score or {}).items() if not k.endswith("_text")},
    )
    return Replay(recorded, replayed)
