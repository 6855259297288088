"""The national-scale generator at a tiny scale: ingestion's schemas, monthly partitions, a plausible
contract mix, features that run on it, and the pandas reference of the features benchmark agreeing
with DuckDB."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from champollion.cli import app
from core.config import Config
from features.bench_reference import compare, read_sample, reference_features
from features.build import compute_features
from features.rules import RULES
from simulation.national import ESTABLISHMENTS_SCHEMA, PERSONS_SCHEMA, STATUS_SCHEMA, NationalSpec, simulate_national
from simulation.national_arrays import hex32
from tests.feature_results import read_whole
from tests.test_contract_states import _assert_same_every_month
from warehouse.engine import published_version
from warehouse.sql_engine import DuckDBEngine
from warehouse.tables import MONTHLY_TABLES, STAGED_SCHEMAS
from warehouse.versions import WarehouseState

AS_OF = date(2025, 12, 1)


@pytest.fixture(scope="module")
def national_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("national")
    simulate_national(home, NationalSpec(scale=0.0005, chunk_establishments=500), workers=1)
    return home


def test_tables_have_the_ingestion_schemas_and_monthly_partitions(national_home: Path) -> None:
    warehouse = national_home / "data" / "warehouse"
    for table in MONTHLY_TABLES:
        partitions = sorted(p.name for p in (warehouse / table).iterdir())
        assert partitions == [f"declared_month=2025-{m:02d}" for m in range(1, 13)], table
        for path in (warehouse / table).glob("*/*.parquet"):
            assert pq.read_schema(path).equals(STAGED_SCHEMAS[table]), path
    assert pq.read_schema(warehouse / "establishments.parquet").equals(ESTABLISHMENTS_SCHEMA)
    assert pq.read_schema(warehouse / "persons.parquet").equals(PERSONS_SCHEMA)
    assert pq.read_schema(warehouse / "declaration_status.parquet").equals(STATUS_SCHEMA)
    # The same schemas as consolidation writes for the ingested small world (tests/test_ingest.py reads them).
    con = duckdb.connect()
    months = con.sql(
        f"SELECT count(DISTINCT month), count(*) FILTER (WHERE strftime(month, '%Y-%m') <> declared_month) "
        f"FROM read_parquet('{warehouse}/contract_months/*/*.parquet', hive_partitioning=true)"
    ).fetchone()
    assert months == (12, 0)


def test_the_warehouse_is_published_as_the_first_version(national_home: Path) -> None:
    # As ingestion would take it in: a reader attached to it reads that version's files, never a later one's.
    data = national_home / "data"
    assert WarehouseState(data).published() == data / "versions" / "000000"
    assert published_version(data / "warehouse") == data / "versions" / "000000" / "warehouse"
    assert (data / "warehouse").is_symlink() and (data / "versions" / "000000" / "warehouse" / "contract_months").is_dir()


def test_contract_mix_is_plausible(national_home: Path) -> None:
    warehouse = national_home / "data" / "warehouse"
    stock = dict(duckdb.connect().sql(
        f"SELECT CASE nature WHEN '01' THEN 'cdi' WHEN '03' THEN 'mission' ELSE 'cdd' END, count(*) "
        f"FROM read_parquet('{warehouse}/contract_months/*/*.parquet', hive_partitioning=true) "
        f"WHERE month = DATE '2025-06-01' GROUP BY 1"
    ).fetchall())
    total = sum(stock.values())
    assert 0.78 < stock["cdi"] / total < 0.92
    assert 0.06 < stock["cdd"] / total < 0.16
    assert 0.01 < stock["mission"] / total < 0.08
    naf = pq.read_table(warehouse / "establishments.parquet").column("naf").to_pylist()
    assert len(naf) - naf.count("7820Z") == 900  # temp agencies come on top of the 0.05 % of 1.8 M users
    assert naf.count("7820Z") >= 1


def test_features_run_and_the_pandas_reference_agrees(national_home: Path) -> None:
    config = Config()
    warehouse = national_home / "data" / "warehouse"
    with DuckDBEngine() as engine:
        table = read_whole(compute_features(engine, warehouse, AS_OF, config))
    assert len(table.features) >= 900
    assert table.features["headcount"].sum() > 0
    assert table.features[["street", "postal_code", "city"]].notna().all().all()  # every establishment's address
    assert set(table.evidence["rule"]) >= {"carence", "usage_hors_secteur", "poste_permanent"}
    sample = sorted(np.random.default_rng(1).choice(table.features["siret"].to_numpy(), 150, replace=False).tolist())
    reference = reference_features(read_sample(warehouse, sample, AS_OF, config.features), sample, AS_OF, config.features)
    agreement = compare(reference, table.features).set_index("feature")
    assert (agreement["max_abs_diff"] < 1e-9).all(), agreement
    assert (agreement["null_mismatches"] == 0).all(), agreement
    assert agreement.loc["hires_12m", "compared"] == 150
    assert list(table.stage_seconds) == ["declarations fingerprinted", "fingerprint", "as-of tables", "indicators",
                                         "rule checks", "results fetched"]
    assert all(seconds > 0 for seconds in table.stage_seconds.values())


def test_findings_and_features_do_not_depend_on_the_pseudonyms(national_home: Path, tmp_path: Path) -> None:
    """The same population under other person keys (as another pseudonymisation key gives): the same features, and
    the same findings in the same order; only the keys and the ids made from them differ."""
    other = tmp_path / "other-keys"
    simulate_national(other, NationalSpec(scale=0.0005, chunk_establishments=500, pseudonym_salt=0x0DDC0FFEE), workers=1)
    tables = []
    for home in (national_home, other):
        with DuckDBEngine() as engine:
            tables.append(read_whole(compute_features(engine, home / "data" / "warehouse", AS_OF, Config())))
    first, second = tables
    pd.testing.assert_frame_equal(first.features, second.features)
    keyed = ["person_key", "contract_id", "related_contract_id"]
    assert (first.evidence["person_key"] != second.evidence["person_key"]).all()
    pd.testing.assert_frame_equal(first.evidence.drop(columns=keyed), second.evidence.drop(columns=keyed))
    assert set(first.evidence["rule"]) >= {"carence", "remplacement_sans_absence", "poste_permanent"}


def test_features_bench_writes_times_stages_and_agreement(national_home: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(national_home), "bench", "features", "--as-of", "2025-12",
                                      "--sample", "0.1", "--months", "2", "--rebuild-reference"])
    assert result.exit_code == 0, result.output
    [path] = (national_home / "data" / "bench").glob("features-*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    rebuilt, engine = report["results"][2], report["results"][4]
    assert rebuilt["variant"].startswith("champollion features, contracts rebuilt") and rebuilt["months"] == 1
    assert engine["variant"].startswith("champollion features (DuckDB") and engine["seconds"] > 0 and engine["months"] == 2
    assert engine["x_pandas_reference"] == pytest.approx(report["results"][1]["seconds"] / engine["seconds"])
    assert engine["x_rebuild"] == pytest.approx(2 * rebuilt["seconds"] / engine["seconds"])
    assert [m["as_of"] for m in report["months"]] == ["2025-11", "2025-12"]
    assert [s["stage"] for s in report["stages"]][2:4] == ["as-of tables", "indicators"]
    assert sum(s["seconds"] for s in report["stages"]) <= engine["seconds"]
    assert all(a["max_abs_diff"] < 1e-9 and a["null_mismatches"] == 0 for a in report["agreement"])


def test_rules_bench_times_the_passes_and_each_rule_query_next_to_its_reference(national_home: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(national_home), "bench", "rules", "--as-of", "2025-12"])
    assert result.exit_code == 0, result.output
    [path] = (national_home / "data" / "bench").glob("rules-*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert all(row["identical"] for row in report["results"])
    assert [row["rule"] for row in report["queries"]] == [rule.id for rule in RULES]
    assert all(row["identical"] and row["x_reference"] == pytest.approx(row["reference_seconds"] / row["seconds"])
               for row in report["queries"])
    assert "Rule queries as of 2025-12" in result.output


def test_cli_refuses_national_dsn_and_writes_parquet(tmp_path: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["simulate", "--out", str(tmp_path / "dsn"), "--preset", "national"])
    assert refused.exit_code != 0 and "terabytes" in refused.output
    written = runner.invoke(app, ["simulate", "--out", str(tmp_path / "nat"), "--preset", "national", "--format",
                                  "parquet", "--scale", "0.0002", "--workers", "1"])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "nat" / "data" / "warehouse" / "contract_months").is_dir()


def test_versioned_contracts_give_the_rebuild_of_every_month(national_home: Path) -> None:
    """The states the generator writes chunk by chunk give, as of each of its 12 months, the contracts
    rebuilt from its snapshots."""
    assert _assert_same_every_month(national_home / "data" / "warehouse", 24) == 12


def test_a_warehouse_link_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # What would be written there is not what readers of the home would read (warehouse.versions).
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "nat" / "data").mkdir(parents=True)
    (tmp_path / "nat" / "data" / "warehouse").symlink_to(tmp_path / "elsewhere")
    refused = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "nat"), "--preset", "national", "--format",
                                       "parquet", "--scale", "0.0002", "--workers", "1"])
    assert refused.exit_code == 2 and "is a link" in refused.output
    assert not list((tmp_path / "elsewhere").iterdir())


@pytest.mark.parametrize("linked", ["nat", "nat/data"])
def test_a_link_to_a_missing_disk_is_refused_with_its_target(tmp_path: Path, linked: str) -> None:
    """An --out folder, or its data folder, linked to a disk that is not mounted: refused, naming the link's
    target, and nothing is written in its place."""
    if linked == "nat/data":
        (tmp_path / "nat").mkdir()
    (tmp_path / linked).symlink_to(tmp_path / "unmounted")
    refused = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "nat"), "--preset", "national", "--format",
                                       "parquet", "--scale", "0.0002", "--workers", "1"])
    assert refused.exit_code == 2, refused.output
    assert f"links to {tmp_path / 'unmounted'}, which is missing" in refused.output
    assert not (tmp_path / "unmounted").exists()


def test_person_keys_look_like_pseudonyms_and_stay_distinct(national_home: Path) -> None:
    keys = pq.read_table(national_home / "data" / "warehouse" / "persons.parquet", columns=["person_key"])
    keys = keys["person_key"].to_pylist()
    assert len(set(keys)) == len(keys) > 1000
    assert all(len(key) == 32 and set(key) <= set("0123456789abcdef") for key in keys)
    # As a keyed hash's: first eight characters (what a list shows) as distinct as 32 random bits, every character spread.
    assert len({key[:8] for key in keys}) > 0.999 * len(keys)
    for position in (0, 15, 16, 31):
        assert len({key[position] for key in keys}) == 16


def test_person_keys_are_a_bijection_of_the_number_and_salt() -> None:
    numbers = np.arange(200_000, dtype=np.uint64)
    keys = hex32(numbers, 0x5EED0001).to_pylist()
    assert len(set(keys)) == len(keys)
    assert hex32(numbers[:10], 0x5EED0001).to_pylist() == keys[:10]
    assert hex32(numbers[:10], 0x5EED0002).to_pylist() != keys[:10]
