"""Files written whole or not at all: a reader (the web application, next month's run, training) sees the
previous file or the new one, never the first part of a file whose writer was killed or failed.

A writer killed in the middle leaves its temporary file (`.<name>.<pid>-<random>.tmp`, hidden next to the
file); the next writer of the same file removes those of processes that are gone, and logs them. A folder of files
that go together is written the same way (`folder_replaced_when_written`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("champollion")


@contextmanager
def replaced_when_written(path: Path) -> Iterator[Path]:
    """A temporary path next to `path` to write to; moved onto `path` in one step (os.replace) when the block
    ends without an error, removed when it raises. Temporary files of `path` left by killed writers are removed."""
    remove_orphans(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text_whole(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path`, whole or not at all."""
    with replaced_when_written(path) as temp:
        temp.write_text(text, encoding="utf-8")


def _orphans(path: Path, suffixes: str) -> Iterator[tuple[Path, str]]:
    """The temporary files or folders of `path` (`.<name>.<pid>-<random>.<suffix>`, a suffix among the alternatives
    `suffixes`) whose writing process is gone, with its pid."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)-[0-9a-f]{{8}}\.({suffixes})")
    for left in path.parent.glob(f".{path.name}.*"):
        match = pattern.fullmatch(left.name)
        if match and not _alive(int(match.group(1))):
            yield left, match.group(1)


def remove_orphans(path: Path) -> list[Path]:
    """Remove the temporary files of `path` whose writing process is gone (killed before it could clean up);
    returns them. Those of a live process (another writer at work) are left alone."""
    removed = []
    for temp, pid in _orphans(path, "tmp"):
        try:
            size = temp.stat().st_size
            temp.unlink()
        except FileNotFoundError:  # another writer of the same file removed it first
            continue
        log.warning("removed %s: %.1f MB half-written by process %s, which is gone", temp, size / 1e6, pid)
        removed.append(temp)
    return removed


@contextmanager
def folder_replaced_when_written(path: Path) -> Iterator[Path]:
    """A temporary folder next to `path` to write into; put in place of the folder `path` when the block ends without
    an error (the previous one moved aside, then removed), removed when it raises. A reader sees the previous folder
    or the new one, or for an instant none, never a mix. Folders left by killed writers are removed."""
    for left, pid in _orphans(path, "dir|old"):
        shutil.rmtree(left, ignore_errors=True)
        log.warning("removed %s: left by process %s, which is gone", left, pid)
    stem = f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}"
    temp, old = path.with_name(f"{stem}.dir"), path.with_name(f"{stem}.old")
    temp.mkdir(parents=True)
    try:
        yield temp
        # Two writers of the same folder swap one after the other (the last one's stays): a lock on the parent.
        parent = os.open(path.parent, os.O_RDONLY)
        try:
            fcntl.flock(parent, fcntl.LOCK_EX)
            if path.exists():
                path.rename(old)
            temp.rename(path)
        finally:
            os.close(parent)  # and the lock with it
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
