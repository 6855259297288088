"""A DuckDB connection's own spill folder (or an engine's scratch folder) under the home's `data/duckdb-tmp`, and
the reclaiming of dead ones.

DuckDB names its spill files by size class only (`duckdb_temp_storage_DEFAULT-0.tmp`, `..._S64K-0.tmp`), so two
connections spilling to one folder write the same files (with DuckDB 1.5.6 both processes died of a segmentation
fault), and a killed process leaves its files behind. Each connection therefore spills to a subfolder of its own,
`<pid>-<random>`, holding an advisory lock (`fcntl.flock` on its `lock` file) for its whole life: a folder whose
lock can be taken belongs to a process that is gone (the kernel drops a process's locks when it dies, whatever
its pid becomes), and the next connection removes it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

log = logging.getLogger("champollion.warehouse")

LOCK_NAME = "lock"
# Where an engine with no spill folder of its own (an in-memory connection, Spark without a home) claims its scratch folder.
DEFAULT_SCRATCH_ROOT = Path(tempfile.gettempdir()) / "champollion-scratch"


@dataclass(frozen=True)
class Reclaimed:
    """A spill folder left by a process that is gone, removed, and the bytes it held."""

    folder: Path
    size: int


class SpillFolder:
    """A folder of one's own under `root`, locked while open; `close` removes it (idempotent)."""

    def __init__(self, path: Path, lock: int) -> None:
        self.path = path
        self._lock: int | None = lock

    @classmethod
    def claim(cls, root: Path) -> SpillFolder:
        """Reclaim the dead folders under `root`, then create and lock a new one there."""
        reclaim_dead_folders(root)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            path = root / f"{os.getpid()}-{secrets.token_hex(4)}"
            try:
                path.mkdir()
                lock = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            except (FileExistsError, FileNotFoundError):  # a name taken, or the empty folder reclaimed meanwhile
                continue
            if _locked(lock) and _same_file(lock, path / LOCK_NAME):
                return cls(path, lock)
            os.close(lock)  # another connection took it for dead between our open and our lock: start again

    def close(self) -> None:
        """Remove the folder (DuckDB has removed its own files when its connection closed) and release the lock."""
        if self._lock is None:
            return
        try:
            _remove(self.path)
        finally:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> SpillFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def reclaim_dead_folders(root: Path) -> list[Reclaimed]:
    """Remove the spill folders under `root` whose lock no live process holds; log each with its size.

    A folder with no lock file is being created (or was left empty): it is removed only when empty."""
    reclaimed = []
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        try:
            lock = os.open(folder / LOCK_NAME, os.O_RDWR)
        except FileNotFoundError:
            _remove_if_empty(folder)
            continue
        try:
            if not _locked(lock):
                continue  # a live connection's folder
            size = _size(folder)
            _remove(folder)
        except OSError as error:  # a folder that cannot be removed must not stop the connection
            log.warning("could not reclaim %s: %s", folder, error)
            continue
        finally:
            os.close(lock)
        log.info("reclaimed %s: %.1f MB of spill and scratch files left by a process that is gone", folder, size / 1e6)
        reclaimed.append(Reclaimed(folder, size))
    loose = [p for p in root.glob("duckdb_temp_*") if p.is_file()]
    if loose:
        log.warning("%s holds %d DuckDB spill files (%.1f MB) written by a version that spilled there directly; "
                    "delete them when no older run is going", root, len(loose), sum(_sizes(loose)) / 1e6)
    return reclaimed


def _locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _sizes(paths: list[Path]) -> list[int]:
    sizes = []
    for path in paths:
        with suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return sizes


def _size(folder: Path) -> int:
    return sum(_sizes([p for p in folder.rglob("*") if p.is_file()]))


def _remove(folder: Path) -> None:
    """Remove `folder`, its lock file last: a removal cut short leaves a folder the next one still reclaims."""
    for entry in folder.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    (folder / LOCK_NAME).unlink(missing_ok=True)
    _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):  # not empty, or already gone
        folder.rmdir()
