"""A table written in bulk (`scoring.excel_table.TableSheet`) gives the bytes xlsxwriter writes cell by cell."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from core.french import missing
from scoring.excel_table import ROWS_PER_WRITE, TableColumn, TableSheet

CREATED = datetime(2025, 4, 2, 6, 30)
LONG = "é" * 20_000 + "😀" * 7_000  # 34,000 UTF-16 units: cut at Excel's 32,767, in the middle of an emoji pair


def _columns_of(rows: int, seed: int) -> list[tuple[str, Any, str, str]]:
    """(header, cells, kind, format name) of a table mixing every kind of cell, repeats and blanks."""
    rng = np.random.default_rng(seed)
    texts = ["serveur", "01234567800011", "", None, float("nan"), pd.NA, ' a & b < c > "d" ', "\x01 contrôle\n",
             "agent d'entretien 😀", 42, "serveur", "À lire"]
    numbers = [1, 2.5, 0.1234, 1e-20, 123456789012.5, float("nan"), None, pd.NA, np.int64(7), -3, "", 0]
    dates = [pd.Timestamp("2025-02-10"), pd.NaT, date(2024, 12, 31), datetime(2025, 1, 2, 13, 45, 30, 500_000),
             "2025-01-02", None, "", "not a date", pd.Timestamp("1900-01-01"), date(1900, 2, 28), date(1900, 3, 1),
             np.datetime64("2023-06-30"), datetime(1900, 1, 1, 12)]
    pick = lambda pool: [pool[i] for i in rng.integers(0, len(pool), rows)]  # noqa: E731
    return [
        ("SIRET", pick(texts), "text", "text"),
        ("Effectif", pick(numbers), "number", "integer"),
        ("Début", pick(dates), "date", "date"),
        ("Constat", [f"constat {i % 97}" for i in range(rows)], "text", "long"),
        ("Déclaré par (SIRET)", pick(texts), "text", "text"),
        ("Score", pick(numbers), "number", "percent"),
        ("SIRET", [LONG if i % 50 == 0 else None for i in range(rows)], "text", "long"),
        ("Fin", np.array([np.datetime64("NaT") if i % 7 == 0 else np.datetime64("2020-01-01") + np.timedelta64(
            int(rng.integers(0, 3000)) * 86_400 + int(rng.integers(0, 3)) * 3_600, "s") for i in range(rows)],
            dtype="datetime64[ns]"), "date", "date"),  # a column of dates read as one array
    ]


def _formats(book: Any) -> dict[str, Any]:
    return {
        "header": book.add_format({"bold": True, "bg_color": "#DDE4EE"}),
        "text": book.add_format({"valign": "top"}),
        "integer": book.add_format({"valign": "top", "num_format": "0"}),
        "percent": book.add_format({"valign": "top", "num_format": "0.0%"}),
        "date": book.add_format({"valign": "top", "num_format": "dd/mm/yyyy"}),
        "long": book.add_format({"valign": "top", "text_wrap": True}),
    }


def _cell_by_cell(sheet: Any, header_format: Any, formats: dict[str, Any], table: list[tuple[str, Any, str, str]]
                  ) -> None:
    """The reference: xlsxwriter's own calls, row by row, a blank cell for a missing or empty value."""
    for j, (header, _, _, _) in enumerate(table):
        sheet.write_string(0, j, header, header_format)
    for i, row in enumerate(zip(*(cells for _, cells, _, _ in table), strict=True), start=1):
        for j, value in enumerate(row):
            kind, cell_format = table[j][2], formats[table[j][3]]
            stamp = pd.to_datetime(value, errors="coerce") if kind == "date" and not missing(value) and value != "" else pd.NaT
            if missing(value) or value == "" or (kind == "date" and stamp is pd.NaT):
                sheet.write_blank(i, j, None, cell_format)
            elif kind == "number":
                sheet.write_number(i, j, float(value), cell_format)
            elif kind == "date":
                sheet.write_datetime(i, j, stamp.to_pydatetime(), cell_format)
            else:
                sheet.write_string(i, j, str(value), cell_format)


def _workbook(path: Path, tables: list[list[tuple[str, Any, str, str]]], bulk: bool, headers: bool = True) -> Path:
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": CREATED})
    formats = _formats(book)
    notes = book.add_worksheet("À lire")
    notes.write_string(0, 0, "serveur", formats["text"])  # a string the tables repeat: numbered here first
    for n, table in enumerate(tables):
        sheet = book.add_worksheet(f"Table {n}", TableSheet if bulk else None)
        for j, (_, _, _, name) in enumerate(table):
            sheet.set_column(j, j, 12 + j, formats[name])
        header_format = formats["header"] if headers else None
        if bulk:
            sheet.write_table(header_format, [TableColumn(header, cells, kind, formats[name])  # type: ignore[arg-type]
                                              for header, cells, kind, name in table])
        else:
            _cell_by_cell(sheet, header_format, formats, table)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(table[0][1]), 1), len(table) - 1)
    book.close()
    return path


@pytest.mark.parametrize("headers", [True, False])  # without a header format, the column's (as xlsxwriter)
def test_same_bytes_as_cell_by_cell(tmp_path, headers):
    long_header = [(LONG, [1, 2], "number", "integer")]  # a title too is cut at Excel's limit
    tables = [_columns_of(300, 1), _columns_of(2 * ROWS_PER_WRITE + 17, 2), _columns_of(0, 3), long_header]
    bulk = zipfile.ZipFile(_workbook(tmp_path / "bulk.xlsx", tables, bulk=True, headers=headers))
    reference = zipfile.ZipFile(_workbook(tmp_path / "reference.xlsx", tables, bulk=False, headers=headers))
    assert bulk.namelist() == reference.namelist()
    for name in reference.namelist():
        assert bulk.read(name) == reference.read(name), name


def test_cells_read_back(tmp_path):
    table = [("SIRET", ["01234567800011", None], "text", "text"), ("Effectif", [42, float("nan")], "number", "integer"),
             ("Début", [pd.Timestamp("2025-02-10"), pd.NaT], "date", "date"), ("Texte long", [LONG, ""], "text", "long")]
    sheet = openpyxl.load_workbook(_workbook(tmp_path / "bulk.xlsx", [table], bulk=True))["Table 0"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("SIRET", "Effectif", "Début", "Texte long")
    assert rows[1][:3] == ("01234567800011", 42, datetime(2025, 2, 10))
    assert len(rows[1][3].encode("utf-16-le")) // 2 == 32_766  # cut before the emoji pair it would split
    assert rows[2] == (None, None, None, None)
    assert sheet.freeze_panes == "A2"
    assert sheet["C2"].number_format == "dd/mm/yyyy"


@pytest.mark.parametrize(("columns", "message"), [
    ([("A", [1, 2], "number"), ("B", [1], "number")], "differ in length"),
    ([("A", [float("inf")], "number")], "infinite"),
    ([("A", [pd.Timestamp("2025-01-01", tz="Europe/Paris")], "date")], "time zone"),
])
def test_cells_that_cannot_be_written(tmp_path, columns, message):
    book = xlsxwriter.Workbook(str(tmp_path / "refused.xlsx"))
    sheet = book.add_worksheet("Table", TableSheet)
    plain = book.add_format()
    with pytest.raises(ValueError, match=message):
        sheet.write_table(plain, [TableColumn(header, cells, kind, plain) for header, cells, kind in columns])


def test_one_table_per_sheet(tmp_path):
    book = xlsxwriter.Workbook(str(tmp_path / "twice.xlsx"))
    sheet = book.add_worksheet("Table", TableSheet)
    plain = book.add_format()
    sheet.write_table(plain, [TableColumn("A", ["x"], "text", plain)])
    with pytest.raises(ValueError, match="one table per sheet"):
        sheet.write_table(plain, [TableColumn("A", ["y"], "text", plain)])
    other = book.add_worksheet("Autre", TableSheet)
    other.write_string(0, 0, "déjà là")
    with pytest.raises(ValueError, match="already holds cells"):
        other.write_table(plain, [TableColumn("A", ["y"], "text", plain)])
    with pytest.raises(ValueError, match="needs a cell format"):
        book.add_worksheet("Sans format", TableSheet).write_table(plain, [TableColumn("A", ["y"], "text", None)])
    sheet.write_string(5, 3, "écrit après le tableau")  # would be lost: the workbook is refused instead
    with pytest.raises(ValueError, match="takes no other cell"):
        book.close()
