"""Gold tables of post-loan monitoring: scores, early warnings, the watch list and loan classes.

Every table is partitioned by ``snapshot_month`` and written per snapshot with
``replaceWhere`` (a rerun replaces exactly its month, and is skipped when the content
would not change), so downstream systems can read them by month or, through the
Change Data Feed of ``risk_scores``, by increment. No table feature beyond Change Data
Feed is used, so other engines (delta-rs, DuckDB's delta extension) can read them.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
)

from schemas.registry import TableSpec, column, register

S, D, F, I, L, B = StringType(), DateType(), DoubleType(), IntegerType(), LongType(), BooleanType()

SEVERITIES = ("low", "medium", "high", "critical")
FIVE_CATEGORIES = ("normal", "special_mention", "substandard", "doubtful", "loss")
WATCH_STATUSES = ("new", "ongoing", "cleared")


def _snapshot() -> list:
    return [
        column("snapshot_date", D, "month-end snapshot date D", nullable=False),
        column("snapshot_month", S, "YYYY-MM of snapshot_date (partition)", nullable=False),
    ]


RISK_SCORES = register(
    TableSpec(
        "risk_scores",
        "gold",
        StructType(
            [column("uscc", S, "enterprise USCC", nullable=False, rule="uscc")]
            + _snapshot()
            + [
                column("pd", F, "calibrated 12-month probability of default", nullable=False, min=0, max=1),
                column("score", F, "scorecard points (higher is safer)", nullable=False),
                column("grade", S, "master-scale grade, 1 (best) .. 10 (worst)", nullable=False),
                column("grade_num", I, "grade as a number, for comparisons", nullable=False, min=1, max=20),
                column("reason_1", S, "code of the feature pushing most toward default (null when none)"),
                column("reason_2", S, "second reason code"),
                column("reason_3", S, "third reason code"),
                column("model_name", S, "registered model name", nullable=False),
                column("model_version", S, "registered model version that scored the row", nullable=False),
                column("model_alias", S, "alias resolved to that version (champion)"),
                column("features_version", L, "Delta version of enterprise_features read", nullable=False),
            ]
        ),
        keys=("uscc", "snapshot_date"),
        partition_by=("snapshot_month",),
        properties={"delta.enableChangeDataFeed": "true"},
        description="monthly PD, score, grade and reason codes of every active borrower, by the champion model",
    )
)

EARLY_WARNINGS = register(
    TableSpec(
        "early_warnings",
        "gold",
        StructType(
            [
                column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
                column("loan_id", S, "active loan of the borrower", nullable=False),
            ]
            + _snapshot()
            + [
                column("signal_id", S, "warning id from the catalogue (conf/early_warnings.yaml)", nullable=False),
                column("severity", S, "low, medium, high or critical", nullable=False, allowed=SEVERITIES),
                column("description", S, "what the signal means", nullable=False),
                column("evidence", S, "JSON object: the values the condition was evaluated on", nullable=False),
                column("catalogue_version", S, "hash of the warning catalogue used", nullable=False),
            ]
        ),
        keys=("loan_id", "snapshot_date", "signal_id"),
        partition_by=("snapshot_month",),
        description="one row per active loan, month-end and early-warning signal that fired on data known on D",
    )
)

WATCH_LIST = register(
    TableSpec(
        "watch_list",
        "gold",
        StructType(
            [
                column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
                column("loan_id", S, "loan", nullable=False),
            ]
            + _snapshot()
            + [
                column(
                    "status",
                    S,
                    "new (warned now, not last month), ongoing (both), cleared (last month only)",
                    nullable=False,
                    allowed=WATCH_STATUSES,
                ),
                column(
                    "max_severity",
                    S,
                    "highest severity of the signals now (last month's when cleared)",
                    nullable=False,
                    allowed=SEVERITIES,
                ),
                column("signals", ArrayType(S), "signal ids firing now (empty when cleared)", nullable=False),
                column(
                    "new_signals", ArrayType(S), "signal ids firing now that did not fire last month", nullable=False
                ),
                column("n_signals", I, "number of signals firing now", nullable=False, min=0),
            ]
        ),
        keys=("loan_id", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="loans under watch at each month-end and how their status changed since the previous month",
    )
)

LOAN_CLASSIFICATION = register(
    TableSpec(
        "loan_classification",
        "gold",
        StructType(
            [
                column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
                column("loan_id", S, "loan", nullable=False),
            ]
            + _snapshot()
            + [
                column("days_past_due", I, "days past due on the latest balance known on D", nullable=False, min=0),
                column("outstanding_principal", F, "outstanding principal on that balance", unit="CNY"),
                column("loan_status", S, "contract status on that balance"),
                column(
                    "dpd_floor_class",
                    S,
                    "five-category floor from days past due",
                    nullable=False,
                    allowed=FIVE_CATEGORIES,
                ),
                column(
                    "suggested_class",
                    S,
                    "suggested five-category class: the floor, at least substandard in "
                    "default, raised by warnings (to special mention at most) and restructuring",
                    nullable=False,
                    allowed=FIVE_CATEGORIES,
                ),
                column("class_reasons", ArrayType(S), "why the class is above normal", nullable=False),
                column("pd", F, "PD on D (null when the borrower was not scored)"),
                column("grade", S, "grade on D"),
                column("pd_at_origination", F, "PD of the first score on or after the loan's start date"),
                column("ifrs9_stage", I, "IFRS 9 stage 1, 2 or 3", nullable=False, allowed=(1, 2, 3)),
                column("stage_reason", S, "why the stage", nullable=False),
                column(
                    "is_default",
                    B,
                    "in default on D by default_definition (more than 90 DPD, or restructured); "
                    "the same loans as stage 3 and as substandard or worse",
                    nullable=False,
                ),
            ]
        ),
        keys=("loan_id", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="suggested five-category class and IFRS 9 stage of every active loan at each month-end",
    )
)
