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

AFTER_DAYS = Config().features.outcome_known_after_days


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
    first.write_text(f"siret,inspection_date,abuse_found\n{RESTAURANT},2025-03-10,0\n{SHOP},2025-03-02,0\n"
                     f"{SHOP},2025-03-02,1\n", encoding="utf-8")
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
    assert not is_current(stored, catalog, inspections, month, catalog["fingerprint"], AFTER_DAYS)
    after = month_features(home, Config(), month, inspections).table.set_index("siret")
    assert after.loc[RESTAURANT, ["past_inspections", "last_inspection_found_abuse"]].tolist() == [1, 1]
    # What the check expects is what the SQL computes, for every establishment.
    expected = expected_inspection_features(inspections, month, AFTER_DAYS).reindex(after.index)
    expected["past_inspections"] = expected["past_inspections"].fillna(0)
    for name in INSPECTION_FEATURES:
        assert np.array_equal(after[name].to_numpy(dtype="float64", na_value=np.nan),
                              expected[name].to_numpy(dtype="float64"), equal_nan=True), name
    assert is_current(load_features(home.data, month), catalog, inspections, month, catalog["fingerprint"], AFTER_DAYS)


def test_a_control_counts_from_its_day_and_its_outcome_from_the_day_it_is_known(tmp_path, test_key):
    """The outcome of a control was read from its day: the features of the month of a visit already said whether it
    found abuse, which the ministry knows weeks or months later (the employer heard, the procès-verbal drawn up). The
    visit now counts from its day, its outcome from `features.outcome_known_after_days` after it, to the day: the last
    outcome is the last one known then, in SQL as in the check of stored months."""
    config = Config(features=Config().features.model_copy(update={"outcome_known_after_days": 82}))
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS), home, config, test_key)
    path = tmp_path / "inspections.csv"
    # 2025-03-10 + 82 days = 2025-05-31, the last day of May; 2025-02-01 + 82 = 2025-04-24; 2025-04-15 + 82 = 2025-07-06.
    path.write_text(f"siret,inspection_date,abuse_found\n{RESTAURANT},2025-03-10,1\n{SHOP},2025-02-01,1\n"
                    f"{SHOP},2025-04-15,0\n", encoding="utf-8")
    import_inspections(path, home)
    inspections = load_inspections(home.warehouse)
    seen = {}
    for month in (date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1), date(2025, 7, 1)):
        table = month_features(home, config, month, inspections).table.set_index("siret")
        expected = expected_inspection_features(inspections, month, 82).reindex(table.index)
        expected["past_inspections"] = expected["past_inspections"].fillna(0)
        for name in INSPECTION_FEATURES:
            assert np.array_equal(table[name].to_numpy(dtype="float64", na_value=np.nan),
                                  expected[name].to_numpy(dtype="float64"), equal_nan=True), (month, name)
        seen[f"{month:%Y-%m}"] = table.loc[[RESTAURANT, SHOP], list(INSPECTION_FEATURES)].astype("float64").fillna(-1)
    nan = -1.0
    assert seen["2025-03"].values.tolist() == [[1, 0, nan], [1, 1, nan]]  # both visits known, neither outcome
    assert seen["2025-04"].values.tolist() == [[1, 1, nan], [2, 0, 1]]  # the shop's first outcome known on 04-24
    assert seen["2025-05"].values.tolist() == [[1, 2, 1], [2, 1, 1]]  # the restaurant's on 05-31, the month's last day
    assert seen["2025-06"].values.tolist() == [[1, 3, 1], [2, 2, 1]]  # the shop's second still unknown
    assert seen["2025-07"].values.tolist() == [[1, 4, 1], [2, 3, 0]]  # known on 07-06: no abuse found
    # Another delay changes those three features only: the stored months are brought up to date, not computed again.
    on_the_day = Config(features=config.features.model_copy(update={"outcome_known_after_days": 0}))
    states: list[str] = []
    april = feature_tables(home, on_the_day, [date(2025, 4, 1)], inspections, lambda month, state: states.append(state))
    assert states == ["refreshed"]
    assert april[date(2025, 4, 1)].set_index("siret").loc[[RESTAURANT, SHOP], list(INSPECTION_FEATURES)].values.tolist() == [
        [1, 1, 1], [2, 0, 0]]  # outcomes read from the day of the control
