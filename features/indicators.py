"""Contract-pattern indicators per establishment, as of a month (SQL over the as-of tables).

Each indicator is written once, in SQL, over the tables `features.asof.prepare_as_of` creates;
`compute_indicators` runs them and leaves one row per establishment in the temp table
`establishment_indicators`, by ranges of establishments at national scale (each indicator reads the
contracts of one establishment only). Medians are computed in their own aggregates and joined: DuckDB 2.0
slows down twenty-fold when a median shares a GROUP BY with a window function's output
(shared/ENGINEERING-NOTES.md), and the split costs nothing on 1.x. They group by the integers that stand for the
establishment and the person (`establishment_number`, `person_number`: warehouse.engine.KEY_MACROS), faster than by
the strings, and join the establishments through `siret_number`.

Windows: `_12m` is the window (12 months by default) ending with the as-of month, `_3m` the short one.
"""

from __future__ import annotations

from core.config import FeaturesConfig
from features.asof import siret_cuts, siret_range, siret_ranges
from warehouse.contracts import HOUR_UNITS, hour_units, hours_sum
from warehouse.sql_engine import SqlEngine, fetch_aggregate

# Indicators are computed by ranges of establishments holding about this many contracts: over the 36 M contracts
# of the national preset at once they took 196 s and spilled 9 GB to disk, by ranges of 6 M 157 s (README). Smaller
# ranges compute faster but each costs a copy of its contracts.
CONTRACTS_PER_PART = 6_000_000
# The columns of `contracts_asof` the indicators read: a range's copy holds only these.
CONTRACT_COLUMNS = ("establishment_number", "person_number", "contract_id", "kind", "post", "start_date", "end_date",
                    "period_end", "first_month", "last_month", "duration_days", "contract_hours", "time_mode",
                    "hours_worked_in_window")
FULL_TIME_HOURS = 151.67  # a month's legal full time
FIXED_TERM_KINDS = "('cdd', 'usage', 'mission')"
COUNTED_KINDS = "('cdi', 'cdd', 'usage', 'mission')"


def _window_mix(suffix: str, start_column: str) -> str:
    """Aggregates of hires and contract-days by kind over the window starting at `asof_params.<start_column>`: over the
    contracts running in it (of the counted kinds), NULL or 0 for an establishment with none."""
    running = f"c.period_end >= p.{start_column}"
    hired = f"{running} AND c.start_date >= p.{start_column}"
    days = f"greatest(0, datediff('day', greatest(c.start_date, p.{start_column}), c.period_end) + 1)"
    return f"""
           count(*) FILTER (WHERE {hired}) AS hires{suffix},
           count(*) FILTER (WHERE {hired} AND c.kind = 'cdd') AS hires_cdd{suffix},
           count(*) FILTER (WHERE {hired} AND c.kind = 'usage') AS hires_usage{suffix},
           count(*) FILTER (WHERE {hired} AND c.kind = 'mission') AS hires_mission{suffix},
           sum({days}) FILTER (WHERE {running}) AS contract_days{suffix},
           coalesce(sum({days}) FILTER (WHERE {running} AND c.kind IN {FIXED_TERM_KINDS}), 0) AS fixed_term_days{suffix},"""


def indicators_sql(settings: FeaturesConfig, contracts: str = "contracts_asof",
                   establishments: str = "establishments_asof") -> str:
    """SQL of the indicators: one row per establishment of `establishments` (a table shaped as `establishments_asof`)
    from the contracts of table `contracts` (shaped as `contracts_asof`)."""
    chain_gap = int(settings.chain_gap_days)
    continuity_gap = int(settings.continuity_gap_days)
    year_round = float(settings.year_round_share)
    window_months = int(settings.window_months)
    worked = "c.hours_worked_in_window"  # paid hours declared in the window
    full_time = round(FULL_TIME_HOURS * HOUR_UNITS)  # in the units hours are summed in
    return f"""
WITH
p AS (SELECT * FROM asof_params),
in_force AS (  -- contracts running on the last day of the as-of month and declared that month
    SELECT c.establishment_number AS establishment,
           count(DISTINCT c.person_number) FILTER (WHERE c.kind <> 'mission') AS headcount,
           count(DISTINCT c.person_number) FILTER (WHERE c.kind = 'mission') AS temp_workers_in_force,
           sum(CASE WHEN c.kind = 'mission' THEN 0
                    WHEN c.time_mode = '10' THEN {full_time}
                    ELSE least({hour_units(f"coalesce(c.contract_hours, {FULL_TIME_HOURS})")}, {full_time}) END)
               / {full_time} AS fte,
           count(*) FILTER (WHERE c.kind IN {FIXED_TERM_KINDS}) AS fixed_term_in_force
    FROM {contracts} c, p
    WHERE c.start_date <= p.as_of_end AND c.last_month = p.as_of
      AND (c.end_date IS NULL OR c.end_date >= p.as_of_end)
    GROUP BY c.establishment_number
),
in_force_year_before AS (
    SELECT c.establishment_number AS establishment, count(DISTINCT c.person_number) AS headcount_year_before
    FROM {contracts} c, p
    WHERE c.kind <> 'mission'
      AND c.start_date <= p.window_start - INTERVAL 1 DAY
      AND coalesce(c.end_date, last_day(c.last_month)) >= p.window_start - INTERVAL 1 DAY
      AND c.first_month <= p.window_start - INTERVAL 1 MONTH
    GROUP BY c.establishment_number
),
counted AS (  -- hires and contract-days by kind in each window, and the paid hours declared in the window by kind
              -- (summed when contracts are rebuilt): one aggregate over the counted contracts
    SELECT c.establishment_number AS establishment,{_window_mix("_12m", "window_start")}{_window_mix("_3m", "short_window_start")}
           {hours_sum(worked)} AS hours_12m,
           coalesce({hours_sum(worked, f"c.kind IN {FIXED_TERM_KINDS}")}, 0) AS hours_fixed_term_12m,
           coalesce({hours_sum(worked, "c.kind = 'cdd'")}, 0) AS hours_cdd_12m,
           coalesce({hours_sum(worked, "c.kind = 'usage'")}, 0) AS hours_usage_12m,
           coalesce({hours_sum(worked, "c.kind = 'mission'")}, 0) AS hours_mission_12m
    FROM {contracts} c, p
    WHERE c.kind IN {COUNTED_KINDS}
    GROUP BY c.establishment_number
),
ended_fixed_term AS (  -- fixed-term contracts that ended in the window, with their length
    SELECT c.establishment_number AS establishment, c.duration_days
    FROM {contracts} c, p
    WHERE c.kind IN {FIXED_TERM_KINDS} AND c.end_date BETWEEN p.window_start AND p.as_of_end
),
durations AS (
    SELECT establishment,
           count(*) AS ended_fixed_term_12m,
           avg(CASE WHEN duration_days <= 30 THEN 1.0 ELSE 0.0 END) AS share_fixed_term_under_1_month_12m,
           avg(CASE WHEN duration_days <= 7 THEN 1.0 ELSE 0.0 END) AS share_fixed_term_under_1_week_12m,
           avg(CASE WHEN duration_days = 1 THEN 1.0 ELSE 0.0 END) AS share_fixed_term_one_day_12m,
           avg(duration_days) AS mean_fixed_term_days_12m
    FROM ended_fixed_term GROUP BY establishment
),
duration_medians AS (
    SELECT establishment, median(duration_days) AS median_fixed_term_days_12m FROM ended_fixed_term GROUP BY establishment
),
-- each person's contracts with this employer: in the window, and whether the first is a fixed-term hire of the window
per_person AS (
    SELECT c.establishment_number AS establishment, c.person_number,
           count(*) FILTER (WHERE c.start_date >= p.window_start) AS contracts_12m,
           count(*) FILTER (WHERE c.start_date >= p.window_start AND c.kind IN {FIXED_TERM_KINDS}) AS fixed_term_hires_12m,
           arg_min_null(c.start_date >= p.window_start AND c.kind IN {FIXED_TERM_KINDS},
                        struct_pack(start_date := c.start_date, contract_id := c.contract_id)) AS first_is_fixed_term_hire
    FROM {contracts} c, p
    WHERE c.kind IN {COUNTED_KINDS}
    GROUP BY c.establishment_number, c.person_number
),
rehires AS (  -- share of the window's fixed-term hires that are not the person's first contract with this employer
    SELECT establishment,
           CAST(sum(fixed_term_hires_12m) - count(*) FILTER (WHERE first_is_fixed_term_hire) AS DOUBLE)
               / sum(fixed_term_hires_12m) AS rehire_share_12m
    FROM per_person
    GROUP BY establishment
    HAVING sum(fixed_term_hires_12m) > 0
),
repeaters AS (
    SELECT establishment,
           count(*) FILTER (WHERE contracts_12m >= 3) AS persons_3plus_contracts_12m,
           count(*) FILTER (WHERE contracts_12m >= 10) AS persons_10plus_contracts_12m,
           max(contracts_12m) AS max_contracts_one_person_12m
    FROM per_person WHERE contracts_12m > 0 GROUP BY establishment
),
chain_marks AS (  -- successive fixed-term contracts of one person separated by at most {chain_gap} days (of two that
                  -- start on one day, the one that ends first comes first, whatever their ids)
    SELECT *,
           CASE WHEN previous_fixed_term_end IS NULL
                     OR datediff('day', previous_fixed_term_end, start_date) > {chain_gap + 1}
                THEN 1 ELSE 0 END AS new_chain
    FROM (
        SELECT c.establishment_number AS establishment, c.person_number, c.contract_id, c.start_date, c.period_end,
               lag(c.period_end) OVER (PARTITION BY c.establishment_number, c.person_number
                                       ORDER BY c.start_date, c.period_end, c.contract_id) AS previous_fixed_term_end
        FROM {contracts} c WHERE c.kind IN {FIXED_TERM_KINDS}
    )
),
chain_ids AS (
    SELECT *, sum(new_chain) OVER (PARTITION BY establishment, person_number ORDER BY start_date, period_end, contract_id)
               AS chain_id
    FROM chain_marks
),
chains AS (
    SELECT establishment, person_number, chain_id, count(*) AS chain_contracts,
           datediff('day', min(start_date), max(period_end)) + 1 AS chain_days, max(period_end) AS chain_end
    FROM chain_ids GROUP BY establishment, person_number, chain_id
),
longest_chains AS (
    SELECT c.establishment, max(c.chain_contracts) AS longest_chain_contracts, max(c.chain_days) AS longest_chain_days
    FROM chains c, p WHERE c.chain_end >= p.window_start
    GROUP BY c.establishment
),
post_periods AS (  -- fixed-term coverage of each post, as islands separated by more than {continuity_gap} days
    SELECT c.establishment_number AS establishment, c.post, c.person_number, c.contract_id, c.start_date, c.period_end,
           max(c.period_end) OVER (
               PARTITION BY c.establishment_number, c.post ORDER BY c.start_date, c.contract_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_until
    FROM {contracts} c
    WHERE c.kind IN {FIXED_TERM_KINDS} AND c.post IS NOT NULL
),
post_island_marks AS (
    SELECT *, CASE WHEN covered_until IS NULL OR datediff('day', covered_until, start_date) > {continuity_gap + 1}
                   THEN 1 ELSE 0 END AS new_island
    FROM post_periods
),
post_island_ids AS (
    SELECT *, sum(new_island) OVER (PARTITION BY establishment, post ORDER BY start_date, contract_id) AS island_id
    FROM post_island_marks
),
post_islands AS (
    SELECT establishment, post, island_id, min(start_date) AS island_start, max(period_end) AS island_end,
           count(DISTINCT person_number) AS island_persons
    FROM post_island_ids GROUP BY establishment, post, island_id
),
post_runs AS (  -- the longest run still going on in the window (with the most persons, if several are as long)
    SELECT i.establishment,
           max(datediff('day', i.island_start, i.island_end) + 1) AS longest_post_run_days,
           arg_max(i.island_persons, struct_pack(days := datediff('day', i.island_start, i.island_end),
                                                 persons := i.island_persons)) AS longest_post_run_persons
    FROM post_islands i, p WHERE i.island_end >= p.window_start
    GROUP BY i.establishment
),
post_year_coverage AS (  -- days of the window each post is covered by fixed-term contracts
    SELECT i.establishment, i.post,
           sum(greatest(0, datediff('day', greatest(i.island_start, p.window_start), least(i.island_end, p.as_of_end)) + 1))
               / (datediff('day', p.window_start, p.as_of_end) + 1) AS covered_share
    FROM post_islands i, p WHERE i.island_end >= p.window_start
    GROUP BY i.establishment, i.post, p.window_start, p.as_of_end
),
year_round AS (
    SELECT c.establishment_number AS establishment,
           sum(greatest(0, datediff('day', greatest(c.start_date, p.window_start), c.period_end) + 1))
               FILTER (WHERE y.covered_share >= {year_round})
           / sum(greatest(0, datediff('day', greatest(c.start_date, p.window_start), c.period_end) + 1))
               AS share_fixed_term_days_on_year_round_posts_12m,
           count(DISTINCT c.post) FILTER (WHERE y.covered_share >= {year_round}) AS year_round_fixed_term_posts_12m
    FROM {contracts} c
    JOIN post_year_coverage y ON y.establishment = c.establishment_number AND y.post = c.post, p
    WHERE c.kind IN {FIXED_TERM_KINDS} AND c.period_end >= p.window_start
    GROUP BY c.establishment_number
)
SELECT
    e.siret, p.as_of, e.street, e.postal_code, e.city, e.naf, e.idcc, e.region_code, e.departement, e.declares,
    e.first_month AS first_declared_month, e.declared_window_bits,
    -- Counted up to the window's length: uncapped, every establishment's count grows by one a month (the whole
    -- population drifts with the calendar, and a model reads the month from it). One declaring since the first
    -- month the warehouse holds counts as old: it may have declared long before.
    CASE WHEN e.declares_since_first_month THEN {window_months}
         ELSE least(datediff('month', coalesce(e.first_month, p.as_of), p.as_of), {window_months}) END AS months_in_dsn,
    coalesce(f.headcount, 0) AS headcount,
    coalesce(f.fte, 0) AS fte,
    coalesce(f.temp_workers_in_force, 0) AS temp_workers_in_force,
    CASE WHEN y.headcount_year_before > 0 THEN coalesce(f.headcount, 0) / y.headcount_year_before - 1 END
        AS headcount_growth_12m,
    coalesce(m.hires_12m, 0) AS hires_12m,
    coalesce(m.hires_3m, 0) AS hires_3m,
    (m.hires_cdd_12m + m.hires_usage_12m + m.hires_mission_12m) / nullif(m.hires_12m, 0) AS share_hires_fixed_term_12m,
    m.hires_cdd_12m / nullif(m.hires_12m, 0) AS share_hires_cdd_12m,
    m.hires_mission_12m / nullif(m.hires_12m, 0) AS share_hires_mission_12m,
    m.hires_usage_12m / nullif(m.hires_12m, 0) AS share_hires_usage_12m,
    (m.hires_cdd_3m + m.hires_usage_3m + m.hires_mission_3m) / nullif(m.hires_3m, 0) AS share_hires_fixed_term_3m,
    m.hires_cdd_3m / nullif(m.hires_3m, 0) AS share_hires_cdd_3m,
    m.hires_mission_3m / nullif(m.hires_3m, 0) AS share_hires_mission_3m,
    m.hires_usage_3m / nullif(m.hires_3m, 0) AS share_hires_usage_3m,
    m.fixed_term_days_12m / nullif(m.contract_days_12m, 0) AS precarity_rate_12m,
    m.fixed_term_days_3m / nullif(m.contract_days_3m, 0) AS precarity_rate_3m,
    m.hours_fixed_term_12m / nullif(m.hours_12m, 0) AS share_hours_fixed_term_12m,
    m.hours_cdd_12m / nullif(m.hours_12m, 0) AS share_hours_cdd_12m,
    m.hours_mission_12m / nullif(m.hours_12m, 0) AS share_hours_mission_12m,
    m.hours_usage_12m / nullif(m.hours_12m, 0) AS share_hours_usage_12m,
    coalesce(d.ended_fixed_term_12m, 0) AS ended_fixed_term_12m,
    d.share_fixed_term_under_1_month_12m, d.share_fixed_term_under_1_week_12m, d.share_fixed_term_one_day_12m,
    dm.median_fixed_term_days_12m, d.mean_fixed_term_days_12m,
    r.rehire_share_12m,
    coalesce(rp.persons_3plus_contracts_12m, 0) AS persons_3plus_contracts_12m,
    coalesce(rp.persons_10plus_contracts_12m, 0) AS persons_10plus_contracts_12m,
    coalesce(rp.max_contracts_one_person_12m, 0) AS max_contracts_one_person_12m,
    coalesce(lc.longest_chain_contracts, 0) AS longest_chain_contracts,
    coalesce(lc.longest_chain_days, 0) AS longest_chain_days,
    coalesce(pr.longest_post_run_days, 0) AS longest_post_run_days,
    coalesce(pr.longest_post_run_persons, 0) AS longest_post_run_persons,
    coalesce(yr.share_fixed_term_days_on_year_round_posts_12m, 0) AS share_fixed_term_days_on_year_round_posts_12m,
    coalesce(yr.year_round_fixed_term_posts_12m, 0) AS year_round_fixed_term_posts_12m
FROM (SELECT *, siret_number(siret) AS establishment_number FROM {establishments}) e
CROSS JOIN p
LEFT JOIN in_force f ON f.establishment = e.establishment_number
LEFT JOIN in_force_year_before y ON y.establishment = e.establishment_number
LEFT JOIN counted m ON m.establishment = e.establishment_number
LEFT JOIN durations d ON d.establishment = e.establishment_number
LEFT JOIN duration_medians dm ON dm.establishment = e.establishment_number
LEFT JOIN rehires r ON r.establishment = e.establishment_number
LEFT JOIN repeaters rp ON rp.establishment = e.establishment_number
LEFT JOIN longest_chains lc ON lc.establishment = e.establishment_number
LEFT JOIN post_runs pr ON pr.establishment = e.establishment_number
LEFT JOIN year_round yr ON yr.establishment = e.establishment_number
"""


def compute_indicators(engine: SqlEngine, settings: FeaturesConfig, establishments: str = "establishments_asof",
                       append: bool = False, contracts: str = "contracts_asof") -> None:
    """Create the temp table `establishment_indicators`: one row per establishment of table `establishments` (shaped as
    `establishments_asof`), from table `contracts` (shaped as `contracts_asof`); with `append`, add the rows to the
    table already there.

    An engine that splits large aggregates computes it by ranges of establishments of about `CONTRACTS_PER_PART`
    contracts, each range's contracts and establishments copied apart first: the same rows, each range's
    aggregates and windows within memory."""
    parts = 1
    if engine.splits_large_aggregates:
        parts = max(1, -(-fetch_aggregate(engine, f"SELECT count(*) FROM {contracts}")[0] // CONTRACTS_PER_PART))
    if parts == 1:
        _write_indicators(engine, indicators_sql(settings, contracts, establishments), append)
        return
    cuts = siret_cuts(engine, f"SELECT siret FROM {establishments}", parts)
    for part, (low, high) in enumerate(siret_ranges(cuts)):
        engine.create_table("indicator_contracts", f"SELECT {', '.join(CONTRACT_COLUMNS)} FROM {contracts} WHERE "
                            + siret_range("establishment_siret", low, high))
        engine.create_table("indicator_establishments", f"SELECT * FROM {establishments} WHERE "
                            + siret_range("siret", low, high))
        _write_indicators(engine, indicators_sql(settings, "indicator_contracts", "indicator_establishments"),
                          append or part > 0)
    for name in ("indicator_contracts", "indicator_establishments"):
        engine.drop_table(name)


def _write_indicators(engine: SqlEngine, rows: str, append: bool) -> None:
    if append:
        engine.insert_into("establishment_indicators", rows)
    else:
        engine.create_table("establishment_indicators", rows)
