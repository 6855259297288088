"""Shared fixtures: a throw-away home directory, the tests' pseudonymisation key, the public DSN sample
and the small simulated population (written, ingested and run end to end once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from core.config import Config
from core.home import Home

if TYPE_CHECKING:
    from tests.training_world import World


@pytest.fixture(scope="session")
def test_key() -> bytes:
    """The pseudonymisation key of the tests (never a real one)."""
    return b"test-key-for-unit-tests-only"


@pytest.fixture(scope="session")
def public_sample() -> Path:
    """The public FCTU sample published with the norm: three envois, fake identities (see tests/data/README.md)."""
    return Path(__file__).parent / "data" / "fctu_three_envois_P25V01.dsn"


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
def small_warehouse(small_population, tmp_path_factory, test_key) -> tuple[Path, Home]:
    """The small population ingested into a fresh home."""
    from warehouse.ingest import ingest

    home = Home(tmp_path_factory.mktemp("small-home"))
    ingest([small_population / "dsn"], home, Config(), test_key)
    return small_population, home


# Training settings for small populations: few labelled rows, short windows, a short search.
SMALL_TRAINING = {"validation_months": 3, "min_train_rows": 10, "bootstrap_resamples": 100, "trials": 3}


@pytest.fixture(scope="session")
def small_pipeline(small_warehouse, tmp_path_factory) -> tuple[Path, Home, Config]:
    """The small population run end to end through the CLI in a fresh home: inspections imported, a model
    trained and registered (champion), and the lists of the last month drawn up."""
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


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, created once per session (creating the tables costs ~2 s)."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def training_world(tmp_path, mlflow_template) -> World:
    """A fresh synthetic world for the training tests (tests/training_world.py) with its own copy of the
    empty MLflow store."""
    from tests.training_world import build_world

    built = build_world(tmp_path)
    built.home.mlruns.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, built.home.mlruns / "mlflow.db")
    return built
