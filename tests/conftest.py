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
