"""Shared fixtures: a throw-away home directory with a test pseudonymisation key."""

from __future__ import annotations

from pathlib import Path

import pytest

from champollion.config import Config
from champollion.home import Home

TEST_KEY = b"test-key-for-unit-tests-only"
SHARED = Path(__file__).resolve().parents[2] / "shared"
PUBLIC_SAMPLE = SHARED / "dsn" / "samples" / "fctu_three_envois_P25V01.dsn"


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
    from features.ingest import ingest

    home = Home(tmp_path_factory.mktemp("small-home"))
    ingest([small_population / "dsn"], home, Config(), TEST_KEY)
    return small_population, home
