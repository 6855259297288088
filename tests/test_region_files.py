"""The regional files: the Excel workbook read back with openpyxl, the HTML page opened in headless Chromium."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import markupsafe
import openpyxl
import pandas as pd
import pytest

from core.french import address_fr, date_fr, month_fr, of_month_fr, paris_day_start, paris_time_fr, percent_fr
from scoring.region_files import NO_LINE_FR, RegionList, escaped_column, shown_column, write_region_files
from tests.browser import opened

MONTH = date(2025, 3, 1)
REGION = "Île-de-France"
STEM = "11-ile-de-france"
CREATED = datetime(2025, 4, 2, 6, 30, tzinfo=UTC)

# Fake SIRETs; the first starts with 0 to check it stays text.
S1, S2, S3, S4 = "01234567800011", "22222222200022", "33333333300033", "44444444400044"


def _lines() -> pd.DataFrame:
    return pd.DataFrame({
        "siret": [S1, S2, S3],
        "street": ["8 RUE DE LA ROQUETTE", "1 PLACE DE LA DEFENSE", None],  # the third declared no street nor city
        "postal_code": ["75011", "92400", "93200"],
        "city": ["PARIS", "COURBEVOIE", None],
        "region_code": "11",
        "region": REGION,
        "departement": ["75", "92", "93"],
        "naf": ["5610A", "4711D", "8121Z"],
        "headcount": [42, 120, 8],
        "score": [0.61, 0.37, 0.04],
        "rank_in_region": [1, 2, 57],
        "rank_national": [3, 9, 801],
        "in_list": True,
        "list_position": pd.array([1, 2, 3], dtype="Int64"),
        "exploration": [False, False, True],
        "recently_inspected": False,
        "change": ["new", "still", "new"],
        "reason_1": [
            "4 contrats successifs sur le poste « serveur » sans respect du délai de carence (L1244-3) : "
            "infraction potentielle",
            "Part des embauches en CDD ou intérim sur 12 mois : 92 % (médiane du secteur en région : 40 %)",
            "",
        ],
        "reason_2": ["Taux de recours aux CDD et à l'intérim : 38 %", "", ""],
        "reason_3": ["", "", ""],
        "reason_1_feature": ["legal_rules", "share_hires_fixed_term_12m", ""],
        "reason_2_feature": ["precarity_rate_12m", "", ""],
        "reason_3_feature": ["", "", ""],
        "model_version": "7",
        "month": "2025-03",
    })


def _evidence() -> pd.DataFrame:
    return pd.DataFrame({
        "rule": ["carence", "carence", "usage_hors_secteur"],
        "confidence": ["probable", "à vérifier sur place", "établie"],
        "event_date": pd.to_datetime(["2025-02-10", "2025-02-24", "2025-01-05"]),
        "contract_id": ["c1", "c2", "c3"],
        "declaring_siret": [S1, S1, S3],
        "contract_number": ["00012", "00015", "CT000003"],
        "related_contract_id": ["c0", "c1", None],
        "related_contract_number": ["00007", "00012", None],
        "post": ["serveur", "serveur <b>&</b>", "agent nettoyage"],
        "post_no": pd.array([1, 1, None], dtype="Int32"),
        "posts_concerned": pd.array([1, 2, None], dtype="Int32"),
        "start_date": pd.to_datetime(["2025-02-10", "2025-02-24", "2025-01-05"]),
        "end_date": pd.to_datetime(["2025-02-20", "2025-03-05", "2025-01-05"]),
        "related_start_date": pd.to_datetime(["2025-01-02", "2025-02-10", None]),
        "related_end_date": pd.to_datetime(["2025-02-07", "2025-02-20", None]),
        "gap_opening_days": pd.array([2, 3, None], dtype="Int32"),
        "required_opening_days": pd.array([12, 4, None], dtype="Int32"),
        "measured_value": [2.0, 3.0, float("nan")],
        "legal_limit": [12.0, 4.0, float("nan")],
        "detail_fr": [
            "Infraction potentielle au délai de carence : 2 jours d'ouverture au lieu de 12.",
            "Infraction potentielle au délai de carence : 3 jours d'ouverture au lieu de 4.",
            "Infraction potentielle au recours au contrat à durée déterminée d'usage : NAF 8121Z.",
        ],
        "article": ["L1244-3", "L1244-3", "D1242-1"],
        "siret": [S1, S1, S3],
        "street": ["8 RUE DE LA ROQUETTE", "8 RUE DE LA ROQUETTE", None],
        "postal_code": ["75011", "75011", "93200"],
        "city": ["PARIS", "PARIS", None],
        "region_code": "11",
        "list_position": pd.array([1, 1, 3], dtype="Int64"),
        "person_ref": ["a1b2c3d4", "e5f6a7b8", "0c0c0c0c"],
    })


def _left() -> pd.DataFrame:
    left = _lines().iloc[[0]].copy()
    left["siret"] = S4
    left[["in_list", "exploration", "recently_inspected"]] = [False, False, True]
    left["list_position"] = pd.array([pd.NA], dtype="Int64")
    left["change"] = "left"
    left["rank_in_region"] = 14
    return left


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lists") / "2025-03"
    folder.mkdir()
    paths = write_region_files(folder, RegionList(STEM, REGION, MONTH, "7", _lines(), _evidence(), _left()), CREATED)
    return {p.suffix: p for p in paths}


def test_french_formatting():
    assert month_fr(date(2025, 8, 1)) == "août 2025"
    assert month_fr(date(2024, 12, 1)) == "décembre 2024"
    assert of_month_fr(date(2025, 8, 1)) == "d'août 2025" and of_month_fr(date(2025, 3, 1)) == "de mars 2025"
    assert percent_fr(0.382) == "38,2\u202f%"
    assert percent_fr(float("nan")) == ""
    assert date_fr(pd.Timestamp("2025-02-07")) == "07/02/2025"
    assert date_fr(pd.NaT) == ""
    assert address_fr("25 BOULEVARD VOLTAIRE", "75011", "PARIS") == "25 BOULEVARD VOLTAIRE, 75011 PARIS"
    assert address_fr(None, "75011", float("nan")) == "75011"
    assert address_fr(None, None, None) == ""


def test_times_kept_in_utc_are_shown_in_paris_time_across_the_summer_time_changes():
    """The clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on 25 October 2026."""
    assert [paris_time_fr(datetime(2026, 3, 29, hour, 59 if hour == 0 else 0)) for hour in (0, 1)] == [
        "29/03/2026 01:59", "29/03/2026 03:00"]
    assert [paris_time_fr(datetime(2026, 10, 25, hour, 59 if hour == 0 else 0)) for hour in (0, 1)] == [
        "25/10/2026 02:59", "25/10/2026 02:00"]
    assert paris_time_fr(datetime(2026, 12, 31, 23, 30, 5), seconds=True) == "01/01/2027 00:30:05"
    assert paris_time_fr(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "01/07/2026 14:00"
    # The Paris day (the access log's one row a day): from 22:00 UTC in summer, 23:00 UTC in winter.
    assert paris_day_start(datetime(2026, 7, 1, 21, 59)) == datetime(2026, 6, 30, 22, 0)
    assert paris_day_start(datetime(2026, 7, 1, 22, 0)) == datetime(2026, 7, 1, 22, 0)
    assert paris_day_start(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == datetime(2026, 12, 31, 23, 0)


def test_a_column_of_dates_is_shown_as_each_of_its_dates():
    dates = pd.Series(pd.to_datetime(["2025-02-10", None, "1999-12-31 13:45", "2026-01-01"], format="mixed")).to_numpy()
    assert shown_column("date", dates) == [date_fr(value) for value in pd.Series(dates).tolist()]
    assert shown_column("date", dates) == ["10/02/2025", "", "31/12/1999", "01/01/2026"]


def test_returns_both_paths(written):
    assert sorted(written) == [".html", ".xlsx"]
    assert written[".xlsx"].name == f"{STEM}.xlsx"
    assert all(p.exists() and p.stat().st_size > 0 for p in written.values())


def _headers(sheet) -> list[str]:
    return [cell.value for cell in sheet[1]]


def test_workbook_sheets_and_tables(written):
    book = openpyxl.load_workbook(written[".xlsx"])
    assert book.sheetnames == ["À lire", "Liste", "Éléments", "Sortis de la liste"]

    listing = book["Liste"]
    assert _headers(listing) == [
        "Position", "SIRET", "Adresse", "Département", "Code NAF", "Effectif", "Score (probabilité estimée)",
        "Rang dans la région", "Sélection", "Évolution", "Raison 1", "Raison 2", "Raison 3", "Éléments",
    ]
    assert listing.max_row == 1 + 3
    assert listing.freeze_panes == "A2"
    assert listing.auto_filter.ref == "A1:N4"
    assert listing["B2"].value == S1  # text: the leading zero is kept
    assert [listing.cell(r, 3).value for r in (2, 3, 4)] == [
        "8 RUE DE LA ROQUETTE, 75011 PARIS", "1 PLACE DE LA DEFENSE, 92400 COURBEVOIE", "93200"]
    assert listing["G2"].value == pytest.approx(0.61)
    assert "%" in listing["G2"].number_format
    assert [listing.cell(r, 9).value for r in (2, 3, 4)] == ["score", "score", "exploration (tirage aléatoire)"]
    assert [listing.cell(r, 10).value for r in (2, 3, 4)] == ["nouveau", "déjà listé le mois précédent", "nouveau"]
    assert listing["K2"].alignment.wrap_text
    assert [listing.cell(r, 14).value for r in (2, 3, 4)] == [2, 0, 1]

    evidence = book["Éléments"]
    assert _headers(evidence) == [
        "SIRET", "Adresse", "Position", "Constat pour le poste", "Règle", "Article", "Certitude", "Poste",
        "N° de contrat (DSN)", "Déclaré par (SIRET)", "Réf. salarié (pseudonyme)", "Début", "Fin",
        "Contrat lié : début", "Contrat lié : fin", "Écart (jours d'ouverture)", "Délai requis", "Constat",
    ]
    assert evidence.max_row == 1 + 3
    assert evidence.freeze_panes == "A2"
    assert evidence.auto_filter.ref == "A1:R4"
    assert [evidence.cell(r, 2).value for r in (2, 3, 4)] == ["8 RUE DE LA ROQUETTE, 75011 PARIS"] * 2 + ["93200"]
    assert evidence["D2"].value == (
        "1 contrat sur 1 poste de « serveur » sans respect du délai de carence (L1244-3) : 1 probable")
    assert evidence["E2"].value == "Délai de carence non respecté"
    assert [evidence.cell(r, 7).value for r in (2, 3, 4)] == ["probable", "à vérifier sur place", "établie"]
    assert evidence["I2"].value == "00012" and evidence["J4"].value == S3  # contract number and declarant, as text
    assert evidence["L2"].value == datetime(2025, 2, 10)
    assert evidence["L2"].number_format == "dd/mm/yyyy"
    assert evidence["O4"].value is None  # no related contract
    assert "infraction potentielle" in evidence["R2"].value.lower()

    left = book["Sortis de la liste"]
    assert left.max_row == 2 and left["A2"].value == S4
    assert left["B2"].value == "8 RUE DE LA ROQUETTE, 75011 PARIS"
    assert left.freeze_panes == "A2" and left.auto_filter.ref

    readme = "\n".join(str(c.value) for row in book["À lire"].iter_rows() for c in row if c.value)
    assert "infraction potentielle" in readme and "mars 2025" in readme and "7" in readme

    for sheet in book.worksheets[1:]:
        for title in _headers(sheet):
            assert not any(word in title.lower() for word in ("nir", "nom", "name", "naissance", "birth"))


def test_no_left_sheet_when_nobody_left(tmp_path):
    paths = write_region_files(tmp_path, RegionList(STEM, REGION, MONTH, "7", _lines(), _evidence(), _left().iloc[0:0]),
                               CREATED)
    book = openpyxl.load_workbook(next(p for p in paths if p.suffix == ".xlsx"))
    assert book.sheetnames == ["À lire", "Liste", "Éléments"]


def test_html_is_escaped_and_self_contained(written):
    page = written[".html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page and 'charset="utf-8"' in page
    assert "serveur &lt;b&gt;&amp;&lt;/b&gt;" in page and "<b>&</b>" not in page
    assert "http://" not in page and "https://" not in page and "<link" not in page and " src=" not in page
    assert "<td>8 RUE DE LA ROQUETTE, 75011 PARIS</td>" in page and "<td>93200</td>" in page


@pytest.mark.parametrize("texts", [
    [], [""], ["serveur <b>&</b>", "", "l'équipe \"A\"", "7 < 8 > 6"], ["a\0b", "<c>"], ["\0", "\0"],
])
def test_a_column_is_escaped_as_each_of_its_cells(texts):
    assert escaped_column(texts) == [str(markupsafe.escape(text)) for text in texts]


@pytest.mark.browser
def test_a_page_with_no_line_in_chromium(tmp_path):
    """A region with no line: its page says so, and the filter, with nothing to filter, says nothing."""
    paths = write_region_files(tmp_path, RegionList(STEM, REGION, MONTH, "7", _lines().iloc[0:0], _evidence().iloc[0:0],
                                                    _left()), CREATED)
    with opened(next(p for p in paths if p.suffix == ".html")) as seen:
        page = seen.page
        assert page.get_by_text(NO_LINE_FR).is_visible()
        assert page.locator("#liste tbody.line").count() == 0
        assert not page.locator("#aucune").is_visible()
        assert page.locator("#compte").inner_text() == "0 / 0 affiché"
        assert page.locator("#sortis tbody tr").count() == 1
    assert seen.errors == []


@pytest.mark.browser
def test_html_page_in_chromium(written):
    with opened(written[".html"]) as seen:
        page = seen.page
        assert page.title() == "Liste de contrôle — Île-de-France — mars 2025"
        assert "infraction potentielle" in page.locator("header").inner_text().lower()
        lines = page.locator("#liste tbody.line")
        assert lines.count() == 3

        # Exploration lines carry their flag, the others do not.
        exploration = page.locator("#liste tbody.line.exploration")
        assert exploration.count() == 1
        assert exploration.get_attribute("data-siret") == S3
        assert exploration.locator(".flag").inner_text() == "exploration (tirage aléatoire)"
        assert page.locator("#liste tbody.line:not(.exploration) .flag").count() == 0

        # The evidence is hidden until its <details> is opened (its tables made then, from the page's data); it comes
        # grouped by rule and post, one sentence above the contracts of each group.
        first = page.locator(f'#liste tbody.line[data-siret="{S1}"]')
        evidence_tables = first.locator("table.evidence")
        assert evidence_tables.count() == 0
        assert not first.locator("p.group").first.is_visible()
        first.locator("summary").click()
        evidence_tables.nth(1).wait_for()
        assert evidence_tables.count() == 2 and all(table.is_visible() for table in evidence_tables.all())
        assert first.locator("table.evidence tbody tr").count() == 2
        assert evidence_tables.first.locator("thead th").all_inner_texts() == [
            "Règle (article)", "Certitude", "Poste", "N° de contrat (DSN)", "Déclaré par (SIRET)",
            "Réf. salarié (pseudonyme)", "Début", "Fin", "Contrat lié : début", "Contrat lié : fin",
            "Écart (jours d'ouverture)", "Délai requis", "Constat"]
        assert evidence_tables.first.locator("tbody td").all_inner_texts() == [
            "Délai de carence non respecté (L1244-3)", "probable", "serveur", "00012", S1, "a1b2c3d4", "10/02/2025",
            "20/02/2025", "02/01/2025", "07/02/2025", "2", "12",
            "Infraction potentielle au délai de carence : 2 jours d'ouverture au lieu de 12."]
        assert evidence_tables.first.locator("tbody td.num").all_inner_texts() == ["2", "12"]
        first.locator("summary").click()  # closed and opened again: the same tables, not made twice
        first.locator("summary").click()
        assert evidence_tables.count() == 2
        groups = first.locator("p.group").all_inner_texts()
        assert groups == ["1 contrat sur 1 poste de « serveur » sans respect du délai de carence (L1244-3) : 1 probable",
                          "1 contrat sur 1 poste de « serveur <b>&</b> » sans respect du délai de carence (L1244-3) : "
                          "1 à vérifier sur place"]
        text = first.locator("details").inner_text()
        assert "Délai de carence non respecté" in text and "serveur <b>&</b>" in text and "10/02/2025" in text
        assert "00012" in text and "à vérifier sur place" in text  # the DSN contract number and the confidence

        # The filter hides the lines that do not match (NAF, département, accents ignored).
        page.fill("#filtre", "8121z")
        assert [line.is_visible() for line in lines.all()] == [False, False, True]
        page.fill("#filtre", "92")
        assert [line.is_visible() for line in lines.all()] == [False, True, False]
        page.fill("#filtre", "courbevoie")  # the address
        assert [line.is_visible() for line in lines.all()] == [False, True, False]
        page.fill("#filtre", "delai  CARENCE")
        assert [line.is_visible() for line in lines.all()] == [True, False, False]
        page.fill("#filtre", "a1b2c3d4")  # a value of a contract, in a line never opened
        assert [line.is_visible() for line in lines.all()] == [True, False, False]
        page.fill("#filtre", "0c0c0c0c")
        assert [line.is_visible() for line in lines.all()] == [False, False, True]
        page.fill("#filtre", "javascript")  # the note for browsers without it is no line's text
        assert not any(line.is_visible() for line in lines.all())
        page.fill("#filtre", "boulangerie")
        assert [line.is_visible() for line in lines.all()] == [False, False, False]
        assert page.locator("#aucune").is_visible()
        page.fill("#filtre", "")
        assert all(line.is_visible() for line in lines.all())

        assert page.locator("#sortis tbody tr").count() == 1
        assert S4 in page.locator("#sortis").inner_text()

        # Printed, every line shows its evidence; the page is restored after.
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        assert page.locator("details[open]").count() == 2 and page.locator("table.evidence").count() == 3
        assert page.locator(f'#liste tbody.line[data-siret="{S3}"] table.evidence tbody td').nth(2).inner_text() == (
            "agent nettoyage")
        page.evaluate("window.dispatchEvent(new Event('afterprint'))")
        assert page.locator("details[open]").count() == 1  # the first line, opened above

    assert seen.errors == []
    assert all(url.startswith("file://") for url in seen.requests), seen.requests


@pytest.mark.browser
def test_text_of_the_declarations_that_looks_like_html_or_script_stays_text(tmp_path):
    """A job title is what the employer typed: in the page's data it can neither close the script nor run one."""
    hostile = ["</script><script>document.title='pris'</script>", "<!--", "]]>&amp;", "\u2028 ligne\u2029"]
    evidence = pd.concat([_evidence().iloc[[0]]] * len(hostile), ignore_index=True).assign(post=hostile)
    paths = write_region_files(tmp_path, RegionList(STEM, REGION, MONTH, "7", _lines(), evidence, _left()), CREATED)
    page_file = next(p for p in paths if p.suffix == ".html")
    assert page_file.read_text(encoding="utf-8").count("<script") == 2
    with opened(page_file) as seen:
        page = seen.page
        first = page.locator(f'#liste tbody.line[data-siret="{S1}"]')
        first.locator("summary").click()
        first.locator("table.evidence").nth(len(hostile) - 1).wait_for()
        shown = [table.locator("tbody td").nth(2).text_content() for table in first.locator("table.evidence").all()]
        assert sorted(shown) == sorted(hostile)
        assert page.title() == "Liste de contrôle — Île-de-France — mars 2025"
    assert seen.errors == []


@pytest.mark.browser
def test_a_line_opened_before_the_script_ran_shows_its_contracts(tmp_path):
    """On a national page (19 s to load) an inspector may open a line before the page's script is there."""
    paths = write_region_files(tmp_path, RegionList(STEM, REGION, MONTH, "7", _lines(), _evidence(), _left()), CREATED)
    page_file = next(p for p in paths if p.suffix == ".html")
    page_file.write_text(page_file.read_text(encoding="utf-8").replace("<details>", "<details open>", 1), encoding="utf-8")
    with opened(page_file) as seen:
        first = seen.page.locator(f'#liste tbody.line[data-siret="{S1}"]')
        assert first.locator("table.evidence").count() == 2 and first.locator("table.evidence").first.is_visible()
    assert seen.errors == []


def test_the_page_holds_no_contract_of_an_establishment_it_does_not_list(tmp_path):
    other = _evidence().iloc[[0]].assign(siret="55555555500055", contract_number="AUTRE-01", person_ref="f0f0f0f0",
                                         list_position=pd.array([9], dtype="Int64"))
    evidence = pd.concat([_evidence(), other], ignore_index=True)
    paths = write_region_files(tmp_path, RegionList(STEM, REGION, MONTH, "7", _lines(), evidence, _left()), CREATED)
    page = next(p for p in paths if p.suffix == ".html").read_text(encoding="utf-8")
    assert "AUTRE-01" not in page and "f0f0f0f0" not in page and "55555555500055" not in page
    assert "00012" in page  # the listed establishments' contracts are there
