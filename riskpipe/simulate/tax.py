"""Tax bureau feed: monthly VAT filings (per delivery month) and annual credit ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskpipe.simulate import dirty
from riskpipe.simulate.context import Context
from riskpipe.simulate.health import STOPPED, stress
from riskpipe.simulate.timeline import fmt_month, roll_business, yyyymm
from riskpipe.simulate.writers import maybe_truncate, write_csv

SOURCE = "tax"
ON_TIME_LAST_DAY = 15  # filed by the 15th of the month after the period
MAX_LATE_MONTHS = 4
AMEND_MAX_MONTHS = 6
RELIEF_FROM, RELIEF_TO = "2020-03", "2022-03"  # small-scale VAT relief (3% -> 1%)
QUARTER_END_MONTHS = (3, 6, 9, 12)
ARREARS_PAYDOWN = 0.5  # share of arrears cleared per month when healthy
RATING_PUBLISH_MMDD = "04-20"
RATING_THRESHOLDS = (0.4, -0.4, -1.2)  # score cut-offs for A / B / C (else D)
M_RATING_SHARE_MICRO = 0.3
FUTURE_MAX_MONTHS = 6
STRESS_WEIGHT_ZERO, STRESS_WEIGHT_MISSED, STRESS_WEIGHT_LATE = 0.4, 0.2, 0.4
COLUMNS = [
    "uscc",
    "company_name",
    "period",
    "filing_date",
    "taxable_sales",
    "vat_paid",
    "cit_prepaid",
    "arrears_amount",
    "penalty_amount",
    "is_amendment",
]
ROLES = dirty.Roles(
    source=SOURCE, key=("uscc", "period", "filing_date"), amounts=("taxable_sales", "vat_paid"), uscc="uscc"
)


def _filing_table(ctx: Context, rng: np.random.Generator) -> pd.DataFrame:
    """All original filings of the window with their delivery-file index."""
    ents, w, mp, tl = ctx.ents, ctx.world, ctx.cfg.model, ctx.timeline
    n, T = w.state.shape
    st = w.state
    reported = w.sales * ents.inflate[:, None]
    sp = stress(w.e, mp)
    zero = w.halted | (rng.random((n, T)) < np.array(mp.zero_filing)[st] + STRESS_WEIGHT_ZERO * sp)
    reported = np.where(zero, 0.0, np.round(reported, 2))
    u = rng.random((n, T))
    p_missed = np.array(mp.missed_filing)[st] + STRESS_WEIGHT_MISSED * sp
    missed = u < p_missed
    late = ~missed & (u < p_missed + np.array(mp.late_filing)[st] + STRESS_WEIGHT_LATE * sp)
    lag = np.where(late, rng.integers(1, MAX_LATE_MONTHS + 1, (n, T)), 0)
    periods = tl.month_array
    relief = (periods >= np.datetime64(RELIEF_FROM)) & (periods <= np.datetime64(RELIEF_TO))
    small_rate = np.where(relief, mp.vat_rate_small_relief, mp.vat_rate_small)
    vat_rate = np.where((ents.size == 0)[:, None], small_rate[None, :], mp.vat_rate_general * mp.vat_value_added_share)
    vat_due = np.round(reported * vat_rate, 2)
    unpaid = np.round(vat_due * np.minimum(np.array(mp.arrears_share)[st] + sp, 1.0), 2)
    arrears = np.zeros((n, T))
    acc = np.zeros(n)
    for t in range(T):
        acc = np.where(st[:, t] == 0, acc * (1 - ARREARS_PAYDOWN), acc) + unpaid[:, t]
        arrears[:, t] = np.round(acc, 2)
    _, cal = tl.calendar_months()
    quarter = np.isin(cal, QUARTER_END_MONTHS)
    q_sales = pd.DataFrame(reported).T.rolling(3, min_periods=1).sum().T.to_numpy()
    cit = np.where(quarter[None, :] & (w.e > -0.5), np.round(q_sales * mp.cit_rate_on_sales, 2), 0)
    deliver = np.arange(T)[None, :] + 1 + lag
    day = np.where(late, rng.integers(1, 29, (n, T)), rng.integers(1, ON_TIME_LAST_DAY + 1, (n, T)))
    filing = (tl.start + deliver).astype("datetime64[D]") + (day - 1)
    keep = ~missed & (deliver <= T)
    ii, tt = np.nonzero(keep)
    return pd.DataFrame(
        {
            "uscc": ents.uscc[ii],
            "company_name": ents.names[ii],
            "period": np.array(tl.periods())[tt],
            "filing_date": filing[ii, tt].astype(str),
            "taxable_sales": reported[ii, tt],
            "vat_paid": (vat_due - unpaid)[ii, tt],
            "cit_prepaid": cit[ii, tt].astype(float),
            "arrears_amount": arrears[ii, tt],
            "penalty_amount": np.round(arrears[ii, tt] * mp.penalty_daily_rate * 30, 2),
            "is_amendment": False,
            "_deliver": deliver[ii, tt],
            "_falsifier": ents.falsifier[ii],
        }
    )


def _amendments(ctx: Context, filings: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Restatements: amended copies of some filings, filed 1-6 months later."""
    rate = ctx.rates["restatement"]
    ctx.log.eligible[(SOURCE, "restatement")] += len(filings)
    pick = np.flatnonzero(rng.random(len(filings)) < rate)
    T = ctx.timeline.months
    am = filings.iloc[pick].copy()
    am["_orig_filing_date"] = am["filing_date"]
    am["_deliver"] = am["_deliver"] + rng.integers(1, AMEND_MAX_MONTHS + 1, len(am))
    am = am[am["_deliver"] <= T].copy()
    if am.empty:
        return am
    factor = np.where(am["_falsifier"], rng.uniform(0.6, 0.9, len(am)), rng.uniform(0.85, 1.15, len(am)))
    am["_orig_sales"] = am["taxable_sales"]
    for col in ("taxable_sales", "vat_paid"):
        am[col] = np.round(am[col] * factor, 2)
    day = rng.integers(1, 29, len(am))
    am["filing_date"] = ((ctx.timeline.start + am["_deliver"].to_numpy()).astype("datetime64[D]") + (day - 1)).astype(
        str
    )
    am["is_amendment"] = True
    return am


def _future(delivery: np.datetime64):
    def shift(cols: dict, rows: np.ndarray, rng: np.random.Generator) -> list:
        period, details = cols["period"], []
        for r in rows:
            details.append({"column": "period", "original": period[r]})
            period[r] = fmt_month(delivery + int(rng.integers(1, FUTURE_MAX_MONTHS + 1)))
        return details

    return shift


def _columns(df: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {c: df[c].to_numpy() for c in COLUMNS}
    out["is_amendment"] = out["is_amendment"].astype(bool)
    for c in ("uscc", "company_name", "period", "filing_date"):
        out[c] = out[c].astype(object)
    return out


def write_filings(ctx: Context) -> None:
    """Generate and write ``tax/filings/tax_filings_YYYYMM.csv`` for every delivery month."""
    filings = _filing_table(ctx, ctx.rng(SOURCE, 0))
    amendments = _amendments(ctx, filings, ctx.rng(SOURCE, 1))
    late = dirty.LateBuffer()
    T = ctx.timeline.months
    by_file = dict(tuple(filings.groupby("_deliver", sort=True)))
    am_by_file = dict(tuple(amendments.groupby("_deliver", sort=True))) if len(amendments) else {}
    empty = filings.iloc[:0]
    for d in ctx.progress(range(1, T + 1), desc="tax"):
        delivery = ctx.timeline.start + d
        path = ctx.out / "tax" / "filings" / f"tax_filings_{yyyymm(delivery)}.csv"
        rel = ctx.rel(path)
        rng = ctx.rng(SOURCE, 100 + d)
        part = by_file.get(d, empty).sort_values(["filing_date", "uscc"], kind="stable")
        roles = dirty.Roles(**{**ROLES.__dict__, "future": _future(delivery)})
        parts = [dirty.inject(_columns(part), roles, rel, ctx.rates, rng, ctx.log, late, d, T)]
        held = dirty.release_late(late, d, ROLES, rel, ctx.log)
        if held is not None:
            parts.append(held)
        am = am_by_file.get(d)
        if am is not None:
            am = am.sort_values(["filing_date", "uscc"], kind="stable")
            ctx.log.record(
                "restatement",
                SOURCE,
                rel,
                [
                    {"uscc": u, "period": p, "filing_date": f}
                    for u, p, f in zip(am["uscc"], am["period"], am["filing_date"])
                ],
                [
                    {"original_taxable_sales": s, "original_filing_date": f}
                    for s, f in zip(am["_orig_sales"], am["_orig_filing_date"])
                ],
            )
            parts.append(_columns(am))
        out = dirty.concat(parts)
        write_csv(out, path)
        ctx.rows.add(SOURCE, rel, dirty.length(out))
        maybe_truncate(path, ctx.out, SOURCE, ctx.rates["truncated_file"], rng, ctx.log)


def write_ratings(ctx: Context) -> None:
    """Write ``tax/ratings/tax_ratings_YYYY.csv`` for each April inside the window (+1 month)."""
    tl, w, ents = ctx.timeline, ctx.world, ctx.ents
    years, cal = tl.calendar_months()
    rng = ctx.rng(SOURCE, 2)
    for year in range(int(years[0]), int(years[-1]) + 1):
        publish = np.datetime64(f"{year}-{RATING_PUBLISH_MMDD}")
        if not (tl.first_day <= publish <= tl.last_day + 31):
            continue
        in_year = years == year - 1
        e = w.e[:, in_year].mean(axis=1) if in_year.any() else w.e[:, 0]
        stopped = (w.state[:, in_year] == STOPPED).any(axis=1) if in_year.any() else False
        score = e + rng.normal(0, 0.3, len(ents)) - 1.5 * stopped
        hi, mid, lo = RATING_THRESHOLDS
        rating = np.select([score > hi, score > mid, score > lo], ["A", "B", "C"], "D")
        founded = ents.frame["founded_date"].to_numpy().astype("datetime64[D]")
        young = founded > np.datetime64(f"{year - 1}-01-01")
        m_rated = young | ((ents.size == 0) & (rng.random(len(ents)) < M_RATING_SHARE_MICRO))
        rating = np.where(m_rated & (rating != "D"), "M", rating)
        path = ctx.out / "tax" / "ratings" / f"tax_ratings_{year}.csv"
        df = pd.DataFrame(
            {
                "uscc": ents.uscc,
                "rating_year": year - 1,
                "rating": rating,
                "published_date": str(roll_business(publish)),
            }
        )
        write_csv(df, path)
        ctx.rows.add("tax_ratings", ctx.rel(path), len(df))
