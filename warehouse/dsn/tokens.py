"""Tokenising DSN text by buffers: which lines the parser must see, found by one compiled loop over the raw bytes.

Most lines of a DSN file belong to blocks Champollion does not keep (contribution bases and
contributions, payments to the bodies, ...) and continue the block instance of the line before
them. Such a line changes nothing but where the parser stands in the block, and the next line of
the same run says that again: of each run, only the last line needs to be read. Over each buffer of
whole lines (reader.CHUNK_BYTES), every line's first 15 bytes are read as its rubric (block code,
field number, comma) by a loop compiled with Cython (`line_runs.mark_inert`), without a Python
object per line; the runs are dropped, and only the lines left are decoded, with their line numbers.

Decoding keeps the reader's rules (UTF-8, else cp1252, else latin-1, decided line by line): a
buffer that is ASCII, all UTF-8, or single-byte text holding no UTF-8 sequence at all (ISO-8859-1
or cp1252 files) is decoded in one call, and its non-UTF-8 lines are counted in the report as the
line-by-line decoder counts them; any other buffer is decoded line by line (reader.decode_lines).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt

from warehouse.dsn.line_runs import HEAD_BYTES, NOT_IN_NORM, READ, UNREAD, find_lines, kept_lines, mark_inert
from warehouse.dsn.norm import Norm, load_norm
from warehouse.dsn.parser import CONVERTERS, KEPT_BLOCKS, Issue
from warehouse.dsn.reader import DecodeReport, decode_lines, iter_raw_blocks, line_ends_to_lf
from warehouse.dsn.records import READ_FIELDS

LINE_BYTES_GUESS = 12  # fewer bytes per line than any DSN file has on average (a rubric alone takes 15)

IntArray = npt.NDArray[np.int64]


class LineSelector:
    """Picks, in a buffer of lines, those the parser must read, and decodes only them.

    With `skip_repeated_openings`, the lines that open another instance of a (non-root) block walked
    through right after a line of the same block are left out too: contribution after contribution
    (S21.G00.81), base after base (78), a third of the lines left otherwise; and so are the lines of such
    blocks that the parser would place under the block of the line before them, with the next line read
    placed under both (bases, contributions and components after a pay block's activity, complementary
    contracts 70: a third of the lines left). The parser reads the same rows from the lines left, and the
    same issues, as long as it places every instance of those blocks in the block tree (see
    `has_misplaced_block`): where it stands in the tree then depends on the last block placed only, so
    that each line left out would only have placed its block where the next line read is placed all the
    same. A file with a misplaced block must be parsed again without the option for its issues
    (`warehouse.parse_worker` does).
    """

    def __init__(self, norm: Norm | None = None, skip_repeated_openings: bool = False) -> None:
        norm = norm or load_norm()
        self.skip_repeated_openings = skip_repeated_openings
        rubrics = {
            rubric: number for rubric in norm.rubrics
            if rubric[:10] in norm.parents and len(rubric) == HEAD_BYTES - 1
            and (number := _digits(rubric)) is not None
        }
        blocks = sorted({number // 1000 for number in rubrics.values()})
        # Block digits (`Sxx.Gxx.xx` -> xxxxxx) -> row of `kinds`; row 0: not a block of the norm.
        self.block_rows = np.zeros(10**6, np.int16)
        self.block_rows[blocks] = np.arange(1, len(blocks) + 1)
        # What a rubric's line is to the parser, by block row and field number.
        self.kinds = np.full((len(blocks) + 1, 1000), NOT_IN_NORM, np.uint8)
        # Blocks whose repeated openings are left out (walked through, not a root), by row of `kinds`.
        self.walked = np.zeros(len(blocks) + 1, np.uint8)
        for rubric, number in rubrics.items():
            block = rubric[:10]
            # A line never read: a rubric of a block walked through without keeping a value, or a
            # text field of a kept block that no row is built from (no converter checks it).
            unread = block not in KEPT_BLOCKS or (rubric not in CONVERTERS and rubric[11:] not in READ_FIELDS[block])
            self.kinds[self.block_rows[number // 1000], number % 1000] = UNREAD if unread else READ
            if skip_repeated_openings and block not in KEPT_BLOCKS and norm.parents[block] is not None:
                self.walked[self.block_rows[number // 1000]] = 1
        # The row of each block's parent (0: a root, or a parent with no rubric in the norm), and whether a
        # block is another or one of its ancestors (`under[a, b]`: a is b or an ancestor of b), by rows.
        self.parent_rows = np.zeros(len(blocks) + 1, np.int16)
        for rubric, number in rubrics.items():
            parent = norm.parents[rubric[:10]]
            if parent is not None and (parent_number := _digits(parent + ".000")) is not None:
                self.parent_rows[self.block_rows[number // 1000]] = self.block_rows[parent_number // 1000]
        self.under = np.zeros((len(blocks) + 1, len(blocks) + 1), np.uint8)
        for row in range(1, len(blocks) + 1):
            ancestor = row
            while ancestor and not self.under[ancestor, row]:  # (a cycle in the table would stop here)
                self.under[ancestor, row] = 1
                ancestor = self.parent_rows[ancestor]

    def select(self, first: int, data: bytes, report: DecodeReport) -> tuple[list[int], list[str], int]:
        """(line numbers, lines, count of lines): the lines the parser must read, of the whole lines of
        `data` (line ends as read: LF, CRLF or CR), the first numbered `first`, without their ends, and
        how many lines `data` holds; `report` counts the encodings of every line, read or not."""
        starts, stops, high = line_spans(data)
        count = len(starts)
        inert = self._inert(data, starts, stops)
        numbers, kept = kept_lines(data, starts, stops, inert, first)
        encoding = buffer_encoding(data, high, report, first)
        if encoding is None:
            text = line_ends_to_lf(data)
            lines = decode_lines(text[:-1] if text.endswith(b"\n") else text, report, first)
            return numbers, [lines[number - first] for number in numbers], count
        return numbers, kept.decode(encoding).split("\n") if numbers else [], count

    def _inert(self, data: bytes, starts: IntArray, stops: IntArray) -> npt.NDArray[np.uint8]:
        """Lines the parser need not read: a line never read (see __init__), quoted, that continues
        the block instance of the line before it, and whose next line the parser reads the same way
        without it (it continues the instance too, or it starts a new one either way).

        A line continues the instance when it is a rubric of the norm and the line before it is a
        well-formed rubric of the same block with a lower field number. Reading it would only move
        the parser's place in the block (and keep a value no row is built from), which the next line
        moves again or leaves. The loop over the lines is `line_runs.mark_inert` (compiled).
        """
        n = len(starts)
        inert = np.empty(n, np.uint8)
        mark_inert(data, starts, stops, self.block_rows, self.kinds, self.walked, self.parent_rows, self.under,
                   np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.uint8), np.empty(n, np.uint8), inert)
        return inert


def _digits(rubric: str) -> int | None:
    """The nine digits of a rubric code `Sxx.Gxx.xx.xxx` as one number (None for another text)."""
    digits = rubric[1:3] + rubric[5:7] + rubric[8:10] + rubric[11:14]
    fixed = rubric[0] + rubric[3:5] + rubric[7] + rubric[10]
    return int(digits) if fixed == "S.G.." and len(digits) == 9 and digits.isdigit() and digits.isascii() else None


class HighBytes(NamedTuple):
    """What `line_runs.find_lines` found of the bytes above 0x7F of a buffer."""

    lines: int  # how many lines hold one
    first: int  # index of the first of those lines (-1: none)
    suspect: int  # 1 when one may start a UTF-8 sequence or is undefined in cp1252
    c1: int  # 1 when one is 0x80 to 0x9F, where cp1252 and latin-1 differ (0: latin-1 decodes as cp1252)


def line_spans(data: bytes) -> tuple[IntArray, IntArray, HighBytes]:
    """(starts, stops, high bytes) of the lines of `data` (line ends excluded: LF, CRLF or CR; the
    last line may have none), by `line_runs.find_lines`."""
    count = -1
    capacity = len(data) // LINE_BYTES_GUESS + 1
    high = np.empty(4, np.int64)
    # (find_lines reads the words as little-endian: elsewhere, none is given and bytes are read one by one)
    words = memoryview(data)[: len(data) // 8 * 8 if sys.byteorder == "little" else 0].cast("Q")
    while count < 0:  # more lines than guessed: room for as many as bytes
        starts, stops = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
        count = find_lines(data, words, starts, stops, high)
        capacity = len(data) + 1
    return starts[:count], stops[:count], HighBytes(*map(int, high))


def buffer_encoding(data: bytes, high: HighBytes, report: DecodeReport, first: int) -> str | None:
    """The codec that decodes every line of `data` as the line-by-line reader would, with the report
    updated for all its lines; None when lines must be decoded one by one (UTF-8 sequences next to
    other bytes, or bytes cp1252 leaves undefined). `high` is what `find_lines` found of `data`, whose
    first line is numbered `first`.

    Text holding a byte above 0x7F is UTF-8 only if such a byte starts a UTF-8 sequence (`high.suspect`):
    otherwise it is single-byte text, decoded as cp1252 (which decodes the bytes it defines as
    latin-1 does, but 0x80 to 0x9F), by latin-1's faster codec when it holds none of 0x80 to 0x9F.
    """
    if not high.lines:
        return "ascii"
    if high.suspect:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        report.utf8_multibyte = True
        return "utf-8"
    report.non_utf8_lines += high.lines
    if report.first_non_utf8_line is None:
        report.first_non_utf8_line = first + high.first
    if report.encoding == "utf-8":
        report.encoding = "cp1252"
    return "cp1252" if high.c1 else "latin-1"


def has_misplaced_block(issues: Iterable[Issue]) -> bool:
    """Whether the parser failed to place a block in the tree (a block outside its parent, with no
    owner open): then lines a `LineSelector(skip_repeated_openings=True)` left out would have added
    issues of their own."""
    return any(issue.kind == "wrong_parent" for issue in issues)


def iter_parser_lines(stream: BinaryIO, report: DecodeReport, selector: LineSelector | None = None
                      ) -> Iterator[tuple[list[int], list[str]]]:
    """Yield (line numbers, lines) of a DSN stream for `DsnParser.parse`, buffer by buffer; lines
    carry no end-of-line characters, and lines the parser need not read are left out."""
    selector = selector or LineSelector()
    first = 1
    for data in iter_raw_blocks(stream, report):
        report.ends_with_newline = data.endswith((b"\n", b"\r"))
        numbers, lines, count = selector.select(first, data, report)
        yield numbers, lines
        first += count
