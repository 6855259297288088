"""The streaming parser on small hand-written files: format rules and every kind of bad input."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.dsn_builder import Contract, Declaration, Individual, envoi, render, write_dsn
from warehouse.dsn.parser import DsnParser
from warehouse.dsn.reader import DecodeReport, open_binary
from warehouse.dsn.records import RecordBuilder
from warehouse.dsn.tokens import LineSelector, iter_parser_lines
from warehouse.pseudonym import Pseudonymiser
from warehouse.tables import STAGED_SCHEMAS

SIRET = "12345678900011"


def parse(path: Path, selector: LineSelector | None = None) -> tuple[list, DsnParser, DecodeReport]:
    parser = DsnParser(str(path))
    report = DecodeReport()
    with open_binary(path) as stream:
        declarations = list(parser.parse(iter_parser_lines(stream, report, selector), report))
    return declarations, parser, report


def one_contract_file(tmp_path: Path, title: str = "Serveur", **kwargs) -> list[str]:
    decl = Declaration(SIRET, "2025-01", [Individual(contracts=[Contract("C0001", "2025-01-06", title=title)])])
    return render(envoi([decl], **kwargs))


def kinds(parser: DsnParser) -> list[str]:
    return [issue.kind for issue in parser.issues]


def test_public_fctu_sample_parses_without_error(public_sample):
    declarations, parser, _ = parse(public_sample)
    assert [d.header.text("001") for d in declarations] == ["07", "07", "07"]
    assert all(not d.problems for d in declarations)
    assert [i for i in parser.issues if i.severity == "error"] == []
    assert "s90_mismatch" not in kinds(parser)
    assert parser.summary.envelope_lines == 20
    assert parser.summary.unknown_blocks == {"S10.G00.95": 26, "S20.G00.96": 3}
    assert parser.summary.unknown_rubrics == {"S21.G00.06.903": 3, "S21.G00.11.904": 3}
    assert parser.summary.envois == 3


def _declaration_rows(path: Path) -> list[dict]:
    """The `declarations` rows of a file, as named columns."""
    declarations, _, _ = parse(path)
    builder = RecordBuilder(Pseudonymiser(b"test"), "0" * 64, str(path), date(2026, 12, 1))
    names = STAGED_SCHEMAS["declarations"].names
    return [dict(zip(names, builder.header_row(d, 0, 0), strict=True)) for d in declarations]


def test_public_sample_gives_the_establishment_address(public_sample):
    rows = _declaration_rows(public_sample)
    assert [(r["street"], r["postal_code"], r["city"]) for r in rows] == [("2 RUE DU TEST", "69000", "LYON")] * 3


def test_an_establishment_without_street_nor_city_has_none(tmp_path):
    path = write_dsn(tmp_path / "a.dsn", one_contract_file(tmp_path))
    [row] = _declaration_rows(path)
    assert (row["street"], row["postal_code"], row["city"]) == (None, "75011", None)


def test_inner_quote_is_kept(tmp_path):
    path = write_dsn(tmp_path / "a.dsn", one_contract_file(tmp_path, title="Agent d'entretien"))
    declarations, parser, _ = parse(path)
    contract = declarations[0].individuals[0].children[0]
    assert contract.text("006") == "Agent d'entretien"
    assert parser.issues == []


@pytest.mark.parametrize(
    ("encoding", "title", "expected_encoding"),
    [
        ("latin-1", "Préparateur", "cp1252"),
        ("cp1252", "Chef d’équipe œnologie", "cp1252"),
        ("utf-8", "Préparateur œnologue", "utf-8"),
    ],
)
def test_encodings(tmp_path, encoding, title, expected_encoding):
    path = write_dsn(tmp_path / "a.dsn", one_contract_file(tmp_path, title=title), encoding=encoding)
    declarations, parser, report = parse(path)
    assert declarations[0].individuals[0].children[0].text("006") == title
    assert report.encoding == expected_encoding
    assert parser.issues == []


def test_byte_undefined_in_cp1252_falls_back_to_latin1(tmp_path):
    lines = one_contract_file(tmp_path)
    path = tmp_path / "a.dsn"
    text = "\n".join(lines).replace("Serveur", "Serveur\x81").encode("latin-1")
    path.write_bytes(text + b"\n")
    declarations, _, report = parse(path)
    assert report.encoding == "latin-1"
    assert declarations[0].individuals[0].children[0].text("006") == "Serveur\x81"


def test_a_stray_cp1252_byte_in_utf8_changes_one_character_not_the_file(tmp_path):
    lines = one_contract_file(tmp_path, title="Employé")
    path = tmp_path / "a.dsn"
    text = "\n".join(lines).encode("utf-8").replace("Employé".encode(), "Café Employé".encode())
    path.write_bytes(text.replace(b"Caf\xc3\xa9", b"Caf\xe9") + b"\n")
    declarations, _, report = parse(path)
    assert declarations[0].individuals[0].children[0].text("006") == "Café Employé"
    assert (report.mixed, report.non_utf8_lines, report.encoding) == (True, 1, "cp1252")


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_crlf_and_lf(tmp_path, newline):
    path = write_dsn(tmp_path / "a.dsn", one_contract_file(tmp_path), newline=newline)
    declarations, parser, _ = parse(path)
    assert declarations[0].individuals[0].children[0].text("009") == "C0001"
    assert parser.issues == []


def test_s90_line_count_mismatch_is_a_warning(tmp_path):
    path = write_dsn(tmp_path / "a.dsn", one_contract_file(tmp_path, total_lines=12))
    declarations, parser, _ = parse(path)
    assert len(declarations) == 1 and not declarations[0].problems
    assert kinds(parser) == ["s90_mismatch"]
    assert "declares 12 lines" in parser.issues[0].reason


def test_envelope_lines_are_skipped(tmp_path):
    lines = ["S05.G51.00.001,'V01R02'", "S06.G51.00.001,'DSNOK'", *one_contract_file(tmp_path)]
    lines += ["S96.G51.00.001,'FINSL'", "S95.G51.00.001,'769608'"]
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    assert len(declarations) == 1 and not declarations[0].problems
    assert parser.summary.envelope_lines == 4
    assert parser.issues == []


def test_line_without_comma_quarantines_its_declaration(tmp_path):
    lines = one_contract_file(tmp_path)
    at = lines.index("S21.G00.40.007,'02'")
    lines[at] = "S21.G00.40.007 02"
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    assert declarations[0].problems
    issue = next(i for i in parser.issues if i.kind == "malformed_line")
    assert (issue.file, issue.line, issue.severity) == (str(path), at + 1, "error")


def test_unquoted_value_is_read_with_a_warning(tmp_path):
    lines = one_contract_file(tmp_path)
    at = lines.index("S21.G00.40.007,'02'")
    lines[at] = "S21.G00.40.007,02"
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    assert declarations[0].individuals[0].children[0].text("007") == "02"
    assert not declarations[0].problems
    assert [(i.kind, i.line) for i in parser.issues] == [("unquoted_value", at + 1)]


def test_block_under_wrong_parent_quarantines(tmp_path):
    lines = one_contract_file(tmp_path)
    start = lines.index("S21.G00.30.001,'1800175123456'")
    del lines[start : start + 4]  # the individual block: its contract now hangs under the establishment
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    assert declarations[0].problems
    assert "wrong_parent" in kinds(parser)


def test_impossible_planned_end_is_dropped_with_a_warning(tmp_path):
    lines = one_contract_file(tmp_path)
    lines.insert(lines.index("S21.G00.40.009,'C0001'") + 1, "S21.G00.40.010,'31022025'")
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    contract = declarations[0].individuals[0].children[0]
    assert contract.get("010") is None
    assert [(i.kind, i.reason) for i in parser.issues if i.kind != "s90_mismatch"] == [
        ("invalid_value", "S21.G00.40.010: invalid value (8 characters, digits): not a calendar date; ignored")
    ]


def test_truncated_file_quarantines_only_the_cut_declaration(tmp_path):
    first = Declaration(SIRET, "2025-01", [Individual(contracts=[Contract("C0001", "2025-01-06")])], order="1")
    second = Declaration("98765432100017", "2025-01", [Individual(contracts=[Contract("C0002", "2025-01-06")])], order="2")
    lines = render(envoi([first, second]))
    cut = lines[: lines.index("S21.G00.40.009,'C0002'")]
    path = write_dsn(tmp_path / "a.dsn", cut)
    declarations, parser, _ = parse(path)
    assert [bool(d.problems) for d in declarations] == [False, True]
    assert "truncated_file" in kinds(parser)


def test_unknown_blocks_and_rubrics_are_counted(tmp_path):
    lines = one_contract_file(tmp_path)
    at = lines.index("S21.G00.11.001,'00011'")
    lines[at:at] = ["S21.G00.06.903,'EXTENSION'"]
    lines.insert(lines.index("S21.G00.30.001,'1800175123456'"), "S21.G00.97.001,'X'")
    path = write_dsn(tmp_path / "a.dsn", lines)
    declarations, parser, _ = parse(path)
    assert not declarations[0].problems
    assert parser.summary.unknown_rubrics == {"S21.G00.06.903": 1}
    assert parser.summary.unknown_blocks == {"S21.G00.97": 1}


def test_compiled_parser_is_built_from_the_current_source():
    """setup.py compiles the parser with Cython when it can; a build older than its source runs old code."""
    import warehouse.dsn.parser
    import warehouse.dsn.records

    for module in (warehouse.dsn.parser, warehouse.dsn.records):
        loaded = Path(module.__file__)
        if loaded.suffix == ".so":
            source = loaded.with_name(loaded.name.split(".")[0] + ".py")
            assert loaded.stat().st_mtime >= source.stat().st_mtime, (
                f"{loaded.name} is older than {source.name}: run `make install` to compile it again"
            )


@pytest.mark.parametrize("written", ["'C0001", "C0001'"])
def test_a_value_that_lost_one_of_its_quotes_is_read_without_the_other(tmp_path, written):
    """'C0001 is the contract C0001 whose line lost a quote, not a second contract."""
    lines = [f"S21.G00.40.009,{written}" if line == "S21.G00.40.009,'C0001'" else line for line in one_contract_file(tmp_path)]
    declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines))
    assert declarations[0].individuals[0].children[0].text("009") == "C0001"
    assert kinds(parser) == ["unquoted_value"] and "one of its two quotes" in parser.issues[0].reason


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_lines_are_cut_at_every_kind_of_line_end_whatever_the_reads(monkeypatch, chunk):
    import io

    from warehouse.dsn import reader

    monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    data = b"a\r\nbb\rccc\n\r\nd" + b"e" * 40 + b"\r"
    blocks = list(reader.iter_raw_blocks(io.BytesIO(data), DecodeReport()))
    assert b"".join(blocks) == data
    lines = reader.line_ends_to_lf(b"".join(blocks)).split(b"\n")
    assert lines == [b"a", b"bb", b"ccc", b"", b"d" + b"e" * 40, b""]
    assert all(block.endswith((b"\n", b"\r")) for block in blocks)  # whole lines only


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 16])
@pytest.mark.parametrize(("data", "lines"), [
    (b"a\n" + b"x" * 40 + b"\nb\n", [b"a", None, b"b", b""]),
    (b"a\r\n" + b"x" * 40 + b"\r\nb", [b"a", None, b"b"]),
    (b"a\r" + b"x" * 40 + b"\rb\r", [b"a", None, b"b", b""]),
    (b"x" * 40, [None]),
    (b"x" * 40 + b"\r", [None, b""]),
    (b"a\n" + b"y" * 16 + b"\n" + b"z" * 17, [b"a", b"y" * 16, None]),  # 16 bytes are read, 17 are not
    (b"y" * 16 + b"\r\n" + b"z" * 17 + b"\r\nb", [b"y" * 16, None, b"b"]),  # whichever read the CRLFs are cut by
])
def test_a_line_longer_than_a_dsn_line_can_be_is_dropped_as_it_is_read(monkeypatch, chunk, data, lines):
    """Whatever the reads and line ends, the line too long stands as one line saying so, and the reader holds at most
    one read beyond the limit."""
    import io

    from warehouse.dsn import reader

    monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 16)
    report = DecodeReport()
    blocks = list(reader.iter_raw_blocks(io.BytesIO(data), report))
    long = [len(line) for line in lines_of(data) if len(line) > 16]
    expected = [reader.overlong_line(long[0]) if line is None else line for line in lines]
    assert reader.line_ends_to_lf(b"".join(blocks)).split(b"\n") == expected
    assert report.overlong_lines == long
    assert max(len(block) for block in blocks) <= 16 + chunk + len(reader.overlong_line(40)) + 2


def lines_of(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")


def test_a_value_far_longer_than_the_norm_allows_is_not_stored(tmp_path):
    lines = [f"S21.G00.40.006,'{'x' * 5000}'" if line.startswith("S21.G00.40.006") else line
             for line in one_contract_file(tmp_path)]
    declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines))
    assert declarations[0].individuals[0].children[0].text("006") is None
    assert kinds(parser) == ["invalid_value"] and "longer than the 1000 characters" in parser.issues[0].reason
    assert "x" * 20 not in parser.issues[0].reason  # described, never echoed


def test_a_date_outside_the_years_a_declaration_may_hold_is_refused_with_its_line(tmp_path):
    """31/12/9999 (a payroll program's « no date »), or a year 999: refused as other bad values are, with the line; its
    day after or before was an OverflowError that lost the whole file, and a month of year 999 was kept unread."""
    lines = one_contract_file(tmp_path)
    at = lines.index("S21.G00.40.009,'C0001'") + 1
    lines.insert(at, "S21.G00.40.010,'31129999'")
    declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines))
    assert declarations[0].individuals[0].children[0].get("010") is None and not declarations[0].problems
    assert [(i.kind, i.line, i.reason) for i in parser.issues if i.kind != "s90_mismatch"] == [
        ("invalid_value", at + 1, "S21.G00.40.010: invalid value (8 characters, digits): a year outside 1900-2199; ignored")]
    month = next(i for i, line in enumerate(lines) if line.startswith("S20.G00.05.005,"))
    lines[month] = "S20.G00.05.005,'01010999'"
    declarations, parser, _ = parse(write_dsn(tmp_path / "b.dsn", lines))
    # No month: ingestion quarantines the declaration (« declared month S20.G00.05.005 missing or invalid »)
    assert declarations[0].header.get("005") is None
    assert any(i.line == month + 1 and "a year outside 1900-2199" in i.reason for i in parser.issues)


def test_a_second_establishment_block_quarantines_its_declaration(tmp_path):
    """The norm allows one S21.G00.11 per declaration: a second one took every contract of the declaration, those
    declared before it too, to its SIRET, with no issue."""
    lines = one_contract_file(tmp_path)
    at = len(lines) - next(i for i, line in enumerate(reversed(lines)) if line.startswith("S21.G00.40."))
    lines[at:at] = ["S21.G00.11.001,'00099'", "S21.G00.11.004,'75001'"]
    declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines))
    assert declarations[0].establishment.text("001") == "00011"
    assert declarations[0].problems == [f"line {at + 1}: a second block S21.G00.11 in one declaration, where the norm "
                                        "allows one: whose contracts it declares cannot be told"]
    assert "repeated_block" in kinds(parser)


def test_two_rubric_lines_joined_quarantine_their_declaration(tmp_path):
    """A lost line break (`S21.G00.40.007,'02'S21.G00.40.008,'99'`): the nature « 02'S21.G00.40.008,'99 » was kept and
    the CDD left every count, with no issue. The declaration is quarantined with the line."""
    lines = one_contract_file(tmp_path)
    at = lines.index("S21.G00.40.007,'02'")
    lines[at] = "S21.G00.40.007,'02'S21.G00.40.008,'99'"
    declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines))
    assert declarations[0].individuals[0].children[0].get("007") is None
    assert declarations[0].problems == [f"line {at + 1}: S21.G00.40.007: the value holds another rubric line (two lines "
                                        "joined: a line break lost); not read"]
    # An apostrophe in a value is not a joined line
    lines[at] = "S21.G00.40.007,'02'"
    title = next(i for i, line in enumerate(lines) if line.startswith("S21.G00.40.006,"))
    lines[title] = "S21.G00.40.006,'Chef d'equipe, d'atelier'"
    declarations, parser, _ = parse(write_dsn(tmp_path / "b.dsn", lines))
    assert not declarations[0].problems and "malformed_line" not in kinds(parser)
    assert declarations[0].individuals[0].children[0].get("006") == "Chef d'equipe, d'atelier"


@pytest.mark.parametrize("skip_repeated_openings", [False, True])
def test_a_rubric_line_joined_to_a_rubric_not_read_quarantines_its_declaration(tmp_path, skip_repeated_openings):
    """A line of a rubric the parser does not keep may hide one it keeps: the start of the activity period
    (S21.G00.51.001) joined to a remuneration amount (S21.G00.50.004) was lost with only an s90_mismatch warning, the
    line left out by the selector (ingestion's, which leaves out repeated openings too, as much as the default) or
    skipped by the parser (a rubric or a block the norm does not define, a vendor's)."""
    selector = LineSelector(skip_repeated_openings=skip_repeated_openings)
    cases = [
        ("S21.G00.50.004,'1500.00'", "S21.G00.51.001,'01012025'"),  # a rubric not read, inside its block
        ("S21.G00.50.001,'05022025'", "S21.G00.50.002,'1500.00'"),  # the opening of a block not read
        ("S21.G00.11.022,'1979'", "S21.G00.30.001,'1800175123456'"),  # a rubric not read of a kept block
    ]
    for first, second in cases:
        lines = one_contract_file(tmp_path)
        at = lines.index(first)
        assert lines[at + 1] == second
        lines[at:at + 2] = [first + second]
        declarations, parser, _ = parse(write_dsn(tmp_path / "a.dsn", lines), selector)
        assert declarations[0].problems == [f"line {at + 1}: {first[:14]}: the value holds another rubric line (two "
                                            "lines joined: a line break lost); not read"], first
        assert "malformed_line" in kinds(parser)
    # A repeated opening of a block walked through, and rubrics of no block or field of the norm (a vendor's)
    for before, joined in (("S21.G00.50.004,'1500.00'", "S21.G00.50.001,'05032025'S21.G00.51.001,'01012025'"),
                           ("S21.G00.11.004,'75011'", "S21.G00.11.018,'X'S21.G00.30.001,'1800175123456'"),
                           ("S21.G00.06.003,'5610A'", "S21.G00.99.001,'X'S21.G00.11.001,'00011'")):
        lines = one_contract_file(tmp_path)
        at = lines.index(before) + 1
        lines[at:at] = [joined]
        declarations, _, _ = parse(write_dsn(tmp_path / "b.dsn", lines), selector)
        assert declarations[0].problems == [f"line {at + 1}: {joined[:14]}: the value holds another rubric line (two "
                                            "lines joined: a line break lost); not read"], joined
