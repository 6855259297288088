"""The feature tables training reads: held by a link from the moment they are found current (or computed), so that
another run storing a month again meanwhile, with other inspections, changes nothing of what training reads; stale
tables of another schema computed again, not a crash; the held links removed with the tables."""

from __future__ import annotations

import gc
import json
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import features.store
from core.config import Config
from core.home import Home
from features.build import feature_dir
from features.store import feature_tables
from tests.mini_world import MONTHS, RESTAURANT, write_months
from warehouse.ingest import ingest

MONTH = date(2025, 6, 1)


@pytest.fixture
def home(tmp_path, test_key) -> Home:
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS), home, Config(), test_key)
    return home


def _inspections() -> pd.DataFrame:
    return pd.DataFrame({"siret": [RESTAURANT], "inspection_date": pd.to_datetime(["2025-03-10"]).astype("datetime64[s]"),
                         "abuse_found": [1]})


def _store_again_with_other_inspections(path: Path) -> None:
    """What another run does to the month's file: the table with another inspection history, put in place at once."""
    table = pq.read_table(path).to_pandas()
    table["past_inspections"] = table["past_inspections"] + 100
    temp = path.with_name("other-run.parquet")
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), temp)
    os.replace(temp, path)


def test_a_month_stored_again_by_another_run_changes_nothing_of_what_is_read(home, monkeypatch):
    path = feature_dir(home.data, MONTH) / "features.parquet"
    store = features.store.store_features

    def store_then_another_run(*args, **kwargs):
        folder = store(*args, **kwargs)
        _store_again_with_other_inspections(path)  # right after this run put its table in place
        return folder

    monkeypatch.setattr(features.store, "store_features", store_then_another_run)
    computed = feature_tables(home, Config(), [MONTH], _inspections())
    assert computed[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 1
    monkeypatch.undo()

    states: list[str] = []
    found = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["computed"]  # the other run's table is not current for these inspections
    again = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["computed", "cached"]
    _store_again_with_other_inspections(path)  # after the table was found current
    for tables in (found, again):
        assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 1
    pd.testing.assert_frame_equal(found[MONTH], computed[MONTH])


def test_a_stored_table_of_another_schema_is_computed_again(home):
    feature_tables(home, Config(), [MONTH], _inspections())
    path = feature_dir(home.data, MONTH) / "features.parquet"
    table = pq.read_table(path).drop_columns(["last_inspection_found_abuse"])  # a column named otherwise before
    pq.write_table(table, path)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["computed"] and "last_inspection_found_abuse" in tables[MONTH]

    catalog_path = feature_dir(home.data, MONTH) / "feature_catalog.json"
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
    catalog_path.write_text(json.dumps({**catalog, "schema_version": -1}), encoding="utf-8")
    feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["computed", "computed"]


def test_the_held_tables_go_with_the_mapping(home):
    tables = feature_tables(home, Config(), [MONTH, date(2025, 7, 1)], None)
    held = tables.path(MONTH).parent
    assert sorted(p.name for p in held.glob("*.parquet")) == ["2025-06.parquet", "2025-07.parquet"]
    del tables
    gc.collect()
    assert not held.exists()
