"""From staged batches to the warehouse: cancel-and-replace resolved, then tables rebuilt.

Which declaration survives for an establishment and a month is decided over everything staged so
far, so the order in which files arrive does not matter:
- a type 04 declaration cancels the one its S20.G00.05.006 names, and never survives itself;
- a type 03 or 05 declaration replaces the one it names;
- the same declaration received twice (same identifier, same content) counts once; copies of one identifier
  declaring different content are a conflict: the copy first in COPY_ORDER is read, the others are set aside
  (reported, and quarantined by the caller);
- of two surviving declarations for the same establishment, month and fraction, the later one
  (constitution date, then order number) is kept and the other reported;
- a month declared both whole (fraction 11) and in fractions, or in two sets of fractions, keeps one set (a
  complete one first, then the one sent last); the declarations of the other are a conflict, set aside.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.geography import departement_sql
from core.sql_literals import sql_string, sql_string_list
from warehouse.contracts import (
    CONTRACT_STATES_SQL,
    LAST_DECLARED,
    RENAMED_SNAPSHOTS_SQL,
    STATES_FILE,
    rebuild_contracts_sql,
)
from warehouse.dsn.parser import Issue
from warehouse.engine import attach_warehouse, conformed_parquet_sql, register_places
from warehouse.partitions import MonthlyPartitionWriter
from warehouse.read_ahead import read_ahead
from warehouse.tables import FILES_NAME, MONTHLY_TABLES, STAGED_SCHEMAS, month_partition
from warehouse.versions import fresh_file

log = logging.getLogger("champollion.ingest")

STREAM_BATCH_ROWS = 32_768
CONTRACT_SLICE_ROWS = 1_000_000  # contract snapshots rebuilt at once (~600 MB)
# DuckDB's memory while the months are sorted by SIRET and written (it spills beyond). Each month is sorted on its
# own (`_write_months`): a month of the `large` preset fits well within it, a national month spills.
MONTHS_MEMORY_LIMIT = "1GB"

# Which copy of a declaration identifier is read when copies differ: the one holding the most lines, then the most
# individuals, then the most contracts (a copy cut short or emptied loses), then the greater content digest: a choice
# fixed by what the copies declare, whatever the files holding them and the order they arrive in.
COPY_ORDER = ("line_end - line_start DESC, n_individuals DESC NULLS LAST, n_contracts DESC NULLS LAST, "
              "content_digest DESC NULLS LAST, source_sha256, decl_index")
# The staged monthly declarations that share their identifier, establishment and month with another: the copies whose
# contents `copy_digests` compares.
COPIES_SQL = """
SELECT declaration_key, source_sha256 FROM (
    SELECT declaration_key, source_sha256, count(*) OVER (PARTITION BY declaration_id, siret, month) AS copies
    FROM staged_declarations WHERE nature = '01' AND declaration_id IS NOT NULL
) AS identified WHERE copies > 1
"""
COPY_DIGESTS_SCHEMA = pa.schema([("declaration_key", pa.string()), ("content_digest", pa.string())])
# Columns that say where a declaration was read or which envoi carried it, not what it declares.
_NOT_CONTENT = frozenset({"declaration_key", "source_sha256", "source_file", "decl_index", "line_start", "line_end",
                          "norm_version", "software", "emitter_siret", "line"})

# The later declaration first: by constitution date, then order number (then a fixed order).
LATEST_FIRST = ("created_date DESC NULLS LAST, TRY_CAST(order_number AS DECIMAL(38, 0)) DESC NULLS LAST, "
                "declaration_key DESC")
# S20.G00.05.003 'XY': fraction X of a declaration split in Y fractions ('11': not split, the whole establishment).
# Another value (missing, '21', '00') is read as '11'.
FRACTIONS = tuple(f"{part}{total}" for total in range(1, 10) for part in range(1, total + 1))

STATUS_SQL = f"""
WITH monthly AS (
    SELECT * FROM staged_declarations WHERE nature = '01'
),
-- Copies of one declaration identifier: the first in COPY_ORDER is read, the others are duplicates when they declare
-- the same (the same digest in the view `copy_digests`, from `copy_digests()`) or conflicts, set aside, when they
-- do not.
ordered_copies AS (
    SELECT declaration_key, content_digest,
           row_number() OVER (PARTITION BY declaration_id, siret, month ORDER BY {COPY_ORDER}) AS copy_rank,
           first_value(content_digest) OVER (PARTITION BY declaration_id, siret, month ORDER BY {COPY_ORDER})
               AS first_digest
    FROM monthly LEFT JOIN copy_digests USING (declaration_key) WHERE declaration_id IS NOT NULL
),
copies AS (
    SELECT declaration_key,
           CASE WHEN copy_rank = 1 THEN 'first'
                WHEN content_digest = first_digest THEN 'duplicate'
                ELSE 'id_conflict' END AS copy_status
    FROM ordered_copies
),
distinct_monthly AS (
    SELECT m.* FROM monthly m LEFT JOIN copies c USING (declaration_key)
    WHERE coalesce(c.copy_status, 'first') = 'first'
),
targets AS (
    SELECT r.declaration_key AS by_key, r.type AS by_type, t.declaration_key AS target_key
    FROM distinct_monthly r
    LEFT JOIN distinct_monthly t
      ON t.declaration_id = r.replaces_id AND t.siret = r.siret AND t.month = r.month
     AND t.declaration_key <> r.declaration_key
    WHERE r.type IN ('03', '04', '05')
),
first_status AS (
    SELECT m.declaration_key, m.siret, m.month, m.created_date, m.order_number, m.type,
           CASE WHEN m.fraction IN ({sql_string_list(FRACTIONS)}) THEN m.fraction ELSE '11' END AS fraction,
           CASE
               WHEN coalesce(c.copy_status, 'first') <> 'first' THEN c.copy_status
               WHEN m.type = '04' THEN 'cancellation'
               WHEN m.declaration_key IN (SELECT target_key FROM targets WHERE by_type = '04') THEN 'cancelled'
               WHEN m.declaration_key IN (SELECT target_key FROM targets WHERE by_type IN ('03', '05')) THEN 'replaced'
               ELSE 'candidate'
           END AS status
    FROM monthly m LEFT JOIN copies c USING (declaration_key)
),
ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY siret, month, fraction ORDER BY {LATEST_FIRST}) AS candidate_rank,
           row_number() OVER (PARTITION BY siret, month, fraction_set ORDER BY {LATEST_FIRST}) AS latest_of_set
    FROM (SELECT *, substr(fraction, 2, 1) AS fraction_set FROM first_status WHERE status = 'candidate') AS candidates
),
-- A month of an establishment is declared whole ('11') or in one set of fractions ('12', '22'...): of several sets,
-- the complete one is kept before one missing a fraction, then the one sent last (its latest declaration).
fraction_sets AS (
    SELECT siret, month, fraction_set, count(DISTINCT fraction) AS fractions
    FROM ranked GROUP BY siret, month, fraction_set
),
chosen_sets AS (
    SELECT s.siret, s.month, s.fraction_set,
           row_number() OVER (
               PARTITION BY s.siret, s.month
               ORDER BY CASE WHEN s.fractions = CAST(s.fraction_set AS INTEGER) THEN 0 ELSE 1 END,
                        l.created_date DESC NULLS LAST, TRY_CAST(l.order_number AS DECIMAL(38, 0)) DESC NULLS LAST,
                        s.fraction_set
           ) AS set_rank
    FROM fraction_sets s
    JOIN ranked l ON l.siret = s.siret AND l.month = s.month AND l.fraction_set = s.fraction_set AND l.latest_of_set = 1
)
SELECT f.declaration_key, f.siret, f.month, f.type,
       CASE WHEN f.status = 'candidate' AND r.candidate_rank > 1 THEN 'superseded'
            WHEN f.status = 'candidate' AND c.set_rank > 1 THEN 'fraction_conflict'
            WHEN f.status = 'candidate' THEN 'kept'
            ELSE f.status END AS status,
       t.by_key IS NOT NULL AND t.target_key IS NULL AS targets_nothing
FROM first_status f
LEFT JOIN ranked r USING (declaration_key)
LEFT JOIN chosen_sets c ON c.siret = r.siret AND c.month = r.month AND c.fraction_set = r.fraction_set
LEFT JOIN targets t ON t.by_key = f.declaration_key
"""

ESTABLISHMENTS_SQL = f"""
WITH latest AS (  -- as last declared (LAST_DECLARED)
    SELECT siret,
           arg_max(siren, {LAST_DECLARED}) AS siren,
           arg_max(naf, {LAST_DECLARED}) AS naf,
           arg_max(naf_enterprise, {LAST_DECLARED}) AS naf_enterprise,
           arg_max(idcc, {LAST_DECLARED}) AS idcc,
           arg_max(street, {LAST_DECLARED}) AS street,
           arg_max(postal_code, {LAST_DECLARED}) AS postal_code,
           arg_max(city, {LAST_DECLARED}) AS city,
           min(month) AS first_month,
           max(month) AS last_month,
           count(DISTINCT month) AS months_declared
    FROM declarations GROUP BY siret
),
users_only AS (  -- establishments known only as users of temp workers (S21.G00.85)
    SELECT workplace_siret AS siret, substr(workplace_siret, 1, 9) AS siren,
           arg_max(naf, {LAST_DECLARED}) AS naf, NULL AS naf_enterprise, NULL AS idcc,
           arg_max(street, {LAST_DECLARED}) AS street,
           arg_max(postal_code, {LAST_DECLARED}) AS postal_code,
           arg_max(city, {LAST_DECLARED}) AS city,
           NULL::DATE AS first_month, NULL::DATE AS last_month, 0 AS months_declared
    FROM workplaces
    WHERE regexp_full_match(coalesce(workplace_siret, ''), '[0-9]{{14}}')
      AND workplace_siret NOT IN (SELECT siret FROM latest)
    GROUP BY workplace_siret
),
everyone AS (
    SELECT *, true AS declares FROM latest
    UNION ALL  -- by position: users_only lists latest's columns in its order
    SELECT *, false AS declares FROM users_only
)
SELECT e.siret, e.siren, e.naf, e.naf_enterprise, e.idcc, e.street, e.postal_code, e.city,
       p.departement, p.departement_name, p.region_code, p.region,
       e.first_month, e.last_month, e.months_declared, e.declares
FROM everyone e
LEFT JOIN places p ON p.departement = """ + departement_sql("e.postal_code") + """
ORDER BY e.siret
"""

# Two plain aggregations rather than mode() and count(DISTINCT): on 350,000 persons they took 160 MB
# where those took 560 MB, and they spill beyond the memory limit (mode()'s hash map per person does not).
# identified_by follows from person_key (the pseudonym hashes the kind of identifier with it), so
# min() only picks the one value.
PERSONS_SQL = """
WITH per_establishment AS (
    SELECT person_key, siret, min(identified_by) AS identified_by, min(month) AS first_month, max(month) AS last_month
    FROM person_months
    GROUP BY person_key, siret
)
SELECT person_key,
       min(identified_by) AS identified_by,
       min(first_month) AS first_month,
       max(last_month) AS last_month,
       count(siret) AS establishments
FROM per_establishment
GROUP BY person_key
ORDER BY person_key
"""

# The declaration_status table: STATUS_SQL's result (the view `resolved_status`) with where each declaration was read,
# its identifier (the copies of one declaration share it) and when its file was ingested (the view `ingested_files`:
# source_sha256 and ingested_at of the manifest, `staging/files.parquet`): what `warehouse.arrivals` reads.
DECLARATION_STATUS_SQL = """
SELECT s.*, d.source_file, d.line_start, d.declaration_id, f.ingested_at
FROM resolved_status s JOIN staged_declarations d USING (declaration_key)
LEFT JOIN ingested_files f ON f.source_sha256 = d.source_sha256
ORDER BY s.siret, s.month, s.declaration_key
"""

# The months whose declarations kept differ from those the warehouse holds (view `stored_kept`: the declarations of
# its months, as written): besides the months of the new batches, those a change of the rules settles otherwise (a
# warehouse written before whole months and fractions were told apart kept both) are rewritten, so that the months'
# rows always follow the statuses written beside them, whatever the statuses written before.
CHANGED_MONTHS_SQL = """
WITH new_kept AS (SELECT declaration_key, month FROM resolved_status WHERE status = 'kept'),
gone AS (SELECT declaration_key, month FROM stored_kept EXCEPT SELECT declaration_key, month FROM new_kept),
came AS (SELECT declaration_key, month FROM new_kept EXCEPT SELECT declaration_key, month FROM stored_kept)
SELECT DISTINCT strftime(month, '%Y-%m') AS month
FROM (SELECT month FROM gone UNION ALL SELECT month FROM came) AS changed
WHERE month IS NOT NULL
"""

REPORTED = ("superseded", "duplicate", "id_conflict", "fraction_conflict")  # statuses cancel-and-replace reports
# The declarations cancel-and-replace reports, each with (in `k_` columns) what it gave way to when it was set aside
# in a conflict: the copy read instead (id_conflict), the declarations kept for its month (fraction_conflict); one row
# for each of those. The last two columns say whether its status, and its targeting nothing, are new: not so in the
# warehouse's statuses before the run (the view `reported_before`, from `reported_before()`), so a run reports only
# what it found and the warehouse's set-aside copies are all listed (`conflicts_set_aside`).
STATUS_ISSUES_SQL = f"""
WITH reported AS (
    SELECT d.*, s.status, s.targets_nothing,
           b.status IS DISTINCT FROM s.status AS new_status,
           s.targets_nothing AND NOT coalesce(b.targets_nothing, false) AS new_targets_nothing
    FROM resolved_status s JOIN staged_declarations d USING (declaration_key)
    LEFT JOIN reported_before b USING (declaration_key)
    WHERE s.targets_nothing OR s.status IN ({sql_string_list(REPORTED)})
),
read_instead AS (
    SELECT d.*, s.status
    FROM resolved_status s JOIN staged_declarations d USING (declaration_key)
    WHERE s.status NOT IN ('duplicate', 'id_conflict')
)
SELECT r.source_file, r.line_start, r.status, r.type, r.targets_nothing, r.siret, strftime(r.month, '%Y-%m') AS month,
       r.source_sha256, r.decl_index, r.line_end, r.declaration_id, r.fraction, r.n_individuals, r.n_contracts,
       k.source_file AS k_file, k.line_start AS k_line_start, k.line_end AS k_line_end, k.fraction AS k_fraction,
       k.n_individuals AS k_individuals, k.n_contracts AS k_contracts, r.new_status, r.new_targets_nothing
FROM reported r
LEFT JOIN read_instead k
  ON k.siret = r.siret AND k.month = r.month
 AND ((r.status = 'id_conflict' AND k.declaration_id = r.declaration_id)
      OR (r.status = 'fraction_conflict' AND k.status = 'kept'))
ORDER BY r.source_file, r.line_start, k.source_file, k.line_start
"""
CONFLICTS = ("id_conflict", "fraction_conflict")  # statuses of the declarations set aside, and quarantined
REPORTED_BEFORE_SCHEMA = pa.schema([("declaration_key", pa.string()), ("status", pa.string()),
                                    ("targets_nothing", pa.bool_())])


@dataclass(frozen=True)
class SetAside:
    """A declaration set aside in a conflict: where it was read, and why (`problems`), for the quarantine."""

    file: str
    sha256: str
    index: int
    line_start: int
    line_end: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ConsolidationResult:
    """Declaration counts by status (over everything staged) and the months rewritten."""

    status_counts: dict[str, int]
    months_rewritten: list[str]
    issues: list[Issue]
    set_aside: list[SetAside]


def consolidate(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    warehouse: Path,
    batches: list[str],
    new_batches: list[str],
    inferred_end_after_months: int,
) -> ConsolidationResult:
    """Resolve which declarations survive, rewrite the months touched by `new_batches` (and those whose declarations
    kept changed: CHANGED_MONTHS_SQL), then rebuild the establishment, person and contract tables.

    The warehouse is a draft (`warehouse.versions`): its files may be hard links to the
    published ones, so each file is replaced, never written over.
    """
    warehouse.mkdir(parents=True, exist_ok=True)

    def staged(table: str, which: list[str]) -> str:
        return "[" + sql_string_list(staging / table / (b + ".parquet") for b in which) + "]"

    def copy_to(query: str, name: str) -> None:
        con.execute(f"COPY ({query}) TO {sql_string(fresh_file(warehouse / name))} (FORMAT parquet)")
        log.info("consolidate: %s written", name)

    def staged_rows(table: str) -> str:
        """Every staged batch's rows of `table`, batches staged before a column existed reading it as NULL."""
        return conformed_parquet_sql(con, staged(table, batches), STAGED_SCHEMAS[table])

    con.execute(f"CREATE OR REPLACE TEMP VIEW staged_declarations AS {staged_rows('declarations')}")
    manifest = staging / FILES_NAME
    con.execute("CREATE OR REPLACE TEMP VIEW ingested_files AS " + (
        f"SELECT source_sha256, CAST(ingested_at AS TIMESTAMP) AS ingested_at FROM read_parquet({sql_string(manifest)})"
        if manifest.exists() else "SELECT NULL::VARCHAR AS source_sha256, NULL::TIMESTAMP AS ingested_at WHERE false"))
    con.register("copy_digests", copy_digests(staging, con.execute(COPIES_SQL).fetchall()))
    con.execute(f"CREATE OR REPLACE TEMP TABLE resolved_status AS {STATUS_SQL}")
    con.register("reported_before", reported_before(warehouse))  # read before the statuses are rewritten
    changed: set[str] = set()
    if stored_months(warehouse):  # read before the months are rewritten
        con.execute(f"CREATE OR REPLACE TEMP VIEW stored_kept AS SELECT declaration_key, month "
                    f"FROM read_parquet({sql_string(str(warehouse / 'declarations' / '*' / '*.parquet'))})")
        changed = {row[0] for row in con.execute(CHANGED_MONTHS_SQL).fetchall()}
    copy_to(DECLARATION_STATUS_SQL, "declaration_status.parquet")
    status_rows = con.execute(STATUS_ISSUES_SQL).fetchall()
    issues, set_aside = status_issues(status_rows), conflicts_set_aside(status_rows)
    months = sorted(changed | {
        row[0]
        for row in con.execute(
            f"SELECT DISTINCT strftime(month, '%Y-%m') FROM read_parquet({staged('declarations', new_batches)}) "
            f"WHERE nature = '01' AND month IS NOT NULL"
        ).fetchall()
    } if new_batches else changed)
    kept = "SELECT declaration_key FROM resolved_status WHERE status = 'kept'"
    with _memory_limit(con, MONTHS_MEMORY_LIMIT):
        _write_months(con, warehouse, months, staged_rows, kept)
    attach_warehouse(con, warehouse)
    register_places(con)
    copy_to(ESTABLISHMENTS_SQL, "establishments.parquet")
    copy_to(PERSONS_SQL, "persons.parquet")
    _write_contracts(con, warehouse, inferred_end_after_months)
    log.info("consolidate: contracts.parquet written")
    attach_warehouse(con, warehouse)
    counts = dict(con.execute("SELECT status, count(*) FROM resolved_status GROUP BY status").fetchall())
    return ConsolidationResult(counts, months, issues, set_aside)


def _write_months(con: duckdb.DuckDBPyConnection, warehouse: Path, months: list[str],
                  staged_rows: Callable[[str], str], kept: str) -> None:
    """Rewrite the partitions of `months` of every monthly table from the staged rows of the kept declarations,
    each month sorted by SIRET: the contracts are then rebuilt by ranges of SIRETs (and the features read them so)
    from the row groups of the range only (on the whole `large` preset: 72 row groups instead of 927 for
    contract_months).

    In two passes, so that memory does not grow with the number of months: the kept rows are first streamed, in no
    order, into an uncompressed scratch partition per month (read once); then each month is sorted on its own and
    written. One sort over every month held them all, or spilled them, at once: consolidating the whole `large`
    preset peaked at 1,677 MB in that sort against 1,593 MB for its first half; in two passes, 580 and 574 MB (the
    consolidation's peak is then the contracts' rebuild, 867 and 826 MB), for 7 s more of 30 s."""
    month_list = sql_string_list(months)
    for table in MONTHLY_TABLES:
        for month in months:
            shutil.rmtree(warehouse / table / month_partition(month), ignore_errors=True)
        if not months:
            continue
        source = f"({staged_rows(table)})" if table != "declarations" else "staged_declarations"
        with tempfile.TemporaryDirectory(prefix=f"months-{table}-", dir=warehouse.parent) as scratch:
            _write_partitions(con, f"SELECT t.* FROM {source} t WHERE t.declaration_key IN ({kept}) "
                                   f"AND strftime(t.month, '%Y-%m') IN ({month_list})", Path(scratch), table, "none")
            for month in months:
                unsorted = sorted((Path(scratch) / month_partition(month)).glob("*.parquet"))
                if unsorted:
                    _write_partitions(con, f"SELECT * FROM read_parquet([{sql_string_list(unsorted)}], "
                                           "hive_partitioning = false) ORDER BY siret", warehouse / table, table)
        log.info("consolidate: months of %s written", table)


def _write_partitions(con: duckdb.DuckDBPyConnection, query: str, root: Path, table: str,
                      compression: str = "snappy") -> None:
    """Write the rows of `query` (a monthly table's columns) to the month partitions under `root`, streamed to
    Python (DuckDB computes the next batches while these are written): memory stays within the writer's budget
    however many rows and months there are."""
    reader = con.execute(query).to_arrow_reader(STREAM_BATCH_ROWS)
    with read_ahead(reader) as batches, MonthlyPartitionWriter(root, STAGED_SCHEMAS[table], compression=compression) as writer:
        writer.write_batches(batches)


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's memory limit lowered to `limit` for the block when it is higher, then set back to what it was (as
    DuckDB shows it: to 0.1 GiB)."""
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    if _size_bytes(before) <= _size_bytes(limit):
        yield
        return
    con.execute(f"SET memory_limit = {sql_string(limit)}")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = {sql_string(before)}")


_SIZE_UNITS = {"bytes": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _size_bytes(size: str) -> float:
    """Bytes of a memory size as DuckDB takes or shows it ('1GB', '9.3 GiB')."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", size)
    if found is None or found.group(2) not in _SIZE_UNITS:
        raise ValueError(f"not a memory size: {size!r}")
    return float(found.group(1)) * _SIZE_UNITS[found.group(2)]


def _write_contracts(con: duckdb.DuckDBPyConnection, warehouse: Path, inferred_end_after_months: int) -> None:
    """Rebuild `contracts.parquet`, and the versioned contracts (`contract_states.parquet`, with the
    snapshots of renamed contracts in `renamed_snapshots.parquet`), one range of SIRETs at a time,
    appending the ranges in order.

    A contract's snapshots all carry the declaring SIRET, so each range is rebuilt whole; ranges
    of about CONTRACT_SLICE_ROWS snapshots keep DuckDB's memory flat as the warehouse grows.
    """
    order = " ORDER BY siret, person_key, start_date, contract_number"
    write_by_siret_ranges(con, warehouse, _snapshot_cuts(con, CONTRACT_SLICE_ROWS), {
        "contracts.parquet": rebuild_contracts_sql(None, inferred_end_after_months) + order,
        **_versioned_contracts_queries(),
    })


def _versioned_contracts_queries() -> dict[str, str]:
    order = " ORDER BY siret, person_key, start_date, contract_number"
    return {
        STATES_FILE: CONTRACT_STATES_SQL + order + ", run_from",
        "renamed_snapshots.parquet": RENAMED_SNAPSHOTS_SQL + order + ", month, declaration_key, line",
    }


def write_versioned_contracts(con: duckdb.DuckDBPyConnection, warehouse: Path, slice_rows: int = CONTRACT_SLICE_ROWS) -> None:
    """Write the versioned contracts of a warehouse written before they existed (ingestion writes them
    since), by ranges of about `slice_rows` snapshots."""
    attach_warehouse(con, warehouse)
    write_by_siret_ranges(con, warehouse, _snapshot_cuts(con, slice_rows), _versioned_contracts_queries())


def _snapshot_cuts(con: duckdb.DuckDBPyConnection, slice_rows: int) -> list[str]:
    """SIRETs cutting the snapshots of the attached warehouse into ranges of about `slice_rows`."""
    sizes = con.execute("SELECT siret, count(*) FROM contract_months GROUP BY siret ORDER BY siret").fetchall()
    cuts: list[str] = []
    rows = 0
    for siret, count in sizes:
        if rows >= slice_rows and siret is not None:
            cuts.append(siret)
            rows = 0
        rows += count
    return cuts


def write_by_siret_ranges(con: duckdb.DuckDBPyConnection, warehouse: Path, cuts: list[str], queries: dict[str, str]) -> None:
    """Write each query of `queries` (file name -> SQL over the warehouse views) to its file in `warehouse`,
    running it once per range of SIRETs between `cuts` (the monthly views limited to the range) and
    appending the ranges in order. A file is replaced only once complete."""
    writers: dict[str, pq.ParquetWriter] = {}
    partials = {name: warehouse / (name + ".partial") for name in queries}  # not read by the views while written
    try:
        for sirets in zip([None, *cuts], [*cuts, None], strict=True):
            attach_warehouse(con, warehouse, sirets)
            for name, sql in queries.items():
                reader = con.execute(sql).to_arrow_reader(STREAM_BATCH_ROWS)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(partials[name], reader.schema)
                with read_ahead(reader) as batches:
                    for batch in batches:
                        writers[name].write_batch(batch)
    finally:
        for writer in writers.values():
            writer.close()
    for name, partial in partials.items():
        partial.replace(warehouse / name)


def stored_months(warehouse: Path) -> bool:
    """Whether the warehouse holds months of declarations already (what CHANGED_MONTHS_SQL compares with)."""
    return any((warehouse / "declarations").glob("*/*.parquet"))


def copy_digests(staging: Path, copies: list[tuple[str, str]]) -> pa.Table:
    """(declaration_key, content_digest) of the staged declarations `copies` ((declaration_key, source_sha256) pairs,
    from COPIES_SQL): a digest of what each declares, from its staged rows of every table but for the columns that say
    where it was read (and the columns some of the batches read were staged without). Two copies of one declaration,
    in two files or at two places of one, have the same digest; copies differing in a value kept have others."""
    if not copies:
        return COPY_DIGESTS_SCHEMA.empty_table()
    keys = sorted({key for key, _ in copies})
    files = pq.read_table(staging / FILES_NAME, columns=["source_sha256", "batch"]).to_pylist()
    shas = {sha for _, sha in copies}
    batches = sorted({f["batch"] for f in files if f["source_sha256"] in shas})
    digests = {key: hashlib.blake2b(digest_size=16) for key in keys}
    for table in STAGED_SCHEMAS:  # a declaration's rows of a table are in one batch, in the order they were read
        paths = [path for b in batches if (path := staging / table / f"{b}.parquet").exists()]
        shared = set.intersection(*(set(pq.read_schema(path).names) for path in paths)) if paths else set()
        columns = [name for name in STAGED_SCHEMAS[table].names if name in shared and name not in _NOT_CONTENT]
        for path in paths:
            read = pq.read_table(path, columns=["declaration_key", *columns], filters=[("declaration_key", "in", keys)])
            for key, *values in zip(*(read.column(c).to_pylist() for c in read.column_names), strict=True):
                digests[key].update(f"{table}:{values!r}\n".encode())
    return pa.table([pa.array(keys, pa.string()), pa.array([digests[k].hexdigest() for k in keys], pa.string())],
                    schema=COPY_DIGESTS_SCHEMA)


def reported_before(warehouse: Path) -> pa.Table:
    """The declarations the statuses of `warehouse` (the draft, before its statuses are rewritten: those of the
    published version) report: (declaration_key, status, targets_nothing) of those in REPORTED or targeting nothing.
    An empty table for a new or rebuilt warehouse, where everything found is new."""
    path = warehouse / "declaration_status.parquet"
    if not path.exists():
        return REPORTED_BEFORE_SCHEMA.empty_table()
    read = pq.read_table(path, columns=REPORTED_BEFORE_SCHEMA.names,
                         filters=[[("status", "in", list(REPORTED))], [("targets_nothing", "==", True)]])
    return read.select(REPORTED_BEFORE_SCHEMA.names).cast(REPORTED_BEFORE_SCHEMA)


def status_issues(rows: list[tuple]) -> list[Issue]:
    """The issues of cancel-and-replace that are new, from the rows of STATUS_ISSUES_SQL (a declaration set aside in a
    conflict has one row for each declaration it gave way to, in a run of rows): what the warehouse's statuses said
    before the run was reported by the run that found it."""
    issues = []
    for (file, line, status, type_, targets_nothing, siret, month, *_, new_status, new_targets_nothing), group in (
            _by_declaration(rows)):
        if targets_nothing and new_targets_nothing:
            action = "cancels" if type_ == "04" else "replaces"
            issues.append(Issue(file, line, "warning", "replaces_nothing",
                                f"declaration of type {type_} for {siret} {month} {action} the declaration its "
                                "S20.G00.05.006 names, which was not received for that establishment and month"))
        if not new_status:
            continue
        if status == "superseded":
            issues.append(Issue(file, line, "warning", "superseded",
                                f"another declaration for {siret} {month} was kept (a later one, with no "
                                "cancel-and-replace link between them)"))
        elif status == "duplicate":
            issues.append(Issue(file, line, "warning", "duplicate_declaration",
                                f"declaration for {siret} {month} already received in another file; counted once"))
        elif status in CONFLICTS:
            issues.append(Issue(file, line, "error", status, _conflict_reason(group) + "; set aside and quarantined"))
    return issues


def conflicts_set_aside(rows: list[tuple]) -> list[SetAside]:
    """The declarations set aside in a conflict, from the rows of STATUS_ISSUES_SQL, with why."""
    return [
        SetAside(first[0], first[7], first[8], first[1], first[9], (_conflict_reason(group),))
        for first, group in _by_declaration(rows) if first[2] in CONFLICTS
    ]


def _by_declaration(rows: list[tuple]) -> list[tuple[tuple, list[tuple]]]:
    """The rows of STATUS_ISSUES_SQL grouped by declaration (the file's SHA-256 and the declaration's index in it: one
    path read in two versions holds other declarations at the same line): (its first row, all its rows)."""
    groups: dict[tuple, list[tuple]] = {}
    for row in rows:
        groups.setdefault((row[7], row[8]), []).append(row)
    return [(group[0], group) for group in groups.values()]


def _conflict_reason(group: list[tuple]) -> str:
    """Why a declaration was set aside, naming what was read instead, from its rows of STATUS_ISSUES_SQL."""
    (_, line_start, status, _, _, siret, month, _, _, line_end, declaration_id, fraction, individuals, contracts,
     k_file, k_start, k_end, _, k_individuals, k_contracts, _, _) = group[0]
    if status == "fraction_conflict":
        kept = "; ".join(f"{_fraction_text(row[17])} in {row[14]} (lines {row[15]}-{row[16]})" for row in group)
        return (f"declaration for {siret} {month}, {_fraction_text(fraction)}, is not of the set of fractions kept for "
                f"that month: {kept}. A month is declared whole or in one set of fractions; of several sets, the "
                "complete one is kept, then the one sent last (constitution date, then order number)")
    size, k_size = line_end - line_start + 1, k_end - k_start + 1
    if k_size != size:
        why = f"it holds more lines ({k_size} against {size})"
    elif k_individuals != individuals:
        why = f"it declares more individuals ({k_individuals} against {individuals})"
    elif k_contracts != contracts:
        why = f"it declares more contracts ({k_contracts} against {contracts})"
    else:
        why = "as many lines, individuals and contracts: the one with the greater content digest, a choice fixed by the contents"
    return (f"declaration {declaration_id} for {siret} {month} also received with other content in {k_file} "
            f"(lines {k_start}-{k_end}), the copy kept: {why}, whatever the files and their order")


def _fraction_text(fraction: str | None) -> str:
    """A fraction number (S20.G00.05.003) in words; a value not in FRACTIONS is not echoed (it may be anything)."""
    if fraction == "11":
        return "whole (fraction 11)"
    if fraction in FRACTIONS:
        return f"fraction {fraction[0]} of {fraction[1]}"
    return "whole (no valid fraction number, read as 11)"
