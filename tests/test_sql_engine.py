"""DuckDBEngine.fetch reads results through Arrow and gives exactly the frames DuckDB's own `.df()` gives; write_parquet."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from warehouse.sql_engine import DuckDBEngine, pandas_frame

EVERY_TYPE = """
SELECT * FROM (VALUES
    (1::INTEGER, 2::BIGINT, 1.5::DOUBLE, true, DATE '2025-01-02', TIMESTAMP '2025-01-02 03:04:05', 'carence',
     3::INTEGER, 4::SMALLINT, 1.5::FLOAT, 2::HUGEINT, 1.25::DECIMAL(10, 2), false, 7::UBIGINT, -1::TINYINT),
    (NULL, 3, NULL, NULL, NULL, NULL, NULL, 4, NULL, NULL, NULL, NULL, true, NULL, 5),
    (5, 4, 2.5, false, DATE '1900-01-01', TIMESTAMP '2262-01-01 00:00:00', 'intérim « cariste »', 6, 7, 2.5, 3,
     9.99, false, 8, 0)
) t(masked_int, plain_bigint, a_double, masked_bool, a_date, a_timestamp, text, plain_int, masked_smallint, a_float,
    a_hugeint, a_decimal, plain_bool, masked_ubigint, plain_tinyint)
"""


@pytest.mark.parametrize("query", [
    EVERY_TYPE,
    EVERY_TYPE + " WHERE false",  # no rows: text is `object` there
    "SELECT NULL::VARCHAR AS text, NULL::DATE AS day, NULL::INTEGER AS n",  # text with no value: `object`
    "SELECT NULL::DATE AS day, NULL::BOOLEAN AS flag, NULL::DOUBLE AS x, 'é' AS text",
    "SELECT [1, 2] AS a_list, NULL AS untyped",  # types read by `.df()` itself
    "SELECT TIMESTAMP_NS '2025-01-02 03:04:05.123456789' AS ns, TIMESTAMPTZ '2025-01-02 03:04:05+01' AS tz",
    "SELECT range AS i, 'ligne ' || range AS text FROM range(100000)",
    # decimals as float64 to the last bit, as `.df()` converts them (Arrow's own cast differs in the last bit)
    "SELECT ((hash(range) % 1000000000000)::DECIMAL(18, 0) / 1000000)::DECIMAL(18, 6) AS \"a decimal\", "
    "((hash(range + 1) % 10000000000000)::DECIMAL(38, 0) / 10000000000)::DECIMAL(38, 10) AS wide, "
    "0.5 * range AS half, 1.1 * range::DECIMAL(10, 1) AS product, range / 3 AS third FROM range(200000)",
    "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, -0.0::DOUBLE AS c, 9223372036854775807::BIGINT AS i, '' AS s",
])
def test_fetch_gives_the_frames_of_duckdb_df(query):
    engine = DuckDBEngine()
    try:
        expected = engine.con.sql(query).df()
        found = engine.fetch(query)
    finally:
        engine.close()
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


def test_fetch_runs_its_query_once_when_duckdb_converts_the_result():
    """A result arrow_frame does not convert (text with no value) is converted by DuckDB from what was read: the
    query is not run again (a sequence counts how many times it ran)."""
    engine = DuckDBEngine()
    try:
        engine.con.execute("CREATE SEQUENCE runs")
        found = engine.fetch("SELECT nextval('runs') AS run, NULL::VARCHAR AS text")
        assert found["run"].tolist() == [1] and found["text"].dtype == object
        assert engine.fetch_row("SELECT nextval('runs')") == (2,)
    finally:
        engine.close()


def test_write_parquet_streams_rows_in_order_into_row_groups_read_back_as_fetched(tmp_path):
    """The file holds the query's rows in its order, in row groups of the size asked for, and reads back (through
    pandas_frame) as `fetch` gives the same query; the scratch folder it goes to is removed with the engine."""
    query = ("SELECT lpad(CAST((range * 7919) % 50000 AS VARCHAR), 6, '0') AS siret, range AS i, "
             "CASE WHEN range % 3 = 0 THEN NULL ELSE CAST(range AS INTEGER) END AS masked, "
             "DATE '2025-01-01' + CAST(range % 400 AS INTEGER) AS day, 'écart n° ' || range AS text "
             "FROM range(100000) ORDER BY siret, i")
    engine = DuckDBEngine()
    try:
        path = engine.scratch() / "rows.parquet"
        assert engine.write_parquet(query, path, 4096) == 100_000
        expected = engine.fetch(query)
        groups = pq.ParquetFile(path).metadata
        assert max(groups.row_group(g).num_rows for g in range(groups.num_row_groups)) <= 4096
        pd.testing.assert_frame_equal(pandas_frame(pq.read_table(path)), expected, check_exact=True)
    finally:
        engine.close()
    assert not path.exists() and not path.parent.exists()


def test_a_connection_leaves_caching_the_files_it_reads_to_the_system(tmp_path):
    """DuckDB's own file cache kept the bytes of every file read in its buffer pool, so that a process's memory grew
    with what it had read (consolidating the whole `large` preset: 1,311 MB against 869 MB without)."""
    engine = DuckDBEngine.spilling_to(tmp_path)
    try:
        assert engine.con.execute("SELECT current_setting('enable_external_file_cache')").fetchall() == [(False,)]
    finally:
        engine.close()
