"""`ingest --engine spark` builds the same warehouse as the DuckDB engine from the `small` population.

Spark runs in local mode (local[2]); the DuckDB warehouse is the session's `small_warehouse`.
The Spark home ingests the population, then one of its files again (which must change nothing).
Every table is read back by DuckDB, as the later stages read it, sorted by its non-float columns
and compared value by value (floats within FLOAT_TOLERANCE: sums add up in another order).
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from core.config import Config, SparkConfig
from core.home import Home
from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn
from tests.old_batches import as_written_before_addresses
from tests.test_ingest import (
    ANNULATIONS,
    COPIES,
    FRACTION_CASES,
    annulation_declarations,
    annulation_end,
    report,
    statuses_by_file,
)
from tests.test_spark_parity import TEST_DRIVER_MEMORY
from warehouse.engine import SINGLE_TABLES, attach_warehouse, connect
from warehouse.ingest import IngestSummary, ingest
from warehouse.tables import MONTHLY_TABLES

pytestmark = pytest.mark.slow

FLOAT_TOLERANCE = 1e-9
# Short jobs on little data: the JVM's quick compiler only (half the CPU), few shuffle partitions, no UI. The quick
# compiler alone gets a 48 MB code cache by default, which a session serving every Spark test of a worker filled
# ("Out of space in CodeCache for adapters" failed every Spark test after it): the tiered compiler's 240 MB.
TEST_SPARK = SparkConfig(
    master="local[2]",
    driver_memory=TEST_DRIVER_MEMORY,
    settings={
        **SparkConfig().settings,
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m",
    },
)


@pytest.fixture(scope="module")
def spark_ingested(small_warehouse, tmp_path_factory, test_key) -> tuple[Home, IngestSummary, IngestSummary]:
    """The small population ingested with Spark into a fresh home, then one of its files again:
    (home, summary of the first run, summary of the second)."""
    from warehouse.spark.ingest import SparkIngest

    population, _ = small_warehouse
    config = Config(spark=TEST_SPARK)
    engine = SparkIngest.from_config(config.spark)
    home = Home(tmp_path_factory.mktemp("small-spark-home"))
    first = ingest([population / "dsn"], home, config, test_key, engine=engine)
    again = ingest([min((population / "dsn").rglob("*.dsn*"))], home, config, test_key, engine=engine)
    return home, first, again


def read_table(home: Home, table: str) -> pa.Table:
    """A warehouse table as DuckDB reads it (monthly tables with their `declared_month`), sorted by
    every column that is not a float."""
    source = (
        f"read_parquet('{home.warehouse / table}/*/*.parquet', hive_partitioning = true)"
        if table in MONTHLY_TABLES else f"read_parquet('{home.warehouse / f'{table}.parquet'}')"
    )
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    order = ", ".join(f'"{name}"' for name, kind, *_ in columns if kind not in ("DOUBLE", "FLOAT"))
    return duckdb.sql(f"SELECT * FROM {source} ORDER BY {order}").to_arrow_table()


def assert_same_table(table: str, expected: pa.Table, actual: pa.Table) -> None:
    assert actual.schema.names == expected.schema.names, f"{table}: columns differ"
    assert actual.schema.types == expected.schema.types, f"{table}: column types differ"
    assert actual.num_rows == expected.num_rows, f"{table}: {actual.num_rows} rows with Spark, {expected.num_rows} with DuckDB"
    # The small population renames no contract: its renamed snapshots are compared by schema only.
    assert expected.num_rows > 0 or table == "renamed_snapshots", f"{table}: empty"
    for name in expected.schema.names:
        want, got = expected.column(name), actual.column(name)
        if pa.types.is_floating(want.type):
            assert want.is_null().equals(got.is_null()), f"{table}.{name}: NULLs differ"
            close = np.isclose(got.to_numpy(zero_copy_only=False), want.to_numpy(zero_copy_only=False),
                               rtol=FLOAT_TOLERANCE, atol=FLOAT_TOLERANCE, equal_nan=True)
            assert close.all(), f"{table}.{name}: first difference at sorted row {int(np.argmin(close))}"
        elif not got.equals(want):
            row = next(i for i, (w, g) in enumerate(zip(want.to_pylist(), got.to_pylist(), strict=True)) if w != g)
            raise AssertionError(f"{table}.{name}: sorted row {row} is {got[row]} with Spark, {want[row]} with DuckDB")


@pytest.mark.parametrize("table", [*MONTHLY_TABLES, *SINGLE_TABLES])
def test_spark_builds_the_same_warehouse_as_duckdb(small_warehouse, spark_ingested, table):
    """The same tables, but when each file was ingested (each run's own time: compared below)."""
    _, duckdb_home = small_warehouse
    spark_home, *_ = spark_ingested
    expected, actual = read_table(duckdb_home, table), read_table(spark_home, table)
    if "ingested_at" in expected.schema.names:
        expected, actual = expected.drop_columns("ingested_at"), actual.drop_columns("ingested_at")
    assert_same_table(table, expected, actual)


def test_spark_stamps_each_declaration_with_its_files_ingestion_as_duckdb(small_warehouse, spark_ingested):
    """`declaration_status.ingested_at` is its file's stamp in the manifest, as written (no time zone), on both."""
    for home in (small_warehouse[1], spark_ingested[0]):
        status = home.warehouse / "declaration_status.parquet"
        assert duckdb.sql(f"DESCRIBE SELECT ingested_at FROM '{status}'").fetchall()[0][1] == "TIMESTAMP"
        stamped = duckdb.sql(f"""
            SELECT count(*) FILTER (WHERE s.ingested_at IS DISTINCT FROM f.ingested_at), count(*)
            FROM '{status}' s JOIN '{home.data / "staging" / "files.parquet"}' f USING (source_file)""").fetchone()
        assert stamped[0] == 0 and stamped[1] > 0


def test_spark_summary_counts_what_duckdb_resolved(small_warehouse, spark_ingested):
    _, duckdb_home = small_warehouse
    _, summary, _ = spark_ingested
    statuses = dict(duckdb.sql(
        f"SELECT status, count(*) FROM '{duckdb_home.warehouse / 'declaration_status.parquet'}' GROUP BY status"
    ).fetchall())
    assert summary.status_counts == statuses
    assert summary.files_new == summary.files_seen > 0
    assert summary.monthly_declarations == sum(statuses.values())
    assert len(summary.months_rewritten) == 24


def test_reingesting_a_file_with_spark_changes_nothing(spark_ingested):
    _, first, again = spark_ingested
    assert (again.files_seen, again.files_new, again.files_already_ingested) == (1, 0, 1)
    assert again.status_counts == first.status_counts
    assert again.months_rewritten == []


def test_spark_reads_batches_staged_before_addresses(tmp_path, test_key):
    """As with DuckDB (tests/test_ingest.py): batches staged before street and city were kept are read with
    them NULL, and the month ingested after has its address."""
    from warehouse.spark.ingest import SparkIngest

    config = Config(spark=TEST_SPARK)
    engine = SparkIngest.from_config(config.spark)
    home = Home(tmp_path / "home")
    siret = "12345678900011"
    january = Declaration(siret, "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06")])], order="1")
    ingest([write_dsn(tmp_path / "jan.dsn", envoi([january]))], home, config, test_key, engine=engine)
    as_written_before_addresses(home)
    february = Declaration(siret, "2025-02", [Individual(contracts=[Contract("C1", "2025-01-06")])], order="2",
                           street="25 BOULEVARD VOLTAIRE", city="PARIS")
    ingest([write_dsn(tmp_path / "feb.dsn", envoi([february]))], home, config, test_key, engine=engine)
    con = connect()
    attach_warehouse(con, home.warehouse)
    assert con.execute("SELECT month, street, city FROM declarations ORDER BY month").fetchall() == [
        (date(2025, 1, 1), None, None), (date(2025, 2, 1), "25 BOULEVARD VOLTAIRE", "PARIS")]
    assert con.execute("SELECT street, postal_code, city FROM establishments").fetchall() == [
        ("25 BOULEVARD VOLTAIRE", "75011", "PARIS")]


def test_spark_reads_end_blocks_and_annulations_as_duckdb(tmp_path, test_key):
    """As with DuckDB (tests/test_ingest.py): two end blocks of one contract in one declaration, in either order,
    give the later end; an annulation (099) withdraws the end of its date declared before (every `ANNULATIONS` case,
    one establishment each)."""
    from warehouse.spark.ingest import SparkIngest

    config = Config(spark=TEST_SPARK)
    engine = SparkIngest.from_config(config.spark)
    home = Home(tmp_path / "home")
    earlier, later = ("2025-01-20", "031"), ("2025-01-31", "059")
    declarations = [
        Declaration(siret, "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06", end=first, more_ends=(second,))])],
                    order="1")
        for siret, (first, second) in (("12345678900011", (earlier, later)), ("12345678900029", (later, earlier)))
    ]
    expected = [("12345678900011", date(2025, 1, 31), "059"), ("12345678900029", date(2025, 1, 31), "059")]
    for index, (months, end) in enumerate(ANNULATIONS.values()):
        siret = f"2234567890{index + 1:04d}"
        declarations += annulation_declarations(siret, months)
        expected.append((siret, *annulation_end(end)))
    ingest([write_dsn(tmp_path / "ends.dsn", envoi(declarations))], home, config, test_key, engine=engine)
    ends = duckdb.sql(f"SELECT siret, end_date, end_motif FROM '{home.warehouse / 'contracts.parquet'}' ORDER BY siret")
    assert ends.fetchall() == sorted(expected)


def test_spark_settles_conflicts_as_duckdb(tmp_path, test_key):
    """As with DuckDB (tests/test_ingest.py): copies of one identifier with other content and a month declared whole
    and in fractions give the same statuses, issues and quarantine on both engines."""
    from warehouse.spark.ingest import SparkIngest

    folder = tmp_path / "in"
    for case, (contracts_a, contracts_b) in COPIES.items():
        siret = "12345678900011" if case == "more_lines" else "12345678900029"
        for name, contracts_ in ((f"{case}-a.dsn", contracts_a), (f"{case}-b.dsn", contracts_b)):
            write_dsn(folder / name, envoi([Declaration(siret, "2025-01", [Individual(contracts=contracts_)], order="7")]))
    for n, (name, people, fraction, created) in enumerate(FRACTION_CASES["fractions_sent_last"][0], start=1):
        write_dsn(folder / name, envoi([Declaration("22345678900011", "2025-01", people, order=str(n), fraction=fraction,
                                                    created=created)]))
    config = Config(spark=TEST_SPARK)
    results = {}
    for engine_name in ("duckdb", "spark"):
        home = Home(tmp_path / engine_name)
        engine = SparkIngest.from_config(config.spark) if engine_name == "spark" else None
        summary = ingest([folder], home, config, test_key, engine=engine)
        issues = sorted((row["file"], row["line"], row["kind"], row["reason"]) for row in report(summary)
                        if row["kind"] in ("id_conflict", "fraction_conflict"))
        # a later month: its months compared with those the warehouse holds (CHANGED_MONTHS_SQL), none to mend
        later = write_dsn(tmp_path / f"later-{engine_name}" / "february.dsn", envoi([
            Declaration("22345678900011", "2025-02", FRACTION_CASES["fractions_sent_last"][0][0][1], order="9")]))
        again = ingest([later], home, config, test_key, engine=engine)
        repeated = [row["kind"] for row in report(again) if row["kind"] in ("id_conflict", "fraction_conflict")]
        results[engine_name] = (statuses_by_file(home), issues, sorted(p.name for p in home.quarantine.glob("*.dsn")),
                                again.months_rewritten, repeated)
    # the later run reports none of the conflicts the first one found
    assert results["spark"] == results["duckdb"] and results["duckdb"][3:] == (["2025-02"], [])
    assert sorted(results["duckdb"][0].values()).count("id_conflict") == 2
    assert sorted(results["duckdb"][0].values()).count("fraction_conflict") == 1
