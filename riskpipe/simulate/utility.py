"""Power-grid and water-utility feed: monthly meter reads, one JSON Lines file per delivery."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskpipe.simulate import dirty
from riskpipe.simulate import params as P
from riskpipe.simulate.context import Context
from riskpipe.simulate.health import stress
from riskpipe.simulate.timeline import fmt_month, yyyymm
from riskpipe.simulate.writers import maybe_truncate, write_jsonl

SOURCE = "utility"
KWH_PER_MWH = 1000.0
SEASON_DAMPING = 0.5  # power follows the sales season, damped
HEATING_MONTHS = (1, 2, 11, 12)
HEATING_BOOST = 0.1
READ_DAYS_BEFORE_END = 3  # reads taken in the last days of the period
FUTURE_MAX_MONTHS = 6
SECOND_METER_SHARE_OF_LOAD = 0.3
STRESS_WEIGHT_UNPAID = 0.6
COLUMNS = [
    "meter_id",
    "uscc",
    "utility_type",
    "period",
    "read_date",
    "consumption",
    "unit",
    "bill_amount",
    "paid_flag",
    "arrears_amount",
]


def _meters(ctx: Context, rng: np.random.Generator) -> pd.DataFrame:
    """Meter table: one or two electricity meters per enterprise, some water meters."""
    ents, mp = ctx.ents, ctx.cfg.model
    n = len(ents)
    idx = np.arange(n)
    second = rng.random(n) < mp.second_meter_share
    water = rng.random(n) < mp.water_meter_share
    ent = np.concatenate([idx, idx[second], idx[water]])
    kind = np.array(["electricity"] * (n + second.sum()) + ["water"] * water.sum())
    share = np.concatenate(
        [
            np.where(second, 1 - SECOND_METER_SHARE_OF_LOAD, 1.0),
            np.full(second.sum(), SECOND_METER_SHARE_OF_LOAD),
            np.ones(water.sum()),
        ]
    )
    order = np.lexsort((kind, ent))
    ent, kind, share = ent[order], kind[order], share[order]
    county = ents.county[ent]
    prefix = np.where(kind == "electricity", "E", "W")
    seq = np.arange(len(ent))
    meter_id = [f"{p}{P.COUNTY_CODES[c]}{s:08d}" for p, c, s in zip(prefix, county, seq)]
    mwh_feed = (kind == "electricity") & np.isin(np.array(P.COUNTIES)[county], P.MWH_FEED_COUNTIES)
    return pd.DataFrame({"meter_id": meter_id, "ent": ent, "utility_type": kind, "share": share, "mwh_feed": mwh_feed})


def _consumption(ctx: Context, meters: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Consumption per meter and period in kWh (electricity) or m3 (water)."""
    ents, w, mp, tl = ctx.ents, ctx.world, ctx.cfg.model, ctx.timeline
    ent = meters["ent"].to_numpy()
    ind = ents.industry[ent]
    elec = (meters["utility_type"] == "electricity").to_numpy()
    intensity = np.where(elec, np.array(P.KWH_PER_CNY)[ind], np.array(P.WATER_M3_PER_CNY)[ind])
    _, cal = tl.calendar_months()
    season = 1 + SEASON_DAMPING * (np.array(P.SALES_SEASON)[ind][:, cal - 1] - 1)
    season = season + HEATING_BOOST * np.isin(cal, HEATING_MONTHS)[None, :] * elec[:, None]
    base = (ents.base_sales[ent] / 12 * intensity * meters["share"].to_numpy())[:, None]
    noise = np.exp(rng.normal(0, mp.consumption_noise, (len(ent), tl.months)))
    level = base * season * np.exp(mp.consumption_beta * w.e[ent]) * noise
    level = np.where(w.halted[ent], level * mp.standby_share, level)
    return np.round(level, 1)


def _bills(
    ctx: Context, meters: pd.DataFrame, cons: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mp = ctx.cfg.model
    ent = meters["ent"].to_numpy()
    elec = (meters["utility_type"] == "electricity").to_numpy()
    tariff = np.where(elec, mp.electricity_tariff, mp.water_tariff)[:, None]
    bill = np.round(cons * tariff, 2)
    st = ctx.world.state[ent]
    paid = rng.random(cons.shape) >= (
        np.array(mp.unpaid_bill)[st] + STRESS_WEIGHT_UNPAID * stress(ctx.world.e[ent], mp)
    )
    arrears = np.zeros(cons.shape)
    acc = np.zeros(len(ent))
    for t in range(cons.shape[1]):
        acc = np.where(paid[:, t], 0.0, acc + bill[:, t])
        arrears[:, t] = np.round(acc, 2)
    return bill, paid, arrears


def _future(delivery: np.datetime64):
    def shift(cols: dict, rows: np.ndarray, rng: np.random.Generator) -> list:
        period, out = cols["period"], []
        for r in rows:
            out.append({"column": "period", "original": period[r]})
            period[r] = fmt_month(delivery + int(rng.integers(1, FUTURE_MAX_MONTHS + 1)))
        return out

    return shift


def _unit_mix_mask(cols: dict) -> np.ndarray:
    return (cols["utility_type"] == "electricity") & (cols["unit"] == "kWh")


def _unit_mix_apply(cols: dict, rows: np.ndarray, rng: np.random.Generator) -> list:
    cons, unit, out = cols["consumption"], cols["unit"], []
    for r in rows:
        out.append({"column": "consumption", "original": float(cons[r]), "original_unit": "kWh"})
        cons[r] = round(cons[r] / KWH_PER_MWH, 4)
        unit[r] = "MWh"
    return out


def write_reads(ctx: Context) -> None:
    """Generate and write ``utility/utility_reads_YYYYMM.jsonl`` per delivery month."""
    rng = ctx.rng(SOURCE, 0)
    meters = _meters(ctx, rng)
    cons = _consumption(ctx, meters, rng)
    bill, paid, arrears = _bills(ctx, meters, cons, rng)
    ent = meters["ent"].to_numpy()
    tl, T = ctx.timeline, ctx.timeline.months
    unit = np.where(meters["utility_type"] == "water", "m3", np.where(meters["mwh_feed"], "MWh", "kWh")).astype(object)
    meter_ids = meters["meter_id"].to_numpy().astype(object)
    usccs = ctx.ents.uscc[ent].astype(object)
    kinds = meters["utility_type"].to_numpy().astype(object)
    scale = np.where(meters["mwh_feed"].to_numpy(), 1 / KWH_PER_MWH, 1.0)
    late = dirty.LateBuffer()
    roles = dirty.Roles(
        source=SOURCE,
        key=("meter_id", "period"),
        amounts=("consumption", "bill_amount"),
        uscc="uscc",
        extra={"unit_mix": (_unit_mix_mask, _unit_mix_apply)},
    )
    for t in ctx.progress(range(T), desc="utility"):
        d = t + 1
        period = tl.start + t
        delivery = period + 1
        frng = ctx.rng(SOURCE, 100 + d)
        end = (period + 1).astype("datetime64[D]") - 1
        read = end - frng.integers(0, READ_DAYS_BEFORE_END, len(ent))
        n = len(ent)
        cols = {
            "meter_id": meter_ids,
            "uscc": usccs,
            "utility_type": kinds,
            "period": np.full(n, fmt_month(period), dtype=object),
            "read_date": read.astype(str).astype(object),
            "consumption": np.round(cons[:, t] * scale, 4),
            "unit": unit,
            "bill_amount": bill[:, t],
            "paid_flag": paid[:, t],
            "arrears_amount": arrears[:, t],
        }
        path = ctx.out / "utility" / f"utility_reads_{yyyymm(delivery)}.jsonl"
        rel = ctx.rel(path)
        roles.future = _future(delivery)
        cols = dirty.inject(cols, roles, rel, ctx.rates, frng, ctx.log, late, d, T)
        held = dirty.release_late(late, d, roles, rel, ctx.log)
        if held is not None:
            cols = dirty.concat([cols, held])
        write_jsonl(cols, path)
        ctx.rows.add(SOURCE, rel, dirty.length(cols))
        maybe_truncate(path, ctx.out, SOURCE, ctx.rates["truncated_file"], frng, ctx.log)
