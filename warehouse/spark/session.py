"""A Spark session from the configuration (local mode unless a master URL is set)."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from core.config import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SUBMITTED_ENV = "PYSPARK_GATEWAY_PORT"  # set when spark-submit started this Python process


def spark_session(settings: SparkConfig) -> SparkSession:
    """The active Spark session, or a new one on `settings.master` with `settings.settings` applied.

    Under `spark-submit` the master is the one spark-submit was given, not `settings.master`.
    Dates are read and written as calendar dates in UTC, so that DuckDB and Spark agree on them.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(settings.app_name)
    if SUBMITTED_ENV not in os.environ:
        builder = builder.master(settings.master)
        if settings.master.startswith("local"):
            # Local Python workers run this interpreter (and its packages), not `python3` on the PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in settings.settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per closed connection otherwise
    return session
