"""Early warnings judged like a classifier: per signal and per minimum severity, how many defaulters a
catalogue warned and how many months ahead, and how many performing borrowers it warned (false alarms).

Unit: the borrower (obligor) with a loan under monitoring. Default is the obligor's
(``default_labels``: any of its loans 90+ days past due, restructured or written off), the features
and the PD are the borrower's, and a borrower holds one loan at a time: counting loans instead would
count a borrower twice when its loan is renewed inside the window, and would score the repaid loan
by a default on its successor.

Over a window of month-ends ``first``..``last``, a borrower is *monitored* on a month-end D when it
has an active loan on D and is not in default on D. A monitored borrower is

* a *defaulter* when its first default after a monitored month-end falls on or before ``last``;
* *performing* when no default follows within :data:`HORIZON_MONTHS` of any of its monitored
  month-ends and every one of them has that many months observed (uncensored labels);
* otherwise left out: a *later default* (in the horizon after the window's last month-end) or
  *censored* (not yet observed long enough).

A defaulter is warned (a hit) by a warning of a month-end D with its default in
(D, D + :data:`HORIZON_MONTHS` months]: warnings before ``first`` count, so a default early in the
window is not capped at a short lead. Its lead time is the months from the first such warning to
the default date. A performing borrower is a false alarm when it was warned on a month-end of the
window.
Hit rate = warned defaulters / defaulters; false-alarm rate = warned performing / performing;
lift = hit rate / false-alarm rate.

Past-due signals (``past_due: true`` in the catalogue, e.g. DPD_1_30) are the default process
itself: they are reported in their own block and never count toward the severity figures, so a
default caught only by days past due is not an early warning.

:func:`replay` fires a catalogue over the month-ends a window needs (the horizon before
``first`` included) from the stored features, scores and loan ledger, without writing anything,
so a catalogue can be judged on any history, including one it never ran on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.features.labels import HORIZON_MONTHS
from jobs.post_loan.early_warnings import Signal, catalogue_version, evaluate, history_start, warning_inputs
from riskpipe.core.calendar import add_months, month_end, to_snapshots
from riskpipe.core.frames import literal_frame
from schemas.gold_scores import SEVERITIES

DEFAULTER, PERFORMING, LATER_DEFAULT, CENSORED = "defaulter", "performing", "later_default", "censored"
OUTCOMES = (DEFAULTER, PERFORMING, LATER_DEFAULT, CENSORED)
BLOCKS = ("severity", "signal", "past_due", "with_past_due")
WITH_PAST_DUE = "{}+ with past due"
ANY_PAST_DUE = "any past due"
TABLE_COLUMNS = [
    "block",
    "signal",
    "severity",
    "defaulters",
    "warned_defaulters",
    "hit_rate",
    "performing",
    "warned_performing",
    "false_alarm_rate",
    "lift",
    "median_lead_months",
]


def window_ending(as_of: dt.date, months: int = HORIZON_MONTHS) -> tuple[dt.date, dt.date]:
    """The latest window of ``months`` month-ends whose horizon is observed on ``as_of``: its last
    month-end is :data:`HORIZON_MONTHS` months before ``as_of``'s."""
    last = month_end(add_months(as_of, -HORIZON_MONTHS))
    return month_end(add_months(last, -(months - 1))), last


def matured(spark: SparkSession, as_of: dt.date | str, *, settings: Any) -> bool:
    """Whether snapshot ``as_of`` has a window to judge: the last month-end of :func:`window_ending`
    has features. In the first :data:`HORIZON_MONTHS` months of a deployment no outcome is observed
    yet, and :func:`run` would find nothing to replay."""
    from riskpipe.core import io

    (day,) = to_snapshots(as_of)
    if not io.exists(spark, "enterprise_features", settings=settings):
        return False
    _, last = window_ending(day)
    features = io.read(spark, "enterprise_features", settings=settings)
    return not features.where(F.col("snapshot_date") == F.lit(last)).isEmpty()


def outcomes(loans: DataFrame, labels: DataFrame, *, first: dt.date, last: dt.date) -> DataFrame:
    """Every borrower monitored in ``first``..``last`` and its outcome.

    Args:
        loans: ``jobs.post_loan.loan_state.loan_state`` (uscc, loan_id, snapshot_date, is_active).
        labels: ``default_labels`` (uscc, snapshot_date, default_date, in_default_at_snapshot, censored);
            a month-end without a label counts as censored.

    Returns:
        uscc, months_monitored, first_monitored, default_date (first default in the horizon of a
        monitored month-end; null when none), outcome (one of :data:`OUTCOMES`).
    """
    keys = ["uscc", "snapshot_date"]
    in_window = F.col("snapshot_date").between(F.lit(first), F.lit(last))
    not_in_default = ~F.coalesce(F.col("in_default_at_snapshot"), F.lit(False))
    monitored = (
        loans.where(F.col("is_active") & in_window)
        .select(*keys)
        .distinct()
        .join(labels.select(*keys, "default_date", "in_default_at_snapshot", "censored"), on=keys, how="left")
        .where(not_in_default)
    )
    per_borrower = monitored.groupBy("uscc").agg(
        F.count("*").cast("int").alias("months_monitored"),
        F.min("snapshot_date").alias("first_monitored"),
        F.min("default_date").alias("default_date"),
        F.max(F.coalesce(F.col("censored"), F.lit(True))).alias("any_censored"),
    )
    defaulted_in_window = F.col("default_date") <= F.lit(last)
    outcome = (
        F.when(defaulted_in_window, DEFAULTER)
        .when(F.col("default_date").isNotNull(), LATER_DEFAULT)
        .when(F.col("any_censored"), CENSORED)
        .otherwise(PERFORMING)
    )
    return per_borrower.select("uscc", "months_monitored", "first_monitored", "default_date", outcome.alias("outcome"))


def catalogue_frame(spark: SparkSession, signals: Sequence[Signal]) -> DataFrame:
    """signal_id, severity, severity_rank (1 low .. 4 critical), past_due of every catalogue signal."""
    return literal_frame(
        spark,
        [
            {
                "signal_id": F.lit(s.id),
                "severity": F.lit(s.severity),
                "severity_rank": F.lit(SEVERITIES.index(s.severity) + 1),
                "past_due": F.lit(s.past_due),
            }
            for s in signals
        ],
    )


def counted_warnings(
    population: DataFrame, warnings: DataFrame, catalogue: DataFrame, *, first: dt.date, last: dt.date
) -> DataFrame:
    """Per defaulter or performing borrower and catalogue signal, the first warning (on any of its
    loans) that counts.

    A defaulter's warnings count on month-ends D with its default in (D, D + horizon], wherever D
    falls; a performing borrower's on the month-ends of the window. Warnings of signals missing from
    ``catalogue`` are ignored; severities and the past-due flag are the catalogue's.

    Args:
        population: :func:`outcomes`.
        warnings: ``early_warnings`` rows (uscc, loan_id, snapshot_date, signal_id) of the window and
            of the horizon before it.
        catalogue: :func:`catalogue_frame`.

    Returns:
        uscc, outcome, signal_id, severity_rank, past_due, first_warning, lead_months (months from
        first_warning to the default date; null for performing borrowers).
    """
    day = F.col("snapshot_date")
    before_default = (day < F.col("default_date")) & (F.col("default_date") <= F.add_months(day, HORIZON_MONTHS))
    in_window = day.between(F.lit(first), F.lit(last))
    counts = F.when(F.col("outcome") == DEFAULTER, before_default).otherwise(in_window)
    scored = population.where(F.col("outcome").isin(DEFAULTER, PERFORMING))
    return (
        scored.join(warnings.select("uscc", "snapshot_date", "signal_id"), on="uscc", how="inner")
        .join(F.broadcast(catalogue), on="signal_id", how="inner")
        .where(counts)
        .groupBy("uscc", "outcome", "default_date", "signal_id", "severity_rank", "past_due")
        .agg(F.min("snapshot_date").alias("first_warning"))
        .select(
            "uscc",
            "outcome",
            "signal_id",
            "severity_rank",
            "past_due",
            "first_warning",
            F.round(F.months_between("default_date", "first_warning"), 2).alias("lead_months"),
        )
    )


def _warned_groups(counted: DataFrame, catalogue: DataFrame) -> DataFrame:
    """One row per (block, signal, severity) group and borrower it warned, with the longest lead."""
    spark = counted.sparkSession
    levels = literal_frame(spark, [{"level": F.lit(s), "level_rank": F.lit(i + 1)} for i, s in enumerate(SEVERITIES)])
    early, past_due = ~F.col("past_due"), F.col("past_due")
    at_level = F.col("severity_rank") >= F.col("level_rank")
    by_level = (
        counted.where(early)
        .join(F.broadcast(levels), on=at_level, how="inner")
        .select(
            F.lit("severity").alias("block"),
            F.concat(F.col("level"), F.lit("+")).alias("signal"),
            F.col("level").alias("severity"),
            "uscc",
            "outcome",
            "lead_months",
        )
    )
    # what the watch list carries: every signal of the level, days past due included
    with_past_due = counted.join(F.broadcast(levels), on=at_level, how="inner").select(
        F.lit("with_past_due").alias("block"),
        F.concat(F.col("level"), F.lit(WITH_PAST_DUE.format(""))).alias("signal"),
        F.col("level").alias("severity"),
        "uscc",
        "outcome",
        "lead_months",
    )
    severity_of = F.element_at(F.array(*[F.lit(s) for s in SEVERITIES]), F.col("severity_rank"))
    by_signal = counted.select(
        F.when(early, "signal").otherwise("past_due").alias("block"),
        F.col("signal_id").alias("signal"),
        severity_of.alias("severity"),
        "uscc",
        "outcome",
        "lead_months",
    )
    any_past_due = counted.where(past_due).select(
        F.lit("past_due").alias("block"),
        F.lit(ANY_PAST_DUE).alias("signal"),
        F.lit(None).cast("string").alias("severity"),
        "uscc",
        "outcome",
        "lead_months",
    )
    return (
        by_level.unionAll(by_signal)
        .unionAll(any_past_due)
        .unionAll(with_past_due)
        .groupBy("block", "signal", "severity", "uscc", "outcome")
        .agg(F.max("lead_months").alias("lead_months"))
    )


def _rate(part: Column, whole: Column) -> Column:
    """part / whole, null when whole is 0."""
    return F.try_divide(part.cast("double"), whole)


def classifier_table(population: DataFrame, counted: DataFrame, catalogue: DataFrame) -> DataFrame:
    """Hit rate, false-alarm rate, lift and median lead per minimum severity (early signals only), per
    early signal, per past-due signal (plus any past-due signal) in a block of its own, and per minimum
    severity over every signal, days past due included (what the watch list carries).

    Args:
        population: :func:`outcomes`; counted: :func:`counted_warnings`; catalogue: :func:`catalogue_frame`.

    Returns:
        :data:`TABLE_COLUMNS`: block (severity | signal | past_due | with_past_due), signal (``<level>+``
        in the severity block, ``<level>+ with past due`` in the last), severity, defaulters,
        warned_defaulters, hit_rate, performing, warned_performing,
        false_alarm_rate, lift, median_lead_months (of the warned defaulters). Every catalogue signal
        and every severity has a row, with zero counts when it never fired.
    """
    is_defaulter, is_performing = F.col("outcome") == DEFAULTER, F.col("outcome") == PERFORMING
    totals = population.agg(
        F.count(F.when(is_defaulter, 1)).cast("int").alias("defaulters"),
        F.count(F.when(is_performing, 1)).cast("int").alias("performing"),
    )
    spark = population.sparkSession
    groups = (
        literal_frame(
            spark,
            [
                {"block": F.lit(block), "signal": F.lit(name.format(s)), "severity": F.lit(s)}
                for block, name in (("severity", "{}+"), ("with_past_due", WITH_PAST_DUE))
                for s in SEVERITIES
            ],
        )
        .unionAll(
            catalogue.select(
                F.when(F.col("past_due"), "past_due").otherwise("signal").alias("block"),
                F.col("signal_id").alias("signal"),
                "severity",
            )
        )
        .unionAll(
            catalogue.where("past_due")
            .limit(1)
            .select(
                F.lit("past_due").alias("block"),
                F.lit(ANY_PAST_DUE).alias("signal"),
                F.lit(None).cast("string").alias("severity"),
            )
        )
    )
    warned = (
        _warned_groups(counted, catalogue)
        .groupBy("block", "signal")
        .agg(
            F.count(F.when(is_defaulter, 1)).cast("int").alias("warned_defaulters"),
            F.count(F.when(is_performing, 1)).cast("int").alias("warned_performing"),
            F.median(F.when(is_defaulter, F.col("lead_months"))).alias("median_lead_months"),
        )
    )
    hit_rate = _rate(F.col("warned_defaulters"), F.col("defaulters"))
    false_alarm_rate = _rate(F.col("warned_performing"), F.col("performing"))
    return (
        groups.join(warned, on=["block", "signal"], how="left")
        .crossJoin(totals)
        .select(
            "block",
            "signal",
            "severity",
            "defaulters",
            F.coalesce("warned_defaulters", F.lit(0)).alias("warned_defaulters"),
            "performing",
            F.coalesce("warned_performing", F.lit(0)).alias("warned_performing"),
            F.round("median_lead_months", 1).alias("median_lead_months"),
        )
        .select(
            "block",
            "signal",
            "severity",
            "defaulters",
            "warned_defaulters",
            hit_rate.alias("hit_rate"),
            "performing",
            "warned_performing",
            false_alarm_rate.alias("false_alarm_rate"),
            F.round(_rate(hit_rate, false_alarm_rate), 2).alias("lift"),
            "median_lead_months",
        )
        .select(*TABLE_COLUMNS)
    )


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Severity block least severe first, then signals by lift (never-alarming ones first), then past due."""

    def key(row: dict[str, Any]) -> tuple:
        block = BLOCKS.index(row["block"])
        if row["block"] in ("severity", "with_past_due"):
            return block, SEVERITIES.index(row["severity"]), 0.0, row["signal"]
        lift = row["lift"] if row["lift"] is not None else (float("inf") if row["warned_defaulters"] else -1.0)
        return block, 0, -lift, row["signal"]

    return sorted(rows, key=key)


def backtest(
    warnings: DataFrame,
    loans: DataFrame,
    labels: DataFrame,
    *,
    signals: Sequence[Signal],
    first: dt.date,
    last: dt.date,
) -> dict[str, Any]:
    """Judge the catalogue ``signals`` on ``warnings`` over the window ``first``..``last``.

    Args:
        warnings: ``early_warnings`` rows of the window and of the :data:`HORIZON_MONTHS` before it.
        loans: ``loan_state`` of the window's month-ends; labels: ``default_labels``.

    Returns:
        ``window``, ``horizon_months``, ``borrowers`` (count per outcome) and ``rows`` (the
        :func:`classifier_table` as dicts, severity block first).
    """
    population = outcomes(loans, labels, first=first, last=last).cache()
    try:
        catalogue = catalogue_frame(warnings.sparkSession, signals)
        counted = counted_warnings(population, warnings, catalogue, first=first, last=last)
        rows = [r.asDict() for r in classifier_table(population, counted, catalogue).collect()]
        per_outcome = {r["outcome"]: r["count"] for r in population.groupBy("outcome").count().collect()}
    finally:
        population.unpersist()
    return {
        "window": f"{first}..{last}",
        "horizon_months": HORIZON_MONTHS,
        "borrowers": {o: per_outcome.get(o, 0) for o in OUTCOMES},
        "rows": _ordered(rows),
    }


def severity_row(result: Mapping[str, Any], min_severity: str) -> dict[str, Any]:
    """The severity-block row ``<min_severity>+`` of a :func:`backtest` result."""
    return next(r for r in result["rows"] if r["block"] == "severity" and r["severity"] == min_severity)


def check_targets(result: Mapping[str, Any], targets: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Compare the row of ``targets['min_severity']`` with the targets.

    Args:
        targets: min_severity, max_false_alarm_rate, min_hit_rate, min_median_lead_months
            (``early_warnings.targets`` in the profile).

    Returns:
        One dict per target: metric, value, target, met (False when the value is missing).
    """
    row = severity_row(result, targets["min_severity"])
    checks = [
        ("false_alarm_rate", row["false_alarm_rate"], "<=", targets["max_false_alarm_rate"]),
        ("hit_rate", row["hit_rate"], ">=", targets["min_hit_rate"]),
        ("median_lead_months", row["median_lead_months"], ">=", targets["min_median_lead_months"]),
    ]
    return [
        {
            "metric": metric,
            "value": value,
            "target": f"{op} {target}",
            "met": value is not None and (value <= target if op == "<=" else value >= target),
        }
        for metric, value, op, target in checks
    ]


def lead_history(features: DataFrame, scores: DataFrame, *, first: dt.date) -> dict[str, Any]:
    """Whether the month-ends a lead is measured from have features and scores.

    A defaulter early in the window counts warnings up to :data:`HORIZON_MONTHS` before ``first``; a
    signal cannot fire on a month-end without features, and PD and grade signals not without scores,
    so a history starting later caps the lead of the window's early defaults at its first month-end.

    Args:
        features: ``enterprise_features`` (snapshot_date); scores: ``risk_scores`` (snapshot_date).

    Returns:
        needed_from (the month-end :data:`HORIZON_MONTHS` before ``first``), features_from and
        scores_from (the earliest month-end from ``needed_from`` on that has them; None when none),
        lead_censored (either starts after ``needed_from``).
    """
    needed = month_end(add_months(first, -HORIZON_MONTHS))

    def earliest(frame: DataFrame) -> dt.date | None:
        return frame.where(F.col("snapshot_date") >= F.lit(needed)).agg(F.min("snapshot_date")).first()[0]

    features_from, scores_from = earliest(features), earliest(scores)
    censored = any(day is None or day > needed for day in (features_from, scores_from))
    return {
        "needed_from": needed.isoformat(),
        "features_from": features_from.isoformat() if features_from else None,
        "scores_from": scores_from.isoformat() if scores_from else None,
        "lead_censored": censored,
    }


def _stored_scores(spark: SparkSession, settings: Any) -> DataFrame:
    """``risk_scores`` as stored, or an empty frame of its columns before anything was scored."""
    from riskpipe.core import io
    from schemas.registry import get

    if io.exists(spark, "risk_scores", settings=settings):
        return io.read(spark, "risk_scores", settings=settings)
    return get("risk_scores").rows_to_df(spark, [])


def replay(
    spark: SparkSession, first: dt.date, last: dt.date, *, signals: Sequence[Signal], settings: Any
) -> tuple[DataFrame, DataFrame]:
    """Fire ``signals`` on the month-ends from the horizon before ``first`` to ``last`` that have features,
    from the stored features, scores (PD signals do not fire on unscored months) and loan ledger.

    Returns:
        (warnings with the ``early_warnings`` columns, ``loan_state`` of those month-ends).
    """
    from jobs.post_loan.main import read_loan_state
    from riskpipe.core import io

    features = io.read(spark, "enterprise_features", settings=settings)
    earliest = month_end(add_months(first, -HORIZON_MONTHS))
    days = sorted(
        r[0]
        for r in features.where(F.col("snapshot_date").between(F.lit(earliest), F.lit(last)))
        .select("snapshot_date")
        .distinct()
        .collect()
    )
    if not days:
        raise ValueError(f"enterprise_features has no month-end in {earliest}..{last}")
    since = F.col("snapshot_date").between(F.lit(history_start(days[0])), F.lit(days[-1]))
    scores = _stored_scores(spark, settings)
    loans = read_loan_state(spark, days, settings)
    inputs = warning_inputs(features.where(since), scores=scores.where(since), loans=loans)
    return evaluate(inputs, signals, version=catalogue_version(signals)), loans


def run(
    as_of: dt.date | str,
    *,
    settings: Any,
    spark: SparkSession,
    signals: Sequence[Signal] | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> dict[str, Any]:
    """Replay and judge the catalogue (``early_warnings.catalogue`` unless ``signals``) on the window
    ending :data:`HORIZON_MONTHS` before ``as_of`` (or ``window``), with the defaults known on ``as_of``.

    Returns:
        :func:`backtest`'s result with ``history`` (:func:`lead_history`), ``catalogue_version`` and
        ``targets`` (:func:`check_targets` against ``early_warnings.targets``, empty when not configured).
    """
    from jobs.post_loan.early_warnings import load_catalogue
    from riskpipe.core import io
    from riskpipe.core.config import resolve_path

    # a DAG passes the snapshot date of its asset event as text, the CLI and the demo as a date
    (as_of,) = to_snapshots(as_of)
    section = settings.early_warnings
    signals = signals or load_catalogue(resolve_path(section.catalogue))
    first, last = window or window_ending(as_of)
    warnings, loans = replay(spark, first, last, signals=signals, settings=settings)
    warnings, loans = warnings.cache(), loans.cache()
    try:
        labels = io.read(spark, "default_labels", settings=settings).where(
            F.col("snapshot_date").between(F.lit(first), F.lit(last))
        )
        # point in time: a default after as_of is unknown, and so is the outcome of a horizon ending after it
        known_default = F.when(F.col("default_date") <= F.lit(as_of), F.col("default_date"))
        known = labels.select(
            "uscc",
            "snapshot_date",
            "in_default_at_snapshot",
            known_default.alias("default_date"),
            (F.col("censored") | (F.add_months("snapshot_date", HORIZON_MONTHS) > F.lit(as_of))).alias("censored"),
        )
        result = backtest(warnings, loans, known, signals=signals, first=first, last=last)
    finally:
        warnings.unpersist()
        loans.unpersist()
    targets = section.targets
    features = io.read(spark, "enterprise_features", settings=settings)
    history = lead_history(features, _stored_scores(spark, settings), first=first)
    return {
        **result,
        "history": history,
        "catalogue_version": catalogue_version(signals),
        "targets": check_targets(result, targets.model_dump()) if targets else [],
    }
