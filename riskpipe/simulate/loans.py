"""Loan book: contracts, their life cycle (renewal, payment stop, restructuring, default,
write-off) and the truth table of defaults.

Each borrowing enterprise holds at most one loan at a time. Loans active at the window start
were originated before it; new loans originate throughout the window and are renewed at
maturity while the enterprise is healthy. A payment stop (from ``health.py``) during a loan
makes instalments/interest go unpaid from the next due date (the 21st): the loan either
reaches 90 days past due (default, trigger ``dpd90``, later written off) or is restructured
at 45-75 DPD (trigger ``restructured``, classified substandard, i.e. a default as well).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskpipe.simulate.context import Context
from riskpipe.simulate.health import NORMAL
from riskpipe.simulate.timeline import REPAY_DAY_OF_MONTH, add_months, repay_days, roll_business

PRODUCTS = ("Y_MODEL_WORKING_CAPITAL", "Y_MODEL_EQUIPMENT", "SME_WORKING_CAPITAL")
TERM_MONTHS = {0: (12,), 1: (24, 36), 2: (12,)}
PRODUCT_P_RECOMMENDED = (0.65, 0.25, 0.10)
PRODUCT_P_OTHER = (0.50, 0.20, 0.30)
LOAN_CAP = 1.0e7  # per-borrower limit cap (CNY)
LIMIT_ROUNDING = -4  # limits in units of 10,000 CNY
DRAWN_SHARE = (0.6, 1.0)
FUND_SHARE = (0.4, 0.8)
FUND_SHARE_STEP = 0.05
Y_SPREAD, SME_SPREAD = (0.003, 0.015), (0.010, 0.030)
LPR_1Y = (
    ("2019-01-01", 0.0435),
    ("2019-08-20", 0.0425),
    ("2019-11-20", 0.0415),
    ("2020-02-20", 0.0405),
    ("2020-04-20", 0.0385),
    ("2021-12-20", 0.0380),
    ("2022-01-20", 0.0370),
    ("2022-08-22", 0.0365),
)
SME_GUARANTEES = ("collateral", "credit", "third_party")
COLLATERAL = {
    "collateral": ("real_estate", "land_use_right"),
    "credit": ("none",),
    "third_party": ("none",),
    "fund_guarantee": ("none", "receivables", "livestock"),
}
RESTRUCTURE_DPD = (45, 76)
DEFAULT_DPD = 90
WRITE_OFF_AFTER_DAYS = (120, 301)
RESTRUCTURE_EXTENSION_MONTHS = 12
RETRY_MONTHS = 3
MAX_GENERATIONS = 8
FAR_FUTURE = np.datetime64("2262-01-01", "D")


def lpr(days: np.ndarray) -> np.ndarray:
    """One-year loan prime rate in force on each date."""
    dates = np.array([np.datetime64(d) for d, _ in LPR_1Y])
    rates = np.array([r for _, r in LPR_1Y])
    return rates[np.maximum(np.searchsorted(dates, days, side="right") - 1, 0)]


def maturity_of(start: np.ndarray, term: np.ndarray, amortising: np.ndarray) -> np.ndarray:
    """Bullet loans mature ``term`` months after the start; amortising ones on the last
    instalment date (the 21st of the start month + ``term``)."""
    start = np.asarray(start, dtype="datetime64[D]")
    last_due = (start.astype("datetime64[M]") + term).astype("datetime64[D]") + (REPAY_DAY_OF_MONTH - 1)
    return roll_business(np.where(amortising, last_due, add_months(start, term)))


def _first_starts(ctx: Context, borrowers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tl, mp = ctx.timeline, ctx.cfg.model
    k = len(borrowers)
    pre = rng.random(k) < mp.preexisting_loan_share
    back = rng.integers(1, 360, k)
    month = rng.integers(0, max(tl.months - 2, 1), k)
    within = (tl.start + month).astype("datetime64[D]") + rng.integers(0, 28, k)
    return roll_business(np.where(pre, tl.first_day - back, within))


def _eligible(ctx: Context, ent: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Bank screening: no new loan to an enterprise in distress or after a payment stop."""
    tl, w = ctx.timeline, ctx.world
    t = tl.month_index(start)
    inside = t >= 0
    tc = np.clip(t, 0, tl.months - 1)
    healthy = w.state[ent, tc] == NORMAL
    before_stop = (w.stop_t[ent] < 0) | (t < w.stop_t[ent])
    return ~inside | (healthy & before_stop)


def _contracts(ctx: Context, rng: np.random.Generator) -> pd.DataFrame:
    """Sequential loan contracts per borrower (without payment-stop effects)."""
    tl, mp, ents = ctx.timeline, ctx.cfg.model, ctx.ents
    borrowers = np.flatnonzero(ents.borrower)
    ent, start = borrowers, _first_starts(ctx, borrowers, rng)
    prev_product = np.full(len(ent), -1)
    rows = []
    for _ in range(MAX_GENERATIONS):
        live = start <= tl.last_day - 30
        ent, start, prev_product = ent[live], start[live], prev_product[live]
        if not len(ent):
            break
        ok = _eligible(ctx, ent, start)
        retry_ent, retry_start = ent[~ok], roll_business(add_months(start[~ok], RETRY_MONTHS))
        ent, start, prev_product = ent[ok], start[ok], prev_product[ok]
        k = len(ent)
        rec = ents.frame["gov_recommended"].to_numpy()[ent]
        u = rng.random(k)
        fresh = np.where(
            rec,
            np.searchsorted(np.cumsum(PRODUCT_P_RECOMMENDED), u, side="right"),
            np.searchsorted(np.cumsum(PRODUCT_P_OTHER), u, side="right"),
        )
        product = np.where(prev_product >= 0, prev_product, np.minimum(fresh, 2))
        term = np.where(product == 1, rng.choice(TERM_MONTHS[1], k), 12)
        rows.append(pd.DataFrame({"ent": ent, "product": product, "start": start, "term": term}))
        maturity = maturity_of(start, term, product == 1)
        renew = rng.random(k) < mp.renewal_prob
        ent = np.concatenate([ent[renew], retry_ent])
        start = np.concatenate([maturity[renew], retry_start])
        prev_product = np.concatenate([product[renew], np.full(len(retry_ent), -1)])
    loans = pd.concat(rows, ignore_index=True)
    return loans.sort_values(["start", "ent"], kind="stable").reset_index(drop=True)


def _terms(ctx: Context, loans: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Amounts, pricing, guarantees and the repayment schedule end."""
    ents = ctx.ents
    k = len(loans)
    ent, product = loans["ent"].to_numpy(), loans["product"].to_numpy()
    start = loans["start"].to_numpy().astype("datetime64[D]")
    mp = ctx.cfg.model
    limit = np.round(
        np.minimum(ents.base_sales[ent] * rng.uniform(mp.limit_to_sales_min, mp.limit_to_sales_max, k), LOAN_CAP),
        LIMIT_ROUNDING,
    )
    limit = np.maximum(limit, 10**-LIMIT_ROUNDING)
    drawn = np.round(limit * rng.uniform(*DRAWN_SHARE, k), LIMIT_ROUNDING + 1)
    principal = np.where(product == 1, limit, np.minimum(drawn, limit))
    y_model = product < 2
    spread = np.where(y_model, rng.uniform(*Y_SPREAD, k), rng.uniform(*SME_SPREAD, k))
    share = np.round(rng.uniform(*FUND_SHARE, k) / FUND_SHARE_STEP) * FUND_SHARE_STEP
    guarantee = np.where(y_model, "fund_guarantee", np.array(SME_GUARANTEES)[rng.integers(0, 3, k)])
    collateral = [COLLATERAL[g][int(rng.integers(0, len(COLLATERAL[g])))] for g in guarantee]
    collateral = np.where(product == 1, "equipment", collateral)
    rec_date = pd.to_datetime(ents.frame["recommended_date"].replace("", None)).to_numpy()
    rec = ents.frame["gov_recommended"].to_numpy()[ent] & (rec_date[ent] <= start)
    amortising = product == 1
    term = loans["term"].to_numpy()
    maturity = maturity_of(start, term, amortising)
    return loans.assign(
        uscc=ents.uscc[ent],
        product_name=np.array(PRODUCTS)[product],
        principal=principal,
        credit_limit=limit,
        interest_rate=np.round(lpr(start) + spread, 4),
        maturity=maturity,
        guarantee_type=guarantee,
        collateral_type=collateral,
        fund_coverage_share=np.where(y_model, share, 0.0),
        gov_recommended=rec,
        amortising=amortising,
    )


def _stops(ctx: Context, loans: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Apply payment stops: first missed due date, restructuring, default and write-off."""
    tl, w = ctx.timeline, ctx.world
    n = len(ctx.ents)
    stop_day = np.full(n, FAR_FUTURE)
    has = w.stop_t >= 0
    month_start = (tl.start + w.stop_t[has]).astype("datetime64[D]")
    stop_day[has] = month_start + rng.integers(0, 28, has.sum())
    ent = loans["ent"].to_numpy()
    start = loans["start"].to_numpy().astype("datetime64[D]")
    maturity = loans["maturity"].to_numpy().astype("datetime64[D]")
    sd = stop_day[ent]
    hit = (sd >= start) & (sd < maturity)
    k = len(loans)
    dues = repay_days(tl.start - 60, tl.end_month + 60)
    nxt = np.minimum(np.searchsorted(dues, sd, side="right"), len(dues) - 1)
    first_missed = np.where(hit, dues[nxt], FAR_FUTURE)
    restr = hit & w.restructured[ent]
    r_date = roll_business(first_missed + np.where(restr, rng.integers(*RESTRUCTURE_DPD, k), 0))
    d90 = roll_business(first_missed + np.where(hit, DEFAULT_DPD, 0))
    default_date = np.where(restr, r_date, np.where(hit, d90, FAR_FUTURE))
    write_off = roll_business(d90 + np.where(hit & ~restr, rng.integers(*WRITE_OFF_AFTER_DAYS, k), 0))
    new_maturity = roll_business(add_months(np.maximum(maturity, r_date), RESTRUCTURE_EXTENSION_MONTHS))
    return loans.assign(
        stop_day=np.where(hit, sd, FAR_FUTURE),
        first_missed=first_missed,
        restructure_date=np.where(restr, r_date, FAR_FUTURE),
        default_date=default_date,
        trigger=np.where(restr, "restructured", np.where(hit, "dpd90", "")),
        write_off_date=np.where(hit & ~restr, write_off, FAR_FUTURE),
        end_date=np.where(restr, new_maturity, np.where(hit, write_off, maturity)),
    )


def build_loans(ctx: Context) -> pd.DataFrame:
    """Build the loan book with life-cycle dates (one row per loan).

    Args:
        ctx: Run context.

    Returns:
        Loan table; ``loan_id`` assigned in (start date, enterprise) order.
    """
    rng = ctx.rng("loans", 0)
    loans = _terms(ctx, _contracts(ctx, rng), rng)
    loans = _stops(ctx, loans, rng)
    loans.insert(0, "loan_id", [f"LN{i:08d}" for i in range(1, len(loans) + 1)])
    for col in (
        "start",
        "maturity",
        "stop_day",
        "first_missed",
        "restructure_date",
        "default_date",
        "write_off_date",
        "end_date",
    ):
        loans[col] = loans[col].to_numpy().astype("datetime64[D]")
    return loans


def defaults_truth(loans: pd.DataFrame, last_day: np.datetime64) -> pd.DataFrame:
    """``truth/defaults`` rows: loans whose default date falls inside the window."""
    d = loans[loans["default_date"] <= last_day]
    return pd.DataFrame(
        {
            "uscc": d["uscc"],
            "loan_id": d["loan_id"],
            "default_date": d["default_date"].astype("datetime64[ms]"),
            "trigger": d["trigger"],
        }
    ).reset_index(drop=True)
