"""The inspection-propensity population at national scale: feature tables read one month at a time, every
inspected establishment-month kept, a seeded and weighted sample of the others; and the stored tables read
when asked for, not when found current."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import features.store
from core.config import Config
from features.store import feature_tables
from tests.training_world import World, build_world
from training.pipeline import selection_table
from training.propensity import INSPECTED, SAMPLING_WEIGHT, InversePropensityWeighting, propensity_population

ESTABLISHMENTS, MONTHS = 240, 18


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("propensity"), ESTABLISHMENTS, n_months=MONTHS)


def _keys(population: pd.DataFrame) -> set[tuple[str, pd.Timestamp]]:
    inspected = population[population[INSPECTED] == 1]
    return set(zip(inspected["siret"], inspected["as_of"], strict=True))


def test_under_the_row_budget_every_establishment_month_counts_once(world):
    tables = feature_tables(world.home, Config(), world.months, world.inspections)
    population = propensity_population(tables, world.inspections, ESTABLISHMENTS * MONTHS, seed=0)
    assert len(population) == ESTABLISHMENTS * MONTHS
    assert (population[SAMPLING_WEIGHT] == 1.0).all()
    # Inspected in the month after as_of: an inspection in 2024-03 marks the row as of 2024-02.
    first = world.inspections.sort_values("inspection_date").iloc[0]
    as_of = pd.Timestamp(first["inspection_date"]).to_period("M").to_timestamp() - pd.DateOffset(months=1)
    assert (str(first["siret"]), as_of) in _keys(population)


def test_over_the_budget_every_inspected_row_is_kept_and_the_others_are_weighted_to_their_month(world):
    tables = feature_tables(world.home, Config(), world.months, world.inspections)
    full = propensity_population(tables, world.inspections, 10**9, seed=0)
    budget = 60 * MONTHS  # a quarter of each month
    sample = propensity_population(tables, world.inspections, budget, seed=0)

    assert _keys(sample) == _keys(full)
    assert (sample.loc[sample[INSPECTED] == 1, SAMPLING_WEIGHT] == 1.0).all()
    per_month = sample.groupby("as_of").agg(weight=(SAMPLING_WEIGHT, "sum"), rows=(INSPECTED, "size"),
                                            inspected=(INSPECTED, "sum"))
    assert np.allclose(per_month["weight"], ESTABLISHMENTS)  # each month weighs its establishments
    others = ESTABLISHMENTS - per_month["inspected"]
    assert (per_month["rows"] - per_month["inspected"] == (others / 4).round()).all()  # a quarter of the others
    assert not sample.duplicated(["siret", "as_of"]).any()
    pd.testing.assert_frame_equal(sample, propensity_population(tables, world.inspections, budget, seed=0))
    other = propensity_population(tables, world.inspections, budget, seed=1)
    assert set(zip(other["siret"], other["as_of"], strict=True)) != set(zip(sample["siret"], sample["as_of"], strict=True))

    # The weighted fit estimates the full one: the same base rate, propensities ranked alike.
    on_all = InversePropensityWeighting().fit(full).propensity_
    on_sample = InversePropensityWeighting().fit(sample).propensity_
    assert on_sample.base_rate_ == pytest.approx(on_all.base_rate_, rel=1e-12)
    ranks = pd.DataFrame({"all": on_all.predict_proba(full), "sample": on_sample.predict_proba(full)})
    assert ranks.corr(method="spearman").iloc[0, 1] > 0.9


def test_the_selection_table_means_count_each_row_by_its_weight():
    population = pd.DataFrame({
        "precarity_rate_12m": [0.2, 0.6, np.nan], "precarity_rate_12m_excess": [0.0, 0.0, 0.0],
        "n_rule_hits_total": [1, 5, 3], "headcount": [10, 20, 30], "share_hires_fixed_term_12m": [0.0, 0.0, 0.0],
        "past_inspections": [0, 1, 0], INSPECTED: [1, 0, 0], SAMPLING_WEIGHT: [1.0, 3.0, 4.0],
    })
    table = selection_table(population, np.array([0.5, 0.1, 0.1])).set_index("feature")
    assert table.loc["precarity_rate_12m", "all"] == pytest.approx((0.2 + 3 * 0.6) / 4)  # the missing value left out
    assert table.loc["n_rule_hits_total", "all"] == pytest.approx((1 + 15 + 12) / 8)
    assert table.loc["n_rule_hits_total", "inspected"] == pytest.approx(1.0)
    assert table.loc["propensity (modelled)", "all"] == pytest.approx((0.5 + 0.3 + 0.4) / 8)


class _Tables(dict):
    """Feature tables in memory with the row counts `propensity_population` reads first."""

    def rows(self, month):
        return len(self[month])

    def sirets(self, month):
        return self[month]["siret"].astype(str)

    def take(self, month, rows):
        return self[month].iloc[rows].reset_index(drop=True)


def test_months_of_uneven_sizes_under_the_budget_are_not_sampled_and_timestamps_find_their_inspections(world):
    tables = feature_tables(world.home, Config(), world.months, world.inspections)
    small = _Tables({pd.Timestamp(month): tables[month].head(10 if i else ESTABLISHMENTS)
                     for i, month in enumerate(world.months)})
    population = propensity_population(small, world.inspections, len(small) * 10 + ESTABLISHMENTS, seed=0)
    assert len(population) == (MONTHS - 1) * 10 + ESTABLISHMENTS and (population[SAMPLING_WEIGHT] == 1.0).all()
    first = world.months[0]
    inspected = world.inspections[(world.inspections["inspection_date"] >= pd.Timestamp(first) + pd.DateOffset(months=1))
                                  & (world.inspections["inspection_date"] < pd.Timestamp(first) + pd.DateOffset(months=2))]
    assert population.loc[population["as_of"] == pd.Timestamp(first), INSPECTED].sum() == inspected["siret"].nunique() > 0


def test_feature_tables_are_read_when_asked_for_in_the_order_of_the_months(world, monkeypatch):
    reads: list = []
    read = features.store.read_features_file
    monkeypatch.setattr(features.store, "read_features_file", lambda path: reads.append(path) or read(path))
    months = [world.months[5], world.months[2], world.months[5], date(2030, 1, 1)]  # twice, and one not declared
    tables = feature_tables(world.home, Config(), months, world.inspections)
    assert list(tables) == [world.months[5], world.months[2]] and len(tables) == 2
    assert world.months[2] in tables and world.months[3] not in tables and reads == []  # found current, not read
    assert tables.rows(world.months[2]) == ESTABLISHMENTS and reads == []
    assert len(tables[world.months[2]]) == ESTABLISHMENTS and len(reads) == 1
    with pytest.raises(KeyError):
        tables[world.months[3]]
