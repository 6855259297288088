"""The rule queries as they were written before `duree_max` and `remplacement_sans_absence` were made faster: the
reference `champollion bench rules` times the rule queries against, on the same as-of tables, and whose rows
the tests compare with theirs.

`duree_max` sorted every fixed-term contract of the month into chains (now only those of the person-posts served
long enough to pass the limit); `remplacement_sans_absence` looked for the departure of an open-ended contract and
for a cascade around every replacement (now only around those no absence covers, and the cascade's absences by the
periods their start falls in), and named the job of every replacement. The other rules' queries did not change:
they are their own reference, and their ratio shows how much two runs of one query differ on this machine.
"""

from __future__ import annotations

from core.config import FeaturesConfig
from features.rules import (
    _LAST_DAY_KNOWN,
    RULES,
    _day_number,
    _duree_max_chains,
    _duree_max_select,
    _held_until,
    _is_capped,
    _is_replacement,
    _job_label,
    _left_by,
    _left_from,
    _remplacement_select,
    rule_queries,
)


def duree_max_before(settings: FeaturesConfig) -> str:
    """The duree_max query before: the chains of every fixed-term contract under the maximum."""
    return f"""
WITH capped AS (  -- fixed-term work under the 18-month maximum: motif 02 or none
    -- A contract no longer declared, its end not known yet, is counted up to its last declared month only.
    SELECT c.contract_id, c.siret, c.contract_number, c.establishment_siret, c.post, {_job_label('c')} AS post_label,
           c.person_key, c.kind, c.start_date, c.end_date, {_day_number('c.start_date')} AS start_day,
           {_day_number(_LAST_DAY_KNOWN)} AS end_day,
           -- the last day it surely ran: its declared end, else the first day of its last declared month
           greatest({_day_number('c.start_date')}, {_day_number(_left_from('c'))}) AS sure_end_day
    FROM contracts_asof c, asof_params p
    WHERE {_is_capped('c')}
),
{_duree_max_chains('capped', settings)}
SELECT {_duree_max_select(settings)}
FROM passed m
CROSS JOIN asof_params p
"""


def remplacement_before(settings: FeaturesConfig) -> str:
    """The remplacement_sans_absence query before: every replacement joined to the departures and the absences."""
    margin = int(settings.replacement_margin_days)
    return f"""
WITH replacements AS (
    SELECT c.contract_id, c.siret, c.contract_number, c.establishment_siret, c.post, {_job_label('c')} AS post_label,
           c.person_key, c.kind, c.start_date, c.end_date, c.period_end,
           {_day_number('c.start_date')} AS start_day, {_day_number('c.period_end')} AS end_day,
           {_day_number(_held_until('c'))} AS held_until_day
    FROM contracts_asof c
    WHERE {_is_replacement('c')}
),
justified AS (
    SELECT contract_id FROM covered_replacements
    UNION
    SELECT r.contract_id
    FROM replacements r
    JOIN contracts_asof d
      ON d.establishment_siret = r.establishment_siret AND d.post = r.post AND d.contract_id <> r.contract_id
     AND d.kind = 'cdi'
    CROSS JOIN asof_params p
    WHERE {_day_number(_left_from('d'))} <= r.start_day + {margin} AND {_day_number(_left_by('d'))} >= r.start_day - {margin} - 1
),
elsewhere AS (
    SELECT DISTINCT r.contract_id
    FROM replacements r
    JOIN absences_asof a
      ON a.establishment_siret = r.establishment_siret AND a.person_key <> r.person_key
     AND {_day_number('a.absence_start')} BETWEEN r.start_day - {margin} AND r.start_day + {margin}
     AND (a.absence_end IS NULL OR {_day_number('a.absence_end')} >= r.held_until_day - {margin})
    LEFT JOIN covered_replacements v
      ON v.establishment_siret = a.establishment_siret AND v.absence_post = a.post
     AND v.absence_person_key = a.person_key AND v.absence_start_day = {_day_number('a.absence_start')}
    WHERE v.contract_id IS NULL
)
SELECT {_remplacement_select(settings)}
FROM replacements r
CROSS JOIN asof_params p
LEFT JOIN justified j ON j.contract_id = r.contract_id
LEFT JOIN elsewhere x ON x.contract_id = r.contract_id
WHERE j.contract_id IS NULL
"""


def reference_rule_queries(settings: FeaturesConfig) -> dict[str, str]:
    """The reference query of each rule of RULES, by rule id, in their order."""
    current = dict(zip((rule.id for rule in RULES), rule_queries(settings), strict=True))
    return {**current, "duree_max": duree_max_before(settings), "remplacement_sans_absence": remplacement_before(settings)}
