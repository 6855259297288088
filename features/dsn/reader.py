"""Turn a DSN file (plain or gzip, UTF-8, cp1252 or latin-1, CRLF or LF) into numbered text lines.

Memory stays flat: the file is read in chunks cut at line ends.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 8 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: Path) -> BinaryIO:
    """Open a DSN file for reading bytes, transparently decompressing gzip (detected by content)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes as stored: the key that makes ingestion idempotent."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DecodeReport:
    """What reading a file found: the encoding used, where it changed, and whether it was cut short."""

    encoding: str = "utf-8"
    switched_at_line: int | None = None
    bytes_read: int = 0
    ends_with_newline: bool = True
    truncated: str | None = None


def _decode(chunk: bytes, report: DecodeReport, first_line: int) -> str:
    if report.encoding == "utf-8":
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError:
            report.encoding = "cp1252"
            if first_line > 1:
                report.switched_at_line = first_line
    try:
        return chunk.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte, so this never fails.
        report.encoding = "latin-1"
        return chunk.decode("latin-1")


def iter_line_chunks(stream: BinaryIO, report: DecodeReport) -> Iterator[tuple[int, list[str]]]:
    """Yield (number of the first line, lines) blocks; lines carry no end-of-line characters
    (CRLF and LF both accepted).

    The encoding is strict UTF-8 until a chunk fails to decode, then cp1252 (latin-1 for the
    five bytes cp1252 does not define) for the rest of the file.
    """
    pending = b""
    line_number = 1
    while True:
        try:
            block = stream.read(CHUNK_BYTES)
        except (EOFError, OSError, zlib.error) as exc:  # a gzip stream cut short or corrupt
            report.truncated = f"compressed stream unreadable after {report.bytes_read} bytes: {exc}"
            block = b""
        report.bytes_read += len(block)
        if not block:
            break
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        pending = data[cut + 1 :]
        lines = _decode(data[: cut + 1], report, line_number).replace("\r\n", "\n").split("\n")
        lines.pop()  # empty string after the final newline
        yield line_number, lines
        line_number += len(lines)
    if pending:
        report.ends_with_newline = False
        yield line_number, _decode(pending, report, line_number).replace("\r\n", "\n").rstrip("\r").split("\n")
