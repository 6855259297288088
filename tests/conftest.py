"""Shared fixtures: a throw-away home directory with a test pseudonymisation key."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from core.config import Config
from core.home import Home

TEST_KEY = b"test-key-for-unit-tests-only"
SHARED = Path(__file__).resolve().parents[2] / "shared"
PUBLIC_SAMPLE = SHARED / "dsn" / "samples" / "fctu_three_envois_P25V01.dsn"


def as_written_before_addresses(home: Home) -> None:
    """Rewrite every staged batch and warehouse month of the tables with an address without street and
    city, as a warehouse built before they were kept (each file replaced, never written over: it may be
    a hard link into another version of the warehouse)."""
    for root in (home.staging, home.warehouse):
        for table in ("declarations", "workplaces"):
            for path in sorted((root / table).rglob("*.parquet")):
                old = pq.read_table(path).drop_columns(["street", "city"])
                path.unlink()
                path.with_name(f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of a Spark file
                pq.write_table(old, path)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def small_population(tmp_path_factory) -> Path:
    """The `small` simulated population, written once per test session."""
    import simulation

    out = tmp_path_factory.mktemp("population") / "small"
    simulation.simulate(out, preset="small", seed=7)
    return out


@pytest.fixture(scope="session")
def small_warehouse(small_population, tmp_path_factory) -> tuple[Path, Home]:
    """The small population ingested into a fresh home."""
    from warehouse.ingest import ingest

    home = Home(tmp_path_factory.mktemp("small-home"))
    ingest([small_population / "dsn"], home, Config(), TEST_KEY)
    return small_population, home


# Training settings for small populations: few labelled rows, short windows, a short search.
SMALL_TRAINING = {"validation_months": 3, "min_train_rows": 10, "bootstrap_resamples": 100, "trials": 3}


@pytest.fixture(scope="session")
def small_pipeline(small_warehouse, tmp_path_factory) -> tuple[Path, Home, Config]:
    """The small population run end to end through the CLI in a fresh home: inspections imported, a model
    trained and registered (champion), and the lists of the last month drawn up."""
    import shutil

    from typer.testing import CliRunner

    from champollion.cli import app
    from core.training_config import TrainingConfig

    population, shared_home = small_warehouse
    home = Home(tmp_path_factory.mktemp("small-pipeline"))
    shutil.copytree(shared_home.warehouse, home.warehouse)
    config = Config(training=TrainingConfig(**SMALL_TRAINING))
    config_file = home.root / "champollion.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    runner = CliRunner()
    base = ["--home", str(home.root), "--config", str(config_file)]
    for command in (["import-inspections", str(population / "inspections.csv")],
                    ["train", "--truth", str(population / "truth")],
                    ["score", "--month", "latest"]):
        result = runner.invoke(app, [*base, *command])
        assert result.exit_code == 0, f"{command[0]}: {result.output}"
    return population, home, config
