"""The scoring benchmark's functions at tiny scale (the 1M-row run is `champollion bench scoring`)."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from features.catalog import IDENTIFIERS, feature_names
from scoring.bench import bench_frame, bench_scoring, generated_features, model_size, synthetic_features, synthetic_model

AS_OF = date(2026, 10, 1)


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """A stand-in for a stored feature table: generated rows (regions, NAF, missing inspections)."""
    return generated_features(300, AS_OF, np.random.default_rng(1))


def test_synthetic_rows_have_the_catalog_columns_and_types(source):
    table = synthetic_features(2_000, AS_OF, source, seed=0)
    assert list(table.columns) == list(IDENTIFIERS) + feature_names()
    assert table["siret"].is_unique and table["siret"].str.fullmatch(r"99\d{12}").all()
    assert set(table["region_code"]) <= set(source["region_code"]) and set(table["naf"]) <= set(source["naf"])
    for column in table.columns:
        assert str(table[column].dtype) == str(source[column].dtype), column
    shares = table["precarity_rate_12m"]
    assert shares.between(0, 1).all()
    assert not set(shares.round(9)) <= set(source["precarity_rate_12m"].round(9))  # noise, not copies
    np.testing.assert_allclose(table["precarity_rate_12m_excess"],
                               table["precarity_rate_12m"] - table["precarity_rate_12m_benchmark"])
    never_inspected = source["months_since_last_inspection"].isna().mean()
    assert table["months_since_last_inspection"].isna().mean() == pytest.approx(never_inspected, abs=0.1)


def test_bench_runs_at_tiny_scale(source, tmp_path):
    table = synthetic_features(2_000, AS_OF, source, seed=0)
    model = synthetic_model(table, trees=20, depth=4, leaves=15, train_rows=2_000, threads=1)
    size = model_size(model.booster)
    assert size["trees"] == 20 and size["max_depth"] <= 4 and size["max_leaves"] <= 15
    rows = bench_scoring(table, model, Config(), shap_sample=500, threads=1, scratch=tmp_path)
    frame = bench_frame(rows)
    assert len(frame) == 5 and (frame["seconds"] > 0).all() and (frame["peak RSS (MB)"] > 0).all()
    pipeline = [r for r in rows if r.variant.startswith("monthly pipeline")]
    assert [r.explained for r in pipeline] == sorted(r.explained for r in pipeline) and pipeline[0].explained >= 100
    shap_row = rows[-1]
    assert shap_row.extrapolated and shap_row.seconds_all_rows == pytest.approx(shap_row.seconds * 4)
    difference = float(re.search(r"max \|shap - pred_contrib\| = (\S+)", shap_row.note).group(1))
    assert difference < 1e-9  # shap's TreeExplainer calls the same LightGBM routine
    assert list(tmp_path.iterdir()) == []  # the scratch table and model are removed
