"""One assessment as a Python object: the ``credit_decisions`` row and its readable rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.reasons import N_REASONS

TABLE = "credit_decisions"
# the fields a replay recomputes and compares
REPLAYED_FIELDS = (
    "rule_hits",
    "pd",
    "score",
    "grade",
    *(f"reason_{i}" for i in range(1, N_REASONS + 1)),
    "decision",
    "recommended_limit",
    "decision_reasons",
)


def to_json(values: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys; NaN becomes null, dates ISO text."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(dict(values)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Assessment:
    """A pre-loan assessment; fields are the ``credit_decisions`` columns (see ``schemas/decisions.py``)."""

    decision_id: str
    decision_month: str
    assessed_at: dt.date
    recorded_at: dt.datetime
    uscc: str
    uscc_valid: bool
    requested_amount: float
    term_months: int
    decision: str
    policy_values: str
    config: str
    rule_hits: list[str] = field(default_factory=list)
    decision_reasons: list[str] = field(default_factory=list)
    recommended_limit: float | None = None
    company_name: str | None = None
    purpose: str | None = None
    product: str | None = None
    gov_recommended: bool | None = None
    features_snapshot_date: dt.date | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_uri: str | None = None
    pd: float | None = None
    score: float | None = None
    grade: str | None = None
    reason_1: str | None = None
    reason_1_text: str | None = None
    reason_2: str | None = None
    reason_2_text: str | None = None
    reason_3: str | None = None
    reason_3_text: str | None = None
    feature_values: str | None = None
    silver_versions: str | None = None
    features_version: str | None = None

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Assessment:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        values["rule_hits"] = list(values.get("rule_hits") or [])
        values["decision_reasons"] = list(values.get("decision_reasons") or [])
        return cls(**values)

    def reasons(self) -> list[tuple[str, str | None]]:
        """``(code, text)`` of the model's reason codes, best first."""
        pairs = [(getattr(self, f"reason_{i}"), getattr(self, f"reason_{i}_text")) for i in range(1, N_REASONS + 1)]
        return [(code, text) for code, text in pairs if code]

    def render(self) -> str:
        """Readable summary for a credit officer (what ``riskpipe assess`` prints)."""

        def amount(value: float | None) -> str:
            return "-" if value is None else f"{value:,.0f} CNY"

        gov = {True: "yes (recorded; not an approval)", False: "no", None: "unknown"}[self.gov_recommended]
        lines = [
            f"DECISION: {self.decision.upper()}    recommended limit: {amount(self.recommended_limit)}",
            f"applicant: {self.uscc} {self.company_name or '(name unknown)'}"
            + ("" if self.uscc_valid else "  [INVALID USCC]"),
            f"request: {amount(self.requested_amount)} over {self.term_months} months"
            + (f", product {self.product}" if self.product else "")
            + (f", purpose {self.purpose}" if self.purpose else ""),
            f"assessed as of {self.assessed_at} (model snapshot {self.features_snapshot_date or '-'})",
            f"government recommended: {gov}",
        ]
        if self.pd is not None:
            lines.append(
                f"PD {self.pd:.2%}   score {self.score:.0f}   grade {self.grade}   "
                f"model {self.model_name} v{self.model_version}"
            )
        else:
            lines.append("not scored")
        lines.append("policy rule hits: " + (", ".join(self.rule_hits) or "none"))
        lines += ["reasons:"] + [f"  - {text}" for text in self.decision_reasons]
        if self.reasons():
            lines += ["model reason codes:"] + [
                f"  {i}. {code}: {text}" for i, (code, text) in enumerate(self.reasons(), start=1)
            ]
        lines.append(f"decision id: {self.decision_id}")
        return "\n".join(lines)
