"""Days and months as integers: a day is the number of days since 1970-01-01, a month index counts
from the first simulated month (0) and may be negative before it."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from features.branch_agreements import QUARTER_21_CALENDAR, STATUTORY

EPOCH = dt.date(1970, 1, 1)
OPEN_FOREVER = 2**31 - 1  # end day of a contract with no end


def day_of(date: dt.date) -> int:
    """Day number of a date."""
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    """Date of a day number."""
    return EPOCH + dt.timedelta(days=int(day))


# First day of every month from 1940-01 to 2059-12, for scalar look-ups in the generators' hot loops.
_MONTH_FIRST_DAYS: list[int] = (
    np.arange(-360, 1080).astype("datetime64[M]").astype("datetime64[D]").astype("int64").tolist()
)


def month_of(day: int) -> int:
    """Months since 1970-01 of one day number (scalar, fast)."""
    return bisect_right(_MONTH_FIRST_DAYS, day) - 1 - 360


def first_day_of(absolute: int) -> int:
    """First day of a month given as months since 1970-01 (scalar)."""
    return _MONTH_FIRST_DAYS[absolute + 360]


def absolute_month(days: np.ndarray | int) -> np.ndarray | int:
    """Months since 1970-01 of day numbers (vectorised)."""
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype("int64")


def month_first_days(days: np.ndarray) -> np.ndarray:
    """First day of the month of each day number (vectorised)."""
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype(
        "datetime64[D]").astype("int64")


def sundays_up_to(day: np.ndarray | int) -> np.ndarray | int:
    """Number of Sundays among days 0..day (1970-01-04, day 3, was a Sunday)."""
    return np.floor_divide(np.asarray(day) - 3, 7) + 1


def opening_days_between(previous_end: np.ndarray | int, next_start: np.ndarray | int) -> np.ndarray | int:
    """Opening days (Monday to Saturday) strictly between two days; 0 when they touch or overlap."""
    previous_end = np.asarray(previous_end)
    next_start = np.asarray(next_start)
    calendar_days = np.maximum(next_start - previous_end - 1, 0)
    sundays = sundays_up_to(next_start - 1) - sundays_up_to(previous_end)
    return np.where(calendar_days > 0, calendar_days - sundays, 0)


def day_after_opening_days(day: int, opening_days: int) -> int:
    """The first day after `day` that leaves `opening_days` opening days (Monday to Saturday) in between."""
    next_day = day + 1
    while opening_days > 0:
        if (next_day + 3) % 7 != 6:  # not a Sunday
            opening_days -= 1
        next_day += 1
    return next_day


def days_waited(previous_end: np.ndarray | int, next_start: np.ndarray | int,
                carence: np.ndarray | str = STATUTORY) -> np.ndarray | int:
    """Days strictly between two contracts as the rule `carence` counts them: calendar days for a branch's
    quarter, else opening days (Monday to Saturday)."""
    calendar_days = np.maximum(np.asarray(next_start) - np.asarray(previous_end) - 1, 0)
    return np.where(np.asarray(carence) == QUARTER_21_CALENDAR, calendar_days,
                    opening_days_between(previous_end, next_start))


def day_after_waiting(day: int, days: int, carence: str = STATUTORY) -> int:
    """The first day after `day` that leaves `days` days in between, counted as the rule `carence` does."""
    return day + 1 + days if carence == QUARTER_21_CALENDAR else day_after_opening_days(day, days)


@dataclass(frozen=True)
class Period:
    """The simulated months: `first_month` ("YYYY-MM") and `n_months` months."""

    first_month: str
    n_months: int

    @cached_property
    def first_absolute_month(self) -> int:
        year, month = (int(part) for part in self.first_month.split("-"))
        return (year - 1970) * 12 + month - 1

    def month_start(self, index: int) -> int:
        """First day of month `index`."""
        return first_day_of(self.first_absolute_month + int(index))

    def month_end(self, index: int) -> int:
        """Last day of month `index`."""
        return self.month_start(index + 1) - 1

    @cached_property
    def month_starts(self) -> np.ndarray:
        """First day of each simulated month, plus the day after the period."""
        return np.array([self.month_start(k) for k in range(self.n_months + 1)], dtype="int64")

    @property
    def first_day(self) -> int:
        return int(self.month_starts[0])

    @property
    def last_day(self) -> int:
        return int(self.month_starts[-1]) - 1

    def month_index(self, days: np.ndarray | int) -> np.ndarray | int:
        """Month index of day numbers (negative before the period)."""
        return absolute_month(days) - self.first_absolute_month

    def year_month(self, index: int) -> tuple[int, int]:
        """(year, month) of month `index`."""
        absolute = self.first_absolute_month + index
        return 1970 + absolute // 12, absolute % 12 + 1

    def label(self, index: int) -> str:
        """"YYYY-MM" of month `index`."""
        year, month = self.year_month(index)
        return f"{year:04d}-{month:02d}"


class DateFormatter:
    """DDMMYYYY strings of day numbers, cached: the same few thousand days are formatted millions of times."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, day: int) -> str:
        text = self._cache.get(day)
        if text is None:
            date = date_of(day)
            text = f"{date.day:02d}{date.month:02d}{date.year:04d}"
            self._cache[day] = text
        return text
