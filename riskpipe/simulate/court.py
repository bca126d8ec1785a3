"""Court / enforcement event stream (``court/events.jsonl``, also served by the REST API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from riskpipe.simulate import dirty
from riskpipe.simulate import params as P
from riskpipe.simulate.context import Context
from riskpipe.simulate.health import NORMAL
from riskpipe.simulate.writers import maybe_truncate, write_jsonl, write_parquet

SOURCE = "court"
CAUSES = ("loan_dispute", "labour", "contract", "other")
CAUSE_P_NORMAL = (0.1, 0.15, 0.55, 0.2)
CAUSE_P_DISTRESS = (0.45, 0.25, 0.25, 0.05)
CAUSE_P_PLAINTIFF = (0.0, 0.0, 0.7, 0.3)
CLAIM_SHARE_OF_SALES = (0.01, 0.2)  # claim amount as a share of annual sales (log-uniform)
ENFORCE_INTERCEPT, ENFORCE_SLOPE = -1.0, 1.5
LISTING_PROB, REMOVAL_PROB = 0.5, 0.3
PUBLISH_LAG_DAYS = (1, 11)
PARTY_USCC_SHARE = 0.15
EXACT_NAME_SHARE = 0.5
FUTURE_DAYS = (30, 400)
STATUS = {
    "case_filed": "filed",
    "enforcement": "enforcing",
    "dishonest_listed": "listed",
    "dishonest_removed": "removed",
    "case_closed": "closed",
}
TYPE_ORDER = {k: i for i, k in enumerate(STATUS)}
COLUMNS = [
    "event_id",
    "case_id",
    "event_type",
    "event_date",
    "published_date",
    "party_name",
    "party_uscc",
    "role",
    "cause",
    "amount",
    "status",
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def name_variant(name: str, rng: np.random.Generator) -> str:
    """A realistic non-registered spelling of a company name (as courts type them)."""
    if rng.random() < EXACT_NAME_SHARE:
        return name
    out = name
    ops = rng.permutation(4)[: int(rng.integers(1, 3))]
    for op in ops:
        if op == 0:
            out = out.replace("（", "(").replace("）", ")")
        elif op == 1:
            if "有限责任公司" in out:
                out = out.replace("有限责任公司", "有限公司")
            elif out.endswith("有限公司") and "股份" not in out:
                out = out[: -len("有限公司")] + "有限责任公司"
        elif op == 2:
            pos = int(rng.integers(1, len(out)))
            out = out[:pos] + " " + out[pos:] if rng.random() < 0.7 else out + " "
        else:
            out = dirty.to_fullwidth(out.replace(" ", ""))
    return out


def _cases(ctx: Context, rng: np.random.Generator) -> pd.DataFrame:
    """Case filings: defendant cases rise as health falls; plaintiff cases are flat."""
    w, mp, ents, tl = ctx.world, ctx.cfg.model, ctx.ents, ctx.timeline
    lam_def = mp.defendant_base * np.exp(-mp.defendant_health_slope * w.e) + np.array(mp.defendant_state_rate)[w.state]
    n_def = rng.poisson(lam_def)
    n_pl = rng.poisson(mp.plaintiff_rate, w.e.shape)
    frames = []
    for role, counts in (("defendant", n_def), ("plaintiff", n_pl)):
        ii, tt = np.nonzero(counts)
        reps = counts[ii, tt]
        ii, tt = np.repeat(ii, reps), np.repeat(tt, reps)
        frames.append(pd.DataFrame({"ent": ii, "t": tt, "role": role}))
    cases = pd.concat(frames, ignore_index=True).sort_values(["t", "ent", "role"], kind="stable")
    ii, tt = cases["ent"].to_numpy(), cases["t"].to_numpy()
    k = len(cases)
    days_in = (tl.start + tt + 1).astype("datetime64[D]") - (tl.start + tt).astype("datetime64[D]")
    filed = (tl.start + tt).astype("datetime64[D]") + (rng.random(k) * days_in.astype(int)).astype(int)
    distress = w.state[ii, tt] != NORMAL
    u = rng.random(k)
    cum_n, cum_d, cum_p = (np.cumsum(p) for p in (CAUSE_P_NORMAL, CAUSE_P_DISTRESS, CAUSE_P_PLAINTIFF))
    cause_idx = np.where(
        cases["role"] == "plaintiff",
        np.searchsorted(cum_p, u, side="right"),
        np.where(distress, np.searchsorted(cum_d, u, side="right"), np.searchsorted(cum_n, u, side="right")),
    )
    lo, hi = np.log(CLAIM_SHARE_OF_SALES)
    amount = np.round(ents.base_sales[ii] * np.exp(rng.uniform(lo, hi, k)), 2)
    seq = np.arange(k) + 1
    case_id = [f"（{str(d)[:4]}）晋{P.COUNTY_CODES[c][2:]}民初{s}号" for d, c, s in zip(filed, ents.county[ii], seq)]
    return pd.DataFrame(
        {
            "ent": ii,
            "t": tt,
            "role": cases["role"].to_numpy(),
            "filed": filed,
            "cause": np.array(CAUSES)[np.minimum(cause_idx, 3)],
            "amount": amount,
            "e": w.e[ii, tt],
            "case_id": case_id,
        }
    )


def _events(cases: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Expand each case into its life-cycle events."""
    k = len(cases)
    filed = cases["filed"].to_numpy().astype("datetime64[D]")
    defendant = (cases["role"] == "defendant").to_numpy()
    enforce = defendant & (rng.random(k) < _sigmoid(ENFORCE_INTERCEPT - ENFORCE_SLOPE * cases["e"]))
    enf_date = filed + rng.integers(60, 181, k)
    listed = enforce & (rng.random(k) < LISTING_PROB)
    list_date = enf_date + rng.integers(30, 91, k)
    removed = listed & (rng.random(k) < REMOVAL_PROB)
    rem_date = list_date + rng.integers(90, 361, k)
    close_date = np.where(
        removed, rem_date, np.where(enforce, enf_date + rng.integers(60, 241, k), filed + rng.integers(60, 301, k))
    )
    closed = ~listed | removed
    amount = cases["amount"].to_numpy()
    enf_amount = np.round(amount * rng.uniform(0.8, 1.1, k), 2)
    parts = [
        ("case_filed", np.ones(k, bool), filed, amount),
        ("enforcement", enforce, enf_date, enf_amount),
        ("dishonest_listed", listed, list_date, enf_amount),
        ("dishonest_removed", removed, rem_date, enf_amount),
        ("case_closed", closed, close_date, amount),
    ]
    frames = []
    for etype, mask, date, amt in parts:
        sub = cases.loc[mask, ["ent", "case_id", "role", "cause"]].copy()
        sub["event_type"], sub["event_date"], sub["amount"] = etype, date[mask], amt[mask]
        frames.append(sub)
    return pd.concat(frames, ignore_index=True)


def _future(cols: dict, rows: np.ndarray, rng: np.random.Generator) -> list:
    event, pub, out = cols["event_date"], cols["published_date"], []
    for r in rows:
        out.append({"column": "event_date", "original": event[r]})
        event[r] = str(np.datetime64(pub[r]) + int(rng.integers(*FUTURE_DAYS)))
    return out


def write_events(ctx: Context) -> None:
    """Generate and write ``court/events.jsonl`` (+ ``truth/court_parties.parquet``)."""
    rng = ctx.rng(SOURCE, 0)
    ev = _events(_cases(ctx, rng), rng)
    ev = ev[ev["event_date"].to_numpy().astype("datetime64[D]") <= ctx.timeline.last_day].copy()
    event_day = ev["event_date"].to_numpy().astype("datetime64[D]")
    ev["event_date"] = event_day.astype(str)
    ev["published_date"] = (event_day + rng.integers(*PUBLISH_LAG_DAYS, len(ev))).astype(str)
    ev["_order"] = ev["event_type"].map(TYPE_ORDER)
    ev = ev.sort_values(["event_date", "case_id", "_order"], kind="stable").reset_index(drop=True)
    ev["event_id"] = [f"CE{i:09d}" for i in range(1, len(ev) + 1)]
    ent = ev["ent"].to_numpy()
    ev["party_name"] = [name_variant(n, rng) for n in ctx.ents.names[ent]]
    has_code = rng.random(len(ev)) < PARTY_USCC_SHARE
    ev["party_uscc"] = np.where(has_code, ctx.ents.uscc[ent], None)
    ev["status"] = ev["event_type"].map(STATUS)
    ev["amount"] = ev["amount"].astype(float)
    truth = pd.DataFrame({"event_id": ev["event_id"], "uscc": ctx.ents.uscc[ent]})
    write_parquet(
        truth,
        ctx.out / "truth" / "court_parties.parquet",
        pa.schema([("event_id", pa.string()), ("uscc", pa.string())]),
    )
    path = ctx.out / "court" / "events.jsonl"
    rel = ctx.rel(path)
    roles = dirty.Roles(source=SOURCE, key=("event_id",), amounts=("amount",), uscc="party_uscc", future=_future)
    frng = ctx.rng(SOURCE, 1)
    cols = {c: ev[c].to_numpy() for c in COLUMNS}
    cols = {c: v if v.dtype.kind in "fb" else v.astype(object) for c, v in cols.items()}
    out = dirty.inject(cols, roles, rel, ctx.rates, frng, ctx.log)
    write_jsonl(out, path)
    ctx.rows.add(SOURCE, rel, dirty.length(out))
    maybe_truncate(path, ctx.out, SOURCE, ctx.rates["truncated_file"], frng, ctx.log)
