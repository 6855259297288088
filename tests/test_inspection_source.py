"""Inspections given to `train --inspections` are stored as `import-inspections` stores them: the
features of a month are then the same at training and at scoring, and the audit finds them."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest

from audit.run import run_audit
from core.config import Config
from core.home import Home
from features.store import feature_tables
from scoring.monthly import month_features
from tests.mini_world import MONTHS, RESTAURANT, SHOP, write_months
from training.workflow import inspection_source
from warehouse.ingest import ingest
from warehouse.inspections import load_inspections


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
    at_scoring = month_features(home, Config(), month, load_inspections(home.warehouse))
    pd.testing.assert_frame_equal(at_training, at_scoring)
    assert at_scoring.set_index("siret").loc[RESTAURANT, "past_inspections"] == 1


def test_the_audit_without_stored_inspections_says_what_to_do(tmp_path, test_key):
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS[:2]), home, Config(), test_key)
    with pytest.raises(FileNotFoundError, match=r"no inspections stored.*champollion import-inspections"):
        run_audit(home, Config())
