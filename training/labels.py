"""Labelled rows from past inspections: the establishment as last fully known before the visit, and its outcome.

An inspection dated in month M uses the features as of month M-1 (the last month fully declared
before the visit): an inspection on 2025-06-15 or on 2025-06-01 uses features as of 2025-05. An
establishment inspected twice gives two rows at two dates.

`build_labelled_set` can leave out, with the reason, an inspection whose as-of month's window, or the month before it
(where the headcount growth starts), holds a month the warehouse declares nothing for: one before its first declared
month, or a gap (a month never ingested). Its features would count the window's hires, days and growth over part of
it (a month six months after the first declared one counts its twelve-month hires over seven), rows unlike those of
any month scored later. Training does so when the other inspections still fill its folds
(`training.pipeline.load_training_data`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from core.months import add_months, months_between
from features.asof import declared_span, undeclared_in_window
from features.store import StoredFeatures

LABEL = "abuse_found"
LEFT_OUT_COLUMNS = ("siret", "inspection_date", "as_of", "reason")


def one_outcome(labels: np.ndarray) -> int | None:
    """The outcome (0 or 1) all of `labels` (LABEL values) have, None when both are there (no label: 0). On one
    outcome alone nothing can be learned, nor two rankings told apart."""
    found = int(np.sum(labels))
    return None if 0 < found < len(labels) else int(found > 0)


def label_as_of(inspection_date: date) -> date:
    """The month whose features describe an establishment inspected on `inspection_date` (the month before)."""
    return add_months(date(inspection_date.year, inspection_date.month, 1), -1)


def needed_months(inspections: pd.DataFrame) -> list[date]:
    """The as-of months of the inspections, contiguous from the first to the last (empty when none).

    Months without an inspection are kept: they are the negatives of the inspection-propensity model.
    """
    if inspections.empty:
        return []
    dates = pd.to_datetime(inspections["inspection_date"])
    return months_between(label_as_of(dates.min().date()), label_as_of(dates.max().date()))


@dataclass(frozen=True)
class LabelledSet:
    """One row per inspection with the features as of the month before it; and the inspections left out."""

    rows: pd.DataFrame  # features + inspection_date + abuse_found, sorted by inspection_date, siret
    left_out: pd.DataFrame  # siret, inspection_date, as_of, reason

    @property
    def months(self) -> list[str]:
        """The as-of months of the labelled rows, 'YYYY-MM'."""
        return sorted({f"{m:%Y-%m}" for m in pd.to_datetime(self.rows["as_of"])})


def _rows_of(tables: Mapping[date, pd.DataFrame], month: date, sirets: set[str]) -> pd.DataFrame:
    """The rows of the month's feature table whose SIRET is among `sirets`; of a stored table, only they are read into
    pandas (`features.store.StoredFeatures.take`: a few thousand rows of a national month's 1.8 M)."""
    if isinstance(tables, StoredFeatures):
        return tables.take(month, np.flatnonzero(tables.sirets(month).isin(sirets).to_numpy()))
    table = tables[month]
    return table[table["siret"].astype(str).isin(sirets)]


def build_labelled_set(inspections: pd.DataFrame, features_by_month: Mapping[date, pd.DataFrame],
                       declared: list[date] | None = None, window_months: int = 12,
                       partial_left_out: Collection[date] | None = None) -> LabelledSet:
    """Join each inspection to its establishment's features as of the month before the inspection.

    `inspections` has siret, inspection_date, abuse_found; `features_by_month` maps an as-of month
    (first day) to its feature table. An inspection whose month has no feature table, or whose
    establishment is absent from it, is left out with the reason; nothing is dropped silently. So is one whose
    as-of month's window of `window_months`, or the month before it, holds a month not among the warehouse's
    `declared` months (sorted; when given: module docstring), if it is among `partial_left_out` (None: every such month).
    """
    required = {"siret", "inspection_date", LABEL}
    missing = required - set(inspections.columns)
    if missing:
        raise ValueError(f"inspections lack column(s) {sorted(missing)}")
    visits = inspections[["siret", "inspection_date", LABEL]].copy()
    visits["siret"] = visits["siret"].astype(str)
    visits["inspection_date"] = pd.to_datetime(visits["inspection_date"]).astype("datetime64[s]")
    visits["as_of"] = [label_as_of(d.date()) for d in visits["inspection_date"]]
    rows, left_out = [], []
    known, span = set(declared or ()), declared_span(declared) if declared else ""
    for as_of, group in visits.groupby("as_of", sort=True):
        undeclared = undeclared_in_window(as_of, known, window_months) if as_of in known else []
        if undeclared and (partial_left_out is None or as_of in partial_left_out):
            left_out.append(group.assign(
                reason=f"features as of {as_of:%Y-%m} would read {window_months + 1 - len(undeclared)} of the "
                       f"{window_months + 1} months of their window and the month before it ({span})"))
            continue
        if as_of not in features_by_month:
            left_out.append(group.assign(reason=f"no feature table as of {as_of:%Y-%m} (month not in the warehouse)"))
            continue
        table = _rows_of(features_by_month, as_of, set(group["siret"]))
        features = table.drop(columns=["as_of"], errors="ignore").assign(siret=lambda f: f["siret"].astype(str))
        joined = group.merge(features, on="siret", how="left", indicator=True)
        absent = joined["_merge"] == "left_only"
        if absent.any():
            left_out.append(
                group[group["siret"].isin(joined.loc[absent, "siret"])].assign(
                    reason=f"establishment absent from the features as of {as_of:%Y-%m} (not active in the window)"
                )
            )
        rows.append(joined[~absent].drop(columns="_merge"))
        del table, features, joined  # the month read is let go before the next one is
    labelled = pd.concat(rows, ignore_index=True) if rows else visits.iloc[0:0]
    labelled["as_of"] = pd.to_datetime(labelled["as_of"]).astype("datetime64[s]")
    labelled[LABEL] = labelled[LABEL].astype("int64")
    labelled = labelled.sort_values(["inspection_date", "siret"], ignore_index=True, kind="stable")
    dropped = (
        pd.concat(left_out, ignore_index=True)[list(LEFT_OUT_COLUMNS)]
        if left_out
        else pd.DataFrame({c: pd.Series(dtype="object") for c in LEFT_OUT_COLUMNS})
    )
    return LabelledSet(labelled, dropped)
