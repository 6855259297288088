"""Months as the stages count them: a month is named by its first day."""

from __future__ import annotations

from datetime import date, timedelta


def month_start(value: date) -> date:
    """The first day of the month of `value`."""
    return value.replace(day=1)


def add_months(month: date, months: int) -> date:
    """First day of the month `months` after (negative: before) the month of `month`."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(month: date) -> date:
    """The last day of the month of `month`."""
    return add_months(month, 1) - timedelta(days=1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first` to `last` inclusive (first days)."""
    out, month = [], month_start(first)
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def month_runs(months: list[date]) -> list[str]:
    """Sorted months as runs of consecutive ones: ['2024-07..2025-06', '2025-09']."""
    runs: list[list[date]] = []
    for month in months:
        if runs and add_months(runs[-1][-1], 1) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return [f"{run[0]:%Y-%m}" + (f"..{run[-1]:%Y-%m}" if len(run) > 1 else "") for run in runs]


def runs_text(months: list[date]) -> str:
    """Sorted months in words, consecutive ones as one run: '2024-07..2025-06, 2025-09'."""
    return ", ".join(month_runs(months))
