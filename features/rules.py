"""Checks of the Code du travail rules on fixed-term contracts (CDD) and temp work (CTT), as of a month.

`compute_rule_evidence` reads the temp tables of `features.asof.prepare_as_of` and writes
`rule_evidence`: one row per potential infraction, with the contract (and the related one) an
inspector can look up in minutes. The DSN shows patterns; an inspector establishes facts: every
sentence says « infraction potentielle ». Statutory defaults only (branch agreements may set other
limits: L1242-8-1, L1243-13-1, L1244-3-1); the parameters come from `FeaturesConfig`.

The rules, as implemented:

- carence (L1244-3, L1244-3-1, L1251-36). For each CDD or mission for accroissement temporaire
  d'activité (motif 02) B, the previous contract A is the motif-02 contract on the same post of the
  same establishment (any person) with the latest known end strictly before B's start (the longest
  one if several end that day). The délai de carence is ceil(d / 3) opening days if A lasted
  d >= 14 calendar days, renewals included, else ceil(d / 2); the gap counts the establishment's
  opening days (`closed_weekdays`) strictly between A's end and B's start. Public holidays are not
  known and count as opening days. No pair when A ended early at the employee's initiative (end
  motifs 035, 037, 059). Only 02 follows 02, so the motifs exempted by L1244-4 (01, 03, 04, 05, 07,
  08, 12) are never flagged; exemptions the DSN cannot show (urgent safety work, a renewal refused by
  the employee) are for the inspector. event_date: B's start.
- renouvellements (L1243-13, L1251-35). A CDD (kind 'cdd') or mission whose planned end was pushed
  more than max_renewals times. The month of the push that went over is not in the as-of tables, so
  event_date is the contract's last declared month (its first day): the first month in which the
  count is known to be over. A replacement contract without a precise term (L1242-7) may have its
  planned end moved without being renewed: the inspector reads the contract.
- duree_max (L1242-8, L1251-12). One person on one post at one establishment, CDD or missions for
  motif 02 or without a motif (replacement, seasonal, usage and objet défini contracts have other
  maxima or none). Contracts whose breaks last at most chain_gap_days form a chain — our reading:
  a contract concluded after a long break is a new contract, and a short break is the carence
  check's business. The days of the chain (an overlap counted once, a running contract up to the
  end of the month) are compared with the days from the chain's first start to the same date
  max_fixed_term_months later: a contract from 2023-01-01 to 2024-06-30 is exactly 18 months and
  not flagged. One row per chain; event_date: the day the limit was passed.
- remplacement_sans_absence (L1242-2 1°, L1251-6 1°). A CDD or mission for the replacement of an
  absent employee (motif 01) when no absence (`absences_asof`) of another person on the same post
  of the same establishment overlaps [start - margin, end + margin] (margin:
  replacement_margin_days). It must be the same post: in a large establishment someone is always
  absent somewhere. Paid leave (congés payés) and other absences the DSN does not declare cannot be
  seen, nor a replacement en cascade (a colleague moves to the absent person's post); the sentence
  says so. Motif 12 (replacing an employee moved to part time) is not checked: that employee keeps
  working and declares no absence.
- usage_hors_secteur (D1242-1). A contrat à durée déterminée d'usage (kind 'usage': CDD with motif
  05) at an establishment whose NAF (APET) matches no prefix of `reference/usage_sectors.csv`
  (a row '56' matches 5610A). Establishments without a NAF are not judged. Temp missions with motif
  05 are left out: D1251-1 has its own, slightly different list.
- interim_poste_permanent (L1251-5). Missions on a post that CDD, CDD d'usage and missions together
  held on at least year_round_share of the days of the window [window_start, as_of_end], a break
  of at most continuity_gap_days counting as held. One row per mission running in the window;
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
(features.spark.dialect); the DuckDB functions it needs sit in the helpers under « Engine-specific SQL ».
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Formatter

import pyarrow as pa

from champollion.config import FeaturesConfig
from features.sql_engine import SqlEngine, load_table

ATA_MOTIF = "02"  # accroissement temporaire d'activité
REPLACEMENT_MOTIF = "01"  # remplacement d'un salarié absent
EMPLOYEE_EARLY_END_MOTIFS = ("035", "037", "059")  # trial period, early end, resignation: by the employee
USAGE_SECTORS_FILE = "usage_sectors.csv"


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
        "Une même personne occupe le même poste en contrats à durée déterminée ou de mission enchaînés au-delà de la "
        "durée maximale (18 mois par défaut, renouvellements inclus) ; sanction : requalification en contrat à "
        "durée indéterminée.",
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
        "interim_poste_permanent",
        "Intérim sur un emploi durable",
        "L1251-5",
        "Des missions d'intérim pourvoient un poste tenu toute l'année par des contrats à durée déterminée ou de "
        "mission : un emploi lié à l'activité normale et permanente de l'entreprise utilisatrice ; sanction : "
        "requalification en contrat à durée indéterminée avec l'entreprise utilisatrice (L1251-40).",
    ),
)

# The columns of `rule_evidence`, in order, with their SQL types.
EVIDENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("establishment_siret", "STRING"),
    ("rule", "STRING"),
    ("event_date", "DATE"),
    ("contract_id", "STRING"),
    ("related_contract_id", "STRING"),
    ("post", "STRING"),
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


def _weekday_count(first_day: str, n_days: str, isodow: str) -> str:
    """SQL: how many of the `n_days` (>= 0) days from day number `first_day` fall on ISO weekday `isodow`."""
    # Day number k is ISO weekday k % 7 + 1; the first such day comes `offset` days after first_day.
    offset = f"((({isodow} - 1 - {first_day}) % 7 + 7) % 7)"
    return f"CAST(floor(({n_days} - {offset} + 6) / 7.0) AS INTEGER)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sentence(template: str, **values: str) -> str:
    """SQL concatenating the text of `template` with the SQL expressions named in its {fields}."""
    parts = []
    for text, field, _, _ in Formatter().parse(template):
        if text:
            parts.append(_literal(text))
        if field is not None:
            parts.append(f"CAST({values[field]} AS STRING)")
    return " || ".join(parts)


def _count(number_sql: str, singular: str, plural: str) -> str:
    """SQL: '1 jour', '3 jours' (French: 0 and 1 take the singular)."""
    return (
        f"CAST({number_sql} AS STRING) || CASE WHEN {number_sql} > 1 THEN {_literal(' ' + plural)} "
        f"ELSE {_literal(' ' + singular)} END"
    )


def _count_text(number: int, singular: str, plural: str) -> str:
    return f"{number} {plural if number > 1 else singular}"


def _contract_fr(kind_sql: str) -> str:
    return f"CASE WHEN {kind_sql} = 'mission' THEN 'contrat de mission' ELSE 'contrat à durée déterminée' END"


def _post_fr(post_sql: str) -> str:
    return f"coalesce({post_sql}, 'non renseigné')"


def _evidence(rule: str, **columns: str) -> str:
    """The SELECT list of an evidence row: every column of EVIDENCE_COLUMNS in order, NULL when not given."""
    unknown = set(columns) - {name for name, _ in EVIDENCE_COLUMNS}
    if unknown:
        raise ValueError(f"not evidence columns: {sorted(unknown)}")
    columns["rule"] = f"'{rule}'"
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
    exempt = ", ".join(f"'{m}'" for m in EMPLOYEE_EARLY_END_MOTIFS)
    detail = _sentence(
        "Infraction potentielle au délai de carence : le {contract} pour accroissement temporaire d'activité "
        "commencé le {start} sur le poste « {post} » n'est séparé que de {gap} de la fin, le {previous_end}{inferred}, "
        "d'un {previous_contract} de {previous_days} sur ce poste, alors que le délai de carence est de {required}.",
        contract=_contract_fr("m.kind"),
        start=_french_date("m.start_date"),
        post="m.post_label",
        gap=_count("m.gap_opening_days", "jour d'ouverture", "jours d'ouverture"),
        previous_end=_french_date("m.previous_end_date"),
        inferred="CASE WHEN m.previous_end_inferred THEN ' (fin déduite des déclarations)' ELSE '' END",
        previous_contract=_contract_fr("m.previous_kind"),
        previous_days=_count("m.previous_duration_days", "jour", "jours"),
        required=_count("m.required_days", "jour d'ouverture", "jours d'ouverture"),
    )
    select = _evidence(
        "carence",
        establishment_siret="m.establishment_siret",
        event_date="m.start_date",
        contract_id="m.contract_id",
        related_contract_id="m.previous_contract_id",
        post="m.post_label",
        person_key="m.person_key",
        start_date="m.start_date",
        end_date="m.end_date",
        related_start_date="m.previous_start_date",
        related_end_date="m.previous_end_date",
        gap_opening_days="m.gap_opening_days",
        required_opening_days="m.required_days",
        measured_value="m.gap_opening_days",
        legal_limit="m.required_days",
        detail_fr=detail,
        article="CASE WHEN m.previous_kind = 'mission' THEN 'L1251-36' ELSE 'L1244-3' END",
    )
    return f"""
WITH ata AS (  -- CDD and missions for accroissement temporaire d'activité, on a known post
    SELECT c.contract_id, c.establishment_siret, c.post, c.post_label, c.person_key, c.kind, c.start_date, c.end_date,
           coalesce(c.end_inferred, false) AS end_inferred, c.end_motif, c.duration_days,
           {_day_number('c.start_date')} AS start_day, {_day_number('c.end_date')} AS end_day
    FROM contracts_asof c
    WHERE c.kind IN ('cdd', 'mission') AND c.motif = '{ATA_MOTIF}' AND c.post IS NOT NULL AND {_located('c')}
),
-- Starts and known ends of each post in date order. A start sorts before an end of the same day (the
-- contract that precedes a start must have ended strictly before it); ends of one day sort by length,
-- then contract: the last end before a start is the latest, the longest if several end that day.
events AS (
    SELECT establishment_siret, post, contract_id, start_day AS day, 0 AS is_end, duration_days FROM ata
    UNION ALL
    SELECT establishment_siret, post, contract_id, end_day, 1, duration_days FROM ata WHERE end_day IS NOT NULL
),
-- The last end so far, carried along the sorted events: a post with thousands of contracts is sorted
-- once, never joined with itself.
preceded AS (
    SELECT contract_id, is_end,
           last_value(CASE WHEN is_end = 1 THEN contract_id END IGNORE NULLS) OVER (
               PARTITION BY establishment_siret, post ORDER BY day, is_end, duration_days, contract_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous_contract_id
    FROM events
),
pairs AS (
    SELECT b.*, a.contract_id AS previous_contract_id, a.kind AS previous_kind, a.start_date AS previous_start_date,
           a.end_date AS previous_end_date, a.end_inferred AS previous_end_inferred,
           a.duration_days AS previous_duration_days,
           a.end_day + 1 AS gap_first_day, b.start_day - a.end_day - 1 AS gap_days,
           CAST(CASE WHEN a.duration_days >= 14 THEN ceil(a.duration_days / 3.0)
                     ELSE ceil(a.duration_days / 2.0) END AS INTEGER) AS required_days
    FROM preceded p
    JOIN ata b ON b.contract_id = p.contract_id
    JOIN ata a ON a.contract_id = p.previous_contract_id
    WHERE p.is_end = 0
      AND coalesce(a.end_motif, '') NOT IN ({exempt})  -- L1244-4: no carence after an early end by the employee
),
own_calendars AS (  -- an establishment with opening days of its own uses only its rows, else the default '*'
    SELECT DISTINCT siret FROM closed_weekdays WHERE siret <> '*'
),
closed_in_gap AS (
    SELECT p.contract_id, sum({_weekday_count('p.gap_first_day', 'p.gap_days', 'w.isodow')}) AS closed_days
    FROM pairs p
    LEFT JOIN own_calendars o ON o.siret = p.establishment_siret
    JOIN closed_weekdays w ON w.siret = coalesce(o.siret, '*') AND w.isodow BETWEEN 1 AND 7
    GROUP BY p.contract_id
),
measured AS (
    SELECT p.*, p.gap_days - coalesce(k.closed_days, 0) AS gap_opening_days
    FROM pairs p
    LEFT JOIN closed_in_gap k ON k.contract_id = p.contract_id
)
SELECT {select}
FROM measured m
WHERE m.gap_opening_days < m.required_days
"""


def _renouvellements_sql(settings: FeaturesConfig) -> str:
    limit = int(settings.max_renewals)
    detail = _sentence(
        "Infraction potentielle au nombre de renouvellements : la date de fin prévue du {contract} commencé le "
        "{start} sur le poste « {post} » a été reportée {renewals} fois, alors que le maximum est de {limit}.",
        contract=_contract_fr("c.kind"),
        start=_french_date("c.start_date"),
        post=_post_fr("c.post_label"),
        renewals="c.renewals",
        limit=_literal(_count_text(limit, "renouvellement", "renouvellements")),
    )
    select = _evidence(
        "renouvellements",
        establishment_siret="c.establishment_siret",
        event_date="c.last_month",  # the first month in which the count is known to be over
        contract_id="c.contract_id",
        post="c.post_label",
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


def _duree_max_sql(settings: FeaturesConfig) -> str:
    months = int(settings.max_fixed_term_months)
    gap = int(settings.chain_gap_days)
    person_post = "PARTITION BY establishment_siret, post, person_key"
    chain = f"{person_post}, chain_no"
    in_order = "ORDER BY start_day, end_day, contract_id"
    detail = _sentence(
        "Infraction potentielle à la durée maximale : la même personne occupe le poste « {post} » en contrat à "
        "durée déterminée ou de mission depuis le {first_start}, sans interruption de plus de {gap}, soit {total} "
        "au {last_end}, au-delà de la durée maximale de {months} mois ({limit}), dépassée le {passed}.",
        post="m.post_label",
        first_start=_french_date("m.first_start_date"),
        gap=_literal(_count_text(gap, "jour", "jours")),
        total=_count("m.chain_days", "jour", "jours"),
        last_end=_french_date(_date_of_day("m.chain_end_day")),
        months=str(months),
        limit=_count("m.limit_days", "jour", "jours"),
        passed=_french_date(_date_of_day("m.passed_day")),
    )
    select = _evidence(
        "duree_max",
        establishment_siret="m.establishment_siret",
        event_date=_date_of_day("m.passed_day"),
        contract_id="m.contract_id",
        related_contract_id="CASE WHEN m.first_contract_id <> m.contract_id THEN m.first_contract_id END",
        post="m.post_label",
        person_key="m.person_key",
        start_date="m.start_date",
        end_date="m.end_date",
        related_start_date="CASE WHEN m.first_contract_id <> m.contract_id THEN m.first_start_date END",
        related_end_date="CASE WHEN m.first_contract_id <> m.contract_id THEN m.first_end_date END",
        measured_value="m.chain_days",
        legal_limit="m.limit_days",
        detail_fr=detail,
        article="CASE WHEN m.kind = 'mission' THEN 'L1251-12' ELSE 'L1242-8' END",
    )
    return f"""
WITH capped AS (  -- fixed-term work under the 18-month maximum: motif 02 or none
    SELECT c.contract_id, c.establishment_siret, c.post, c.post_label, c.person_key, c.kind, c.start_date, c.end_date,
           {_day_number('c.start_date')} AS start_day, {_day_number('c.period_end')} AS end_day
    FROM contracts_asof c
    WHERE c.kind IN ('cdd', 'mission') AND (c.motif = '{ATA_MOTIF}' OR c.motif IS NULL)
      AND c.post IS NOT NULL AND {_located('c')}
),
ordered AS (
    SELECT *, max(end_day) OVER ({person_post} {in_order}
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end_day
    FROM capped
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
           max(end_day) OVER ({chain}) AS chain_end_day,
           first_value(contract_id) OVER ({chain} {in_order}) AS first_contract_id,
           first_value(start_date) OVER ({chain} {in_order}) AS first_start_date,
           first_value(end_date) OVER ({chain} {in_order}) AS first_end_date
    FROM counted
),
limited AS (  -- the limit in days: from the chain's first start to the same date {months} months later
    SELECT *, {_day_number(_add_months('first_start_date', months))} - {_day_number('first_start_date')} AS limit_days
    FROM measured
),
-- The contract during which the total went over the limit, and the day it did.
passed AS (
    SELECT *, counted_from_day + (limit_days - days_before) AS passed_day
    FROM limited
    WHERE days_before <= limit_days AND days_before + counted_days > limit_days
)
SELECT {select}
FROM passed m
"""


def _remplacement_sql(settings: FeaturesConfig) -> str:
    margin = int(settings.replacement_margin_days)
    detail = _sentence(
        "Infraction potentielle au motif de remplacement : le {contract} pour remplacement d'un salarié absent du "
        "{start} au {end} sur le poste « {post} » ne recouvre, à {margin} près, aucune absence déclarée d'une autre "
        "personne sur ce poste ; une absence que la DSN ne déclare pas, comme des congés payés, ou un remplacement "
        "en cascade ne peuvent pas être vus.",
        contract=_contract_fr("r.kind"),
        start=_french_date("r.start_date"),
        end=f"CASE WHEN r.end_date IS NULL THEN {_french_date('r.period_end')} || ' (en cours)' "
        f"ELSE {_french_date('r.end_date')} END",
        post="r.post_label",
        margin=_literal(_count_text(margin, "jour", "jours")),
    )
    select = _evidence(
        "remplacement_sans_absence",
        establishment_siret="r.establishment_siret",
        event_date="r.start_date",
        contract_id="r.contract_id",
        post="r.post_label",
        person_key="r.person_key",
        start_date="r.start_date",
        end_date="r.end_date",
        detail_fr=detail,
        article="CASE WHEN r.kind = 'mission' THEN 'L1251-6' ELSE 'L1242-2' END",
    )
    return f"""
WITH replacements AS (
    SELECT c.contract_id, c.establishment_siret, c.post, c.post_label, c.person_key, c.kind, c.start_date, c.end_date,
           c.period_end, {_day_number('c.start_date')} AS start_day, {_day_number('c.period_end')} AS end_day
    FROM contracts_asof c
    WHERE c.kind IN ('cdd', 'mission') AND c.motif = '{REPLACEMENT_MOTIF}' AND c.post IS NOT NULL AND {_located('c')}
),
-- Replacements with an absence of someone else on the same post, within the margin; an absence
-- without a known end is still running.
justified AS (
    SELECT DISTINCT r.contract_id
    FROM replacements r
    JOIN absences_asof a
      ON a.establishment_siret = r.establishment_siret AND a.post = r.post AND a.person_key <> r.person_key
     AND {_day_number('a.absence_start')} <= r.end_day + {margin}
     AND (a.absence_end IS NULL OR {_day_number('a.absence_end')} >= r.start_day - {margin})
)
SELECT {select}
FROM replacements r
LEFT JOIN justified j ON j.contract_id = r.contract_id
WHERE j.contract_id IS NULL
"""


def _usage_sql() -> str:
    detail = _sentence(
        "Infraction potentielle au recours au contrat à durée déterminée d'usage : ce contrat, commencé le {start} "
        "sur le poste « {post} », est conclu dans un établissement de code NAF {naf}, qui ne relève d'aucun secteur "
        "de l'article D1242-1.",
        start=_french_date("c.start_date"),
        post=_post_fr("c.post_label"),
        naf="c.naf",
    )
    select = _evidence(
        "usage_hors_secteur",
        establishment_siret="c.establishment_siret",
        event_date="c.start_date",
        contract_id="c.contract_id",
        post="c.post_label",
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


def _interim_sql(settings: FeaturesConfig) -> str:
    gap = int(settings.continuity_gap_days)
    share = float(settings.year_round_share)
    post = "PARTITION BY establishment_siret, post"
    detail = _sentence(
        "Infraction potentielle de recours au travail temporaire pour un emploi durable : la mission commencée le "
        "{start} pourvoit le poste « {post} », tenu par des contrats à durée déterminée ou de mission {held} sur "
        "{window} du {window_start} au {window_end}, soit au moins {percent} % de l'année.",
        start=_french_date("m.start_date"),
        post="m.post_label",
        held=_count("h.held_days", "jour", "jours"),
        window="h.window_days",
        window_start=_french_date("p.window_start"),
        window_end=_french_date("p.as_of_end"),
        percent=str(round(share * 100)),
    )
    select = _evidence(
        "interim_poste_permanent",
        establishment_siret="m.establishment_siret",
        event_date="greatest(m.start_date, p.window_start)",
        contract_id="m.contract_id",
        post="m.post_label",
        person_key="m.person_key",
        start_date="m.start_date",
        end_date="m.end_date",
        measured_value="h.held_days",
        legal_limit=f"{share} * h.window_days",
        detail_fr=detail,
        article="'L1251-5'",
    )
    return f"""
WITH window_days AS (
    SELECT {_day_number('window_start')} AS first_day, {_day_number('as_of_end')} AS last_day,
           {_day_number('as_of_end')} - {_day_number('window_start')} + 1 AS days
    FROM asof_params
),
held AS (  -- fixed-term periods on each post, cut to the window
    SELECT c.establishment_siret, c.post, c.post_label, c.contract_id,
           greatest({_day_number('c.start_date')}, w.first_day) AS from_day,
           least({_day_number('c.period_end')}, w.last_day) AS to_day
    FROM contracts_asof c, window_days w
    WHERE c.kind IN ('cdd', 'usage', 'mission') AND c.post IS NOT NULL AND {_located('c')}
      AND {_day_number('c.period_end')} >= w.first_day AND {_day_number('c.start_date')} <= w.last_day
),
ordered AS (
    SELECT *, max(to_day) OVER ({post} ORDER BY from_day, to_day, contract_id
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_to_day
    FROM held
),
-- Gaps and islands in one pass: a break of at most continuity_gap_days does not end an island, so
-- the days of an island, short breaks included, count as held. Each period adds the days it reaches
-- past the periods before it (its whole length when it starts an island): summed, the islands' days.
added AS (
    SELECT establishment_siret, post,
           CASE WHEN previous_to_day IS NULL OR from_day - previous_to_day - 1 > {gap} THEN to_day - from_day + 1
                ELSE greatest(to_day - previous_to_day, 0) END AS days
    FROM ordered
),
held_all_year AS (
    SELECT d.establishment_siret, d.post, sum(d.days) AS held_days, w.days AS window_days
    FROM added d, window_days w
    GROUP BY d.establishment_siret, d.post, w.days
    HAVING sum(d.days) >= {share} * w.days
)
SELECT {select}
FROM contracts_asof m
JOIN held_all_year h ON h.establishment_siret = m.establishment_siret AND h.post = m.post
CROSS JOIN asof_params p
WHERE m.kind = 'mission' AND {_located('m')} AND m.period_end >= p.window_start
"""


def compute_rule_evidence(engine: SqlEngine, settings: FeaturesConfig) -> None:
    """Create the temp table `rule_evidence` (columns: EVIDENCE_COLUMNS), one row per potential infraction.

    Reads the as-of temp tables of `features.asof.prepare_as_of`; registers `usage_sectors`.
    Days are calendar days except gap_opening_days and required_opening_days (opening days).
    """
    register_usage_sectors(engine)
    columns = ", ".join(f"CAST(NULL AS {sql_type}) AS {name}" for name, sql_type in EVIDENCE_COLUMNS)
    engine.create_table("rule_evidence", f"SELECT {columns} LIMIT 0")
    for query in _rule_queries(settings):
        engine.insert_into("rule_evidence", query)


def _rule_queries(settings: FeaturesConfig) -> tuple[str, ...]:
    return (
        _carence_sql(),
        _renouvellements_sql(settings),
        _duree_max_sql(settings),
        _remplacement_sql(settings),
        _usage_sql(),
        _interim_sql(settings),
    )


def rule_definitions_text(settings: FeaturesConfig | None = None) -> str:
    """Everything that defines the checks (queries, sector table), for fingerprints of stored results."""
    sectors = "\n".join(",".join(map(str, row)) for row in _usage_sector_rows())
    return "\n".join((*_rule_queries(settings or FeaturesConfig()), sectors))


def rule_counts_sql() -> str:
    """SQL: one row per establishment of `establishments_asof` (establishment_siret), with `n_<rule>` for each
    rule of RULES and `n_rule_hits_total`: evidence rows whose event_date is in [window_start, as_of_end]."""
    per_rule = ",\n       ".join(f"count(CASE WHEN r.rule = '{rule.id}' THEN 1 END) AS n_{rule.id}" for rule in RULES)
    return f"""
WITH in_window AS (
    SELECT r.establishment_siret, r.rule
    FROM rule_evidence r, asof_params p
    WHERE r.event_date BETWEEN p.window_start AND p.as_of_end
)
SELECT e.siret AS establishment_siret,
       {per_rule},
       count(r.rule) AS n_rule_hits_total
FROM establishments_asof e
LEFT JOIN in_window r ON r.establishment_siret = e.siret
GROUP BY e.siret
"""
