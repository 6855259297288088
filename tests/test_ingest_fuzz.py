"""A corpus of malformed DSN files: none stops a run, each gives a clear issue line, none loses the
valid declarations of its file.

Every case is one file holding a valid declaration (establishment `good`) and a damaged part
(usually a second declaration, establishment `other`). All the files are ingested in one run;
each case then checks its issue (kind, line, words of the reason) and which establishments of
its file reached the warehouse.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from core.config import Config
from core.home import Home
from tests.dsn_builder import Contract, Declaration, Individual, envoi, render
from warehouse.ingest import ingest

NIR_IN_WRONG_FIELD = "1800175123456"
ANY_LINE = -1  # the issue names a line, which depends on where the damage falls


@dataclass(frozen=True)
class Case:
    """A damaged file: what it holds, the issue expected, and the establishments kept."""

    name: str
    content: bytes
    kind: str | None  # the issue expected (None: a valid variant, no warning nor error at all)
    line: int | None  # its line (None: a file-level issue; ANY_LINE: some line)
    words: str  # a part of its reason
    kept: tuple[str, ...]  # the establishments of the file whose declaration is kept
    suffix: str = ".dsn"


def _sirets(index: int) -> tuple[str, str]:
    return f"{200000000 + index:09d}00011", f"{300000000 + index:09d}00012"


def _declaration(siret: str, order: str, contract: Contract | None = None, **kwargs) -> Declaration:
    individual = Individual(contracts=[contract or Contract("C1", "2025-01-06", planned_end="2025-03-31")])
    return Declaration(siret, "2025-01", [individual], order=order, **kwargs)


def _lines(index: int, other: Declaration | None = None, **other_kwargs) -> list[str]:
    good, bad = _sirets(index)
    return render(envoi([_declaration(good, "1"), other or _declaration(bad, "2", **other_kwargs)]))


def _text(lines: list[str], newline: str = "\r\n") -> bytes:
    return (newline.join(lines) + newline).encode("latin-1")


def _other_start(lines: list[str], index: int) -> int:
    """Index of the first line of the second (damaged) declaration."""
    _, bad = _sirets(index)
    enterprise = lines.index(f"S21.G00.06.001,'{bad[:9]}'")
    return max(i for i in range(enterprise) if lines[i].startswith("S20.G00.05.001"))


def _find(lines: list[str], prefix: str, start: int = 0) -> int:
    return next(i for i in range(start, len(lines)) if lines[i].startswith(prefix))


def _replace(prefix: str, new: str, kind: str, words: str, quarantines: bool, at_declaration: bool = False
             ) -> Callable[[int], tuple]:
    """A case: the first line starting with `prefix` in the damaged declaration becomes `new`; the
    issue is on that line (or on the declaration's first line, `at_declaration`)."""

    def build(index: int) -> tuple[bytes, str, int, str, tuple[str, ...]]:
        lines = _lines(index)
        start = _other_start(lines, index)
        at = _find(lines, prefix, start)
        lines[at] = new
        good, bad = _sirets(index)
        return _text(lines), kind, (start if at_declaration else at) + 1, words, (good,) if quarantines else (good, bad)

    return build


def _insert(after_prefix: str, new: list[str], kind: str, words: str, quarantines: bool, file_level: bool = False
            ) -> Callable[[int], tuple]:
    """A case: lines `new` inserted after the first line starting with `after_prefix` in the damaged
    declaration; the issue is on the first of them (or on no line, `file_level`)."""

    def build(index: int) -> tuple[bytes, str, int | None, str, tuple[str, ...]]:
        lines = _lines(index)
        at = _find(lines, after_prefix, _other_start(lines, index)) + 1
        lines[at:at] = new
        good, bad = _sirets(index)
        return _text(lines), kind, None if file_level else at + 1, words, (good,) if quarantines else (good, bad)

    return build


def _truncated_mid_line(index: int) -> tuple:
    lines = _lines(index)
    cut = _find(lines, "S21.G00.40.006", _other_start(lines, index))
    text = _text(lines[:cut]) + b"S21.G00.40.006,'Serv"
    return text, "truncated_file", cut + 1, "truncated", (_sirets(index)[0],)


def _missing_total(index: int) -> tuple:
    lines = _lines(index)[:-2]
    return _text(lines), "truncated_file", len(lines), "no S90 total", (_sirets(index)[0],)


def _wrong_count(number: str, words: str) -> Callable[[int], tuple]:
    def build(index: int) -> tuple:
        lines = _lines(index)
        at = _find(lines, f"S90.G00.90.{number}")
        lines[at] = f"S90.G00.90.{number},'7'"
        return _text(lines), "s90_mismatch", _find(lines, "S90.G00.90.001") + 1, words, _sirets(index)

    return build


def _garbage_after_total(index: int) -> tuple:
    lines = _lines(index)
    garbage = _text(lines) + b"\x00\xff\xfe garbage \x9d\r\n"
    return garbage, "malformed_line", len(lines) + 1, "outside any declaration", _sirets(index)


def _byte_order_mark(index: int) -> tuple:
    return b"\xef\xbb\xbf" + _text(_lines(index)), "byte_order_mark", 1, "byte order mark", _sirets(index)


def _duplicated_declaration(index: int) -> tuple:
    good, bad = _sirets(index)
    twice = _declaration(bad, "2")
    lines = render(envoi([_declaration(good, "1"), twice, twice]))
    second = [i for i, line in enumerate(lines) if line == "S20.G00.05.001,'01'"][2]
    return _text(lines), "duplicate_declaration", second + 1, "counted once", (good, bad)


def _two_survivors(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = render(envoi([_declaration(good, "1"), _declaration(bad, "2"), _declaration(bad, "3")]))
    second = [i for i, line in enumerate(lines) if line == "S20.G00.05.001,'01'"][1]
    return _text(lines), "superseded", second + 1, "was kept", (good, bad)


def _orphan_after_individual(block_lines: list[str], block: str) -> Callable[[int], tuple]:
    """A child block of the contract right after a new individual (no contract open yet)."""

    def build(index: int) -> tuple:
        good, bad = _sirets(index)
        other = Declaration(bad, "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06")]),
                                             Individual(nir="2800175123456", surname="DURAND",
                                                        contracts=[Contract("C2", "2025-01-06")])], order="2")
        lines = _lines(index, other)
        at = lines.index("S21.G00.30.006,'01011980'", lines.index("S21.G00.30.002,'DURAND'")) + 1
        lines[at:at] = block_lines
        return _text(lines), "wrong_parent", at + 1, f"block {block} with no S21.G00.40 open", (good,)

    return build


def _mixed_encoding(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = render(envoi([_declaration(good, "1", Contract("C1", "2025-01-06", title="Employé")),
                          _declaration(bad, "2", Contract("C1", "2025-01-06", title="Café"))]))
    text = _text(lines).decode("latin-1").encode("utf-8").replace("Café".encode(), b"Caf\xe9")
    return text, "mixed_encoding", lines.index("S21.G00.40.006,'Café'") + 1, "not UTF-8 on 1 lines", (good, bad)


def _gzip_cut(index: int) -> tuple:
    good, bad = _sirets(index)
    filler = [_declaration(f"{400000000 + index * 100 + k:09d}00013", str(10 + k),
                           Contract("C1", "2025-01-06", title=f"Poste {k} " + "x" * 40)) for k in range(40)]
    lines = render(envoi([_declaration(good, "1"), *filler, _declaration(bad, "2")]))
    cut = gzip.compress(_text(lines), mtime=0)[: int(len(gzip.compress(_text(lines), mtime=0)) * 0.6)]
    readable = zlib.decompressobj(wbits=31).decompress(cut).decode("latin-1")
    sirets = [good, *(d.siret for d in filler), bad]
    # a declaration is whole when the next one starts before the cut
    kept = tuple(s for s, after in pairwise(sirets) if f"S21.G00.06.001,'{after[:9]}'" in readable)
    assert 0 < len(kept) < len(sirets) - 1
    return cut, "truncated_file", ANY_LINE, "compressed stream cut short", kept


def _gzip_garbage(index: int) -> tuple:
    return b"\x1f\x8b\x08\x00" + b"not deflate data " * 8, "truncated_file", None, "compressed stream damaged", ()


def _gzip_trailing_garbage(index: int) -> tuple:
    data = gzip.compress(_text(_lines(index)), mtime=0) + b"trailing bytes that are not gzip"
    return data, "truncated_file", ANY_LINE, "compressed stream damaged", _sirets(index)


def _gzip_magic_only(index: int) -> tuple:
    return b"\x1f\x8b", "truncated_file", None, "compressed stream", ()


def _empty(index: int) -> tuple:
    return b"", "no_declaration", None, "no declaration could be read", ()


def _blank_lines(index: int) -> tuple:
    return b"\r\n\r\n\n", "no_declaration", None, "no declaration could be read", ()


def _binary(index: int) -> tuple:
    return bytes(range(256)) * 4, "no_declaration", None, "no declaration could be read", ()


def _cut_before_next_envoi(index: int) -> tuple:
    """An envoi cut inside its second declaration (no S90), another envoi appended: the cut one is quarantined."""
    good, _ = _sirets(index)
    lines = _lines(index)
    cut = lines[:_other_start(lines, index) + 6]
    following = f"{400000000 + index:09d}00013"
    rest = render(envoi([_declaration(following, "3")]))
    return _text(cut + rest), "truncated_envoi", len(cut) + 1, "the declaration is cut short", (good, following)


def _utf16(encoding: str, words: str) -> Callable[[int], tuple]:
    """The file saved again in UTF-16 (by Notepad, say): read as such, with one warning."""

    def build(index: int) -> tuple:
        return _text(_lines(index)).decode("latin-1").encode(encoding), "utf16_file", None, words, _sirets(index)

    return build


def _line_before_the_envelope(index: int) -> tuple:
    """A transfer tool's header line before S10: the file is still found in its folder, and read."""
    return b"HEADER transfert 2025-01\r\n" + _text(_lines(index)), "malformed_line", 1, "not a rubric line", _sirets(index)


def _no_envoi(index: int) -> tuple:
    lines = _lines(index)[10:]
    return _text(lines), "missing_envoi", 1, "without an S10 envoi header", _sirets(index)


def _cancels_nothing(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = _lines(index, _declaration(bad, "2", type="04", replaces="0101202599"))
    return _text(lines), "replaces_nothing", _other_start(lines, index) + 1, "cancels the declaration", (good,)


def _nir_as_replaced_declaration(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = _lines(index, _declaration(bad, "2", type="03", replaces=NIR_IN_WRONG_FIELD))
    return _text(lines), "replaces_nothing", _other_start(lines, index) + 1, "replaces the declaration", (good, bad)


def _no_identity(index: int) -> tuple:
    good, bad = _sirets(index)
    other = Declaration(bad, "2025-01", [Individual(nir=None, surname="", first_names="", birth="",
                                                    contracts=[Contract("C1", "2025-01-06")])], order="2")
    lines = _lines(index, other)
    return _text(lines), "quarantined", _other_start(lines, index) + 1, "no NIR, no identity and no matricule", (good,)


def _future_month(index: int) -> tuple:
    good, bad = _sirets(index)
    other = Declaration(bad, "2099-01", [Individual(contracts=[Contract("C1", "2025-01-06")])], order="2")
    lines = _lines(index, other)
    return _text(lines), "quarantined", _other_start(lines, index) + 1, "after the month of the run", (good,)


def _end_before_start(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = _lines(index, _declaration(bad, "2", Contract("C1", "2025-01-20", end=("2025-01-10", "031"))))
    at = lines.index("S21.G00.62.001,'10012025'")
    return _text(lines), "implausible_value", at + 1, "end before the contract's start", (good, bad)


def _end_date(text: str | None, motif: str) -> Callable[[int], tuple]:
    """A case: an end block of `motif` whose date (62.001) is missing (None) or one the parser cannot read (`text`):
    reported as ending nothing (and, when unreadable, as invalid too)."""

    def build(index: int) -> tuple:
        good, bad = _sirets(index)
        lines = _lines(index, _declaration(bad, "2", Contract("C1", "2025-01-06", end=("2025-01-31", motif))))
        at = lines.index("S21.G00.62.001,'31012025'")
        if text is None:
            del lines[at]  # the block starts at its motif, now on line at + 1
            total = _find(lines, "S90.G00.90.001")
            lines[total] = f"S90.G00.90.001,'{len(lines)}'"
        else:
            lines[at] = f"S21.G00.62.001,'{text}'"
        return _text(lines), "missing_value", at + 1, "end block without a valid date", (good, bad)

    return build


def _planned_end_before_start(index: int) -> tuple:
    good, bad = _sirets(index)
    lines = _lines(index, _declaration(bad, "2", Contract("C1", "2025-01-20", planned_end="2025-01-10")))
    at = _find(lines, "S21.G00.40.001,'20012025'")
    return _text(lines), "implausible_value", at + 1, "planned end before", (good, bad)


def _crlf_lf_cr(newline: str) -> Callable[[int], tuple]:
    def build(index: int) -> tuple:
        return _text(_lines(index), newline), None, None, "", _sirets(index)

    return build


def _mixed_line_ends(index: int) -> tuple:
    lines = _lines(index)
    ends = ["\r\n", "\n", "\r"]
    return "".join(line + ends[i % 3] for i, line in enumerate(lines)).encode("latin-1"), None, None, "", _sirets(index)


CASES: dict[str, Callable[[int], tuple]] = {
    "truncated_mid_line": _truncated_mid_line,
    "missing_s90_total": _missing_total,
    "s90_wrong_line_count": _wrong_count("001", "declares 7 lines"),
    "s90_wrong_declaration_count": _wrong_count("002", "declares 7 declarations"),
    "s90_count_not_a_number": _replace("S90.G00.90.002", "S90.G00.90.002,'deux'", "invalid_value", "not a whole number", False),
    "binary_garbage_in_a_declaration": _insert("S21.G00.40.006", ["\x00\x01\x02binary"], "malformed_line",
                                               "not a rubric line", True),
    "binary_garbage_after_the_total": _garbage_after_total,
    "byte_order_mark": _byte_order_mark,
    "empty_file": _empty,
    "only_blank_lines": _blank_lines,
    "binary_file": _binary,
    "utf16_file": _utf16("utf-16", "with a byte order mark"),
    "utf16_file_without_mark": _utf16("utf-16-be", "big-endian, with no byte order mark"),
    "envoi_cut_before_the_next": _cut_before_next_envoi,
    "line_before_the_envelope": _line_before_the_envelope,
    "notes_beside_the_files": lambda index: (b"Fichiers DSN de janvier\n", "not_dsn", None, "no DSN rubric line", ()),
    "duplicated_declaration": _duplicated_declaration,
    "two_declarations_for_one_month": _two_survivors,
    "unknown_block": _insert("S21.G00.40.021", ["S21.G00.99.001,'X'"], "unknown_block", "S21.G00.99", False, True),
    "unknown_rubric": _insert("S21.G00.40.021", ["S21.G00.40.999,'X'"], "unknown_rubric", "S21.G00.40.999", False, True),
    "impossible_start_date": _replace("S21.G00.40.001", "S21.G00.40.001,'31022025'", "invalid_value",
                                      "not a calendar date", True),
    "impossible_planned_end": _replace("S21.G00.40.010", "S21.G00.40.010,'00002025'", "invalid_value",
                                       "not a calendar date", False),
    "impossible_declared_month": _replace("S20.G00.05.005", "S20.G00.05.005,'01132025'", "invalid_value",
                                          "not a calendar date", True),
    "date_with_letters": _replace("S21.G00.40.001", "S21.G00.40.001,'06JAN2025'", "invalid_value", "not a DDMMYYYY date", True),
    "nir_in_a_date_field": _replace("S21.G00.40.001", f"S21.G00.40.001,'{NIR_IN_WRONG_FIELD}'", "invalid_value",
                                    "13 characters, digits", True),
    "missing_siret": _replace("S21.G00.11.001", "S21.G00.11.002,'5610A'", "quarantined", "SIRET missing", True, True),
    "contract_under_the_establishment": _insert("S21.G00.11.022", ["S21.G00.40.001,'06012025'"], "wrong_parent",
                                                "outside its parent block", True),
    "end_block_after_new_individual": _orphan_after_individual(["S21.G00.62.001,'31012025'", "S21.G00.62.002,'031'"],
                                                               "S21.G00.62"),
    "change_block_after_new_individual": _orphan_after_individual(["S21.G00.41.001,'01012025'", "S21.G00.41.004,'01'"],
                                                                  "S21.G00.41"),
    "stoppage_block_after_new_individual": _orphan_after_individual(["S21.G00.60.001,'01'", "S21.G00.60.002,'10012025'"],
                                                                    "S21.G00.60"),
    "suspension_block_after_new_individual": _orphan_after_individual(["S21.G00.65.001,'501'",
                                                                       "S21.G00.65.002,'10012025'"], "S21.G00.65"),
    "headcount_overflowing_int32": _insert("S21.G00.11.004", ["S21.G00.11.008,'99999999999'"], "invalid_value",
                                           "out of range", False),
    "negative_headcount": _insert("S21.G00.11.004", ["S21.G00.11.008,'-5'"], "invalid_value", "not a whole number", False),
    "enterprise_headcount_overflowing": _insert("S21.G00.06.003", ["S21.G00.06.009,'123456789012345'"], "invalid_value",
                                                "out of range", False),
    "hours_nan": _replace("S21.G00.40.013", "S21.G00.40.013,'nan'", "invalid_value", "not a finite number", False),
    "hours_inf": _replace("S21.G00.53.002", "S21.G00.53.002,'inf'", "invalid_value", "not a finite number", False),
    "negative_hours": _replace("S21.G00.40.013", "S21.G00.40.013,'-35.00'", "invalid_value", "negative hours", False),
    "hours_out_of_range": _replace("S21.G00.40.013", "S21.G00.40.013,'1E15'", "invalid_value", "out of range", False),
    "hours_worked_out_of_range": _replace("S21.G00.53.002", "S21.G00.53.002,'100000.01'", "invalid_value", "out of range",
                                          False),
    "hours_not_a_number": _replace("S21.G00.40.012", "S21.G00.40.012,'151,67'", "invalid_value", "not a decimal number", False),
    "end_before_start": _end_before_start,
    "end_block_without_a_date": _end_date(None, "099"),
    "end_block_with_an_impossible_date": _end_date("32012025", "031"),
    "planned_end_before_start": _planned_end_before_start,
    "declared_month_in_2099": _future_month,
    "unquoted_value": _replace("S21.G00.40.006", "S21.G00.40.006,Serveur", "unquoted_value", "not enclosed in quotes", False),
    "line_without_comma": _replace("S21.G00.40.006", "S21.G00.40.006 'Serveur'", "malformed_line", "not a rubric line", True),
    "contract_without_number": _replace("S21.G00.40.009", "S21.G00.40.008,'99'", "quarantined",
                                        "without a valid start date (40.001) or number (40.009)", True, True),
    "individual_without_identity": _no_identity,
    "declaration_nature_missing": _replace("S20.G00.05.001", "S20.G00.05.003,'11'", "quarantined",
                                           "nature S20.G00.05.001 missing", True, True),
    "cancellation_of_nothing": _cancels_nothing,
    "nir_as_the_replaced_declaration": _nir_as_replaced_declaration,
    "utf8_with_one_cp1252_byte": _mixed_encoding,
    "file_without_envoi_header": _no_envoi,
    "gzip_cut_at_60_percent": _gzip_cut,
    "gzip_garbage": _gzip_garbage,
    "gzip_trailing_garbage": _gzip_trailing_garbage,
    "gzip_magic_only": _gzip_magic_only,
    "cr_only_line_ends": _crlf_lf_cr("\r"),
    "lf_line_ends": _crlf_lf_cr("\n"),
    "mixed_line_ends": _mixed_line_ends,
}
GZIP_CASES = {"gzip_cut_at_60_percent", "gzip_garbage", "gzip_trailing_garbage", "gzip_magic_only"}
NOT_NAMED_DSN = {"line_before_the_envelope", "notes_beside_the_files"}  # found in the folder by what they hold


def build_cases() -> list[Case]:
    cases = []
    for index, (name, build) in enumerate(CASES.items()):
        content, kind, line, words, kept = build(index)
        suffix = ".dsn.gz" if name in GZIP_CASES else ".txt" if name in NOT_NAMED_DSN else ".dsn"
        cases.append(Case(name, content, kind, line, words, tuple(kept), suffix))
    return cases


ALL_CASES = build_cases()


@dataclass(frozen=True)
class Corpus:
    folder: Path
    issues: list[dict]
    kept: dict[str, set[str]]  # file -> establishments of its declarations kept


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, test_key) -> Corpus:
    """Every case file in one folder, ingested in one run."""
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "dsn"
    folder.mkdir()
    for case in ALL_CASES:
        (folder / f"{case.name}{case.suffix}").write_bytes(case.content)
    home = Home(root / "home")
    summary = ingest([folder], home, Config(), test_key)
    with open(summary.issues_report, encoding="utf-8") as handle:
        issues = list(csv.DictReader(handle))
    rows = duckdb.sql(
        f"SELECT d.source_file, d.siret FROM read_parquet('{home.warehouse}/declarations/*/*.parquet') d"
    ).fetchall()
    kept: dict[str, set[str]] = {}
    for source, siret in rows:
        kept.setdefault(source, set()).add(siret)
    return Corpus(folder, issues, kept)


def test_the_corpus_holds_at_least_40_damaged_files():
    assert sum(1 for case in ALL_CASES if case.kind is not None) >= 40


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_a_damaged_file_gives_a_clear_issue_and_keeps_its_valid_declarations(corpus, case):
    path = str((corpus.folder / f"{case.name}{case.suffix}").resolve())
    mine = [i for i in corpus.issues if i["file"] == path]
    if case.kind is None:
        assert mine == []
    else:
        matching = [i for i in mine if i["kind"] == case.kind and case.words in i["reason"]]
        assert matching, f"no {case.kind} issue with {case.words!r} among {mine}"
        lines = {i["line"] for i in matching}
        if case.line == ANY_LINE:
            assert all(line.isdigit() for line in lines)
        else:
            assert ("" if case.line is None else str(case.line)) in lines
    assert corpus.kept.get(path, set()) == set(case.kept)


def test_no_issue_echoes_a_value_that_could_be_personal(corpus):
    assert not [i for i in corpus.issues if NIR_IN_WRONG_FIELD in i["reason"]]
