"""Files written whole or not at all: a reader (the web application, next month's run, training) sees the
previous file or the new one, never the first part of a file whose writer was killed or failed."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_when_written(path: Path) -> Iterator[Path]:
    """A temporary path next to `path` to write to; moved onto `path` in one step (os.replace) when the block
    ends without an error, removed when it raises."""
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
