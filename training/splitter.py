"""Temporal validation: expanding-window folds by inspection date. No random split anywhere.

Fold k validates on the inspections dated in [valid_from, valid_until] (whole months) and trains on
every inspection whose outcome was known strictly before valid_from: dated before valid_from less
`outcome_after_days` (`features.outcome_known_after_days`). A control of the weeks before the window
whose outcome was not known yet when the window starts is in neither: trained on, it would teach the
fold an outcome no one knew at its start. The windows are consecutive and the last one ends with the
month of the last inspection.

`choose_folds` fits the windows to the history: the configured number and length when every fold
then trains on enough rows, else shorter windows (keeping the number of folds), then fewer folds
(down to two), so that a year of inspections is enough to train.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.months import add_months
from training.labels import LABEL

FOLD_COLUMNS = ("fold", "train_until", "valid_from", "valid_until", "n_train", "n_valid", "positives")


@dataclass(frozen=True)
class TemporalSplitter:
    """Expanding-window folds over labelled rows dated by `inspection_date`.

    `n_folds` windows of `validation_months` months, the last ending with the last inspection's month;
    a fold must train on at least `min_train_rows` rows, whose outcomes were known `outcome_after_days` after
    their day, before the window.
    """

    n_folds: int = 3
    validation_months: int = 6
    min_train_rows: int = 1
    date_column: str = "inspection_date"
    # Required: a splitter that forgot it would train each fold on outcomes its window did not know yet.
    outcome_after_days: int = field(kw_only=True)

    def train_until(self, valid_from: date) -> date:
        """The last day of a control a fold validating from `valid_from` trains on (its outcome known the day
        before)."""
        return valid_from - timedelta(days=self.outcome_after_days + 1)

    def table(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The folds as a table, unchecked: fold, train_until (last day trained on), valid_from,
        valid_until, n_train, n_valid, positives (in the validation window)."""
        dates = pd.to_datetime(rows[self.date_column]).dt.date
        if dates.empty:
            raise ValueError("no labelled rows to split")
        last = dates.max()
        end = add_months(date(last.year, last.month, 1), 1)  # first day after the last window
        records = []
        for k in range(self.n_folds):
            valid_from = add_months(end, -self.validation_months * (self.n_folds - k))
            valid_to = add_months(valid_from, self.validation_months)
            train = dates <= self.train_until(valid_from)
            valid = (dates >= valid_from) & (dates < valid_to)
            records.append(
                {
                    "fold": k + 1,
                    "train_until": self.train_until(valid_from),
                    "valid_from": valid_from,
                    "valid_until": valid_to - timedelta(days=1),
                    "n_train": int(train.sum()),
                    "n_valid": int(valid.sum()),
                    "positives": int(rows.loc[valid.to_numpy(), LABEL].sum()) if LABEL in rows else 0,
                }
            )
        return pd.DataFrame.from_records(records, columns=list(FOLD_COLUMNS))

    def problem(self, table: pd.DataFrame) -> str | None:
        """Why a fold table cannot be used (the first fold with too few training or no validation rows), or None."""
        too_small = table[(table["n_train"] < self.min_train_rows) | (table["n_valid"] == 0)]
        if too_small.empty:
            return None
        first = too_small.iloc[0]
        known = (f" (it trains on the controls up to {first['train_until']}, whose outcomes were known before it: "
                 f"{self.outcome_after_days} days after the control, `features.outcome_known_after_days`)"
                 if self.outcome_after_days else "")
        return (f"fold {first['fold']} (validation {first['valid_from']} to {first['valid_until']}) has "
                f"{first['n_train']} training and {first['n_valid']} validation rows: need at least "
                f"{self.min_train_rows} and 1{known}")

    def folds(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The folds as a table (see `table`). Raises ValueError if a fold trains on too few rows or
        validates on none."""
        table = self.table(rows)
        problem = self.problem(table)
        if problem is not None:
            raise ValueError(f"{problem}; use fewer folds or shorter validation windows")
        return table

    def split(self, rows: pd.DataFrame) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(fold, train positions, validation positions) for each fold, positions into `rows`."""
        dates = pd.to_datetime(rows[self.date_column]).dt.date.to_numpy()
        for fold in self.folds(rows).itertuples(index=False):
            train = np.flatnonzero(dates <= fold.train_until)
            valid = np.flatnonzero((dates >= fold.valid_from) & (dates <= fold.valid_until))
            yield fold.fold, train, valid


@dataclass(frozen=True)
class FoldChoice:
    """The splitter chosen for a labelled set, and why, in words."""

    splitter: TemporalSplitter
    folds: pd.DataFrame
    as_configured: bool
    reason: str


def configured_problem(rows: pd.DataFrame, n_folds: int, validation_months: int, min_train_rows: int, *,
                       outcome_after_days: int) -> str | None:
    """Why `rows` (inspections, labelled or not) do not fill `n_folds` windows of `validation_months` months, each
    fold training on at least `min_train_rows` rows whose outcomes were known before it (`outcome_after_days` after
    their day) and validating on one (None when they do)."""
    if rows.empty:
        return "there is no inspection"
    configured = TemporalSplitter(n_folds, validation_months, min_train_rows, outcome_after_days=outcome_after_days)
    return configured.problem(configured.table(rows))


def folds_problem(rows: pd.DataFrame, n_folds: int, validation_months: int, min_train_rows: int, *,
                  outcome_after_days: int) -> str | None:
    """Why `rows` do not fill `n_folds` folds of windows of `validation_months` months, or shortened as `choose_folds`
    shortens them down to half of it (rounded up: shorter windows would validate on too few rows to compare models),
    or None when they do; the configured windows' problem (`configured_problem`)."""
    problem = configured_problem(rows, n_folds, validation_months, min_train_rows, outcome_after_days=outcome_after_days)
    if problem is None or rows.empty:
        return problem
    for months in range(validation_months - 1, (validation_months + 1) // 2 - 1, -1):
        candidate = TemporalSplitter(n_folds, months, min_train_rows, outcome_after_days=outcome_after_days)
        if candidate.problem(candidate.table(rows)) is None:
            return None
    return problem


def choose_folds(rows: pd.DataFrame, n_folds: int, validation_months: int, min_train_rows: int, *,
                 outcome_after_days: int) -> FoldChoice:
    """The folds that fit the history of `rows`: `n_folds` windows of `validation_months` months when every
    fold trains on at least `min_train_rows` rows (whose outcomes were known before it, `outcome_after_days` after
    their day) and validates on one; else, for n_folds, n_folds - 1, ... down to 2 folds, the longest windows (at
    most `validation_months`) that fit. Raises ValueError when even two one-month windows do not fit."""
    configured = TemporalSplitter(n_folds, validation_months, min_train_rows, outcome_after_days=outcome_after_days)
    first_problem = configured_problem(rows, n_folds, validation_months, min_train_rows,
                                       outcome_after_days=outcome_after_days)
    if first_problem is None:
        return FoldChoice(configured, configured.table(rows), True,
                          f"{n_folds} validation windows of {validation_months} months, as configured")
    for folds in range(n_folds, 1, -1):
        for months in range(validation_months, 0, -1):
            candidate = TemporalSplitter(folds, months, min_train_rows, outcome_after_days=outcome_after_days)
            table = candidate.table(rows)
            if candidate.problem(table) is None:
                return FoldChoice(candidate, table, False, (
                    f"{folds} validation windows of {months} months instead of the configured {n_folds} of "
                    f"{validation_months} months, with which {first_problem} (windows are shortened first, "
                    "then folds dropped, until every fold fits)"))
    raise ValueError(f"the inspections do not fill two folds: with the configured {n_folds} windows of "
                     f"{validation_months} months, {first_problem}; even two one-month windows do not fit "
                     f"(need at least {min_train_rows} inspections whose outcomes were known before the first: "
                     f"{outcome_after_days} days after the control, `features.outcome_known_after_days`)")
