"""The watch list: loans with early warnings (of a configured severity or worse), and how their
status changed since last month.

A loan is ``new`` on the list when it has warnings on D and had none on the previous
month-end, ``ongoing`` when it has both, ``cleared`` when its warnings of last month are
gone. It is a pure function of two consecutive months of ``early_warnings``, so rerunning
or backfilling any month gives the same list.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from riskpipe.core.calendar import AsOf, snapshots_frame
from schemas.gold_scores import SEVERITIES, WATCH_LIST


def _severity_order() -> Column:
    return F.array(*[F.lit(s) for s in SEVERITIES])


def severity_rank(severity: Column) -> Column:
    """1 (low) .. 4 (critical)."""
    return F.array_position(_severity_order(), severity).cast("int")


def _per_loan(warnings: DataFrame, prefix: str) -> DataFrame:
    return warnings.groupBy("uscc", "loan_id", "snapshot_date").agg(
        F.array_sort(F.collect_set("signal_id")).alias(f"{prefix}_signals"),
        F.max(severity_rank(F.col("severity"))).alias(f"{prefix}_rank"),
    )


def watch_list(warnings: DataFrame, *, as_of: AsOf, min_severity: str = SEVERITIES[0]) -> DataFrame:
    """Build the watch list of each snapshot D of ``as_of``.

    Args:
        warnings: ``early_warnings`` rows of the snapshots D and of the month-end before each D.
        as_of: the snapshot date(s) D.
        min_severity: only warnings of this severity or worse put a loan on the list (and keep
            it there); the others stay in ``early_warnings`` for the loan officer.

    Returns:
        The ``watch_list`` columns: uscc, loan_id, snapshot_date, snapshot_month, status,
        max_severity, signals, new_signals, n_signals.
    """
    if min_severity not in SEVERITIES:
        raise ValueError(f"watch list min_severity {min_severity!r} not in {SEVERITIES}")
    warnings = warnings.where(severity_rank(F.col("severity")) >= SEVERITIES.index(min_severity) + 1)
    snaps = F.broadcast(snapshots_frame(warnings.sparkSession, as_of).select("snapshot_date", "snapshot_month"))
    now = _per_loan(warnings, "now")
    # last month's warnings, moved to the month-end they are compared with
    prev = _per_loan(warnings, "prev").withColumn("snapshot_date", F.last_day(F.add_months("snapshot_date", 1)))
    has_now, has_prev = F.col("now_signals").isNotNull(), F.col("prev_signals").isNotNull()
    empty = F.array().cast("array<string>")
    status = F.when(has_now & has_prev, "ongoing").when(has_now, "new").otherwise("cleared")
    signals = F.coalesce(F.col("now_signals"), empty)
    return (
        now.join(prev, on=["uscc", "loan_id", "snapshot_date"], how="full")
        .join(snaps, on="snapshot_date", how="inner")
        .select(
            "uscc",
            "loan_id",
            "snapshot_date",
            "snapshot_month",
            status.alias("status"),
            F.element_at(_severity_order(), F.coalesce(F.col("now_rank"), F.col("prev_rank"))).alias("max_severity"),
            signals.alias("signals"),
            F.array_except(signals, F.coalesce(F.col("prev_signals"), empty)).alias("new_signals"),
            F.size(signals).cast("int").alias("n_signals"),
        )
        .select(*WATCH_LIST.columns)
    )
