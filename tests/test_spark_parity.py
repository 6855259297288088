"""DuckDB and Spark (local mode) compute the same feature table and evidence from the `small` population."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import Config, SparkConfig
from features.build import compute_features, latest_month
from tests.feature_results import read_whole
from tests.test_last_declared import EXPECTED, last_declared
from warehouse.inspections import read_inspections
from warehouse.sql_engine import DuckDBEngine, pandas_frame

pytestmark = pytest.mark.slow

# A fixed heap for the small population: sized from the machine (half its memory), a test JVM grew to 7.5 GB here
# beside the other worker's (3.4 GB), and a CI run lost its JVM in the middle of the ingestion's parity tests.
TEST_DRIVER_MEMORY = "2g"
# Few shuffle partitions: the small population is a few megabytes, and each partition is a task.
LOCAL_SPARK = SparkConfig(
    master="local[2]", driver_memory=TEST_DRIVER_MEMORY,
    settings={"spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": "2"},
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
    # Same columns, types and values, bit for bit (hours are summed as integers: `warehouse.contracts.HOUR_UNITS`).
    pd.testing.assert_frame_equal(actual.features, expected.features, check_exact=True)
    assert expected.evidence["rule"].nunique() >= 5  # the comparison covers nearly every rule
    pd.testing.assert_frame_equal(_sorted(actual.evidence), _sorted(expected.evidence),
                                  check_exact=False, rtol=1e-9, atol=1e-12)
    assert expected.features["past_inspections"].sum() > 0
    # Controls whose outcome is known, and controls of the last 90 days whose outcome is not yet (missing): both compared.
    outcomes = expected.features.loc[expected.features["past_inspections"] > 0, "last_inspection_found_abuse"]
    assert outcomes.notna().any() and outcomes.isna().any()
    assert actual.fingerprint == expected.fingerprint  # a table stored by either engine is current for both


@pytest.mark.parametrize("where", ["", "WHERE i < 0"])
def test_spark_writes_a_sorted_result_in_its_order_through_its_parts(spark_engine, tmp_path, where):
    """Spark's parts (seven ranges of the sorted rows) are copied in order into one file of full row groups, which
    reads back as `fetch` gives the same query, an empty result included; the parts are removed."""
    n = 30_000
    spark_engine.register("rows_df", pa.table({
        "siret": [f"{(i * 7919) % 5000:06d}" for i in range(n)],
        "i": pa.array(range(n), pa.int64()),
        "masked": pa.array([None if i % 3 == 0 else i for i in range(n)], pa.int32()),
        "day": [date(2025, 1, 1) + timedelta(days=i % 400) for i in range(n)],
        "text": [f"écart n° {i}" for i in range(n)],
    }))
    query = f"SELECT * FROM rows_df {where} ORDER BY siret, i"
    conf = spark_engine.spark.conf
    before = {key: conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
    conf.set("spark.sql.shuffle.partitions", "7")
    conf.set("spark.sql.adaptive.enabled", "false")  # keeps the seven ranges apart
    try:
        path = tmp_path / "rows.parquet"
        written = spark_engine.write_parquet(query, path, 4096)
        expected = spark_engine.fetch(query)
    finally:
        for key, value in before.items():
            conf.set(key, value)
        spark_engine.unregister("rows_df")
    assert written == len(expected) == (0 if where else n)
    groups = pq.ParquetFile(path).metadata
    sizes = [groups.row_group(g).num_rows for g in range(groups.num_row_groups)]
    assert all(size == 4096 for size in sizes[:-1]) and sum(sizes) == written
    pd.testing.assert_frame_equal(pandas_frame(pq.read_table(path)), expected, check_exact=True)
    assert not list(spark_engine.scratch().glob("parts-*"))


@pytest.mark.parametrize("reverse", [False, True])
def test_spark_breaks_ties_within_a_month_as_duckdb_does(spark_engine, reverse):
    """Spark takes the same latest declaration and later absence end as DuckDB, whichever row it reads first."""
    assert last_declared(spark_engine, reverse) == EXPECTED
