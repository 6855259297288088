"""`champollion ingest --engine spark`: the same parser and SQL as the DuckDB engine, on PySpark.

Each parse task (`warehouse.parse_worker.parse_batch`, one batch of files) runs in a Spark task, so
executors parse in parallel; what they found (counts, issues, quarantined declarations) comes back
to the driver. Cancel-and-replace and the warehouse tables are then computed by Spark SQL from the
DuckDB definitions (`warehouse.consolidate`, `warehouse.contracts`, translated by
`warehouse.spark.dialect`) and written in the same layout, so either engine reads what the other
wrote and re-ingesting a file changes nothing.

The home (its `data/versions`, where the version being written keeps its staging and warehouse, and
`data/quarantine`) must be on a filesystem that the driver and every executor see at the same path
(the local disk in local mode; NFS or another shared mount on a cluster): executors write the staged
Parquet and the quarantine, the driver reads and moves files. The pseudonymisation key travels to the
executors inside the tasks: on a cluster, turn on Spark's RPC encryption (`spark.network.crypto.enabled`).
Leave `spark.speculation` off: two attempts of one parse task would write the same staged files.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import SparkConfig
from warehouse.consolidate import (
    CHANGED_MONTHS_SQL,
    COPIES_SQL,
    COPY_DIGESTS_SCHEMA,
    DECLARATION_STATUS_SQL,
    ESTABLISHMENTS_SQL,
    PERSONS_SQL,
    REPORTED_BEFORE_SCHEMA,
    STATUS_ISSUES_SQL,
    STATUS_SQL,
    ConsolidationResult,
    conflicts_set_aside,
    copy_digests,
    reported_before,
    status_issues,
    stored_months,
)
from warehouse.contracts import CONTRACT_STATES_SQL, RENAMED_SNAPSHOTS_SQL, STATES_FILE, rebuild_contracts_sql
from warehouse.engine import places_arrow
from warehouse.ingest import Progress
from warehouse.parse_worker import BatchResult, BatchTask, parse_batch
from warehouse.spark.dialect import spark_sql
from warehouse.spark.engine import SparkEngine
from warehouse.spark.session import parquet_bytes, size_shuffle_partitions, spark_session
from warehouse.sql_engine import load_table
from warehouse.tables import FILES_NAME, MONTHLY_TABLES, STAGED_SCHEMAS, month_partition

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import SparkContext
    from pyspark.sql import DataFrame, SparkSession

PROGRESS_SECONDS = 1.0
_SPARK_TYPES = {"string": "STRING", "date32[day]": "DATE", "int32": "INT", "int64": "BIGINT", "double": "DOUBLE",
                "bool": "BOOLEAN"}
# Hadoop's committer writes a `_SUCCESS` marker next to the data; the warehouse has none.
NO_SUCCESS_MARKER = {"mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}


class SparkIngest:
    """Parse tasks as Spark tasks; cancel-and-replace and the tables by Spark SQL."""

    def __init__(self, spark: SparkSession, settings: SparkConfig | None = None) -> None:
        self.spark = spark
        self.settings = settings or SparkConfig()

    @classmethod
    def from_config(cls, settings: SparkConfig) -> SparkIngest:
        """On the session that the `spark` section of the configuration describes."""
        return cls(spark_session(settings), settings)

    @property
    def parallelism(self) -> int:
        return self.spark.sparkContext.defaultParallelism

    def parse(self, tasks: list[BatchTask], progress: Progress | None) -> list[BatchResult]:
        """One Spark task per batch; progress counts the bytes of finished tasks as the average batch."""
        if not tasks:
            return []
        context = self.spark.sparkContext
        total_bytes = sum(f.size for t in tasks for f in t.files)
        group = f"champollion-parse-{uuid.uuid4().hex}"
        results: list[BatchResult] = []
        errors: list[BaseException] = []  # re-raised in the calling thread

        def run() -> None:
            context.setJobGroup(group, f"parse {len(tasks)} batches of DSN files")
            try:
                results.extend(context.parallelize(tasks, len(tasks)).map(parse_batch).collect())
            except BaseException as exc:
                errors.append(exc)

        runner = threading.Thread(target=run, name=group, daemon=True)
        runner.start()
        while runner.is_alive():
            if progress:
                progress(_finished_tasks(context, group) * total_bytes // len(tasks), total_bytes)
            runner.join(PROGRESS_SECONDS)
        if errors:
            raise errors[0]
        if progress:
            progress(total_bytes, total_bytes)
        return sorted(results, key=lambda r: r.batch_id)

    def consolidate(
        self, staging: Path, warehouse: Path, batches: list[str], new_batches: list[str], inferred_end_after_months: int
    ) -> ConsolidationResult:
        """Resolve which declarations survive, rewrite the months touched by `new_batches`, then
        rebuild the establishment, person and contract tables (as `warehouse.consolidate.consolidate`)."""
        from pyspark.sql import functions as F

        spark = self.spark
        warehouse.mkdir(parents=True, exist_ok=True)
        size_shuffle_partitions(spark, parquet_bytes(staging), self.settings)

        def staged(table: str, which: list[str]) -> DataFrame:
            return _read_parquet(spark, [staging / table / f"{b}.parquet" for b in which], STAGED_SCHEMAS[table])

        # Declarations are few (one row per establishment and month) and read many times: kept in memory.
        declarations = staged("declarations", batches).persist()
        declarations.createOrReplaceTempView("staged_declarations")
        # When each file was ingested, as written (no time zone: TIMESTAMP_NTZ, as DuckDB reads and writes it).
        manifest = staging / FILES_NAME
        files = (spark.read.parquet(str(manifest)).select("source_sha256", F.col("ingested_at").cast("timestamp_ntz"))
                 if manifest.exists() else spark.createDataFrame([], "source_sha256 STRING, ingested_at TIMESTAMP_NTZ"))
        files.createOrReplaceTempView("ingested_files")
        copies = [tuple(row) for row in spark.sql(spark_sql(COPIES_SQL)).collect()]
        digests = [tuple(row.values()) for row in copy_digests(staging, copies).to_pylist()]
        spark.createDataFrame(digests, _spark_schema(COPY_DIGESTS_SCHEMA)).createOrReplaceTempView("copy_digests")
        resolved = spark.sql(spark_sql(STATUS_SQL)).persist()
        resolved.createOrReplaceTempView("resolved_status")
        before = [tuple(row.values()) for row in reported_before(warehouse).to_pylist()]  # before statuses are rewritten
        spark.createDataFrame(before, _spark_schema(REPORTED_BEFORE_SCHEMA)).createOrReplaceTempView("reported_before")
        try:
            changed: set[str] = set()
            if stored_months(warehouse):  # read before the months are rewritten
                spark.read.parquet(str(warehouse / "declarations")).select("declaration_key", "month") \
                    .createOrReplaceTempView("stored_kept")
                changed = {row[0] for row in spark.sql(spark_sql(CHANGED_MONTHS_SQL)).collect()}
            _write_single_file(spark.sql(spark_sql(DECLARATION_STATUS_SQL)), warehouse / "declaration_status.parquet")
            status_rows = [tuple(row) for row in spark.sql(spark_sql(STATUS_ISSUES_SQL)).collect()]
            issues, set_aside = status_issues(status_rows), conflicts_set_aside(status_rows)
            months = sorted(changed | {
                row[0]
                for row in staged("declarations", new_batches)
                .where("nature = '01' AND month IS NOT NULL")
                .select(F.date_format("month", "yyyy-MM"))
                .distinct()
                .collect()
            })
            kept = resolved.where("status = 'kept'").select("declaration_key")
            for table in MONTHLY_TABLES:
                rows = declarations if table == "declarations" else staged(table, batches)
                kept_rows = rows.join(kept, "declaration_key", "left_semi").select(*STAGED_SCHEMAS[table].names)
                _rewrite_months(kept_rows, warehouse / table, months)
            counts: dict[str, int] = dict(resolved.groupBy("status").count().collect())
        finally:
            resolved.unpersist()
            declarations.unpersist()
        engine = SparkEngine(spark, self.settings)  # the warehouse views and `places`, as the feature stages see them
        engine.attach_warehouse(warehouse)
        load_table(engine, "places", places_arrow())
        _write_single_file(spark.sql(spark_sql(ESTABLISHMENTS_SQL)), warehouse / "establishments.parquet")
        _write_single_file(spark.sql(spark_sql(PERSONS_SQL)), warehouse / "persons.parquet")
        contracts_sql = (f"{rebuild_contracts_sql(None, inferred_end_after_months)} "
                         "ORDER BY siret, person_key, start_date, contract_number")
        _write_single_file(spark.sql(spark_sql(contracts_sql)), warehouse / "contracts.parquet")
        order = " ORDER BY siret, person_key, start_date, contract_number"
        _write_single_file(spark.sql(spark_sql(CONTRACT_STATES_SQL + order + ", run_from")), warehouse / STATES_FILE)
        _write_single_file(spark.sql(spark_sql(RENAMED_SNAPSHOTS_SQL + order + ", month, declaration_key, line")),
                           warehouse / "renamed_snapshots.parquet")
        return ConsolidationResult(counts, months, issues, set_aside)


def _rewrite_months(kept_rows: DataFrame, root: Path, months: list[str]) -> None:
    """Replace the folders `root/declared_month=YYYY-MM` of `months` ('YYYY-MM') by the kept rows of
    those months: one Parquet file per month holding the table's columns (the folder is the month)."""
    from pyspark.sql import functions as F

    for month in months:
        shutil.rmtree(root / month_partition(month), ignore_errors=True)
    if not months:
        return
    rows = kept_rows.withColumn("declared_month", F.date_format("month", "yyyy-MM")).where(
        F.col("declared_month").isin(months)
    )
    (rows.repartition("declared_month").write.mode("append").partitionBy("declared_month")
     .options(**NO_SUCCESS_MARKER).parquet(str(root)))


def _finished_tasks(context: SparkContext, group: str) -> int:
    """Tasks of the job group finished so far (0 before its job starts)."""
    tracker = context.statusTracker()
    finished = 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else ():
            stage = tracker.getStageInfo(stage_id)
            finished += stage.numCompletedTasks if stage else 0
    return finished


def _spark_schema(schema: pa.Schema) -> str:
    """The Spark DDL of an Arrow schema of the warehouse (strings, dates, integers, doubles, booleans)."""
    return ", ".join(f"`{f.name}` {_SPARK_TYPES[str(f.type)]}" for f in schema)


def _read_parquet(spark: SparkSession, paths: list[Path], schema: pa.Schema) -> DataFrame:
    """Parquet files with the columns and types of `schema` (an empty frame when there are none)."""
    spark_schema = _spark_schema(schema)
    if not paths:
        return spark.createDataFrame([], spark_schema)
    return spark.read.schema(spark_schema).parquet(*map(str, paths))


def _write_single_file(frame: DataFrame, path: Path) -> None:
    """Write `frame` as the one Parquet file `path`, rows in the frame's order.

    Spark writes a folder of part files: one task writes the only part (next to `path`, so on the
    same filesystem), which then replaces `path`.
    """
    folder = path.with_name(f".{path.name}.spark")
    frame.coalesce(1).write.mode("overwrite").options(**NO_SUCCESS_MARKER).parquet(str(folder))
    [part] = folder.glob("part-*.parquet")
    part.replace(path)
    shutil.rmtree(folder)
