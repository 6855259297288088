"""Every CSV file Champollion writes: cells a spreadsheet would run as formulas are neutralised.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
LibreOffice as a formula (`=HYPERLINK(...)` in a NAF code, a job title or a file name of the input);
such a cell is written with a leading apostrophe, which spreadsheets show as text. Numbers are
written as they are (a negative number is not text).

A frame's CSV is the text pandas' `to_csv(index=False)` writes, byte for byte. A frame whose columns are all text,
numbers, booleans or dates is written through Arrow's compute functions, a block of rows at a time
(`_write_arrow_csv`): pandas' writer makes a Python object of every cell, and took twice as long on the national files
of a monthly list (1.8 M ranked establishments, 0.9 M rows of evidence; README, "National scale").
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    for position in range(len(safe.columns)):  # by position: two columns may share a name
        values = safe.iloc[:, position]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if isinstance(values.dtype, pd.StringDtype):
            formula = values.str.startswith(FORMULA_STARTS).fillna(False).to_numpy(dtype=bool)
            if formula.any():
                safe.isetitem(position, values.where(~formula, "'" + values))
        else:
            safe.isetitem(position, values.map(neutralise_cell, na_action="ignore"))
    return safe


def write_frame_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` (without its index) as a UTF-8 CSV file, formula-like cells neutralised; whole or not at all
    (`core.atomic_files`). The bytes are those of pandas' `to_csv(index=False)` of `neutralise_frame(frame)`."""
    with replaced_when_written(path) as temp:
        kinds = _cell_kinds(frame)
        if kinds is None:
            neutralise_frame(frame).to_csv(temp, index=False)
            return
        with open(temp, "wb") as handle:
            _write_arrow_csv(frame, kinds, handle)


# Rows formatted at a time by `_write_arrow_csv`: the memory of a block's cells, not of the whole file's.
CSV_BLOCK_ROWS = 100_000
_LINE_END = os.linesep
# What makes the csv module (pandas' writer, QUOTE_MINIMAL) quote a cell: the separator, the quote, a line end's character.
_QUOTE_NEEDED = "[" + "".join(sorted({",", '"', *_LINE_END})) + "]"


def arrow_writes(frame: pd.DataFrame) -> bool:
    """Whether `_write_arrow_csv` writes `frame` as pandas would: two columns or more (the csv module quotes the one
    empty cell of a row), one row of names (not a MultiIndex: one header line each), every column text, integers
    (nullable or not), floats, booleans, or dates (datetimes at midnight, no time zone, years 1000 to 9999)."""
    return _cell_kinds(frame) is not None


def _cell_kinds(frame: pd.DataFrame) -> list[str] | None:
    """The kind of each column's cells (`_cell_kind`), None when `arrow_writes` is false."""
    if len(frame.columns) < 2 or isinstance(frame.columns, pd.MultiIndex):
        return None
    kinds = [_cell_kind(frame.iloc[:, position]) for position in range(len(frame.columns))]
    return None if None in kinds else cast("list[str]", kinds)


def _cell_kind(column: pd.Series) -> str | None:
    dtype = column.dtype
    if isinstance(dtype, pd.SparseDtype):
        return None
    if isinstance(dtype, pd.StringDtype):
        return "text"
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "float"
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        values = column.to_numpy()
        known = values[~np.isnat(values)]
        days = known.astype("datetime64[D]")
        years = days.astype("datetime64[Y]").astype("int64") + 1970
        return "date" if (known == days).all() and ((years >= 1000) & (years <= 9999)).all() else None
    return None


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`values` as one array: a column pandas keeps in Arrow's chunks (a concatenation's) comes as several."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _write_arrow_csv(frame: pd.DataFrame, kinds: list[str], handle: BinaryIO) -> None:
    handle.write(frame.iloc[0:0].to_csv(index=False).encode("utf-8"))  # the names as pandas formats them
    for start in range(0, len(frame), CSV_BLOCK_ROWS):
        block = frame.iloc[start:start + CSV_BLOCK_ROWS]
        cells = [_cells(block.iloc[:, position], kind) for position, kind in enumerate(kinds)]
        cells[-1] = pc.binary_join_element_wise(cells[-1], _text(_LINE_END), _text(""))  # each line's end, with its last cell
        lines = pc.binary_join_element_wise(*cells, _text(","))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
        handle.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _cells(column: pd.Series, kind: str) -> pa.Array:
    """A column's cells as pandas' `to_csv` writes them (missing: empty), text neutralised and quoted as needed; large
    strings, so that a block's lines may hold more than 2 GiB."""
    if kind == "float":
        values = column.to_numpy()  # float32 written as float32 (its shortest digits), as pandas does
        return pa.array(np.where(np.isnan(values), "", values.astype(str)), type=pa.large_string())
    if kind == "bool":
        return pa.array(np.where(column.to_numpy(dtype=bool), "True", "False"), type=pa.large_string())
    if kind == "date":
        return pc.fill_null(pa.array(column.to_numpy().astype("datetime64[D]")).cast(pa.large_string()), "")
    values = pc.fill_null(_one_chunk(pa.array(column, from_pandas=True)).cast(pa.large_string()), "")
    if kind == "int":
        return values
    formula = pc.is_in(pc.utf8_slice_codeunits(values, 0, 1), value_set=pa.array(FORMULA_STARTS))
    if pc.any(formula).as_py():
        values = pc.if_else(formula, pc.binary_join_element_wise(_text("'"), values, _text("")), values)
    needed = pc.match_substring_regex(values, _QUOTE_NEEDED)
    if not pc.any(needed).as_py():
        return values
    # Quotes are doubled only in a block that has some: replacing costs more than the rest of a column's formatting.
    escaped = pc.replace_substring(values, '"', '""') if pc.any(pc.match_substring(values, '"')).as_py() else values
    return pc.if_else(needed, pc.binary_join_element_wise(_text('"'), escaped, _text('"'), _text("")), values)


def write_rows_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a header and rows as a UTF-8 CSV file, formula-like cells neutralised; whole or not at all."""
    with replaced_when_written(path) as temp, open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise_cell(value) for value in row])
