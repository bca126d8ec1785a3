"""The one definition of default: is a loan in default on a day?

Default (domain brief): more than ``dpd_over`` days past due (90, the five-category floor of
substandard), or classified substandard or worse, or written off. A status that is a
default by itself is listed in ``statuses`` (restructured: classified substandard; written
off). The definition is the ``default_definition:`` section of the profile, and every
consumer calls :func:`in_default`: the default labels and their change detection
(``jobs.features``), the five-category floor, IFRS 9 stage 3 and ``is_default``
(``jobs.post_loan.loan_classification``) and PD 1 in the portfolio (``jobs.portfolio.risk``).
Regulators and auditors reconcile these counts against each other, so they must agree.

"Substandard or worse" is not an input here: the classification makes a loan substandard
or worse exactly when it is in default (its configuration is validated against this
definition), so the two sets of loans are the same.

This module imports nothing from ``jobs``: features, post-loan and portfolio code all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from schemas.sources import LOAN_STATUSES

SECTION = "default_definition"


@dataclass(frozen=True)
class DefaultDefinition:
    """The validated ``default_definition:`` section (see conf/default.yaml).

    Attributes:
        dpd_over: a loan more than this many days past due is in default (90: 91 days is
            default, 90 is not).
        statuses: loan statuses that are a default whatever the days past due.
    """

    dpd_over: int
    statuses: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.dpd_over, bool) or not isinstance(self.dpd_over, int) or self.dpd_over < 0:
            raise ValueError(f"{SECTION}.dpd_over: expected a whole number of days >= 0, got {self.dpd_over!r}")
        unknown = [s for s in self.statuses if s not in LOAN_STATUSES]
        if unknown or not isinstance(self.statuses, tuple):
            raise ValueError(f"{SECTION}.statuses: {list(self.statuses)!r}; allowed loan statuses: {LOAN_STATUSES}")

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> DefaultDefinition:
        """Build and validate from the ``default_definition`` of ``raw`` (``settings.sections("default_definition")``).

        Raises:
            ValueError: when the section is missing, has other keys, or a value is invalid.
        """
        section = raw.get(SECTION)
        if not isinstance(section, Mapping) or set(section) != {"dpd_over", "statuses"}:
            raise ValueError(f"{SECTION}: expected a mapping with exactly dpd_over and statuses, got {section!r}")
        dpd_over = section["dpd_over"]
        if isinstance(dpd_over, bool) or not isinstance(dpd_over, int):
            raise ValueError(f"{SECTION}.dpd_over: expected a whole number of days, got {dpd_over!r}")
        statuses = section["statuses"] or ()
        if isinstance(statuses, str):
            raise ValueError(f"{SECTION}.statuses: expected a list of loan statuses, got {statuses!r}")
        return cls(dpd_over=dpd_over, statuses=tuple(str(s) for s in statuses))


def past_due_default(dpd: Column, definition: DefaultDefinition) -> Column:
    """More than ``dpd_over`` days past due (false when ``dpd`` is null)."""
    return F.coalesce(dpd > F.lit(definition.dpd_over), F.lit(False))


def status_default(status: Column, definition: DefaultDefinition) -> Column:
    """A status that is a default by itself (false when ``status`` is null)."""
    if not definition.statuses:
        return F.lit(False)
    return F.coalesce(status.isin(*definition.statuses), F.lit(False))


def in_default(dpd: Column, status: Column, definition: DefaultDefinition) -> Column:
    """Whether a loan with days past due ``dpd`` and status ``status`` on a day is in default.

    Args:
        dpd: days past due of the loan's balance on the day (int).
        status: the loan's status on that balance (``schemas.sources.LOAN_STATUSES``).
        definition: the configured definition.

    Returns:
        A non-null boolean column; a null ``dpd`` or ``status`` never makes a default.
    """
    return past_due_default(dpd, definition) | status_default(status, definition)
