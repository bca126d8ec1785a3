"""Calendar helpers: simulated months, business days and delivery dates.

Business days are Monday-Friday (public holidays are not modelled). Dates are numpy
``datetime64[D]``; months are ``datetime64[M]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Instalments and interest fall due on the 21st (rolled forward to a business day).
REPAY_DAY_OF_MONTH = 21
# How far before the window loan history (business-day calendar) reaches.
HISTORY_MONTHS = 40


def parse_month(text: str) -> np.datetime64:
    """Parse ``YYYY-MM`` into ``datetime64[M]``."""
    try:
        return np.datetime64(text, "M")
    except ValueError as exc:
        raise ValueError(f"expected YYYY-MM, got {text!r}") from exc


def fmt_month(month: np.datetime64) -> str:
    """Format a ``datetime64[M]`` as ``YYYY-MM``."""
    return str(np.datetime64(month, "M"))


def yyyymm(month: np.datetime64) -> str:
    """Format a month as ``YYYYMM`` (file-name form)."""
    return fmt_month(month).replace("-", "")


def yyyymmdd(day: np.datetime64) -> str:
    """Format a day as ``YYYYMMDD`` (file-name form)."""
    return str(np.datetime64(day, "D")).replace("-", "")


@dataclass(frozen=True)
class Timeline:
    """The simulated window.

    Attributes:
        start: First month of the window.
        months: Number of months.
    """

    start: np.datetime64
    months: int

    @classmethod
    def from_config(cls, start: str, months: int) -> Timeline:
        """Build from the ``--start`` / ``--months`` options."""
        return cls(parse_month(start), int(months))

    @property
    def month_array(self) -> np.ndarray:
        """The window's months as ``datetime64[M]`` (length ``months``)."""
        return self.start + np.arange(self.months)

    @property
    def end_month(self) -> np.datetime64:
        """Last month of the window."""
        return self.start + (self.months - 1)

    @property
    def first_day(self) -> np.datetime64:
        """First calendar day of the window."""
        return self.start.astype("datetime64[D]")

    @property
    def last_day(self) -> np.datetime64:
        """Last calendar day of the window."""
        return (self.end_month + 1).astype("datetime64[D]") - 1

    def calendar_months(self) -> tuple[np.ndarray, np.ndarray]:
        """Years and 1-based calendar months of every window month."""
        m = self.month_array.astype(int)
        return 1970 + m // 12, m % 12 + 1

    def periods(self) -> list[str]:
        """Window months as ``YYYY-MM`` strings."""
        return [fmt_month(m) for m in self.month_array]

    def business_days(self, history: bool = False) -> np.ndarray:
        """Business days of the window (optionally from ``HISTORY_MONTHS`` before it).

        Args:
            history: Start ``HISTORY_MONTHS`` before the window (for loan schedules).

        Returns:
            Sorted ``datetime64[D]`` array.
        """
        first = (self.start - (HISTORY_MONTHS if history else 0)).astype("datetime64[D]")
        days = np.arange(first, self.last_day + 1)
        return days[np.is_busday(days)]

    def month_index(self, days: np.ndarray) -> np.ndarray:
        """Window month index of each day (negative before the window)."""
        return (days.astype("datetime64[M]") - self.start).astype(int)

    def business_days_in_month(self) -> np.ndarray:
        """Number of business days in each window month."""
        starts = self.month_array.astype("datetime64[D]")
        ends = (self.month_array + 1).astype("datetime64[D]")
        return np.busday_count(starts, ends)


def roll_business(days: np.ndarray) -> np.ndarray:
    """Roll dates forward to the next business day (identity on business days)."""
    return np.busday_offset(np.asarray(days, dtype="datetime64[D]"), 0, roll="forward")


def repay_days(first_month: np.datetime64, last_month: np.datetime64) -> np.ndarray:
    """Instalment due dates (the 21st, rolled to a business day) for a month range."""
    months = np.arange(first_month, last_month + 1)
    return roll_business(months.astype("datetime64[D]") + (REPAY_DAY_OF_MONTH - 1))


def add_months(days: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Add whole months to dates, clipping the day to the target month's length."""
    days = np.asarray(days, dtype="datetime64[D]")
    month = days.astype("datetime64[M]")
    dom = (days - month.astype("datetime64[D]")).astype(int)
    target = month + np.asarray(n).astype(int)
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(int)
    return target.astype("datetime64[D]") + np.minimum(dom, length - 1)
