"""Rebuild contracts from the monthly snapshots, as known at the end of a month.

A contract is one establishment + person + contract number + start date. It appears in every
monthly declaration while it runs; its planned end may be pushed later (each push is a renewal);
it ends with an end block, or, when none comes, its end is inferred once the establishment has
declared `inferred_end_after_months` more months without it (`end_inferred`): at its last declared
planned end when that falls in its last declared month (`end_at_planned`), else at the end of that month.

Everything is computed from declarations of months up to and including `as_of`: a contract end
declared in a later month is unknown as of this one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from core.months import month_start
from core.sql_literals import sql_string, sql_string_list

TEMP_AGENCY_NAF = "7820Z"
STATES_FILE = "contract_states.parquet"
# The columns of the versioned contracts read now besides the state itself (CONTRACT_STATES_SQL): those that bound each
# state by its neighbours, and the contract's id, hashed once at ingestion rather than every month (its two MD5s over
# the national preset's 47.8 M states: 19.3 s on two cores, against 1.7 s to read the same keys without them).
STATE_COLUMNS = ("previous_run_to", "next_run_from", "contract_id")
# The order in which an establishment's (or a workplace's) declarations are read "as last declared": by month, then
# by declaration, since a month may hold several (fractions, several agencies declaring one workplace); without a
# total order each engine, and each of DuckDB's threads, would pick its own value among them. One string (the month in
# fixed width, then the declaration's key: the parser writes a key for every declaration and four-digit years) orders
# them as the pair would, and costs a third less than a struct as an arg_max key (the establishments as of a national
# month: 9.1 s against 13.5); a key missing all the same would leave its row ordered by month, not left out.
LAST_DECLARED = "strftime(month, '%Y-%m') || coalesce(declaration_key, '')"
# Row groups of the versioned contracts (sorted by SIRET): an establishment's page reads one or two of them.
STATES_ROW_GROUP_ROWS = 32_768
END_CANCELLED = "099"  # motif de rupture 'Annulation': withdraws the end of its date declared before it
# A declarant's NAF as last declared: a temp-work agency's (TEMP_AGENCY_NAF) missions count at their users.
DECLARANT_NAF = f"arg_max(naf, {LAST_DECLARED})"
# Hours are rounded to whole ten-thousandths of an hour (the DSN declares hundredths), then summed as integers: exactly,
# so the order the engine's threads add rows in, or another engine's, does not change the last bits (sums of doubles
# did: two ingestions of the same files, or the same month's features computed twice, differed in their last digits).
# The parser refuses hours above `warehouse.dsn.parser.MAX_HOURS`, so the integers stay far below 2**63.
HOUR_UNITS = 10_000


def hour_units(hours: str) -> str:
    """SQL: the hours of expression `hours` as whole ten-thousandths of an hour, to be summed exactly."""
    return f"CAST(round({hours} * {HOUR_UNITS}) AS BIGINT)"


def hours_sum(hours: str, where: str | None = None) -> str:
    """SQL: the sum of the hours of expression `hours` (of the rows where SQL condition `where` holds, if given), each
    rounded to ten-thousandths, summed exactly (a double; NULL when no row has hours)."""
    return f"sum({hour_units(hours)}){f' FILTER (WHERE {where})' if where else ''} / {HOUR_UNITS}"


def has_contract_states(warehouse: Path) -> bool:
    """Whether the warehouse holds the versioned contracts as they are read now (written by ingestion since they
    exist; a file written before the states carried `STATE_COLUMNS` is not read)."""
    path = warehouse / STATES_FILE
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    return _current_states(path, found.st_ino, found.st_mtime_ns, found.st_size)


@functools.lru_cache(maxsize=16)
def _current_states(path: Path, inode: int, modified_ns: int, size: int) -> bool:
    """Whether the states file holds `STATE_COLUMNS`, read once per version of the file (a file is replaced, never
    rewritten in place: a new one is another inode). Its footer lists every row group: ~50 ms at national scale,
    once, not on every establishment's page."""
    return set(STATE_COLUMNS) <= set(pq.read_schema(path).names)


# A contract's id: 20 hex characters, the first ten a hash of its declarant, number and start, the last ten of its
# person's too. Every order that breaks ties by contract id (the rule passes, the chains, the evidence) then reads the
# declared identity before the pseudonym, so which contracts a rule finds, and in what order, does not depend on the
# pseudonymisation key, except between contracts of one declarant that share a number and a start. When the whole id
# hashed the pseudonym, two keys on the national preset at scale 0.02 gave other rule counts for 1,231 of its 36,144
# establishments (3.4 %). The versioned contracts store it (`contract_id`, STATE_COLUMNS): another formula needs
# another column name there, so that the files holding ids of the former one are not read.
def contract_id_sql(alias: str) -> str:
    """SQL: the id of the contract of row `alias` (with siret, person_key, contract_number, start_date)."""
    declared = f"{alias}.siret || '|' || {alias}.contract_number || '|' || CAST({alias}.start_date AS VARCHAR)"
    person = (f"{alias}.siret || '|' || {alias}.person_key || '|' || {alias}.contract_number || '|' || "
              f"CAST({alias}.start_date AS VARCHAR)")
    return f"substr(md5({declared}), 1, 10) || substr(md5({person}), 1, 10)"


CONTRACT_ID_SQL = contract_id_sql("c")


def planned_end_in_last_month(alias: str) -> str:
    """SQL: the contract `alias` (with `planned_end_last`, `last_month`, `start_date`) was last declared in the month of
    its declared planned end: when no end is declared, the end is inferred there (module docstring)."""
    return (f"{alias}.planned_end_last BETWEEN greatest({alias}.last_month, {alias}.start_date) "
            f"AND last_day({alias}.last_month)")


def rebuild_contracts_sql(
    as_of: date | None, inferred_end_after_months: int = 3, history_start: date | None = None,
    sirets: tuple[str | None, str | None] = (None, None), window_start: date | None = None,
    features_only: bool = False, declarants: Sequence[str] | None = None, from_states: bool = False,
    declared_by: tuple[str, bool] | None = None, left_out: Sequence[str] = (), declarants_of: str | None = None,
) -> str:
    """SQL (DuckDB) of the contracts as known at the end of month `as_of` (None: everything).

    Only snapshots of months from `history_start` on are read (None: all): a contract that started
    earlier keeps its true start date, but renewals before that month are not seen. Reads the views
    `contract_months`, `contract_ends`, `contract_changes` and `declarations` (see warehouse.engine.attach_warehouse).

    With `window_start`, a column `hours_worked_in_window` sums the paid hours declared from that
    month on (the snapshots of a contract's former identity included).

    `sirets=(low, high)` keeps only the declaring establishments with low <= siret < high (None: no
    bound): every row of a contract carries its declaring establishment, so ranges that cover all
    SIRETs together give the whole result, each range's aggregates fit in memory at national scale,
    and Parquet row groups whose SIRETs all fall outside the range are not read.

    `declarants` keeps only these declaring establishments (none if the list is empty), named in the query: the
    Parquet reader then skips the row groups of other SIRETs by their statistics and drops the other rows before
    decoding their columns (a few SIRETs in one scan, where ranges would need one scan each). Each scan names them
    all: planning the query grows with their number.

    `declared_by=(table, among)` keeps only the declaring establishments listed in the column `declarant` of
    `table` (`among` true), or only those not listed there, a missing SIRET included (false); `table` has no NULL
    declarant (`temp_agencies_sql`).

    `left_out` names declarations (their keys) whose rows are not read: those that arrived after a list was drawn up
    (`warehouse.arrivals`), read from the snapshots only.

    `features_only` leaves out the columns no feature or rule reads (first declared nature, motif and
    planned end, job title, workplace, months declared, total hours, end_declared, is_temp_mission):
    picking first-declared values and carrying the wide strings cost a fifth of the rebuild at
    national scale, and memory in the as-of table.

    `declarants_of` names a table of every declarant as of `as_of` (`declarants_sql`, with the same
    `inferred_end_after_months`), read instead of the declarations for each declarant's NAF and the month before
    which a contract it no longer declares has its end inferred: a month computed by ranges of establishments reads
    the declarations once, not once per range.

    `from_states` (with `features_only`, `as_of` and `history_start`) reads the versioned table
    `contract_states` (see `CONTRACT_STATES_SQL`) instead of every snapshot: the same result, from one
    row per state of a contract rather than one per month. Contracts a change block renames are read
    from `renamed_snapshots`, their snapshots, and rebuilt as above.
    """
    if from_states and not (features_only and as_of and history_start):
        raise ValueError("contracts are read from their states only as of a month, over a history, for the features")
    if from_states and left_out:
        raise ValueError("the versioned contracts hold every declaration: leaving some out reads the snapshots")
    if declarants_of and left_out:
        raise ValueError("the declarants' table holds every declaration: leaving some out reads the declarations")
    cutoff = f"DATE '{month_start(as_of).isoformat()}'" if as_of else "DATE '9999-12-01'"
    since = f"DATE '{month_start(history_start).isoformat()}'" if history_start else "DATE '0001-01-01'"
    n = int(inferred_end_after_months)
    in_window = (
        f", {hours_sum('hours_worked', 'month >= DATE ' + sql_string(month_start(window_start).isoformat()))} "
        "AS hours_worked_in_window"
        if window_start else ""
    )
    low, high = sirets

    def declared(alias: str = "") -> str:
        """The conditions on the declaring establishment and the declaration, of the table `alias` (with its dot)."""
        siret = f"{alias}siret"
        return (
            (f"AND ({siret} >= {sql_string(low)}" + (f" OR {siret} IS NULL)" if high is None else ")")
             if low is not None else "")
            + (f" AND {siret} < {sql_string(high)}" if high is not None else "")
            + ("" if declarants is None else
               f" AND {siret} IN ({sql_string_list(declarants)})" if declarants else " AND false")
            + ((f" AND {siret} IN (SELECT declarant FROM {declared_by[0]})" if declared_by[1] else
                f" AND ({siret} IS NULL OR {siret} NOT IN (SELECT declarant FROM {declared_by[0]}))")
               if declared_by else "")
            + (f" AND {alias}declaration_key NOT IN ({sql_string_list(left_out)})" if left_out else "")
        )

    only = declared()
    # Distinct months as bits of one integer when the history fits in 64 months: count(DISTINCT)
    # costs as much as the rest of the aggregate at national scale.
    span = (month_start(as_of).year * 12 + as_of.month) - (history_start.year * 12 + history_start.month) if (
        as_of and history_start) else None
    months_declared = (
        f"bit_count(bit_or(CAST(1 AS UBIGINT) << CAST(datediff('month', {since}, month) AS UBIGINT)))"
        if span is not None and 0 <= span < 64 else "count(DISTINCT month)"
    )
    full = not features_only
    last_fields = ", ".join(
        f"{name} := {name}" for name in (
            "nature", "motif", *(["job_title"] if full else []), "post", "pcs", "planned_end", "contract_hours",
            "time_mode", *(["workplace"] if full else []), "user_siret", "idcc"))
    first_declared = (
        "arg_min_null(struct_pack(nature := nature, motif := motif, planned_end := planned_end),\n"
        "                        struct_pack(month := month, declaration_key := declaration_key, line := line)) AS first_row,\n"
        f"           {months_declared} AS months_declared, {hours_sum('hours_worked')} AS hours_worked,"
        if full else ""
    )
    first_values = (
        "a.first_row.nature AS nature_first, a.first_row.motif AS motif_first, "
        "a.first_row.planned_end AS planned_end_first, a.last_row.job_title AS job_title, "
        "a.months_declared, a.hours_worked, a.last_row.workplace AS workplace,"
        if full else ""
    )
    first_change = """
first_change AS (
    SELECT siret, person_key, contract_number, start_date,
           arg_min(old_nature, change_date) FILTER (WHERE old_nature IS NOT NULL) AS old_nature,
           min(change_date) FILTER (WHERE old_nature IS NOT NULL) AS nature_change_date,
           arg_min(old_motif, change_date) FILTER (WHERE old_motif IS NOT NULL) AS old_motif
    FROM known_changes
    GROUP BY ALL
),""" if full else ""
    initial_values = """
    coalesce(fc.old_nature, c.nature_first) AS nature_initial,
    fc.nature_change_date,""" if full else ""
    initial_motif = "\n    coalesce(fc.old_motif, c.motif_first) AS motif_initial," if full else ""
    end_values = """
    de.end_date IS NOT NULL AS end_declared,""" if full else ""
    contract_values = (
        "c.job_title, c.post, c.pcs, c.planned_end_first, c.planned_end_last" if full else "c.post, c.pcs, c.planned_end_last")
    month_values = (
        "c.first_month, c.last_month, c.months_declared, c.contract_hours, c.time_mode, c.hours_worked"
        if full else "c.first_month, c.last_month, c.contract_hours, c.time_mode")
    place_values = "c.workplace, c.user_siret," if full else "c.user_siret,"
    # An end not declared is inferred at the declared planned end when the contract was last declared in its month.
    planned_end_reached = planned_end_in_last_month("c")
    temp_mission = f"\n    (c.nature = '03' AND e.naf = '{TEMP_AGENCY_NAF}') AS is_temp_mission," if full else ""
    change_join = "LEFT JOIN first_change fc USING (siret, person_key, contract_number, start_date)\n" if full else ""
    # The contract's establishment declared `n` months after its last one: its end is inferred (module docstring).
    gone = ("coalesce(c.last_month < e.ends_inferred_after, false)" if declarants_of else
            f"coalesce(ma.months_after, 0) >= {n}")
    declarant_ctes = "" if declarants_of else f""",
-- For each month an establishment declared, how many months it declared after it, read at a
-- contract's last month (always a month its establishment declared: snapshots come from its declarations).
declared_months AS (
    SELECT siret, month,
           count(*) OVER (PARTITION BY siret ORDER BY month DESC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS months_after
    FROM (SELECT DISTINCT siret, month FROM declarations WHERE month <= {cutoff} {only})
),
declarant AS (
    SELECT siret, {DECLARANT_NAF} AS naf
    FROM declarations WHERE month <= {cutoff} {only} GROUP BY siret
)"""
    months_join = "" if declarants_of else "LEFT JOIN declared_months ma ON ma.siret = c.siret AND ma.month = c.last_month\n"
    return f"""
WITH
known_changes AS (
    SELECT * FROM contract_changes WHERE month BETWEEN {since} AND {cutoff} {only}
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
snapshots AS NOT MATERIALIZED (
    SELECT cm.* REPLACE (
               coalesce(r.new_number, cm.contract_number) AS contract_number,
               coalesce(r.new_start, cm.start_date) AS start_date)
    FROM {"renamed_snapshots" if from_states else "contract_months"} cm
    LEFT JOIN renamed r
      ON r.siret = cm.siret AND r.person_key = cm.person_key
     AND r.old_number = cm.contract_number AND r.old_start = cm.start_date
    WHERE cm.month BETWEEN {since} AND {cutoff} {declared('cm.')}
),
-- A renewal is a declared planned end later than the one declared before it; snapshots that declare
-- none (a CDI, a month's omission) neither count nor interrupt. Read apart from the aggregate below:
-- materialising every snapshot for both costs more than reading the dated ones twice.
pushes AS (
    SELECT siret, person_key, contract_number, start_date,
           count(*) FILTER (WHERE planned_end > previous_planned_end) AS renewals
    FROM (
        SELECT siret, person_key, contract_number, start_date, planned_end,
               lag(planned_end) OVER (PARTITION BY siret, person_key, contract_number, start_date
                                      ORDER BY month, declaration_key, line) AS previous_planned_end
        FROM snapshots WHERE planned_end IS NOT NULL
    )
    GROUP BY ALL
),
-- Values "as last declared" keep NULLs (a CDD turned CDI has no motif any more): arg_max_null.
aggregated AS (
    SELECT siret, person_key, contract_number, start_date,
           arg_max_null(struct_pack({last_fields}),
                        struct_pack(month := month, declaration_key := declaration_key, line := line)) AS last_row,
           {first_declared}
           min(month) AS first_month, max(month) AS last_month{in_window}
    FROM snapshots
    GROUP BY siret, person_key, contract_number, start_date
),
per_contract AS ({_states_per_contract_sql(cutoff, since, window_start, only) if from_states else ""}
    SELECT {contract_id_sql("a")} AS contract_id, a.siret, a.person_key, a.contract_number, a.start_date,
           a.last_row.nature AS nature, a.last_row.motif AS motif, a.last_row.post AS post, a.last_row.pcs AS pcs,
           a.last_row.planned_end AS planned_end_last, coalesce(p.renewals, 0) AS renewals,
           a.first_month, a.last_month,
           a.last_row.contract_hours AS contract_hours,
           a.last_row.time_mode AS time_mode{in_window and ', a.hours_worked_in_window'},
           {first_values} a.last_row.user_siret AS user_siret, a.last_row.idcc AS idcc
    FROM aggregated a
    LEFT JOIN pushes p USING (siret, person_key, contract_number, start_date)
),{first_change}
-- End blocks (S21.G00.62). An annulation (motif 099) withdraws the end of its own date declared in an earlier month.
-- The fractions of a month are one declaration (no order among them decides), and an annulation withdraws nothing of
-- its own month: what a month declares does not depend on the months before the history read. Of the ends left, the
-- latest month's counts, and of two in one month the later end, then the greater motif (a total order, the same on
-- every engine and thread).
end_blocks AS (
    SELECT siret, person_key, contract_number, start_date, month, end_date, end_motif,
           coalesce(end_motif, '') = '{END_CANCELLED}' AS annulation
    FROM contract_ends
    WHERE month BETWEEN {since} AND {cutoff} AND end_date IS NOT NULL {only}
),
annulations AS (
    SELECT siret, person_key, contract_number, start_date, end_date, max(month) AS annulled_in
    FROM end_blocks WHERE annulation
    GROUP BY siret, person_key, contract_number, start_date, end_date
),
latest_end AS (
    SELECT siret, person_key, contract_number, start_date,
           arg_max(struct_pack(end_date := end_date, end_motif := end_motif),
                   struct_pack(month := e.month, end_date := end_date, end_motif := coalesce(end_motif, ''))) AS latest
    FROM end_blocks e
    LEFT JOIN annulations a USING (siret, person_key, contract_number, start_date, end_date)
    WHERE NOT e.annulation AND (a.annulled_in IS NULL OR a.annulled_in <= e.month)
    GROUP BY siret, person_key, contract_number, start_date
),
declared_end AS (
    SELECT siret, person_key, contract_number, start_date, latest.end_date AS end_date, latest.end_motif AS end_motif
    FROM latest_end
){declarant_ctes}
SELECT
    c.contract_id,
    c.siret, c.person_key, c.contract_number, c.start_date,
    c.nature,{initial_values}
    c.motif,{initial_motif}
    {contract_values}, c.renewals,
    CASE
        WHEN de.end_date IS NOT NULL THEN de.end_date
        WHEN {gone} THEN
            CASE WHEN {planned_end_reached} THEN c.planned_end_last
                 ELSE greatest(last_day(c.last_month), c.start_date) END
    END AS end_date,{end_values}
    de.end_date IS NULL AND {gone} AS end_inferred,
    de.end_date IS NULL AND {gone} AND coalesce({planned_end_reached}, false)
        AS end_at_planned,
    de.end_motif,
    {month_values}{in_window and ', c.hours_worked_in_window'},
    {place_values}{temp_mission}
    c.idcc,
    CASE WHEN c.nature = '03' AND e.naf = '{TEMP_AGENCY_NAF}'
              AND regexp_full_match(coalesce(c.user_siret, ''), '[0-9]{{14}}')
         THEN c.user_siret ELSE c.siret END AS attributed_siret
FROM per_contract c
{change_join}LEFT JOIN declared_end de USING (siret, person_key, contract_number, start_date)
{months_join}LEFT JOIN {f"(SELECT * FROM {declarants_of} WHERE true {only})" if declarants_of else "declarant"} e
    ON e.siret = c.siret
"""


def declarants_sql(inferred_end_after_months: int) -> str:
    """SQL (DuckDB) of every declarant as of the month of the one-row table `asof_params`, for
    `rebuild_contracts_sql`'s `declarants_of` with the same `inferred_end_after_months` n: its NAF as last declared,
    and `ends_inferred_after`, the n-th latest month it declared (NULL: it declared fewer). A contract last declared
    before that month is one its establishment declared n more months without: its end is inferred."""
    return f"""SELECT siret, {DECLARANT_NAF} AS naf,
       list_sort(list_distinct(list(month)), 'DESC')[{int(inferred_end_after_months)}] AS ends_inferred_after
FROM declarations, asof_params p WHERE month <= p.as_of AND siret IS NOT NULL
GROUP BY siret"""


def temp_agencies_sql(declarants: str) -> str:
    """SQL: the temp-work agencies among the declarants of table `declarants` (`declarants_sql`): those whose contracts
    of nature 03 count at their users (`attributed_siret` in `rebuild_contracts_sql`, by the same test). A month by
    ranges of establishments (features.asof.prepare_month) rebuilds their contracts apart; one missing here would have
    its missions computed in its own range, away from their users (tests/test_month_by_ranges.py)."""
    return f"SELECT siret AS declarant FROM {declarants} WHERE naf = '{TEMP_AGENCY_NAF}'"


# A snapshot `cm` of an identity `r` (ON, not USING: Spark puts USING's columns first in `cm.*`).
_SAME_IDENTITY = ("r.siret = cm.siret AND r.person_key = cm.person_key AND r.contract_number = cm.contract_number "
                  "AND r.start_date = cm.start_date")

# Identities (siret, person, number, start) a change block renames, on either side of the change.
_RENAMED_IDENTITIES = """
    SELECT siret, person_key, coalesce(old_contract_number, contract_number) AS contract_number,
           coalesce(old_start_date, start_date) AS start_date
    FROM contract_changes
    WHERE coalesce(old_contract_number, contract_number) <> contract_number
       OR coalesce(old_start_date, start_date) <> start_date
    UNION
    SELECT siret, person_key, contract_number, start_date
    FROM contract_changes
    WHERE coalesce(old_contract_number, contract_number) <> contract_number
       OR coalesce(old_start_date, start_date) <> start_date
"""

# The versioned contracts: each state of a contract, from the declared month it was first known in
# (`run_from`) to the last consecutive month declaring it unchanged (`run_to`); the state holds until
# the next one starts. A state is the contract as last declared in those months (`state`), its paid
# hours in each of them (`hours`, the same every month of a state), and the renewals its first month
# declared (`pushes`: planned ends later than the one declared before, over the whole history;
# `first_push_prev_month`: when the first snapshot of that month is a push, the month of the snapshot
# it pushes, so that a history starting after it can leave it out). A month declaring the contract
# twice is a state of its own, and so is a month after a gap. `previous_run_to` and `next_run_from`
# bound the contract's states before and after this one (NULL: none), so that a contract with a single
# state over a history is read as that row, without grouping (`_states_per_contract_sql`); `contract_id` is the
# contract's (`CONTRACT_ID_SQL`). Contracts renamed by a change block are left out: their snapshots are
# `RENAMED_SNAPSHOTS_SQL`, rebuilt as of each month.
CONTRACT_STATES_SQL = f"""
WITH
renamed AS ({_RENAMED_IDENTITIES}),
kept AS NOT MATERIALIZED (
    SELECT cm.* FROM contract_months cm ANTI JOIN renamed r ON {_SAME_IDENTITY}
),
dated AS (
    SELECT siret, person_key, contract_number, start_date, month, declaration_key, line,
           planned_end > lag(planned_end) OVER w AS is_push, lag(month) OVER w AS previous_month
    FROM kept WHERE planned_end IS NOT NULL
    WINDOW w AS (PARTITION BY siret, person_key, contract_number, start_date ORDER BY month, declaration_key, line)
),
month_pushes AS (
    SELECT siret, person_key, contract_number, start_date, month,
           count(*) FILTER (WHERE is_push) AS pushes,
           arg_min_null(CASE WHEN is_push THEN previous_month END,
                        struct_pack(declaration_key := declaration_key, line := line)) AS first_push_prev_month
    FROM dated
    GROUP BY siret, person_key, contract_number, start_date, month
),
monthly AS (
    SELECT siret, person_key, contract_number, start_date, month,
           arg_max_null(struct_pack(nature := nature, motif := motif, post := post, pcs := pcs, planned_end := planned_end,
                                    contract_hours := contract_hours, time_mode := time_mode, user_siret := user_siret,
                                    idcc := idcc),
                        struct_pack(declaration_key := declaration_key, line := line)) AS state,
           {hours_sum('hours_worked')} AS hours, count(*) AS snapshots
    FROM kept
    GROUP BY siret, person_key, contract_number, start_date, month
),
-- Gaps and islands: the months of a contract with the same declared values and hours, one after the other,
-- form one state (their month number minus their rank among those months is constant). A month declaring
-- the contract more than once is a state of its own (`alone`), and the month after it starts another (a
-- gap among the other months). A renewal always starts a state: with one snapshot a month, a planned end
-- later than the one declared before is a value the month before did not declare.
islands AS (
    SELECT m.*, coalesce(p.pushes, 0) AS pushes, p.first_push_prev_month, m.snapshots > 1 AS alone,
           datediff('month', DATE '2000-01-01', m.month)
           - row_number() OVER (PARTITION BY m.siret, m.person_key, m.contract_number, m.start_date, m.state, m.hours,
                                             m.snapshots > 1
                                ORDER BY m.month) AS island
    FROM monthly m
    LEFT JOIN month_pushes p USING (siret, person_key, contract_number, start_date, month)
),
states AS (
    SELECT siret, person_key, contract_number, start_date, min(month) AS run_from, max(month) AS run_to,
           any_value(state) AS state, any_value(hours) AS hours, CAST(sum(pushes) AS BIGINT) AS pushes,
           min(first_push_prev_month) AS first_push_prev_month
    FROM islands
    GROUP BY siret, person_key, contract_number, start_date, state, hours, alone, island, CASE WHEN alone THEN month END
)
SELECT c.*, lag(run_to) OVER w AS previous_run_to, lead(run_from) OVER w AS next_run_from, {CONTRACT_ID_SQL} AS contract_id
FROM states c
WINDOW w AS (PARTITION BY siret, person_key, contract_number, start_date ORDER BY run_from)
"""

# The snapshots of the contracts a change block renames (left out of CONTRACT_STATES_SQL).
RENAMED_SNAPSHOTS_SQL = f"""
WITH renamed AS ({_RENAMED_IDENTITIES})
SELECT cm.* FROM contract_months cm SEMI JOIN renamed r ON {_SAME_IDENTITY}
"""


def _states_per_contract_sql(cutoff: str, since: str, window_start: date | None, only: str) -> str:
    """The per-contract rows of `rebuild_contracts_sql` from `contract_states` as of month `cutoff` over
    the history from `since` (SQL dates), followed by UNION ALL: the states overlapping the history,
    their last one as last declared, months and renewals cut to the history.

    A contract with one state overlapping the history (most of them) is that state's row, read without grouping;
    the others are grouped by contract: the same values (a sum over one row is that row)."""
    in_history = f"run_from <= {cutoff} AND run_to >= {since} {only}"
    alone = (f"(previous_run_to IS NULL OR previous_run_to < {since}) "
             f"AND (next_run_from IS NULL OR next_run_from > {cutoff})")
    renewed = f"CASE WHEN run_from >= {since} THEN pushes - CASE WHEN first_push_prev_month < {since} THEN 1 ELSE 0 END END"
    # Hours are summed over the window's months the history holds (the window may start before it).
    counted_from = f"greatest(DATE '{month_start(window_start).isoformat()}', {since})" if window_start else ""
    worked = f"{hour_units('hours')} * (datediff('month', greatest(run_from, {counted_from}), least(run_to, {cutoff})) + 1)"
    hours_grouped = (f", sum({worked}) FILTER (WHERE run_to >= {counted_from}) / {HOUR_UNITS} AS hours_worked_in_window"
                     if window_start else "")
    hours_alone = (f", CASE WHEN run_to >= {counted_from} THEN {worked} / {HOUR_UNITS} END AS hours_worked_in_window"
                   if window_start else "")
    return f"""
    SELECT contract_id, siret, person_key, contract_number, start_date,
           last_state.nature, last_state.motif, last_state.post, last_state.pcs,
           last_state.planned_end AS planned_end_last, renewals, first_month, last_month,
           last_state.contract_hours, last_state.time_mode{', hours_worked_in_window' if window_start else ''},
           last_state.user_siret, last_state.idcc
    FROM (
        SELECT min(contract_id) AS contract_id, siret, person_key, contract_number, start_date,
               arg_max(state, run_from) AS last_state,
               CAST(coalesce(sum({renewed}), 0) AS BIGINT) AS renewals,
               greatest(min(run_from), {since}) AS first_month, least(max(run_to), {cutoff}) AS last_month{hours_grouped}
        FROM contract_states
        WHERE {in_history} AND NOT ({alone})
        GROUP BY siret, person_key, contract_number, start_date
        UNION ALL
        SELECT contract_id, siret, person_key, contract_number, start_date, state AS last_state,
               CAST(coalesce({renewed}, 0) AS BIGINT) AS renewals,
               greatest(run_from, {since}) AS first_month, least(run_to, {cutoff}) AS last_month{hours_alone}
        FROM contract_states
        WHERE {in_history} AND {alone}
    )
    UNION ALL"""
