"""The ``portfolio:`` section of the profile: LGD table, CCF, fund balance and loss order.

Every figure here is a business convention, so it lives in configuration (conf/default.yaml)
and is validated once, with errors naming the key, before any Spark work. The fund balances of
the profile are the fallback of a snapshot with no fund statement known:
:func:`jobs.portfolio.fund.config_on` replaces them by the statements' balances on D.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jobs.features.default_definition import DefaultDefinition
from schemas.sources import SHARED_FUND_POOL

LOSS_ORDERS = ("el_desc", "pd_desc", "loan_id")
LGD_KEYS = ("guarantee_type", "collateral_type", "product")
SHARED_POOL = SHARED_FUND_POOL
# the one definition of default decides this; a profile setting it is refused
REMOVED_KEYS = {"default_dpd": "a loan in default (PD 1) is decided by default_definition"}


@dataclass(frozen=True)
class LgdRule:
    """LGD ``lgd`` for loans whose columns equal every given value (``match``: column -> value)."""

    match: Mapping[str, str]
    lgd: float

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.match.items())) or "any"


@dataclass(frozen=True)
class PortfolioConfig:
    """Validated ``portfolio:`` section (see conf/default.yaml and docs/portfolio.md).

    Attributes:
        lgd_rules: ordered LGD rules; the first matching rule wins.
        lgd_default: LGD when no rule matches.
        ccf_default: credit conversion factor of undrawn amounts.
        ccf_by_product: product -> CCF overriding the default.
        fund_balance: balance of the shared fund pool (CNY).
        fund_balance_by_product: product -> balance of its own pool.
        loss_order: el_desc, pd_desc or loan_id (ties by loan_id).
        unscored_pd: PD of an active loan whose borrower has no score on D.
        top_n_borrowers: size of the top-borrower concentration share.
        default_definition: the ``default_definition:`` section; a loan in default has PD 1.
    """

    lgd_rules: tuple[LgdRule, ...] = ()
    lgd_default: float = 0.75
    ccf_default: float = 0.5
    ccf_by_product: Mapping[str, float] = field(default_factory=dict)
    fund_balance: float = 0.0
    fund_balance_by_product: Mapping[str, float] = field(default_factory=dict)
    loss_order: str = "el_desc"
    unscored_pd: float = 0.30
    top_n_borrowers: int = 10
    default_definition: DefaultDefinition = field(kw_only=True)

    @property
    def pool_balances(self) -> dict[str, float]:
        """Pool name -> balance: the shared pool and one pool per product given a balance."""
        return {SHARED_POOL: self.fund_balance, **self.fund_balance_by_product}

    @property
    def total_balance(self) -> float:
        return float(sum(self.pool_balances.values()))

    def version(self) -> str:
        """Short hash of the configuration, recorded with the results."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any], **overrides: Any) -> PortfolioConfig:
        """Build from ``settings.sections("portfolio", "default_definition")``; ``overrides`` replace attributes."""
        return from_mapping(
            raw.get("portfolio") or {}, default_definition=DefaultDefinition.from_settings(raw), **overrides
        )


def _fraction(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"portfolio.{where}: expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"portfolio.{where}: {number} is outside [0, 1]")
    return number


def _amount(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"portfolio.{where}: expected an amount in CNY, got {value!r}") from None
    if number < 0:
        raise ValueError(f"portfolio.{where}: a balance cannot be negative ({number})")
    return number


def _lgd_rules(section: Mapping[str, Any]) -> tuple[LgdRule, ...]:
    rules = []
    for i, rule in enumerate(section.get("rules") or ()):
        unknown = sorted(set(rule) - {*LGD_KEYS, "lgd"})
        if unknown or "lgd" not in rule:
            raise ValueError(f"portfolio.lgd.rules[{i}]: needs lgd and only keys {LGD_KEYS}; got {dict(rule)}")
        match = {k: str(rule[k]) for k in LGD_KEYS if k in rule}
        rules.append(LgdRule(match, _fraction(rule["lgd"], f"lgd.rules[{i}].lgd")))
    return tuple(rules)


def from_mapping(
    section: Mapping[str, Any], *, default_definition: DefaultDefinition, **overrides: Any
) -> PortfolioConfig:
    """Build and validate a :class:`PortfolioConfig` from the ``portfolio:`` mapping.

    Raises:
        ValueError: naming the key of any invalid value.
    """
    for key, why in REMOVED_KEYS.items():
        if key in section:
            raise ValueError(f"portfolio.{key}: {why}; remove the key")
    lgd, ccf, fund = section.get("lgd") or {}, section.get("ccf") or {}, section.get("fund") or {}
    config = PortfolioConfig(
        lgd_rules=_lgd_rules(lgd),
        lgd_default=_fraction(lgd.get("default", 0.75), "lgd.default"),
        ccf_default=_fraction(ccf.get("default", 0.5), "ccf.default"),
        ccf_by_product={str(k): _fraction(v, f"ccf.by_product.{k}") for k, v in (ccf.get("by_product") or {}).items()},
        fund_balance=_amount(fund.get("balance", 0.0), "fund.balance"),
        fund_balance_by_product={
            str(k): _amount(v, f"fund.balance_by_product.{k}")
            for k, v in (fund.get("balance_by_product") or {}).items()
        },
        loss_order=str(fund.get("loss_order", "el_desc")),
        unscored_pd=_fraction(section.get("unscored_pd", 0.30), "unscored_pd"),
        top_n_borrowers=int(section.get("top_n_borrowers", 10)),
        default_definition=default_definition,
    )
    config = PortfolioConfig(**{**asdict_shallow(config), **overrides})
    if config.loss_order not in LOSS_ORDERS:
        raise ValueError(f"portfolio.fund.loss_order: {config.loss_order!r}; allowed: {LOSS_ORDERS}")
    if SHARED_POOL in config.fund_balance_by_product:
        raise ValueError(f"portfolio.fund.balance_by_product: {SHARED_POOL!r} is reserved for the shared pool")
    if config.top_n_borrowers < 1:
        raise ValueError("portfolio.top_n_borrowers: must be >= 1")
    _amount(config.fund_balance, "fund.balance")
    return config


def asdict_shallow(config: PortfolioConfig) -> dict[str, Any]:
    """Attributes of ``config`` as a dict (rules kept as objects, unlike ``dataclasses.asdict``)."""
    return {name: getattr(config, name) for name in config.__dataclass_fields__}
