"""Generative-model parameters and static reference tables of the simulator.

Scalar parameters live in :class:`ModelParams` (overridable from YAML ``model:``); the
tables below (counties, industries, seasonality, macro series) are fixed reference data.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Lvliang's 13 counties/districts with their administrative division codes -------------
COUNTIES = (
    "离石区",
    "孝义市",
    "汾阳市",
    "文水县",
    "交城县",
    "兴县",
    "临县",
    "柳林县",
    "石楼县",
    "岚县",
    "方山县",
    "中阳县",
    "交口县",
)
COUNTY_CODES = (
    "141102",
    "141181",
    "141182",
    "141121",
    "141122",
    "141123",
    "141124",
    "141125",
    "141126",
    "141127",
    "141128",
    "141129",
    "141130",
)
COUNTY_WEIGHTS = (0.11, 0.12, 0.12, 0.09, 0.07, 0.07, 0.08, 0.08, 0.05, 0.05, 0.05, 0.06, 0.05)
CITY = "吕梁市"
# Electricity of this county's grid feed is delivered in MWh for every meter (not a defect).
MWH_FEED_COUNTIES = ("柳林县",)

# --- industries -----------------------------------------------------------------------------
INDUSTRIES = ("walnut", "jujube", "coarse_grains", "livestock", "agri_processing", "coal_supply")
INDUSTRY_WEIGHTS = (0.18, 0.14, 0.16, 0.18, 0.22, 0.12)
# Chinese business-scope words used in company names, per industry.
INDUSTRY_WORDS = (
    ("核桃加工", "核桃种植", "核桃产业"),
    ("红枣加工", "红枣种植", "枣业"),
    ("杂粮加工", "小杂粮", "粮油"),
    ("养殖", "畜牧", "肉牛养殖"),
    ("农产品加工", "食品", "农副产品"),
    ("煤炭运销", "煤业物资", "矿山物资"),
)
# Sales seasonality, Jan..Dec (harvest: walnut/jujube Sep-Nov, grains Jul-Oct).
SALES_SEASON = (
    (0.6, 0.5, 0.5, 0.5, 0.5, 0.6, 0.7, 0.9, 2.0, 2.4, 1.8, 1.0),
    (0.7, 0.8, 0.5, 0.5, 0.5, 0.5, 0.6, 0.8, 1.8, 2.4, 1.9, 1.0),
    (0.8, 0.6, 0.6, 0.6, 0.6, 0.7, 1.3, 1.6, 1.7, 1.6, 1.0, 0.9),
    (1.25, 1.1, 0.95, 0.95, 0.95, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0, 1.2),
    (1.1, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 1.0, 1.1, 1.2, 1.15, 1.2),
    (1.2, 1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 0.95, 1.0, 1.05, 1.15, 1.25),
)
# Sensitivity of health to the 2020-2022 shock, and to the coal-price cycle.
SHOCK_SENSITIVITY = (0.7, 0.7, 0.5, 0.8, 1.0, 0.6)
COAL_BETA = (0.0, 0.0, 0.0, 0.0, 0.0, 0.6)
# Electricity intensity, kWh per CNY of sales, and share of enterprises with a water meter.
KWH_PER_CNY = (0.05, 0.05, 0.04, 0.08, 0.12, 0.10)
WATER_M3_PER_CNY = (0.002, 0.002, 0.002, 0.01, 0.008, 0.003)

SIZE_CLASSES = ("micro", "small", "medium")
SIZE_WEIGHTS = (0.6, 0.3, 0.1)
# Median annual sales (CNY) per size class; log-normal spread.
SIZE_MEDIAN_SALES = (2.0e6, 1.2e7, 6.0e7)
SALES_LOG_SD = 0.5
# Mean bank transactions per business day, per direction, per size class.
TXN_PER_DAY = (1.0, 2.0, 4.5)
# Number of regular counterparties per size class.
COUNTERPARTIES = (8, 20, 50)


def macro_shock(year: int, month: int) -> float:
    """COVID-era shock to health (0 = normal times, negative = worse).

    Sharp drop Feb-Apr 2020, partial recovery through 2021, a second dip in spring 2022
    and at the end of 2022.
    """
    if year < 2020 or year > 2023:
        return 0.0
    table = {
        2020: (-0.3, -1.4, -1.2, -0.8, -0.55, -0.45, -0.4, -0.37, -0.34, -0.31, -0.28, -0.25),
        2021: (-0.2, -0.2, -0.2, -0.2, -0.2, -0.2, -0.15, -0.15, -0.15, -0.15, -0.15, -0.15),
        2022: (-0.3, -0.3, -0.3, -0.9, -0.8, -0.5, -0.45, -0.45, -0.45, -0.45, -0.45, -0.9),
        2023: (-0.5, -0.3, -0.2, -0.1, -0.1, -0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    }
    return table[year][month - 1]


def coal_index(year: int, month: int) -> float:
    """Coal-price cycle (0 = 2019 level): dip in 2020, spike in H2 2021, high in 2022."""
    if year <= 2019:
        return 0.0
    if year == 2020:
        return -0.4 if month <= 6 else -0.2
    if year == 2021:
        return 0.2 if month <= 6 else 0.7
    return 0.5 if year == 2022 else 0.1


@dataclass
class ModelParams:
    """Scalar parameters of the generative model (see docs/simulator.md)."""

    # latent health: h = mu + x + shock + coal + county - contagion, x ~ AR(1)
    ar_phi: float = 0.90
    ar_sigma: float = 0.25
    mu_sd: float = 0.55
    scar_weight: float = 1.0
    scar_months: int = 12
    county_fixed_sd: float = 0.15
    county_phi: float = 0.8
    county_sigma: float = 0.08
    contagion_per_share: float = 3.0
    contagion_window: int = 6
    # state machine: normal -> distress -> payment stop (default if a loan is active)
    distress_intercept: float = -7.4
    distress_slope: float = 2.0
    sudden_stop: float = 0.0005
    distress_to_stop: float = 0.30
    distress_recover: float = 0.12
    restructure_share: float = 0.25
    restructure_cure_months: int = 2
    cure_boost: float = 0.8
    penalty_distress: float = 0.8
    penalty_stopped: float = 1.6
    halt_distress: float = 0.08
    halt_stopped: float = 0.5
    # continuous stress behaviour: p = table[state] + weight * sigmoid(a - b*e)
    stress_intercept: float = -4.5
    stress_slope: float = 1.5
    # enterprise mix
    falsifier_share: float = 0.06
    falsifier_mu: float = -0.5
    falsify_min: float = 1.25
    falsify_max: float = 1.8
    recommended_share: float = 0.45
    recommended_mu: float = 0.05
    borrower_share_recommended: float = 0.95
    borrower_share_other: float = 0.70
    # sales
    sales_beta: float = 0.45
    sales_noise: float = 0.12
    trend_growth: float = 0.03
    # tax behaviour (monthly probabilities by state: normal, distress, stopped)
    zero_filing: tuple = (0.01, 0.25, 0.7)
    late_filing: tuple = (0.02, 0.2, 0.4)
    missed_filing: tuple = (0.005, 0.1, 0.4)
    vat_rate_general: float = 0.13
    vat_value_added_share: float = 0.3
    vat_rate_small: float = 0.03
    vat_rate_small_relief: float = 0.01
    cit_rate_on_sales: float = 0.006
    arrears_share: tuple = (0.0, 0.4, 0.9)
    penalty_daily_rate: float = 0.0005
    # utility behaviour
    consumption_beta: float = 0.35
    consumption_noise: float = 0.10
    standby_share: float = 0.03
    unpaid_bill: tuple = (0.01, 0.25, 0.7)
    electricity_tariff: float = 0.65
    water_tariff: float = 4.5
    water_meter_share: float = 0.6
    second_meter_share: float = 0.15
    # court (monthly rates)
    defendant_base: float = 0.006
    defendant_health_slope: float = 1.0
    defendant_state_rate: tuple = (0.0, 0.12, 0.25)
    plaintiff_rate: float = 0.006
    # bank
    collection_ratio: float = 1.0
    cash_share: tuple = (0.05, 0.3, 0.45)
    concentration_gamma: tuple = (1.5, 3.5, 5.0)
    # loans
    preexisting_loan_share: float = 0.6
    renewal_prob: float = 0.85
    y_wc_share: float = 0.6
    y_eq_share: float = 0.25
    limit_to_sales_min: float = 0.15
    limit_to_sales_max: float = 0.40
    base_rate: float = 0.0435
    fund_initial_ratio: float = 0.10
    fund_annual_topup_ratio: float = 0.02
