"""Bank account transactions: T+1 daily Parquet extracts, vectorised across enterprises.

Inflows follow true sales (with seasonality and the shock; falsified tax sales do not show
up here); outflows follow a cost level that reacts to the account balance (which never goes
negative). In distress inflows dry up, cash withdrawals and counterparty concentration rise.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa

from riskpipe.simulate import dirty
from riskpipe.simulate import params as P
from riskpipe.simulate.context import Context
from riskpipe.simulate.entities import BRAND_CHARS
from riskpipe.simulate.timeline import yyyymmdd
from riskpipe.simulate.writers import BackgroundWriter, maybe_truncate, write_parquet

SOURCE = "bank"
POOL_SIZE = 20_000
POOL_PERSON_SHARE = 0.3
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅文斌"
CITIES = ("太原", "吕梁", "晋中", "临汾", "北京", "石家庄", "西安", "郑州")
TRADES = ("商贸", "物流", "食品", "农业科技", "包装材料", "机械设备", "超市", "供销")
AMOUNT_LOG_SD = 0.9
CASH_SIZE_FACTOR = 1.5
ACTIVITY_IN_BETA, ACTIVITY_OUT_BETA = 0.3, 0.15
COST_HEALTH_BETA = 0.1  # costs shrink a little when the business shrinks
OPENING_BALANCE_MONTHS = (0.3, 1.0)
HALTED_ACTIVITY = 0.15
OUT_BALANCE_RANGE = (0.5, 1.5)  # outflow multiplier range from the balance feedback
MAX_DEBIT_SHARE = 0.95  # one day's debits never exceed this share of the balance
FUTURE_DAYS = (30, 400)
SECONDS_WINDOWS = {"transfer": (8.5, 17.5), "online": (0.0, 24.0), "pos": (9.0, 21.0), "cash": (9.0, 16.0)}
CHANNELS = ("transfer", "online", "pos", "cash")
CREDIT_CHANNEL_P = (0.70, 0.20, 0.08, 0.02)
DEBIT_NONCASH_P = (0.55, 0.35, 0.10)
SCHEMA = pa.schema(
    [
        ("txn_id", pa.string()),
        ("account_id", pa.string()),
        ("uscc", pa.string()),
        ("txn_ts", pa.timestamp("us")),
        ("amount", pa.float64()),
        ("direction", pa.string()),
        ("counterparty_name", pa.string()),
        ("counterparty_account", pa.string()),
        ("channel", pa.string()),
        ("balance_after", pa.float64()),
    ]
)


def _pool(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Counterparty names and account numbers."""
    names = []
    for _ in range(POOL_SIZE):
        if rng.random() < POOL_PERSON_SHARE:
            names.append(
                SURNAMES[rng.integers(len(SURNAMES))]
                + "".join(GIVEN[j] for j in rng.integers(0, len(GIVEN), rng.integers(1, 3)))
            )
        else:
            a, b = rng.integers(0, len(BRAND_CHARS), 2)
            names.append(
                f"{CITIES[rng.integers(len(CITIES))]}{BRAND_CHARS[a]}{BRAND_CHARS[b]}"
                f"{TRADES[rng.integers(len(TRADES))]}有限公司"
            )
    accounts = np.char.add("6", rng.integers(10**17, 10**18 - 1, POOL_SIZE).astype(str))
    return np.array(names, dtype=object), accounts.astype(object)


class _Accounts:
    """Per-enterprise account state and monthly drivers."""

    def __init__(self, ctx: Context, rng: np.random.Generator):
        ents, w, mp, tl = ctx.ents, ctx.world, ctx.cfg.model, ctx.timeline
        n = len(ents)
        self.account = np.char.add("6217", rng.choice(10**12, n, replace=False).astype(str).astype("U12")).astype(
            object
        )
        size_rate = np.array(P.TXN_PER_DAY)[ents.size][:, None]
        act_in = np.clip(np.exp(ACTIVITY_IN_BETA * w.e), 0.2, 2.0) * np.where(w.halted, HALTED_ACTIVITY, 1)
        self.lam_in = size_rate * act_in
        self.lam_out = size_rate * np.clip(np.exp(ACTIVITY_OUT_BETA * w.e), 0.4, 1.5)
        bdays = tl.business_days_in_month()[None, :]
        inflow = w.sales * mp.collection_ratio
        self.mean_in = inflow / np.maximum(self.lam_in * bdays, 1e-9)
        level = ents.base_sales / 12
        self.cost_per_day = (level[:, None] * np.exp(COST_HEALTH_BETA * w.e)) / bdays
        self.target = level
        self.balance = np.round(level * rng.uniform(*OPENING_BALANCE_MONTHS, n), 2)
        self.k_cp = np.array(P.COUNTERPARTIES)[ents.size]
        self.cash_share = np.array(mp.cash_share)[w.state]
        self.gamma = np.array(mp.concentration_gamma)[w.state]


def _day(
    ctx: Context, acc: _Accounts, t: int, day: np.datetime64, pool: tuple, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Generate one business day's transactions (sorted by time) and update balances."""
    n = len(acc.balance)
    n_in, n_out = rng.poisson(acc.lam_in[:, t]), rng.poisson(acc.lam_out[:, t])
    ent = np.concatenate([np.repeat(np.arange(n), n_in), np.repeat(np.arange(n), n_out)])
    credit = np.arange(len(ent)) < n_in.sum()
    m = len(ent)
    noise = np.exp(AMOUNT_LOG_SD * rng.standard_normal(m) - AMOUNT_LOG_SD**2 / 2)
    feedback = np.clip(acc.balance / np.maximum(acc.target, 1), *OUT_BALANCE_RANGE)
    mean_out = acc.cost_per_day[:, t] * feedback / np.maximum(acc.lam_out[:, t], 1e-9)
    cash = ~credit & (rng.random(m) < acc.cash_share[ent, t])
    amount = np.where(credit, acc.mean_in[ent, t], mean_out[ent] * np.where(cash, CASH_SIZE_FACTOR, 1))
    amount = amount * noise
    debit_sum = np.bincount(ent, weights=np.where(credit, 0, amount), minlength=n)
    scale = np.minimum(1.0, MAX_DEBIT_SHARE * acc.balance / np.maximum(debit_sum, 1e-9))
    amount = np.maximum(np.round(np.where(credit, amount, amount * scale[ent]), 2), 0.01)
    ch_idx = np.where(
        credit,
        np.searchsorted(np.cumsum(CREDIT_CHANNEL_P), rng.random(m), side="right"),
        np.searchsorted(np.cumsum(DEBIT_NONCASH_P), rng.random(m), side="right"),
    )
    ci = np.where(cash, 3, np.minimum(ch_idx, 3))
    channel = np.array(CHANNELS, dtype=object)[ci]
    cash = ci == 3
    lo = np.array([SECONDS_WINDOWS[c][0] for c in CHANNELS])
    hi = np.array([SECONDS_WINDOWS[c][1] for c in CHANNELS])
    secs = ((lo[ci] + rng.random(m) * (hi[ci] - lo[ci])) * 3600).astype(np.int64)
    ts = day.astype("datetime64[us]") + (secs * 1_000_000).astype("timedelta64[us]")
    ts_int = ts.view(np.int64)
    order = np.lexsort((ts_int, ent))
    signed = np.where(credit, amount, -amount)[order]
    csum = np.cumsum(signed)
    e_sorted = ent[order]
    first = np.r_[0, np.flatnonzero(np.diff(e_sorted)) + 1]
    group_base = csum[first] - signed[first]
    counts = np.diff(np.r_[first, m])
    bal = acc.balance[e_sorted] + csum - np.repeat(group_base, counts)
    balance_after = np.empty(m)
    balance_after[order] = np.round(bal, 2)
    acc.balance = np.round(acc.balance + np.bincount(ent, weights=np.where(credit, amount, -amount), minlength=n), 2)
    u = rng.random(m)
    k = np.floor(acc.k_cp[ent] * u ** acc.gamma[ent, t]).astype(np.int64)
    pidx = (ent * 7919 + k * 104729 + credit * 15485863) % POOL_SIZE
    cp_name, cp_acct = pool[0][pidx], pool[1][pidx]
    cp_name = np.where(cash, np.where(credit, "现金存入", "现金支取"), cp_name)
    cp_acct = np.where(cash, None, cp_acct)
    final = np.lexsort((ent, ts_int))
    return {
        "txn_id": _txn_ids(yyyymmdd(day), m),
        "account_id": acc.account[ent][final],
        "uscc": ctx.ents.uscc[ent][final],
        "txn_ts": ts[final],
        "amount": amount[final],
        "direction": np.where(credit, "C", "D").astype(object)[final],
        "counterparty_name": cp_name[final],
        "counterparty_account": cp_acct[final],
        "channel": channel[final],
        "balance_after": balance_after[final],
    }


def _txn_ids(stamp: str, m: int) -> np.ndarray:
    """``TX<yyyymmdd><7-digit sequence>`` as a fixed-width bytes array (fast)."""
    prefix = np.frombuffer(f"TX{stamp}".encode("ascii"), dtype=np.uint8)
    seq = np.arange(1, m + 1)
    digits = ((seq[:, None] // 10 ** np.arange(6, -1, -1)) % 10 + 48).astype(np.uint8)
    buf = np.concatenate([np.broadcast_to(prefix, (m, len(prefix))), digits], axis=1)
    return np.ascontiguousarray(buf).view(f"S{buf.shape[1]}").ravel()


def _future(cols: dict, rows: np.ndarray, rng: np.random.Generator) -> list:
    ts, out = cols["txn_ts"], []
    for r in rows:
        out.append({"column": "txn_ts", "original": str(ts[r])})
        ts[r] = ts[r] + np.timedelta64(int(rng.integers(*FUTURE_DAYS)), "D")
    return out


def write_transactions(ctx: Context) -> None:
    """Write ``bank/transactions/transactions_YYYYMMDD.parquet`` for each business day."""
    rng = ctx.rng(SOURCE, 0)
    pool = _pool(rng)
    acc = _Accounts(ctx, rng)
    days = ctx.timeline.business_days()
    months = ctx.timeline.month_index(days)
    late = dirty.LateBuffer()
    roles = dirty.Roles(
        source=SOURCE,
        key=("txn_id",),
        amounts=("amount",),
        uscc="uscc",
        fullwidth="counterparty_account",
        future=_future,
    )
    last = len(days) - 1
    rate = ctx.rates["truncated_file"]
    with BackgroundWriter() as writer:
        for i, (day, t) in enumerate(ctx.progress(list(zip(days, months)), desc="transactions")):
            frng = ctx.rng(SOURCE, 1000 + i)
            cols = _day(ctx, acc, int(t), day, pool, frng)
            path = ctx.out / "bank" / "transactions" / f"transactions_{yyyymmdd(day)}.parquet"
            rel = ctx.rel(path)
            cols = dirty.inject(cols, roles, rel, ctx.rates, frng, ctx.log, late, i, last)
            held = dirty.release_late(late, i, roles, rel, ctx.log)
            if held is not None:
                cols = dirty.concat([cols, held])
            ctx.rows.add(SOURCE, rel, dirty.length(cols))
            writer.submit(
                write_parquet,
                cols,
                path,
                SCHEMA,
                after=partial(maybe_truncate, path, ctx.out, SOURCE, rate, frng, ctx.log),
            )
