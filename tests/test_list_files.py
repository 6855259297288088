"""The files of a monthly list, written from a small month with the awkward cases, read back cell by cell:
formula-like text (neutralised in the CSVs, plain text in Excel, escaped in HTML), empty values, several
evidence groups per line (their order, their sentence, the order of their rows), a line and a region with no
evidence, a missing post, a line that left the list. Every value is written out: a change in how the files
are built (column by column, one grouping per region) must not change what an inspector opens."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from scoring.monthly import RANKED_COLUMNS, listed_evidence, write_list_files
from scoring.page_evidence import line_values
from scoring.region_files import NO_LINE_FR, RegionList
from scoring.region_pool import RegionFilesError, write_regions

MONTH = date(2025, 3, 1)
CREATED = datetime(2025, 4, 2, 6, 30, tzinfo=UTC)
# Fake SIRETs; the first starts with 0 to check it stays text.
S1, S2, S3, S4, S5, S6 = (f"0{i}23456780001{i}" for i in range(1, 7))
ADDRESS_1 = "8 RUE DE LA ROQUETTE, 75011 PARIS"
HYPERLINK = '=HYPERLINK("http://x","y")'


def _ranked() -> pd.DataFrame:
    """Region 11: three listed lines (the third drawn for exploration) and one that left the list; region 24:
    one listed line without evidence and one establishment scored but not listed."""
    ranked = pd.DataFrame({
        "siret": [S1, S2, S3, S4, S5, S6],
        "street": ["8 RUE DE LA ROQUETTE", None, "2 RUE X", "1 AVENUE Y", None, None],
        "postal_code": ["75011", "92400", None, "75012", "45000", "45000"],
        "city": ["PARIS", "COURBEVOIE", None, "PARIS", "ORLEANS", "ORLEANS"],
        "region_code": ["11", "11", "11", "11", "24", "24"],
        "region": ["Île-de-France"] * 4 + ["Centre-Val de Loire"] * 2,
        "departement": ["75", "92", "93", "75", "45", "45"],
        "naf": ["5610A", HYPERLINK, "8121Z", "5610A", "4711D", "4711D"],
        "headcount": [42.0, float("nan"), 8.0, 12.0, 3.0, 5.0],
        "score": [0.61, 0.37, 0.04, 0.2, 0.5, 0.01],
        "rank_in_region": [1, 2, 57, 14, 1, 2],
        "rank_national": [3, 9, 801, 90, 12, 900],
        "in_list": [True, True, True, False, True, False],
        "list_position": pd.array([1, 2, 3, None, 1, None], dtype="Int64"),
        "exploration": [False, False, True, False, False, False],
        "recently_inspected": [False, False, False, True, False, False],
        "change": ["new", "still", "new", "left", "first", None],
        "reason_1": ["Part des CDD : 92 %", "-12 % de CDI", "Ligne d'exploration", "", "Taux : 38 %", ""],
        "reason_2": ["Taux de recours : 38 %", "", "", "", "", ""],
        "reason_1_feature": ["share", "share", "", "", "rate", ""],
        "reason_2_feature": ["rate", "", "", "", "", ""],
        "model_version": "7",
        "month": "2025-03",
    })
    return ranked[[*RANKED_COLUMNS, "reason_1", "reason_2", "reason_1_feature", "reason_2_feature", "model_version",
                   "month"]]


def _evidence() -> pd.DataFrame:
    """The month's rule findings: four for S1 in three groups (two posts of one rule, a missing post, a post
    that reads as a formula), one for S3, one for an establishment not listed."""
    n = 7
    return pd.DataFrame({
        "establishment_siret": [S1, S1, S1, S1, S1, S3, S6],
        "rule": ["carence", "poste_permanent", "carence", "carence", "carence", "usage_hors_secteur", "carence"],
        "confidence": ["à vérifier sur place", "établie", "établie", "probable", "probable", "établie", "établie"],
        "event_date": pd.to_datetime(["2025-02-24", "2025-01-31", "2025-02-10", None, "2025-01-15", "2025-01-05",
                                      "2025-01-05"]),
        "contract_id": [f"c{i}" for i in range(n)],
        "declaring_siret": [S1, S1, S1, S1, S1, "01234567800099", S6],
        "contract_number": ["00012", "00020", "00015", "00016", "00011", "CT000003", "1"],
        "related_contract_id": ["c9", None, "c9", None, "c8", None, None],
        "related_contract_number": ["00007", None, "00012", None, "00003", None, None],
        "post": ["serveur", None, "serveur", "=1+1", "serveur", "agent", "x"],
        "post_no": pd.array([1, None, 2, None, 1, None, 1], dtype="Int32"),
        "posts_concerned": pd.array([None, 3, None, None, None, None, None], dtype="Int32"),
        "start_date": pd.to_datetime(["2025-02-24", "2024-02-01", "2025-02-10", "2025-02-03", "2025-01-15",
                                      "2025-01-05", "2025-01-05"]),
        "end_date": pd.to_datetime(["2025-03-05", "2025-01-31", "2025-02-20", None, "2025-01-25", "2025-01-05",
                                    "2025-01-05"]),
        "related_start_date": pd.to_datetime(["2025-02-10", None, "2025-01-02", None, "2025-01-01", None, None]),
        "related_end_date": pd.to_datetime(["2025-02-20", None, "2025-02-07", None, "2025-01-10", None, None]),
        "gap_opening_days": pd.array([3, None, 2, None, 4, None, 1], dtype="Int32"),
        "required_opening_days": pd.array([4, None, 12, None, 5, None, 2], dtype="Int32"),
        "measured_value": [3.0, 12.0, 2.0, float("nan"), 4.0, float("nan"), 1.0],
        "legal_limit": [4.0, 12.0, 12.0, float("nan"), 5.0, float("nan"), 2.0],
        "detail_fr": ["-1 jour d'ouverture manquant", "Poste tenu 12 mois", "10 jours manquants", "",
                      "1 jour manquant", "NAF 8121Z", "x"],
        "article": ["L1244-3", "L1242-1", "L1251-36", None, "L1244-3", "D1242-1", "L1244-3"],
        "person_key": ["a1b2c3d4e5", "b2c3d4e5f6", "c3d4e5f6a7", "d4e5f6a7b8", "e5f6a7b8c9", "f6a7b8c9d0", "0000000000"],
        "as_of": pd.Timestamp("2025-03-01"),
    })


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lists") / "2025-03"
    folder.mkdir()
    ranked = _ranked()
    paths = write_list_files(folder, ranked, listed_evidence(_evidence(), ranked), MONTH, "7")
    return {p.name: p for p in paths}


def test_one_workbook_and_one_page_per_region(written):
    assert sorted(written) == ["11-ile-de-france.html", "11-ile-de-france.xlsx", "24-centre-val-de-loire.html",
                               "24-centre-val-de-loire.xlsx", "evidence.csv", "ranked.csv"]


def test_csv_cells_that_read_as_formulas_are_neutralised(written):
    ranked = pd.read_csv(written["ranked.csv"], dtype=str, keep_default_na=False)
    assert ranked["naf"].tolist() == ["5610A", "'" + HYPERLINK, "8121Z", "5610A", "4711D", "4711D"]
    assert ranked["reason_1"].tolist()[1] == "'-12 % de CDI"
    assert ranked["headcount"].tolist() == ["42.0", "", "8.0", "12.0", "3.0", "5.0"]
    evidence = pd.read_csv(written["evidence.csv"], dtype=str, keep_default_na=False)
    assert evidence["siret"].tolist() == [S1] * 5 + [S3]  # the establishment not listed is left out
    assert evidence["post"].tolist() == ["serveur", "'=1+1", "serveur", "serveur", "", "agent"]
    assert evidence["detail_fr"].tolist()[3] == "'-1 jour d'ouverture manquant"
    assert evidence["person_ref"].tolist() == ["c3d4e5f6", "d4e5f6a7", "e5f6a7b8", "a1b2c3d4", "b2c3d4e5", "f6a7b8c9"]


def _sheet(path: Path, name: str) -> list[list[object]]:
    return [[cell.value for cell in row] for row in openpyxl.load_workbook(path)[name].iter_rows()]


CARENCE_SERVEUR = ("3 contrats sur 2 postes de « serveur » sans respect du délai de carence (L1244-3, L1251-36) : "
                   "1 établi, 1 probable, 1 à vérifier sur place")
CARENCE_FORMULA = "1 contrat sur le poste « =1+1 » sans respect du délai de carence : 1 probable"
PERMANENT = "1 contrat sur 3 postes de « non renseigné » tenus toute l'année par des contrats courts (L1242-1) : 1 établi"
USAGE = "1 CDD d'usage sur « agent » hors des secteurs autorisés (D1242-1) : 1 établi"
CARENCE, PERMANENT_LABEL = "Délai de carence non respecté", "Emploi durable pourvu par des contrats courts"
USAGE_LABEL = "Contrat à durée déterminée d'usage hors des secteurs autorisés"


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_workbook_cells(written):
    book = written["11-ile-de-france.xlsx"]
    assert openpyxl.load_workbook(book).sheetnames == ["À lire", "Liste", "Éléments", "Sortis de la liste"]
    assert _sheet(book, "Liste")[1:] == [
        [1, S1, ADDRESS_1, "75", "5610A", 42, 0.61, 1, "score", "nouveau", "Part des CDD : 92 %",
         "Taux de recours : 38 %", 5],
        [2, S2, "92400 COURBEVOIE", "92", HYPERLINK, None, 0.37, 2, "score", "déjà listé le mois précédent",
         "-12 % de CDI", None, 0],
        [3, S3, "2 RUE X", "93", "8121Z", 8, 0.04, 57, "exploration (tirage aléatoire)", "nouveau",
         "Ligne d'exploration", None, 1],
    ]
    assert _sheet(book, "Éléments")[1:] == [
        [S1, ADDRESS_1, 1, CARENCE_SERVEUR, CARENCE, "L1251-36", "établie", "serveur", "00015", S1, "c3d4e5f6",
         _day("2025-02-10"), _day("2025-02-20"), _day("2025-01-02"), _day("2025-02-07"), 2, 12, "10 jours manquants"],
        [S1, ADDRESS_1, 1, CARENCE_SERVEUR, CARENCE, "L1244-3", "probable", "serveur", "00011", S1, "e5f6a7b8",
         _day("2025-01-15"), _day("2025-01-25"), _day("2025-01-01"), _day("2025-01-10"), 4, 5, "1 jour manquant"],
        [S1, ADDRESS_1, 1, CARENCE_SERVEUR, CARENCE, "L1244-3", "à vérifier sur place", "serveur", "00012", S1,
         "a1b2c3d4", _day("2025-02-24"), _day("2025-03-05"), _day("2025-02-10"), _day("2025-02-20"), 3, 4,
         "-1 jour d'ouverture manquant"],
        [S1, ADDRESS_1, 1, CARENCE_FORMULA, CARENCE, None, "probable", "=1+1", "00016", S1, "d4e5f6a7",
         _day("2025-02-03"), None, None, None, None, None, None],
        [S1, ADDRESS_1, 1, PERMANENT, PERMANENT_LABEL, "L1242-1", "établie", "non renseigné", "00020", S1, "b2c3d4e5",
         _day("2024-02-01"), _day("2025-01-31"), None, None, None, None, "Poste tenu 12 mois"],
        [S3, "2 RUE X", 3, USAGE, USAGE_LABEL, "D1242-1", "établie", "agent", "CT000003", "01234567800099", "f6a7b8c9",
         _day("2025-01-05"), _day("2025-01-05"), None, None, None, None, "NAF 8121Z"],
    ]
    assert _sheet(book, "Sortis de la liste")[1:] == [
        [S4, "1 AVENUE Y, 75012 PARIS", "75", "5610A", 12, 0.2, 14, "contrôlé récemment : exclu de la liste"]]

    sheet = openpyxl.load_workbook(book)["Éléments"]
    assert sheet["I2"].data_type == "s" and sheet["H5"].data_type == "s"  # a number or a formula stays text
    assert sheet["M5"].value is None and sheet["M5"].number_format == "dd/mm/yyyy"  # a blank keeps its format
    assert sheet["P2"].number_format == "0" and sheet["D2"].alignment.wrap_text
    liste = openpyxl.load_workbook(book)["Liste"]
    assert liste["G2"].number_format == "0.0%" and liste["F3"].value is None and liste["F3"].number_format == "0"


def test_a_region_without_evidence(written):
    book = written["24-centre-val-de-loire.xlsx"]
    assert openpyxl.load_workbook(book).sheetnames == ["À lire", "Liste", "Éléments"]  # nobody left its list
    assert _sheet(book, "Liste")[1:] == [
        [1, S5, "45000 ORLEANS", "45", "4711D", 3, 0.5, 1, "score", "pas de liste le mois précédent", "Taux : 38 %",
         None, 0]]
    assert len(_sheet(book, "Éléments")) == 1  # the header only
    page = written["24-centre-val-de-loire.html"].read_text(encoding="utf-8")
    assert "<details>" not in page and "Aucun établissement de la liste du mois précédent n'en est sorti" in page


def test_a_region_with_no_line_still_gets_its_files(tmp_path):
    """Every establishment of region 24 recently inspected: its office finds a workbook and a page saying that no
    establishment is proposed, with the line that left its list, not a missing file."""
    ranked = _ranked()
    region_24 = ranked["region_code"] == "24"
    ranked.loc[region_24, "recently_inspected"] = True
    ranked.loc[region_24, "in_list"] = False
    ranked.loc[region_24, "list_position"] = pd.NA
    ranked.loc[region_24, "change"] = ["left", None]
    paths = {p.name: p for p in write_list_files(tmp_path, ranked, listed_evidence(_evidence(), ranked), MONTH, "7")}
    book, page = paths["24-centre-val-de-loire.xlsx"], paths["24-centre-val-de-loire.html"]
    assert _sheet(book, "Liste")[1:] == [] and len(_sheet(book, "Éléments")) == 1  # headers only
    assert _sheet(book, "Sortis de la liste")[1:][0][0] == S5
    assert ["Lignes", NO_LINE_FR] in _sheet(book, "À lire")
    text = page.read_text(encoding="utf-8")
    assert _escaped(NO_LINE_FR) in text and 'data-siret="' not in text.split("Sortis")[0]
    assert "0 établissement listé" in text and S5 in text
    assert "11-ile-de-france.xlsx" in paths  # the other region as before


@pytest.mark.parametrize(("codes", "names"), [(["1", "1-a"], ["a-b", "b"]), (["1-a", "1"], ["B", "A  b"]),
                                               (["1-A", "1-a"], ["b", "b"])])
def test_two_regions_of_one_file_name_are_refused(tmp_path, codes, names):
    """Two regions whose code and name give one file name (codes and names of another source than INSEE's; names that
    differ only by case are one on the file systems of Windows and macOS): a clear error before anything is written,
    not one office's files overwritten by another's."""
    ranked = _ranked()
    for (code, name), rows in zip(zip(codes, names, strict=True), (ranked["region_code"] == "11",
                                                                     ranked["region_code"] == "24"), strict=True):
        ranked.loc[rows, ["region_code", "region"]] = [code, name]
    with pytest.raises(ValueError, match=r"would both write 1-[aA]-b\.xlsx and 1-[aA]-b\.html"):
        write_list_files(tmp_path, ranked, listed_evidence(_evidence(), ranked), MONTH, "7")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("missing", [None, pd.NA, float("nan")])
def test_a_region_with_no_name_is_the_unknown_region(tmp_path, missing):
    """A region code with no name (the monthly run names every region; a direct call may not): its files are named
    and titled as the unknown region; a region whose first line only has no name keeps the name its other lines give."""
    ranked = _ranked()
    ranked["region"] = ranked["region"].astype(object)
    ranked.loc[ranked["region_code"] == "24", "region"] = missing
    ranked.loc[ranked.index[ranked["region_code"] == "11"][0], "region"] = missing
    names = {p.name for p in write_list_files(tmp_path, ranked, listed_evidence(_evidence(), ranked), MONTH, "7")}
    assert names == {"ranked.csv", "evidence.csv", "24-region-inconnue.xlsx", "24-region-inconnue.html",
                     "11-ile-de-france.xlsx", "11-ile-de-france.html"}
    assert "région inconnue" in (tmp_path / "24-region-inconnue.html").read_text(encoding="utf-8")


def _line(page: str, siret: str) -> str:
    end = r'</tbody>\n(?=<tbody class="line|</table>\n<p class="empty" id="aucune")'
    return re.search(rf'<tbody class="line[^"]*" data-siret="{siret}">(.*?){end}', page, re.S).group(1)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def _page_evidence(page: str) -> dict:
    """The page's evidence data (`scoring.page_evidence`), read as its script reads it."""
    return json.loads(re.search(r'<script type="application/json" id="elements">(.*?)</script>', page, re.S).group(1))


def test_page_groups_and_cells(written):
    page = written["11-ile-de-france.html"].read_text(encoding="utf-8")
    first = _line(page, S1)
    assert re.findall(r'<p class="group">(.*?)</p>', first) == [
        _escaped(CARENCE_SERVEUR), _escaped(CARENCE_FORMULA), _escaped(PERMANENT)]
    assert "<summary>5 éléments relevés dans la DSN" in first
    evidence = _page_evidence(page)
    assert evidence["columns"][10:] == ["Écart (jours d'ouverture)", "Délai requis", "Constat"]
    assert evidence["numeric"] == [10, 11] and evidence["sentence"] == 12  # numbers aligned right
    assert {siret: len(groups) for siret, groups in evidence["lines"].items()} == {S1: 3, S3: 1}  # S2: no evidence
    rows = [row for group in line_values(evidence, S1) for row in group]
    assert rows == [
        [f"{CARENCE} (L1251-36)", "établie", "serveur", "00015", S1, "c3d4e5f6", "10/02/2025", "20/02/2025",
         "02/01/2025", "07/02/2025", "2", "12", "10 jours manquants"],
        [f"{CARENCE} (L1244-3)", "probable", "serveur", "00011", S1, "e5f6a7b8", "15/01/2025", "25/01/2025",
         "01/01/2025", "10/01/2025", "4", "5", "1 jour manquant"],
        [f"{CARENCE} (L1244-3)", "à vérifier sur place", "serveur", "00012", S1, "a1b2c3d4", "24/02/2025",
         "05/03/2025", "10/02/2025", "20/02/2025", "3", "4", "-1 jour d'ouverture manquant"],
        [CARENCE, "probable", "=1+1", "00016", S1, "d4e5f6a7", "03/02/2025", "", "", "", "", "", ""],
        [f"{PERMANENT_LABEL} (L1242-1)", "établie", "non renseigné", "00020", S1, "b2c3d4e5", "01/02/2024",
         "31/01/2025", "", "", "", "", "Poste tenu 12 mois"],
    ]
    second = _line(page, S2)
    assert "<details>" not in second and "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in second
    assert '<td class="num"></td>' in second  # no headcount
    third = _line(page, S3)
    assert re.findall(r'<p class="group">(.*?)</p>', third) == [_escaped(USAGE)]
    left = re.search(r'<table id="sortis">(.*?)</table>', page, re.S).group(1)
    assert re.findall(r"<td(?: class=\"num\")?>(.*?)</td>", left) == [
        S4, "1 AVENUE Y, 75012 PARIS", "75", "5610A", "12", "20,0\u202f%", "14", "contrôlé récemment : exclu de la liste"]


def _written_files(folder: Path, workers: int) -> dict[str, bytes]:
    folder.mkdir()
    ranked = _ranked()
    paths = write_list_files(folder, ranked, listed_evidence(_evidence(), ranked), MONTH, "7", workers, CREATED)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)  # no temporary file left
    return {p.name: p.read_bytes() for p in paths}


def test_regions_written_in_parallel_are_the_serial_files(tmp_path):
    serial = _written_files(tmp_path / "serial", workers=1)
    parallel = _written_files(tmp_path / "parallel", workers=2)
    assert list(parallel) == list(serial)  # the same files, in the same order
    assert parallel == serial  # byte for byte: the same sheets, cells and pages
    book = zipfile.ZipFile(tmp_path / "parallel" / "11-ile-de-france.xlsx")
    assert "<dcterms:created xsi:type=\"dcterms:W3CDTF\">2025-04-02T06:30:00Z" in book.read("docProps/core.xml").decode()


def _listings() -> list[RegionList]:
    ranked = _ranked()
    listed = listed_evidence(_evidence(), ranked)
    lines = ranked[ranked["in_list"]]
    return [
        RegionList(f"{code}-test", name, MONTH, "7", lines[lines["region_code"] == code],
                   listed[listed["region_code"] == code], ranked.iloc[0:0])
        for code, name in (("11", "Île-de-France"), ("24", "Centre-Val de Loire"))
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_region_raises_with_its_name_and_leaves_no_file(tmp_path, workers):
    good, bad = _listings()
    # The workbook takes the rank as a number; the page cannot show 1.5 as a rank: the failure comes once the
    # workbook is written under its temporary name.
    bad = RegionList(bad.stem, bad.region, bad.month, bad.version, bad.lines.assign(rank_in_region="1.5"),
                     bad.evidence, bad.left)
    with pytest.raises(RegionFilesError, match=r"files of region 24-test \(Centre-Val de Loire\) not written: .*1\.5"):
        write_regions(tmp_path, [good, bad], CREATED, workers)
    assert not any(p.name.startswith(("24-test", ".24-test")) for p in tmp_path.iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_work_done_meanwhile_runs_once_and_its_failure_is_raised(tmp_path, workers):
    calls = []
    paths = write_regions(tmp_path, _listings(), CREATED, workers, meanwhile=lambda: calls.append("csv"))
    assert calls == ["csv"] and [p.name for p in paths] == [
        "11-test.xlsx", "11-test.html", "24-test.xlsx", "24-test.html"]

    def failing() -> None:
        raise OSError("disk full")

    (tmp_path / "again").mkdir()
    with pytest.raises(OSError, match="disk full"):
        write_regions(tmp_path / "again", _listings(), CREATED, workers, meanwhile=failing)
