"""A table written into an Excel sheet in bulk, column by column, instead of one xlsxwriter call per cell.

xlsxwriter still lays out the workbook (styles, shared strings, frozen header, filter, print setup); only the
sheet's rows are prepared here: each column's cells typed at once (shared string indexes, numbers, Excel
dates), then written as XML when the workbook is closed. The bytes are those xlsxwriter writes for the same
cells through `write_string`, `write_number`, `write_datetime` and `write_blank` (a test compares the two):
shared strings numbered in the order the cells would have been written, row by row; numbers printed as
xlsxwriter prints them; a blank cell keeps its column's format. At national scale a region's evidence sheet
holds 135,000 rows of 18 columns: cell by cell, xlsxwriter's calls took most of the 19 s of that workbook.

This relies on xlsxwriter's worksheet internals (its shared string table, dimensions and row writer), which
the byte comparison pins: `pyproject.toml` bounds the version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from core.french import missing

CellKind = Literal["text", "number", "date"]
ROWS_PER_WRITE = 8192  # rows turned into XML at a time when the workbook is closed
_MAX_UTF16_UNITS = 32767  # Excel's longest cell text: xlsxwriter truncates longer strings
_EXCEL_EPOCH = np.datetime64("1899-12-31", "us")


@dataclass(frozen=True)
class TableColumn:
    """One column: its header, its cells (one per row: None, NaN, NaT or "" for a blank cell), how they are
    written (text: shared strings; number; date: an Excel serial day, shown by the format) and their format."""

    header: str
    cells: Sequence[Any] | np.ndarray
    kind: CellKind
    cell_format: Format


@dataclass(frozen=True)
class _PreparedColumn:
    letter: str
    kind: CellKind
    header: int  # the header's shared string index
    values: np.ndarray  # text: shared string index (-1 blank); number and date: float (NaN blank)
    cell_format: Format


def _cut(text: str) -> str:
    """`text`, cut as xlsxwriter cuts a string longer than Excel allows in a cell."""
    if len(text) > _MAX_UTF16_UNITS // 2:
        encoded = text.encode("utf-16-le")
        if len(encoded) > 2 * _MAX_UTF16_UNITS:
            return encoded[: 2 * _MAX_UTF16_UNITS].decode("utf-16-le", errors="ignore")
    return text


def _text_cells(cells: Sequence[Any] | np.ndarray) -> list[str | None]:
    """Each cell as the string written (`_cut`), None for a blank one."""
    texts: list[str | None] = []
    for value in cells:
        if type(value) is str:  # most cells: nothing to check nor convert
            texts.append(_cut(value) if value else None)
        else:
            texts.append(None if missing(value) or value == "" else _cut(str(value)))
    return texts


def _number_cells(cells: Sequence[Any] | np.ndarray) -> np.ndarray:
    numbers = np.array([np.nan if missing(value) or value == "" else float(value) for value in cells], dtype="float64")
    if np.isinf(numbers).any():
        raise ValueError("an infinite number cannot be written in an Excel cell")
    return numbers


def _stamp(value: Any) -> Any:
    if missing(value) or value == "":
        return pd.NaT
    if isinstance(value, date):  # datetime and Timestamp included
        return pd.Timestamp(value)
    return pd.to_datetime(value, errors="coerce")


def _date_cells(cells: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Excel serial dates (1900 system, as xlsxwriter counts them, its 29 February 1900 included), NaN blank. An
    array of datetime64 is read at once."""
    if isinstance(cells, np.ndarray) and cells.dtype.kind == "M":
        instants = cells.astype("datetime64[us]")
    else:
        stamps = pd.DatetimeIndex([value if type(value) is pd.Timestamp else _stamp(value) for value in cells])
        if stamps.tz is not None:
            raise ValueError("a date with a time zone cannot be written in an Excel cell")
        instants = stamps.to_numpy(dtype="datetime64[us]")
    days, within = np.divmod((instants - _EXCEL_EPOCH).astype("int64"), 86_400_000_000)
    serial = days + (within // 1_000_000 + (within % 1_000_000) / 1e6) / 86_400
    serial = np.where(instants.astype("datetime64[D]") == np.datetime64("1900-01-01"), serial - 1, serial)
    serial = np.where(serial > 59, serial + 1, serial)
    return np.where(np.isnat(instants), np.nan, serial)


class TableSheet(Worksheet):
    """A worksheet holding one table from its first row: a header, then one row per record
    (`add_worksheet(name, worksheet_class=TableSheet)`, then `write_table`). Everything else (column widths,
    frozen panes, filter, print setup) is set through xlsxwriter's usual calls."""

    def __init__(self) -> None:
        super().__init__()
        self._columns: list[_PreparedColumn] = []
        self._header_format: Format | None = None
        self._has_table = False
        self._rows = 0

    def write_table(self, header_format: Format | None, columns: list[TableColumn]) -> None:
        """Write the header row (in `header_format`) and the cells of `columns`, all of one length. Shared strings
        are numbered now, in the order of row-by-row writing; the XML is made when the workbook closes. No other cell
        can be written on the sheet."""
        lengths = {len(column.cells) for column in columns}
        if len(lengths) > 1:
            raise ValueError(f"the columns of a table differ in length: {sorted(lengths)}")
        if self._columns or self.table or self.constant_memory:
            raise ValueError(f"sheet {self.name!r} cannot take a table: it already holds cells (one table per sheet) "
                             "or writes its rows as they come (constant_memory)")
        if any(column.cell_format is None for column in columns):
            raise ValueError("each column of a table needs a cell format (its blank cells keep it)")
        if not columns:
            return
        self._rows = lengths.pop()
        if self._check_dimensions(0, 0) or self._check_dimensions(self._rows, len(columns) - 1):
            raise ValueError(f"a table of {self._rows} rows and {len(columns)} columns does not fit in an Excel sheet")
        texts = {j: [_cut(column.header), *(_text_cells(column.cells) if column.kind == "text" else ())]
                 for j, column in enumerate(columns)}
        indexes = self._shared_string_indexes(texts)
        for j, column in enumerate(columns):
            values = (indexes[j][1:] if column.kind == "text"
                      else _number_cells(column.cells) if column.kind == "number" else _date_cells(column.cells))
            self._columns.append(_PreparedColumn(xl_col_to_name(j), column.kind, int(indexes[j][0]), values,
                                                 column.cell_format))
        self._header_format = header_format
        self._has_table = True

    def _shared_string_indexes(self, texts: dict[int, list[str | None]]) -> dict[int, np.ndarray]:
        """Column -> each cell's index in the workbook's shared strings (-1: blank). New strings are numbered in
        the order xlsxwriter numbers them when cells are written row by row, left to right."""
        firsts = []
        codes_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for j, cells in texts.items():
            codes, uniques = pd.factorize(np.array(cells, dtype=object))
            positions = np.flatnonzero(codes >= 0)
            first_rows = np.full(len(uniques), len(cells), dtype="int64")
            np.minimum.at(first_rows, codes[positions], positions)
            firsts.append(pd.DataFrame({"row": first_rows, "column": j, "code": np.arange(len(uniques)),
                                        "text": np.asarray(uniques, dtype=object)}))
            codes_of[j] = (codes, np.empty(len(uniques), dtype="int64"))
        order = pd.concat(firsts, ignore_index=True).sort_values(["row", "column"], kind="stable")
        table = self.str_table
        for j, code, text in zip(order["column"].tolist(), order["code"].tolist(), order["text"].tolist(), strict=True):
            codes_of[j][1][code] = table._get_shared_string_index(text)
        table.count += sum(int((codes >= 0).sum()) for codes, _ in codes_of.values()) - len(order)
        return {j: np.where(codes >= 0, index[np.maximum(codes, 0)], -1) for j, (codes, index) in codes_of.items()}

    def _header_style(self, j: int) -> str:
        """The style attribute of column `j`'s header: its format, else the column's (as xlsxwriter falls back)."""
        header_format = self._header_format
        if header_format is None and j in self.col_info:
            header_format = self.col_info[j].column_format
        return f' s="{header_format._get_xf_index()}"' if header_format is not None else ""

    def _write_rows(self) -> None:
        """xlsxwriter's row writer, for the prepared table (called once, when the workbook is closed)."""
        if not self._has_table:
            super()._write_rows()
            return
        if self.row_info or self.comments or any(self.table.values()):
            raise ValueError(f"sheet {self.name!r}: a table sheet takes no other cell, row format nor comment")
        span = f"1:{len(self._columns)}"
        self.fh.write(f'<row r="1" spans="{span}">' + "".join(
            f'<c r="{column.letter}1"{self._header_style(j)} t="s"><v>{column.header}</v></c>'
            for j, column in enumerate(self._columns)
        ) + "</row>")
        styles = [column.cell_format._get_xf_index() for column in self._columns]
        for start in range(0, self._rows, ROWS_PER_WRITE):
            stop = min(start + ROWS_PER_WRITE, self._rows)
            numbers = range(start + 2, stop + 2)
            cells = [_cells_xml(column, style, numbers, column.values[start:stop].tolist())
                     for column, style in zip(self._columns, styles, strict=True)]
            self.fh.write("".join(f'<row r="{number}" spans="{span}">{"".join(row)}</row>'
                                  for number, *row in zip(numbers, *cells, strict=True)))


def _cells_xml(column: _PreparedColumn, style: int, numbers: range, values: list[Any]) -> list[str]:
    """One column's `<c>` elements for rows `numbers` (1-based) holding `values`."""
    letter = column.letter
    if column.kind == "text":
        return [f'<c r="{letter}{n}" s="{style}" t="s"><v>{v}</v></c>' if v >= 0 else f'<c r="{letter}{n}" s="{style}"/>'
                for n, v in zip(numbers, values, strict=True)]
    return [f'<c r="{letter}{n}" s="{style}"><v>{v:.16G}</v></c>' if v == v else f'<c r="{letter}{n}" s="{style}"/>'
            for n, v in zip(numbers, values, strict=True)]
