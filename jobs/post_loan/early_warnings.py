"""Post-loan early warnings: a rule engine driven by the YAML catalogue ``conf/early_warnings.yaml``.

Each signal is a Spark SQL condition over one row per active loan and snapshot that holds
the enterprise's features on D, the same features one snapshot earlier (``prev_*``), the
score on D with its recent grade history, and the loan's own state (days past due...).
Evaluation is one pass: every signal becomes an element of an array, fired ones are
exploded into ``early_warnings`` rows with the evidence values as JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from schemas.feature_catalogue import FEATURES
from schemas.gold_scores import EARLY_WARNINGS, SEVERITIES

LOAN_COLUMNS = ("days_past_due", "outstanding_principal", "loan_status", "product")
SCORE_COLUMNS = ("pd", "grade_num", "grade_jump_3m")
GRADE_HISTORY_MONTHS = 3
REQUIRED_KEYS = ("id", "description", "severity", "condition")


@dataclass(frozen=True)
class Signal:
    """One early-warning signal of the catalogue."""

    id: str
    description: str
    severity: str
    condition: str
    evidence: tuple[str, ...] = ()
    # days past due: the default process itself, judged apart from the early signals
    past_due: bool = False


def parse_catalogue(data: Any, *, source: str = "catalogue") -> tuple[Signal, ...]:
    """Validate a loaded catalogue and return its signals.

    Raises:
        ValueError: naming ``source`` and the entry, for a missing key, an unknown severity or a
            duplicate id.
    """
    entries = (data or {}).get("signals") if isinstance(data, dict) else None
    if not entries:
        raise ValueError(f"{source}: no 'signals' list")
    signals, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{source}: signal #{i + 1} ({entry.get('id', '?') if isinstance(entry, dict) else entry!r})"
        if not isinstance(entry, dict) or any(not entry.get(k) for k in REQUIRED_KEYS):
            raise ValueError(f"{where}: needs {', '.join(REQUIRED_KEYS)}")
        if entry["severity"] not in SEVERITIES:
            raise ValueError(f"{where}: severity {entry['severity']!r} not in {SEVERITIES}")
        if not isinstance(entry.get("past_due", False), bool):
            raise ValueError(f"{where}: past_due must be true or false")
        if entry["id"] in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(entry["id"])
        signals.append(
            Signal(
                str(entry["id"]),
                str(entry["description"]),
                entry["severity"],
                str(entry["condition"]),
                tuple(entry.get("evidence") or ()),
                bool(entry.get("past_due", False)),
            )
        )
    return tuple(signals)


def load_catalogue(path: str | Path) -> tuple[Signal, ...]:
    """Read and validate the YAML catalogue at ``path``."""
    with open(path, encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle), source=str(path))


def catalogue_version(signals: Sequence[Signal]) -> str:
    """Short content hash of the catalogue: warnings record which rules produced them."""
    text = json.dumps([s.__dict__ for s in signals], sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def warning_inputs(features: DataFrame, *, scores: DataFrame, loans: DataFrame) -> DataFrame:
    """The per-loan frame the conditions are evaluated on, for every snapshot D of ``loans``.

    Args:
        features: ``enterprise_features`` of the snapshots D and of the month-ends before them
            (``prev_*`` columns come from the month-end before D; null when it is missing).
        scores: ``risk_scores`` of the snapshots D and of the :data:`GRADE_HISTORY_MONTHS`
            month-ends before them.
        loans: ``jobs.post_loan.loan_state.loan_state`` of the snapshots D (only active loans are monitored).

    Returns:
        One row per active loan and D: uscc, loan_id, snapshot_date, snapshot_month, the features,
        ``prev_<feature>``, pd, grade_num, grade_jump_3m and :data:`LOAN_COLUMNS`.
    """
    names = [f.name for f in FEATURES]
    keys = ["uscc", "snapshot_date"]
    prev = features.select(
        "uscc",
        F.last_day(F.add_months("snapshot_date", 1)).alias("snapshot_date"),
        *[F.col(n).alias(f"prev_{n}") for n in names],
    )
    now = scores.select("uscc", "snapshot_date", "pd", "grade_num")
    history = scores.select("uscc", F.col("snapshot_date").alias("h_date"), F.col("grade_num").alias("h_grade"))
    in_history = (F.col("h_date") < F.col("snapshot_date")) & (
        F.col("h_date") >= F.last_day(F.add_months("snapshot_date", -GRADE_HISTORY_MONTHS))
    )
    best_before = (
        now.select(*keys)
        .join(history, on="uscc", how="inner")
        .where(in_history)
        .groupBy(*keys)
        .agg(F.min("h_grade").alias("best_grade_before"))
    )
    score_cols = now.join(best_before, on=keys, how="left").select(
        *keys, "pd", "grade_num", (F.col("grade_num") - F.col("best_grade_before")).alias("grade_jump_3m")
    )
    active = loans.where(F.col("is_active")).select(*keys, "loan_id", *LOAN_COLUMNS)
    return (
        features.select(*keys, "snapshot_month", *names)
        .join(active, on=keys, how="inner")
        .join(prev, on=keys, how="left")
        .join(score_cols, on=keys, how="left")
        .select(
            "uscc",
            "loan_id",
            "snapshot_date",
            "snapshot_month",
            *names,
            *[f"prev_{n}" for n in names],
            *SCORE_COLUMNS,
            *LOAN_COLUMNS,
        )
    )


def history_start(first: dt.date) -> dt.date:
    """Earliest month-end whose features or scores the snapshots from ``first`` on need."""
    from riskpipe.core.calendar import add_months

    return add_months(first, -(GRADE_HISTORY_MONTHS - 1)) - dt.timedelta(days=1)


def check_conditions(inputs: DataFrame, signals: Sequence[Signal]) -> None:
    """Fail early, naming the signal, when a condition or evidence column does not resolve."""
    for signal in signals:
        try:
            _ = inputs.select(F.expr(signal.condition).cast("boolean"), *[F.col(c) for c in signal.evidence]).schema
        except AnalysisException as error:
            raise ValueError(
                f"early-warning signal {signal.id}: condition or evidence does not resolve on the "
                f"inputs ({str(error).splitlines()[0]})"
            ) from None


def evaluate(inputs: DataFrame, signals: Sequence[Signal], *, version: str) -> DataFrame:
    """Fire every signal on ``inputs`` (output of :func:`warning_inputs`).

    Returns:
        The ``early_warnings`` columns: one row per loan, snapshot and fired signal.
    """
    check_conditions(inputs, signals)
    fired = F.array(
        *[
            F.when(
                F.coalesce(F.expr(s.condition).cast("boolean"), F.lit(False)),
                F.struct(
                    F.lit(s.id).alias("signal_id"),
                    F.lit(s.severity).alias("severity"),
                    F.lit(s.description).alias("description"),
                    F.to_json(F.struct(*[F.col(c) for c in s.evidence]), {"ignoreNullFields": "false"}).alias(
                        "evidence"
                    ),
                ),
            )
            for s in signals
        ]
    )
    return (
        inputs.select("uscc", "loan_id", "snapshot_date", "snapshot_month", F.explode(fired).alias("w"))
        .where(F.col("w").isNotNull())
        .select(
            "uscc",
            "loan_id",
            "snapshot_date",
            "snapshot_month",
            "w.signal_id",
            "w.severity",
            "w.description",
            "w.evidence",
            F.lit(version).alias("catalogue_version"),
        )
        .select(*EARLY_WARNINGS.columns)
    )
