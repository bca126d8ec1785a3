"""How each source feed arrives: format, landing pattern, delivery date and lag.

A run for the Airflow data interval ``[start, end)`` ingests the files whose
*delivery date* falls in the interval. ``known_from`` in silver (the date a
record became available to the bank) is derived from the delivery date, so a
rebuild from the same files is reproducible and point-in-time queries respect
each feed's lag (tax filed by the 15th of the next month; utility reads about
10 days after the period; T+1 extracts the day after the business date; the risk
compensation fund's statement of a month on the 5th of the next month).

A file is ingested by the interval holding its nominal date, except the feeds whose
files are named by the period they cover and reach the bank in a later month
(``by_delivery``: yearly tax ratings, the fund's monthly statements): those are
ingested by the interval holding their delivery date, so a monthly run never looks
for a file that has not been delivered yet.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

# Day of the delivery month on which a monthly file is available to the bank.
# A monthly tax drop holds the returns filed during its month (returns are due by the
# 15th of the month after the period); it is complete, and available, on the next 1st.
UTILITY_FILE_AVAILABLE_DAY = 11  # meter reads arrive ~10 days after period end
T_PLUS = 1  # daily extracts arrive the day after the business date
RATINGS_FILE_MONTH = 5  # yearly rating files (named by publication year) land after spring publication
# The fund administrator's statement of month M (named by M) reaches the bank on this day of M+1:
# the balance of M's month-end is not known on that month-end.
FUND_STATEMENT_DAY = 5


def _month(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), 1)


def _day(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


@dataclass(frozen=True)
class SourceDef:
    """One feed.

    Attributes:
        name: source name, also the silver table name.
        fmt: csv, jsonl, parquet or rest.
        pattern: regex on the path relative to the landing root; group 1 is the file date.
        file_date: parses group 1 into the *nominal* date of the file.
        available: delivery date of a file given its nominal date (the known_from of its rows).
        columns: payload columns expected in the file, in order.
        by_delivery: the interval holding a file's delivery date ingests it (files named by the
            period they cover, delivered later); otherwise the interval holding its nominal date.
    """

    name: str
    fmt: str
    pattern: str
    file_date: Callable[[str], dt.date] | None
    available: Callable[[dt.date], dt.date]
    columns: tuple[str, ...]
    by_delivery: bool = False

    @property
    def bronze_table(self) -> str:
        return f"bronze_{self.name}"

    def match(self, rel_path: str) -> re.Match | None:
        return re.fullmatch(self.pattern, rel_path)

    def delivery_date(self, rel_path: str) -> dt.date | None:
        """Date the file became available, or None when the name carries no date."""
        found = self.match(rel_path)
        if found is None or self.file_date is None:
            return None
        return self.available(self.file_date(found.group(1)))


def _payload(table: str) -> tuple[str, ...]:
    from schemas.registry import get

    return tuple(c for c in get(f"bronze_{table}").columns if not c.startswith("_"))


def next_month(month: dt.date) -> dt.date:
    """First day of the month after ``month``'s (a monthly file's delivery month, a backfill's next cut)."""
    return dt.date(month.year, month.month, 1) + relativedelta(months=1)


def _same_day(day: dt.date) -> dt.date:
    return day


def fund_statement_delivery(month: dt.date) -> dt.date:
    """Day the statement of ``month`` (any day of it) reaches the bank: the ``FUND_STATEMENT_DAY`` of the next month."""
    return next_month(month).replace(day=FUND_STATEMENT_DAY)


SOURCES: dict[str, SourceDef] = {
    s.name: s
    for s in (
        SourceDef(
            "enterprises", "csv", r"registry/enterprises(?:_(\d{8}))?\.csv", None, _same_day, _payload("enterprises")
        ),
        SourceDef(
            "tax_filings",
            "csv",
            r"tax/filings/tax_filings_(\d{6})(?:_redelivery)?\.csv",
            _month,
            next_month,
            _payload("tax_filings"),
        ),
        SourceDef(
            "tax_ratings",
            "csv",
            r"tax/ratings/tax_ratings_(\d{4})\.csv",
            lambda y: dt.date(int(y), RATINGS_FILE_MONTH, 1),
            _same_day,
            _payload("tax_ratings"),
            by_delivery=True,
        ),
        SourceDef(
            "utility_reads",
            "jsonl",
            r"utility/utility_reads_(\d{6})(?:_redelivery)?\.jsonl",
            _month,
            lambda m: m.replace(day=UTILITY_FILE_AVAILABLE_DAY),
            _payload("utility_reads"),
        ),
        SourceDef("court_events", "rest", r"court/events\.jsonl", None, _same_day, _payload("court_events")),
        SourceDef(
            "transactions",
            "parquet",
            r"bank/transactions/transactions_(\d{8})\.parquet",
            _day,
            lambda d: d + dt.timedelta(days=T_PLUS),
            _payload("transactions"),
        ),
        SourceDef(
            "loans",
            "parquet",
            r"bank/loans/loans_(\d{8})\.parquet",
            _day,
            lambda d: d + dt.timedelta(days=T_PLUS),
            _payload("loans"),
        ),
        SourceDef(
            "loan_balances",
            "parquet",
            r"bank/loan_balances/loan_balances_(\d{8})\.parquet",
            _day,
            lambda d: d + dt.timedelta(days=T_PLUS),
            _payload("loan_balances"),
        ),
        SourceDef(
            "fund_statements",
            "csv",
            r"fund/statements/fund_statement_(\d{6})\.csv",
            _month,
            fund_statement_delivery,
            _payload("fund_statements"),
            by_delivery=True,
        ),
    )
}


def get_source(name: str) -> SourceDef:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES)}") from None
