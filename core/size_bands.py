"""Establishment size bands by headcount, as the training report, the audit and the simulated truth name them."""

from __future__ import annotations

import math

SIZE_BANDS = ((0, 9, "0-9"), (10, 49, "10-49"), (50, 249, "50-249"), (250, 10**9, "250+"))


def size_band(headcount: float | str | None) -> str:
    """Headcount band: 0-9, 10-49, 50-249, 250+; 'unknown' when missing or unreadable (None, NA, NaN, text)."""
    if headcount is None:
        return "unknown"
    try:
        value = float(headcount)
    except (TypeError, ValueError):
        return "unknown"
    if math.isnan(value):
        return "unknown"
    return next(name for low, high, name in SIZE_BANDS if low <= value <= high)
