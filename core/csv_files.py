"""Every CSV file Champollion writes: cells a spreadsheet would run as formulas are neutralised.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
LibreOffice as a formula (`=HYPERLINK(...)` in a NAF code, a job title or a file name of the input);
such a cell is written with a leading apostrophe, which spreadsheets show as text. Numbers are
written as they are (a negative number is not text).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from core.atomic_files import replaced_when_written

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """`value`, with an apostrophe in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text columns have their formula-like cells neutralised (string columns
    column-wise, other non-numeric columns cell by cell)."""
    safe = frame.copy(deep=False)  # copy-on-write: replacing a column leaves `frame` as it was
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if isinstance(values.dtype, pd.StringDtype):
            formula = values.str.startswith(FORMULA_STARTS).fillna(False).to_numpy(dtype=bool)
            if formula.any():
                safe[column] = values.where(~formula, "'" + values)
        else:
            safe[column] = values.map(neutralise_cell, na_action="ignore")
    return safe


def write_frame_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` (without its index) as a UTF-8 CSV file, formula-like cells neutralised; whole or not at all
    (`core.atomic_files`)."""
    with replaced_when_written(path) as temp:
        neutralise_frame(frame).to_csv(temp, index=False)


def write_rows_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a header and rows as a UTF-8 CSV file, formula-like cells neutralised; whole or not at all."""
    with replaced_when_written(path) as temp, open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise_cell(value) for value in row])
