"""`import-inspections`: a file replaces the imported history, or, with --append, adds its controls to it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from champollion.cli import app
from core.home import Home
from warehouse.inspections import (
    file_controls,
    import_inspections,
    load_inspections,
    read_inspections,
    store_recorded_inspections,
    stored_conflicts,
    typed_inspections,
)

A, B, C = "11111111100011", "22222222200022", "33333333300033"


def _csv(path: Path, *rows: str) -> Path:
    path.write_text("siret,inspection_date,abuse_found\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _stored(home: Home) -> list[tuple[str, str, int]]:
    stored = load_inspections(home.warehouse)
    assert stored is not None
    return [(s, f"{d:%Y-%m-%d}", int(f)) for s, d, f in
            stored[["siret", "inspection_date", "abuse_found"]].itertuples(index=False, name=None)]


def _tabbed(cases: list) -> list:
    """`cases` (texts, or tuples starting with a text), and those written with semicolons written again with tabs
    (Excel's « Texte Unicode »): a file separated by tabs is read as the same file separated by semicolons."""
    def tabs(text: str) -> str:
        return text.replace(";", "\t")
    return [*cases, *((tabs(case[0]), *case[1:]) if isinstance(case, tuple) else tabs(case)
                      for case in cases if ";" in (case[0] if isinstance(case, tuple) else case).split("\n", 1)[0])]


def test_an_appended_file_adds_its_new_controls_and_keeps_those_stored_once(tmp_path):
    home = Home(tmp_path / "home")
    first = import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,1", f"{B},2024-06-10,0"), home)
    assert (first.stored, first.added) == (2, 2)
    later = import_inspections(_csv(tmp_path / "2025.csv", f"{B},2024-06-10,0", f"{C},2025-01-20,1",
                                    f"{C},2025-01-20,1"), home, append=True)
    assert (later.stored, later.added) == (3, 1)
    assert [(issue.line, issue.kind) for issue in later.issues] == [(4, "inspection_row_repeated")]  # said, read once
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 0), (C, "2025-01-20", 1)]


def test_without_append_the_file_is_the_whole_history(tmp_path):
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,1"), home)
    replaced = import_inspections(_csv(tmp_path / "2025.csv", f"{C},2025-01-20,1"), home)
    assert (replaced.stored, replaced.added) == (1, 1)
    assert _stored(home) == [(C, "2025-01-20", 1)]


def test_an_appended_outcome_replaces_the_stored_one_and_is_reported_with_its_line(tmp_path):
    """Kept beside the stored one, a corrected outcome made two controls that day: two labelled rows of opposite
    labels, and a count of past inspections one too high."""
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1"), home)
    path = _csv(tmp_path / "fix.csv", "12,2024-01-01,1", f"{A},2024-03-05,1", f"{B},2024-06-10,1")
    appended = import_inspections(path, home, append=True)
    assert [(issue.line, issue.kind) for issue in appended.issues] == [
        (2, "bad_inspection_row"), (3, "inspection_outcome_replaced")]
    assert appended.issues[1].reason == ("SIRET 11111111100011 inspected on 2024-03-05 was stored with abuse_found 0: "
                                         "replaced by this file's 1")
    assert (appended.stored, appended.added, appended.replaced) == (2, 0, 1)
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 1)]


def test_one_file_giving_both_outcomes_of_a_control_is_reported_at_the_second_line(tmp_path):
    home = Home(tmp_path / "home")
    loaded = import_inspections(_csv(tmp_path / "both.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1",
                                     f"{A},2024-03-05,1", f"{A},2024-03-05,0"), home)
    # Line 5 repeats line 2: read once, and said (it was dropped without a word).
    assert [(issue.line, issue.kind) for issue in loaded.issues] == [(4, "inspection_both_outcomes"),
                                                                     (5, "inspection_row_repeated")]
    assert "line 2 gives the other outcome; the control counts once, as abuse found (either found it)" in \
        loaded.issues[0].reason
    assert loaded.issues[1].reason == "repeats line 2: read once"
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 1)]
    # Three rows stored (both outcomes of A's control are kept), two controls: the command counts the controls.
    assert (loaded.stored, loaded.controls) == (3, 2)
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "other"), "import-inspections", str(tmp_path / "both.csv")])
    assert "2 controls stored in" in result.output and (
        "(3 rows: a control given both outcomes counts once, as abuse found) (0 rows left out)") in " ".join(
            result.output.split()), result.output


def test_a_file_read_without_importing_it_gives_each_control_once(tmp_path):
    """`evaluate --inspections FILE` reads a file as the stored history is read: a control it gives both outcomes, or
    twice, is one control, with abuse found (it was two, counted twice in the features' past inspections)."""
    loaded = read_inspections(_csv(tmp_path / "both.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1",
                                   f"{A},2024-03-05,1", f"{B},2024-06-10,1"))
    controls = file_controls(loaded)
    assert list(controls.itertuples(index=False, name=None)) == [(A, pd.Timestamp("2024-03-05"), 1),
                                                                 (B, pd.Timestamp("2024-06-10"), 1)]


def test_a_file_with_no_valid_row_replaces_nothing(tmp_path):
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,0"), home)
    for append in (False, True):
        for name, rows in (("header.csv", ()), ("dotted.csv", (f"{B},05.03.2024,1",))):
            with pytest.raises(ValueError, match=r"no valid inspection row \((line 2: inspection_date|no row after)"):
                import_inspections(_csv(tmp_path / name, *rows), home, append=append)
    assert _stored(home) == [(A, "2024-03-05", 0)]


def test_a_quote_never_closed_stops_the_import_instead_of_swallowing_the_rows_after_it(tmp_path):
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1"), home)
    path = tmp_path / "comments.csv"
    path.write_text(f'siret,inspection_date,abuse_found,comment\n{A},2024-03-05,1,"Gérant absent\n'
                    f"{B},2024-06-10,0,ok\n{C},2025-01-20,1,ok\n", encoding="utf-8")
    never_closed = r"not readable as CSV after line 1 \(a quote opened in the rows after it is never closed\)"
    with pytest.raises(ValueError, match=never_closed):
        import_inspections(path, home)
    assert len(_stored(home)) == 2
    big = tmp_path / "big.csv"  # past the csv module's field limit, the same error, not a traceback
    big.write_text("siret,inspection_date,abuse_found,comment\n" + f'{A},2024-03-05,1,"open\n'
                   + f"{B},2024-06-10,0,ok\n" * 6_000, encoding="utf-8")
    with pytest.raises(ValueError, match=r"after line 1 \(a cell longer than 131,072 characters: a quote never closed\?\)"):
        import_inspections(big, home)
    header = tmp_path / "header.csv"
    header.write_text('siret,inspection_date,abuse_found,"comment\n' + f"{A},2024-03-05,1,x\n" * 6_000, encoding="utf-8")
    with pytest.raises(ValueError, match=r"not readable as CSV after the start"):
        import_inspections(header, home)
    assert len(_stored(home)) == 2


@pytest.mark.parametrize("rows", [
    # text after a closing quote first: the lenient reader then let the quote left open swallow the rows after it
    ['"Paul" SARL', '"Dupont', "x", "y"],
    # the quote left open closed by a later quoted cell, then text after it
    ['ok', '"Dupont', "x", '"Martin" SA'],
    # the quote left open closed by an inch mark at a line's end: no CSV error at all
    ['ok', '"ecran', "x", 'ecran 32"'],
])
def test_misplaced_quotes_stop_the_import_rather_than_lose_rows(tmp_path, rows):
    path = tmp_path / "names.csv"
    sirets = ["12345678901230", "12345678901231", "12345678901232", "12345678901233"]
    path.write_text("siret;inspection_date;abuse_found;nom\n"
                    + "".join(f"{siret};2024-01-0{i + 1};0;{name}\n" for i, (siret, name) in enumerate(zip(sirets, rows,
                                                                                                          strict=True))),
                    encoding="utf-8")
    with pytest.raises(ValueError, match="nothing imported"):
        read_inspections(path)


def test_rows_swallowed_by_a_cell_are_found_whichever_column_holds_the_siret(tmp_path):
    path = tmp_path / "last.csv"
    path.write_text(f'nom;inspection_date;abuse_found;siret\n"ecran;2024-01-01;0;{A}\nx;2024-01-02;1;{B}\n'
                    f'ecran 32";2024-01-03;0;{C}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="the row ending at line 4 has a cell spanning lines that holds rows"):
        read_inspections(path)


@pytest.mark.parametrize(("text", "where"), _tabbed([
    # a value with no column name (a row longer than the header), a lone quote as a ditto mark
    (f'siret;inspection_date;abuse_found\n{A};2024-01-01;0;"\n{B};2024-01-02;1\n{C};2024-01-03;0;"\n', "line 4"),
    # the first of two columns with the same name (Excel's empty names)
    (f'siret;inspection_date;abuse_found;;\n{A};2024-01-01;0;";\n{B};2024-01-02;1;;\n{C};2024-01-03;0;";\n',
     "line 4"),
    # the header itself
    (f'siret;inspection_date;abuse_found;"commentaire\n{A};2024-01-01;0;ok\n{B};2024-01-02;1;"\n', "first line"),
]))
def test_rows_swallowed_by_any_cell_are_found(tmp_path, text, where):
    path = tmp_path / "ragged.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{where} has a cell spanning lines that holds rows"):
        read_inspections(path)


@pytest.mark.parametrize(("separator", "comment"), [
    *((separator, comment) for separator in (";", ",", "\t")
      for comment in (f"Voir aussi\n{C}\nle siège", f"Siège :\r\n {C} \r\n", f"Voir\n{C}\n")),
    # a tab before it is a space where values are separated by commas or semicolons (a separator where by tabs)
    (";", f"\n\t{C}\nfermé"), (",", f"\n\t{C}\nfermé"),
])
def test_a_siret_alone_on_a_line_of_a_comment_is_no_row(tmp_path, comment, separator):
    """A comment spanning lines may name another establishment's SIRET on a line of its own: no separator beside it,
    and not the cell's last line, so no row swallowed by a quote left open; the file is read. (A SIRET alone on the
    cell's last line refuses it: `test_a_row_cut_by_a_closing_quote_or_between_odd_spaces_is_found`.)"""
    path = tmp_path / "comments.csv"
    path.write_text(separator.join(("siret", "inspection_date", "abuse_found", "commentaire")) + "\n"
                    + separator.join((A, "2024-03-05", "1", f'"{comment}"')) + "\n"
                    + separator.join((B, "2024-06-10", "0", "ok")) + "\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.issues) == ([A, B], [])


@pytest.mark.parametrize("text", _tabbed([
    # the quote closed right after the next row's SIRET: that row's other values follow the cell
    f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"Voir le siège\n{B}";2024-06-10;0;ok\n'
    f"{C};2025-01-20;0;\n",
    f'siret,inspection_date,abuse_found\r\n{A},2024-03-05,"1\r\n{B}",2024-06-10,0\r\n{C},2025-01-20,0\r\n',
    # spaces that are not a tab nor a space (the rows' values are stripped of them)
    f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"Voir\n{B}\xa0;2024-06-10;0;ok"\n',
    f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"Voir\n2024-06-10;0;\u202f{B}"\n',
    # a comment whose line names a SIRET filling a field reads as a row, and one ending with a SIRET alone on its line
    # as a row cut by the closing quote: refused, as a cell that holds rows
    f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"Voir\nx; {B}\nle siège"\n',
    f'siret,inspection_date,abuse_found,commentaire\n{A},2024-03-05,1,"Voir aussi :\n{B}"\n',
]))
def test_a_row_cut_by_a_closing_quote_or_between_odd_spaces_is_found(tmp_path, text):
    path = tmp_path / "cut.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="has a cell spanning lines that holds rows"):
        read_inspections(path)


@pytest.mark.parametrize(("text", "where"), _tabbed([
    # a quote opened in a row's outcome and closed before the next row's SIRET: that row's date and outcome end the cell
    (f'inspection_date;abuse_found;siret;commentaire\n2024-03-05;"1;{A};rien\n2024-04-01;0";{B};fin\n'
     f"2024-05-02;0;{C};x\n", "the row ending at line 3"),
    # lone quotes as ditto marks before the SIRET, the last column: the next row's SIRET fills this row's
    (f'inspection_date;abuse_found;commentaire;siret\n2024-03-05;1;";{A}\n2024-04-01;0;";{B}\n2024-05-02;0;;{C}\n',
     "the row ending at line 3"),
    # the same with both rows the same day with the same outcome (a day's batch)
    (f'inspection_date;abuse_found;commentaire;siret\n2024-03-05;1;";{A}\n2024-03-05;1;";{B}\n',
     "the row ending at line 3"),
    (f'inspection_date;commentaire;siret;abuse_found\n2024-03-05;"x;{A};1\n2024-03-05;y";{B};1\n',
     "the row ending at line 3"),
    # ditto marks in the first column: the first row is lost, whatever its values
    (f'commentaire;siret;inspection_date;abuse_found\n";{A};2024-03-05;1\n";{B};2024-04-01;0\n',
     "the row ending at line 3"),
    (f'commentaire,siret,inspection_date,abuse_found\r\n",{A},2024-03-05,1\r\n",{B},2024-03-05,1\r\n',
     "the row ending at line 3"),
    # the closing line holds a quoted separator: split at every separator it would be no row
    (f'inspection_date;abuse_found;commentaire;note;siret\n2024-03-05;1;";;{A}\n2024-04-01;0;";"a;b";{B}\n',
     "the row ending at line 3"),
    # the header: a quote left open in it takes the first row
    (f'commentaire;siret;inspection_date;abuse_found;"\n";{A};2024-03-05;1\n;{B};2024-04-01;0\n', "the first line"),
]))
def test_two_rows_a_quote_merged_with_no_siret_in_a_cell_are_found(tmp_path, text, where):
    """A quote left open may merge rows with no SIRET inside a cell: each line of a row spanning lines is also read
    alone, and two valid rows among them refuse the file (one refuses a header). Otherwise a row would be lost, or
    take another's SIRET."""
    path = tmp_path / "merged.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{where} has a cell spanning lines that holds rows"):
        read_inspections(path)


@pytest.mark.parametrize(("text", "rows"), _tabbed([
    # a ditto mark in the next row's SIRET: this row takes its date and outcome, or it is a comment (below)
    (f'siret;commentaire;inspection_date;abuse_found\n{A};"vu;2024-03-05;1\n";2024-04-01;0\n', [(A, "2024-04-01", 0)]),
    # ditto marks, and a row whose outcome is still pending, merged with the next
    (f'inspection_date;raison_sociale;siret;abuse_found\n2024-04-01;";{B};\n2024-05-02;";{A};0\n',
     [(A, "2024-04-01", 0)]),
    (f'abuse_found;raison_sociale;siret;inspection_date\n1;";;2024-03-05\n0;";{C};2024-04-01\n', [(C, "2024-04-01", 1)]),
    # comments whose text starts as a row would (read as the spreadsheet wrote them)
    (f'inspection_date,commentaire,siret,abuse_found\n2024-03-05,"Contre-visite prévue le\n2024-04-01, à confirmer",'
     f"{A},1\n", [(A, "2024-03-05", 1)]),
    (f'abuse_found;commentaire;siret;inspection_date\r\n1;"Travail dissimulé : 2 salariés\n0; pas d\'autre '
     f'infraction";{A};2024-03-05\r\n', [(A, "2024-03-05", 1)]),
    (f'siret,abuse_found,commentaire,inspection_date\n{A},1,"PV dressé, 2024-04-01\ntransmis au parquet",2024-03-05\n',
     [(A, "2024-03-05", 1)]),
    # a quote left open merging a row with the next, a bad one (a SIRET mistyped, none, an outcome pending): no line is a
    # valid row alone, but one is a whole row whose date or outcome the merged row does not have, or two are
    (f'siret;commentaire;inspection_date;abuse_found\n{A};";2024-03-05;\n111 111 111 00011;écran 32";2024-04-01;1\n',
     [(A, "2024-04-01", 1)]),
    (f'siret;inspection_date;commentaire;abuse_found\n{A};2024-03-05;";\n2222222220002;2024-04-01;écran 32";1\n',
     [(A, "2024-03-05", 1)]),
    (f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"\n;2024-04-01;0;"\n', [(A, "2024-03-05", 1)]),
    (f'abuse_found;inspection_date;raison_sociale;siret\n1;2024-06-03;";\n1;05/03/2024;";{B}\n', [(B, "2024-06-03", 1)]),
    # two rows joined on one line, or the next row's values after a cell, beyond the header's columns
    (f"siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;{B};2024-04-01;0;\n", [(A, "2024-03-05", 1)]),
    (f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;"\n";2024-04-01;0;x\n', [(A, "2024-03-05", 1)]),
]))
def test_a_row_that_may_merge_two_is_kept_and_named(tmp_path, text, rows):
    """A row spanning lines one of which, read alone, is another valid row may be two rows a quote merged, or a comment
    whose text starts as a row would: the two cannot be told apart, so the row is read as the spreadsheet wrote it
    and named by its line, never by its values. So is a row with a SIRET or a date beyond the header's columns."""
    path = tmp_path / "doubt.csv"
    path.write_text(text, encoding="utf-8")
    loaded = read_inspections(path)
    assert [(s, f"{d:%Y-%m-%d}", int(f)) for s, d, f in loaded.rows.itertuples(index=False, name=None)] == rows
    assert [(issue.kind, issue.line) for issue in loaded.issues] == [("inspection_rows_merged", text.count("\n"))]
    assert "check it" in loaded.issues[0].reason and A not in loaded.issues[0].reason


@pytest.mark.parametrize("text", _tabbed([
    # a required value spanning lines: a quote opened in it, ditto marks in the SIRET column
    f'inspection_date;abuse_found;siret\n2024-03-05;1;{A}\n2024-04-01;0;"\n2024-05-01;1;"\n2024-06-01;1;{B}\n',
    f'siret;inspection_date;abuse_found;commentaire\n{A};2024-03-05;1;x\n{C};2024-03-05;"1\nvu";ok\n{B};2024-06-01;1;\n',
]))
def test_a_bad_row_spanning_lines_is_named_with_all_its_lines(tmp_path, text):
    """A bad row spanning lines is left out, named with the lines it spans: a row a quote took into it is named too."""
    path = tmp_path / "span.csv"
    path.write_text(text, encoding="utf-8")
    loaded = read_inspections(path)
    bad = [issue for issue in loaded.issues if issue.kind == "bad_inspection_row"]
    assert (bad[0].line, "the row spans lines 3 to 4" in bad[0].reason) == (4, True)
    assert A in loaded.rows["siret"].tolist()


@pytest.mark.parametrize("comment", [
    "visite du 5;\nsuite le 12",
    # a row pasted into a comment, its quotes doubled as a spreadsheet writes them: no quote was left open
    f'Doublon de :\n""{B}"";""2024-04-01"";""1""',
    # a cell longer on one line than a CSV cell may be, read alone
    'a\n' + '""' * 70_000 + "x;y\nfin",
    "RAS\nGérant absent ; revenir",
])
def test_a_comment_spanning_lines_after_the_values_is_read_with_no_warning(tmp_path, comment):
    path = tmp_path / "comment.csv"
    path.write_text(f'siret;inspection_date;abuse_found;note\r\n{A};2024-03-05;1;"{comment}"\r\n', encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.issues) == ([A], [])


def test_quotes_doubled_inside_a_quoted_field_are_read_as_spreadsheets_write_them(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('"name",siret,inspection_date,abuse_found\n'
                    f'"Boulangerie ""Chez Paul"", SARL",{A},2024-03-05,1\n'
                    f'"Note ""deux""\nlignes",{B},2024-06-10,0\n', encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.issues, loaded.lines) == ([A, B], [], [2, 4])


@pytest.mark.parametrize("header", ["siret;inspection_date;abuse_found;nom, prénom", "SIRET ; Inspection_Date ; abuse_found",
                                    'siret;inspection_date;abuse_found;"Raison\r\nsociale"'])
def test_semicolon_headers_as_spreadsheets_write_them_are_read(tmp_path, header):
    path = tmp_path / "semi.csv"
    path.write_text(f"{header}\r\n{A}; 2024-03-05 ;1;x, y\r\n;;;\r\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.issues) == ([A], [])


@pytest.mark.parametrize(("header", "refusal"), [
    ("siret;inspection_date;abuse", r"missing column\(s\) abuse_found in its first line"),  # a typo: that column named
    ("siret,inspection_date,abuse_found,SIRET ", r"column\(s\) siret named more than once"),
])
def test_a_header_that_does_not_say_which_column_to_read_is_refused(tmp_path, header, refusal):
    path = tmp_path / "header.csv"
    separator = ";" if ";" in header else ","
    path.write_text(f"{header}\n{separator.join([A, '2024-03-05', '1', B])}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=refusal):
        read_inspections(path)


def test_a_cell_spanning_lines_with_no_row_in_it_is_read(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text(f'siret;inspection_date;abuse_found;note\n{A};2024-03-05;1;"visite du 5;\nsuite le 12"\n'
                    f"{B};2024-06-10;0;ok\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.lines) == ([A, B], [3, 4])


def test_a_folder_or_a_cut_utf16_file_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        read_inspections(tmp_path)
    path = tmp_path / "cut.csv"
    path.write_bytes(f"siret,inspection_date,abuse_found\n{A},2024-03-05,1\n".encode("utf-16")[:-1])
    with pytest.raises(ValueError, match=r"cut\.csv: starts as UTF-16 but cannot be read as such"):
        read_inspections(path)


def test_excel_unicode_text_separated_by_tabs_is_read(tmp_path):
    """Excel's « Texte Unicode »: UTF-16 with its byte-order mark, values separated by tabs, lines ended by CR LF, a
    cell holding a tab, a quote or a line end quoted; commas and semicolons are then text."""
    path = tmp_path / "controles.txt"
    path.write_bytes(("SIRET\tInspection_Date\tabuse_found\tcommentaire\r\n"
                      f'{A}\t2024-03-05\t1\t"PV ; suite, voir ""note""\tannexe"\r\n'
                      f"{B}\t 2024-06-10 \t0\t\r\n\t\t\t\r\n"
                      f'{C}\t2025-01-20\t0\t"Gérant absent,\nrevenir ; {A}"\r\n').encode("utf-16"))
    loaded = read_inspections(path)
    assert [(s, f"{d:%Y-%m-%d}", int(f)) for s, d, f in loaded.rows.itertuples(index=False, name=None)] == [
        (A, "2024-03-05", 1), (B, "2024-06-10", 0), (C, "2025-01-20", 0)]
    assert loaded.issues == []


def test_a_file_separated_by_tabs_without_the_columns_names_the_separators_it_reads(tmp_path):
    path = tmp_path / "controles.txt"
    path.write_bytes(f"siret\tdate\tabuse_found\r\n{A}\t2024-03-05\t1\r\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"missing column\(s\) inspection_date .* separated by commas, semicolons or tabs"):
        read_inspections(path)


@pytest.mark.parametrize("separator", [",", ";"])
def test_a_header_padded_with_tabs_around_its_separators_is_separated_by_them(tmp_path, separator):
    """Tabs around the commas (or semicolons) of a header name the columns as well as those do: the file is separated
    by commas, its rows with or without tabs around them (spaces stripped)."""
    path = tmp_path / "padded.csv"
    path.write_text(f"\t{separator}\t".join(("siret", "inspection_date", "abuse_found")) + "\n"
                    + f"{A}{separator}2024-03-05{separator}1\n{B}\t{separator}\t2024-06-10\t{separator}\t0\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert (loaded.rows["siret"].tolist(), loaded.issues) == ([A, B], [])


@pytest.mark.parametrize("separator", [",", "\t"])
def test_a_header_cell_too_long_for_the_reader_is_refused_by_name(tmp_path, separator):
    path = tmp_path / "long.csv"
    path.write_text(separator.join(("siret", "inspection_date", "abuse_found", "x" * 140_000)) + "\n"
                    + separator.join((A, "2024-03-05", "1", "")) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"long\.csv: not readable as CSV after the start \(a cell longer than"):
        read_inspections(path)


def test_a_quote_misplaced_in_a_file_separated_by_tabs_is_named_in_words(tmp_path):
    path = tmp_path / "quotes.txt"
    path.write_bytes(f'siret\tinspection_date\tabuse_found\tc\r\n{A}\t2024-03-05\t1\t"oops\r\n"{B}"\t2024-06-10\t0\tok\r\n'
                     .encode("utf-16"))
    with pytest.raises(ValueError, match="misplaced quotes: a tab expected after") as refused:
        read_inspections(path)
    assert "\t" not in str(refused.value)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_utf16_file_without_its_byte_order_mark_is_refused_by_what_it_is(tmp_path, encoding):
    path = tmp_path / "unmarked.txt"
    path.write_bytes(f"siret\tinspection_date\tabuse_found\r\n{A}\t2024-03-05\t1\r\n".encode(encoding))
    with pytest.raises(ValueError, match=r"unmarked\.txt: its first line holds NUL characters: UTF-16 or UTF-32 without"):
        read_inspections(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_byte_order_marks_are_read(tmp_path, encoding):
    path = tmp_path / "marked.csv"
    path.write_bytes(f"siret,inspection_date,abuse_found\n{A},2024-03-05,1\n".encode(encoding))
    assert read_inspections(path).rows["siret"].tolist() == [A]


def test_a_control_recorded_in_the_web_application_with_the_other_outcome_is_reported(tmp_path):
    home = Home(tmp_path / "home")
    recorded = pd.DataFrame({"siret": [A], "inspection_date": pd.to_datetime(["2024-03-05"]), "abuse_found": [0]})
    store_recorded_inspections(recorded, home)
    loaded = import_inspections(_csv(tmp_path / "new.csv", f"{B},2024-06-10,1", f"{A},2024-03-05,1"), home, append=True)
    assert [(issue.line, issue.kind) for issue in loaded.issues] == [(3, "inspection_recorded_otherwise")]
    assert loaded.issues[0].reason == ("SIRET 11111111100011 inspected on 2024-03-05 is recorded in the web application "
                                       "with abuse_found 0: the imported outcome is kept, as one control that day; "
                                       "correct the one that is wrong where it was entered")
    assert loaded.conflicts == 1
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 1)]


def test_a_control_recorded_in_the_web_application_is_not_new_whatever_its_outcome(tmp_path):
    """The office's file gives the controls it recorded on the web page: the same visits, known already and counted
    once, with the file's outcome (the one recorded with the other outcome was a second control that day, new)."""
    home = Home(tmp_path / "home")
    recorded = pd.DataFrame({"siret": [A, B], "inspection_date": pd.to_datetime(["2024-03-05", "2024-06-10"]),
                             "abuse_found": [1, 0]})
    store_recorded_inspections(recorded, home)
    appended = import_inspections(_csv(tmp_path / "new.csv", f"{A},2024-03-05,1", f"{B},2024-06-10,1",
                                       f"{C},2025-01-20,0"), home, append=True)
    assert (appended.before, appended.added, appended.stored, appended.conflicts) == (0, 1, 3, 1)
    assert [issue.kind for issue in appended.issues] == ["inspection_recorded_otherwise"]
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 1), (C, "2025-01-20", 0)]


def test_one_visit_imported_and_recorded_is_one_control_with_the_imported_outcome(tmp_path):
    """The same visit, typed on the day in the web application and later in the ministry's export (with its own
    free fields), was two inspections when the outcomes differed: two opposite labels for one visit. Other days of
    the same establishment stay other controls, each on its own day."""
    home = Home(tmp_path / "home")
    recorded = pd.DataFrame({"siret": [A, A, B, C], "abuse_found": [0, 1, 1, 0],
                             "inspection_date": pd.to_datetime(["2024-03-05", "2024-09-12", "2024-06-10", "2025-01-20"])})
    store_recorded_inspections(recorded, home)
    path = tmp_path / "export.csv"
    path.write_text("siret,inspection_date,abuse_found,suite\n"
                    f"{A},05/03/2024,1,PV dressé\n{A},05/03/2024,1,PV dressé le 2 avril\n{B},2024-06-10,1,\n"
                    f"{A},2024-09-13,1,contre-visite\n", encoding="utf-8")
    imported = import_inspections(path, home)
    assert [(issue.line, issue.kind) for issue in imported.issues] == [(2, "inspection_recorded_otherwise"),
                                                                       (3, "inspection_row_repeated")]
    assert (imported.stored, imported.added, imported.conflicts) == (3, 1, 1)
    assert _stored(home) == [(A, "2024-03-05", 1), (B, "2024-06-10", 1), (A, "2024-09-12", 1), (A, "2024-09-13", 1),
                             (C, "2025-01-20", 0)]


def test_a_conflict_recorded_after_the_import_is_kept_imported_and_named_by_siret_and_day(tmp_path):
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1"), home)
    recorded = pd.DataFrame({"siret": [A, B], "inspection_date": pd.to_datetime(["2024-03-05", "2024-06-10"]),
                             "abuse_found": [1, 1]})
    store_recorded_inspections(recorded, home)
    assert _stored(home) == [(A, "2024-03-05", 0), (B, "2024-06-10", 1)]
    assert [(issue.line, issue.kind, issue.reason) for issue in stored_conflicts(home.warehouse)] == [
        (None, "inspection_recorded_otherwise",
         "SIRET 11111111100011 inspected on 2024-03-05 is recorded in the web application with abuse_found 1, imported "
         "with 0: the imported outcome is kept, as one control that day; correct the one that is wrong where it was "
         "entered")]


def test_a_new_control_given_both_outcomes_is_one_new_control(tmp_path):
    home = Home(tmp_path / "home")
    import_inspections(_csv(tmp_path / "2024.csv", f"{A},2024-03-05,0", f"{B},2024-06-10,1"), home)
    appended = import_inspections(_csv(tmp_path / "both.csv", f"{C},2025-01-20,0", f"{C},2025-01-20,1",
                                       f"{C},2025-01-20,1"), home, append=True)
    assert (appended.before, appended.added, appended.replaced, appended.stored) == (2, 1, 0, 4)
    assert _stored(home) == [(A, "2024-03-05", 0), (B, "2024-06-10", 1), (C, "2025-01-20", 1)]


def test_bad_rows_are_told_by_line_and_what_is_wrong_never_by_their_values(tmp_path):
    """A shifted column put a NIR or a name where the SIRET goes: the report named it."""
    path = tmp_path / "shifted.csv"
    path.write_text("siret,inspection_date,abuse_found\n"
                    "185057800608436,2024-03-05,1\n\n\n"  # two blank lines: the lines after them keep their numbers
                    "Marie Durand,2024-03-05,1\n"
                    f"{A},marie.durand@example.fr,1\n"
                    f"{A},2024-03-05,Pathologie\n"
                    "１２３４５６７８９０１２３４,2024-03-05,1\n"
                    f"{A},20240305,1\n{A},2024-W10,1\n{A},0001-01-01,1\n{A},2024-03-05,1\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert [issue.line for issue in loaded.issues] == [2, 5, 6, 7, 8, 9, 10, 11]
    reasons = " ".join(issue.reason for issue in loaded.issues)
    for value in ("185057800608436", "Marie", "marie.durand", "Pathologie", "１２３", "20240305", "W10"):
        assert value not in reasons
    assert "inspection_date is not between 1950 and 2099" in loaded.issues[-1].reason
    assert loaded.rows["siret"].tolist() == [A] and loaded.lines == [12]


def test_dates_written_the_french_way_are_read_day_first(tmp_path):
    """A spreadsheet set to French saves dates as JJ/MM/AAAA: read day first, as the ISO dates beside them are; a day
    that is not in the calendar, or a date written another way, is a bad row."""
    path = _csv(tmp_path / "french.csv", f"{A},05/03/2024,1", f"{B},5/3/2024,0", f"{C},2024-03-05,1", f"{A},31/12/2025,0",
                f"{B},31/04/2025,1", f"{C},2024/03/05,0", f"{A},05/03/24,1", f"{B},05/03/1949,1")
    loaded = read_inspections(path)
    assert [(s, f"{d:%Y-%m-%d}", int(f)) for s, d, f in loaded.rows.itertuples(index=False, name=None)] == [
        (A, "2024-03-05", 1), (B, "2024-03-05", 0), (C, "2024-03-05", 1), (A, "2025-12-31", 0)]
    written = "inspection_date is not a date written YYYY-MM-DD or DD/MM/YYYY; row left out"
    # 31/04 is written as a date: it does not exist, which is what to correct.
    missing = "inspection_date does not exist (day 0 or past the end of its month, month 0 or above 12); row left out"
    assert [(issue.line, issue.reason) for issue in loaded.issues] == [
        (6, missing), (7, written), (8, written), (9, "inspection_date is not between 1950 and 2099; row left out")]


def test_a_file_writing_the_month_first_has_none_of_its_slashed_dates_read(tmp_path):
    """03/25/2024 can only be March 25th: in that file 03/05/2024 may be March 5th, not May 3rd."""
    path = _csv(tmp_path / "english.csv", f"{A},03/05/2024,1", f"{B},2024-03-05,0", f"{C},03/25/2024,1")
    loaded = read_inspections(path)
    assert loaded.rows["siret"].tolist() == [B]
    assert [(issue.line, issue.reason) for issue in loaded.issues] == [
        (2, "inspection_date written with slashes in a file whose line 4 writes the month first (MM/DD/YYYY): which "
            "number is the day is not known; row left out"),
        (4, "inspection_date does not exist (day 0 or past the end of its month, month 0 or above 12); row left out")]


def test_a_spreadsheet_file_in_windows_1252_with_semicolons_is_read(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(f"siret;inspection_date;abuse_found;agent\r\n{A};2024-03-05;1;Hélène\r\n".encode("cp1252"))
    assert read_inspections(path).rows["siret"].tolist() == [A]


@pytest.mark.parametrize("text", ["\nsiret,inspection_date,abuse_found\n", "siret|inspection_date|abuse_found\n", "siret\n"])
def test_a_file_whose_first_line_is_not_the_header_is_refused_clearly(tmp_path, text):
    path = tmp_path / "odd.csv"
    path.write_text(text + f"{A},2024-03-05,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column.* in its first line"):
        read_inspections(path)


def test_rows_not_separated_as_the_header_is_are_each_left_out_by_line(tmp_path):
    """A header separated by tabs over rows separated by commas: each row is one value, a SIRET that is not 14 digits,
    left out and named by its line; an import of the file refuses it, as a file with no valid row."""
    path = tmp_path / "mixed.csv"
    path.write_text(f"siret\tinspection_date\tabuse_found\n{A},2024-03-05,1\n{B},2024-06-10,0\n", encoding="utf-8")
    loaded = read_inspections(path)
    assert loaded.rows.empty
    assert [(issue.line, issue.reason) for issue in loaded.issues] == [
        (line, "siret is not 14 digits (27 characters); row left out") for line in (2, 3)]
    with pytest.raises(ValueError, match="no valid inspection row"):
        import_inspections(path, Home(tmp_path / "home"))


def test_appending_to_a_warehouse_with_no_imported_control_keeps_the_recorded_ones_apart(tmp_path):
    home = Home(tmp_path / "home")
    recorded = pd.DataFrame({"siret": [B], "inspection_date": pd.to_datetime(["2025-02-03"]), "abuse_found": [1]})
    store_recorded_inspections(recorded, home)
    appended = import_inspections(_csv(tmp_path / "new.csv", f"{A},2025-01-20,0"), home, append=True)
    assert (appended.stored, appended.added) == (1, 1)
    assert _stored(home) == [(A, "2025-01-20", 0), (B, "2025-02-03", 1)]


def test_the_command_says_what_was_added_and_what_is_stored(tmp_path):
    home = tmp_path / "home"
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "import-inspections", str(_csv(tmp_path / "a.csv", f"{A},2024-03-05,0"))])
    assert result.exit_code == 0, result.output
    assert "1 control stored in" in result.output and "replacing the 0 imported before" in result.output
    result = runner.invoke(app, ["--home", str(home), "import-inspections", "--append",
                                 str(_csv(tmp_path / "b.csv", f"{A},2024-03-05,1", f"{B},2024-06-10,0", "x,y,z"))])
    assert result.exit_code == 0, result.output
    assert "b.csv:2: SIRET 11111111100011 inspected on 2024-03-05 was stored with abuse_found 0" in result.output
    assert "b.csv:4: siret is not 14 digits (1 characters)" in result.output
    assert "2 inspections read (1 row left out): 1 new, 1 outcome replaced; 2 controls stored in" in result.output
    result = runner.invoke(app, ["--home", str(home), "import-inspections", str(_csv(tmp_path / "c.csv", f"{C},2025-01-20,1"))])
    assert result.exit_code == 0, result.output
    assert "1 control stored in" in result.output and "(0 rows left out), replacing the 2 imported before" in result.output
    store_recorded_inspections(pd.DataFrame({"siret": [C], "inspection_date": pd.to_datetime(["2025-01-20"]),
                                             "abuse_found": [0]}), Home(home))
    result = runner.invoke(app, ["--home", str(home), "import-inspections", str(_csv(tmp_path / "d.csv", f"{C},2025-01-20,1"))])
    assert result.exit_code == 0, result.output
    assert "d.csv:2: SIRET 33333333300033 inspected on 2025-01-20 is recorded in the web application" in result.output
    assert ("replacing the 1 imported before; 1 control recorded in the web application with another outcome, the "
            "imported one kept") in result.output


def test_evaluate_stops_on_an_inspections_file_with_no_valid_row_before_reading_the_registry(tmp_path):
    from core.config import Config
    from training.workflow import evaluate

    bad = _csv(tmp_path / "bad.csv", f"{A},05.03.2024,1")
    with pytest.raises(ValueError, match="no valid inspection row"):  # not the empty registry's error
        evaluate(Home(tmp_path / "home"), Config(), tmp_path / "no-truth", inspections=bad)


def test_evaluate_reads_a_file_given_one_row_per_control_and_the_stored_history_otherwise(tmp_path):
    from training.workflow import known_inspections

    home = Home(tmp_path / "home")
    assert known_inspections(home, None) is None  # nothing imported
    given = _csv(tmp_path / "both.csv", f"{A},2024-03-05,0", f"{A},2024-03-05,1", f"{B},2024-06-10,0")
    assert [(s, f"{d:%Y-%m-%d}", f) for s, d, f in known_inspections(home, given).itertuples(index=False, name=None)] == [
        (A, "2024-03-05", 1), (B, "2024-06-10", 0)]
    import_inspections(_csv(tmp_path / "stored.csv", f"{C},2024-01-02,1"), home)
    assert _stored(home) == [(s, f"{d:%Y-%m-%d}", f) for s, d, f in known_inspections(home, None).itertuples(
        index=False, name=None)] == [(C, "2024-01-02", 1)]


def test_inspections_a_caller_gives_are_typed_and_ordered_as_stored_ones():
    given = pd.DataFrame({"siret": [B, A, 11111111100011], "abuse_found": [0.0, 1.0, 0],
                          "inspection_date": ["2024-03-06", "2024-03-05 17:45", "2024-03-05"], "inspector": ["H", "M", "M"]})
    typed = typed_inspections(given)
    assert typed.dtypes.to_dict() == {"siret": "string", "inspection_date": "datetime64[s]", "abuse_found": "int64"}
    assert [(s, f"{d:%Y-%m-%d %H:%M}", f) for s, d, f in typed.itertuples(index=False, name=None)] == [
        (A, "2024-03-05 00:00", 0), (A, "2024-03-05 00:00", 1), (B, "2024-03-06 00:00", 0)]
    # Paris times across the change of hour, written with their offsets, are instants: each on its day in France.
    paris = given.assign(inspection_date=["2024-03-30T23:30:00+01:00", "2024-03-31T23:30:00+02:00", "2024-03-31T00:30Z"])
    assert typed_inspections(paris)["inspection_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-03-30", "2024-03-31", "2024-03-31"]


@pytest.mark.parametrize("column, values, refusal", [
    ("inspection_date", ["2024-03-05", "Marie Durand", "1 85 05 78 006 084 36"], "inspection_date is not a date between "
     r"1950 and 2099 in 2 of 3 rows \(the first at position 1\)"),
    ("inspection_date", ["05/03/2024", "2024", "20240305"], "inspection_date .* in 3 of 3 rows"),  # March or May?
    ("inspection_date", [20240305, 20240306, 20240307], "inspection_date .* in 3 of 3 rows"),  # a number is no date
    ("inspection_date", ["2024-03-05", "0001-01-01", "1900-01-01"], "inspection_date .* in 2 of 3 rows"),
    ("inspection_date", ["2024-03-05", "2024-03-05T10:00+01:00", None], "inspection_date .* in 3 of 3 rows"),  # mixed
    ("siret", [A, 1.5, f" {B}"], r"siret is not 14 digits in 1 of 3 rows \(the first at position 1\)"),
    ("siret", [A, "1 85 05 78 006 084 36", None], "siret is not 14 digits in 2 of 3 rows"),
    ("abuse_found", [1, pd.NA, 2], "abuse_found is not 0 or 1 in 2 of 3 rows"),
])
def test_inspections_a_caller_gives_are_refused_by_column_and_row_never_by_value(column, values, refusal):
    given = pd.DataFrame({"siret": [A, B, C], "inspection_date": ["2024-03-05"] * 3, "abuse_found": [1, 0, 1]})
    given[column] = pd.Series(values, dtype="object")
    with pytest.raises(ValueError, match="^inspections: " + refusal) as refused:
        typed_inspections(given)
    assert refused.value.__cause__ is None and refused.value.__context__ is None
    assert not any(value in str(refused.value) for value in values if isinstance(value, str)), refused.value


def test_inspections_a_caller_gives_without_a_column_or_with_one_twice_are_refused():
    given = pd.DataFrame({"siret": [A], "inspection_date": ["2024-03-05"], "abuse_found": [1]})
    with pytest.raises(ValueError, match=r"^inspections: no column abuse_found"):
        typed_inspections(given.drop(columns="abuse_found"))
    with pytest.raises(ValueError, match="named more than once"):
        typed_inspections(pd.concat([given, given[["abuse_found"]]], axis=1))
