"""Core-banking loan ledger extracts: daily loan changes, daily balances and the fund's statements.

Writes ``bank/loans/loans_YYYYMMDD.parquet``, ``bank/loan_balances/loan_balances_YYYYMMDD.parquet``
(one file per business day of the window) and the risk compensation fund administrator's monthly
statements ``fund/statements/fund_statement_YYYYMM.csv`` (one per month of the window).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from riskpipe.simulate.context import Context
from riskpipe.simulate.loans import FAR_FUTURE
from riskpipe.simulate.timeline import repay_days, yyyymmdd
from riskpipe.simulate.writers import BackgroundWriter, write_csv, write_parquet
from schemas.sources import SHARED_FUND_POOL

LOAN_SCHEMA = pa.schema(
    [
        ("loan_id", pa.string()),
        ("uscc", pa.string()),
        ("product", pa.string()),
        ("principal", pa.float64()),
        ("credit_limit", pa.float64()),
        ("interest_rate", pa.float64()),
        ("start_date", pa.date32()),
        ("maturity_date", pa.date32()),
        ("guarantee_type", pa.string()),
        ("collateral_type", pa.string()),
        ("fund_coverage_share", pa.float64()),
        ("gov_recommended", pa.bool_()),
        ("status", pa.string()),
    ]
)
BALANCE_SCHEMA = pa.schema(
    [
        ("loan_id", pa.string()),
        ("uscc", pa.string()),
        ("as_of_date", pa.date32()),
        ("outstanding_principal", pa.float64()),
        ("undrawn_amount", pa.float64()),
        ("overdue_principal", pa.float64()),
        ("days_past_due", pa.int32()),
        ("repaid_amount", pa.float64()),
        ("status", pa.string()),
    ]
)


class _Book:
    """Loan arrays as integer day numbers for fast per-day evaluation."""

    def __init__(self, loans: pd.DataFrame, dues: np.ndarray):
        def days(col: str) -> np.ndarray:
            return loans[col].to_numpy().astype("datetime64[D]").astype(np.int64)

        self.loans = loans
        self.start, self.end, self.maturity = days("start"), days("end_date"), days("maturity")
        self.fm, self.restr = days("first_missed"), days("restructure_date")
        self.default, self.wo, self.stop = days("default_date"), days("write_off_date"), days("stop_day")
        self.dues = dues.astype(np.int64)
        self.principal = loans["principal"].to_numpy()
        self.limit = loans["credit_limit"].to_numpy()
        self.amort = loans["amortising"].to_numpy()
        self.n_inst = loans["term"].to_numpy()
        self.dpd90 = (loans["trigger"] == "dpd90").to_numpy()
        # instalments fall due from the month after the start month
        month_end = (self.start.astype("datetime64[D]").astype("datetime64[M]") + 1).astype("datetime64[D]").astype(
            np.int64
        ) - 1
        self.c_start = np.searchsorted(self.dues, month_end, side="right")
        self.paid_before_stop = np.searchsorted(self.dues, self.fm - 1, side="right") - self.c_start
        self.ids = loans["loan_id"].to_numpy()
        self.uscc = loans["uscc"].to_numpy()

    def outstanding_after_stop(self) -> np.ndarray:
        """Outstanding principal once payments stopped (the write-off amount)."""
        paid = np.clip(self.paid_before_stop, 0, self.n_inst)
        return np.where(self.amort, np.round(self.principal * (1 - paid / self.n_inst), 2), self.principal)

    def day(self, d: int) -> dict[str, np.ndarray]:
        """Balance rows of business day ``d`` (days since the epoch)."""
        i = np.flatnonzero((self.start <= d) & (d <= self.end))
        n_inst, amort, principal = self.n_inst[i], self.amort[i], self.principal[i]
        c_d = np.searchsorted(self.dues, d, side="right")
        n_due = np.clip(c_d - self.c_start[i], 0, n_inst)
        n_paid = np.minimum(n_due, np.maximum(self.paid_before_stop[i], 0))
        inst = principal / n_inst
        out = np.where(amort, np.round(principal - n_paid * inst, 2), principal)
        is_due_day = c_d > 0 and self.dues[c_d - 1] == d
        repaid = np.where(
            amort & is_due_day & (d < self.fm[i]) & (n_due <= n_inst) & (n_due > 0) & (d > self.start[i]),
            np.round(inst, 2),
            0.0,
        )
        restructured = d >= self.restr[i]
        arrears = (d >= self.fm[i]) & ~restructured
        dpd = np.where(arrears, d - self.fm[i], 0)
        accelerated = arrears & ((self.dpd90[i] & (d >= self.default[i])) | (d > self.maturity[i]))
        overdue = np.where(accelerated, out, np.where(arrears & amort, (n_due - n_paid) * inst, 0.0))
        undrawn = np.where(amort | (d >= self.stop[i]), 0.0, self.limit[i] - principal)
        status = np.where(restructured, "restructured", "active").astype(object)
        written_off = d == self.wo[i]
        closed = (d == self.end[i]) & ~written_off
        repaid = np.where(closed, out, repaid)
        status[closed], status[written_off] = "closed", "written_off"
        out = np.where(closed | written_off, 0.0, out)
        overdue = np.where(closed | written_off, 0.0, overdue)
        return {
            "loan_id": self.ids[i],
            "uscc": self.uscc[i],
            "as_of_date": np.full(len(i), d).astype("datetime64[D]"),
            "outstanding_principal": out,
            "undrawn_amount": np.round(undrawn, 2),
            "overdue_principal": np.round(overdue, 2),
            "days_past_due": dpd.astype(np.int32),
            "repaid_amount": np.round(repaid, 2),
            "status": status,
        }


def _loan_events(book: _Book, first_day: int) -> pd.DataFrame:
    """Contract rows per day: origination, restructuring, write-off, closure."""
    loans = book.loans
    base = pd.DataFrame({"idx": np.arange(len(loans))})
    opened = base.assign(day=np.maximum(book.start, first_day), status="active", maturity=book.maturity)
    opened = opened[book.end >= first_day]
    restr = base.assign(day=book.restr, status="restructured", maturity=book.end)
    far = int(FAR_FUTURE.astype(np.int64))
    restr = restr[book.restr < far]
    wo = base.assign(day=book.wo, status="written_off", maturity=book.maturity)
    wo = wo[book.wo < far]
    closed = base.assign(
        day=book.end, status="closed", maturity=np.where(book.restr <= book.end, book.end, book.maturity)
    )
    closed = closed[book.wo != book.end]
    ev = pd.concat([opened, restr, wo, closed], ignore_index=True)
    return ev.sort_values(["day", "idx"], kind="stable")


def _loan_rows(book: _Book, ev: pd.DataFrame) -> dict[str, np.ndarray]:
    loans = book.loans.iloc[ev["idx"].to_numpy()]
    return {
        "loan_id": loans["loan_id"].to_numpy(),
        "uscc": loans["uscc"].to_numpy(),
        "product": loans["product_name"].to_numpy(),
        "principal": loans["principal"].to_numpy(),
        "credit_limit": loans["credit_limit"].to_numpy(),
        "interest_rate": loans["interest_rate"].to_numpy(),
        "start_date": loans["start"].to_numpy().astype("datetime64[D]"),
        "maturity_date": ev["maturity"].to_numpy().astype("datetime64[D]"),
        "guarantee_type": loans["guarantee_type"].to_numpy(),
        "collateral_type": loans["collateral_type"].to_numpy(),
        "fund_coverage_share": loans["fund_coverage_share"].to_numpy(),
        "gov_recommended": loans["gov_recommended"].to_numpy(),
        "status": ev["status"].to_numpy(),
    }


def write_ledger(ctx: Context, loans: pd.DataFrame) -> None:
    """Write daily loan-change and balance extracts for every business day of the window."""
    tl = ctx.timeline
    starts = loans["start"].to_numpy().astype("datetime64[M]")
    first_month = min(starts.min(), tl.start) if len(loans) else tl.start
    dues = repay_days(first_month - 1, tl.end_month + 60)
    book = _Book(loans, dues)
    days = tl.business_days()
    first = int(days[0].astype(np.int64))
    ev = _loan_events(book, first)
    groups = {int(k): g for k, g in ev.groupby("day", sort=True)}
    with BackgroundWriter() as writer:
        for day in ctx.progress(days, desc="loans"):
            d = int(day.astype(np.int64))
            stamp = yyyymmdd(day)
            path = ctx.out / "bank" / "loans" / f"loans_{stamp}.parquet"
            g = groups.get(d, ev.iloc[:0])
            writer.submit(write_parquet, _loan_rows(book, g), path, LOAN_SCHEMA)
            ctx.rows.add("loans", ctx.rel(path), len(g))
            path = ctx.out / "bank" / "loan_balances" / f"loan_balances_{stamp}.parquet"
            rows = book.day(d)
            writer.submit(write_parquet, rows, path, BALANCE_SCHEMA)
            ctx.rows.add("loan_balances", ctx.rel(path), len(rows["loan_id"]))
    write_fund(ctx, book)


def fund_months(ctx: Context, book: _Book) -> pd.DataFrame:
    """The fund's months: ``date`` (month-end), ``balance`` at it, ``contributions`` and ``payouts`` in it.

    The government contributes ``fund_initial_ratio`` of the Y-model principal outstanding at
    the window start, then ``fund_annual_topup_ratio`` of it every January. On each write-off
    of a Y-model loan the fund pays ``fund_coverage_share`` x written-off principal, capped by
    its balance. Amounts are rounded to the cent.
    """
    mp, tl = ctx.cfg.model, ctx.timeline
    loans = book.loans
    y = (loans["fund_coverage_share"] > 0).to_numpy()
    claim = book.outstanding_after_stop() * loans["fund_coverage_share"].to_numpy() * y
    wo_month = tl.month_index(book.wo.astype("datetime64[D]"))
    balance, rows = 0.0, []
    _, cal = tl.calendar_months()
    for t, month in enumerate(tl.month_array):
        first = int(month.astype("datetime64[D]").astype(np.int64))
        active_y = y & (book.start <= first) & (book.end >= first)
        contrib = 0.0
        if t == 0:
            contrib = mp.fund_initial_ratio * book.principal[active_y].sum()
        elif cal[t] == 1:
            contrib = mp.fund_annual_topup_ratio * book.principal[active_y].sum()
        balance += contrib
        payout = min(claim[(wo_month == t) & (book.wo <= int(tl.last_day.astype(np.int64)))].sum(), balance)
        balance -= payout
        rows.append(
            {
                "date": str((month + 1).astype("datetime64[D]") - 1),
                "balance": round(balance, 2),
                "contributions": round(contrib, 2),
                "payouts": round(payout, 2),
            }
        )
    return pd.DataFrame(rows)


def write_fund(ctx: Context, book: _Book) -> None:
    """``fund/statements/fund_statement_YYYYMM.csv``: the administrator's statement of each month of the window.

    One row per statement (the simulated fund has one pool, the shared one): ``pool``,
    ``statement_date`` (month-end), ``opening_balance`` (the previous statement's closing balance, 0
    before the first), ``contributions``, ``payouts`` and ``closing_balance`` of :func:`fund_months`.
    The bank receives the statement of month M on the 5th of M+1 (``schemas.feeds.FUND_STATEMENT_DAY``).
    """
    months = fund_months(ctx, book)
    opening = months["balance"].shift(1, fill_value=0.0)
    for i, row in months.iterrows():
        statement = pd.DataFrame(
            {
                "pool": [SHARED_FUND_POOL],
                "statement_date": [row["date"]],
                "opening_balance": [opening[i]],
                "contributions": [row["contributions"]],
                "payouts": [row["payouts"]],
                "closing_balance": [row["balance"]],
            }
        )
        path = ctx.out / "fund" / "statements" / f"fund_statement_{row['date'][:4]}{row['date'][5:7]}.csv"
        write_csv(statement, path)
        ctx.rows.add("fund", ctx.rel(path), 1)
