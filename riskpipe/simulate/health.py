"""Latent monthly health and the distress state machine that drives every source.

For enterprise ``i`` in month ``t``::

    h[i,t] = mu[i] + x[i,t] + sens[ind]*shock[t] + coal_beta[ind]*coal[t]
             + county_fixed[c] + county_ar[c,t] - contagion[c,t]
    x[i,t] = phi*x[i,t-1] + sigma*eps                     (idiosyncratic AR(1))
    contagion[c,t] = k * (share of county c that stopped paying in the last W months)

States: 0 normal, 1 distress, 2 payment stop. normal -> distress with probability
``sigmoid(a - b*h)`` (plus a small sudden-stop probability straight to 2); distress -> stop
or -> normal with fixed monthly probabilities. A payment stop while a loan is active becomes
a default (see ``loans.py``). Some stops end in a restructuring after which the enterprise
recovers ("cured"). The effective health ``e = h - penalty[state]`` drives all observable
signals (sales, power, filings, court, bank flows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskpipe.simulate import params as P
from riskpipe.simulate.entities import Enterprises
from riskpipe.simulate.params import ModelParams
from riskpipe.simulate.timeline import Timeline

NORMAL, DISTRESS, STOPPED = 0, 1, 2
MONTHS_PER_YEAR = 12


@dataclass
class World:
    """Monthly latent state, arrays of shape (enterprises, months) unless noted.

    Attributes:
        h: Latent health (before state penalty).
        e: Effective health (after state penalty) driving observable signals.
        state: 0 normal, 1 distress, 2 payment stop.
        halted: Production halted this month.
        stop_t: (N,) month index of the payment stop, -1 if none.
        restructured: (N,) the stop is resolved by a restructuring (enterprise cured).
        sales: True monthly sales in CNY (tax filings may inflate them).
        latent_pd: Approximate 12-month probability of a payment stop.
    """

    h: np.ndarray
    e: np.ndarray
    state: np.ndarray
    halted: np.ndarray
    stop_t: np.ndarray
    restructured: np.ndarray
    sales: np.ndarray
    latent_pd: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def stress(e: np.ndarray, mp: ModelParams) -> np.ndarray:
    """Continuous stress probability driving everyday bad behaviour (late, unpaid, zero)."""
    return _sigmoid(mp.stress_intercept - mp.stress_slope * e)


def _macro(timeline: Timeline, mp: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Shock (acute + scarring: mean shock of the last ``scar_months``) and coal cycle."""
    years, months = timeline.calendar_months()
    acute = np.array([P.macro_shock(y, m) for y, m in zip(years, months)])
    scar = pd.Series(acute).rolling(mp.scar_months, min_periods=1).mean().to_numpy()
    shock = acute + mp.scar_weight * scar
    coal = np.array([P.coal_index(y, m) for y, m in zip(years, months)])
    return shock, coal


def _step_states(
    prev: np.ndarray, h: np.ndarray, cured: np.ndarray, mp: ModelParams, rng: np.random.Generator
) -> np.ndarray:
    """One month of state transitions (the STOPPED state is handled by the caller)."""
    u = rng.random(len(prev))
    p_distress = np.where(cured, 0.0, _sigmoid(mp.distress_intercept - mp.distress_slope * h))
    p_sudden = np.where(cured, 0.0, mp.sudden_stop)
    new = prev.copy()
    normal = prev == NORMAL
    new[normal & (u < p_distress)] = DISTRESS
    new[normal & (u >= p_distress) & (u < p_distress + p_sudden)] = STOPPED
    dist = prev == DISTRESS
    new[dist & (u < mp.distress_to_stop)] = STOPPED
    recover = (u >= mp.distress_to_stop) & (u < mp.distress_to_stop + mp.distress_recover)
    new[dist & recover] = NORMAL
    return new


def _latent_pd(h: np.ndarray, state: np.ndarray, cured: np.ndarray, mp: ModelParams) -> np.ndarray:
    q = mp.distress_to_stop / (mp.distress_to_stop + mp.distress_recover)
    monthly = _sigmoid(mp.distress_intercept - mp.distress_slope * h) * q + mp.sudden_stop
    pd_normal = np.where(cured, 0.0, 1.0 - (1.0 - monthly) ** MONTHS_PER_YEAR)
    return np.select([state == STOPPED, state == DISTRESS], [1.0, q], pd_normal)


def simulate_health(ents: Enterprises, timeline: Timeline, mp: ModelParams, rng: np.random.Generator) -> World:
    """Run the monthly health model over the window.

    Args:
        ents: Enterprises.
        timeline: Window.
        mp: Model parameters.
        rng: Random generator of the ``health`` stream.

    Returns:
        The latent world.
    """
    n, T = len(ents), timeline.months
    n_county = len(P.COUNTIES)
    shock, coal = _macro(timeline, mp)
    sens = np.array(P.SHOCK_SENSITIVITY)[ents.industry]
    coal_beta = np.array(P.COAL_BETA)[ents.industry]
    county_fixed = rng.normal(0, mp.county_fixed_sd, n_county)
    county_size = np.maximum(np.bincount(ents.county, minlength=n_county), 1)
    county_ar = np.zeros(n_county)
    x = rng.normal(0, mp.ar_sigma / np.sqrt(1 - mp.ar_phi**2), n)
    out = {k: np.zeros((n, T), dtype=np.float64) for k in ("h", "e", "pd")}
    state = np.zeros((n, T), dtype=np.int8)
    halted = np.zeros((n, T), dtype=bool)
    stop_t = np.full(n, -1)
    restructured = rng.random(n) < mp.restructure_share
    cured = np.zeros(n, dtype=bool)
    prev = np.zeros(n, dtype=np.int8)
    stops_by_month = np.zeros((T, n_county))
    penalty = np.array([0.0, mp.penalty_distress, mp.penalty_stopped])
    for t in range(T):
        x = mp.ar_phi * x + mp.ar_sigma * rng.standard_normal(n)
        county_ar = mp.county_phi * county_ar + mp.county_sigma * rng.standard_normal(n_county)
        recent = stops_by_month[max(0, t - mp.contagion_window) : t].sum(axis=0) / county_size
        contagion = mp.contagion_per_share * recent
        h = ents.mu + x + sens * shock[t] + coal_beta * coal[t] + (county_fixed + county_ar - contagion)[ents.county]
        cur = _step_states(prev, h, cured, mp, rng)
        new_stop = (cur == STOPPED) & (prev != STOPPED)
        stop_t[new_stop] = t
        stops_by_month[t] = np.bincount(ents.county[new_stop], minlength=n_county)
        cure_now = (cur == STOPPED) & restructured & (stop_t >= 0) & (t - stop_t >= mp.restructure_cure_months)
        cur[cure_now] = NORMAL
        cured |= cure_now
        x[cure_now] += mp.cure_boost
        u = rng.random(n)
        was_halted = halted[:, t - 1] if t else np.zeros(n, dtype=bool)
        halted[:, t] = np.where(
            cur == STOPPED,
            was_halted | (u < mp.halt_stopped) & ~restructured,
            (cur == DISTRESS) & (u < mp.halt_distress),
        )
        state[:, t] = cur
        out["h"][:, t] = h
        out["e"][:, t] = h - penalty[cur]
        out["pd"][:, t] = _latent_pd(h, cur, cured, mp)
        prev = cur
    sales = _sales(ents, timeline, out["e"], halted, mp, rng)
    return World(out["h"], out["e"], state, halted, stop_t, restructured, sales, out["pd"])


def _sales(
    ents: Enterprises, timeline: Timeline, e: np.ndarray, halted: np.ndarray, mp: ModelParams, rng: np.random.Generator
) -> np.ndarray:
    """True monthly sales: level x seasonality x trend x exp(beta*e) x noise."""
    _, cal_month = timeline.calendar_months()
    season = np.array(P.SALES_SEASON)[ents.industry][:, cal_month - 1]
    trend = (1 + mp.trend_growth) ** (np.arange(timeline.months) / MONTHS_PER_YEAR)
    noise = np.exp(rng.normal(0, mp.sales_noise, e.shape) - mp.sales_noise**2 / 2)
    level = (ents.base_sales / MONTHS_PER_YEAR)[:, None] * season * trend[None, :]
    return np.round(level * np.exp(mp.sales_beta * e) * noise * ~halted, 2)
