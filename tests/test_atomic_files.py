"""Files written whole or not at all (`core.atomic_files`, and the CSV files written through it)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.atomic_files import replaced_when_written, write_text_whole
from core.csv_files import write_frame_csv


def test_a_write_that_fails_leaves_the_previous_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "ranked.csv"
    write_frame_csv(pd.DataFrame({"siret": ["11111111100011"], "score": [0.5]}), path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="killed"), replaced_when_written(path) as temp:
        temp.write_text("siret,score\n222", encoding="utf-8")  # the first part of a new file
        raise RuntimeError("killed")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ranked.csv"]


def test_a_write_that_ends_replaces_the_file(tmp_path):
    path = tmp_path / "summary.json"
    write_text_whole(path, "{}")
    write_text_whole(path, '{"mois": "décembre"}')
    assert path.read_text(encoding="utf-8") == '{"mois": "décembre"}'
    write_frame_csv(pd.DataFrame({"siret": ["11111111100011"]}), tmp_path / "lines.csv")
    assert (tmp_path / "lines.csv").read_text(encoding="utf-8") == "siret\n11111111100011\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines.csv", "summary.json"]
