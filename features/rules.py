"""Checks of the Code du travail rules on fixed-term contracts (CDD) and temp work (CTT), as of a month.

`compute_rule_evidence` reads the temp tables of `features.asof.prepare_as_of` and writes
`rule_evidence`: one row per potential infraction, with the contract (and the related one) an
inspector can look up in minutes. The DSN shows patterns; an inspector establishes facts: every
sentence says « infraction potentielle ». The délai de carence follows the branch agreements read in
`features.branch_agreements` (L1244-3-1, L1251-36-1); renewals and maximum durations are the statutory
ones (L1242-8-1 and L1243-13-1 agreements are not read); the parameters come from `FeaturesConfig`.

The rules, as implemented:

- carence (L1244-3, L1244-3-1, L1251-36). A job (PCS-ESE code or normalised title) holds as many
  posts as it held contracts at once within the post memory: `features.job_posts.carence_successions`
  places the CDD and
  missions for accroissement temporaire d'activité (motif 02) on posts and pairs a contract B with
  the contract A that left the post B fills, only when every vacant post of the job is still within
  its waiting period (growth of the job and parallel posts are not successions). The délai de
  carence is ceil(d / 3) opening days if A lasted d >= 14 calendar days, renewals included, else
  ceil(d / 2); the gap counts the establishment's opening days strictly between A's end and B's
  start. Public holidays are not known and count as opening days. No waiting period when A ended
  early at the employee's initiative (end motifs 035, 037, 059). Only 02 follows 02, so the motifs
  exempted by L1244-4 and L1251-37 (01, 03, 04, 05, 07, 08, 12) are never flagged; exemptions the
  DSN cannot show (urgent safety work, a renewal refused by the employee) are for the inspector.
  Probable, or to check on site when A's end was not declared (an end inferred at A's declared
  planned end counts as declared), when the gap falls short only by the default closing days, when
  the branch agreement's reading is not sure, or when B started in the month itself. The délai is
  that of the agreement of B's IDCC (S21.G00.40.017, else the establishment's; the user's for a
  mission). event_date: B's start.
- renouvellements (L1243-13, L1251-35). A CDD (kind 'cdd') or mission whose planned end was pushed
  more than max_renewals times. The month of the push that went over is not in the as-of tables, so
  event_date is the contract's last declared month (its first day): the first month in which the
  count is known to be over. A replacement contract without a precise term (L1242-7) may have its
  planned end moved without being renewed: the inspector reads the contract.
- duree_max (L1242-8, L1251-12). One person on one post at one establishment, CDD or missions for
  motif 02 or without a motif (replacement, seasonal, usage and objet défini contracts have other
  maxima or none); a contract no longer declared whose end is not known yet counts up to its last
  declared month. Contracts whose breaks last at most chain_gap_days form a chain — our reading:
  a contract concluded after a long break is a new contract, and a short break is the carence
  check's business. The days of the chain (an overlap counted once, a running contract up to the
  end of the month) are compared with the days from the chain's first start to the same date
  max_fixed_term_months later: a contract from 2023-01-01 to 2024-06-30 is exactly 18 months and
  not flagged. One row per chain; event_date: the day the limit was passed, or window_start when that
  was earlier and the chain still ran in the window. The maximum is that of one contract with its renewals: a limit
  passed during the chain's first contract is a potential infraction; passed during a later one, the finding is a
  succession of distinct contracts to check on site (délai de carence between them, their motifs, a permanent job:
  L1244-3 and L1242-1, L1251-36 and L1251-5 for missions), its related contract the chain's first.
- remplacement_sans_absence (L1242-2 1°, L1251-6 1°). A CDD or mission for the replacement of an
  absent employee (motif 01) that covers no absence (`absences_asof`) of another person on the same
  post of the same establishment: one that had begun by its start and had not ended before it, both
  within replacement_margin_days, and that no other running replacement covers already
  (`features.replacements`: one absence, one replacement at a time), nor the departure of a CDI holder
  of the post around its start. It must be the same post: in a large establishment someone is always
  absent somewhere. Paid leave (congés payés) and other absences the DSN does not declare cannot be
  seen; to check on site when someone else in the establishment went away at its start for as long as
  it ran, with no replacement of their own (a replacement en cascade), or when it started in the month
  itself; the sentence says so. Motif 12 (replacing an employee moved to part time) is not checked: that employee keeps
  working and declares no absence.
- usage_hors_secteur (D1242-1). A contrat à durée déterminée d'usage (kind 'usage': CDD with motif
  05) at an establishment whose NAF (APET) matches no prefix of `reference/usage_sectors.csv`
  (a row '56' matches 5610A). Establishments without a NAF are not judged. Temp missions with motif
  05 are left out: D1251-1 has its own, slightly different list.
- poste_permanent (L1242-1, L1251-5). CDD (ATA, usage, objet défini or no motif) and missions that
  hold the base load of their job: the number of its posts held by such contracts on at least
  year_round_share of the days of the window [window_start, as_of_end], a break of at most
  continuity_gap_days counting as held (`features.job_posts.permanent_posts`). Replacements and
  seasonal contracts have motifs of their own. One row per contract that held the base load in the
  window; probable when it did on at least half of its days there, else to check on site.
  event_date: its start, or window_start if later.

`reference/usage_sectors.csv` maps the items of D1242-1 to NAF codes or prefixes: 1 forestry
0220Z, 0240Z; 2 ship repair 3315Z; 3 removals 4942Z; 4 hotels, restaurants, holiday and leisure
centres 55 (with 5520Z), 56, 9329Z; 5 professional sport 9311Z, 9312Z, 9319Z; 6 performing arts,
cultural action, audiovisual, cinema, recording 59, 60, 90; 7 teaching 85; 8 information, surveys
and polls 5813Z, 5814Z, 6391Z, 7320Z; 9 meat storage 5210A; 12 associations intermédiaires 7830Z;
15 fairground activities 9321Z. Limits: a NAF code is wider or narrower than a legal sector (9312Z
holds amateur clubs, 5210A all cold storage, cultural associations are often 9499Z); items 10 and
11 (work abroad), 13 (workers put at the disposal of private persons, L7232-6 2°, which a home-help
code such as 8810A does not reveal) and 14 (international research) cannot be seen in a NAF code;
extended branch agreements that allow usage contracts (L1242-2 3°) are not read.

A mission counts at its user establishment; one whose user is unknown stays at the temp agency,
where its post means nothing, and is left out of every check. The SQL is standard (window
functions, arithmetic on day numbers) so that it runs on Spark SQL once translated
(warehouse.spark.dialect); the DuckDB functions it needs sit in the helpers under « Engine-specific SQL ».
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Formatter

import pandas as pd
import pyarrow as pa

from core.config import FeaturesConfig
from core.machine import usable_cpus
from core.sql_literals import sql_string, sql_string_list
from features import job_posts, replacements
from features.branch_agreements import branch_rules
from features.job_posts import carence_successions, permanent_posts
from features.pass_inputs import InputFrame, engine_source, read_frames
from features.pass_parts import FrameSource, Pass, run_by_ranges
from features.replacements import covered_replacements
from warehouse.contracts import planned_end_in_last_month
from warehouse.sql_engine import SqlEngine, fetch_aggregate, load_table

log = logging.getLogger("champollion.features")

ATA_MOTIF = "02"  # accroissement temporaire d'activité
REPLACEMENT_MOTIF = "01"  # remplacement d'un salarié absent
# Motifs of contracts that do not hold a lasting job by themselves: replacements of an absent employee, of a
# company or farm head, of an employee moved to part time (checked by remplacement_sans_absence), seasonal
# work and grape harvest.
NOT_LASTING_MOTIFS = ("01", "03", "04", "07", "08", "12")
SUCCESSIONS_SCHEMA = pa.schema([
    ("contract_id", pa.string()), ("previous_contract_id", pa.string()), ("post_no", pa.int32()),
    ("posts_vacant", pa.int32()), ("gap_opening_days", pa.int32()), ("required_opening_days", pa.int32()),
    ("gap_days", pa.int32()), ("own_calendar", pa.bool_()), ("end_declared", pa.bool_()),
    ("branch_idcc", pa.string()), ("branch_sure", pa.bool_()), ("calendar_days", pa.bool_()),
])
PERMANENT_SCHEMA = pa.schema([
    ("contract_id", pa.string()), ("base_posts", pa.int32()), ("peak_posts", pa.int32()),
    ("contracts_on_job", pa.int32()), ("held_days", pa.int32()), ("window_days", pa.int32()),
    ("base_days", pa.int32()), ("days_in_window", pa.int32()),
])
COVERED_SCHEMA = pa.schema([("contract_id", pa.string()), ("establishment_siret", pa.string()),
                            ("absence_post", pa.string()),
                            ("absence_person_key", pa.string()), ("absence_start_day", pa.int32())])
USAGE_SECTORS_FILE = "usage_sectors.csv"
# What a finding applied when no branch agreement read here changes the rule (the listed ones change only the
# délai de carence: features.branch_agreements).
STATUTORY_RULES_FR = "règles du Code du travail"


@dataclass(frozen=True)
class Rule:
    """A rule of the Code du travail checked on the DSN."""

    id: str
    label_fr: str
    article: str
    description_fr: str


RULES: tuple[Rule, ...] = (
    Rule(
        "carence",
        "Délai de carence non respecté",
        "L1244-3, L1244-3-1, L1251-36",
        "Un contrat à durée déterminée ou de mission pour accroissement temporaire d'activité succède sur le même "
        "poste à un autre avant l'expiration du délai de carence : le tiers de la durée du contrat précédent, "
        "renouvellements inclus, s'il a duré 14 jours ou plus, la moitié sinon, compté en jours d'ouverture de "
        "l'établissement.",
    ),
    Rule(
        "renouvellements",
        "Renouvellements au-delà du nombre autorisé",
        "L1243-13, L1251-35",
        "La date de fin prévue d'un contrat à durée déterminée ou de mission a été reportée plus de fois que le "
        "nombre de renouvellements autorisé (deux par défaut) ; sanction : requalification en contrat à durée "
        "indéterminée.",
    ),
    Rule(
        "duree_max",
        "Durée maximale du contrat dépassée",
        "L1242-8, L1251-12",
        "Un contrat à durée déterminée ou de mission dépasse, renouvellements inclus, la durée maximale (18 mois par "
        "défaut) ; sanction : requalification en contrat à durée indéterminée. Plusieurs contrats successifs de la "
        "même personne sur le même poste au-delà de cette durée ne sont pas en eux-mêmes une infraction à cette "
        "règle : la succession est à vérifier sur place (délai de carence entre les contrats, motifs, emploi "
        "permanent).",
    ),
    Rule(
        "remplacement_sans_absence",
        "Remplacement sans absence déclarée sur le poste",
        "L1242-2, L1251-6",
        "Un contrat pour remplacement d'un salarié absent ne correspond à aucune absence déclarée d'une autre "
        "personne sur le même poste ; les congés payés ne sont pas déclarés dans la DSN.",
    ),
    Rule(
        "usage_hors_secteur",
        "Contrat à durée déterminée d'usage hors des secteurs autorisés",
        "D1242-1",
        "Un contrat à durée déterminée d'usage est conclu dans un établissement dont l'activité (code NAF) ne relève "
        "d'aucun secteur de l'article D1242-1 ; sanction : requalification en contrat à durée indéterminée.",
    ),
    Rule(
        "poste_permanent",
        "Emploi durable pourvu par des contrats courts",
        "L1242-1, L1251-5",
        "Des postes d'un même emploi sont tenus toute l'année par des contrats à durée déterminée ou de mission "
        "successifs, quelles que soient les personnes : un emploi lié à l'activité normale et permanente de "
        "l'entreprise ; sanction : requalification en contrat à durée indéterminée (L1245-1), avec l'entreprise "
        "utilisatrice pour l'intérim (L1251-40).",
    ),
)

# How sure a finding is, from what the declarations show: established by them (a contract renewed three
# times under one number), probable (the DSN shows the pattern; an exemption it cannot show may apply),
# or to check on site (the pattern rests on an inferred date or a reading the DSN cannot settle).
ESTABLISHED, PROBABLE, TO_CHECK = "établie", "probable", "à vérifier sur place"
CONFIDENCE_LEVELS: tuple[str, ...] = (ESTABLISHED, PROBABLE, TO_CHECK)
# What the rule-count features and the reasons on the lists use; the rest stays in the evidence, marked.
SCORED_CONFIDENCE: tuple[str, ...] = (ESTABLISHED, PROBABLE)

# The columns of `rule_evidence`, in order, with their SQL types. `declaring_siret` and
# `contract_number` (S21.G00.40.009) are how the contract is found in the DSN; `post_no` is the
# post of the job the contract holds when the rule reads posts from concurrency (carence), and
# `posts_concerned` how many posts of the job the finding is about (the vacant posts a start could
# fill, all within their waiting period; the posts held all year).
EVIDENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("establishment_siret", "STRING"),
    ("rule", "STRING"),
    ("confidence", "STRING"),
    ("event_date", "DATE"),
    ("contract_id", "STRING"),
    ("declaring_siret", "STRING"),
    ("contract_number", "STRING"),
    ("related_contract_id", "STRING"),
    ("related_contract_number", "STRING"),
    ("post", "STRING"),
    ("post_no", "INTEGER"),
    ("posts_concerned", "INTEGER"),
    ("person_key", "STRING"),
    ("start_date", "DATE"),
    ("end_date", "DATE"),
    ("related_start_date", "DATE"),
    ("related_end_date", "DATE"),
    ("gap_opening_days", "INTEGER"),
    ("required_opening_days", "INTEGER"),
    ("measured_value", "DOUBLE"),
    ("legal_limit", "DOUBLE"),
    ("detail_fr", "STRING"),
    ("article", "STRING"),
    ("rules_applied", "STRING"),
)


# --- Engine-specific SQL: the only DuckDB functions of this module (their Spark translation noted) ---

_EPOCH = "DATE '1900-01-01'"  # a Monday: day number 0


def _day_number(date_sql: str) -> str:
    """Days since 1900-01-01. Spark: datediff(d, DATE '1900-01-01')."""
    return f"date_diff('day', {_EPOCH}, {date_sql})"


def _date_of_day(day_sql: str) -> str:
    """The date of a day number. Spark: date_add(DATE '1900-01-01', n)."""
    return f"CAST({_EPOCH} + CAST({day_sql} AS INTEGER) AS DATE)"


def _add_months(date_sql: str, months: int) -> str:
    """The same day `months` later, clamped to the month's end (the same SQL in Spark)."""
    return f"CAST({date_sql} + INTERVAL {int(months)} MONTH AS DATE)"


def _french_date(date_sql: str) -> str:
    """DD/MM/YYYY. Spark: date_format(d, 'dd/MM/yyyy')."""
    return f"strftime({date_sql}, '%d/%m/%Y')"


# --- Small SQL builders ---


def _sentence(template: str, **values: str) -> str:
    """SQL concatenating the text of `template` with the SQL expressions named in its {fields}."""
    parts = []
    for text, field, _, _ in Formatter().parse(template):
        if text:
            parts.append(sql_string(text))
        if field is not None:
            parts.append(f"CAST({values[field]} AS STRING)")
    return " || ".join(parts)


def _count(number_sql: str, singular: str, plural: str) -> str:
    """SQL: '1 jour', '3 jours' (French: 0 and 1 take the singular)."""
    return (
        f"CAST({number_sql} AS STRING) || CASE WHEN {number_sql} > 1 THEN {sql_string(' ' + plural)} "
        f"ELSE {sql_string(' ' + singular)} END"
    )


def _count_text(number: int, singular: str, plural: str) -> str:
    return f"{number} {plural if number > 1 else singular}"


def _contract_fr(kind_sql: str) -> str:
    return f"CASE WHEN {kind_sql} = 'mission' THEN 'contrat de mission' ELSE 'contrat à durée déterminée' END"


def _days_fr(number_sql: str, calendar_sql: str) -> str:
    """SQL: '3 jours d'ouverture', or '3 jours calendaires' when `calendar_sql` (a branch's délai) holds."""
    calendar = _count(number_sql, "jour calendaire", "jours calendaires")
    opening = _count(number_sql, "jour d'ouverture", "jours d'ouverture")
    return f"CASE WHEN {calendar_sql} THEN {calendar} ELSE {opening} END"


def _numbered(number_sql: str) -> str:
    """SQL: ' n° 00012' for a contract number, '' when the DSN gave none."""
    return f"coalesce(' n° ' || {number_sql}, '')"


def _end_declared(alias: str) -> str:
    """SQL: the contract's end came in an end block (not inferred, not unknown)."""
    return f"({alias}.end_date IS NOT NULL AND NOT coalesce({alias}.end_inferred, false))"


def _left_by(alias: str) -> str:
    """SQL: the last day the contract may have run: its end (declared or inferred); for one no longer declared
    whose end is not known yet, the last day of its last declared month; NULL while it runs (reads `p`,
    `asof_params`)."""
    return f"coalesce({alias}.end_date, CASE WHEN {alias}.last_month < p.as_of THEN last_day({alias}.last_month) END)"


def _held_until(alias: str) -> str:
    """SQL: the last day a contract surely ran: its declared end (or the declared planned end it was inferred
    at); else the first day of its last declared month (an end not declared yet may fall in it)."""
    return (f"CASE WHEN {_end_declared(alias)} OR coalesce({alias}.end_at_planned, false) THEN {alias}.end_date "
            f"ELSE greatest({alias}.start_date, {alias}.last_month) END")


def _left_from(alias: str) -> str:
    """SQL: the first day the contract may have ended: its declared end, else the first day of its last declared
    month (where an inferred end falls too)."""
    return f"CASE WHEN {_end_declared(alias)} THEN {alias}.end_date ELSE {alias}.last_month END"


def _job_label(alias: str) -> str:
    """SQL: the one name of the contract's job at its establishment (`job_names`: its most frequent title),
    the same in every finding, reason and timeline."""
    return (f"(SELECT max(j.job_label) FROM job_names j "
            f"WHERE j.establishment_siret = {alias}.establishment_siret AND j.post = {alias}.post)")


def _post_fr(post_sql: str) -> str:
    return f"coalesce({post_sql}, 'non renseigné')"


def _evidence(rule: str, **columns: str) -> str:
    """The SELECT list of an evidence row: every column of EVIDENCE_COLUMNS in order, NULL when not given."""
    unknown = set(columns) - {name for name, _ in EVIDENCE_COLUMNS}
    if unknown:
        raise ValueError(f"not evidence columns: {sorted(unknown)}")
    columns["rule"] = f"'{rule}'"
    columns.setdefault("rules_applied", f"'{STATUTORY_RULES_FR}'")
    return ",\n       ".join(
        f"CAST({columns.get(name, 'NULL')} AS {sql_type}) AS {name}" for name, sql_type in EVIDENCE_COLUMNS
    )


def _located(alias: str) -> str:
    """SQL: the contract counts where it is; a mission whose user establishment is unknown does not."""
    return f"({alias}.kind <> 'mission' OR {alias}.establishment_siret <> {alias}.siret)"


# --- The usage sectors of D1242-1 ---


@cache
def _usage_sector_rows() -> tuple[tuple[str, str, int], ...]:
    text = resources.files("features.reference").joinpath(USAGE_SECTORS_FILE).read_text(encoding="utf-8")
    return tuple(
        (row["naf_prefix"].strip().upper(), row["sector_fr"], int(row["d1242_1_item"]))
        for row in csv.DictReader(text.splitlines())
    )


def register_branch_agreements(engine: SqlEngine) -> None:
    """Create the temp table `branch_agreements` (idcc, name_fr, source_fr) from `features.branch_agreements`."""
    rules = list(branch_rules().values())
    load_table(engine, "branch_agreements", pa.table({
        "idcc": [r.idcc for r in rules], "name_fr": [r.name_fr for r in rules], "source_fr": [r.source_fr for r in rules],
    }, schema=pa.schema([("idcc", pa.string()), ("name_fr", pa.string()), ("source_fr", pa.string())])))


def register_usage_sectors(engine: SqlEngine) -> None:
    """Create the temp table `usage_sectors` (naf_prefix, sector_fr, d1242_1_item) from the shipped CSV."""
    rows = _usage_sector_rows()
    table = pa.table(
        {
            "naf_prefix": [r[0] for r in rows],
            "sector_fr": [r[1] for r in rows],
            "d1242_1_item": pa.array([r[2] for r in rows], pa.int32()),
        }
    )
    load_table(engine, "usage_sectors", table)


# --- One query per rule, each returning evidence rows ---


def _carence_sql() -> str:
    detail = _sentence(
        "Infraction potentielle au délai de carence : le {contract}{number} pour accroissement temporaire d'activité "
        "commencé le {start} pourvoit le poste n° {post_no} de « {post} », laissé le {previous_end}{inferred} "
        "par le {previous_contract}{previous_number} de {previous_days}, après seulement {gap}, alors que le délai "
        "de carence est de {required} ({rules}){others}.",
        contract=_contract_fr("b.kind"),
        number=_numbered("b.contract_number"),
        start=_french_date("b.start_date"),
        post_no="s.post_no",
        post=_job_label("b"),
        previous_end=_french_date(_date_of_day(f"{_day_number('b.start_date')} - s.gap_days - 1")),
        inferred="CASE WHEN NOT s.end_declared THEN ' (fin non déclarée, déduite des déclarations)' "
                 "WHEN a.end_at_planned THEN ' (fin non déclarée : date de fin prévisionnelle déclarée, "
                 "le contrat n''étant plus déclaré ensuite)' ELSE '' END",
        previous_contract=_contract_fr("a.kind"),
        previous_number=_numbered("a.contract_number"),
        previous_days=_count("a.duration_days", "jour", "jours"),
        gap=_days_fr("s.gap_opening_days", "s.calendar_days"),
        required=_days_fr("s.required_opening_days", "s.calendar_days"),
        rules="CASE WHEN s.branch_idcc IS NULL THEN 'règles du Code du travail' "
              "ELSE 'accord de branche « ' || g.name_fr || ' », IDCC ' || s.branch_idcc END",
        others="CASE WHEN s.posts_vacant > 1 THEN ' ; les ' || CAST(s.posts_vacant AS STRING) || "
               "' postes de cet emploi alors vacants étaient tous dans leur délai de carence' ELSE '' END",
    )
    select = _evidence(
        "carence",
        # To check on site: the previous end was not declared (inferred at the end of a month, or not known yet;
        # a declared planned end after which the contract is no longer declared counts as declared), the gap falls short
        # only by days the default calendar says are closed (the establishment's own opening days are not
        # configured), or the contract started in the month itself (ends of its last weeks, declared late or
        # not at all, may free another post of the job).
        # A branch agreement whose reading is not sure makes it one to check too.
        confidence=f"CASE WHEN NOT s.end_declared OR NOT s.branch_sure "
                   f"OR (NOT s.own_calendar AND NOT s.calendar_days AND s.gap_days >= s.required_opening_days) "
                   f"OR b.start_date >= p.as_of THEN '{TO_CHECK}' ELSE '{PROBABLE}' END",
        rules_applied=_rules_applied("s", "g"),
        establishment_siret="b.establishment_siret",
        event_date="b.start_date",
        contract_id="b.contract_id",
        declaring_siret="b.siret",
        contract_number="b.contract_number",
        related_contract_id="a.contract_id",
        related_contract_number="a.contract_number",
        post=_job_label("b"),
        post_no="s.post_no",
        posts_concerned="s.posts_vacant",
        person_key="b.person_key",
        start_date="b.start_date",
        end_date="b.end_date",
        related_start_date="a.start_date",
        related_end_date=_date_of_day(f"{_day_number('b.start_date')} - s.gap_days - 1"),
        gap_opening_days="s.gap_opening_days",
        required_opening_days="s.required_opening_days",
        measured_value="s.gap_opening_days",
        legal_limit="s.required_opening_days",
        detail_fr=detail,
        article="CASE WHEN a.kind = 'mission' THEN 'L1251-36' ELSE 'L1244-3' END",
    )
    return f"""
SELECT {select}
FROM carence_successions s
JOIN contracts_asof b ON b.contract_id = s.contract_id
JOIN contracts_asof a ON a.contract_id = s.previous_contract_id
CROSS JOIN asof_params p
LEFT JOIN branch_agreements g ON g.idcc = s.branch_idcc
"""


def _rules_applied(successions: str, agreements: str) -> str:
    """SQL: the rules a carence finding applied, in French: the Code du travail's, or a branch agreement's
    with its source (and, when its reading is not sure, that the inspector must read it)."""
    return (f"CASE WHEN {successions}.branch_idcc IS NULL THEN '{STATUTORY_RULES_FR}' "
            f"ELSE 'accord de branche, IDCC ' || {successions}.branch_idcc || ' (' || {agreements}.name_fr || ') : ' "
            f"|| {agreements}.source_fr || CASE WHEN {successions}.branch_sure THEN '' "
            f"ELSE ' ; ses règles sont à lire sur place' END END")


def _branch_idcc(contract: str, establishment: str) -> str:
    """SQL: the IDCC whose branch agreement may set a contract's délai de carence: the contract's own
    (S21.G00.40.017), else its establishment's; for a mission, the user's (L1251-36-1), whatever the agency
    declares."""
    return (f"CASE WHEN {contract}.kind = 'mission' THEN {establishment}.idcc "
            f"ELSE coalesce({contract}.idcc, {establishment}.idcc) END")


def _carence_input() -> InputFrame:
    """The CDD and missions for accroissement temporaire d'activité on a known post, and the departures and hires
    of CDI holders of their jobs, in the order `features.job_posts.carence_successions` reads them."""
    # A contract no longer declared whose end is not known yet (no end block, not yet inferred) left its post
    # some day of its last declared month: the post may be vacant from its first day, waiting period unknown.
    unknown = "coalesce(c.end_date IS NULL AND c.last_month < p.as_of, false)"
    departed = f"coalesce(c.end_date, CASE WHEN {unknown} THEN c.last_month END)"
    query = f"""
SELECT c.contract_id, c.establishment_siret, c.post, {_day_number('c.start_date')} AS start_day,
       {_day_number(_left_by('c'))} AS end_day, ({_end_declared('c')} OR coalesce(c.end_at_planned, false)) AS end_declared,
       {unknown} AS end_unknown,
       CASE WHEN {unknown} THEN greatest({_day_number('c.start_date')} + 1, {_day_number('c.last_month')})
            ELSE {_day_number('c.end_date')} + 1 END AS vacant_from_day,
       c.duration_days, c.end_motif, 'ata' AS event, {_branch_idcc('c', 'e')} AS idcc
FROM contracts_asof c
CROSS JOIN asof_params p
LEFT JOIN establishments_asof e ON e.siret = c.establishment_siret
WHERE c.kind IN ('cdd', 'mission') AND c.motif = '{ATA_MOTIF}' AND c.post IS NOT NULL AND {_located('c')}
UNION ALL
-- The departures and hires of CDI holders of the job: a departure leaves a post the next contracts may fill,
-- a hire fills one.
SELECT c.contract_id, c.establishment_siret, c.post, {_day_number(departed)} + 1 AS start_day,
       {_day_number(departed)} AS end_day, true AS end_declared, false AS end_unknown,
       {_day_number(departed)} + 1 AS vacant_from_day, NULL AS duration_days, NULL AS end_motif, 'departure' AS event,
       NULL AS idcc
FROM contracts_asof c, asof_params p
WHERE c.kind = 'cdi' AND c.post IS NOT NULL AND {departed} IS NOT NULL
UNION ALL
SELECT c.contract_id, c.establishment_siret, c.post, {_day_number('c.start_date')} AS start_day, NULL AS end_day,
       true AS end_declared, false AS end_unknown, NULL AS vacant_from_day, NULL AS duration_days, NULL AS end_motif,
       'hire' AS event, NULL AS idcc
FROM contracts_asof c, asof_params p
WHERE c.kind = 'cdi' AND c.post IS NOT NULL AND c.start_date >= p.history_start
"""
    return InputFrame("carence_input", query,
                      "establishment_siret, post, start_day, CASE WHEN event = 'departure' THEN 0 ELSE 1 END, contract_id")


def _renouvellements_sql(settings: FeaturesConfig) -> str:
    limit = int(settings.max_renewals)
    detail = _sentence(
        "Infraction potentielle au nombre de renouvellements : la date de fin prévue du {contract}{number} commencé "
        "le {start} sur le poste « {post} » a été reportée {renewals} fois, alors que le maximum est de {limit}.",
        contract=_contract_fr("c.kind"),
        number=_numbered("c.contract_number"),
        start=_french_date("c.start_date"),
        post=_post_fr(_job_label("c")),
        renewals="c.renewals",
        limit=sql_string(_count_text(limit, "renouvellement", "renouvellements")),
    )
    select = _evidence(
        "renouvellements",
        # A replacement without a precise term (L1242-7) follows the absence: its planned end may move
        # without a renewal.
        confidence=f"CASE WHEN c.motif = '{REPLACEMENT_MOTIF}' THEN '{TO_CHECK}' ELSE '{ESTABLISHED}' END",
        establishment_siret="c.establishment_siret",
        event_date="c.last_month",  # the first month in which the count is known to be over
        contract_id="c.contract_id",
        declaring_siret="c.siret",
        contract_number="c.contract_number",
        post=_job_label("c"),
        person_key="c.person_key",
        start_date="c.start_date",
        end_date="c.end_date",
        measured_value="c.renewals",
        legal_limit=str(limit),
        detail_fr=detail,
        article="CASE WHEN c.kind = 'mission' THEN 'L1251-35' ELSE 'L1243-13' END",
    )
    return f"""
SELECT {select}
FROM contracts_asof c
WHERE c.kind IN ('cdd', 'mission') AND c.renewals > {limit} AND {_located('c')}
"""


# SQL: a contract's end as far as the declarations show it: its end (declared or inferred); for one no longer
# declared whose end is not known yet, the last day of its last declared month; else the month's end.
_LAST_DAY_KNOWN = f"coalesce({_left_by('c')}, c.period_end)"
# SQL: the same, but for a contract whose end is not known yet that was last declared in the month of its declared
# planned end, that planned end (where the end will be inferred: warehouse.contracts): an end block often never
# comes, and the last day of the month counted days the contract may not have run (a lasting job's 90 %).
_PLANNED_OR_LAST_DAY_KNOWN = (f"coalesce(c.end_date, CASE WHEN {planned_end_in_last_month('c')} "
                              f"THEN c.planned_end_last END, {_LAST_DAY_KNOWN})")


def _duree_max_sql(settings: FeaturesConfig) -> str:
    months = int(settings.max_fixed_term_months)
    return f"""
WITH capped AS (  -- fixed-term work under the 18-month maximum: motif 02 or none
    -- A contract no longer declared, its end not known yet, is counted up to its last declared month only.
    SELECT c.contract_id, c.siret, c.contract_number, c.establishment_siret, c.post,
           c.person_key, c.kind, c.start_date, c.end_date, {_day_number('c.start_date')} AS start_day,
           {_day_number(_LAST_DAY_KNOWN)} AS end_day,
           -- the last day it surely ran: its declared end, else the first day of its last declared month
           greatest({_day_number('c.start_date')}, {_day_number(_left_from('c'))}) AS sure_end_day
    FROM contracts_asof c, asof_params p
    WHERE {_is_capped('c')}
),
-- A chain counts at most the days from its first start to the last end of all: only the person-posts with a
-- contract that started more than the shortest possible limit before that end can hold one past the limit
-- (a person-post with none is left out before its contracts are sorted into chains).
long_served AS (
    SELECT DISTINCT establishment_siret, post, person_key
    FROM capped
    WHERE start_day IS NULL OR start_day <= (SELECT max(end_day) FROM capped) - {_shortest_limit_days(months)}
),
served AS (
    SELECT c.*
    FROM capped c
    JOIN long_served l ON l.establishment_siret IS NOT DISTINCT FROM c.establishment_siret AND l.post = c.post
     AND l.person_key IS NOT DISTINCT FROM c.person_key
),
{_duree_max_chains('served', settings)}
SELECT {_duree_max_select(settings)}
FROM passed m
CROSS JOIN asof_params p
"""


def _is_capped(alias: str) -> str:
    """SQL: a CDD or mission under the 18-month maximum (motif 02 or none), on a known post, counted where it is."""
    return (f"{alias}.kind IN ('cdd', 'mission') AND ({alias}.motif = '{ATA_MOTIF}' OR {alias}.motif IS NULL)\n"
            f"      AND {alias}.post IS NOT NULL AND {_located(alias)}")


def _duree_max_chains(source: str, settings: FeaturesConfig) -> str:
    """SQL: the CTEs from `ordered` to `passed` (a row per chain past the limit, the contract during which it was
    passed, and one per later contract past it on its own: `passed_day`, the chain's days, contracts and first contract,
    whether it is a `succession`, and the figures a finding shows, `held_*`) over the contracts of the CTE `source`."""
    months = int(settings.max_fixed_term_months)
    gap = int(settings.chain_gap_days)
    person_post = "PARTITION BY establishment_siret, post, person_key"
    chain = f"{person_post}, chain_no"
    in_order = "ORDER BY start_day, end_day, contract_id"
    return f"""ordered AS (
    SELECT *, max(end_day) OVER ({person_post} {in_order}
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end_day
    FROM {source}
),
-- A break longer than chain_gap_days starts a new chain; days already counted for an earlier,
-- overlapping contract are not counted again.
chained AS (
    SELECT *,
           sum(CASE WHEN previous_end_day IS NULL OR start_day - previous_end_day - 1 > {gap} THEN 1 ELSE 0 END)
               OVER ({person_post} {in_order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS chain_no,
           greatest(start_day, coalesce(previous_end_day + 1, start_day)) AS counted_from_day
    FROM ordered
),
counted AS (
    SELECT *, greatest(end_day - counted_from_day + 1, 0) AS counted_days
    FROM chained
),
measured AS (
    SELECT *,
           coalesce(sum(counted_days) OVER ({chain} {in_order}
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS days_before,
           sum(counted_days) OVER ({chain}) AS chain_days,
           count(*) OVER ({chain}) AS chain_contracts,
           max(end_day) OVER ({chain}) AS chain_end_day,
           first_value(contract_id) OVER ({chain} {in_order}) AS first_contract_id,
           first_value(contract_number) OVER ({chain} {in_order}) AS first_contract_number,
           first_value(start_date) OVER ({chain} {in_order}) AS first_start_date,
           first_value(end_date) OVER ({chain} {in_order}) AS first_end_date
    FROM counted
),
limited AS (  -- the limit in days: from the chain's first start (and from the contract's own) to the same date {months}
              -- months later
    SELECT *, {_day_number(_add_months('first_start_date', months))} - {_day_number('first_start_date')} AS limit_days,
           {_day_number(_add_months('start_date', months))} - {_day_number('start_date')} AS own_limit_days
    FROM measured
),
-- The contract during which the total went over the limit (`crossing`), and every later contract of the chain past
-- the maximum on its own (`alone_past`).
judged AS (
    SELECT *, coalesce(days_before <= limit_days AND days_before + counted_days > limit_days, false) AS crossing,
           coalesce(first_contract_id <> contract_id AND end_day - start_day + 1 > own_limit_days, false) AS alone_past
    FROM limited
),
-- The maximum is that of one contract with its renewals: a contract past it on its own, after shorter ones of its
-- chain, is judged alone (its start, days, limit and the day it passed it); the limit passed during a later contract
-- that is not is a succession of distinct contracts (`succession`), the chain's figures. A chain may hold both.
passed AS (
    SELECT *,
           first_contract_id <> contract_id AND NOT alone_past AS succession,
           CASE WHEN alone_past THEN start_day + own_limit_days
                ELSE counted_from_day + (limit_days - days_before) END AS passed_day,
           CASE WHEN alone_past THEN start_date ELSE first_start_date END AS held_from,
           CASE WHEN alone_past THEN end_day - start_day + 1 ELSE chain_days END AS held_days,
           CASE WHEN alone_past THEN end_day ELSE chain_end_day END AS held_until_day,
           CASE WHEN alone_past THEN own_limit_days ELSE limit_days END AS held_limit_days
    FROM judged
    WHERE crossing OR alone_past
)"""


def _duree_max_select(settings: FeaturesConfig) -> str:
    """The SELECT list of a duree_max evidence row, from a row `m` of `_duree_max_chains`'s `passed` and `p`.

    The maximum is that of one contract and its renewals (L1242-8, L1251-12): a limit passed during the chain's first
    contract, or by a later contract on its own, is a potential infraction; passed during a later one that is not, the
    chain is a succession of distinct contracts, to check on site (carence between them, their motifs, a permanent job:
    L1244-3, L1242-1, L1251-36, L1251-5)."""
    months = int(settings.max_fixed_term_months)
    gap = int(settings.chain_gap_days)
    succession = "m.succession"
    held = _sentence(
        "{what} : la même personne occupe le poste « {post} » en {contracts} à durée déterminée ou de mission depuis le "
        "{first_start}, sans interruption de plus de {gap}, soit {total} au {last_end}, au-delà de ",
        what=f"CASE WHEN {succession} THEN {_sentence('Succession de {n} contrats à vérifier', n='m.chain_contracts')} "
             f"ELSE 'Infraction potentielle à la durée maximale' END",
        post=_job_label("m"),
        contracts=f"CASE WHEN {succession} THEN 'contrats' ELSE 'contrat' END",
        first_start=_french_date("m.held_from"),
        gap=sql_string(_count_text(gap, "jour", "jours")),
        total=_count("m.held_days", "jour", "jours"),
        last_end=_french_date(_date_of_day("m.held_until_day")),
    )
    limit = _count("m.held_limit_days", "jour", "jours")
    one_contract = _sentence(
        "la durée maximale de {months} mois ({limit}), dépassée le {passed}{during}.",
        months=str(months),
        limit=limit,
        passed=_french_date(_date_of_day("m.passed_day")),
        during="coalesce(' pendant le contrat n° ' || m.contract_number, '')",
    )
    contracts = _sentence(
        "{months} mois ({limit}) ; la durée maximale vaut pour un contrat et ses renouvellements : vérifier sur place "
        "le délai de carence entre ces contrats, leurs motifs et si le poste est un emploi permanent.",
        months=str(months),
        limit=limit,
    )
    detail = f"{held} || CASE WHEN {succession} THEN {contracts} ELSE {one_contract} END"
    return _evidence(
        "duree_max",
        # One contract surely past the maximum is probable (a longer maximum may apply: L1242-8-1, a branch
        # agreement); a succession of several contracts, or a contract whose end is not declared and may have come
        # before the limit, is for the inspector to confirm.
        confidence=f"CASE WHEN NOT {succession} AND m.passed_day <= m.sure_end_day "
                   f"THEN '{PROBABLE}' ELSE '{TO_CHECK}' END",
        establishment_siret="m.establishment_siret",
        # still past the limit in the window: counted there even if the limit was passed before it
        event_date=_date_of_day(f"CASE WHEN m.held_until_day >= {_day_number('p.window_start')} "
                                f"THEN greatest(m.passed_day, {_day_number('p.window_start')}) ELSE m.passed_day END"),
        contract_id="m.contract_id",
        declaring_siret="m.siret",
        contract_number="m.contract_number",
        related_contract_id=f"CASE WHEN {succession} THEN m.first_contract_id END",
        related_contract_number=f"CASE WHEN {succession} THEN m.first_contract_number END",
        post=_job_label("m"),
        person_key="m.person_key",
        start_date="m.start_date",
        end_date="m.end_date",
        related_start_date=f"CASE WHEN {succession} THEN m.first_start_date END",
        related_end_date=f"CASE WHEN {succession} THEN m.first_end_date END",
        measured_value="m.held_days",
        legal_limit="m.held_limit_days",
        detail_fr=detail,
        # a succession: the rules it is checked against on site
        article=f"CASE WHEN m.kind = 'mission' THEN CASE WHEN {succession} THEN 'L1251-36, L1251-5' ELSE 'L1251-12' END "
                f"WHEN {succession} THEN 'L1244-3, L1242-1' ELSE 'L1242-8' END",
    )


def _shortest_limit_days(months: int) -> int:
    """The fewest days `months` months can span from a start to the same date later (`_add_months`): 28 a month,
    less the 3 days a 31st loses when the date falls in a February."""
    return 28 * months - 3


def _remplacement_select(settings: FeaturesConfig) -> str:
    """The SELECT list of a remplacement_sans_absence evidence row, from a replacement `r` (its columns and its
    job's `post_label`), its cascade `x` (NULL when none) and `p`."""
    margin = int(settings.replacement_margin_days)
    detail = _sentence(
        "Infraction potentielle au motif de remplacement : le {contract}{number} pour remplacement d'un salarié "
        "absent du {start} au {end} sur le poste « {post} » ne commence, à {margin} près, pendant aucune absence "
        "déclarée d'une autre personne de ce poste qu'un autre contrat de remplacement ne couvre pas déjà, ni au "
        "départ d'un salarié en contrat à durée indéterminée de ce poste (attente de son successeur){cascade}.",
        contract=_contract_fr("r.kind"),
        number=_numbered("r.contract_number"),
        start=_french_date("r.start_date"),
        end=f"CASE WHEN r.end_date IS NULL THEN {_french_date('r.period_end')} || ' (en cours)' "
        f"ELSE {_french_date('r.end_date')} END",
        post="r.post_label",
        margin=sql_string(_count_text(margin, "jour", "jours")),
        cascade="CASE WHEN x.contract_id IS NULL THEN ' ; une absence que la DSN ne déclare pas, comme des congés "
                "payés, ne peut pas être vue' ELSE ' ; une autre personne de l''établissement s''est absentée au début de "
                "ce contrat : un remplacement en cascade est possible' END",
    )
    return _evidence(
        "remplacement_sans_absence",
        # To check on site: someone else was away (a replacement en cascade), or it started in the month itself
        # (the absence or the departure it covers may be declared in the months to come).
        confidence=f"CASE WHEN x.contract_id IS NULL AND r.start_date < p.as_of THEN '{PROBABLE}' "
                   f"ELSE '{TO_CHECK}' END",
        establishment_siret="r.establishment_siret",
        event_date="r.start_date",
        contract_id="r.contract_id",
        declaring_siret="r.siret",
        contract_number="r.contract_number",
        post="r.post_label",
        person_key="r.person_key",
        start_date="r.start_date",
        end_date="r.end_date",
        detail_fr=detail,
        article="CASE WHEN r.kind = 'mission' THEN 'L1251-6' ELSE 'L1242-2' END",
    )


def _remplacement_sql(settings: FeaturesConfig) -> str:
    margin = int(settings.replacement_margin_days)
    return f"""
WITH replacements AS (
    SELECT c.contract_id, c.siret, c.contract_number, c.establishment_siret, c.post, c.person_key, c.kind, c.start_date,
           c.end_date, c.period_end, {_day_number('c.start_date')} AS start_day,
           {_day_number(_held_until('c'))} AS held_until_day
    FROM contracts_asof c
    WHERE {_is_replacement('c')}
),
-- Replacements that cover no declared absence (`features.replacements.covered_replacements`).
uncovered AS (
    SELECT r.*
    FROM replacements r
    LEFT JOIN covered_replacements v ON v.contract_id = r.contract_id
    WHERE v.contract_id IS NULL
),
-- When an open-ended contract left its post: its declared end; some day of the month of an inferred end up to
-- it; some day of its last declared month when it is no longer declared and its end is not known yet.
departures AS (
    SELECT d.contract_id, d.establishment_siret, d.post, {_day_number(_left_from('d'))} AS left_from_day,
           {_day_number(_left_by('d'))} AS left_by_day
    FROM contracts_asof d, asof_params p
    WHERE d.kind = 'cdi' AND {_left_by('d')} IS NOT NULL
),
-- Replacements that start, within the margin, when an open-ended contract of the post ends: they wait for its
-- successor (L1242-2 1° d).
waiting AS (
    SELECT DISTINCT r.contract_id
    FROM uncovered r
    JOIN departures d
      ON d.establishment_siret = r.establishment_siret AND d.post = r.post AND d.contract_id <> r.contract_id
    WHERE d.left_from_day <= r.start_day + {margin} AND d.left_by_day >= r.start_day - {margin} - 1
),
unjustified AS (
    SELECT r.*, {_job_label('r')} AS post_label
    FROM uncovered r
    LEFT JOIN waiting w ON w.contract_id = r.contract_id
    WHERE w.contract_id IS NULL
),
-- Someone else in the establishment went away when the replacement started, for as long as it surely ran, and
-- no replacement of their own covers it: it may be en cascade (a colleague moved to the absent person's post,
-- the replacement to the colleague's).
-- Absences are met by the periods of 2 * margin + 1 days their start falls in: a replacement's start, within the
-- margin, spans at most two of them (an equality to join on, instead of every absence of the establishment).
starts AS (
    SELECT contract_id, establishment_siret, person_key, start_day, held_until_day,
           CAST(floor((start_day - {margin}) / {2 * margin + 1}) AS BIGINT) AS period
    FROM unjustified
    UNION ALL
    SELECT contract_id, establishment_siret, person_key, start_day, held_until_day,
           CAST(floor((start_day + {margin}) / {2 * margin + 1}) AS BIGINT) AS period
    FROM unjustified
),
away AS (
    SELECT establishment_siret, post, person_key, {_day_number('absence_start')} AS start_day,
           {_day_number('absence_end')} AS end_day,
           CAST(floor({_day_number('absence_start')} / {2 * margin + 1}) AS BIGINT) AS period
    FROM absences_asof
),
elsewhere AS (
    SELECT DISTINCT r.contract_id
    FROM starts r
    JOIN away a
      ON a.establishment_siret = r.establishment_siret AND a.period = r.period AND a.person_key <> r.person_key
     AND a.start_day BETWEEN r.start_day - {margin} AND r.start_day + {margin}
     AND (a.end_day IS NULL OR a.end_day >= r.held_until_day - {margin})
    LEFT JOIN covered_replacements v
      ON v.establishment_siret = a.establishment_siret AND v.absence_post = a.post
     AND v.absence_person_key = a.person_key AND v.absence_start_day = a.start_day
    WHERE v.contract_id IS NULL
)
SELECT {_remplacement_select(settings)}
FROM unjustified r
CROSS JOIN asof_params p
LEFT JOIN elsewhere x ON x.contract_id = r.contract_id
"""


def _replacements_input() -> InputFrame:
    """The CDD and missions for the replacement of an absent employee on a known post, as
    `features.replacements.covered_replacements` reads them."""
    return InputFrame("replacements_input", f"""
    SELECT c.contract_id, c.establishment_siret, c.post, c.person_key, {_day_number('c.start_date')} AS start_day,
           {_day_number(_held_until('c'))} AS held_until_day
    FROM contracts_asof c
    WHERE {_is_replacement('c')}
""")


def _is_replacement(alias: str) -> str:
    """SQL: a CDD or mission for the replacement of an absent employee, on a known post, counted where it is."""
    return (f"{alias}.kind IN ('cdd', 'mission') AND {alias}.motif = '{REPLACEMENT_MOTIF}' AND {alias}.post IS NOT NULL "
            f"AND {_located(alias)}")


def _absences_input() -> InputFrame:
    """The declared absences of people on a known post, in day numbers (`features.replacements`)."""
    return InputFrame("absences_input", f"""
    SELECT establishment_siret, post, person_key, contract_id, {_day_number('absence_start')} AS start_day,
           {_day_number('absence_end')} AS end_day
    FROM absences_asof WHERE post IS NOT NULL
""")


def _usage_sql() -> str:
    detail = _sentence(
        "Infraction potentielle au recours au contrat à durée déterminée d'usage : ce contrat{number}, commencé "
        "le {start} sur le poste « {post} », est conclu dans un établissement de code NAF {naf}, qui ne relève d'aucun "
        "secteur de l'article D1242-1 ; un accord de branche étendu qui autoriserait l'usage n'est pas lu.",
        number=_numbered("c.contract_number"),
        start=_french_date("c.start_date"),
        post=_post_fr(_job_label("c")),
        naf="c.naf",
    )
    select = _evidence(
        "usage_hors_secteur",
        confidence=f"'{ESTABLISHED}'",
        establishment_siret="c.establishment_siret",
        event_date="c.start_date",
        contract_id="c.contract_id",
        declaring_siret="c.siret",
        contract_number="c.contract_number",
        post=_job_label("c"),
        person_key="c.person_key",
        start_date="c.start_date",
        end_date="c.end_date",
        detail_fr=detail,
        article="'D1242-1'",
    )
    return f"""
WITH usage_contracts AS (
    SELECT c.*, upper(replace(e.naf, '.', '')) AS naf
    FROM contracts_asof c
    JOIN establishments_asof e ON e.siret = c.establishment_siret
    WHERE c.kind = 'usage' AND e.naf IS NOT NULL
),
allowed AS (  -- contracts whose establishment's NAF starts with a prefix of a D1242-1 sector
    SELECT DISTINCT c.contract_id
    FROM usage_contracts c
    JOIN usage_sectors s ON c.naf LIKE s.naf_prefix || '%'
)
SELECT {select}
FROM usage_contracts c
LEFT JOIN allowed a ON a.contract_id = c.contract_id
WHERE a.contract_id IS NULL
"""


_ON_THE_JOB = " sur cet emploi, jusqu'à "  # « 4 contrats sur cet emploi, jusqu'à 2 en même temps »


def _permanent_post_sql(settings: FeaturesConfig) -> str:
    percent = round(float(settings.year_round_share) * 100)
    detail = _sentence(
        "Infraction potentielle de recours à des contrats courts pour un emploi durable : {posts} de « {post} » "
        "{held_verb} par des contrats à durée déterminée ou de mission {held} sur {window} du {window_start} au "
        "{window_end} (au moins {percent} % de l'année), par {contracts} ; le {contract}{number} "
        "commencé le {start} en a tenu un {base} de ses {days} dans cette période.",
        posts=_count("h.base_posts", "poste", "postes"),
        post=_job_label("m"),
        held_verb="CASE WHEN h.base_posts > 1 THEN 'sont tenus' ELSE 'est tenu' END",
        held=_count("h.held_days", "jour", "jours"),
        window="h.window_days",
        window_start=_french_date("p.window_start"),
        window_end=_french_date("p.as_of_end"),
        percent=str(percent),
        # The job's contracts in the window: one after the other when at most one held it at a time; else they are
        # the job's, not the successive holders of the posts named (six waiters share a PCS code).
        contracts=(f"{_count('h.contracts_on_job', 'contrat', 'contrats')} || CASE WHEN h.peak_posts > 1 THEN "
                   f"{sql_string(_ON_THE_JOB)} || CAST(h.peak_posts AS STRING) || "
                   f"{sql_string(' en même temps')} WHEN h.contracts_on_job > 1 THEN {sql_string(' successifs')} "
                   f"ELSE '' END"),
        contract=_contract_fr("m.kind"),
        number=_numbered("m.contract_number"),
        start=_french_date("m.start_date"),
        base=_count("h.base_days", "jour", "jours"),
        days="h.days_in_window",
    )
    select = _evidence(
        "poste_permanent",
        confidence=f"CASE WHEN 2 * h.base_days >= h.days_in_window THEN '{PROBABLE}' ELSE '{TO_CHECK}' END",
        establishment_siret="m.establishment_siret",
        event_date="greatest(m.start_date, p.window_start)",
        contract_id="m.contract_id",
        declaring_siret="m.siret",
        contract_number="m.contract_number",
        post=_job_label("m"),
        posts_concerned="h.base_posts",
        person_key="m.person_key",
        start_date="m.start_date",
        end_date="m.end_date",
        measured_value="h.held_days",
        legal_limit=f"{float(settings.year_round_share)} * h.window_days",
        detail_fr=detail,
        article="CASE WHEN m.kind = 'mission' THEN 'L1251-5' ELSE 'L1242-1' END",
    )
    return f"""
SELECT {select}
FROM permanent_post_contracts h
JOIN contracts_asof m ON m.contract_id = h.contract_id
CROSS JOIN asof_params p
"""


def _permanent_post_input() -> InputFrame:
    """The fixed-term contracts and missions that may hold a lasting job, on a known post and running in the
    window, in the order `features.job_posts.permanent_posts` reads them (the end of one whose end is not known yet:
    its declared planned end if it was last declared in that month; else of a running one, the month's; of one no
    longer declared, its last declared month's)."""
    query = f"""
SELECT c.contract_id, c.establishment_siret, c.post, {_day_number('c.start_date')} AS start_day,
       {_day_number(_PLANNED_OR_LAST_DAY_KNOWN)} AS end_day
FROM contracts_asof c, asof_params p
WHERE c.kind IN ('cdd', 'usage', 'mission') AND coalesce(c.motif, '') NOT IN ({sql_string_list(NOT_LASTING_MOTIFS)})
  AND c.post IS NOT NULL AND {_located('c')} AND c.period_end >= p.window_start
"""
    return InputFrame("permanent_post_input", query, "establishment_siret, post, start_day, contract_id")


def _weekmasks(engine: SqlEngine) -> dict[str, str]:
    """NumPy busday weekmasks (Monday first, '1' open) by SIRET from `closed_weekdays`; '*' the default."""
    closed = engine.fetch("SELECT siret, isodow FROM closed_weekdays")
    masks: dict[str, str] = {}
    for siret, days in closed.groupby("siret")["isodow"]:
        shut = set(days.astype(int))
        masks[str(siret)] = "".join("0" if day in shut else "1" for day in range(1, 8))
    masks.setdefault("*", "1111111")
    return masks


def register_rule_tables(engine: SqlEngine) -> None:
    """Create the temp tables the rule checks read besides the as-of tables: `usage_sectors`,
    `branch_agreements` and `job_names`."""
    register_usage_sectors(engine)
    register_branch_agreements(engine)
    engine.create_table("job_names", JOB_NAMES_SQL)


@dataclass(frozen=True)
class RulePass:
    """A Python pass between the SQL stages: its function, the frames it reads (`features.pass_inputs`), its other
    arguments (read from the engine and the settings), and the temp table that receives its rows."""

    run: Pass
    frames: tuple[InputFrame, ...]
    constants: Callable[[SqlEngine, FeaturesConfig], tuple]
    table: str
    schema: pa.Schema


def _carence_constants(engine: SqlEngine, settings: FeaturesConfig) -> tuple:
    """The weekmasks and the post memory (`features.job_posts.carence_successions`)."""
    return _weekmasks(engine), settings.post_memory_days


def _permanent_post_constants(engine: SqlEngine, settings: FeaturesConfig) -> tuple:
    """The window's first and last day numbers, the continuity gap, the year-round share
    (`features.job_posts.permanent_posts`)."""
    first, last = fetch_aggregate(engine, f"SELECT {_day_number('window_start')}, {_day_number('as_of_end')} FROM asof_params")
    return int(first), int(last), settings.continuity_gap_days, settings.year_round_share


def _replacement_constants(engine: SqlEngine, settings: FeaturesConfig) -> tuple:
    """The margin (`features.replacements.covered_replacements`)."""
    return (settings.replacement_margin_days,)


def rule_passes() -> tuple[RulePass, ...]:
    """The Python passes, in the order the rule checks run them."""
    return (
        RulePass(carence_successions, (_carence_input(),), _carence_constants, "carence_successions", SUCCESSIONS_SCHEMA),
        RulePass(permanent_posts, (_permanent_post_input(),), _permanent_post_constants, "permanent_post_contracts",
                 PERMANENT_SCHEMA),
        RulePass(covered_replacements, (_replacements_input(), _absences_input()), _replacement_constants,
                 "covered_replacements", COVERED_SCHEMA),
    )


def run_rule_pass(engine: SqlEngine, rule_pass: RulePass, settings: FeaturesConfig) -> int:
    """Run `rule_pass` by ranges of establishments (`features.pass_parts`), its inputs read range by range from the
    engine and its rows appended to its temp table as each range ends; returns how many ranges."""
    started = time.perf_counter()
    constants = rule_pass.constants(engine, settings)
    with engine_source(engine, rule_pass.frames, constants) as source:
        read = time.perf_counter()
        rows = PassRows(engine, rule_pass)
        ranges = run_by_ranges(rule_pass.run, source, settings.pass_processes or usable_cpus(), rows.append)
    log.debug("rule checks: %s in %.1f s (inputs %.1f s, then %d range(s) of establishments)", rule_pass.run.__name__,
              time.perf_counter() - started, read - started, ranges)
    return ranges


class PassRows:
    """The temp table of a pass's rows (`RulePass.table`), created by the first rows appended."""

    def __init__(self, engine: SqlEngine, rule_pass: RulePass) -> None:
        self.engine, self.rule_pass, self.created = engine, rule_pass, False

    def append(self, rows: pd.DataFrame) -> None:
        """Add `rows` (the pass's result for a range of establishments) to the table."""
        table = self.rule_pass.table
        self.engine.register(f"{table}_arrow", pa.Table.from_pandas(rows, schema=self.rule_pass.schema, preserve_index=False))
        if self.created:
            self.engine.insert_into(table, f"SELECT * FROM {table}_arrow")
        else:
            self.engine.create_table(table, f"SELECT * FROM {table}_arrow")
            self.created = True
        self.engine.unregister(f"{table}_arrow")


@dataclass(frozen=True)
class PassWork:
    """The rule passes of the as-of tables, their inputs read whole from the engine (`read_pass_work`), to be run
    away from it (`run_pass_work`: in another thread, while the engine computes something else)."""

    passes: tuple[tuple[RulePass, tuple], ...]  # each pass and its arguments: its frames in memory, then its constants


def read_pass_work(engine: SqlEngine, settings: FeaturesConfig) -> PassWork:
    """Register the tables the rule checks read (`register_rule_tables`) and read every pass's inputs (`rule_passes`)
    from the as-of tables: one range's, at national scale (`features.asof.prepare_part`)."""
    register_rule_tables(engine)
    work = []
    for rule_pass in rule_passes():
        work.append((rule_pass, (*read_frames(engine, rule_pass.frames), *rule_pass.constants(engine, settings))))
    return PassWork(tuple(work))


class PassesStopped(RuntimeError):
    """The rule passes of `run_pass_work` were stopped before their end."""


def run_pass_work(work: PassWork, stopped: Callable[[], bool] = lambda: False) -> list[list[pd.DataFrame]]:
    """Each pass of `work` run in this process, its rows by ranges of establishments (`features.pass_parts`: the
    memory of one range of at most `MAX_PART_ROWS` rows at a time); no engine is used. `stopped` is asked before each
    pass and after each range of rows: once it is true, PassesStopped is raised there (the caller failed meanwhile)."""
    results = []
    for rule_pass, arguments in work.passes:
        name = rule_pass.run.__name__
        if stopped():
            raise PassesStopped(f"{name} not started")
        parts: list[pd.DataFrame] = []
        run_by_ranges(rule_pass.run, FrameSource(arguments, len(rule_pass.frames)), 1, _kept_until(stopped, parts, name))
        results.append(parts)
    return results


def _kept_until(stopped: Callable[[], bool], parts: list[pd.DataFrame], name: str) -> Callable[[pd.DataFrame], None]:
    """A delivery of `run_by_ranges` that appends each range's rows to `parts`, and raises PassesStopped instead once
    `stopped` is true."""
    def keep(rows: pd.DataFrame) -> None:
        if stopped():
            raise PassesStopped(f"{name} stopped")
        parts.append(rows)
    return keep


def finish_rule_evidence(engine: SqlEngine, settings: FeaturesConfig, work: PassWork, rows: list[list[pd.DataFrame]],
                         append: bool = False) -> None:
    """`compute_rule_evidence` from the passes' rows (`run_pass_work` of `work`, read from the same as-of tables)."""
    for (rule_pass, _), parts in zip(work.passes, rows, strict=True):
        table = PassRows(engine, rule_pass)
        for part in parts:
            table.append(part)
    _check_rules(engine, settings, append)


def compute_rule_evidence(engine: SqlEngine, settings: FeaturesConfig, append: bool = False) -> None:
    """Create the temp table `rule_evidence` (columns: EVIDENCE_COLUMNS), one row per potential infraction; with
    `append`, add the rows to the table already there.

    Reads the as-of temp tables of `features.asof.prepare_as_of` (or of one range, `prepare_part`); registers `usage_sectors`,
    `branch_agreements`, the one name of each job (`job_names`) and the rows of the Python passes (`rule_passes`):
    the posts read from concurrency (`carence_successions`, `permanent_post_contracts`) and the absences
    replacements cover (`covered_replacements`).
    Days are calendar days except gap_opening_days and required_opening_days (opening days).
    """
    register_rule_tables(engine)
    for rule_pass in rule_passes():
        run_rule_pass(engine, rule_pass, settings)
    _check_rules(engine, settings, append)


def _check_rules(engine: SqlEngine, settings: FeaturesConfig, append: bool) -> None:
    """The rule queries run into `rule_evidence` (created empty first unless `append`), once the passes' rows are in
    their tables."""
    if not append:
        columns = ", ".join(f"CAST(NULL AS {sql_type}) AS {name}" for name, sql_type in EVIDENCE_COLUMNS)
        engine.create_table("rule_evidence", f"SELECT {columns} LIMIT 0")
    for rule, query in zip(RULES, rule_queries(settings), strict=True):
        started = time.perf_counter()
        engine.insert_into("rule_evidence", query)
        log.debug("rule checks: %s in %.1f s", rule.id, time.perf_counter() - started)


# The one name of each job (establishment x post key): its most frequent normalised title, the first in
# alphabetical order among equals (scoring.explain names the timeline's posts the same way).
JOB_NAMES_SQL = """
SELECT establishment_siret, post, post_label AS job_label
FROM (
    SELECT establishment_siret, post, post_label,
           row_number() OVER (PARTITION BY establishment_siret, post ORDER BY n DESC, post_label) AS rank
    FROM (SELECT establishment_siret, post, post_label, count(*) AS n
          FROM contracts_asof WHERE post IS NOT NULL AND post_label IS NOT NULL
          GROUP BY establishment_siret, post, post_label)
)
WHERE rank = 1
"""


def rule_queries(settings: FeaturesConfig) -> tuple[str, ...]:
    """The query of each rule, in the order of RULES."""
    return (
        _carence_sql(),
        _renouvellements_sql(settings),
        _duree_max_sql(settings),
        _remplacement_sql(settings),
        _usage_sql(),
        _permanent_post_sql(settings),
    )


def rule_definitions_text(settings: FeaturesConfig | None = None) -> str:
    """Everything that defines the checks (queries, sector table), for fingerprints of stored results."""
    sectors = "\n".join(",".join(map(str, row)) for row in _usage_sector_rows())
    inputs = (JOB_NAMES_SQL, *(frame.definition() for rule_pass in rule_passes() for frame in rule_pass.frames),
              *_pass_sources(),
              repr(sorted(branch_rules().items())))
    return "\n".join((*rule_queries(settings or FeaturesConfig()), *inputs, sectors))


def _pass_sources() -> tuple[str, ...]:
    """The source text of the Python passes between the SQL stages (read as files: setup.py may have compiled
    them, and a compiled module has no source for `inspect`)."""
    return tuple(resources.files("features").joinpath(f"{module.__name__.rsplit('.', 1)[-1]}.py").read_text(encoding="utf-8")
                 for module in (job_posts, replacements))


def rule_counts_sql() -> str:
    """SQL: one row per establishment of `establishments_asof` (establishment_siret), with `n_<rule>` for each
    rule of RULES and `n_rule_hits_total`: established and probable evidence rows whose event_date is in
    [window_start, as_of_end]."""
    per_rule = ",\n       ".join(f"count(CASE WHEN r.rule = '{rule.id}' THEN 1 END) AS n_{rule.id}" for rule in RULES)
    return f"""
WITH in_window AS (
    SELECT r.establishment_siret, r.rule
    FROM rule_evidence r, asof_params p
    WHERE r.event_date BETWEEN p.window_start AND p.as_of_end
      AND r.confidence IN ({sql_string_list(SCORED_CONFIDENCE)})
)
SELECT e.siret AS establishment_siret,
       {per_rule},
       count(r.rule) AS n_rule_hits_total
FROM establishments_asof e
LEFT JOIN in_window r ON r.establishment_siret = e.siret
GROUP BY e.siret
"""
