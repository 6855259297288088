"""DuckDB and Spark (local mode) compute the same feature table and evidence from the `small` population."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import Config, SparkConfig
from features.build import compute_features, latest_month
from tests.feature_results import read_whole
from warehouse.inspections import read_inspections
from warehouse.sql_engine import DuckDBEngine

pytestmark = pytest.mark.slow

# Few shuffle partitions: the small population is a few megabytes, and each partition is a task.
LOCAL_SPARK = SparkConfig(
    master="local[2]", settings={"spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": "2"}
)


@pytest.fixture(scope="module")
def spark_engine():
    """A Spark engine in local mode, its session stopped after the module's tests."""
    from warehouse.spark.engine import SparkEngine
    from warehouse.spark.session import spark_session

    engine = SparkEngine(spark_session(LOCAL_SPARK))
    yield engine
    engine.close()
    engine.spark.stop()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="first", kind="stable").reset_index(drop=True)


def test_duckdb_and_spark_compute_the_same_features(small_warehouse, spark_engine):
    population, home = small_warehouse
    config = Config()
    inspections = read_inspections(population / "inspections.csv").rows
    with DuckDBEngine() as duckdb_engine:
        as_of = latest_month(duckdb_engine, home.warehouse)
        expected = read_whole(compute_features(duckdb_engine, home.warehouse, as_of, config, inspections))
    actual = read_whole(compute_features(spark_engine, home.warehouse, as_of, config, inspections))

    assert actual.features["siret"].tolist() == expected.features["siret"].tolist()  # same rows, same order
    # Same columns and types; floats within 1e-9, NaN equal to NaN.
    pd.testing.assert_frame_equal(actual.features, expected.features, check_exact=False, rtol=1e-9, atol=1e-12)
    assert expected.evidence["rule"].nunique() >= 5  # the comparison covers nearly every rule
    pd.testing.assert_frame_equal(_sorted(actual.evidence), _sorted(expected.evidence),
                                  check_exact=False, rtol=1e-9, atol=1e-12)
    assert expected.features["past_inspections"].sum() > 0
    assert actual.fingerprint == expected.fingerprint  # a table stored by either engine is current for both
