"""The files a regional office opens: one Excel workbook and one HTML page per region and month.

`write_region_files` receives a region's listed lines (ordered by list position, each with the
establishment's SIRET and address as last declared), the contracts
behind their legal-rule checks and the establishments that left the list, and writes
`{stem}.xlsx` (sheets « À lire », « Liste », « Éléments », « Sortis de la liste ») and `{stem}.html`
(a self-contained page: inline CSS and JS, nothing fetched). Output text is French; every sentence
about a rule says « infraction potentielle »: the list orders visits, it proves nothing. No person
appears except as the 8-character pseudonym `person_ref`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import xlsxwriter

from core.french import address_fr, date_fr, missing, month_fr, percent_fr
from features.rules import RULES
from scoring.evidence_groups import group_evidence

RULE_LABELS: dict[str, str] = {rule.id: rule.label_fr for rule in RULES}
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


# --- French formatting ---


def _integer_text(value: Any) -> str:
    return "" if missing(value) else f"{int(value):,}".replace(",", "\u202f")


def _text(value: Any) -> str:
    return "" if missing(value) else str(value)


def _reason_columns(frame: pd.DataFrame) -> list[str]:
    """reason_1, reason_2, ... (not the internal reason_N_feature), in order."""
    found = [c for c in frame.columns if re.fullmatch(r"reason_\d+", c)]
    return sorted(found, key=lambda c: int(c.split("_")[1]))


# --- The tables, as French columns ---


@dataclass(frozen=True)
class Column:
    """One column of an output table: its French title, how to get the value from a row, and its kind
    (text, integer, percent, date, long) which sets the Excel format and width."""

    title: str
    value: Callable[[pd.Series], Any]
    kind: str = "text"
    width: float = 12


def _field(name: str) -> Callable[[pd.Series], Any]:
    return lambda row: row.get(name)


def _address(row: pd.Series) -> str:
    """The establishment's address (street, postal code and city as last declared) on one line."""
    return address_fr(row.get("street"), row.get("postal_code"), row.get("city"))


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
        Column("Sélection", lambda row: SELECTION_FR[bool(row.get("exploration"))], "text", 16),
        Column("Évolution", lambda row: CHANGE_FR.get(_text(row.get("change")), _text(row.get("change"))), "text", 16),
        *reasons,
        Column("Éléments", lambda row: evidence_counts.get(str(row.get("siret")), 0), "integer", 10),
    ]


EVIDENCE_SHEET_COLUMNS: list[Column] = [
    Column("SIRET", _field("siret"), "text", 16),
    ADDRESS_COLUMN,
    Column("Position", _field("list_position"), "integer", 9),
    Column("Constat pour le poste", _field("group_fr"), "long", 45),
    Column("Règle", lambda row: RULE_LABELS.get(_text(row.get("rule")), _text(row.get("rule"))), "long", 28),
    Column("Article", _field("article"), "text", 11),
    Column("Certitude", _field("confidence"), "text", 14),
    Column("Poste", _field("post"), "text", 20),
    Column("N° de contrat (DSN)", _field("contract_number"), "text", 14),
    Column("Déclaré par (SIRET)", _field("declaring_siret"), "text", 16),
    Column("Réf. salarié (pseudonyme)", _field("person_ref"), "text", 12),
    Column("Début", _field("start_date"), "date", 11),
    Column("Fin", _field("end_date"), "date", 11),
    Column("Contrat lié : début", _field("related_start_date"), "date", 11),
    Column("Contrat lié : fin", _field("related_end_date"), "date", 11),
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
        Column("Motif de sortie", left_reason, "long", 45),
    ]


def left_reason(row: pd.Series) -> str:
    """Why a line of last month's list is not on this one."""
    if bool(row.get("recently_inspected")):
        return "contrôlé récemment : exclu de la liste"
    return "n'est plus parmi les établissements retenus ce mois-ci"


def grouped_rows(evidence: pd.DataFrame) -> pd.DataFrame:
    """The evidence rows in list order, each line's rows grouped by rule and post (`scoring.evidence_groups`),
    with the group's sentence in `group_fr`."""
    if evidence.empty:
        return evidence.assign(group_fr=pd.Series(dtype="string"))
    parts = [group.rows.assign(group_fr=group.summary_fr)
             for _, rows in evidence.groupby("list_position", sort=True)
             for group in group_evidence(rows)]
    return pd.concat(parts, ignore_index=True)


def evidence_counts(evidence: pd.DataFrame) -> dict[str, int]:
    """SIRET -> number of evidence rows."""
    if evidence.empty:
        return {}
    return evidence["siret"].astype(str).value_counts().to_dict()


# --- Excel ---


def _write_table(book: Any, sheet: Any, frame: pd.DataFrame, columns: list[Column], formats: dict[str, Any]) -> None:
    """Header row (bold, frozen, filtered), then one row per row of `frame`, typed by column kind."""
    for j, column in enumerate(columns):
        sheet.write_string(0, j, column.title, formats["header"])
        sheet.set_column(j, j, column.width, formats.get(column.kind))
    for i, (_, row) in enumerate(frame.iterrows(), start=1):
        for j, column in enumerate(columns):
            value = column.value(row)
            fmt = formats.get(column.kind)
            if missing(value) or value == "":
                sheet.write_blank(i, j, None, fmt)
            elif column.kind == "date":
                stamp = pd.to_datetime(value, errors="coerce")
                if pd.isna(stamp):
                    sheet.write_blank(i, j, None, fmt)
                else:
                    sheet.write_datetime(i, j, stamp.to_pydatetime(), fmt)
            elif column.kind in ("integer", "percent"):
                sheet.write_number(i, j, float(value), fmt)
            else:
                # Strings stay strings: a SIRET or département '01' must keep its leading zeros.
                sheet.write_string(i, j, str(value), fmt)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.repeat_rows(0)
    sheet.fit_to_pages(1, 0)


def write_workbook(
    path: Path, region: str, month: date, version: str,
    lines: pd.DataFrame, evidence: pd.DataFrame, left: pd.DataFrame,
) -> Path:
    """Write `path` (.xlsx): « À lire », « Liste », « Éléments » and, when `left` is not empty,
    « Sortis de la liste »."""
    book = xlsxwriter.Workbook(str(path))
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
        ("Lignes", f"{len(lines)} établissements, dont {n_exploration} en exploration"),
        ("Score", SCORE_FR),
        ("Exploration", EXPLORATION_FR),
        ("Raisons et éléments", REASONS_FR),
    ]
    for i, (name, text) in enumerate(rows, start=2):
        readme.write_string(i, 0, name, bold)
        readme.write_string(i, 1, text, bold if name == "Attention" else wrap)

    counts = evidence_counts(evidence)
    _write_table(book, book.add_worksheet("Liste"), lines, line_columns(lines, counts), formats)
    _write_table(book, book.add_worksheet("Éléments"), grouped_rows(evidence), EVIDENCE_SHEET_COLUMNS, formats)
    if not left.empty:
        _write_table(book, book.add_worksheet("Sortis de la liste"), left, left_columns(), formats)
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


def _cell(column: Column, row: pd.Series) -> dict[str, Any]:
    """A value as the HTML page shows it, and whether it is a number (aligned right)."""
    value = column.value(row)
    formats: dict[str, Callable[[Any], str]] = {"date": date_fr, "percent": percent_fr, "integer": _integer_text}
    shown = formats.get(column.kind, _text)
    return {"text": shown(value), "num": column.kind in ("percent", "integer")}


def _rule_with_article(row: pd.Series) -> str:
    label = RULE_LABELS.get(_text(row.get("rule")), _text(row.get("rule")))
    article = _text(row.get("article"))
    return f"{label} ({article})" if article else label


def render_html(
    region: str, month: date, version: str, lines: pd.DataFrame, evidence: pd.DataFrame, left: pd.DataFrame
) -> str:
    """The region's page as a string (see the module docstring)."""
    by_siret = {str(s): group for s, group in evidence.groupby(evidence["siret"].astype(str))} if len(evidence) else {}
    evidence_columns = [
        Column("Règle (article)", _rule_with_article, "long") if c.title == "Règle" else c for c in _HTML_EVIDENCE
    ]
    reasons = _reason_columns(lines)
    items = []
    for _, row in lines.iterrows():
        rows = by_siret.get(str(row["siret"]), evidence.iloc[0:0])
        items.append({
            "position": _integer_text(row.get("list_position")),
            "siret": _text(row.get("siret")),
            "address": _address(row),
            "departement": _text(row.get("departement")),
            "naf": _text(row.get("naf")),
            "headcount": _integer_text(row.get("headcount")),
            "score": percent_fr(row.get("score")),
            "rank_in_region": _integer_text(row.get("rank_in_region")),
            "exploration": bool(row.get("exploration")),
            "change": CHANGE_FR.get(_text(row.get("change")), _text(row.get("change"))),
            "reasons": [_text(row.get(c)) for c in reasons if _text(row.get(c))],
            "evidence_count": len(rows),
            "evidence_groups": [
                {"summary": group.summary_fr,
                 "rows": [[_cell(c, e) for c in evidence_columns] for _, e in group.rows.iterrows()]}
                for group in group_evidence(rows)
            ],
        })
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
        line_titles=["Position", "SIRET", "Adresse", "Département", "Code NAF", "Effectif", "Score (probabilité estimée)",
                     "Rang dans la région", "Sélection", "Évolution", "Raisons", "Éléments"],
        lines=items,
        evidence_titles=[c.title for c in evidence_columns],
        left_titles=[c.title for c in columns_left],
        left=[[_cell(c, row) for c in columns_left] for _, row in left.iterrows()],
    )


def write_region_files(
    folder: Path, stem: str, region: str, month: date, version: str,
    lines: pd.DataFrame, evidence: pd.DataFrame, left: pd.DataFrame,
) -> list[Path]:
    """Write `{stem}.xlsx` and `{stem}.html` into `folder` for one region's list of `month`; return their paths.

    `lines`: the listed establishments in list order; `evidence`: the contracts behind their rule checks
    (with `siret`, `list_position`, `person_ref`); `left`: last month's lines no longer listed.
    """
    workbook = write_workbook(folder / f"{stem}.xlsx", region, month, version, lines, evidence, left)
    page = folder / f"{stem}.html"
    page.write_text(render_html(region, month, version, lines, evidence, left), encoding="utf-8")
    return [workbook, page]
