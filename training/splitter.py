"""Temporal validation: expanding-window folds by inspection date. No random split anywhere.

Fold k validates on the inspections dated in [valid_from, valid_until] (whole months) and trains on
every inspection dated strictly before valid_from. The windows are consecutive and the last one
ends with the month of the last inspection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from training.labels import LABEL, add_months

FOLD_COLUMNS = ("fold", "train_until", "valid_from", "valid_until", "n_train", "n_valid", "positives")


@dataclass(frozen=True)
class TemporalSplitter:
    """Expanding-window folds over labelled rows dated by `inspection_date`.

    `n_folds` windows of `validation_months` months, the last ending with the last inspection's month;
    a fold must train on at least `min_train_rows` rows.
    """

    n_folds: int = 3
    validation_months: int = 6
    min_train_rows: int = 1
    date_column: str = "inspection_date"

    def folds(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The folds as a table: fold, train_until (last day trained on), valid_from, valid_until,
        n_train, n_valid, positives (in the validation window). Raises ValueError if a fold is empty."""
        dates = pd.to_datetime(rows[self.date_column]).dt.date
        if dates.empty:
            raise ValueError("no labelled rows to split")
        last = dates.max()
        end = add_months(date(last.year, last.month, 1), 1)  # first day after the last window
        records = []
        for k in range(self.n_folds):
            valid_from = add_months(end, -self.validation_months * (self.n_folds - k))
            valid_to = add_months(valid_from, self.validation_months)
            train = dates < valid_from
            valid = (dates >= valid_from) & (dates < valid_to)
            records.append(
                {
                    "fold": k + 1,
                    "train_until": valid_from - timedelta(days=1),
                    "valid_from": valid_from,
                    "valid_until": valid_to - timedelta(days=1),
                    "n_train": int(train.sum()),
                    "n_valid": int(valid.sum()),
                    "positives": int(rows.loc[valid.to_numpy(), LABEL].sum()) if LABEL in rows else 0,
                }
            )
        table = pd.DataFrame.from_records(records, columns=list(FOLD_COLUMNS))
        too_small = table[(table["n_train"] < self.min_train_rows) | (table["n_valid"] == 0)]
        if not too_small.empty:
            first = too_small.iloc[0]
            raise ValueError(
                f"fold {first['fold']} (validation {first['valid_from']} to {first['valid_until']}) has "
                f"{first['n_train']} training and {first['n_valid']} validation rows: need at least "
                f"{self.min_train_rows} and 1; use fewer folds or shorter validation windows"
            )
        return table

    def split(self, rows: pd.DataFrame) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(fold, train positions, validation positions) for each fold, positions into `rows`."""
        dates = pd.to_datetime(rows[self.date_column]).dt.date.to_numpy()
        for fold in self.folds(rows).itertuples(index=False):
            train = np.flatnonzero(dates < fold.valid_from)
            valid = np.flatnonzero((dates >= fold.valid_from) & (dates <= fold.valid_until))
            yield fold.fold, train, valid
