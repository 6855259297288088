"""Turn a DSN file (plain or gzip, UTF-8, cp1252, latin-1 or UTF-16, any line end) into numbered text lines.

Memory stays flat: the file is read in chunks cut at line ends. Lines end in LF, CRLF or CR alone.
The encoding is decided line by line, and within a line byte by byte: UTF-8 sequences are read as
UTF-8, any other byte as cp1252 (latin-1 for the five bytes cp1252 leaves undefined), so one stray
byte changes one character, not the file. A gzip stream is read up to its damage:
what comes before is kept, and the reader's report says where it stopped. A UTF-16 file (saved by
Notepad, say) is read as the UTF-8 text it holds.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_BYTES = 8 * 1024 * 1024
# A line longer than this is not read (a DSN value holds at most 1,000 characters): a file of NUL bytes or another
# file with no line end would otherwise be gathered whole in memory. At least CHUNK_BYTES, so that only a line spread
# over several reads can be longer, and whether a line is read does not depend on where the reads cut it.
MAX_LINE_BYTES = 16 * 1024 * 1024
COMPRESSED_PIECE_BYTES = 64 * 1024  # what is lost of a damaged gzip stream: at most this much before the damage
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF16_PROBE_BYTES = 512  # what of a file's start tells UTF-16 without a byte order mark


class TolerantGzip(io.RawIOBase):
    """A gzip stream (one or more members) that ends where it is cut or damaged instead of raising.

    After the end, `damage` says why the stream stopped early (None when it ended cleanly).
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (the stream owns the file: closed by close())
        self._inflate = zlib.decompressobj(wbits=31)
        self._out = b""
        self._ended = False
        self.damage: str | None = None
        self._compressed_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._out and not self._ended:
            self._inflate_piece()
        view = memoryview(buffer)
        size = min(len(view), len(self._out))
        view[:size] = self._out[:size]
        self._out = self._out[size:]
        return size

    def _inflate_piece(self) -> None:
        if self._inflate.eof:  # a member ended: another may follow (zero padding may too)
            piece = self._inflate.unused_data or self._file.read(COMPRESSED_PIECE_BYTES)
            if not piece.strip(b"\x00"):
                self._ended = True
                return
            self._inflate = zlib.decompressobj(wbits=31)
        else:
            piece = self._file.read(COMPRESSED_PIECE_BYTES)
            if not piece:
                self._ended = True
                self.damage = f"compressed stream cut short after {self._compressed_read} compressed bytes"
                return
        try:
            self._out = self._inflate.decompress(piece)
        except zlib.error as exc:
            self._ended = True
            self.damage = f"compressed stream damaged after {self._compressed_read} compressed bytes: {exc}"
        self._compressed_read += len(piece)

    def close(self) -> None:
        self._file.close()
        super().close()


class Utf16AsUtf8(io.RawIOBase):
    """The text of a UTF-16 byte stream, as UTF-8 bytes. A byte pair that is not UTF-16 (a lone surrogate, an odd
    last byte) reads as U+FFFD: no byte stops the stream."""

    def __init__(self, source: BinaryIO, encoding: str) -> None:
        """`encoding`: 'utf-16' (a byte order mark first, which is skipped), 'utf-16-le' or 'utf-16-be'."""
        self.source = source
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._out = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._out and not self._ended:
            piece = self.source.read(CHUNK_BYTES)
            self._ended = not piece
            self._out = self._decoder.decode(piece, final=self._ended).encode("utf-8")
        view = memoryview(buffer)
        size = min(len(view), len(self._out))
        view[:size] = self._out[:size]
        self._out = self._out[size:]
        return size

    def close(self) -> None:
        self.source.close()
        super().close()


def utf16_encoding(head: bytes) -> str | None:
    """The UTF-16 codec of a file that starts with `head`: 'utf-16' after a byte order mark (FF FE or FE FF),
    'utf-16-le' or 'utf-16-be' for text with no mark whose every other byte is NUL (Latin text in UTF-16: at
    least 90% of the pairs); None for any other start."""
    if head[:2] in UTF16_BOMS:
        return "utf-16"
    pairs = len(head) // 2
    if not pairs:
        return None
    first, second = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    if second >= 0.9 * pairs and first <= 0.1 * pairs:
        return "utf-16-le"
    if first >= 0.9 * pairs and second <= 0.1 * pairs:
        return "utf-16-be"
    return None


def open_binary(path: Path) -> BinaryIO:
    """Open a DSN file for reading bytes, transparently decompressing gzip (detected by content), and reading
    UTF-16 text (`utf16_encoding`) as UTF-8.

    A damaged gzip stream reads as if it ended at the damage; `stream_damage` tells why it ended, and
    `stream_encoding` what a UTF-16 stream was read from.
    """
    with open(path, "rb") as probe:
        magic = probe.read(2)
    # (the stream returned owns the file: closed by the caller's `with`)
    stream = io.BufferedReader(TolerantGzip(path), CHUNK_BYTES) if magic == GZIP_MAGIC else open(path, "rb")  # noqa: SIM115
    encoding = utf16_encoding(stream.peek(UTF16_PROBE_BYTES)[:UTF16_PROBE_BYTES])
    if encoding is None:
        return stream
    return io.BufferedReader(Utf16AsUtf8(stream, encoding), CHUNK_BYTES)


def stream_damage(stream: BinaryIO) -> str | None:
    """Why a stream from `open_binary` ended before the end of its data (None: it did not)."""
    raw = getattr(stream, "raw", None)
    if isinstance(raw, Utf16AsUtf8):
        return stream_damage(raw.source)
    return raw.damage if isinstance(raw, TolerantGzip) else None


def stream_encoding(stream: BinaryIO) -> str | None:
    """The UTF-16 codec a stream from `open_binary` reads its text from ('utf-16' after a byte order mark,
    'utf-16-le', 'utf-16-be'); None when it reads the bytes as they are."""
    raw = getattr(stream, "raw", None)
    return raw.encoding if isinstance(raw, Utf16AsUtf8) else None


def file_label(path: Path) -> str:
    """`path` as text UTF-8 can hold: the bytes of a name that are not UTF-8 (a file named on another system,
    e.g. in latin-1) are written `\\xNN`; `file_path` reads them back. Issues, the files manifest and the
    quarantine name a file by its label."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def file_path(label: str) -> Path:
    """The file a `file_label` names: the label itself when such a file exists, else its `\\xNN` read as bytes."""
    path = Path(label)
    if path.exists() or "\\x" not in label:
        return path
    return Path(os.fsdecode(codecs.escape_decode(label.encode("utf-8"))[0]))


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes as stored: the key that makes ingestion idempotent."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DecodeReport:
    """What reading a file found: the encodings used, where the first non-UTF-8 line was, and
    whether the stream was cut short."""

    encoding: str = "utf-8"
    first_non_utf8_line: int | None = None
    non_utf8_lines: int = 0
    utf8_multibyte: bool = False
    bytes_read: int = 0
    ends_with_newline: bool = True
    truncated: str | None = None
    byte_order_mark: bool = False
    overlong_lines: list[int] = field(default_factory=list)  # the length in bytes of each line too long to be read

    @property
    def mixed(self) -> bool:
        """True when some lines are UTF-8 beyond ASCII and others are not UTF-8 at all."""
        return self.utf8_multibyte and self.non_utf8_lines > 0


def _single_bytes(raw: bytes, report: DecodeReport) -> str:
    """Bytes that are not UTF-8, read as cp1252 (latin-1 for the five bytes cp1252 leaves undefined)."""
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        report.encoding = "latin-1"
        return raw.decode("latin-1")  # maps every byte: never fails
    if report.encoding == "utf-8":
        report.encoding = "cp1252"
    return text


def _decode_line(raw: bytes, report: DecodeReport, number: int) -> str:
    """One line: its UTF-8 sequences as UTF-8, any other byte as cp1252 (a line may mix both)."""
    pieces = []
    rest = raw
    while rest:
        try:
            pieces.append(rest.decode("utf-8"))
            break
        except UnicodeDecodeError as error:
            pieces.append(rest[: error.start].decode("utf-8"))
            pieces.append(_single_bytes(rest[error.start : error.end], report))
            rest = rest[error.end :]
    if len(pieces) > 1:
        report.non_utf8_lines += 1
        if report.first_non_utf8_line is None:
            report.first_non_utf8_line = number
        if any(not piece.isascii() for piece in pieces[::2]):
            report.utf8_multibyte = True
    elif not raw.isascii():
        report.utf8_multibyte = True
    return "".join(pieces)


def decode_lines(data: bytes, report: DecodeReport, first_line: int) -> list[str]:
    """The lines of `data` (whole lines, LF-separated, the last one ending in LF or not)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [_decode_line(raw, report, number) for number, raw in enumerate(data.split(b"\n"), first_line)]
    if not report.utf8_multibyte and not data.isascii():
        report.utf8_multibyte = True
    return text.split("\n")


def line_ends_to_lf(data: bytes) -> bytes:
    """`data` with its line ends (CRLF, or CR alone) turned into LF."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def iter_raw_blocks(stream: BinaryIO, report: DecodeReport) -> Iterator[bytes]:
    """Yield the stream's bytes in blocks of whole lines, line ends as they are (LF, CRLF or CR): each
    block ends with its last line's end, but the last block, whose last line may have none.

    A CR at the end of a read waits for the next one (it may be the first half of a CRLF). A UTF-8
    byte order mark at the start is skipped (and noted in the report). A line longer than a read is gathered in
    parts, each searched for line ends once: time grows with its length, not with its square. A line longer than
    MAX_LINE_BYTES is not kept: its bytes are dropped as they are read, its length noted in the report, and a line
    saying so (`overlong_line`), which no DSN reader takes for a rubric, stands in its place.
    """
    pending: list[bytes] = []  # the start of the next line: no line end among them but a CR at the very end
    pending_bytes = 0
    skipped = 0  # bytes of a line too long to be read, dropped so far (0: none being dropped)
    skipped_to_cr = False  # that line ended at the CR that ended the last read
    most = max(MAX_LINE_BYTES, CHUNK_BYTES)
    while True:
        block = stream.read(CHUNK_BYTES)
        if not report.bytes_read and block.startswith(UTF8_BOM):
            report.byte_order_mark = True
            report.bytes_read += len(UTF8_BOM)
            block = block[len(UTF8_BOM) :]
        report.bytes_read += len(block)
        if not block:
            break
        if skipped_to_cr:  # the line dropped ended at that CR, alone or the first half of a CRLF
            report.overlong_lines.append(skipped)
            block = overlong_line(skipped) + b"\n" + (block[1:] if block.startswith(b"\n") else block)
            skipped, skipped_to_cr = 0, False
        if pending and pending[-1].endswith(b"\r") and not block.startswith(b"\n"):
            yield b"".join(pending)  # the CR that waited ends a line on its own
            pending, pending_bytes = [], 0
        search_end = _search_end(block)
        if pending or skipped:  # the line begun in earlier reads: too long once it holds more than `most` bytes
            end = _first_line_end(block, search_end)
            # A CR that ended the last read is the first half of a CRLF here (else the line was yielded above).
            begun = skipped or pending_bytes - (1 if pending and pending[-1].endswith(b"\r") else 0)
            length = begun + (search_end if end < 0 else end)
            if length > most:
                pending, pending_bytes, skipped = [], 0, length
                if end < 0:  # no end yet (or only the CR ending the read): dropped as read
                    skipped_to_cr = search_end < len(block)
                    continue
                report.overlong_lines.append(length)
                block = overlong_line(length) + b"\n" + block[end + (2 if block[end : end + 2] == b"\r\n" else 1) :]
                skipped = 0
                search_end = _search_end(block)
        cut = max(block.rfind(b"\n", 0, search_end), block.rfind(b"\r", 0, search_end))
        if cut < 0:
            pending.append(block)
            pending_bytes += len(block)
            continue
        pending.append(block[: cut + 1])
        yield b"".join(pending)
        pending = [block[cut + 1 :]] if cut + 1 < len(block) else []
        pending_bytes = len(pending[0]) if pending else 0
    report.truncated = stream_damage(stream)
    if skipped:  # the last line, too long
        report.overlong_lines.append(skipped)
        yield overlong_line(skipped) + (b"\n" if skipped_to_cr else b"")
    elif pending:
        yield b"".join(pending)


def overlong_line(length: int) -> bytes:
    """The line that stands in the place of a line of `length` bytes, too long to be read."""
    return f"[line not read: {length} bytes, longer than the {MAX_LINE_BYTES} a DSN line can be]".encode("ascii")


def _search_end(block: bytes) -> int:
    """Where line ends are looked for in `block`: all of it, but a CR that ends it (maybe the first half of a CRLF)."""
    return len(block) - 1 if block.endswith(b"\r") else len(block)


def _first_line_end(block: bytes, search_end: int) -> int:
    """The position of the first line end (LF or CR) of `block` before `search_end`, or -1."""
    ends = [i for i in (block.find(b"\n", 0, search_end), block.find(b"\r", 0, search_end)) if i >= 0]
    return min(ends) if ends else -1


def iter_line_blocks(stream: BinaryIO, report: DecodeReport) -> Iterator[tuple[int, bytes]]:
    """Yield (number of the first line, bytes of whole lines joined by LF, without the last LF).

    Line ends are turned into LF first; blocks are those of `iter_raw_blocks`.
    """
    line_number = 1
    for block in iter_raw_blocks(stream, report):
        lines = line_ends_to_lf(block)
        report.ends_with_newline = lines.endswith(b"\n")
        if report.ends_with_newline:
            lines = lines[:-1]
        yield line_number, lines
        line_number += lines.count(b"\n") + 1


def iter_line_chunks(stream: BinaryIO, report: DecodeReport) -> Iterator[tuple[int, list[str]]]:
    """Yield (number of the first line, lines) blocks; lines carry no end-of-line characters."""
    for first, data in iter_line_blocks(stream, report):
        yield first, decode_lines(data, report, first)
