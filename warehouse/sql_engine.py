"""Where the feature SQL runs: DuckDB (the default) or Spark, behind one small interface.

Feature definitions are written once, in DuckDB SQL (features.asof, contracts, indicators, rules,
build). The stages that run them only ever: attach the warehouse (a view per table), create a temp
table from a query and append a query's rows to it, register small in-memory tables (places,
calendars, sectors, inspections), fetch a result, and write a large result to a Parquet file of the
engine's scratch folder. `DuckDBEngine` runs the SQL as it is;
`warehouse.spark.engine.SparkEngine` translates it (warehouse.spark.dialect) and runs it on Spark
over the same Parquet layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from core.sql_literals import sql_string
from warehouse.engine import attach_warehouse, connect, published_version
from warehouse.spill import DEFAULT_SCRATCH_ROOT, SpillFolder
from warehouse.versions import MissingVersion, hold_for_reading, is_version_folder

if TYPE_CHECKING:
    from core.config import Config

ENGINES = ("duckdb", "spark")
# How many versions an engine looks up in turn when each is deleted before it holds it (`DuckDBEngine.attach_warehouse`).
ATTACH_TRIES = 5


class SqlEngine(Protocol):
    """Runs DuckDB SQL statements over the warehouse and keeps their results as named temp tables."""

    name: str
    # Whether a very large aggregate should be run in parts (DuckDB keeps an aggregate's groups in
    # memory or spills them slowly; Spark spreads them over its shuffle partitions by itself).
    splits_large_aggregates: bool

    @property
    def keeps_table_order(self) -> bool:
        """Whether a plain scan of a temp table (no ORDER BY) returns its rows in the order they were inserted, so that a
        table created sorted is read back sorted without sorting again (DuckDB with `preserve_insertion_order`, its
        default; not Spark)."""

    def attach_warehouse(self, warehouse: Path) -> Path | None:
        """A view per warehouse table (warehouse.engine.attach_warehouse's layout), empty when it has no file; the
        version's warehouse folder the views read, when the engine knows it."""

    def create_table(self, name: str, query: str) -> None:
        """Replace the temp table `name` by the rows of `query`."""

    def insert_into(self, name: str, query: str) -> None:
        """Append the rows of `query` to the temp table `name` (columns by position)."""

    def drop_table(self, name: str, missing_ok: bool = False) -> None:
        """Drop the temp table `name` and free what it held (with `missing_ok`, nothing when there is none)."""

    def rename_table(self, name: str, new_name: str) -> None:
        """Name the temp table `name` `new_name` instead (no table has that name), without copying its rows."""

    def register(self, name: str, data: pa.Table | pd.DataFrame) -> None:
        """A view `name` over in-memory data, until `unregister(name)`."""

    def unregister(self, name: str) -> None:
        """Drop the view of `register`."""

    def fetch(self, query: str) -> pd.DataFrame:
        """The rows of `query` as pandas, as DuckDB converts them (dates as datetime64, nullable integers)."""

    def fetch_row(self, query: str) -> tuple | None:
        """The first row of `query` (None when it has none), as Python values (dates as datetime.date)."""

    def write_parquet(self, query: str, path: Path, row_group_rows: int) -> int:
        """Write the rows of `query`, in its order, to the Parquet file `path` (zstd, row groups of
        `row_group_rows` rows); returns how many rows. `pandas_frame` reads it as `fetch` would give it."""

    def scratch(self) -> Path:
        """A folder of the engine's own for the files it writes, removed when it closes."""

    def close(self) -> None:
        """Free the temp tables (and the DuckDB connection) and remove the scratch folder."""

    def __enter__(self) -> SqlEngine: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None: ...


_MASKED_INTEGERS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                    pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
                    pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _convertible(column: pa.ChunkedArray) -> bool:
    """Whether `arrow_frame` gives this column the dtype DuckDB's `.df()` would (text with no value at all
    is `object` there)."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.null_count < len(column)
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_date32(kind) or (pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """`table` (a DuckDB result as Arrow, decimals cast to DOUBLE by DuckDB) as pandas with the dtypes DuckDB's
    `.df()` gives: integers and booleans holding a null as pandas' masked types, dates and timestamps as
    datetime64[us], text as `str`. Read from the Arrow buffers, without the Python object per value `.df()` makes
    on its way (several times faster, with a fraction of its peak memory: the features' peak at national scale
    came while their results were fetched; README, "National scale")."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_date32(kind):
            column = column.cast(pa.timestamp("us"))
        masked = column.null_count > 0 and kind in _MASKED_INTEGERS
        columns[name] = column.to_pandas(types_mapper=_MASKED_INTEGERS.get if masked else None)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def pandas_frame(table: pa.Table) -> pd.DataFrame:
    """`table` as pandas with the dtypes DuckDB's `.df()` gives (`arrow_frame`, or DuckDB itself for a table with no
    rows or a column arrow_frame does not convert as `.df()` would)."""
    if table.num_rows and all(_convertible(column) for column in table.columns):
        return arrow_frame(table)
    return duckdb.from_arrow(table).df()


class DuckDBEngine:
    """The SQL run as written, in one DuckDB connection (`con`, which the engine closes, then its `spill` folder)."""

    name = "duckdb"
    splits_large_aggregates = True

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, spill: SpillFolder | None = None) -> None:
        self.con = con if con is not None else connect()
        self.spill = spill
        self.held_versions: dict[Path, int] = {}  # version folder -> the descriptor of its readers' lock

    @classmethod
    def spilling_to(cls, spill_root: Path, memory_limit: str | None = None, threads: int | None = None) -> DuckDBEngine:
        """An engine whose connection spills to a folder of its own under `spill_root` (dead ones there are
        reclaimed first), removed when it closes."""
        spill = SpillFolder.claim(spill_root)
        try:
            return cls(connect(memory_limit, threads, spill.path), spill)
        except BaseException:
            spill.close()
            raise

    @property
    def keeps_table_order(self) -> bool:
        row = self.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        return bool(row and row[0])

    def attach_warehouse(self, warehouse: Path) -> Path:
        # The version is held before its views are made (read until the engine closes: not deleted under it); one
        # deleted meanwhile (two runs published since it was looked up) gives way to the version published now, unless
        # `warehouse` named that very version.
        for _ in range(ATTACH_TRIES):
            version = published_version(warehouse)
            folder = version.parent
            if folder not in self.held_versions:
                lock = hold_for_reading(folder)
                if lock is not None:
                    self.held_versions[folder] = lock
                elif is_version_folder(folder) and not folder.is_dir():
                    if version == warehouse:
                        raise MissingVersion(f"{folder}: this version of the warehouse was deleted (replaced twice since "
                                             "it was chosen); what reads the version published now can be run again")
                    continue
            attach_warehouse(self.con, version)
            return version
        raise OSError(f"{warehouse}: each version published was deleted before it could be read ({ATTACH_TRIES} tries)")

    def create_table(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

    def insert_into(self, name: str, query: str) -> None:
        self.con.execute(f"INSERT INTO {name} {query}")

    def drop_table(self, name: str, missing_ok: bool = False) -> None:
        self.con.execute(f"DROP TABLE {'IF EXISTS ' if missing_ok else ''}{name}")

    def rename_table(self, name: str, new_name: str) -> None:
        self.con.execute(f"ALTER TABLE {name} RENAME TO {new_name}")

    def register(self, name: str, data: pa.Table | pd.DataFrame) -> None:
        self.con.register(name, data)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def fetch(self, query: str) -> pd.DataFrame:
        relation = self.con.sql(query)
        if any(kind.id == "decimal" for kind in relation.types):  # to float64 as `.df()` does, to the last bit
            relation = relation.project(", ".join(
                f"CAST({_quoted(name)} AS DOUBLE) AS {_quoted(name)}" if kind.id == "decimal" else _quoted(name)
                for name, kind in zip(relation.columns, relation.types, strict=True)))
        result = relation.arrow()
        # Converted from the result already read, so the query does not run twice.
        return pandas_frame(result.read_all() if isinstance(result, pa.RecordBatchReader) else result)

    def fetch_row(self, query: str) -> tuple | None:
        return self.con.execute(query).fetchone()

    def write_parquet(self, query: str, path: Path, row_group_rows: int) -> int:
        # DuckDB sorts (spilling what does not fit in its memory limit) and streams the rows to the file.
        row = self.con.execute(f"COPY ({query}) TO {sql_string(path)} "
                               f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_rows)})").fetchone()
        return int(row[0]) if row is not None else 0

    def scratch(self) -> Path:
        # The spill folder; an engine without one (an in-memory connection) claims one under the system's temp folder.
        if self.spill is None:
            self.spill = SpillFolder.claim(DEFAULT_SCRATCH_ROOT)
        return self.spill.path

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            for lock in self.held_versions.values():
                os.close(lock)
            self.held_versions.clear()
            if self.spill is not None:
                self.spill.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def load_table(engine: SqlEngine, name: str, data: pa.Table) -> None:
    """Create the temp table `name` holding `data` (small reference tables)."""
    engine.register(f"{name}_arrow", data)
    engine.create_table(name, f"SELECT * FROM {name}_arrow")
    engine.unregister(f"{name}_arrow")


def fetch_aggregate(engine: SqlEngine, query: str) -> tuple:
    """The row of an aggregate query without GROUP BY (count, max...), which always returns one."""
    row = engine.fetch_row(query)
    if row is None:
        raise RuntimeError(f"an aggregate query returned no row: {query}")
    return row


def open_engine(kind: str, config: Config, spill_root: Path) -> SqlEngine:
    """A new engine: 'duckdb' (an in-memory connection with `config.duckdb`'s memory limit and threads,
    spilling to a folder of its own under `spill_root`) or 'spark' (a session from `config.spark`, its scratch
    folder under `spill_root`)."""
    if kind == "duckdb":
        return DuckDBEngine.spilling_to(spill_root, config.duckdb.memory_limit, config.duckdb.threads)
    if kind == "spark":
        from warehouse.spark.engine import SparkEngine
        from warehouse.spark.session import spark_session

        return SparkEngine(spark_session(config.spark), config.spark, spill_root)
    raise ValueError(f"unknown engine {kind!r}: one of {', '.join(ENGINES)}")
