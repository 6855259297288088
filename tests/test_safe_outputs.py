"""Outputs safe whatever the input: CSV cells never run as spreadsheet formulas, SQL never breaks on
a quote in a path, a wrong --out is refused before the work, another key is refused with a hint."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from champollion.cli import app
from core.csv_files import write_frame_csv, write_rows_csv
from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn

REPOSITORY = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_cells_a_spreadsheet_reads_as_formulas_are_neutralised(tmp_path):
    frame = pd.DataFrame({
        "naf": ['=HYPERLINK("http://x","y")', "+33", "-1+2", "@SUM(A1)", "\tx", "\rx", "5610A", None],
        "score": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    })
    write_frame_csv(frame, tmp_path / "ranked.csv")
    lines = (tmp_path / "ranked.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-0.5"
    assert [line.split(",")[0] for line in lines[2:5]] == ["'+33", "'-1+2", "'@SUM(A1)"]
    assert lines[-2:] == ["5610A,6.0", ",7.0"]
    write_rows_csv(tmp_path / "issues.csv", ["file", "reason"], [["=cmd|' /C calc'!A0", "ok"]])
    assert (tmp_path / "issues.csv").read_text(encoding="utf-8").splitlines()[1].startswith("'=cmd")


def test_every_csv_is_written_through_the_one_helper():
    writers = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\.to_csv\((?!index=)")
    offenders = [
        f"{path.relative_to(REPOSITORY)}:{number}"
        for folder in ("champollion", "features", "scoring", "training", "simulation")
        for path in (REPOSITORY / folder).rglob("*.py") if path.name != "csv_files.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if writers.search(line)
    ]
    assert offenders == []


def _ingest(home: Path, monkeypatch, key: str = "a-key") -> None:
    monkeypatch.setenv("CHAMPOLLION_PSEUDONYM_KEY", key)
    declaration = Declaration("12345678900011", "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06")])])
    path = write_dsn(home.parent / "in" / "a.dsn", envoi([declaration]))
    result = runner.invoke(app, ["--home", str(home), "ingest", str(path)])
    assert result.exit_code == 0, result.output


def test_a_home_path_with_a_quote_works(tmp_path, monkeypatch):
    home = tmp_path / "l'inspection \"test\""
    _ingest(home, monkeypatch)
    result = runner.invoke(app, ["--home", str(home), "features", "--as-of", "latest"])
    assert result.exit_code == 0, result.output
    assert "features as of 2025-01: 1 establishments" in result.output


def test_features_out_an_existing_folder_is_refused_before_the_work(tmp_path, monkeypatch):
    home = tmp_path / "home"
    _ingest(home, monkeypatch)
    folder = tmp_path / "existing"
    folder.mkdir()
    result = runner.invoke(app, ["--home", str(home), "features", "--as-of", "2025-01", "--out", str(folder)])
    assert result.exit_code == 2
    assert "is a folder: give the path of a Parquet file" in result.output
    assert not (home / "data" / "features").exists()


def test_ingest_under_another_key_is_refused_then_rebuilt(tmp_path, monkeypatch):
    home = tmp_path / "home"
    _ingest(home, monkeypatch)
    monkeypatch.setenv("CHAMPOLLION_PSEUDONYM_KEY", "another-key")
    refused = runner.invoke(app, ["--home", str(home), "ingest", str(tmp_path / "in")])
    assert refused.exit_code == 2
    assert "another pseudonymisation key" in refused.output and "--rebuild" in refused.output
    assert "another-key" not in refused.output and "a-key" not in refused.output
    rebuilt = runner.invoke(app, ["--home", str(home), "ingest", "--rebuild", str(tmp_path / "in")])
    assert rebuilt.exit_code == 0, rebuilt.output


def test_latest_never_names_a_month_after_this_one(tmp_path, monkeypatch):
    home = tmp_path / "home"
    _ingest(home, monkeypatch)
    future = Declaration("12345678900011", "2099-01", [Individual(contracts=[Contract("C1", "2025-01-06")])], order="9")
    refused = runner.invoke(app, ["--home", str(home), "ingest", str(write_dsn(tmp_path / "in" / "b.dsn", envoi([future])))])
    assert refused.exit_code == 0, refused.output
    assert "quarantined: 1" in refused.output  # the issues by kind
    result = runner.invoke(app, ["--home", str(home), "features", "--as-of", "latest"])
    assert result.exit_code == 0, result.output
    assert "features as of 2025-01" in result.output
