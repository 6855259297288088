"""The synthetic world of the training tests (tests/training_world.py) stores its tables as the feature stage does."""

from __future__ import annotations

from features.build import load_features
from features.catalog import IDENTIFIERS, feature_names
from tests.training_world import build_world


def test_world_tables_have_the_stored_schema(tmp_path):
    built = build_world(tmp_path, n_establishments=30, n_months=3)
    table = load_features(built.home.data, built.months[0])
    assert list(table.columns) == list(IDENTIFIERS) + feature_names()
    assert table["siret"].str.len().eq(14).all()
