"""Gold audit table of pre-loan assessments: ``credit_decisions``.

One row per assessment, appended and never rewritten (``delta.appendOnly``): the inputs,
what the policy rules and the model saw, the model version, the decision and its reasons,
and the lineage needed to replay it (``jobs.assess.replay``). A government recommendation is
recorded in ``gov_recommended`` but never approves by itself.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructType,
    TimestampType,
)

from schemas.registry import TableSpec, column, register

S, D, F, B, I, TS = StringType(), DateType(), DoubleType(), BooleanType(), IntegerType(), TimestampType()
DECISIONS = ("approve", "refer", "decline")


def _reason_columns() -> list:
    out = []
    for i in range(1, 4):
        out += [
            column(
                f"reason_{i}",
                S,
                f"model reason code {i} (feature pushing most toward default; null "
                "when fewer push toward default or not scored)",
            ),
            column(f"reason_{i}_text", S, f"readable text of reason_{i}"),
        ]
    return out


CREDIT_DECISIONS = register(
    TableSpec(
        "credit_decisions",
        "gold",
        StructType(
            [
                column("decision_id", S, "unique id of the assessment (UUID)", nullable=False),
                column("decision_month", S, "YYYY-MM of assessed_at (partition)", nullable=False),
                column("assessed_at", D, "assessment date: everything used was available on this date", nullable=False),
                column(
                    "recorded_at", TS, "wall-clock time the record was written (audit only, not used)", nullable=False
                ),
                column("uscc", S, "applicant USCC as entered (normalised to half-width upper case)", nullable=False),
                column("uscc_valid", B, "USCC passes the GB 32100-2015 check", nullable=False),
                column("company_name", S, "registered name known on assessed_at (null when unknown)"),
                column("requested_amount", F, "amount applied for", nullable=False, unit="CNY", min=0),
                column("term_months", I, "term applied for", nullable=False, unit="months", min=1),
                column("purpose", S, "loan purpose as entered"),
                column("product", S, "loan product applied for"),
                column(
                    "gov_recommended",
                    B,
                    "on the government recommendation list on assessed_at (an input, never "
                    "an approval); null when the applicant is unknown",
                ),
                column(
                    "features_snapshot_date",
                    D,
                    "month-end snapshot the model scored (the last month-end on or "
                    "before assessed_at); null when not scored",
                ),
                column("rule_hits", ArrayType(S), "codes of the policy rules that fired", nullable=False),
                column("model_name", S, "registered model name"),
                column("model_version", S, "registered model version scored (the champion's version at the time)"),
                column("model_uri", S, "version-pinned URI loaded (models:/name/version)"),
                column("pd", F, "calibrated 12-month probability of default", min=0, max=1),
                column("score", F, "scorecard points"),
                column("grade", S, "master-scale grade, 1 best .. 10 worst"),
                *_reason_columns(),
                column(
                    "decision", S, "approve, refer (to a credit officer) or decline", nullable=False, allowed=DECISIONS
                ),
                column(
                    "recommended_limit",
                    F,
                    "recommended limit, never above requested_amount; 0 when declined, null when not scored",
                    unit="CNY",
                    min=0,
                ),
                column(
                    "decision_reasons", ArrayType(S), "readable reasons of the decision and the limit", nullable=False
                ),
                column("feature_values", S, "JSON object: feature -> value of the model snapshot (model inputs)"),
                column(
                    "policy_values",
                    S,
                    "JSON object: value -> what the policy rules evaluated (as of assessed_at)",
                    nullable=False,
                ),
                column("silver_versions", S, "JSON object: Delta version of each silver table read"),
                column("features_version", S, "feature catalogue version"),
                column("config", S, "JSON object: the decisions configuration used", nullable=False),
            ]
        ),
        keys=("decision_id",),
        partition_by=("decision_month",),
        properties={"delta.appendOnly": "true"},
        description="one row per pre-loan assessment (append-only audit, replayable)",
    )
)
