"""A frame's CSV is pandas' `to_csv(index=False)` of the neutralised frame, byte for byte, whichever writer wrote it
(`core.csv_files`: Arrow's compute functions for text, numbers, booleans and dates; pandas for the rest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import csv_files
from core.csv_files import arrow_writes, neutralise_frame, write_frame_csv

TRICKY = ["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "tab\tinside", " lead", "=SUM(A1)", "+33", "-1",
          "@x", "\tx", "\rx", "é « guillemets » ; L1242-1", '"', ",", "\n", "'quoted'", "ß∑😀"]


def _pandas_bytes(frame: pd.DataFrame) -> bytes:
    return neutralise_frame(frame).to_csv(index=False).encode("utf-8")


def _written(frame: pd.DataFrame, tmp_path) -> bytes:
    write_frame_csv(frame, tmp_path / "out.csv")
    return (tmp_path / "out.csv").read_bytes()


def _every_kind(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [TRICKY[i] if i < len(TRICKY) else None for i in rng.integers(0, len(TRICKY) + 3, rows)]
    floats = rng.choice([0.0, -0.0, 1.0, 0.1, 1e-5, 1.5e-5, 123456789012345.0, 1e16, np.inf, -np.inf, np.nan, 1 / 3], rows)
    days = pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 400, rows), unit="D")
    return pd.DataFrame({
        "text": pd.Series(texts, dtype="str"),
        "string": pd.Series(texts, dtype="string"),
        "int": rng.integers(-10**12, 10**12, rows),
        "nullable": pd.array([None if v % 4 == 0 else int(v) for v in rng.integers(0, 100, rows)], dtype="Int32"),
        "float": floats,
        "float32": floats.astype("float32"),
        "flag": rng.integers(0, 2, rows).astype(bool),
        "day": pd.Series(days).where(rng.integers(0, 5, rows) > 0).astype("datetime64[us]"),
        "last": pd.Series(texts[::-1], dtype="str"),
    })


@pytest.mark.parametrize("block_rows", [1, 3, 100_000])
def test_arrow_writes_the_bytes_pandas_writes(tmp_path, monkeypatch, block_rows):
    monkeypatch.setattr(csv_files, "CSV_BLOCK_ROWS", block_rows)
    frame = _every_kind(200, seed=block_rows)
    assert arrow_writes(frame)
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


def test_blocks_with_no_quote_or_formula_are_written_as_pandas_writes_them(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "CSV_BLOCK_ROWS", 2)
    frame = pd.DataFrame({"siret": ["11111111100011", "22222222200022", 'a "b"', "c,d", "=e", "f"],
                          "score": [0.5, np.nan, 1.0, 2.0, 3.0, 4.0]})
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": ["", "a"]}),  # one column: the csv module quotes an empty cell alone on its line
    pd.DataFrame({"mixed": pd.Series(["a", 1, None], dtype=object), "n": [1, 2, 3]}),
    pd.DataFrame({"at": pd.to_datetime(["2025-01-01 10:30", None, "2025-02-01 00:00"]), "n": [1, 2, 3]}),
    pd.DataFrame({"at": pd.to_datetime(["2025-01-01", "2025-02-01"]).tz_localize("Europe/Paris"), "n": [1, 2]}),
    pd.DataFrame({"flag": pd.array([True, None], dtype="boolean"), "n": [1, 2]}),
    pd.DataFrame({"day": pd.to_datetime(["0999-01-01", "2025-01-01"], format="%Y-%m-%d").astype("datetime64[s]"), "n": [1, 2]}),
    pd.DataFrame({"a": pd.Series([0, 1], dtype=pd.SparseDtype("int64", 0)), "b": [1, 2]}),
    pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])),  # two lines of names
], ids=["one-column", "object", "time-of-day", "time-zone", "nullable-boolean", "year-999", "sparse", "multi-index"])
def test_other_frames_are_written_by_pandas(tmp_path, frame):
    assert not arrow_writes(frame)
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


def test_columns_of_one_name_are_each_written(tmp_path):
    frame = pd.DataFrame([["a,b", 1, 2.5]], columns=["x", "x", "y"]).astype({"x": "str"})
    assert arrow_writes(frame)
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


def test_a_concatenation_s_columns_in_several_chunks_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "CSV_BLOCK_ROWS", 2)
    frame = pd.concat([pd.DataFrame({"name": ["x", "y,z"], "n": [1, 2]}), pd.DataFrame({"name": ['"w"'], "n": [3]})])
    frame["n"] = frame["n"].astype("int64[pyarrow]")
    assert arrow_writes(frame)
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


@pytest.mark.parametrize("columns", [
    pd.Index([None, "a"], dtype=object), pd.Index([np.nan, 1.0]), pd.Index(["a", pd.NA], dtype="string"),
    pd.to_datetime(["2020-01-01", "2020-01-02"]), pd.Index([1.0, 1e20], dtype="float32"),
], ids=["none", "nan", "na", "dates", "float32"])
def test_names_are_written_as_pandas_writes_them(tmp_path, columns):
    frame = pd.DataFrame([[1, 2]], columns=columns)
    assert arrow_writes(frame)
    assert _written(frame, tmp_path) == _pandas_bytes(frame)


def test_an_empty_frame_is_its_header(tmp_path):
    frame = _every_kind(5, seed=1).iloc[0:0]
    assert _written(frame, tmp_path) == _pandas_bytes(frame)
