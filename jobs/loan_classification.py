"""Suggested five-category class and IFRS 9 stage of every active loan at a month-end.

The class starts from the regulatory floor of the loan's days past due (configured floors,
2023 rules: any overdue => special mention, >90 => substandard, >270 => doubtful,
>360 => loss) and is raised, never lowered, by early warnings of high or critical
severity and by restructuring. The IFRS 9 stage follows: stage 3 when credit-impaired
(>90 DPD, or substandard or worse), stage 2 on a significant increase in credit risk
(>30 DPD, special mention, or PD at least ``sicr_pd_ratio`` times its origination value),
else stage 1. A loan officer confirms or overrides the suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.watch_list import severity_rank
from schemas.gold_scores import FIVE_CATEGORIES, LOAN_CLASSIFICATION, SEVERITIES

SUBSTANDARD = FIVE_CATEGORIES.index("substandard") + 1
SPECIAL_MENTION = FIVE_CATEGORIES.index("special_mention") + 1


@dataclass(frozen=True)
class ClassificationConfig:
    """The ``classification:`` section of the profile (see conf/default.yaml)."""

    dpd_floors: tuple[tuple[int, str], ...]
    severity_floors: Mapping[str, str]
    restructured_floor: str
    stage2_dpd: int
    stage3_dpd: int
    sicr_pd_ratio: float
    sicr_min_pd: float

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> "ClassificationConfig":
        """Build and validate from ``settings.raw["classification"]``."""
        section = raw.get("classification") or {}
        floors = tuple(sorted((int(f["dpd"]), str(f["class"])) for f in section.get("dpd_floors", ())))
        ifrs9 = section.get("ifrs9") or {}
        config = cls(floors, dict(section.get("severity_floors") or {}),
                     str(section.get("restructured_floor", "substandard")), int(ifrs9.get("stage2_dpd", 30)),
                     int(ifrs9.get("stage3_dpd", 90)), float(ifrs9.get("sicr_pd_ratio", 3.0)),
                     float(ifrs9.get("sicr_min_pd", 0.05)))
        classes = [c for _, c in config.dpd_floors] + list(config.severity_floors.values()) + [config.restructured_floor]
        bad = [c for c in classes if c not in FIVE_CATEGORIES] + [s for s in config.severity_floors if s not in SEVERITIES]
        if bad or not config.dpd_floors:
            raise ValueError(f"classification config: unknown classes/severities {bad} or no dpd_floors")
        return config


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
        rank = F.when(max_severity_rank >= SEVERITIES.index(severity) + 1,
                      F.greatest(rank, F.lit(FIVE_CATEGORIES.index(name) + 1))).otherwise(rank)
    return rank


def origination_pd(loans: DataFrame, scores: DataFrame) -> DataFrame:
    """PD of each loan's first score on or after its start date: ``loan_id``, ``pd_at_origination``."""
    return (loans.select("loan_id", "uscc", "start_date")
            .join(scores.select("uscc", "snapshot_date", "pd"), on="uscc", how="inner")
            .where(F.col("snapshot_date") >= F.col("start_date"))
            .groupBy("loan_id").agg(F.min_by("pd", "snapshot_date").alias("pd_at_origination")))


def classify(loans: DataFrame, *, warnings: DataFrame, scores: DataFrame, config: ClassificationConfig) -> DataFrame:
    """Classify the active loans of each snapshot D.

    Args:
        loans: ``jobs.loan_state.loan_state`` of the D(s) (only ``is_active`` rows are classified).
        warnings: ``early_warnings`` of the D(s).
        scores: ``risk_scores`` up to the last D (D's row gives pd and grade; the first score on or
            after a loan's start date its origination PD).
        config: floors and IFRS 9 thresholds.

    Returns:
        The ``loan_classification`` columns.
    """
    active = loans.where(F.col("is_active"))
    worst = (warnings.groupBy("loan_id", "snapshot_date")
             .agg(F.max(severity_rank(F.col("severity"))).alias("sev_rank"),
                  F.array_sort(F.collect_set("signal_id")).alias("signals")))
    contracts = active.select("loan_id", "uscc", "start_date").distinct()
    frame = (active.join(worst, on=["loan_id", "snapshot_date"], how="left")
             .join(scores.select("uscc", "snapshot_date", "pd", "grade"), on=["uscc", "snapshot_date"], how="left")
             .join(origination_pd(contracts, scores), on="loan_id", how="left"))
    dpd = F.col("days_past_due")
    dpd_rank = _dpd_floor_rank(dpd, config)
    warn_rank = _severity_floor_rank(F.coalesce(F.col("sev_rank"), F.lit(0)), config)
    restructured = F.col("loan_status") == "restructured"
    restr_rank = F.when(restructured, F.lit(FIVE_CATEGORIES.index(config.restructured_floor) + 1)).otherwise(1)
    rank = F.greatest(dpd_rank, warn_rank, restr_rank)
    reasons = F.array_compact(F.array(
        F.when(dpd_rank > 1, F.format_string("%d days past due", dpd)),
        F.when(warn_rank > 1, F.concat(F.lit("warnings: "), F.array_join(F.col("signals"), ", "))),
        F.when(restructured, F.lit("restructured"))))
    sicr = ((F.col("pd") >= F.col("pd_at_origination") * config.sicr_pd_ratio) & (F.col("pd") >= config.sicr_min_pd))
    stage = (F.when((dpd > config.stage3_dpd) | (rank >= SUBSTANDARD), 3)
             .when((dpd > config.stage2_dpd) | (rank >= SPECIAL_MENTION) | F.coalesce(sicr, F.lit(False)), 2)
             .otherwise(1))
    stage_reason = (F.when(dpd > config.stage3_dpd, F.format_string("credit-impaired: %d days past due", dpd))
                    .when(rank >= SUBSTANDARD, "credit-impaired: substandard or worse")
                    .when(dpd > config.stage2_dpd, F.format_string("SICR: %d days past due", dpd))
                    .when(rank >= SPECIAL_MENTION, "SICR: special mention")
                    .when(F.coalesce(sicr, F.lit(False)), F.format_string(
                        "SICR: PD %.4f vs %.4f at origination", F.col("pd"), F.col("pd_at_origination")))
                    .otherwise("performing"))
    return frame.select(
        "uscc", "loan_id", "snapshot_date", "snapshot_month", "days_past_due", "outstanding_principal",
        "loan_status", F.element_at(_class_order(), dpd_rank).alias("dpd_floor_class"),
        F.element_at(_class_order(), rank).alias("suggested_class"), reasons.alias("class_reasons"),
        "pd", "grade", "pd_at_origination", stage.cast("int").alias("ifrs9_stage"), stage_reason.alias("stage_reason"),
        ((dpd > config.stage3_dpd) | (rank >= SUBSTANDARD)).alias("is_default"),
    ).select(*LOAN_CLASSIFICATION.columns)
