"""A Spark session from the configuration, sized from the machine (local mode) or from the cluster's settings.

Spark's own defaults are made for a cluster whose settings someone wrote: in local mode they give the
driver, which is then the only executor, a 1 GB heap, and a national month fails building a broadcast
join. With `auto` settings (`spark` section of the configuration):

- the master is `local[N]`, N the CPUs this process may use;
- the driver's heap is `driver_memory_share` of the machine's memory (the container's limit if lower):
  the driver always runs here, in local and in client mode; the rest is for the JVM's overhead, the
  Python driver (the fetched results, converted to pandas) and the system. Its largest result is half
  of it (`spark.driver.maxResultSize`: a national month's feature table and evidence exceed 1 GB);
- a join broadcasts a table below 1/`broadcast_heap_ratio` of the smallest heap that holds it (the
  driver's, and the executors' on a cluster, as the session was really given them);
- shuffle partitions follow the data: one per `shuffle_partition_megabytes` of Parquet read, at least
  two per core of the session (`size_shuffle_partitions`, when the warehouse is attached).

A setting written in `spark.settings` (or given to spark-submit) is never overridden.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import SparkConfig
from core.machine import machine_memory_bytes, usable_cpus

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("champollion.spark")

SUBMITTED_ENV = "PYSPARK_GATEWAY_PORT"  # set when spark-submit started this Python process
MIB = 1024 * 1024
SPARK_DEFAULT_MEMORY = "1g"  # spark.driver.memory and spark.executor.memory when nobody sets them
_UNITS = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def py4j_retry_in_one_line(record: logging.LogRecord) -> bool:
    """A root logger filter: py4j notes each command it sends again on a new connection (the JVM closed the one it
    had) on the root logger, at INFO, with a whole traceback (py4j.java_gateway's `logging.info`): at scale 0.2 of the
    national preset, ten of them, 15 lines each, in a run that succeeded. Each is kept as one line; py4j's warnings
    and errors pass as they are."""
    if record.name == "root" and record.levelno < logging.WARNING and f"{os.sep}py4j{os.sep}" in record.pathname:
        record.msg, record.args = "py4j sent a command again on a new connection (the JVM closed the one it had)", None
        record.exc_info, record.exc_text = None, None
    return True


def jvm_megabytes(size: str) -> int:
    """A Spark memory size ('512m', '12g', '1024' in MiB as spark.driver.memory reads it) in MiB."""
    match = re.fullmatch(r"(\d+)([kmgt]?)b?", size.strip().lower())
    if match is None:
        raise ValueError(f"not a Spark memory size: {size!r}")
    return int(int(match.group(1)) * _UNITS[match.group(2) or "m"])


def master_url(settings: SparkConfig, cpus: int) -> str:
    """`settings.master`, with `auto` as local mode on `cpus` cores."""
    return f"local[{cpus}]" if settings.master == "auto" else settings.master


def sized_settings(settings: SparkConfig, memory_bytes: int, submitted: bool = False) -> dict[str, str]:
    """The Spark settings given to the session builder on a machine of `memory_bytes`: the driver's heap and
    largest result sized when `auto` (not under spark-submit, whose driver is already running), then
    `settings.settings` as written (they win)."""
    fixed = {"spark.ui.showConsoleProgress": "false", **settings.settings}
    if submitted:
        return fixed
    if settings.driver_memory == "auto":
        heap_mb = max(1024, int(memory_bytes * settings.driver_memory_share / MIB))
    else:
        heap_mb = jvm_megabytes(settings.driver_memory)
    heap_mb = jvm_megabytes(settings.settings.get("spark.driver.memory", f"{heap_mb}m"))
    return {"spark.driver.memory": f"{heap_mb}m", "spark.driver.maxResultSize": f"{heap_mb // 2}m", **fixed}


def broadcast_threshold_bytes(settings: SparkConfig, master: str, driver_memory: str, executor_memory: str) -> int:
    """Largest table a join broadcasts: 1/`broadcast_heap_ratio` of the smallest heap holding it (the
    driver builds it whole; on a cluster every executor holds a copy)."""
    heaps = [jvm_megabytes(driver_memory)]
    if not master.startswith("local"):
        heaps.append(jvm_megabytes(executor_memory))
    return min(heaps) * MIB // settings.broadcast_heap_ratio


def shuffle_partitions(input_bytes: int, cores: int, partition_megabytes: int) -> int:
    """One shuffle partition per `partition_megabytes` of input, at least two per core."""
    return max(2 * cores, math.ceil(input_bytes / (partition_megabytes * MIB)))


def spark_session(settings: SparkConfig) -> SparkSession:
    """The active Spark session, or a new one sized as the module docstring says.

    Under `spark-submit` the master and the driver's memory are the ones spark-submit was given.
    Dates are read and written as calendar dates in UTC, so that DuckDB and Spark agree on them.
    """
    from pyspark.sql import SparkSession

    memory, cpus = machine_memory_bytes(), usable_cpus()
    master = master_url(settings, cpus)
    submitted = SUBMITTED_ENV in os.environ
    builder = SparkSession.builder.appName(settings.app_name)
    if not submitted:
        builder = builder.master(master)
        if master.startswith("local"):
            # Local Python workers run this interpreter (and its packages), not `python3` on the PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in sized_settings(settings, memory, submitted).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per closed connection otherwise
    if py4j_retry_in_one_line not in logging.getLogger().filters:
        logging.getLogger().addFilter(py4j_retry_in_one_line)

    conf = session.sparkContext.getConf()
    if not conf.contains("spark.sql.autoBroadcastJoinThreshold"):
        threshold = broadcast_threshold_bytes(
            settings, session.sparkContext.master or master, conf.get("spark.driver.memory", SPARK_DEFAULT_MEMORY),
            conf.get("spark.executor.memory", SPARK_DEFAULT_MEMORY),
        )
        session.conf.set("spark.sql.autoBroadcastJoinThreshold", str(threshold))
    log.info(
        "Spark %s: driver memory %s (machine: %.1f GiB, %d CPUs), largest result %s, broadcast joins under %s bytes",
        session.sparkContext.master, conf.get("spark.driver.memory", SPARK_DEFAULT_MEMORY), memory / 1024**3, cpus,
        conf.get("spark.driver.maxResultSize", "1g"), session.conf.get("spark.sql.autoBroadcastJoinThreshold"),
    )
    return session


def size_shuffle_partitions(session: SparkSession, input_bytes: int, settings: SparkConfig) -> None:
    """Set the session's shuffle partitions from the size of the Parquet it is about to read, unless they
    were set (in `spark.settings` or by spark-submit)."""
    if session.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        return
    partitions = shuffle_partitions(input_bytes, session.sparkContext.defaultParallelism,
                                    settings.shuffle_partition_megabytes)
    session.conf.set("spark.sql.shuffle.partitions", str(partitions))
    log.info("Spark: %d shuffle partitions for %.2f GB of Parquet", partitions, input_bytes / 1e9)


def parquet_bytes(*folders: Path) -> int:
    """Bytes of the Parquet files under `folders` (what a stage is about to read)."""
    return sum(path.stat().st_size for folder in folders for path in folder.rglob("*.parquet"))
