"""The state of the world at the end of a month, as the declarations up to that month showed it.

`prepare_as_of` creates, in an engine (warehouse.sql_engine) whose warehouse views are attached, the
temp tables every feature and legal-rule check reads:

- `asof_params`: one row: as_of (first day of the month), as_of_end (its last day), window_start,
  short_window_start, history_start;
- `establishments_asof`: every establishment active in the window (declared at least one month,
  or used a temp worker), with its NAF, IDCC, address (street, postal_code, city), département and
  region as last declared (a temp-work user's address as its agencies declared the workplace), its first and last
  declared months, `declared_window_bits` (the months of the window it declared, as bits: `declared_in_window`; for a
  temp-work user that does not declare, the months the warehouse declares), and `declares_since_first_month`: it
  declared in the first month the warehouse holds (how long before, the warehouse cannot tell; NULL for a temp-work
  user that does not declare). That month is the earliest
  any declaration was ingested for: a stray file of an older month moves it for everyone (their seniority then
  counts from their own first month, up to the indicators' cap);
- `contracts_asof`: contracts rebuilt from months `history_start`..`as_of` (warehouse.contracts), with
  `kind` (cdi, cdd, usage, mission, other), `period_end` (end date, or the as-of month's last day for a contract
  still running), `planned_end_last` (its planned end as last declared), `duration_days` (ended contracts only) and
  `hours_worked_in_window` (paid hours declared from `window_start` on); `establishment_siret` is
  where the contract counts: the user establishment for a temp mission;
  `post` is what makes two contracts the same post (by default the PCS-ESE code, else the
  normalised job title: settings.post_key) and `post_label` the normalised job title to show;
  `establishment_number` and `person_number` stand for `establishment_siret` and `person_key` where the
  indicators group by them (warehouse.engine.KEY_MACROS);
- `absences_asof`: periods away of people under contract (work stoppages and suspensions), one row
  per absence, with the post of the absent person's contract;
- `closed_weekdays`: (siret, isodow) of days an establishment is closed; siret '*' is the default;
- `places`: every département with its region (warehouse.engine.places_arrow).

A month's features are computed by ranges of establishments where the engine splits large aggregates
(`prepare_month`, then `prepare_part` for each range): every indicator and rule reads the contracts of one
establishment only, so each range's `contracts_asof` (and `absences_asof`, `part_establishments`) holds the contracts
counted at its establishments, and the month's contracts are never all in one table (at national scale 36 M
rows, twice the engine's memory limit: writing them and reading them back from disk was most of a month).

Nothing declared for a later month is read. `prepare_establishment_contracts` creates only `asof_params`
and the `contracts_asof` rows of one establishment (its page, `explain`), without everyone's, from the
temp-work agencies that placed workers there (`placing_agencies`) and the establishment itself.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from core.config import FeaturesConfig
from core.geography import departement_sql
from core.months import add_months, month_runs, month_start, months_between
from core.sql_literals import sql_string, sql_string_list
from warehouse.contracts import LAST_DECLARED, declarants_sql, rebuild_contracts_sql, temp_agencies_sql
from warehouse.engine import places_arrow
from warehouse.sql_engine import SqlEngine, fetch_aggregate, load_table

ISODOW = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
OPEN_ENDED_NATURES = ("01", "07", "08", "09", "82", "91")  # CDI of all kinds
FIXED_TERM_NATURES = ("02", "10", "92")  # CDD (private, public, maritime)
MISSION_NATURE = "03"
USAGE_MOTIF = "05"
# Contracts are rebuilt by parts of establishments of at most this many monthly snapshots (or states): at national
# scale (~220 M snapshots a year) one aggregate over everything spills tens of GB to disk. Six parts
# took 220 s where twelve took 237 s, the peak staying under 11 GB (10GB limit, 2 threads).
SNAPSHOTS_PER_REBUILD = 40_000_000
# A month is computed in one range of establishments per this many states (or snapshots) of contracts over the history,
# each range holding as many establishments (`prepare_month`): on the national preset (47.8 M states, 36.5 M contracts
# as of 2025-12) a twelfth of the establishments took 16.1 s from their contracts to their evidence, a sixth 34.6 s.
STATES_PER_PART = 4_000_000
# A month's temp-work agencies are named in the query that rebuilds their contracts up to this many, joined to a table
# of their SIRETs beyond: named, the warehouse's rows of other declarants are dropped as they are read (the national
# preset's 7,200 agencies in 11.9-15.5 s instead of 16.1-17.8 s joined), but every scan names them all: planning the
# query (its EXPLAIN on the small preset) took 1.0-1.2 s for 7,200 SIRETs, 2.7-3.5 s for 20,000, 9.6-11 s for 50,000.
MAX_NAMED_AGENCIES = 10_000
# The table of a month's declarants (`prepare_month`): each range's rebuild reads there their NAF and the month before
# which a contract they no longer declare has its end inferred (`warehouse.contracts.declarants_sql`), instead of the
# declarations (on the national preset they took 1.1 s of each range's 5.5 s).
MONTH_DECLARANTS = "month_declarants"
# CDD whose purpose is training or insertion, not a job: outside the precarity measures.
TRAINING_MOTIFS = ("09", "10", "11")


@dataclass(frozen=True)
class AsOfWindow:
    """The dates that frame a computation as of a month."""

    as_of: date
    window_start: date
    short_window_start: date
    history_start: date

    @classmethod
    def of(cls, as_of: date, settings: FeaturesConfig) -> AsOfWindow:
        month = month_start(as_of)
        return cls(
            as_of=month,
            window_start=add_months(month, 1 - settings.window_months),
            short_window_start=add_months(month, 1 - settings.short_window_months),
            history_start=add_months(month, 1 - settings.history_months),
        )


def undeclared_months(first: date, last: date, declared: Collection[date]) -> list[date]:
    """The months from `first` to `last` (first days) that are not among the warehouse's `declared` months."""
    return [month for month in months_between(first, last) if month not in declared]


def undeclared_in_window(as_of: date, declared: Collection[date], window_months: int) -> list[date]:
    """The months of the window of `window_months` ending with `as_of`, and of the month before it (where the headcount
    growth starts), that are not among the `declared` months (first days): none when the window is whole."""
    return undeclared_months(add_months(as_of, -window_months), as_of, declared)


def declared_in_window(as_of: date, bits: int, window_months: int) -> list[date]:
    """The months (first days) of the window of `window_months` ending with `as_of` that an establishment declared, from
    its `declared_window_bits` (bit i: the window's month i, from its first): what its features of that window read."""
    start = add_months(month_start(as_of), 1 - window_months)
    return [add_months(start, i) for i in range(window_months) if (int(bits) >> i) & 1]


def declared_span(declared: list[date]) -> str:
    """The warehouse's declared months (sorted, not empty) in words: where they begin, and the gaps among them."""
    gaps = month_runs(undeclared_months(declared[0], declared[-1], set(declared)))
    more = len(gaps) - 3
    shown = ", ".join(gaps[:3]) + (f" and {more} more gap{'s' if more > 1 else ''}" if more > 0 else "")
    return (f"the warehouse's declarations begin in {declared[0]:%Y-%m}"
            + (f" and hold none for {shown}" if gaps else ""))


# Every establishment active in the window, with its values as last declared (in the order LAST_DECLARED); the
# temp-work users that do not declare themselves are read from the missions of table `{missions}`
# (`establishments_sql`).
_ESTABLISHMENTS_SQL = f"""WITH declared AS (
    SELECT siret,
           arg_max(siren, last_declared) AS siren, arg_max(naf, last_declared) AS naf,
           arg_max(idcc, last_declared) AS idcc, arg_max(street, last_declared) AS street,
           arg_max(postal_code, last_declared) AS postal_code, arg_max(city, last_declared) AS city,
           min(month) AS first_month, max(month) AS last_month,
           CAST(coalesce(bit_count(bit_or(window_month)), 0) AS BIGINT) AS months_declared_in_window,
           CAST(coalesce(bit_or(window_month), 0) AS BIGINT) AS declared_window_bits
    FROM (  -- each value the last one declared (NULLs skipped), the order computed once; the months of the window as
            -- bits of one integer (at most 36 months): a count of distinct months took as long as the rest
        SELECT siret, siren, naf, idcc, street, postal_code, city, month, {LAST_DECLARED} AS last_declared,
               CASE WHEN month >= p.window_start
                    THEN CAST(1 AS BIGINT) << CAST(datediff('month', p.window_start, month) AS INTEGER) END AS window_month
        FROM declarations, asof_params p
        WHERE month <= p.as_of)
    GROUP BY siret
),
users AS (  -- temp-work users that do not declare themselves, known from S21.G00.85
    SELECT w.workplace_siret AS siret, substr(w.workplace_siret, 1, 9) AS siren,
           arg_max(w.naf, {LAST_DECLARED}) AS naf, NULL AS idcc,
           arg_max(w.street, {LAST_DECLARED}) AS street,
           arg_max(w.postal_code, {LAST_DECLARED}) AS postal_code,
           arg_max(w.city, {LAST_DECLARED}) AS city,
           NULL::DATE AS first_month, NULL::DATE AS last_month, 0 AS months_declared_in_window,
           -- its missions are read from the agencies' declarations: the months the warehouse declares
           (SELECT CAST(coalesce(bit_or(declared_window_bits), 0) AS BIGINT) FROM declared) AS declared_window_bits
    FROM workplaces w, asof_params p
    WHERE w.month BETWEEN p.history_start AND p.as_of
      AND w.workplace_siret NOT IN (SELECT siret FROM declared)
      AND w.workplace_siret IN (
          SELECT establishment_siret FROM {{missions}} c
          WHERE c.kind = 'mission' AND c.period_end >= p.window_start)
    GROUP BY w.workplace_siret
),
everyone AS (
    SELECT *, true AS declares FROM declared WHERE months_declared_in_window > 0
    UNION ALL  -- the same columns in the same order
    SELECT *, false AS declares FROM users
)
SELECT e.*,
       -- first declared in the first month the warehouse holds: declaring since then or before (left-censored)
       e.first_month = (SELECT min(first_month) FROM declared) AS declares_since_first_month,
       pl.departement, pl.departement_name, pl.region_code, pl.region
FROM everyone e
LEFT JOIN places pl ON pl.departement = {departement_sql("e.postal_code")}"""


def establishments_sql(missions: str) -> str:
    """SQL of `establishments_asof`, the temp-work users read from the missions of table `missions`."""
    return _ESTABLISHMENTS_SQL.replace("{missions}", missions)


ESTABLISHMENTS_ASOF_SQL = establishments_sql("contracts_asof")

# An absence is declared again each month it lasts: its latest version counts. One declared twice in its latest
# month with two ends lasts until the later one (the reading that covers the most replacements: the employer's).
DECLARED_ABSENCES_SQL = """
    SELECT siret, person_key, contract_number, start_date, kind, reason, absence_start,
           arg_max(absence_end, struct_pack(month := month, absence_end := absence_end)) AS absence_end
    FROM absences, asof_params p
    WHERE month BETWEEN p.history_start AND p.as_of AND absence_start IS NOT NULL
      AND coalesce(reason, '') <> '99'
    GROUP BY ALL"""


def _with_contracts(absences: str, join: str, contracts: str = "contracts_asof") -> str:
    """SQL: the absences of table `absences`, each with the post, establishment and id of its contract in table
    `contracts` (`join`: LEFT JOIN keeps those of no contract, JOIN leaves them out)."""
    return f"""SELECT l.*, c.post, c.establishment_siret, c.contract_id
FROM {absences} l
{join} {contracts} c USING (siret, person_key, contract_number, start_date)"""


ABSENCES_ASOF_SQL = f"WITH latest AS ({DECLARED_ABSENCES_SQL}\n)\n" + _with_contracts("latest", "LEFT JOIN")


def prepare_as_of(
    engine: SqlEngine, as_of: date, settings: FeaturesConfig, inferred_end_after_months: int = 3,
    from_states: bool = False,
) -> AsOfWindow:
    """Create the as-of temp tables described in the module docstring; returns the window.

    `from_states` reads the contracts from the warehouse's versioned table (`contract_states`, see
    warehouse.contracts.CONTRACT_STATES_SQL) rather than rebuilding them from the monthly snapshots:
    the same rows, from one row per state of a contract instead of one per month it was declared.
    """
    window = _month_tables(engine, as_of, settings)
    cuts: list[str] = []
    if engine.splits_large_aggregates:
        rows = _history_rows(engine, window, from_states)
        declaring = (f"SELECT DISTINCT siret FROM declarations "
                     f"WHERE month BETWEEN {_date(window.history_start)} AND {_date(window.as_of)}")
        cuts = siret_cuts(engine, declaring, max(1, -(-rows // SNAPSHOTS_PER_REBUILD)))
    _contracts_asof(engine, window, settings, inferred_end_after_months, siret_ranges(cuts), from_states=from_states)
    engine.create_table("establishments_asof", ESTABLISHMENTS_ASOF_SQL)
    engine.create_table("absences_asof", ABSENCES_ASOF_SQL)
    return window


@dataclass(frozen=True)
class MonthParts:
    """A month prepared to be computed by ranges of establishments (`prepare_month`)."""

    window: AsOfWindow
    ranges: tuple[tuple[str | None, str | None], ...]  # [low, high) of establishment SIRETs; None: unbounded
    settings: FeaturesConfig
    inferred_end_after_months: int
    from_states: bool


def prepare_month(
    engine: SqlEngine, as_of: date, settings: FeaturesConfig, inferred_end_after_months: int = 3,
    from_states: bool = False,
) -> MonthParts:
    """The month-wide tables of `as_of` and its ranges of establishments, each then prepared by `prepare_part`.

    Creates `asof_params`, `closed_weekdays`, `places`, `establishments_asof` (every establishment, as
    `prepare_as_of` does), every declarant with its NAF and the month an inferred end is read from (`MONTH_DECLARANTS`,
    read once for every range: `warehouse.contracts.declarants_sql`), the temp-work agencies (`temp_agencies`) with
    their contracts (`agency_contracts_asof`, each counted where it is: a mission at its user), and the latest version of every
    absence (`declared_absences`). One range per `STATES_PER_PART` states (or snapshots) of the history, each
    holding as many establishments. `from_states`: as in `prepare_as_of`."""
    window = _month_tables(engine, as_of, settings)
    engine.create_table(MONTH_DECLARANTS, declarants_sql(inferred_end_after_months))
    engine.create_table("temp_agencies", temp_agencies_sql(MONTH_DECLARANTS))
    agencies = engine.fetch("SELECT declarant FROM temp_agencies ORDER BY declarant")["declarant"].tolist()
    named = len(agencies) <= MAX_NAMED_AGENCIES
    _contracts_asof(engine, window, settings, inferred_end_after_months, [(None, None)], from_states=from_states,
                    declarants=agencies if named else None, declared_by=None if named else ("temp_agencies", True),
                    table="agency_contracts_asof", declarants_of=MONTH_DECLARANTS)
    engine.create_table("establishments_asof", establishments_sql("agency_contracts_asof"))
    engine.create_table("declared_absences", DECLARED_ABSENCES_SQL)
    parts = max(1, -(-_history_rows(engine, window, from_states) // STATES_PER_PART))
    ranges = siret_ranges(siret_cuts(engine, "SELECT siret FROM establishments_asof", parts))
    return MonthParts(window, tuple(ranges), settings, inferred_end_after_months, from_states)


# The tables `prepare_part` creates for a range of establishments.
PART_TABLES = ("contracts_asof", "absences_asof", "part_establishments")


def prepare_part(engine: SqlEngine, month: MonthParts, low: str | None, high: str | None, suffix: str = "") -> None:
    """`contracts_asof` and `absences_asof` of the establishments whose SIRET is in [low, high) (None: unbounded; a
    missing SIRET goes with the last range), and those establishments (`part_establishments`): the contracts
    their declarations rebuild, other than the agencies', and the agencies' contracts that count there. With
    `suffix`, the tables' names end with it (the next range, prepared while the rule passes of the range before run;
    `promote_part`)."""
    contracts = f"contracts_asof{suffix}"
    _contracts_asof(engine, month.window, month.settings, month.inferred_end_after_months, [(low, high)],
                    from_states=month.from_states, declared_by=("temp_agencies", False), table=contracts,
                    declarants_of=MONTH_DECLARANTS)
    engine.insert_into(contracts,
                       f"SELECT * FROM agency_contracts_asof WHERE {siret_range('establishment_siret', low, high)}")
    # Its absences: those of its contracts. An absence matched to no contract counts nowhere (the rules read an
    # absence at its contract's establishment and post), so none is left out that a rule reads. Its contracts are
    # declared in the range or by an agency: the absences other declarants declare are left out before the join, not
    # matched against the range's contracts.
    declared = (f"(SELECT * FROM declared_absences WHERE {siret_range('siret', low, high)} "
                "OR siret IN (SELECT declarant FROM temp_agencies))")
    engine.create_table(f"absences_asof{suffix}", _with_contracts(declared, "JOIN", contracts))
    engine.create_table(f"part_establishments{suffix}",
                        f"SELECT * FROM establishments_asof WHERE {siret_range('siret', low, high)}")


def promote_part(engine: SqlEngine, suffix: str) -> None:
    """The range prepared with `suffix` (`prepare_part`) becomes the range the indicators and rules read: the tables
    of the range before are dropped, and the suffixed ones take their names."""
    for name in PART_TABLES:
        engine.drop_table(name)
        engine.rename_table(f"{name}{suffix}", name)


def placing_agencies(engine: SqlEngine, as_of: date, settings: FeaturesConfig, user: str | None = None) -> pd.DataFrame:
    """(user_siret, siret) of every temp-work agency that declared a mission at a user establishment in the
    history of the month as of `as_of` (S21.G00.40 with the user's SIRET), sorted; only at `user` if given.
    Finding them scans every snapshot's user SIRET: a process that opens many establishments' pages looks
    them up in this table, read once (`prepare_establishment_contracts`'s `agencies`)."""
    window = AsOfWindow.of(as_of, settings)
    return engine.fetch(
        f"""SELECT DISTINCT user_siret, siret FROM contract_months
            WHERE {f"user_siret = {sql_string(user)}" if user else "user_siret IS NOT NULL"} AND siret IS NOT NULL
              AND month BETWEEN {_date(window.history_start)} AND {_date(window.as_of)}
            ORDER BY user_siret, siret"""
    )


def establishment_declarants(engine: SqlEngine, as_of: date, settings: FeaturesConfig, siret: str,
                             agencies: pd.DataFrame | None = None) -> list[str]:
    """The establishment and the temp-work agencies that declared missions there (S21.G00.40 with its SIRET as user) in
    the history of the month as of `as_of`, sorted. `agencies`: `placing_agencies` of the month (default: looked up
    for this establishment alone)."""
    if agencies is None:
        agencies = placing_agencies(engine, as_of, settings, siret)
    users = agencies["user_siret"].to_numpy()
    placed = agencies["siret"].iloc[np.searchsorted(users, siret, "left"):np.searchsorted(users, siret, "right")]
    return sorted({siret, *placed.astype(str)})


def prepare_establishment_contracts(
    engine: SqlEngine, as_of: date, settings: FeaturesConfig, siret: str, inferred_end_after_months: int = 3,
    from_states: bool = False, agencies: pd.DataFrame | None = None, left_out: Sequence[str] = (),
) -> AsOfWindow:
    """`asof_params` and `contracts_asof` holding only the contracts that count at one establishment.

    Rebuilt from the declarations of the establishment itself and of the temp-work agencies that
    declared missions there (`establishment_declarants`), in one scan: the same rows
    `prepare_as_of` gives for this establishment, without rebuilding everyone's contracts (Parquet row
    groups of other SIRETs are skipped where the files are ordered by SIRET). `from_states`: as in `prepare_as_of`.
    `agencies`: as in `establishment_declarants`. `left_out`: keys of declarations not read (those that arrived after
    a list, `warehouse.arrivals`), from the snapshots then."""
    window = _params(engine, as_of, settings)
    declarants = establishment_declarants(engine, as_of, settings, siret, agencies)
    # One scan for all declarants; `d + "0"` follows the last of them among SIRETs of the same length.
    _contracts_asof(engine, window, settings, inferred_end_after_months, [(declarants[0], declarants[-1] + "0")],
                    only=f"c.attributed_siret = {sql_string(siret)}", declarants=declarants,
                    from_states=from_states and not left_out, left_out=left_out)
    return window


def _date(value: date) -> str:
    return f"DATE '{value.isoformat()}'"


def _history_rows(engine: SqlEngine, window: AsOfWindow, from_states: bool) -> int:
    """How many states (`from_states`) or monthly snapshots of contracts the history of the window holds."""
    return int(fetch_aggregate(engine, (
        f"SELECT count(*) FROM contract_states WHERE run_from <= {_date(window.as_of)} "
        f"AND run_to >= {_date(window.history_start)}" if from_states else
        f"SELECT count(*) FROM contract_months WHERE month BETWEEN {_date(window.history_start)} AND {_date(window.as_of)}"
    ))[0])


def _month_tables(engine: SqlEngine, as_of: date, settings: FeaturesConfig) -> AsOfWindow:
    """`asof_params` (`_params`), `closed_weekdays` and `places`, which both ways of preparing a month create."""
    window = _params(engine, as_of, settings)
    _closed_weekdays(engine, settings)
    load_table(engine, "places", places_arrow())
    return window


def _params(engine: SqlEngine, as_of: date, settings: FeaturesConfig) -> AsOfWindow:
    """The window of `as_of`, also written to the one-row temp table `asof_params`."""
    window = AsOfWindow.of(as_of, settings)
    engine.create_table(
        "asof_params",
        f"""SELECT
            {_date(window.as_of)} AS as_of, last_day({_date(window.as_of)}) AS as_of_end,
            {_date(window.window_start)} AS window_start, {_date(window.short_window_start)} AS short_window_start,
            {_date(window.history_start)} AS history_start"""
    )
    return window


def _contracts_asof(
    engine: SqlEngine, window: AsOfWindow, settings: FeaturesConfig, inferred_end_after_months: int,
    ranges: list[tuple[str | None, str | None]], only: str = "true", declarants: list[str] | None = None,
    from_states: bool = False, declared_by: tuple[str, bool] | None = None, table: str = "contracts_asof",
    left_out: Sequence[str] = (), declarants_of: str | None = None,
) -> None:
    """Temp table `table` (default `contracts_asof`) rebuilt range of declaring SIRETs by range (`declarants` and
    `declared_by` as in `warehouse.contracts.rebuild_contracts_sql`: an empty list of declarants rebuilds nothing;
    each range's rows where `only` holds), from the versioned contracts if `from_states`; `left_out` and
    `declarants_of` as in `rebuild_contracts_sql`."""
    post_key = "coalesce('pcs ' || c.pcs, c.post)" if settings.post_key == "pcs" else "c.post"
    # Each range of establishments is rebuilt and classified in one statement: no second copy of
    # every contract (gigabytes at national scale).
    for part, sirets in enumerate(ranges):
        rebuilt = rebuild_contracts_sql(window.as_of, inferred_end_after_months, window.history_start, sirets,
                                        window.window_start, features_only=True, declarants=declarants,
                                        from_states=from_states, declared_by=declared_by, left_out=left_out,
                                        declarants_of=declarants_of)
        # Columns read only to classify (nature, PCS, user) are not kept: at national scale the table is most of
        # the memory the features use.
        classified = f"""
            SELECT c.* EXCLUDE (nature, pcs, user_siret, attributed_siret) REPLACE ({post_key} AS post),
                   c.post AS post_label,
                   c.attributed_siret AS establishment_siret,
                   siret_number(c.attributed_siret) AS establishment_number, person_number(c.person_key) AS person_number,
                   CASE
                       WHEN c.nature IN ({sql_string_list(OPEN_ENDED_NATURES)}) THEN 'cdi'
                       WHEN c.nature = '{MISSION_NATURE}' THEN 'mission'
                       WHEN c.nature IN ({sql_string_list(FIXED_TERM_NATURES)}) AND c.motif = '{USAGE_MOTIF}' THEN 'usage'
                       WHEN c.nature IN ({sql_string_list(FIXED_TERM_NATURES)})
                            AND coalesce(c.motif, '') NOT IN ({sql_string_list(TRAINING_MOTIFS)}) THEN 'cdd'
                       ELSE 'other'
                   END AS kind,
                   least(coalesce(c.end_date, p.as_of_end), p.as_of_end) AS period_end,
                   CASE WHEN c.end_date IS NOT NULL THEN datediff('day', c.start_date, c.end_date) + 1 END
                       AS duration_days
            FROM ({rebuilt}) c, asof_params p
            WHERE c.start_date <= p.as_of_end AND ({only})"""
        if part == 0:
            engine.create_table(table, classified)
        else:
            engine.insert_into(table, classified)


def siret_cuts(engine: SqlEngine, sirets: str, parts: int) -> list[str]:
    """SIRETs that split the `siret` column of query `sirets` (distinct values) into `parts` ranges of equal counts
    (the first range starts below the first cut; rows with no SIRET go with the last)."""
    if parts <= 1:
        return []
    rows = engine.fetch(
        f"""SELECT siret FROM (
               SELECT siret, row_number() OVER (ORDER BY siret) AS rank, count(*) OVER () AS n
               FROM ({sirets}) WHERE siret IS NOT NULL)
           WHERE rank > 1 AND (rank - 1) % greatest(n // {int(parts)}, 1) = 0 ORDER BY siret"""
    )
    return rows["siret"].tolist()[: parts - 1]


def siret_ranges(cuts: list[str]) -> list[tuple[str | None, str | None]]:
    """The ranges [low, high) that `cuts` (sorted) make, the first and last unbounded (None)."""
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def siret_range(column: str, low: str | None, high: str | None) -> str:
    """SQL: `column` in [low, high) (None: unbounded); a missing SIRET goes with the last range."""
    conditions = []
    if low is not None:
        conditions.append(f"({column} >= {sql_string(low)}" + (f" OR {column} IS NULL)" if high is None else ")"))
    if high is not None:
        conditions.append(f"{column} < {sql_string(high)}")
    return " AND ".join(conditions) or "true"


def _closed_weekdays(engine: SqlEngine, settings: FeaturesConfig) -> None:
    rows = [("*", ISODOW[day]) for day in ISODOW if day not in settings.opening_days]
    for siret, days in sorted(settings.opening_days_by_siret.items()):
        rows += [(siret, ISODOW[day]) for day in ISODOW if day not in days]
        rows.append((siret, 0))  # marks the SIRET as configured, even if it opens every day
    table = pa.table(
        {"siret": [r[0] for r in rows], "isodow": [r[1] for r in rows]},
        schema=pa.schema([("siret", pa.string()), ("isodow", pa.int32())]),
    )
    load_table(engine, "closed_weekdays", table)
