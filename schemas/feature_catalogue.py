"""The feature catalogue in code: every gold feature's name, family, meaning, source and unit.

The catalogue is the single declaration of the features: ``schemas.gold_features``
builds the ``enterprise_features`` columns from it, the builder fills missing values
with ``Feature.fill`` and selects the columns in catalogue order, and
``docs/features.md`` is generated from it by ``render_catalogue_markdown``.

Notation used in the descriptions: D is the snapshot date (a month-end), M its
month. Monthly feeds (tax, utility) are indexed by period: "M-3..M-1" are the
three periods before M. Utility reads of M-1 are known from the 11th of M; the tax
bureau's file of the VAT filings made in M (period M-1, due the 15th) arrives on the
first of M+1, so tax windows end at M-2, the latest period known on D. Daily feeds (transactions,
loan balances) are available T+1:
"last n months" means the records *available* in months M-n+1..M, i.e. business
dates from the last day of month M-n to D-1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Import-light on purpose (schemas.gold_features imports it at registration): no Spark session, no jobs.
FAMILIES = ("profile", "tax", "utility", "court", "transactions", "loans", "consistency")
DTYPES = ("double", "int", "boolean", "string")


@dataclass(frozen=True)
class Feature:
    """One feature.

    Attributes:
        name: column name in ``enterprise_features``.
        family: feature family (module in ``jobs/features``).
        description: exact definition, point-in-time rule included.
        source: silver table(s) read.
        unit: CNY, kWh, days, months, count, ratio, flag, grade...
        dtype: double, int, boolean or string.
        fill: value when the enterprise has no rows in the source (None keeps null).
    """

    name: str
    family: str
    description: str
    source: str
    unit: str
    dtype: str = "double"
    fill: Any = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES or self.dtype not in DTYPES:
            raise ValueError(f"feature {self.name}: bad family {self.family!r} or dtype {self.dtype!r}")


def _f(name, family, description, source, unit, dtype="double", fill=None) -> Feature:
    return Feature(name, family, description, source, unit, dtype, fill)


_TAX, _RAT, _UTIL, _COURT = "tax_filings", "tax_ratings", "utility_reads", "court_events"
_TXN, _BAL, _LOANS, _ENT = "transactions", "loan_balances", "loans", "enterprises"

FEATURES: tuple[Feature, ...] = (
    # ---- profile -----------------------------------------------------------------------------
    _f("ent_age_months", "profile", "whole months from founded_date to D", _ENT, "months", "int"),
    _f(
        "ent_gov_recommended",
        "profile",
        "on the government recommendation list with recommended_date <= D "
        "(an input to the decision, never an approval)",
        _ENT,
        "flag",
        "boolean",
        False,
    ),
    # ---- tax ---------------------------------------------------------------------------------
    _f(
        "tax_sales_1m",
        "tax",
        "taxable sales of period M-2, the latest the bank can know on D (M-1 is filed by "
        "the 15th of M and delivered in M+1; version known on D)",
        _TAX,
        "CNY",
    ),
    _f(
        "tax_sales_3m",
        "tax",
        "taxable sales summed over periods M-4..M-2 (the three latest known on D)",
        _TAX,
        "CNY",
        fill=0.0,
    ),
    _f("tax_sales_12m", "tax", "taxable sales summed over periods M-13..M-2", _TAX, "CNY", fill=0.0),
    _f(
        "tax_sales_growth_3m",
        "tax",
        "sales M-4..M-2 / sales M-16..M-14 - 1 (year over year; null when the base is missing or 0)",
        _TAX,
        "ratio",
    ),
    _f("tax_sales_growth_6m", "tax", "sales M-7..M-2 / sales M-19..M-14 - 1", _TAX, "ratio"),
    _f("tax_sales_growth_12m", "tax", "sales M-13..M-2 / sales M-25..M-14 - 1", _TAX, "ratio"),
    _f(
        "tax_sales_cv_12m",
        "tax",
        "coefficient of variation (sample stddev / mean) of monthly sales over the filed periods M-13..M-2",
        _TAX,
        "ratio",
    ),
    _f("tax_zero_filings_12m", "tax", "filed periods in M-13..M-2 declaring zero sales", _TAX, "count", "int", 0),
    _f(
        "tax_missed_filings_12m",
        "tax",
        "periods in M-13..M-2 without a known filing, counting only periods "
        "from the first known period of the 25-month lookback on",
        _TAX,
        "count",
        "int",
        0,
    ),
    _f(
        "tax_months_since_last_filing",
        "tax",
        "months from the latest known period to M (2 = up to date, 1 when "
        "M-1 arrived early); null without a filing in the 25-month lookback",
        _TAX,
        "months",
        "int",
    ),
    _f("tax_arrears_latest", "tax", "tax arrears reported for the latest known period", _TAX, "CNY", fill=0.0),
    _f("tax_penalties_12m", "tax", "penalties and late fees over periods M-13..M-2", _TAX, "CNY", fill=0.0),
    _f("tax_vat_paid_12m", "tax", "VAT paid over periods M-13..M-2", _TAX, "CNY", fill=0.0),
    _f(
        "tax_amendments_12m", "tax", "periods in M-13..M-2 whose known version is an amendment", _TAX, "count", "int", 0
    ),
    _f(
        "tax_rating_ordinal",
        "tax",
        "latest tax credit rating known on D (rating published and delivered) as "
        "ordinal A=1, B=2, M=3, C=4, D=5 (higher is riskier)",
        _RAT,
        "grade",
        "int",
    ),
    _f("tax_rating", "tax", "latest tax credit rating letter known on D", _RAT, "grade", "string"),
    # ---- utility -----------------------------------------------------------------------------
    _f("util_elec_kwh_1m", "utility", "electricity consumption of period M-1, all meters", _UTIL, "kWh"),
    _f("util_elec_kwh_3m", "utility", "electricity consumption over periods M-3..M-1", _UTIL, "kWh", fill=0.0),
    _f(
        "util_elec_yoy_1m",
        "utility",
        "electricity M-1 / electricity M-13 (same month last year; null when the base is missing or 0)",
        _UTIL,
        "ratio",
    ),
    _f("util_elec_yoy_3m", "utility", "electricity M-3..M-1 / electricity M-15..M-13", _UTIL, "ratio"),
    _f("util_water_yoy_3m", "utility", "water M-3..M-1 / water M-15..M-13", _UTIL, "ratio"),
    _f(
        "util_elec_decline_streak",
        "utility",
        "consecutive months ending at M-1 in which electricity was below "
        "the same month a year earlier (0-12; a missing read ends the streak)",
        _UTIL,
        "months",
        "int",
        0,
    ),
    _f(
        "util_elec_drop30_streak",
        "utility",
        "consecutive months ending at M-1 in which electricity was at least "
        "30% below the same month a year earlier (0-12; a missing read ends the streak)",
        _UTIL,
        "months",
        "int",
        0,
    ),
    _f(
        "util_elec_zero_months_12m",
        "utility",
        "periods in M-12..M-1 with electricity read at zero (production halt)",
        _UTIL,
        "count",
        "int",
        0,
    ),
    _f(
        "util_elec_reads_12m",
        "utility",
        "periods in M-12..M-1 with an electricity read known",
        _UTIL,
        "count",
        "int",
        0,
    ),
    _f("util_unpaid_bills_12m", "utility", "meter bills of periods M-12..M-1 not paid", _UTIL, "count", "int", 0),
    _f(
        "util_arrears_latest",
        "utility",
        "utility arrears summed over meters at the latest known period",
        _UTIL,
        "CNY",
        fill=0.0,
    ),
    _f("util_bill_amount_3m", "utility", "billed amounts over periods M-3..M-1", _UTIL, "CNY", fill=0.0),
    # ---- court -------------------------------------------------------------------------------
    _f(
        "court_defendant_cases_12m",
        "court",
        "cases filed against the enterprise (defendant) with filing date in (D-12 months, D], published by D",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f("court_defendant_cases_24m", "court", "defendant cases filed in (D-24 months, D]", _COURT, "count", "int", 0),
    _f(
        "court_loan_dispute_cases_12m",
        "court",
        "defendant loan-dispute cases filed in the last 12 months",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_loan_dispute_cases_24m",
        "court",
        "defendant loan-dispute cases filed in the last 24 months",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_labour_cases_12m",
        "court",
        "defendant labour cases filed in the last 12 months (unpaid wages)",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_contract_cases_12m",
        "court",
        "defendant contract cases filed in the last 12 months",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_defendant_amount_12m",
        "court",
        "amount at stake of defendant cases filed in the last 12 months",
        _COURT,
        "CNY",
        fill=0.0,
    ),
    _f(
        "court_defendant_amount_24m",
        "court",
        "amount at stake of defendant cases filed in the last 24 months",
        _COURT,
        "CNY",
        fill=0.0,
    ),
    _f(
        "court_plaintiff_cases_12m",
        "court",
        "cases the enterprise filed as plaintiff in the last 12 months",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_active_enforcements",
        "court",
        "defendant cases under enforcement and not closed as known on D",
        _COURT,
        "count",
        "int",
        0,
    ),
    _f(
        "court_active_enforcement_amount",
        "court",
        "amount to enforce over the active enforcements",
        _COURT,
        "CNY",
        fill=0.0,
    ),
    _f(
        "court_dishonest_listed",
        "court",
        "on the dishonest-debtor list on D (a listing without a later removal known on D)",
        _COURT,
        "flag",
        "boolean",
        False,
    ),
    _f(
        "court_days_since_dishonest_listing",
        "court",
        "days from the latest dishonest-debtor listing to D (also when removed since); null if never listed",
        _COURT,
        "days",
        "int",
    ),
    _f(
        "court_days_since_last_defendant_case",
        "court",
        "days from the latest defendant case filing to D; null if none",
        _COURT,
        "days",
        "int",
    ),
    # ---- transactions ------------------------------------------------------------------------
    _f(
        "txn_inflow_1m",
        "transactions",
        "credits (inflows) available in month M (dates last day of M-1..D-1)",
        _TXN,
        "CNY",
        fill=0.0,
    ),
    _f("txn_inflow_3m", "transactions", "credits over the last 3 months", _TXN, "CNY", fill=0.0),
    _f("txn_inflow_12m", "transactions", "credits over the last 12 months", _TXN, "CNY", fill=0.0),
    _f("txn_outflow_1m", "transactions", "debits (outflows) over the last month", _TXN, "CNY", fill=0.0),
    _f("txn_outflow_3m", "transactions", "debits over the last 3 months", _TXN, "CNY", fill=0.0),
    _f("txn_outflow_12m", "transactions", "debits over the last 12 months", _TXN, "CNY", fill=0.0),
    _f(
        "txn_inflow_trend_3m",
        "transactions",
        "inflow 3m / (inflow 12m / 4): last quarter against the average "
        "quarter of the year (null when inflow 12m is 0)",
        _TXN,
        "ratio",
    ),
    _f("txn_outflow_trend_3m", "transactions", "outflow 3m / (outflow 12m / 4)", _TXN, "ratio"),
    _f("txn_net_flow_3m", "transactions", "inflow 3m - outflow 3m", _TXN, "CNY", fill=0.0),
    _f(
        "txn_net_flow_ratio_12m",
        "transactions",
        "(inflow - outflow) / (inflow + outflow) over 12 months",
        _TXN,
        "ratio",
    ),
    _f(
        "txn_inflow_hhi_3m",
        "transactions",
        "Herfindahl index of inflows by counterparty (account, else name) over 3 months: 1 = a single payer",
        _TXN,
        "ratio",
    ),
    _f("txn_cash_withdrawal_share_3m", "transactions", "share of 3-month outflows taken out in cash", _TXN, "ratio"),
    _f(
        "txn_balance_cv_3m",
        "transactions",
        "coefficient of variation of the end-of-day balance (sum over "
        "accounts of the last balance_after) over the active days of the last 3 months",
        _TXN,
        "ratio",
    ),
    _f(
        "txn_inactive_days_3m",
        "transactions",
        "days of the 3-month window (last day of M-3..D-1) without any transaction",
        _TXN,
        "days",
        "int",
    ),
    _f(
        "txn_days_since_last",
        "transactions",
        "days from the latest available transaction date to D; null without a transaction in 12 months",
        _TXN,
        "days",
        "int",
    ),
    _f("txn_count_3m", "transactions", "transactions over the last 3 months", _TXN, "count", "int", 0),
    # ---- loans -------------------------------------------------------------------------------
    _f(
        "loan_exposure",
        "loans",
        "outstanding principal on the latest available balance (T+1) of each loan still active or restructured",
        _BAL,
        "CNY",
        fill=0.0,
    ),
    _f("loan_overdue_principal", "loans", "principal past due on those latest balances", _BAL, "CNY", fill=0.0),
    _f("loan_utilisation", "loans", "exposure / (exposure + undrawn commitment) of the active loans", _BAL, "ratio"),
    _f(
        "loan_max_dpd_3m",
        "loans",
        "maximum days past due over balances available in the last 3 months",
        _BAL,
        "days",
        "int",
        0,
    ),
    _f("loan_max_dpd_12m", "loans", "maximum days past due over the last 12 months", _BAL, "days", "int", 0),
    _f(
        "loan_n_active",
        "loans",
        "loans whose latest available balance is active or restructured",
        _BAL,
        "count",
        "int",
        0,
    ),
    _f("loan_n_loans", "loans", "loan contracts known on D with start_date <= D (ever)", _LOANS, "count", "int", 0),
    _f(
        "loan_n_products",
        "loans",
        "distinct products among the contracts active or restructured on D",
        _LOANS,
        "count",
        "int",
        0,
    ),
    _f(
        "loan_months_on_book",
        "loans",
        "whole months from the earliest known contract start to D",
        _LOANS,
        "months",
        "int",
    ),
    _f(
        "loan_gov_recommended",
        "loans",
        "any known contract granted on a government recommendation",
        _LOANS,
        "flag",
        "boolean",
        False,
    ),
    _f(
        "loan_fund_coverage_share",
        "loans",
        "principal-weighted risk compensation fund share of the active contracts",
        _LOANS,
        "ratio",
    ),
    _f(
        "loan_restructured",
        "loans",
        "an active contract is restructured (classified substandard)",
        _LOANS,
        "flag",
        "boolean",
        False,
    ),
    _f(
        "loan_days_to_maturity",
        "loans",
        "days from D to the nearest maturity of the active contracts",
        _LOANS,
        "days",
        "int",
    ),
    # ---- cross-source consistency ------------------------------------------------------------
    _f(
        "cons_sales_to_inflow_12m",
        "consistency",
        "declared taxable sales 12m / account inflows 12m (far "
        "above 1: sales not seen in the bank; far below: inflows not declared)",
        f"{_TAX}, {_TXN}",
        "ratio",
    ),
    _f(
        "cons_sales_to_inflow_3m",
        "consistency",
        "declared taxable sales 3m / account inflows 3m",
        f"{_TAX}, {_TXN}",
        "ratio",
    ),
    _f(
        "cons_elec_kwh_per_10k_sales_3m",
        "consistency",
        "electricity 3m (kWh) per 10,000 CNY of declared sales 3m",
        f"{_UTIL}, {_TAX}",
        "kWh/10k CNY",
    ),
    _f(
        "cons_elec_vs_sales_growth_gap_3m",
        "consistency",
        "util_elec_yoy_3m - (1 + tax_sales_growth_3m): production and declared sales moving apart",
        f"{_UTIL}, {_TAX}",
        "ratio",
    ),
)

_BY_NAME = {f.name: f for f in FEATURES}
if len(_BY_NAME) != len(FEATURES):
    raise ValueError("duplicate feature names in the catalogue")


def feature(name: str) -> Feature:
    """The catalogue entry of ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}") from None


def names(family: str | None = None) -> list[str]:
    """Feature names in catalogue order, optionally of one family."""
    return [f.name for f in FEATURES if family is None or f.family == family]


def fill_values() -> dict[str, Any]:
    """Column -> value to use when the enterprise has no rows in the feature's source."""
    return {f.name: f.fill for f in FEATURES if f.fill is not None}


def _fingerprint() -> str:
    text = "|".join(f"{f.name}:{f.dtype}:{f.description}" for f in FEATURES)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


# Bump the major part when a definition changes meaning; the hash tracks any catalogue edit.
FEATURES_VERSION = f"1.{_fingerprint()}"


def render_catalogue_markdown() -> str:
    """The feature catalogue as Markdown (the content of ``docs/features.md``)."""
    lines = [
        "# Feature catalogue",
        "",
        "<!-- generated by schemas.feature_catalogue.render_catalogue_markdown(); "
        "regenerate with `riskpipe features catalogue --write` -->",
        "",
        f"Gold table `enterprise_features`, one row per enterprise (`uscc`) and month-end snapshot "
        f"`snapshot_date` D, partitioned by `snapshot_month`. Features version `{FEATURES_VERSION}`, "
        f"{len(FEATURES)} features.",
        "",
        "**Point in time.** A feature as of D uses only records available on D: the version of a "
        "restated record known on D (`known_from <= D < known_to`), transactions and loan balances "
        "from the day after their business date (T+1), a restated version of them from its `known_from`. "
        "M is the month of D; monthly feeds are indexed "
        "by period (M-1 is the latest period filed by the 15th / read by the 10th of M); "
        "'last n months' of a daily feed are the records available in months M-n+1..M.",
        "",
        "**Missing data.** Counts, sums and flags are 0/false when the enterprise has no rows in the "
        "source; ratios, growths, levels of one month and 'days since' stay null.",
        "",
    ]
    for family in FAMILIES:
        members = [f for f in FEATURES if f.family == family]
        lines += [f"## {family}", "", "| feature | type | unit | source | definition |", "|---|---|---|---|---|"]
        lines += [f"| `{f.name}` | {f.dtype} | {f.unit} | {f.source} | {f.description} |" for f in members]
        lines.append("")
    return "\n".join(lines)
