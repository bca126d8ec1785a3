"""The pre-loan decision policy, pure Python: hard rules, grade bands and the recommended limit.

Everything here is configuration (the ``decisions:`` section of the profile) applied to plain
dicts, so an assessment and its replay run exactly the same code on the same values:

* **rules**: named codes with a readable text, an action (``decline`` or ``refer``) and
  conditions over the values the policy sees (catalogue features as of the assessment date,
  plus the derived ``uscc_valid``, ``in_registry``, ``scoreable``, ``loan_current_dpd``,
  ``request_amount``, ``request_term_months``). A condition on a missing (null) value does not
  hold, except ``is_null``.
* **grade bands**: master-scale grade (1 best .. 10 worst) -> approve / refer / decline.
* **limit**: ``sales_share x grade multiplier x verified 12-month sales (tax_sales_12m)``, less
  the applicant's outstanding bank exposure (``loan_exposure``), capped at the product maximum,
  rounded down, and never above the amount requested.

The decision is the most severe of the rule actions and the grade band.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.feature_catalogue import names

DECISIONS = ("approve", "refer", "decline")  # in increasing severity
RULE_ACTIONS = ("refer", "decline")
GRADES = tuple(range(1, 11))
# values the rules may use besides the catalogue features (set by the assessment)
DERIVED_VALUES = (
    "uscc_valid",
    "in_registry",
    "scoreable",
    "loan_current_dpd",
    "request_amount",
    "request_term_months",
    "is_active_borrower",
)
OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}
NULL_OPERATORS = ("is_null", "not_null")


@dataclass(frozen=True)
class Condition:
    """``feature op value``; ``is_null`` / ``not_null`` take no value."""

    feature: str
    op: str
    value: Any = None

    def holds(self, values: Mapping[str, Any]) -> bool:
        actual = values.get(self.feature)
        if isinstance(actual, float) and math.isnan(actual):
            actual = None
        if self.op in NULL_OPERATORS:
            return (actual is None) == (self.op == "is_null")
        return actual is not None and bool(OPERATORS[self.op](actual, self.value))


@dataclass(frozen=True)
class Rule:
    """A named policy rule: fires when every condition of ``when`` holds."""

    code: str
    text: str
    action: str
    when: tuple[Condition, ...]

    def hit(self, values: Mapping[str, Any]) -> bool:
        return all(c.holds(values) for c in self.when)


@dataclass(frozen=True)
class LimitPolicy:
    """How the recommended limit is bounded (amounts in CNY)."""

    sales_share: float = 0.25
    grade_multiplier: Mapping[str, float] = field(
        default_factory=lambda: {
            "1": 1.0,
            "2": 1.0,
            "3": 0.9,
            "4": 0.8,
            "5": 0.7,
            "6": 0.6,
            "7": 0.4,
            "8": 0.3,
            "9": 0.0,
            "10": 0.0,
        }
    )
    max_amount: float = 5_000_000.0
    min_amount: float = 50_000.0
    rounding: float = 10_000.0
    net_of_existing_exposure: bool = True


@dataclass(frozen=True)
class DecisionConfig:
    """The ``decisions:`` section: rules, grade bands (decision -> [first, last] grade), limit."""

    rules: tuple[Rule, ...] = ()
    grade_bands: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"approve": (1, 6), "refer": (7, 8), "decline": (9, 10)}
    )
    limit: LimitPolicy = field(default_factory=LimitPolicy)
    model_alias: str = "champion"

    def band(self, grade: int) -> str:
        for decision, (first, last) in self.grade_bands.items():
            if first <= grade <= last:
                return decision
        raise ValueError(f"grade {grade} is in no band of {dict(self.grade_bands)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able mapping that :meth:`from_mapping` turns back into an equal config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DecisionConfig:
        """Build and validate a config from a (YAML or JSON) mapping.

        Raises:
            ValueError: naming an unknown key, an unknown feature, operator or action, or
                grade bands that do not cover grades 1..10 exactly once.
        """
        _no_unknown(data, cls, "decisions")
        rules = tuple(_rule(r, i) for i, r in enumerate(data.get("rules") or ()))
        codes = [r.code for r in rules]
        if len(set(codes)) != len(codes):
            raise ValueError(f"decisions.rules: duplicate codes in {codes}")
        limit_data = dict(data.get("limit") or {})
        _no_unknown(limit_data, LimitPolicy, "decisions.limit")
        if "grade_multiplier" in limit_data:
            limit_data["grade_multiplier"] = {str(k): float(v) for k, v in limit_data["grade_multiplier"].items()}
        config = cls(
            rules=rules,
            limit=LimitPolicy(**limit_data),
            **{k: data[k] for k in ("model_alias",) if k in data},
            **(
                {"grade_bands": {str(k): (int(v[0]), int(v[1])) for k, v in data["grade_bands"].items()}}
                if "grade_bands" in data
                else {}
            ),
        )
        _check_bands(config)
        return config


def _no_unknown(data: Mapping[str, Any], cls: type, where: str) -> None:
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")


def _rule(data: Mapping[str, Any], index: int) -> Rule:
    where = f"decisions.rules[{data.get('code', index)}]"
    _no_unknown(data, Rule, where)
    if data.get("action") not in RULE_ACTIONS or not data.get("code") or not data.get("text"):
        raise ValueError(f"{where}: needs code, text and action in {RULE_ACTIONS}")
    known = set(names()) | set(DERIVED_VALUES)
    conditions = []
    for item in data.get("when") or ():
        _no_unknown(item, Condition, where)
        if item.get("feature") not in known:
            raise ValueError(f"{where}: unknown feature {item.get('feature')!r}")
        if item.get("op") not in (*OPERATORS, *NULL_OPERATORS):
            raise ValueError(f"{where}: unknown operator {item.get('op')!r}")
        value = item.get("value")
        conditions.append(Condition(item["feature"], item["op"], tuple(value) if isinstance(value, list) else value))
    if not conditions:
        raise ValueError(f"{where}: no conditions (when)")
    return Rule(str(data["code"]), str(data["text"]), str(data["action"]), tuple(conditions))


def _check_bands(config: DecisionConfig) -> None:
    unknown = set(config.grade_bands) - set(DECISIONS)
    covered = sorted(g for first, last in config.grade_bands.values() for g in range(first, last + 1))
    if unknown or covered != list(GRADES):
        raise ValueError(
            f"decisions.grade_bands must map {DECISIONS} to grade ranges covering 1..10 exactly "
            f"once, got {dict(config.grade_bands)}"
        )


def worst(*decisions: str) -> str:
    """The most severe of ``decisions`` (approve when none)."""
    return max(decisions, key=DECISIONS.index, default="approve")


def recommend_limit(values: Mapping[str, Any], *, grade: int, amount: float, policy: LimitPolicy) -> tuple[float, str]:
    """The recommended limit and a readable line explaining it.

    Args:
        values: model-snapshot values; reads ``tax_sales_12m`` (verified taxable sales of the last
            12 filed periods) and ``loan_exposure`` (outstanding principal at the bank).
        grade: master-scale grade 1..10.
        amount: amount requested (the limit never exceeds it).
    """
    sales = float(values.get("tax_sales_12m") or 0.0)
    exposure = float(values.get("loan_exposure") or 0.0) if policy.net_of_existing_exposure else 0.0
    multiplier = float(policy.grade_multiplier.get(str(grade), 0.0))
    capacity = max(0.0, policy.sales_share * multiplier * sales - exposure)
    bounded = math.floor(min(capacity, policy.max_amount) / policy.rounding) * policy.rounding
    limit = float(min(amount, bounded))
    text = (
        f"Limit {limit:,.0f} CNY = min(requested {amount:,.0f}; {policy.sales_share:.0%} of verified 12-month "
        f"sales {sales:,.0f} x grade {grade} multiplier {multiplier:g}"
        + (f" less existing bank exposure {exposure:,.0f}" if policy.net_of_existing_exposure else "")
        + f" = {capacity:,.0f}; product maximum {policy.max_amount:,.0f}), rounded down to "
        f"{policy.rounding:,.0f}"
    )
    return limit, text


@dataclass(frozen=True)
class Outcome:
    """What :func:`decide` returns: ``decision``, ``recommended_limit``, ``rule_hits``, ``reasons``."""

    decision: str
    recommended_limit: float | None
    rule_hits: list[str]
    reasons: list[str]


def decide(
    values: Mapping[str, Any],
    score: Mapping[str, Any] | None,
    *,
    limit_values: Mapping[str, Any],
    amount: float,
    config: DecisionConfig,
) -> Outcome:
    """Apply rules, grade band and limit.

    Args:
        values: what the rules evaluate (features as of the assessment date and derived values).
        score: the model output (``pd``, ``score``, ``grade``) or None when not scored.
        limit_values: the scored snapshot's values (``tax_sales_12m``, ``loan_exposure``).
        amount: requested amount.

    Returns:
        Outcome. Declined: limit 0. Not scored and not declined: refer, limit None. A limit
        below ``limit.min_amount`` turns an approval into a referral.
    """
    hits = [r for r in config.rules if r.hit(values)]
    reasons = [f"{r.code} ({r.action}): {r.text}" for r in hits]
    decision = worst(*(r.action for r in hits))
    if values.get("ent_gov_recommended"):
        reasons.append("Government-recommended enterprise: recorded as an input, it does not approve by itself")
    if score is None:
        if decision != "decline":
            decision = "refer"
            reasons.append("Not scored: a credit officer must assess the applicant")
        return Outcome(decision, 0.0 if decision == "decline" else None, [r.code for r in hits], reasons)
    grade = int(score["grade"])
    band = config.band(grade)
    first, last = config.grade_bands[band]
    reasons.append(
        f"Grade {grade} (PD {score['pd']:.2%}, score {score['score']:.0f}) is in the {band} band "
        f"(grades {first}-{last})"
    )
    decision = worst(decision, band)
    if decision == "decline":
        return Outcome(decision, 0.0, [r.code for r in hits], reasons)
    limit, text = recommend_limit(limit_values, grade=grade, amount=amount, policy=config.limit)
    reasons.append(text)
    if limit < config.limit.min_amount and decision == "approve":
        decision = "refer"
        reasons.append(f"Limit {limit:,.0f} is below the product minimum {config.limit.min_amount:,.0f}: refer")
    return Outcome(decision, limit, [r.code for r in hits], reasons)
