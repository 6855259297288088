"""The files a regional office opens: one Excel workbook and one HTML page per region and month.

`write_region_files` receives a region's list (`RegionList`: its listed lines, ordered by list position, each
with the establishment's SIRET and address as last declared, the contracts behind their legal-rule checks
and the establishments that left the list) and writes `{stem}.xlsx` (sheets « À lire », « Liste », « Éléments »,
« Sortis de la liste ») and `{stem}.html` (a self-contained page: inline CSS and JS, nothing fetched), each
under temporary names first, renamed once both are complete. Output text is French; every sentence
about a rule says « infraction potentielle »: the list orders visits, it proves nothing. No person
appears except as the 8-character pseudonym `person_ref`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np
import pandas as pd
import xlsxwriter

from core.atomic_files import replaced_when_written
from core.csv_files import neutralise_frame
from core.french import address_fr, date_fr, missing, month_fr, percent_fr
from scoring.evidence_groups import GroupedEvidence, grouped_evidence, rule_labels
from scoring.excel_table import CellKind, TableColumn, TableSheet
from scoring.page_evidence import PageEvidence, page_evidence, script_json

SELECTION_FR = {False: "score", True: "exploration (tirage aléatoire)"}
CHANGE_FR = {"new": "nouveau", "still": "déjà listé le mois précédent", "first": "pas de liste le mois précédent"}
WARNING_FR = (
    "Cette liste aide à choisir les établissements à contrôler en priorité ; elle ne prouve rien. "
    "Chaque élément relevé dans les déclarations (DSN) est une infraction potentielle, "
    "que seul le contrôle peut établir ou écarter."
)
SCORE_FR = (
    "Le score est la probabilité, estimée par le modèle à partir des contrôles passés, qu'un contrôle de "
    "l'établissement relève un recours abusif aux contrats à durée déterminée ou à l'intérim."
)
EXPLORATION_FR = (
    "Les lignes « exploration » sont tirées au hasard parmi les autres établissements éligibles, et non pour "
    "leur score : leurs contrôles permettent de mesurer et d'améliorer le modèle sans le biais de ses propres choix."
)
REASONS_FR = (
    "Les raisons sont les faits qui ont le plus élevé le score de l'établissement, comparés à la médiane de son "
    "secteur ; les éléments sont les contrats derrière les contrôles de règles du Code du travail. "
    "La référence salarié est un pseudonyme : la même personne garde la même référence dans les fichiers "
    "du mois."
)

NO_LINE_FR = (
    "Aucun établissement de la région n'est proposé ce mois-ci : aucun n'était éligible (un établissement "
    "contrôlé récemment n'est pas proposé)."
)


# --- French formatting ---


def _integer_text(value: Any) -> str:
    return "" if missing(value) else f"{int(value):,}".replace(",", "\u202f")


def _text(value: Any) -> str:
    return "" if missing(value) else str(value)


def _change_fr(value: Any) -> str:
    return CHANGE_FR.get(_text(value), _text(value))


def _reason_columns(frame: pd.DataFrame) -> list[str]:
    """reason_1, reason_2, ... (not the internal reason_N_feature), in order."""
    found = [c for c in frame.columns if re.fullmatch(r"reason_\d+", c)]
    return sorted(found, key=lambda c: int(c.split("_")[1]))


# --- The tables, as French columns ---

CellValues = Sequence[Any] | np.ndarray
Cells = Callable[[pd.DataFrame], CellValues]


@dataclass(frozen=True)
class Column:
    """One column of an output table: its French title, how to get its values from a table (one per row, in
    order: taken column by column, never row by row), and its kind (text, integer, percent, date, long)
    which sets the Excel format and width."""

    title: str
    cells: Cells
    kind: str = "text"
    width: float = 12


def _field(name: str, convert: Callable[[Any], Any] | None = None) -> Cells:
    """The values of column `name` (None when the table has no such column), each through `convert`."""
    def cells(frame: pd.DataFrame) -> CellValues:
        values = frame[name].tolist() if name in frame.columns else [None] * len(frame)
        return values if convert is None else [convert(value) for value in values]
    return cells


def _dates(name: str) -> Cells:
    """The dates of column `name` as one datetime64 array when it is one (made one Timestamp at a time, a national
    month's evidence dates cost seconds: the workbook and the page read the array at once), else as `_field`."""
    def cells(frame: pd.DataFrame) -> CellValues:
        column = frame[name] if name in frame.columns else None
        if column is not None and isinstance(column.dtype, np.dtype) and column.dtype.kind == "M":
            return column.to_numpy()
        return _field(name)(frame)
    return cells


def _address(frame: pd.DataFrame) -> list[str]:
    """The establishment's address (street, postal code and city as last declared) on one line."""
    return [address_fr(street, postal_code, city) for street, postal_code, city in zip(
        _field("street")(frame), _field("postal_code")(frame), _field("city")(frame), strict=True)]


ADDRESS_COLUMN = Column("Adresse", _address, "long", 34)


def line_columns(lines: pd.DataFrame, evidence_counts: dict[str, int]) -> list[Column]:
    """The columns of « Liste » (one line per listed establishment)."""
    reasons = [
        Column(f"Raison {c.split('_')[1]}", _field(c), "long", 55) for c in _reason_columns(lines)
    ]
    return [
        Column("Position", _field("list_position"), "integer", 9),
        Column("SIRET", _field("siret"), "text", 16),
        ADDRESS_COLUMN,
        Column("Département", _field("departement"), "text", 12),
        Column("Code NAF", _field("naf"), "text", 10),
        Column("Effectif", _field("headcount"), "integer", 9),
        Column("Score (probabilité estimée)", _field("score"), "percent", 13),
        Column("Rang dans la région", _field("rank_in_region"), "integer", 11),
        Column("Sélection", _field("exploration", lambda value: SELECTION_FR[bool(value)]), "text", 16),
        Column("Évolution", _field("change", _change_fr), "text", 16),
        *reasons,
        Column("Éléments", _field("siret", lambda siret: evidence_counts.get(str(siret), 0)), "integer", 10),
    ]


def lines_csv(lines: pd.DataFrame) -> str:
    """Listed lines (ranked.csv's columns) as a CSV file French spreadsheets open as a table: the « Liste » sheet's
    titles and French values (without « Éléments », which counts the evidence), then the month and the model's version;
    « ; » between cells and a byte order mark first (Excel then reads UTF-8), formula-like cells neutralised."""
    columns = [column for column in line_columns(lines, {}) if column.title != "Éléments"]
    columns += [Column("Mois de la liste", _field("month")), Column("Version du modèle", _field("model_version"))]
    frame = pd.DataFrame({column.title: [_csv_cell(value, column.kind) for value in column.cells(lines)]
                          for column in columns})
    return "\ufeff" + neutralise_frame(frame).to_csv(index=False, sep=";")


def _csv_cell(value: Any, kind: str) -> str:
    if missing(value):
        return ""
    if kind == "integer":
        return str(int(value))
    return percent_fr(value) if kind == "percent" else str(value)


EVIDENCE_SHEET_COLUMNS: list[Column] = [
    Column("SIRET", _field("siret"), "text", 16),
    ADDRESS_COLUMN,
    Column("Position", _field("list_position"), "integer", 9),
    Column("Constat pour le poste", _field("group_fr"), "long", 45),
    Column("Règle", rule_labels, "long", 28),
    Column("Article", _field("article"), "text", 11),
    Column("Certitude", _field("confidence"), "text", 14),
    Column("Poste", _field("post"), "text", 20),
    Column("N° de contrat (DSN)", _field("contract_number"), "text", 14),
    Column("Déclaré par (SIRET)", _field("declaring_siret"), "text", 16),
    Column("Réf. salarié (pseudonyme)", _field("person_ref"), "text", 12),
    Column("Début", _dates("start_date"), "date", 11),
    Column("Fin", _dates("end_date"), "date", 11),
    Column("Contrat lié : début", _dates("related_start_date"), "date", 11),
    Column("Contrat lié : fin", _dates("related_end_date"), "date", 11),
    Column("Écart (jours d'ouverture)", _field("gap_opening_days"), "integer", 10),
    Column("Délai requis", _field("required_opening_days"), "integer", 10),
    Column("Constat", _field("detail_fr"), "long", 80),
]


def left_columns() -> list[Column]:
    """The columns of « Sortis de la liste »."""
    return [
        Column("SIRET", _field("siret"), "text", 16),
        ADDRESS_COLUMN,
        Column("Département", _field("departement"), "text", 12),
        Column("Code NAF", _field("naf"), "text", 10),
        Column("Effectif", _field("headcount"), "integer", 9),
        Column("Score ce mois-ci", _field("score"), "percent", 12),
        Column("Rang dans la région", _field("rank_in_region"), "integer", 11),
        Column("Motif de sortie", _field("recently_inspected", left_reason), "long", 45),
    ]


def left_reason(recently_inspected: Any) -> str:
    """Why a line of last month's list is not on this one, from its `recently_inspected` flag."""
    if bool(recently_inspected):
        return "contrôlé récemment : exclu de la liste"
    return "n'est plus parmi les établissements retenus ce mois-ci"


@dataclass(frozen=True, eq=False)  # frames: no equality nor hash
class RegionList:
    """One region's list of a month, as its files show it: `lines`, the listed establishments in list order;
    `evidence`, the contracts behind their rule checks (with `siret`, `list_position`, `person_ref`); `left`,
    last month's lines no longer listed. `stem` names the files."""

    stem: str
    region: str
    month: date
    version: str
    lines: pd.DataFrame
    evidence: pd.DataFrame
    left: pd.DataFrame

    @cached_property
    def grouped(self) -> GroupedEvidence:
        """The evidence grouped by line (list position), then by rule and post (`scoring.evidence_groups`):
        the workbook and the page read the same groups."""
        return grouped_evidence(self.evidence, "list_position")

    @cached_property
    def evidence_counts(self) -> dict[str, int]:
        """SIRET -> number of evidence rows."""
        if self.evidence.empty:
            return {}
        return self.evidence["siret"].astype(str).value_counts().to_dict()


def grouped_rows(listing: RegionList) -> pd.DataFrame:
    """The evidence rows in list order, each line's rows grouped by rule and post, with the group's sentence
    in `group_fr`."""
    if listing.evidence.empty:
        return listing.evidence.assign(group_fr=pd.Series(dtype="string"))
    grouped = listing.grouped
    sizes = (grouped.groups["stop"] - grouped.groups["start"]).to_numpy(dtype="int64")
    return grouped.rows.assign(group_fr=np.repeat(grouped.groups["summary_fr"].to_numpy(dtype=object), sizes))


# --- Excel ---


EXCEL_KINDS: dict[str, CellKind] = {"date": "date", "integer": "number", "percent": "number"}


def _write_table(sheet: TableSheet, frame: pd.DataFrame, columns: list[Column], formats: dict[str, Any]) -> None:
    """Header row (bold, frozen, filtered), then one row per row of `frame`, typed by column kind (a SIRET or
    département '01' is text and keeps its leading zeros), written column by column (`scoring.excel_table`)."""
    for j, column in enumerate(columns):
        sheet.set_column(j, j, column.width, formats.get(column.kind))
    sheet.write_table(formats["header"], [
        TableColumn(column.title, column.cells(frame), EXCEL_KINDS.get(column.kind, "text"), formats[column.kind])
        for column in columns
    ])
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.repeat_rows(0)
    sheet.fit_to_pages(1, 0)


def write_workbook(path: Path, listing: RegionList, created: datetime) -> Path:
    """Write `path` (.xlsx): « À lire », « Liste », « Éléments » and, when the list has departures,
    « Sortis de la liste ». `created` (UTC) is the workbook's creation time in its properties: with it, the
    same list gives the same bytes."""
    region, month, version, lines, left = listing.region, listing.month, listing.version, listing.lines, listing.left
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": created})
    formats = {
        "header": book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDE4EE",
                                   "border": 1}),
        "text": book.add_format({"valign": "top"}),
        "integer": book.add_format({"valign": "top", "num_format": "0"}),
        "percent": book.add_format({"valign": "top", "num_format": "0.0%"}),
        "date": book.add_format({"valign": "top", "num_format": "dd/mm/yyyy"}),
        "long": book.add_format({"valign": "top", "text_wrap": True}),
    }
    readme = book.add_worksheet("À lire")
    title = book.add_format({"bold": True, "font_size": 14})
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    wrap = formats["long"]
    readme.set_column(0, 0, 22)
    readme.set_column(1, 1, 100)
    readme.write_string(0, 0, f"Liste de contrôle — {region} — {month_fr(month)}", title)
    n_exploration = int(lines["exploration"].astype(bool).sum()) if len(lines) else 0
    rows = [
        ("Attention", WARNING_FR),
        ("Mois", month_fr(month)),
        ("Version du modèle", str(version)),
        ("Lignes", f"{len(lines)} établissements, dont {n_exploration} en exploration" if len(lines) else NO_LINE_FR),
        ("Score", SCORE_FR),
        ("Exploration", EXPLORATION_FR),
        ("Raisons et éléments", REASONS_FR),
    ]
    for i, (name, text) in enumerate(rows, start=2):
        readme.write_string(i, 0, name, bold)
        readme.write_string(i, 1, text, bold if name == "Attention" else wrap)

    _write_table(book.add_worksheet("Liste", TableSheet), lines, line_columns(lines, listing.evidence_counts), formats)
    _write_table(book.add_worksheet("Éléments", TableSheet), grouped_rows(listing), EVIDENCE_SHEET_COLUMNS, formats)
    if not left.empty:
        _write_table(book.add_worksheet("Sortis de la liste", TableSheet), left, left_columns(), formats)
    book.close()
    return path


# --- HTML ---

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("scoring", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)

# Under its line, evidence needs no SIRET, address nor position; the article goes with the rule.
_HTML_EVIDENCE = [c for c in EVIDENCE_SHEET_COLUMNS
                  if c.title not in ("SIRET", "Adresse", "Position", "Article", "Constat pour le poste")]


# A value as the HTML page shows it, by column kind.
_SHOWN: dict[str, Callable[[Any], str]] = {"date": date_fr, "percent": percent_fr, "integer": _integer_text}


def _rule_with_article(frame: pd.DataFrame) -> list[str]:
    return [f"{label} ({article})" if article else label for label, article in zip(
        rule_labels(frame), _field("article", _text)(frame), strict=True)]


def escaped_column(texts: list[str]) -> list[str]:
    """`texts` escaped for HTML as the page's template escapes a value (markupsafe), in one call over the
    whole column rather than one per cell (millions of cells at national scale): joined on NUL, which
    escaping keeps, then split again; a column with a NUL of its own is escaped cell by cell."""
    joined = "\0".join(texts)
    if joined.count("\0") != max(len(texts) - 1, 0):
        return [str(markupsafe.escape(text)) for text in texts]
    return str(markupsafe.escape(joined)).split("\0") if texts else []


def shown_column(kind: str, values: CellValues) -> list[str]:
    """A column's values as the page shows them (`_SHOWN` by kind); an array of dates formatted at once, as
    `date_fr` formats each one."""
    if kind == "date" and isinstance(values, np.ndarray) and values.dtype.kind == "M":
        days = np.datetime_as_string(values.astype("datetime64[D]"), unit="D").tolist()
        return ["" if day == "NaT" else f"{day[8:10]}/{day[5:7]}/{day[:4]}" for day in days]
    show = _SHOWN.get(kind, _text)
    return [show(value) for value in values]


def _rows_html(columns: list[Column], frame: pd.DataFrame) -> list[str]:
    """Each row of `frame` under `columns` as the page's `<tr>` line (its cells escaped, numbers aligned right),
    built column by column: the template writes the lines as they are."""
    cells = []
    for column in columns:
        texts = escaped_column(shown_column(column.kind, column.cells(frame)))
        opening = '<td class="num">' if column.kind in ("percent", "integer") else "<td>"
        cells.append([opening + text + "</td>" for text in texts])
    return ["<tr>" + "".join(row) + "</tr>\n" for row in zip(*cells, strict=True)] if cells else []


def _line_groups(listing: RegionList, columns: list[Column]) -> tuple[dict[str, list[str]], PageEvidence]:
    """SIRET -> the sentences of its evidence groups, in reading order; and the page's evidence data, the contracts of
    each group under `columns` as the page shows them (`scoring.page_evidence`)."""
    titles = [column.title for column in columns]
    numeric = [i for i, column in enumerate(columns) if column.kind in ("percent", "integer")]
    sentence = titles.index("Constat") if "Constat" in titles else -1
    if listing.evidence.empty:
        return {}, page_evidence(titles, numeric, sentence, [[] for _ in columns], np.zeros(1, np.int64), [])
    grouped = listing.grouped
    starts = grouped.groups["start"].to_numpy(dtype="int64")
    sizes = grouped.groups["stop"].to_numpy(dtype="int64") - starts
    sirets = grouped.rows["siret"].astype(str).to_numpy(dtype=object)[starts]
    # Only the groups of the page's lines: evidence of no line would be data the page never shows.
    listed = set(listing.lines["siret"].astype(str))
    kept = np.fromiter((siret in listed for siret in sirets), dtype=bool, count=len(sirets))
    summaries: dict[str, list[str]] = {}
    for siret, summary in zip(sirets[kept], grouped.groups["summary_fr"].to_numpy(dtype=object)[kept], strict=True):
        summaries.setdefault(siret, []).append(summary)
    rows = grouped.rows[np.repeat(kept, sizes)]  # the groups follow one another (`GroupedEvidence`)
    shown = [shown_column(column.kind, column.cells(rows)) for column in columns]
    bounds = np.concatenate([[0], np.cumsum(sizes[kept])])
    return summaries, page_evidence(titles, numeric, sentence, shown, bounds, sirets[kept].tolist())


def render_html(listing: RegionList) -> str:
    """The region's page as a string (see the module docstring)."""
    region, month, version, lines, left = listing.region, listing.month, listing.version, listing.lines, listing.left
    evidence_columns = [
        Column("Règle (article)", _rule_with_article, "long") if c.title == "Règle" else c for c in _HTML_EVIDENCE
    ]
    groups, evidence = _line_groups(listing, evidence_columns)
    counts = listing.evidence_counts
    reasons = list(zip(*(_field(c, _text)(lines) for c in _reason_columns(lines)), strict=True)) or [()] * len(lines)
    items = [{
        "position": _integer_text(position),
        "siret": _text(siret),
        "address": address,
        "departement": _text(departement),
        "naf": _text(naf),
        "headcount": _integer_text(headcount),
        "score": percent_fr(score),
        "rank_in_region": _integer_text(rank),
        "exploration": bool(exploration),
        "change": _change_fr(change),
        "reasons": [reason for reason in line_reasons if reason],
        "evidence_count": counts.get(str(siret), 0),
        "evidence_groups": groups.get(str(siret), []),
    } for position, siret, address, departement, naf, headcount, score, rank, exploration, change, line_reasons
        in zip(*(_field(name)(lines) for name in (
            "list_position", "siret")), _address(lines), *(_field(name)(lines) for name in (
            "departement", "naf", "headcount", "score", "rank_in_region", "exploration", "change")), reasons,
            strict=True)]
    columns_left = left_columns()
    title = f"Liste de contrôle — {region} — {month_fr(month)}"
    return _ENVIRONMENT.get_template("region_list.html.j2").render(
        title=title,
        month=month_fr(month),
        version=version,
        n_lines=len(lines),
        n_exploration=sum(item["exploration"] for item in items),
        warning=WARNING_FR,
        score_note=SCORE_FR,
        exploration_note=EXPLORATION_FR,
        reasons_note=REASONS_FR,
        empty_note=NO_LINE_FR,
        line_titles=["Position", "SIRET", "Adresse", "Département", "Code NAF", "Effectif", "Score (probabilité estimée)",
                     "Rang dans la région", "Sélection", "Évolution", "Raisons", "Éléments"],
        lines=items,
        evidence=markupsafe.Markup(script_json(evidence)),
        left_titles=[c.title for c in columns_left],
        left=markupsafe.Markup("".join(_rows_html(columns_left, left))),
    )


def write_region_files(folder: Path, listing: RegionList, created: datetime) -> list[Path]:
    """Write `{stem}.xlsx` and `{stem}.html` of `listing` into `folder`; return their paths. Both are written
    under temporary names and renamed once both are complete (`core.atomic_files`): a failure leaves no partial
    file under a final name. `created`: the workbook's creation time (UTC)."""
    workbook, page = folder / f"{listing.stem}.xlsx", folder / f"{listing.stem}.html"
    with replaced_when_written(workbook) as workbook_part, replaced_when_written(page) as page_part:
        write_workbook(workbook_part, listing, created)
        page_part.write_text(render_html(listing), encoding="utf-8")
    return [workbook, page]
