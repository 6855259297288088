"""Inspections given to `train --inspections` are stored as `import-inspections` stores them: the
features of a month are then the same at training and at scoring, and the audit finds them."""

from __future__ import annotations

import json
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest

from audit.run import run_audit
from core.config import Config
from core.home import Home
from features.build import feature_dir, load_features
from features.store import INSPECTION_FEATURES, expected_inspection_features, feature_tables, is_current
from scoring.monthly import month_features
from tests.mini_world import MONTHS, RESTAURANT, SHOP, write_months
from training.workflow import inspection_source
from warehouse.ingest import ingest
from warehouse.inspections import import_inspections, load_inspections


def test_train_inspections_are_stored_and_a_month_has_the_same_features_at_training_and_scoring(tmp_path, test_key):
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS), home, Config(), test_key)
    path = tmp_path / "inspections.csv"
    path.write_text(f"siret,inspection_date,abuse_found\n{RESTAURANT},2025-03-10,1\n{SHOP},2025-05-02,0\n"
                    "not-a-siret,2025-05-02,0\n", encoding="utf-8")

    source = inspection_source(home, path)  # what `train --inspections FILE` does first
    stored = load_inspections(home.warehouse)
    assert stored is not None and len(stored) == 2 and len(source.issues) == 1
    pd.testing.assert_frame_equal(source.rows, stored)

    month = date(2025, 6, 1)
    at_training = feature_tables(home, Config(), [month], source.rows)[month].reset_index(drop=True)
    shutil.rmtree(home.data / "features")
    at_scoring = month_features(home, Config(), month, load_inspections(home.warehouse)).table
    pd.testing.assert_frame_equal(at_training, at_scoring)
    assert at_scoring.set_index("siret").loc[RESTAURANT, "past_inspections"] == 1


def test_the_audit_without_stored_inspections_says_what_to_do(tmp_path, test_key):
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS[:2]), home, Config(), test_key)
    with pytest.raises(FileNotFoundError, match=r"no inspections stored.*champollion import-inspections"):
        run_audit(home, Config())


def test_a_corrected_outcome_appended_makes_the_stored_months_after_it_stale(tmp_path, test_key):
    """A stored month was reused while its inspections had the same counts: an outcome corrected by
    `import-inspections --append` left `last_inspection_found_abuse` as it was before the correction."""
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS), home, Config(), test_key)
    month = date(2025, 6, 1)
    first = tmp_path / "first.csv"
    first.write_text(f"siret,inspection_date,abuse_found\n{RESTAURANT},2025-03-10,0\n{SHOP},2025-05-02,0\n"
                     f"{SHOP},2025-05-02,1\n", encoding="utf-8")
    import_inspections(first, home)
    before = month_features(home, Config(), month, load_inspections(home.warehouse)).table.set_index("siret")
    assert before.loc[RESTAURANT, "last_inspection_found_abuse"] == 0
    assert before.loc[SHOP, ["past_inspections", "last_inspection_found_abuse"]].tolist() == [1, 1]  # one visit

    correction = tmp_path / "correction.csv"
    correction.write_text(f"siret,inspection_date,abuse_found\n{RESTAURANT},2025-03-10,1\n", encoding="utf-8")
    appended = import_inspections(correction, home, append=True)
    assert appended.replaced == 1 and appended.stored == 3
    inspections = load_inspections(home.warehouse)
    catalog = json.loads((feature_dir(home.data, month) / "feature_catalog.json").read_text(encoding="utf-8"))
    stored = load_features(home.data, month)
    assert not is_current(stored, catalog, inspections, month, catalog["fingerprint"])
    after = month_features(home, Config(), month, inspections).table.set_index("siret")
    assert after.loc[RESTAURANT, ["past_inspections", "last_inspection_found_abuse"]].tolist() == [1, 1]
    # What the check expects is what the SQL computes, for every establishment.
    expected = expected_inspection_features(inspections, month).reindex(after.index)
    expected["past_inspections"] = expected["past_inspections"].fillna(0)
    for name in INSPECTION_FEATURES:
        assert np.array_equal(after[name].to_numpy(dtype="float64", na_value=np.nan),
                              expected[name].to_numpy(dtype="float64"), equal_nan=True), name
    assert is_current(load_features(home.data, month), catalog, inspections, month, catalog["fingerprint"])
