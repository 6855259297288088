"""French formatting shared by the lists, the explanations and the web pages: months, dates, times, percentages,
addresses."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

PARIS = ZoneInfo("Europe/Paris")
MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def missing(value: Any) -> bool:
    """None, NA, NaT or NaN."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def month_fr(month: date) -> str:
    """'mars 2025' for any day of March 2025."""
    return f"{MONTHS_FR[month.month - 1]} {month.year}"


def of_month_fr(month: date) -> str:
    """« d'octobre 2026 », « de mars 2026 »: the month after « de », elided before a vowel."""
    text = month_fr(month)
    return f"d'{text}" if text[0] in "aeiou" else f"de {text}"


def date_fr(value: Any, empty: str = "") -> str:
    """dd/mm/yyyy, or `empty` when missing."""
    if type(value) is pd.Timestamp:  # most cells (a datetime column's values): nothing to convert
        return value.strftime("%d/%m/%Y")
    stamp = pd.to_datetime(value, errors="coerce") if not missing(value) else pd.NaT
    return empty if pd.isna(stamp) else stamp.strftime("%d/%m/%Y")


def in_paris(moment: datetime) -> datetime:
    """A moment kept in UTC (naive, as the web application's database keeps it, or aware) in Paris time, summer time
    included."""
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(PARIS)


def paris_day_start(moment: datetime) -> datetime:
    """The start of the Paris day holding `moment` (kept in UTC, naive or aware), in UTC and naive, as the web
    application's database keeps its times."""
    midnight = in_paris(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC).replace(tzinfo=None)


def paris_time_fr(moment: datetime, seconds: bool = False) -> str:
    """`in_paris(moment)` as 'dd/mm/yyyy hh:mm', with ':ss' when `seconds`."""
    return in_paris(moment).strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M")


def number_fr(value: float, decimals: int = 0) -> str:
    """A number as French text: 12345.6 -> '12\u202f345,6' with decimals=1 (narrow no-break space)."""
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def signed_fr(value: float, decimals: int = 4) -> str:
    """A signed number as French text: 1.6487 -> '+1,6487' (a model's contribution, in log-odds)."""
    return f"{value:+.{decimals}f}".replace(".", ",")


def tiny_fr(value: float) -> str:
    """A tiny gap as French text: 3.3e-16 -> '3,3e-16'."""
    return f"{value:.1e}".replace(".", ",")


def count_fr(n: int, singular: str, plural: str | None = None) -> str:
    """'0 contrôle', '1 alerte', '2 alertes', '1\u202f234 constats': French takes the singular below 2."""
    return f"{number_fr(n)} {singular if abs(n) < 2 else plural or singular + 's'}"


def percent_fr(share: Any, decimals: int = 1) -> str:
    """A 0-1 share as French text: 0.382 -> '38,2 %' (narrow no-break space before %), '' when missing."""
    if missing(share):
        return ""
    return f"{100 * float(share):.{decimals}f}".replace(".", ",") + "\u202f%"


def address_fr(street: Any, postal_code: Any, city: Any) -> str:
    """An establishment's address on one line: '25 BOULEVARD VOLTAIRE, 75011 PARIS'; the parts not
    declared are left out, '' when none is."""
    town = " ".join(str(part) for part in (postal_code, city) if not missing(part) and str(part))
    return ", ".join(part for part in ("" if missing(street) else str(street), town) if part)
