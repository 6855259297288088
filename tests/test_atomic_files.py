"""Files written whole or not at all (`core.atomic_files`, and the CSV files written through it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.atomic_files import folder_replaced_when_written, replaced_when_written, write_text_whole
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


def test_the_next_writer_removes_what_a_killed_writer_left(tmp_path, caplog):
    """A writer killed with SIGKILL leaves its temporary file; the next write of the same file removes it, not the
    temporary file of a writer still at work, nor those of other files."""
    path = tmp_path / "ranked.csv"
    script = (f"import os, signal\nfrom pathlib import Path\nfrom core.atomic_files import replaced_when_written\n"
              f"with replaced_when_written(Path({str(path)!r})) as temp:\n"
              f"    temp.write_text('siret,score\\n111')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -signal.SIGKILL
    (left,) = tmp_path.glob(".ranked.csv.*.tmp")
    at_work = tmp_path / f".ranked.csv.{os.getpid()}-0123abcd.tmp"  # this process: alive
    other = tmp_path / f".evidence.csv.{left.name.split('.')[3]}.tmp"
    at_work.write_text("x")
    other.write_text("x")
    with caplog.at_level("WARNING", logger="champollion"):
        write_text_whole(path, "siret\n")
    assert not left.exists() and at_work.exists() and other.exists()
    assert "half-written by process" in caplog.text
    assert path.read_text(encoding="utf-8") == "siret\n"


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "2025-03"
    with folder_replaced_when_written(folder) as part:
        (part / "a.parquet").write_text("first", encoding="utf-8")
        assert not folder.exists()
    with pytest.raises(RuntimeError), folder_replaced_when_written(folder) as part:
        (part / "a.parquet").write_text("second", encoding="utf-8")
        raise RuntimeError("killed halfway")
    assert [p.name for p in tmp_path.iterdir()] == ["2025-03"]  # the failed writing left nothing
    assert (folder / "a.parquet").read_text(encoding="utf-8") == "first"
    with folder_replaced_when_written(folder) as part:
        (part / "b.parquet").write_text("third", encoding="utf-8")
    assert [p.name for p in folder.iterdir()] == ["b.parquet"]  # the new folder, not a mix


def _write_folder(folder: Path, mark: str, times: int) -> None:
    for _ in range(times):
        with folder_replaced_when_written(folder) as part:
            for name in ("a", "b", "c"):
                (part / name).write_text(mark, encoding="utf-8")


def test_two_writers_of_one_folder_swap_in_turn(tmp_path):
    """Two processes writing the same folder at once: neither fails, and the folder is one writer's, whole."""
    import multiprocessing

    folder = tmp_path / "2026-10"
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_folder, args=(folder, mark, 40)) for mark in ("one", "two")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    marks = {(folder / name).read_text(encoding="utf-8") for name in ("a", "b", "c")}
    assert len(marks) == 1 and [p.name for p in tmp_path.iterdir()] == ["2026-10"]
