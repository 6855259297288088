"""The tokeniser's loop (`warehouse.dsn.line_runs`): setup.py compiles it with Cython when it can, and the
compiled module must mark the same lines as its pure-Python source, on the fuzzed files of
tests/test_dsn_tokens.py cut into small buffers (lines and runs cut at the buffers' edges)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

import warehouse.dsn.line_runs as line_runs
from features.bench_rules import is_compiled, pure_python_module
from tests.test_dsn_tokens import base_lines, encode, mutate, parse_both
from warehouse.dsn import reader, tokens
from warehouse.dsn.reader import DecodeReport, iter_line_blocks, open_binary


def test_compiled_line_runs_is_built_from_the_current_source():
    """A compiled module older than its source (or its .pxd) runs old code: `make install` compiles it again."""
    loaded = Path(line_runs.__file__)
    if is_compiled(line_runs):
        for source in (loaded.with_name("line_runs.py"), loaded.with_name("line_runs.pxd")):
            assert loaded.stat().st_mtime >= source.stat().st_mtime, (
                f"{loaded.name} is older than {source.name}: run `make install` to compile it again"
            )


def _marks(module, selector: tokens.LineSelector, data: bytes) -> list[int]:
    raw = np.frombuffer(data, np.uint8)
    line_feeds = np.flatnonzero(raw == 10)
    starts = np.r_[0, line_feeds + 1].astype(np.int64)
    stops = np.r_[line_feeds, len(raw)].astype(np.int64)
    n = len(starts)
    inert = np.full(n, 7, np.uint8)  # overwritten whole
    module.mark_inert(data, starts, stops, selector.block_rows, selector.kinds, selector.walked, selector.parent_rows,
                      selector.under, np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.uint8),
                      np.empty(n, np.uint8), inert)
    return inert.tolist()


def test_compiled_and_pure_python_mark_the_same_lines(tmp_path, monkeypatch):
    pure = pure_python_module(line_runs)
    selectors = [tokens.LineSelector(), tokens.LineSelector(skip_repeated_openings=True)]
    rng = random.Random(21)
    base = base_lines()
    marked = 0
    for case in range(120):
        monkeypatch.setattr("warehouse.dsn.reader.CHUNK_BYTES", rng.choice([61, 257, 4096]))
        path = tmp_path / f"case{case}.dsn"
        path.write_bytes(encode(mutate(base, rng) if case else base, rng))
        with open_binary(path) as stream:
            for _, data in iter_line_blocks(stream, DecodeReport()):
                for selector in selectors:
                    compiled = _marks(line_runs, selector, data)
                    assert compiled == _marks(pure, selector, data), f"case {case}"
                    assert set(compiled) <= {0, 1}
                    marked += sum(compiled)
        with open_binary(path) as stream:
            for data in reader.iter_raw_blocks(stream, DecodeReport()):  # line ends as they are
                found = _lines(line_runs, data)
                assert found == _lines(pure, data) == _reference_lines(data), f"case {case}"
                inert = np.array([rng.random() < 0.5 for _ in found[0]], np.uint8)
                spans = np.array(found[0], np.int64), np.array(found[1], np.int64)
                assert line_runs.kept_lines(data, *spans, inert, 3) == pure.kept_lines(data, *spans, inert, 3)
    assert marked > 0  # lines were left out


def _lines(module, data: bytes) -> tuple[list[int], list[int], list[int]]:
    """(starts, stops, what the high bytes are) of `data`'s lines, from `module.find_lines`."""
    starts, stops, high = np.empty(len(data) + 1, np.int64), np.empty(len(data) + 1, np.int64), np.empty(4, np.int64)
    count = module.find_lines(data, memoryview(data)[: len(data) // 8 * 8].cast("Q"), starts, stops, high)
    found = starts[:count].tolist(), stops[:count].tolist(), high.tolist()
    count = module.find_lines(data, memoryview(b"").cast("Q"), starts, stops, high)  # byte by byte
    assert (starts[:count].tolist(), stops[:count].tolist(), high.tolist()) == found
    return found


def _reference_lines(data: bytes) -> tuple[list[int], list[int], list[int]]:
    """What `find_lines` must find, from the lines split by a regular expression, byte by byte."""
    starts, stops, with_high = [], [], []
    for match in re.finditer(rb"[^\r\n]*(\r\n|\r|\n)|[^\r\n]+$", data):
        line = match.group().rstrip(b"\r\n")
        if any(byte >= 0x80 for byte in line):
            with_high.append(len(starts))
        starts.append(match.start())
        stops.append(match.start() + len(line))
    high = [byte for line in with_high for byte in data[starts[line] : stops[line]] if byte >= 0x80]
    suspect = any(
        (0xC2 <= data[i] <= 0xF4 and i + 1 < len(data) and 0x80 <= data[i + 1] <= 0xBF)
        or data[i] in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
        for i in range(len(data))
    )
    c1 = any(0x80 <= byte <= 0x9F for byte in high)
    return starts, stops, [len(with_high), with_high[0] if with_high else -1, int(suspect), int(c1)]


def test_a_run_keeps_its_first_and_last_lines_only():
    """Contribution lines (block 81, walked through) of two instances, between kept lines: of each
    instance only the line that opens it is read (none when repeated openings are skipped: the individual
    after them is placed the same without them); the first and last lines of the buffer are always read."""
    lines = [
        "S21.G00.78.001,'02'", "S21.G00.78.002,'01012025'", "S21.G00.78.003,'31012025'",
        "S21.G00.81.001,'075'", "S21.G00.81.003,'2000.00'", "S21.G00.81.004,'100.00'",
        "S21.G00.81.001,'076'", "S21.G00.81.003,'2000.00'", "S21.G00.81.004,'12.50'",
        "S21.G00.30.001,'1800175123456'", "S21.G00.81.003,'2000.00'",
    ]
    data = "\n".join(lines).encode("ascii")
    assert _marks(line_runs, tokens.LineSelector(), data) == [0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0]
    assert _marks(line_runs, tokens.LineSelector(skip_repeated_openings=True), data) == [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]


def test_the_payroll_blocks_between_kept_lines_are_left_out_with_repeated_openings():
    """Bases (78), contributions (81) and components (79), walked through, between an activity (53) and the
    next individual (30): with repeated openings skipped, none of them is read, each being placed under
    the block of the line before it and the individual under all of them."""
    lines = [
        "S21.G00.53.003,'10'", "S21.G00.78.001,'02'", "S21.G00.78.004,'2000.00'",
        "S21.G00.81.001,'075'", "S21.G00.81.004,'100.00'",
        "S21.G00.78.001,'03'", "S21.G00.78.004,'2000.00'", "S21.G00.79.001,'01'", "S21.G00.79.004,'1800.00'",
        "S21.G00.78.001,'04'", "S21.G00.81.001,'045'",
        "S21.G00.78.001,'07'", "S21.G00.78.004,'2000.00'", "S21.G00.30.001,'1800175123456'",
    ]
    data = "\n".join(lines).encode("ascii")
    assert _marks(line_runs, tokens.LineSelector(), data) == [0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0]
    assert _marks(line_runs, tokens.LineSelector(skip_repeated_openings=True), data) == [
        0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0
    ]


def test_a_payroll_line_is_read_when_the_next_line_read_would_not_be_placed_without_it():
    """A contribution (81) followed by a rubric the norm lacks is read; so is its base (78), right after the
    pay block (50): the contribution belongs under the base, not under the pay block."""
    lines = [
        "S21.G00.50.001,'31012025'", "S21.G00.50.002,'1800.00'", "S21.G00.78.001,'02'", "S21.G00.78.004,'2000.00'",
        "S21.G00.81.001,'075'", "S21.G00.81.157,'1'", "S21.G00.30.001,'1800175123456'",
    ]
    data = "\n".join(lines).encode("ascii")
    assert _marks(line_runs, tokens.LineSelector(skip_repeated_openings=True), data) == [0, 1, 0, 1, 0, 0, 0]


@pytest.mark.parametrize("buffer_bytes", [reader.CHUNK_BYTES, 97])
def test_skipping_repeated_openings_changes_nothing_but_the_issues_of_misplaced_blocks(tmp_path, monkeypatch,
                                                                                      buffer_bytes):
    """On the fuzzed files, the lines left with repeated openings skipped give the rows, counts and
    decoding report that every line gives, and the same issues and problems unless a block was misplaced
    (which every line then shows too: `parse_worker` reads such a file again with every opening)."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", buffer_bytes)
    selector = tokens.LineSelector(skip_repeated_openings=True)
    rng = random.Random(buffer_bytes + 1)
    base = base_lines()
    misplaced = 0
    for case in range(150):
        path = tmp_path / f"case{case}.dsn"
        path.write_bytes(encode(mutate(base, rng) if case else base, rng))
        (every_rows, every_issues, every_summary, every_report), (rows, issues, summary, report) = parse_both(
            path, selector
        )
        assert (summary, report) == (every_summary, every_report), f"case {case}"
        assert tokens.has_misplaced_block(issues) == tokens.has_misplaced_block(every_issues), f"case {case}"
        if tokens.has_misplaced_block(issues):
            misplaced += 1
            # The same declarations (rows, lines) are quarantined, with fewer of their problems listed.
            assert [(*r[:2], bool(r[2]), *r[3:]) for r in rows] == [(*r[:2], bool(r[2]), *r[3:]) for r in every_rows]
        else:
            assert (rows, issues) == (every_rows, every_issues), f"case {case}"
    assert misplaced  # the fuzzed cases include misplaced blocks


def test_a_buffer_of_more_lines_than_guessed_is_read_whole():
    """Blank lines (ends LF, CRLF and CR) are shorter than the tokeniser's guess of a line's bytes."""
    data = b"\r\n" * 30 + b"\n" * 30 + b"\r" * 30 + b"S90.G00.90.001,'95'"
    numbers, lines, count = tokens.LineSelector().select(5, data, DecodeReport())
    assert count == 91
    assert numbers == list(range(5, 96))
    assert lines == [""] * 90 + ["S90.G00.90.001,'95'"]
