"""Rebuild contracts from the monthly snapshots, as known at the end of a month.

A contract is one establishment + person + contract number + start date. It appears in every
monthly declaration while it runs; its planned end may be pushed later (each push is a renewal);
it ends with an end block, or, when none comes, its end is inferred once the establishment has
declared `inferred_end_after_months` more months without it.

Everything is computed from declarations of months up to and including `as_of`: a contract end
declared in a later month is unknown as of this one.
"""

from __future__ import annotations

from datetime import date

TEMP_AGENCY_NAF = "7820Z"
END_CANCELLED = "099"  # motif de rupture 'Annulation': the end declared before is withdrawn


def month_start(value: date) -> date:
    return value.replace(day=1)


def rebuild_contracts_sql(
    as_of: date | None, inferred_end_after_months: int = 3, history_start: date | None = None
) -> str:
    """SQL (DuckDB) of the contracts as known at the end of month `as_of` (None: everything).

    Only snapshots of months from `history_start` on are read (None: all): a contract that started
    earlier keeps its true start date, but renewals before that month are not seen. Reads the views `contract_months`, `contract_ends`, `contract_changes` and `declarations`
    (see features.engine.attach_warehouse).
    """
    cutoff = f"DATE '{month_start(as_of).isoformat()}'" if as_of else "DATE '9999-12-01'"
    since = f"DATE '{month_start(history_start).isoformat()}'" if history_start else "DATE '0001-01-01'"
    n = int(inferred_end_after_months)
    return f"""
WITH
known_changes AS (
    SELECT * FROM contract_changes WHERE month BETWEEN {since} AND {cutoff}
),
-- A change block may carry the contract's former number or start date: earlier snapshots
-- declared under the old identity belong to the same contract.
renamed AS (
    SELECT DISTINCT siret, person_key,
           coalesce(old_contract_number, contract_number) AS old_number,
           coalesce(old_start_date, start_date) AS old_start,
           contract_number AS new_number, start_date AS new_start
    FROM known_changes
    WHERE coalesce(old_contract_number, contract_number) <> contract_number
       OR coalesce(old_start_date, start_date) <> start_date
),
snapshots AS (
    SELECT cm.* REPLACE (
               coalesce(r.new_number, cm.contract_number) AS contract_number,
               coalesce(r.new_start, cm.start_date) AS start_date)
    FROM contract_months cm
    LEFT JOIN renamed r
      ON r.siret = cm.siret AND r.person_key = cm.person_key
     AND r.old_number = cm.contract_number AND r.old_start = cm.start_date
    WHERE cm.month BETWEEN {since} AND {cutoff}
),
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY siret, person_key, contract_number, start_date
                              ORDER BY month DESC, declaration_key DESC, line DESC) AS rank_from_last,
           row_number() OVER (PARTITION BY siret, person_key, contract_number, start_date
                              ORDER BY month, declaration_key, line) AS rank_from_first,
           lag(planned_end) OVER (
               PARTITION BY siret, person_key, contract_number, start_date ORDER BY month, declaration_key, line
           ) AS previous_planned_end
    FROM snapshots
),
-- Values "as last declared" keep NULLs (a CDD turned CDI has no motif any more), which is why they
-- are picked by rank rather than with arg_max, which skips NULLs.
per_contract AS (
    SELECT siret, person_key, contract_number, start_date,
           max(CASE WHEN rank_from_last = 1 THEN nature END) AS nature,
           max(CASE WHEN rank_from_first = 1 THEN nature END) AS nature_first,
           max(CASE WHEN rank_from_last = 1 THEN motif END) AS motif,
           max(CASE WHEN rank_from_first = 1 THEN motif END) AS motif_first,
           max(CASE WHEN rank_from_last = 1 THEN job_title END) AS job_title,
           max(CASE WHEN rank_from_last = 1 THEN post END) AS post,
           max(CASE WHEN rank_from_last = 1 THEN pcs END) AS pcs,
           max(CASE WHEN rank_from_first = 1 THEN planned_end END) AS planned_end_first,
           max(CASE WHEN rank_from_last = 1 THEN planned_end END) AS planned_end_last,
           count(*) FILTER (WHERE planned_end > previous_planned_end) AS renewals,
           min(month) AS first_month,
           max(month) AS last_month,
           count(DISTINCT month) AS months_declared,
           max(CASE WHEN rank_from_last = 1 THEN contract_hours END) AS contract_hours,
           max(CASE WHEN rank_from_last = 1 THEN time_mode END) AS time_mode,
           sum(hours_worked) AS hours_worked,
           max(CASE WHEN rank_from_last = 1 THEN workplace END) AS workplace,
           max(CASE WHEN rank_from_last = 1 THEN user_siret END) AS user_siret
    FROM ordered
    GROUP BY siret, person_key, contract_number, start_date
),
first_change AS (
    SELECT siret, person_key, contract_number, start_date,
           arg_min(old_nature, change_date) FILTER (WHERE old_nature IS NOT NULL) AS old_nature,
           min(change_date) FILTER (WHERE old_nature IS NOT NULL) AS nature_change_date,
           arg_min(old_motif, change_date) FILTER (WHERE old_motif IS NOT NULL) AS old_motif
    FROM known_changes
    GROUP BY ALL
),
-- The latest end block counts; motif 099 (annulation) withdraws an end declared earlier.
latest_end AS (
    SELECT siret, person_key, contract_number, start_date, end_date, end_motif,
           row_number() OVER (PARTITION BY siret, person_key, contract_number, start_date
                              ORDER BY month DESC, declaration_key DESC) AS rank_from_last
    FROM contract_ends
    WHERE month BETWEEN {since} AND {cutoff} AND end_date IS NOT NULL
),
declared_end AS (
    SELECT siret, person_key, contract_number, start_date, end_date, end_motif
    FROM latest_end WHERE rank_from_last = 1 AND coalesce(end_motif, '') <> '{END_CANCELLED}'
),
declared_months AS (
    SELECT DISTINCT siret, month FROM declarations WHERE month <= {cutoff}
),
declarant AS (
    SELECT siret, arg_max(naf, month) AS naf FROM declarations WHERE month <= {cutoff} GROUP BY siret
),
months_after AS (
    SELECT c.siret, c.person_key, c.contract_number, c.start_date, count(d.month) AS months_after_last
    FROM per_contract c
    JOIN declared_months d ON d.siret = c.siret AND d.month > c.last_month
    GROUP BY ALL
)
SELECT
    md5(c.siret || '|' || c.person_key || '|' || c.contract_number || '|' || CAST(c.start_date AS VARCHAR))[:20]
        AS contract_id,
    c.siret, c.person_key, c.contract_number, c.start_date,
    c.nature,
    coalesce(fc.old_nature, c.nature_first) AS nature_initial,
    fc.nature_change_date,
    c.motif,
    coalesce(fc.old_motif, c.motif_first) AS motif_initial,
    c.job_title, c.post, c.pcs, c.planned_end_first, c.planned_end_last, c.renewals,
    CASE
        WHEN de.end_date IS NOT NULL THEN de.end_date
        WHEN coalesce(ma.months_after_last, 0) >= {n} THEN
            CASE WHEN c.planned_end_last BETWEEN greatest(c.last_month, c.start_date) AND last_day(c.last_month)
                 THEN c.planned_end_last
                 ELSE greatest(last_day(c.last_month), c.start_date) END
    END AS end_date,
    de.end_date IS NOT NULL AS end_declared,
    de.end_date IS NULL AND coalesce(ma.months_after_last, 0) >= {n} AS end_inferred,
    de.end_motif,
    c.first_month, c.last_month, c.months_declared, c.contract_hours, c.time_mode, c.hours_worked,
    c.workplace, c.user_siret,
    (c.nature = '03' AND e.naf = '{TEMP_AGENCY_NAF}') AS is_temp_mission,
    CASE WHEN c.nature = '03' AND e.naf = '{TEMP_AGENCY_NAF}'
              AND regexp_full_match(coalesce(c.user_siret, ''), '[0-9]{{14}}')
         THEN c.user_siret ELSE c.siret END AS attributed_siret
FROM per_contract c
LEFT JOIN first_change fc USING (siret, person_key, contract_number, start_date)
LEFT JOIN declared_end de USING (siret, person_key, contract_number, start_date)
LEFT JOIN months_after ma USING (siret, person_key, contract_number, start_date)
LEFT JOIN declarant e ON e.siret = c.siret
"""
