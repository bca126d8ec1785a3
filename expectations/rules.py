"""Data quality rules of the silver tables, derived once from the ``schemas/`` declarations.

Every :class:`Rule` carries two equivalent forms of the same check:

* ``condition``: a Spark SQL boolean expression (built-ins only, never null) that is
  true when a row passes; it splits a batch into valid and quarantined rows;
* ``expectation()``: the Great Expectations 1.x expectation that checks the same thing
  and reports every failing row in the validation result and Data Docs.

Null semantics follow Great Expectations: a value rule passes on null (only the
``not_null`` rule of a non-nullable column fails it); a pair rule passes when either
side is null. Where no built-in expectation fits (the USCC check digit, per-unit
plausibility), the condition is materialised as a boolean ``flag_column`` and the
expectation asserts that flag is true.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StructField, TimestampType

from riskpipe.core.uscc import ALPHABET as USCC_ALPHABET
from riskpipe.core.uscc import WEIGHTS as USCC_WEIGHTS
from schemas.registry import get
from schemas.sources import FUND_RECONCILE_CENTS

# Columns stamped by the publishing step (history, lineage), not delivered by the source.
PIPELINE_COLUMNS = frozenset({"known_from", "known_to", "is_current", "_batch_id", "_record_hash"})

USCC_REGEX = "^[0-9A-HJ-NPQRTUWXY]{18}$"
# Monthly consumption above these is a unit mix-up (e.g. MWh converted twice), not a business.
MAX_MONTHLY_KWH = 5e7
MAX_MONTHLY_M3 = 5e6
UNIT_BY_UTILITY = (("electricity", "kWh"), ("water", "m3"))


@dataclass(frozen=True)
class Rule:
    """One named data quality rule in its Spark and Great Expectations forms.

    Attributes:
        name: stable name ``<table>.<column>.<check>``, used in quarantine and reports.
        description: what a passing row satisfies, in words.
        columns: the input columns the rule reads.
        condition: Spark SQL boolean, true when the row passes; never null.
        expectation_type: class name in ``great_expectations.expectations``.
        expectation_kwargs: keyword arguments of that expectation.
        flag_column: derived boolean column (``condition``) the expectation checks, when
            no built-in expectation expresses the rule.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    condition: str
    expectation_type: str
    expectation_kwargs: Mapping[str, Any] = field(default_factory=dict)
    flag_column: str | None = None

    @property
    def passes(self) -> Column:
        """The condition as a Spark Column (true when the row passes)."""
        return F.expr(self.condition)

    def expectation(self):
        """A fresh Great Expectations expectation for this rule (tagged ``meta.rule``)."""
        import great_expectations as gx

        cls = getattr(gx.expectations, self.expectation_type)
        meta = {"rule": self.name, "columns": list(self.columns), "spark_condition": self.condition}
        return cls(**dict(self.expectation_kwargs), meta=meta, description=self.description)


def flag_column_name(rule_name: str) -> str:
    """Name of the derived boolean column for ``rule_name``."""
    return "_dq_" + rule_name.replace(".", "__")


def as_date(value: dt.date | dt.datetime | str) -> dt.date:
    """Normalise a logical date given as date, datetime or ISO text to a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _lit(value: Any) -> str:
    """Render a Python value as a Spark SQL literal."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _value_rules(table: str, f: StructField, logical_date: dt.date) -> list[Rule]:
    """Rules implied by one column's declaration (nullable, allowed, min/max, rule=...)."""
    c, meta, prefix = f.name, f.metadata, f"{table}.{f.name}"
    rules: list[Rule] = []
    if not f.nullable:
        rules.append(
            Rule(
                f"{prefix}.not_null",
                f"{c} is present",
                (c,),
                f"{c} IS NOT NULL",
                "ExpectColumnValuesToNotBeNull",
                {"column": c},
            )
        )
    if "allowed" in meta:
        allowed = list(meta["allowed"])
        rules.append(
            Rule(
                f"{prefix}.allowed_values",
                f"{c} is one of {', '.join(allowed)}",
                (c,),
                f"{c} IS NULL OR {c} IN ({', '.join(_lit(v) for v in allowed)})",
                "ExpectColumnValuesToBeInSet",
                {"column": c, "value_set": allowed},
            )
        )
    if "min" in meta:
        low = meta["min"]
        check = "non_negative" if low == 0 else "at_least_min"
        rules.append(
            Rule(
                f"{prefix}.{check}",
                f"{c} >= {low}",
                (c,),
                f"{c} IS NULL OR {c} >= {_lit(low)}",
                "ExpectColumnValuesToBeBetween",
                {"column": c, "min_value": low},
            )
        )
    if "max" in meta:
        high = meta["max"]
        rules.append(
            Rule(
                f"{prefix}.at_most_max",
                f"{c} <= {high:g} (larger is absurd)",
                (c,),
                f"{c} IS NULL OR {c} <= {_lit(high)}",
                "ExpectColumnValuesToBeBetween",
                {"column": c, "max_value": high},
            )
        )
    if "max_length" in meta:
        longest = int(meta["max_length"])
        rules.append(
            Rule(
                f"{prefix}.max_length",
                f"{c} has at most {longest} characters",
                (c,),
                f"{c} IS NULL OR char_length({c}) <= {longest}",
                "ExpectColumnValueLengthsToBeBetween",
                {"column": c, "max_value": longest},
            )
        )
    if meta.get("rule") == "uscc":
        rules.extend(_uscc_rules(prefix, c))
    if meta.get("rule") == "not_after_logical_date":
        rules.append(_not_after_rule(prefix, f, logical_date))
    return rules


def uscc_check_digit_sql(column: str) -> str:
    """Spark SQL expression computing the GB 32100-2015 check character of ``column``.

    Character values are positions in the USCC alphabet (``instr - 1``), weights are
    ``3^i mod 31``; the check value is ``(31 - sum mod 31) mod 31`` (31 maps to 0). The sum is
    written out term by term: a lambda (``aggregate``) is interpreted row by row, outside code generation.
    """
    total = " + ".join(
        f"(instr('{USCC_ALPHABET}', substr({column}, {i + 1}, 1)) - 1) * {w}" for i, w in enumerate(USCC_WEIGHTS)
    )
    return f"substr('{USCC_ALPHABET}', pmod(31 - pmod({total}, 31), 31) + 1, 1)"


def _uscc_rules(prefix: str, c: str) -> list[Rule]:
    well_formed = f"{c} RLIKE '{USCC_REGEX}'"
    check_name = f"{prefix}.uscc_check_digit"
    return [
        Rule(
            f"{prefix}.uscc_format",
            f"{c} has 18 characters of the USCC alphabet (no I, O, Z, S, V)",
            (c,),
            f"{c} IS NULL OR {well_formed}",
            "ExpectColumnValuesToMatchRegex",
            {"column": c, "regex": USCC_REGEX},
        ),
        # Only well-formed codes are checked: a malformed one already fails uscc_format.
        Rule(
            check_name,
            f"{c} has a valid GB 32100-2015 check character",
            (c,),
            f"{c} IS NULL OR NOT ({well_formed}) OR substr({c}, 18, 1) = {uscc_check_digit_sql(c)}",
            "ExpectColumnValuesToBeInSet",
            {"column": flag_column_name(check_name), "value_set": [True]},
            flag_column=flag_column_name(check_name),
        ),
    ]


def _not_after_rule(prefix: str, f: StructField, logical_date: dt.date) -> Rule:
    c, name, iso = f.name, f"{prefix}.not_after_logical_date", logical_date.isoformat()
    if isinstance(f.dataType, TimestampType):
        # Any instant of the logical date (UTC, the session time zone) is allowed.
        end = dt.datetime.combine(logical_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        return Rule(
            name,
            f"{c} is not after the logical date {iso}",
            (c,),
            f"{c} IS NULL OR {c} < TIMESTAMP'{end:%Y-%m-%d %H:%M:%S}+00:00'",
            "ExpectColumnValuesToBeBetween",
            {"column": c, "max_value": end, "strict_max": True},
        )
    if not isinstance(f.dataType, DateType):
        raise TypeError(f"{name}: not_after_logical_date needs a date or timestamp column, got {f.dataType}")
    return Rule(
        name,
        f"{c} is not after the logical date {iso}",
        (c,),
        f"{c} IS NULL OR {c} <= DATE'{iso}'",
        "ExpectColumnValuesToBeBetween",
        {"column": c, "max_value": logical_date},
    )


def _a_not_below_b(table: str, name: str, a: str, b: str, description: str) -> Rule:
    return Rule(
        f"{table}.{name}",
        description,
        (a, b),
        f"{a} IS NULL OR {b} IS NULL OR {a} >= {b}",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {"column_A": a, "column_B": b, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
    )


def _utility_rules() -> list[Rule]:
    pairs = " OR ".join(f"(utility_type = '{t}' AND unit = '{u}')" for t, u in UNIT_BY_UTILITY)
    plausible = "utility_reads.consumption.plausible_for_unit"
    return [
        Rule(
            "utility_reads.unit.matches_utility_type",
            "unit is kWh for electricity and m3 for water",
            ("utility_type", "unit"),
            f"utility_type IS NULL OR unit IS NULL OR {pairs}",
            "ExpectColumnPairValuesToBeInSet",
            {
                "column_A": "utility_type",
                "column_B": "unit",
                "value_pairs_set": [list(p) for p in UNIT_BY_UTILITY],
                "ignore_row_if": "either_value_is_missing",
            },
        ),
        Rule(
            plausible,
            f"monthly consumption <= {MAX_MONTHLY_KWH:g} kWh or <= {MAX_MONTHLY_M3:g} m3",
            ("consumption", "unit"),
            f"consumption IS NULL OR unit IS NULL OR CASE unit WHEN 'kWh' THEN consumption <= {MAX_MONTHLY_KWH!r} "
            f"WHEN 'm3' THEN consumption <= {MAX_MONTHLY_M3!r} ELSE true END",
            "ExpectColumnValuesToBeInSet",
            {"column": flag_column_name(plausible), "value_set": [True]},
            flag_column=flag_column_name(plausible),
        ),
    ]


def _flag_rule(name: str, description: str, columns: tuple[str, ...], condition: str) -> Rule:
    """A rule no built-in expectation expresses: Great Expectations checks its materialised flag."""
    return Rule(
        name,
        description,
        columns,
        condition,
        "ExpectColumnValuesToBeInSet",
        {"column": flag_column_name(name), "value_set": [True]},
        flag_column=flag_column_name(name),
    )


def _fund_statement_rules() -> list[Rule]:
    amounts = ("opening_balance", "contributions", "payouts", "closing_balance")
    missing = " OR ".join(f"{c} IS NULL" for c in amounts)
    return [
        _flag_rule(
            "fund_statements.closing_balance.reconciles",
            f"closing_balance = opening_balance + contributions - payouts, to {FUND_RECONCILE_CENTS} cent",
            amounts,
            # compared in whole cents: a double difference of exactly one cent is not exactly 0.01
            f"{missing} OR abs(round(closing_balance * 100) "
            f"- round((opening_balance + contributions - payouts) * 100)) <= {int(FUND_RECONCILE_CENTS)}",
        ),
        _flag_rule(
            "fund_statements.statement_date.month_end",
            "statement_date is the last day of its month",
            ("statement_date",),
            "statement_date IS NULL OR statement_date = last_day(statement_date)",
        ),
    ]


def _business_rules(table: str) -> list[Rule]:
    """Per-table rules that span columns or tighten a declared range."""
    if table == "utility_reads":
        return _utility_rules()
    if table == "transactions":
        return [
            Rule(
                "transactions.amount.positive",
                "amount > 0 (direction carries the sign)",
                ("amount",),
                "amount IS NULL OR amount > 0",
                "ExpectColumnValuesToBeBetween",
                {"column": "amount", "min_value": 0, "strict_min": True},
            )
        ]
    if table == "loans":
        return [
            _a_not_below_b(
                table,
                "maturity_date.not_before_start_date",
                "maturity_date",
                "start_date",
                "maturity_date >= start_date",
            )
        ]
    if table == "tax_filings":
        return [
            _a_not_below_b(
                table, "vat_paid.not_above_taxable_sales", "taxable_sales", "vat_paid", "vat_paid <= taxable_sales"
            )
        ]
    if table == "fund_statements":
        return _fund_statement_rules()
    return []


def rules_for(table_name: str, *, logical_date: dt.date | dt.datetime | str) -> list[Rule]:
    """All rules of a silver table for a run on ``logical_date``.

    Args:
        table_name: a silver table declared in ``schemas/`` (e.g. ``tax_filings``).
        logical_date: the run's logical date; dates after it are rejected.

    Returns:
        Rules in column order, then business rules; names are unique.
    """
    spec = get(table_name)
    if spec.layer != "silver":
        raise ValueError(f"rules are declared for silver tables; {table_name} is {spec.layer}")
    day = as_date(logical_date)
    rules = [r for f in spec.schema.fields if f.name not in PIPELINE_COLUMNS for r in _value_rules(table_name, f, day)]
    rules += _business_rules(table_name)
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate rule names for {table_name}: {names}")
    return rules


# Rules that are no CHECK constraint: Delta already refuses a null in a column declared not nullable
# (the schema's NOT NULL), and a date's bound moves with each run's logical date.
NOT_CONSTRAINTS = ("not_null", "not_after_logical_date")


def constraint_rules(table_name: str) -> list[Rule]:
    """The value rules of a table's column declarations that hold for every row at any time.

    The same rules as :func:`rules_for` builds for a silver table (allowed values, min, max, length,
    USCC), for a table of any layer: the maintenance turns them into Delta CHECK constraints
    (``jobs.maintenance.constraints``). Business rules and the rules in :data:`NOT_CONSTRAINTS` are left out.
    """
    spec = get(table_name)
    today = dt.date.today()  # unused by the rules kept: only not_after_logical_date reads it
    rules = [
        rule
        for f in spec.schema.fields
        if f.name not in PIPELINE_COLUMNS
        for rule in _value_rules(table_name, f, today)
        if rule.name.rsplit(".", 1)[-1] not in NOT_CONSTRAINTS
    ]
    return rules
