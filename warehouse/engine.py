"""DuckDB over the Parquet warehouse: one embedded connection with a view per table."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

import duckdb
import pyarrow as pa

from core.geography import places_table
from core.sql_literals import sql_string, sql_string_list
from warehouse.tables import MONTHLY_TABLES, STAGED_SCHEMAS
from warehouse.versions import check_version_links

MAX_LINKS = 8
SINGLE_TABLES = ("declaration_status", "establishments", "persons", "contracts", "contract_states", "renamed_snapshots")
# Integers the feature queries group, sort and join by in place of the strings they stand for (features.asof's
# `establishment_number` and `person_number`): on a range of a national month, the indicators took 3.7-3.8 s instead
# of 5.2-5.5 s on the strings, the same rows. `siret_number` is a SIRET's 14 digits as a number, checked to be exactly
# that number's digits, so that two SIRETs never share one; any other text gets a negative hash of itself, below every
# SIRET's number (the warehouse keeps SIRETs of 14 digits only: warehouse.dsn.records, warehouse.contracts; such a text
# shares a number with another such text with a chance of 1 in 2^63). `person_number` is a 64-bit
# hash of a pseudonym: the features compare people within one establishment only, where two of them share a number
# with a chance of n(n-1)/2 in 2^64 for n people. Over the national preset's 29.3 M (establishment, person) pairs
# (1.72 M establishments, the largest with 10,157 people) that is 1.5e-10 for all of them, and none is shared.
KEY_MACROS = (
    "CREATE OR REPLACE TEMP MACRO siret_number(siret) AS "
    "CASE WHEN lpad(CAST(TRY_CAST(siret AS UBIGINT) AS VARCHAR), 14, '0') = siret THEN CAST(siret AS BIGINT) "
    "WHEN siret IS NOT NULL THEN -1 - CAST(hash(siret) >> 1 AS BIGINT) END",
    "CREATE OR REPLACE TEMP MACRO person_number(person_key) AS CASE WHEN person_key IS NOT NULL THEN hash(person_key) END",
)


def connect(
    memory_limit: str | None = None, threads: int | None = None, temp_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set up for batch work (no progress bar); what does not fit in
    `memory_limit` spills to `temp_directory` (DuckDB's default: `.tmp` in the working directory)."""
    con = duckdb.connect()
    # In Jupyter without ipywidgets DuckDB has already turned its bar off and refuses the setting.
    with suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    # DuckDB keeps the bytes of every file it reads in its buffer pool, up to its memory limit: for local files the
    # system's page cache does that already, and the cached bytes made a process's memory grow with what it read.
    # Consolidating the whole `large` preset peaked at 1,311 MB with the cache, 869 MB without (half of it: 995 and
    # 822 MB), in the same time.
    con.execute("SET enable_external_file_cache = false")
    for macro in KEY_MACROS:
        con.execute(macro)
    if memory_limit:
        con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = {sql_string(temp_directory)}")
    return con


def places_arrow() -> pa.Table:
    """Every département: its code, name, region code and region name."""
    places = places_table()
    return pa.table(
        {
            "departement": [p.departement for p in places],
            "departement_name": [p.departement_name for p in places],
            "region_code": [p.region_code for p in places],
            "region": [p.region for p in places],
        }
    )


def register_places(con: duckdb.DuckDBPyConnection) -> None:
    """A `places` table: département, its name, region code and region name."""
    con.register("places_arrow", places_arrow())
    con.execute("CREATE OR REPLACE TEMP TABLE places AS SELECT * FROM places_arrow")
    con.unregister("places_arrow")


def conformed_parquet_sql(
    con: duckdb.DuckDBPyConnection, files: str, schema: pa.Schema, hive_partitioning: bool = False
) -> str:
    """A SELECT of exactly `schema`'s columns from `read_parquet(files)` (`files`: a SQL string or list).

    Files are matched by column name, so files written before a column was added are read with it NULL
    (a plain read_parquet keeps the first file's columns: a later file's extra column would be lost,
    a missing one an error); a column no file has is a NULL of the schema's type.
    """
    options = ", union_by_name = true" + (", hive_partitioning = true" if hive_partitioning else "")
    source = f"read_parquet({files}{options})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    types = duckdb.from_arrow(schema.empty_table(), connection=con).types
    columns = [
        f'"{field.name}"' if field.name in present else f'CAST(NULL AS {kind}) AS "{field.name}"'
        for field, kind in zip(schema, types, strict=True)
    ]
    return f"SELECT {', '.join(columns)} FROM {source}"


def _empty_view(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    con.register(f"{name}_empty", schema.empty_table())
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}_empty")


def published_version(warehouse: Path) -> Path:
    """The folder of the version that `warehouse` names now: the relative links inside its parent folder followed
    (`data/warehouse` -> `data/current/warehouse` -> `data/versions/NNNNNN/warehouse`), not the parent nor the folders
    above it. Resolving the whole path would also follow a link the user made (`data` to another disk) into a path
    with characters DuckDB reads as a pattern, which the home was checked for (`core.home.PATTERN_CHARACTERS`).
    Raises `warehouse.versions.MissingVersion` when a link of the parent folder names a version that is not there:
    a query would otherwise read an empty warehouse."""
    check_version_links(warehouse.parent)
    base, inside = warehouse.parent, Path(warehouse.name)
    for _ in range(MAX_LINKS):
        for depth in range(1, len(inside.parts) + 1):
            link = base.joinpath(*inside.parts[:depth])
            if link.is_symlink() and not os.path.isabs(target := os.readlink(link)):
                inside = Path(os.path.normpath(Path(*inside.parts[: depth - 1], target, *inside.parts[depth:])))
                break
        else:
            return base / inside
    raise OSError(f"{warehouse}: more than {MAX_LINKS} links to follow to the warehouse's version")


def attach_warehouse(
    con: duckdb.DuckDBPyConnection, warehouse: Path, sirets: tuple[str | None, str | None] = (None, None)
) -> Path:
    """Create a view per warehouse table (an empty one when the table has no file yet).

    `sirets` (low, high) limits the monthly tables to establishments with low <= siret < high
    (None: no bound; rows with no SIRET go with the last range, the one with no upper bound).

    The views read the version published when they are attached (`published_version`), not one published later
    while they are read: a pass of several months reads one version. Their files are named one by one, so that a
    query fails, rather than reads part of a version, once that version is deleted (two runs published meanwhile,
    `warehouse.versions`). Returns the version's warehouse folder it attached.
    """
    warehouse = published_version(warehouse)
    low, high = sirets
    bounds = [f"siret >= {sql_string(low)}"] if low is not None else []
    if high is not None:
        bounds.append(f"siret < {sql_string(high)}")
    where = "" if not bounds else " WHERE " + " AND ".join(bounds) + (" OR siret IS NULL" if high is None else "")
    for table in MONTHLY_TABLES:
        parts = sorted((warehouse / table).glob("*/*.parquet"))
        if parts:
            files = f"[{sql_string_list(parts)}]"
            select = conformed_parquet_sql(con, files, STAGED_SCHEMAS[table], hive_partitioning=True)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {select}{where}")
        else:
            _empty_view(con, table, STAGED_SCHEMAS[table])
    for table in SINGLE_TABLES:
        path = warehouse / f"{table}.parquet"
        if path.exists():
            con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM read_parquet({sql_string(path)})")
    return warehouse
