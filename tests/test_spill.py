"""Each DuckDB connection spills to a folder of its own, removed when it closes or, once its process is gone,
by the next connection; a live connection's folder is never touched."""

import logging
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from warehouse.spill import LOCK_NAME, SpillFolder, reclaim_dead_folders
from warehouse.sql_engine import DuckDBEngine

# A table larger than a 20MB memory limit: DuckDB writes its blocks to the spill folder, and keeps them there.
SPILL = "CREATE TABLE spilled AS SELECT random() AS r, i::VARCHAR || 'xxxxxxxxxxxxxxxxxxxx' AS s FROM range(1500000) t(i)"

# A process that connects, spills, says where, then waits for its stdin to close (or to be killed).
SPILLING_PROCESS = f"""
import sys
from pathlib import Path
from warehouse.sql_engine import DuckDBEngine

with DuckDBEngine.spilling_to(Path(sys.argv[1]), memory_limit="20MB", threads=1) as engine:
    engine.con.execute({SPILL!r})
    print(engine.spill.path, flush=True)
    sys.stdin.read()
"""


def spill_files(engine: DuckDBEngine) -> list[Path]:
    return [Path(row[0]) for row in engine.con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()]


def start_spilling_process(root: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen([sys.executable, "-c", SPILLING_PROCESS, str(root)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, f"the spilling process died (exit code {process.wait()})"
    return process, Path(line)


def test_a_connection_spills_to_its_own_folder_removed_when_it_closes(tmp_path):
    root = tmp_path / "duckdb-tmp"
    with DuckDBEngine.spilling_to(root, memory_limit="20MB", threads=1) as engine:
        assert engine.spill is not None
        folder = engine.spill.path
        assert folder.parent == root and (folder / LOCK_NAME).exists()
        engine.con.execute(SPILL)
        files = spill_files(engine)
        assert files and all(path.parent == folder and path.name.startswith("duckdb_temp_") for path in files)
        assert list(root.iterdir()) == [folder]
    assert not folder.exists()
    assert list(root.iterdir()) == []


def test_the_folder_is_removed_when_the_work_fails(tmp_path):
    root = tmp_path / "duckdb-tmp"
    with pytest.raises(duckdb.CatalogException), DuckDBEngine.spilling_to(root, memory_limit="20MB", threads=1) as engine:
        engine.con.execute(SPILL)
        engine.con.execute("SELECT * FROM no_such_table")
    assert list(root.iterdir()) == []


def test_a_killed_process_folder_is_reclaimed_by_the_next_connection(tmp_path, caplog):
    root = tmp_path / "duckdb-tmp"
    process, folder = start_spilling_process(root)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    left = sorted(path.name for path in folder.iterdir())
    assert LOCK_NAME in left and any(name.startswith("duckdb_temp_storage") for name in left)
    size = sum(path.stat().st_size for path in folder.iterdir())
    with caplog.at_level(logging.INFO, logger="champollion.warehouse"), DuckDBEngine.spilling_to(root) as engine:
        assert engine.spill is not None
        assert list(root.iterdir()) == [engine.spill.path]
    assert not folder.exists()
    assert f"reclaimed {folder}: {size / 1e6:.1f} MB of spill and scratch files left by a process that is gone" in caplog.text


def test_a_live_connection_folder_is_never_removed(tmp_path):
    root = tmp_path / "duckdb-tmp"
    process, folder = start_spilling_process(root)
    try:
        held = sorted(folder.iterdir())
        assert reclaim_dead_folders(root) == []
        with DuckDBEngine.spilling_to(root, memory_limit="20MB", threads=1) as engine:
            engine.con.execute(SPILL)  # spilling beside it, under the same root
        assert sorted(folder.iterdir()) == held
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the process closes its engine and ends
        assert process.wait() == 0
    assert list(root.iterdir()) == []


def test_two_connections_at_once_get_different_folders(tmp_path):
    root = tmp_path / "duckdb-tmp"
    with SpillFolder.claim(root) as first, SpillFolder.claim(root) as second:
        assert first.path != second.path
        assert sorted(root.iterdir()) == sorted([first.path, second.path])
    assert list(root.iterdir()) == []


def test_an_empty_folder_without_a_lock_is_removed_and_one_with_files_is_kept(tmp_path):
    root = tmp_path / "duckdb-tmp"
    (root / "1-empty").mkdir(parents=True)
    (root / "2-kept").mkdir()
    (root / "2-kept" / "notes.txt").write_text("not ours")
    assert reclaim_dead_folders(root) == []
    assert list(root.iterdir()) == [root / "2-kept"]
