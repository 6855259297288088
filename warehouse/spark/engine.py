"""The feature SQL on Spark: DuckDB statements translated to Spark SQL, over the same Parquet warehouse.

A temp table is a temp view over a local checkpoint of its query, materialised when created: each
stage reads the previous one's rows instead of recomputing them, and Spark plans each statement
from those rows rather than from the whole lineage (plans over cached views of the earlier
statements took minutes to optimise).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.config import SparkConfig
from warehouse.engine import SINGLE_TABLES
from warehouse.spark.dialect import spark_sql
from warehouse.spark.session import parquet_bytes, size_shuffle_partitions
from warehouse.spill import DEFAULT_SCRATCH_ROOT, SpillFolder
from warehouse.tables import MONTHLY_TABLES, STAGED_SCHEMAS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SparkEngine:
    """DuckDB SQL run on `session` (which the engine leaves running: sessions are slow to start); its shuffle
    partitions are sized from the warehouse attached, with `settings` (default: the default `spark` section); its
    scratch folder is claimed under `scratch_root` (default: the system's temp folder) when first asked for."""

    name = "spark"
    splits_large_aggregates = False
    keeps_table_order = False  # a scan's partitions come back in no set order

    def __init__(self, session: SparkSession, settings: SparkConfig | None = None,
                 scratch_root: Path | None = None) -> None:
        self.spark = session
        self.settings = settings or SparkConfig()
        self._views: set[str] = set()
        self._scratch_root = scratch_root or DEFAULT_SCRATCH_ROOT
        self._scratch: SpillFolder | None = None

    def _view(self, name: str, frame: DataFrame) -> None:
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _keep(self, name: str, frame: DataFrame) -> None:
        """Materialise `frame` (executors' memory, then disk) as the temp table `name`.

        What `name` held before is freed by Spark's cleaner once nothing refers to it.
        """
        self._view(name, frame.localCheckpoint(eager=True))

    def attach_warehouse(self, warehouse: Path) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        size_shuffle_partitions(self.spark, parquet_bytes(warehouse), self.settings)
        for table in MONTHLY_TABLES:
            folder = warehouse / table
            schema = from_arrow_schema(STAGED_SCHEMAS[table])
            if any(folder.glob("*/*.parquet")):  # schemas given (here and below): no Spark job to infer them
                frame = self.spark.read.schema(schema).parquet(str(folder / "declared_month=*"))
            else:
                frame = self.spark.createDataFrame([], schema)
            self._view(table, frame)
        for table in SINGLE_TABLES:
            path = warehouse / f"{table}.parquet"
            if path.exists():
                self._view(table, self.spark.read.schema(from_arrow_schema(pq.read_schema(path))).parquet(str(path)))

    def create_table(self, name: str, query: str) -> None:
        self._keep(name, self.spark.sql(spark_sql(query)))

    def insert_into(self, name: str, query: str) -> None:
        self._keep(name, self.spark.table(name).union(self.spark.sql(spark_sql(query))))

    def drop_table(self, name: str, missing_ok: bool = False) -> None:
        # Spark drops a view that is not there without an error, `missing_ok` or not.
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def rename_table(self, name: str, new_name: str) -> None:
        self._view(new_name, self.spark.table(name))
        self.drop_table(name)

    def register(self, name: str, data: pa.Table | pd.DataFrame) -> None:
        table = pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
        self._view(name, self.spark.createDataFrame(table))

    def unregister(self, name: str) -> None:
        self.drop_table(name)

    def fetch(self, query: str) -> pd.DataFrame:
        # Converted by DuckDB, so that both engines give the same pandas types.
        result = self.spark.sql(spark_sql(query)).toArrow()
        return duckdb.from_arrow(result).df()

    def fetch_row(self, query: str) -> tuple | None:
        row = self.spark.sql(spark_sql(query)).first()
        return tuple(row) if row is not None else None

    def write_parquet(self, query: str, path: Path, row_group_rows: int) -> int:
        # The executors write the rows in parts, in the query's order (a sorted result's partitions are
        # ranges of it, part i before part i + 1); the parts are then copied one after the other into one
        # file, so the driver holds one row group at a time, never the whole result.
        from pyspark.sql.pandas.types import to_arrow_schema

        frame = self.spark.sql(spark_sql(query))
        parts_folder = Path(tempfile.mkdtemp(prefix="parts-", dir=self.scratch()))
        try:
            frame.write.mode("overwrite").option("compression", "zstd").parquet(str(parts_folder))
            schema = to_arrow_schema(frame.schema)
            return _concatenate_parts(sorted(parts_folder.glob("part-*.parquet")), schema, path, row_group_rows)
        finally:
            shutil.rmtree(parts_folder, ignore_errors=True)

    def scratch(self) -> Path:
        if self._scratch is None:
            self._scratch = SpillFolder.claim(self._scratch_root)
        return self._scratch.path

    def close(self) -> None:
        try:
            for name in sorted(self._views):
                self.spark.catalog.dropTempView(name)
            self._views.clear()
        finally:
            if self._scratch is not None:
                self._scratch.close()
                self._scratch = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def _concatenate_parts(parts: list[Path], schema: pa.Schema, path: Path, row_group_rows: int) -> int:
    """Copy the rows of the Parquet files `parts`, in order, into the one file `path` (zstd, row groups of
    `row_group_rows` rows, the last one smaller); returns how many rows. What is held at a time is the rows of one
    row group, and the row group of a part being read."""
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=row_group_rows):
                pending.append(batch.cast(schema))
                pending_rows += batch.num_rows
                if pending_rows >= row_group_rows:
                    whole = pa.Table.from_batches(pending, schema)
                    writer.write_table(whole.slice(0, row_group_rows), row_group_size=row_group_rows)
                    pending = whole.slice(row_group_rows).to_batches()
                    pending_rows -= row_group_rows
                    rows += row_group_rows
        if pending_rows:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=row_group_rows)
            rows += pending_rows
    return rows
