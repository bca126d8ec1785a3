"""Suggested five-category class and IFRS 9 stage of every active loan at a month-end.

Default is decided by :func:`jobs.features.default_definition.in_default` on the loan's latest balance
(days past due and status), the one definition the labels and the portfolio also use. The
class starts from the regulatory floor of the loan's days past due (configured floors,
2023 rules: any overdue => special mention, >90 => substandard, >270 => doubtful,
>360 => loss), is at least substandard when the loan is in default, and is raised, never
lowered, by early warnings of high or critical severity and by restructuring. The IFRS 9
stage follows: stage 3 (credit-impaired) when in default, stage 2 on a significant increase
in credit risk (>30 DPD, special mention, or PD at least ``sicr_pd_ratio`` times its
origination value), else stage 1. A loan officer confirms or overrides the suggestion.

Substandard or worse, stage 3 and ``is_default`` are the same loans: the configuration is
validated so that nothing but the default definition reaches substandard (the substandard
days-past-due floor is the definition's threshold, a warning raises to special mention at
most, and restructuring reaches substandard exactly when restructured is a default status).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features.default_definition import DefaultDefinition, in_default, past_due_default, status_default
from jobs.post_loan.watch_list import severity_rank
from schemas.gold_scores import FIVE_CATEGORIES, LOAN_CLASSIFICATION, SEVERITIES

SUBSTANDARD = FIVE_CATEGORIES.index("substandard") + 1
SPECIAL_MENTION = FIVE_CATEGORIES.index("special_mention") + 1
RESTRUCTURED = "restructured"
# the one definition of default decides these; a profile setting them is refused
REMOVED_KEYS = {"ifrs9.stage3_dpd": "stage 3 is a loan in default (default_definition)"}
ONE_DEFINITION = (
    "the one definition of default (labels, IFRS 9 stage 3, the five categories and the portfolio "
    "all use default_definition; regulators and auditors reconcile their counts)"
)


def _rank(name: str) -> int:
    return FIVE_CATEGORIES.index(name) + 1


@dataclass(frozen=True)
class ClassificationConfig:
    """The ``classification:`` section of the profile (see conf/default.yaml) and the default definition.

    Validated on construction: unknown classes or severities, and any route to substandard other
    than the default definition, are refused (see the module docstring).
    """

    dpd_floors: tuple[tuple[int, str], ...]
    severity_floors: Mapping[str, str]
    restructured_floor: str
    stage2_dpd: int
    sicr_pd_ratio: float
    sicr_min_pd: float
    default_definition: DefaultDefinition

    def __post_init__(self) -> None:
        classes = [c for _, c in self.dpd_floors] + list(self.severity_floors.values()) + [self.restructured_floor]
        bad = [c for c in classes if c not in FIVE_CATEGORIES] + [
            s for s in self.severity_floors if s not in SEVERITIES
        ]
        if bad or not self.dpd_floors:
            raise ValueError(f"classification config: unknown classes/severities {bad} or no dpd_floors")
        self._check_default_floor()
        self._check_severity_floors()
        self._check_restructured_floor()

    def _check_default_floor(self) -> None:
        dpd_over = self.default_definition.dpd_over
        serious = [dpd for dpd, name in self.dpd_floors if _rank(name) >= SUBSTANDARD]
        if not serious or min(serious) != dpd_over:
            found = f"more than {min(serious)} days past due" if serious else "no floor"
            raise ValueError(
                f"classification.dpd_floors: the substandard floor is at {found}, but default_definition.dpd_over "
                f"is {dpd_over}. A loan must be substandard or worse exactly when it is in default under "
                f"{ONE_DEFINITION}: give the first floor of substandard or worse dpd: {dpd_over}, or change "
                f"default_definition.dpd_over."
            )

    def _check_severity_floors(self) -> None:
        raising = {s: c for s, c in self.severity_floors.items() if _rank(c) >= SUBSTANDARD}
        if raising:
            raise ValueError(
                f"classification.severity_floors: {raising} would make a loan substandard or worse on an early "
                f"warning alone. Substandard or worse means in default, but the labels and the portfolio decide "
                f"default from days past due and status only (they cannot see warnings), so {ONE_DEFINITION} "
                f"would be broken. Raise to special_mention at most; a judgement that a warned loan is "
                f"substandard belongs in the loan officer's manual override of the suggested class."
            )

    def _check_restructured_floor(self) -> None:
        is_default_status = RESTRUCTURED in self.default_definition.statuses
        if is_default_status != (_rank(self.restructured_floor) >= SUBSTANDARD):
            want = "substandard or worse" if is_default_status else "below substandard"
            raise ValueError(
                f"classification.restructured_floor: {self.restructured_floor!r} must be {want} because "
                f"default_definition.statuses {list(self.default_definition.statuses)} "
                f"{'lists' if is_default_status else 'does not list'} restructured, and a loan must be substandard or "
                f"worse exactly when it is in default under {ONE_DEFINITION}."
            )

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> ClassificationConfig:
        """Build and validate from ``settings.sections("classification", "default_definition")``."""
        section = raw.get("classification") or {}
        floors = tuple(sorted((int(f["dpd"]), str(f["class"])) for f in section.get("dpd_floors", ())))
        ifrs9 = section.get("ifrs9") or {}
        for key, why in REMOVED_KEYS.items():
            if key.split(".", 1)[1] in ifrs9:
                raise ValueError(f"classification.{key}: {why}; remove the key")
        return cls(
            floors,
            dict(section.get("severity_floors") or {}),
            str(section.get("restructured_floor", "substandard")),
            int(ifrs9.get("stage2_dpd", 30)),
            float(ifrs9.get("sicr_pd_ratio", 3.0)),
            float(ifrs9.get("sicr_min_pd", 0.05)),
            DefaultDefinition.from_settings(raw),
        )


def _class_order() -> Column:
    return F.array(*[F.lit(c) for c in FIVE_CATEGORIES])


def class_rank(name: Column) -> Column:
    """1 (normal) .. 5 (loss)."""
    return F.array_position(_class_order(), name).cast("int")


def _dpd_floor_rank(dpd: Column, config: ClassificationConfig) -> Column:
    rank = F.lit(1)
    for threshold, name in config.dpd_floors:  # ascending: the last matching floor is the highest
        rank = F.when(dpd > threshold, F.lit(FIVE_CATEGORIES.index(name) + 1)).otherwise(rank)
    return rank


def _severity_floor_rank(max_severity_rank: Column, config: ClassificationConfig) -> Column:
    rank = F.lit(1)
    for severity, name in sorted(config.severity_floors.items(), key=lambda kv: SEVERITIES.index(kv[0])):
        rank = F.when(
            max_severity_rank >= SEVERITIES.index(severity) + 1,
            F.greatest(rank, F.lit(FIVE_CATEGORIES.index(name) + 1)),
        ).otherwise(rank)
    return rank


def origination_pd(loans: DataFrame, scores: DataFrame) -> DataFrame:
    """PD of each loan's first score on or after its start date: ``loan_id``, ``pd_at_origination``."""
    return (
        loans.select("loan_id", "uscc", "start_date")
        .join(scores.select("uscc", "snapshot_date", "pd"), on="uscc", how="inner")
        .where(F.col("snapshot_date") >= F.col("start_date"))
        .groupBy("loan_id")
        .agg(F.min_by("pd", "snapshot_date").alias("pd_at_origination"))
    )


def classify(loans: DataFrame, *, warnings: DataFrame, scores: DataFrame, config: ClassificationConfig) -> DataFrame:
    """Classify the active loans of each snapshot D.

    Args:
        loans: ``jobs.post_loan.loan_state.loan_state`` of the D(s) (only ``is_active`` rows are classified).
        warnings: ``early_warnings`` of the D(s).
        scores: ``risk_scores`` up to the last D (D's row gives pd and grade; the first score on or
            after a loan's start date its origination PD).
        config: floors, IFRS 9 thresholds and the default definition.

    Returns:
        The ``loan_classification`` columns.
    """
    active = loans.where(F.col("is_active"))
    worst = warnings.groupBy("loan_id", "snapshot_date").agg(
        F.max(severity_rank(F.col("severity"))).alias("sev_rank"),
        F.array_sort(F.collect_set("signal_id")).alias("signals"),
    )
    contracts = active.select("loan_id", "uscc", "start_date").distinct()
    frame = (
        active.join(worst, on=["loan_id", "snapshot_date"], how="left")
        .join(scores.select("uscc", "snapshot_date", "pd", "grade"), on=["uscc", "snapshot_date"], how="left")
        .join(origination_pd(contracts, scores), on="loan_id", how="left")
    )
    definition = config.default_definition
    dpd, status = F.col("days_past_due"), F.col("loan_status")
    is_default = in_default(dpd, status, definition)
    dpd_rank = _dpd_floor_rank(dpd, config)
    warn_rank = _severity_floor_rank(F.coalesce(F.col("sev_rank"), F.lit(0)), config)
    restructured = F.coalesce(status == RESTRUCTURED, F.lit(False))
    restr_rank = F.when(restructured, F.lit(_rank(config.restructured_floor))).otherwise(1)
    default_rank = F.when(is_default, F.lit(SUBSTANDARD)).otherwise(1)
    rank = F.greatest(dpd_rank, warn_rank, restr_rank, default_rank)
    other_status_default = status_default(status, definition) & ~restructured
    reasons = F.array_compact(
        F.array(
            F.when(dpd_rank > 1, F.format_string("%d days past due", dpd)),
            F.when(warn_rank > 1, F.concat(F.lit("warnings: "), F.array_join(F.col("signals"), ", "))),
            F.when(restructured, F.lit("restructured")),
            F.when(other_status_default, F.concat(F.lit("in default: "), status)),
        )
    )
    sicr = (F.col("pd") >= F.col("pd_at_origination") * config.sicr_pd_ratio) & (F.col("pd") >= config.sicr_min_pd)
    stage = (
        F.when(is_default, 3)
        .when((dpd > config.stage2_dpd) | (rank >= SPECIAL_MENTION) | F.coalesce(sicr, F.lit(False)), 2)
        .otherwise(1)
    )
    stage_reason = (
        F.when(past_due_default(dpd, definition), F.format_string("credit-impaired: %d days past due", dpd))
        .when(is_default, F.concat(F.lit("credit-impaired: "), status))
        .when(dpd > config.stage2_dpd, F.format_string("SICR: %d days past due", dpd))
        .when(rank >= SPECIAL_MENTION, "SICR: special mention")
        .when(
            F.coalesce(sicr, F.lit(False)),
            F.format_string("SICR: PD %.4f vs %.4f at origination", F.col("pd"), F.col("pd_at_origination")),
        )
        .otherwise("performing")
    )
    return frame.select(
        "uscc",
        "loan_id",
        "snapshot_date",
        "snapshot_month",
        "days_past_due",
        "outstanding_principal",
        "loan_status",
        F.element_at(_class_order(), dpd_rank).alias("dpd_floor_class"),
        F.element_at(_class_order(), rank).alias("suggested_class"),
        reasons.alias("class_reasons"),
        "pd",
        "grade",
        "pd_at_origination",
        stage.cast("int").alias("ifrs9_stage"),
        stage_reason.alias("stage_reason"),
        is_default.alias("is_default"),
    ).select(*LOAN_CLASSIFICATION.columns)
