"""Validate one batch of a silver table: Great Expectations report plus valid/invalid split.

The Great Expectations suite and the Spark split are two forms of the same rules
(:mod:`expectations.rules`); ``validate_batch`` checks that they agree on the number
of failing rows of every rule and fails loudly if they do not.

Great Expectations runs about three Spark jobs per expectation, which dominates the
cost of a small batch. Batches of at most ``ingestion.ge_pandas_max_rows`` rows are
therefore validated by Great Expectations on a pandas copy of the columns the rules
read; Spark still computes the counts and the split, so both engines yield the same result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType, TimestampType

from expectations.docs import build_data_docs, quiet_context
from expectations.rules import Rule, as_date, rules_for
from expectations.suites import build_suite
from riskpipe.core.frames import names_where

FAILED_RULES = "_failed_rules"
REASON = "_reason"
PARSE_REASON = "could not parse: "
DEFAULT_ID_COLUMNS = ("_row_id",)
FALLBACK_ID_COLUMNS = ("_source_file", "_source_row")
ENGINES = ("auto", "pandas", "spark")
# How an ingestion batch's intermediate frames are kept between actions. Deserialized: a
# partition evicted to disk is read back batch by batch, whereas the serialized
# MEMORY_AND_DISK reads it back into one heap buffer the size of the whole partition (about
# 400 MB for 23.5M transactions in 8 partitions: the 10,000-enterprise backfill ran the 6 GB
# driver out of heap doing exactly that). DataFrame.cache() uses this level too.
BATCH_STORAGE = StorageLevel.MEMORY_AND_DISK_DESER
ARROW_ENABLED = "spark.sql.execution.arrow.pyspark.enabled"


class BatchRejectedError(Exception):
    """A batch's failure rate is above its threshold; nothing may be published."""


class RuleDisagreementError(RuntimeError):
    """Great Expectations and the Spark condition of a rule counted different failing rows (a bug)."""


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_batch`.

    Attributes:
        valid_df: input rows breaking no rule (input columns only).
        invalid_df: failing rows: input columns plus ``_failed_rules`` (array<string>) and ``_reason``
            (rows that could not be parsed included, with their parse rules as ``_failed_rules``).
        rule_counts: failing rows per rule name (every rule, zeros included).
        row_count / failed_row_count / failure_rate: totals over the rows the rules checked
            (without the rows that could not be parsed).
        rejected: ``failure_rate > max_failure_rate``.
        ge_result: the Great Expectations ``ExpectationSuiteValidationResult`` (COMPLETE format).
        data_docs_index: path of the Data Docs index.html, when built.
        engine: execution engine Great Expectations ran on (``pandas`` or ``spark``).
    """

    table_name: str
    batch_id: str
    logical_date: dt.date
    id_columns: tuple[str, ...]
    row_count: int
    failed_row_count: int
    failure_rate: float
    max_failure_rate: float
    rejected: bool
    rule_counts: dict[str, int]
    valid_df: DataFrame
    invalid_df: DataFrame
    ge_result: Any
    data_docs_index: str | None = None
    engine: str = "spark"
    _cached: DataFrame | None = field(default=None, repr=False)

    @property
    def broken_rules(self) -> dict[str, int]:
        """Rules with at least one failing row, most frequent first."""
        return dict(sorted(((k, v) for k, v in self.rule_counts.items() if v), key=lambda kv: (-kv[1], kv[0])))

    def ge_failing_ids(self, rule_name: str) -> set[tuple]:
        """Row ids Great Expectations reported as failing ``rule_name`` (every row, not a sample)."""
        for res in self.ge_result.results:
            if (res.expectation_config.meta or {}).get("rule") == rule_name:
                listed = res.result.get("unexpected_index_list") or []
                return {tuple(row[c] for c in self.id_columns) for row in listed}
        raise KeyError(f"no expectation for rule {rule_name!r} in the validation of {self.table_name}")

    def unpersist(self) -> None:
        """Release the cached batch once valid_df and invalid_df have been written."""
        if self._cached is not None:
            self._cached.unpersist()


def max_failure_rate_for(table_name: str, settings=None) -> float:
    """Threshold of ``table_name``: ``ingestion.max_failure_rate_by_table`` or ``ingestion.max_failure_rate``."""
    from riskpipe.core.config import load_settings

    ingestion = (settings or load_settings()).ingestion
    return float(ingestion.max_failure_rate_by_table.get(table_name, ingestion.max_failure_rate))


def ge_pandas_max_rows(settings=None) -> int:
    """Largest batch validated by Great Expectations on pandas: ``ingestion.ge_pandas_max_rows``."""
    from riskpipe.core.config import load_settings

    return (settings or load_settings()).ingestion.ge_pandas_max_rows


def _choose_engine(engine: str, rows: int, settings) -> str:
    if engine != "auto":
        return engine
    return "pandas" if rows <= ge_pandas_max_rows(settings) else "spark"


def _id_columns(df: DataFrame, id_columns: Sequence[str] | None) -> tuple[str, ...]:
    if id_columns:
        candidates = [tuple(id_columns)]
    else:
        candidates = [DEFAULT_ID_COLUMNS, FALLBACK_ID_COLUMNS]
    for ids in candidates:
        if all(c in df.columns for c in ids):
            return ids
    raise ValueError(
        f"validate_batch needs a unique row id: one of {candidates} must be columns of the batch; got {df.columns}"
    )


def _pass_column(rule: Rule, index: int) -> str:
    """Column holding ``rule``'s condition: its flag column, else an internal ``_pass_<i>``."""
    return rule.flag_column or f"_pass_{index}"


def _prepare(df: DataFrame, rules: list[Rule], parse_errors: str | None = None) -> DataFrame:
    """Add every rule's pass column, ``_failed_rules`` and ``_reason`` to ``df``.

    Each condition is evaluated once, into its pass column; the failed list, the reasons and
    the counts read that column (the USCC check digit alone is 17 character lookups per row).
    A row listing parse errors in ``parse_errors`` fails with those instead of the rules.
    """
    passes = {_pass_column(r, i): r.passes for i, r in enumerate(rules)}
    ok = [F.col(_pass_column(r, i)) for i, r in enumerate(rules)]
    failed = names_where((r.name, ~p) for r, p in zip(rules, ok))
    reasons = [
        F.when(
            ~p,
            F.concat(
                F.lit(f"{r.name}: {r.description} ["),
                F.concat_ws(
                    ", ",
                    *[F.concat(F.lit(f"{c}="), F.coalesce(F.col(c).cast("string"), F.lit("null"))) for c in r.columns],
                ),
                F.lit("]"),
            ),
        )
        for r, p in zip(rules, ok)
    ]
    reason = F.concat_ws("; ", *reasons) if reasons else F.lit(None).cast("string")
    if parse_errors is not None:
        unparsed = ~_checked(parse_errors)
        failed = F.when(unparsed, F.col(parse_errors)).otherwise(failed)
        reason = F.when(unparsed, F.concat(F.lit(PARSE_REASON), F.array_join(F.col(parse_errors), ", "))).otherwise(
            reason
        )
    return (
        df.withColumns(passes).withColumn(FAILED_RULES, failed.cast(ArrayType(StringType()))).withColumn(REASON, reason)
    )


def _checked(parse_errors: str | None) -> Column:
    """Rows the rules apply to: every row, or those without parse errors."""
    return F.lit(True) if parse_errors is None else F.size(F.col(parse_errors)) == 0


def _spark_counts(
    prepared: DataFrame, rules: list[Rule], ids: tuple[str, ...], checked: Column
) -> tuple[int, int, int, int, dict]:
    """One pass: all rows, distinct ids, checked rows, failing checked rows and failing rows per rule."""
    aggs = [
        F.count(F.lit(1)).alias("all"),
        F.count_distinct(F.struct(*ids)).alias("distinct_ids"),
        F.count(F.when(checked, 1)).alias("rows"),
        F.count(F.when(checked & (F.size(FAILED_RULES) > 0), 1)).alias("failed"),
    ]
    aggs += [F.count(F.when(checked & ~F.col(_pass_column(r, i)), 1)).alias(f"r{i}") for i, r in enumerate(rules)]
    row = prepared.agg(*aggs).collect()[0]
    return (
        row["all"],
        row["distinct_ids"],
        row["rows"],
        row["failed"],
        {r.name: row[f"r{i}"] for i, r in enumerate(rules)},
    )


def _ge_view(prepared: DataFrame, rules: list[Rule], ids: tuple[str, ...]) -> DataFrame:
    """The id, rule and flag columns of ``prepared`` as Great Expectations sees them.

    Spark orders NaN above every number and does not count it as null, and so do the rule
    conditions; but GE's Spark engine counts a NaN failure without listing its row, and
    pandas takes NaN for null. NaN is therefore shown to GE as +inf, which compares like
    Spark's NaN against every bound and every other value.
    """
    wanted = dict.fromkeys(
        [*ids, *(c for r in rules for c in r.columns), *(r.flag_column for r in rules if r.flag_column)]
    )
    types = {f.name: f.dataType for f in prepared.schema.fields}
    return prepared.select(
        *[
            F.when(F.isnan(c), F.lit(float("inf"))).otherwise(F.col(c)).alias(c)
            if isinstance(types[c], (DoubleType, FloatType))
            else F.col(c)
            for c in wanted
        ]
    )


def _to_pandas(view: DataFrame) -> pd.DataFrame:
    """Driver-side copy of ``view`` whose values compare like the Spark values.

    Dates stay ``datetime.date`` objects (their bounds are dates); timestamps travel as
    epoch microseconds (exact whatever the session time zone) and become UTC-aware pandas
    timestamps (their bounds are UTC-aware datetimes); nulls become None/NaN/NaT, which
    GE skips exactly where the Spark conditions pass on null.
    """
    instants = [f.name for f in view.schema.fields if isinstance(f.dataType, TimestampType)]
    projected = view.withColumns({c: F.unix_micros(F.col(c)) for c in instants})
    conf = view.sparkSession.conf
    arrow_unset = conf.get(ARROW_ENABLED, None) is None
    if arrow_unset:
        conf.set(ARROW_ENABLED, "true")
    try:
        frame = projected.toPandas()
    finally:
        if arrow_unset:
            conf.unset(ARROW_ENABLED)
    for c in instants:
        frame[c] = pd.to_datetime(frame[c], unit="us", utc=True)
    return frame


def _run_ge(
    prepared: DataFrame,
    table_name: str,
    day: dt.date,
    batch_id: str,
    ids: tuple[str, ...],
    data_docs_dir,
    *,
    engine: str,
    rules: list[Rule],
) -> tuple[Any, str | None]:
    context = quiet_context(data_docs_dir)
    view = _ge_view(prepared, rules, ids)
    if engine == "pandas":
        source, data = context.data_sources.add_pandas(name="riskpipe"), _to_pandas(view)
    else:
        # The batch is already persisted by validate_batch; a second cache would double memory.
        source, data = context.data_sources.add_spark(name="riskpipe", persist=False), view
    batch_definition = source.add_dataframe_asset(name=table_name).add_batch_definition_whole_dataframe("whole_batch")
    suite = context.suites.add(build_suite(table_name, logical_date=day))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table_name}.{batch_id}", data=batch_definition, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": data},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(ids)},
        run_id=RunIdentifier(run_name=f"{table_name}.{batch_id}"),
    )
    index = build_data_docs(context) if data_docs_dir is not None else None
    return result, index


def _ge_counts(ge_result: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for res in ge_result.results:
        rule = (res.expectation_config.meta or {}).get("rule")
        info = res.exception_info or {}
        if info.get("raised_exception") or any(
            isinstance(v, Mapping) and v.get("raised_exception") for v in info.values()
        ):
            raise RuntimeError(f"Great Expectations failed to evaluate rule {rule}: {info}")
        counts[rule] = int(res.result.get("unexpected_count") or 0)
    return counts


def _check_agreement(table_name: str, ge: Mapping[str, int], spark: Mapping[str, int]) -> None:
    differing = {k: (ge.get(k), spark.get(k)) for k in set(ge) | set(spark) if ge.get(k) != spark.get(k)}
    if differing:
        detail = ", ".join(f"{k}: GE {g} vs Spark {s}" for k, (g, s) in sorted(differing.items()))
        raise RuleDisagreementError(f"{table_name}: rule forms disagree on failing rows ({detail})")


def validate_batch(
    df: DataFrame,
    table_name: str,
    *,
    logical_date: dt.date | dt.datetime | str,
    batch_id: str,
    max_failure_rate: float,
    data_docs_dir: str | None = None,
    id_columns: Sequence[str] | None = None,
    engine: str = "auto",
    settings=None,
    parse_errors: str | None = None,
) -> ValidationResult:
    """Validate a conformed batch of ``table_name`` and split it into valid and invalid rows.

    Args:
        df: the batch with every rule column of the silver table (see ``rules_for``) and
            a unique row id: ``id_columns``, else ``_row_id``, else ``_source_file`` + ``_source_row``.
        table_name: silver table the batch is meant for.
        logical_date: the run's logical date.
        batch_id: ingestion batch id (names the validation run in Data Docs).
        max_failure_rate: share of failing rows above which the batch is rejected.
        data_docs_dir: when given, Data Docs are (re)built there.
        id_columns: explicit row id columns.
        engine: where Great Expectations runs: ``pandas`` (a driver-side copy of the rule
            columns, fast for small batches), ``spark``, or ``auto`` (pandas up to
            ``ingestion.ge_pandas_max_rows`` rows). The result does not depend on it.
        settings: settings read by ``auto`` (loaded when None).
        parse_errors: an array<string> column of ``df`` naming the parse rules a row broke.
            Such rows are invalid with reason ``could not parse: ...`` and are not checked by
            the rules (their values are null where they failed to parse); the counts, the
            failure rate and Great Expectations cover the other rows. Splitting them off
            here, rather than before, keeps one cached copy of the batch instead of two.

    Returns:
        A :class:`ValidationResult`; a rejected batch still carries its ``invalid_df``
        (to quarantine). Call :func:`raise_if_rejected` to stop the run.

    Raises:
        ValueError: unknown engine, missing rule columns, or row ids that are missing or not unique.
        RuleDisagreementError: GE and Spark counted different failing rows for a rule.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    day = as_date(logical_date)
    rules = rules_for(table_name, logical_date=day)
    ids = _id_columns(df, id_columns)
    missing = sorted({c for r in rules for c in r.columns} - set(df.columns))
    if missing:
        raise ValueError(f"batch {batch_id} of {table_name}: columns {missing} needed by the rules are missing")
    if parse_errors is not None and parse_errors not in df.columns:
        raise ValueError(f"batch {batch_id} of {table_name}: no parse error column {parse_errors!r}")
    prepared = _prepare(df, rules, parse_errors).persist(BATCH_STORAGE)
    checked = _checked(parse_errors)
    total, distinct_ids, rows, failed, spark_counts = _spark_counts(prepared, rules, ids, checked)
    if distinct_ids != total:
        prepared.unpersist()
        raise ValueError(
            f"batch {batch_id} of {table_name}: row id {list(ids)} is not unique ({total - distinct_ids} duplicates)"
        )
    chosen = _choose_engine(engine, rows, settings)
    ge_result, index = _run_ge(
        prepared.where(checked), table_name, day, batch_id, ids, data_docs_dir, engine=chosen, rules=rules
    )
    _check_agreement(table_name, _ge_counts(ge_result), spark_counts)
    rate = failed / rows if rows else 0.0
    columns = [c for c in df.columns if c != parse_errors]
    return ValidationResult(
        table_name=table_name,
        batch_id=batch_id,
        logical_date=day,
        id_columns=ids,
        row_count=rows,
        failed_row_count=failed,
        failure_rate=rate,
        max_failure_rate=max_failure_rate,
        rejected=rate > max_failure_rate,
        rule_counts=spark_counts,
        valid_df=prepared.filter(F.size(FAILED_RULES) == 0).select(*columns),
        invalid_df=prepared.filter(F.size(FAILED_RULES) > 0).select(*columns, FAILED_RULES, REASON),
        ge_result=ge_result,
        data_docs_index=index,
        engine=chosen,
        _cached=prepared,
    )


def raise_if_rejected(result: ValidationResult) -> None:
    """Raise :class:`BatchRejectedError` when ``result`` is rejected; the message lists every broken rule."""
    if not result.rejected:
        return
    rules = "; ".join(f"{name}: {count} rows" for name, count in result.broken_rules.items())
    raise BatchRejectedError(
        f"table {result.table_name}, batch {result.batch_id}: {result.failed_row_count} of {result.row_count} "
        f"rows failed validation, failure rate {result.failure_rate:.2%} > threshold "
        f"{result.max_failure_rate:.2%}; broken rules: {rules}. The batch must not be published; "
        f"its failing rows belong in quarantine."
    )
