"""The tokeniser leaves out only lines the parser need not read: on valid and damaged files, parsing
the lines it keeps gives the same declarations, rows, issues and counts as parsing every line."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from tests.dsn_builder import Contract, Declaration, Individual, envoi, render
from warehouse.dsn import reader
from warehouse.dsn.norm import load_norm
from warehouse.dsn.parser import DsnParser
from warehouse.dsn.reader import DecodeReport, decode_lines, iter_line_chunks, open_binary
from warehouse.dsn.records import RecordBuilder
from warehouse.dsn.tokens import HighBytes, LineSelector, buffer_encoding, iter_parser_lines, line_spans
from warehouse.pseudonym import Pseudonymiser

# Blocks the parser walks through (a complementary contract 70 under the contract, pay 50 with its
# remuneration 51 and activity 53 kept, base 78 under 50, contribution 81 and component 79 under 78), and
# text fields of kept blocks that no row is read from (40.002, 30.007, 30.014).
WALKED = [
    "S21.G00.70.005,'NCA'", "S21.G00.70.012,'1'", "S21.G00.70.013,'1'",
    "S21.G00.50.001,'31012025'", "S21.G00.50.002,'1800.00'", "S21.G00.51.001,'01012025'", "S21.G00.51.010,'C00'",
    "S21.G00.51.011,'002'", "S21.G00.51.012,'151.67'", "S21.G00.53.001,'01'", "S21.G00.53.002,'151.67'",
    "S21.G00.53.003,'10'", "S21.G00.78.001,'02'", "S21.G00.78.002,'01012025'",
    "S21.G00.78.003,'31012025'", "S21.G00.78.004,'2000.00'", "S21.G00.81.001,'075'", "S21.G00.81.003,'2000.00'",
    "S21.G00.81.004,'100.00'", "S21.G00.81.001,'076'", "S21.G00.81.003,'2000.00'", "S21.G00.81.004,'12.50'",
    "S21.G00.78.001,'03'", "S21.G00.78.002,'01012025'", "S21.G00.78.003,'31012025'", "S21.G00.78.004,'2000.00'",
    "S21.G00.79.001,'01'", "S21.G00.79.004,'1800.00'", "S21.G00.81.001,'018'", "S21.G00.81.003,'2000.00'",
    "S21.G00.81.004,'-40.00'", "S21.G00.78.001,'04'", "S21.G00.78.004,'2000.00'", "S21.G00.81.001,'045'",
]
UNREAD_TEXT = ["S21.G00.40.002,'10'", "S21.G00.30.007,'PARIS'", "S21.G00.30.014,'75'"]


def base_lines() -> list[str]:
    """Two declarations of three individuals each, with walked-through payroll blocks after each individual."""
    declarations = [
        Declaration(
            f"1234567890{index:04d}", "2025-01",
            [Individual(contracts=[Contract(f"C{index}{k}", "2025-01-06", title="Agent d'entretien",
                                            planned_end="2025-03-31")]) for k in range(3)],
            order=str(index + 1),
        )
        for index in range(2)
    ]
    out = []
    for line in render(envoi(declarations)):
        out.append(line)
        if line.startswith("S21.G00.30.001"):
            out += UNREAD_TEXT[1:]
        if line.startswith("S21.G00.40.001"):
            out.append(UNREAD_TEXT[0])
        if line.startswith("S21.G00.40.021"):
            out += WALKED
    return out


def mutate(lines: list[str], rng: random.Random) -> list[str]:
    """A few random damages: lines lost, repeated, swapped or inserted; codes, commas, quotes, bytes changed."""
    lines = list(lines)
    pool = WALKED + UNREAD_TEXT + lines
    for _ in range(rng.randint(0, 6)):
        at = rng.randrange(len(lines)) if lines else 0
        action = rng.randrange(10)
        if action == 0 and lines:
            del lines[at]
        elif action == 1 and lines:
            lines.insert(at, lines[at])
        elif action == 2 and at + 1 < len(lines):
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
        elif action == 3:
            lines.insert(at, rng.choice(pool))
        elif action == 4 and lines and len(lines[at]) > 14:
            lines[at] = lines[at][:11] + f"{rng.randrange(1000):03d}" + lines[at][14:]
        elif action == 5 and lines:
            lines[at] = lines[at].replace("'", "")
        elif action == 6 and lines:
            lines[at] = lines[at].replace(",", " ", 1)
        elif action == 7:
            lines.insert(at, "")
        elif action == 8 and lines:
            lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
        elif lines:
            lines[at] = lines[at][:-1] + rng.choice(["é", "Ã©", "€", "\x81", "\x00", ",", "'"]) + lines[at][-1:]
    return lines


def encode(lines: list[str], rng: random.Random) -> bytes:
    newline = rng.choice(["\n", "\r\n", "\r"])
    text = newline.join(lines) + rng.choice([newline, ""])
    encoding = rng.choice(["latin-1", "cp1252", "utf-8", "mixed"])
    if encoding == "mixed":  # UTF-8 lines next to cp1252 lines
        return b"".join(
            part.encode("utf-8" if i % 2 else "cp1252", "replace") for i, part in enumerate(text.split("Agent"))
        )
    return text.encode(encoding, "replace")


def parse_both(path: Path, selector: LineSelector) -> list[tuple]:
    """(rows, issues, counts, decoding report) from every line, then from the tokeniser's lines."""
    outcomes = []
    for selected in (False, True):
        parser = DsnParser(str(path))
        builder = RecordBuilder(Pseudonymiser(b"test key"), "0" * 64, str(path), date(2026, 1, 1))
        report = DecodeReport()
        with open_binary(path) as stream:
            chunks = (
                iter_parser_lines(stream, report, selector) if selected
                else ((range(first, first + len(lines)), lines) for first, lines in iter_line_chunks(stream, report))
            )
            rows = [
                (builder.monthly_rows(d), builder.header_row(d, len(d.individuals), 0), d.problems, d.line_start, d.line_end)
                for d in parser.parse(chunks, report)
            ]
        outcomes.append((rows, parser.issues + builder.issues, parser.summary, report))
    return outcomes


@pytest.mark.parametrize("buffer_bytes", [reader.CHUNK_BYTES, 97])
def test_parsing_the_kept_lines_gives_what_parsing_every_line_gives(tmp_path, monkeypatch, buffer_bytes):
    monkeypatch.setattr(reader, "CHUNK_BYTES", buffer_bytes)  # small buffers: lines and runs cut at their edges
    selector = LineSelector()
    rng = random.Random(buffer_bytes)
    base = base_lines()
    left_out = 0
    for case in range(150):
        path = tmp_path / f"case{case}.dsn"
        path.write_bytes(encode(mutate(base, rng) if case else base, rng))
        every_line, kept_lines = parse_both(path, selector)
        assert kept_lines == every_line, f"case {case}"
        left_out += every_line[2].lines - sum(1 for _ in _kept(path, selector))
    assert every_line[0] or left_out  # the cases are not all empty, and lines were left out
    assert left_out > 0


def _kept(path: Path, selector: LineSelector) -> list[int]:
    with open_binary(path) as stream:
        return [n for numbers, _ in iter_parser_lines(stream, DecodeReport(), selector) for n in numbers]


def test_walked_and_unread_lines_are_left_out_but_the_last(tmp_path):
    lines = base_lines()
    path = tmp_path / "base.dsn"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    kept = {lines[n - 1] for n in _kept(path, LineSelector())}
    assert "S21.G00.78.002,'01012025'" not in kept  # inside a run of a walked-through block
    assert "S21.G00.40.002,'10'" not in kept  # a contract field no row is read from
    assert "S21.G00.40.009,'C00'" in kept and "S21.G00.30.001,'1800175123456'" in kept
    assert lines[-1] in kept


def test_every_rubric_the_rows_read_is_in_the_norm():
    from warehouse.dsn.records import READ_FIELDS

    rubrics = load_norm().rubrics
    assert {f"{block}.{number}" for block, numbers in READ_FIELDS.items() for number in numbers} <= rubrics


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("S21.G00.30.002,'DUPONT'\nS21.G00.30.004,'Lea'", "ascii"),
        ("S21.G00.30.002,'HÉBERT'\nS21.G00.30.004,'Léa'", "utf-8"),
        ("S21.G00.30.002,'HÉBERT'\nS21.G00.30.004,'Lea'\nS21.G00.30.004,'Zoé'", "latin-1"),
        ("S21.G00.30.002,'ŒUVRE 5 €'", "cp1252"),
    ],
)
def test_a_buffer_is_decoded_at_once_as_line_by_line(text, codec):
    data = text.encode("utf-8" if codec == "ascii" else codec)
    at_once, by_line = DecodeReport(), DecodeReport()
    chosen = buffer_encoding(data, _high_bytes(data), at_once, 7)
    assert chosen is not None
    assert data.decode(chosen).split("\n") == decode_lines(data, by_line, 7)
    assert at_once == by_line


@pytest.mark.parametrize("data", ["é next to Ã©".encode("latin-1"), b"undefined \x81 in cp1252"])
def test_buffers_that_mix_utf8_and_single_bytes_are_decoded_line_by_line(data):
    assert buffer_encoding(data, _high_bytes(data), DecodeReport(), 1) is None


def test_the_high_bytes_of_a_buffer_are_counted_by_line():
    """Lines 1 and 3 (of 0 to 3) hold bytes above 0x7F, none of which starts a UTF-8 sequence."""
    data = "S21.G00.30.002,'DUPONT'\r\nS21.G00.30.002,'HÉBERT ÉLODIE'\rS21.G00.30.004,'Lea'\nZoé".encode("latin-1")
    assert _high_bytes(data) == HighBytes(lines=2, first=1, suspect=0, c1=0)
    assert _high_bytes("Zoé".encode()).suspect == 1


def _high_bytes(data: bytes) -> HighBytes:
    return line_spans(data)[2]
