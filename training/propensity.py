"""Selection bias: past inspections were not drawn at random (campaigns, complaints, random visits).

`InspectionPropensity` models the probability that an establishment is inspected in the month after
an as-of month, from its features, over every establishment-month (a weighted sample of the establishments
not inspected, at national scale: `propensity_population`). `InversePropensityWeighting`
turns it into stabilised weights (mean propensity / propensity, clipped) for the inspected rows, so
that training looks more like the whole population; `NoWeighting` does nothing. Weighting corrects
only for selection on what the features show: visits prompted by complaints select on what they
do not show, and no weight can undo that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from core.months import add_months
from training.labels import label_as_of
from training.models import LogisticBaseline

if TYPE_CHECKING:
    from features.store import StoredFeatures

INSPECTED = "inspected_next_month"
SAMPLING_WEIGHT = "sampling_weight"


def propensity_population(tables: StoredFeatures, inspections: pd.DataFrame, max_rows: int,
                          seed: int) -> pd.DataFrame:
    """The establishment-months of the feature tables, with `inspected_next_month` (0/1: whether the establishment
    was inspected in the month after `as_of`) and `sampling_weight`.

    The tables are read one month at a time. When they hold more than `max_rows` rows in all (a national month
    holds 1.8 M establishments: 24 of them would not fit in memory), each month keeps every inspected establishment
    and the same share of the others, a seeded sample weighted by the inverse of its month's sampling rate: weighted
    sums and means are then those of every establishment-month. Else every row counts once.
    """
    visits = pd.DataFrame(
        {
            "siret": inspections["siret"].astype(str).to_numpy(),
            "as_of": [label_as_of(d.date()) for d in pd.to_datetime(inspections["inspection_date"])],
        }
    )
    visited = visits.groupby("as_of")["siret"].agg(set).to_dict()
    total = sum(tables.rows(month) for month in tables)
    share = min(1.0, max_rows / total) if total else 1.0
    frames = []
    for as_of in tables:
        month = pd.Timestamp(as_of).date()
        sirets = tables.sirets(as_of)
        inspected = sirets.isin(visited.get(month, set())).to_numpy()
        others = np.flatnonzero(~inspected)
        kept = min(len(others), max(1, round(share * len(others))))
        weights = np.ones(len(sirets))
        if kept < len(others):
            rng = np.random.default_rng([seed, month.year, month.month])
            chosen = np.zeros(len(sirets), dtype=bool)
            chosen[rng.choice(others, size=kept, replace=False)] = True
            weights[others] = len(others) / kept
            rows = np.flatnonzero(inspected | chosen)
            table = tables.take(as_of, rows)  # only the rows kept are read into pandas
            sirets, inspected, weights = sirets.iloc[rows].reset_index(drop=True), inspected[rows], weights[rows]
        else:
            table = tables[as_of]
        if not np.array_equal(table["siret"].astype(str).to_numpy(), sirets.to_numpy()):
            raise RuntimeError(f"the feature table as of {month:%Y-%m} was read with other rows than its SIRETs")
        frames.append(table.assign(siret=sirets, as_of=pd.Timestamp(month), **{
            INSPECTED: inspected.astype("int64"), SAMPLING_WEIGHT: weights}))
        del table, sirets  # the month read is let go before the next one is
    population = pd.concat(frames, ignore_index=True)
    population["as_of"] = population["as_of"].astype("datetime64[s]")
    return population


def sampled(population: pd.DataFrame) -> bool:
    """Whether the propensity population is a weighted sample of the establishment-months (`propensity_population`)."""
    return bool((population[SAMPLING_WEIGHT] != 1.0).any())


def known_before(population: pd.DataFrame, valid_from: object) -> pd.DataFrame:
    """The establishment-months whose following month ended before `valid_from` (labels then known)."""
    start = pd.Timestamp(valid_from)
    last_as_of = pd.Timestamp(add_months(start.date().replace(day=1), -2))
    return population[population["as_of"] <= last_as_of]


class InspectionPropensity(BaseEstimator):
    """Probability of being inspected next month, by logistic regression on the features."""

    def __init__(self, C: float = 0.1, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def fit(self, population: pd.DataFrame, inspected: np.ndarray,
            sample_weight: np.ndarray | None = None) -> InspectionPropensity:
        self.model_ = LogisticBaseline(C=self.C, random_state=self.random_state).fit(population, inspected, sample_weight)
        self.base_rate_ = float(np.average(inspected, weights=sample_weight))
        return self

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """P(inspected next month) for each row."""
        return self.model_.predict_proba(rows)[:, 1]


class NoWeighting(BaseEstimator):
    """Every inspected row counts once."""

    name = "off"

    def fit(self, population: pd.DataFrame) -> NoWeighting:
        return self

    def weights(self, rows: pd.DataFrame) -> np.ndarray | None:
        return None


class InversePropensityWeighting(BaseEstimator):
    """Weights mean(p) / p(row) for inspected rows, clipped to [1/max_weight, max_weight]."""

    name = "on"

    def __init__(self, max_weight: float = 10.0, C: float = 0.1, random_state: int = 0):
        self.max_weight = max_weight
        self.C = C
        self.random_state = random_state

    def fit(self, population: pd.DataFrame) -> InversePropensityWeighting:
        """Fit the propensity on `population` (`propensity_population`: its sampling weights are used when given)."""
        weights = population[SAMPLING_WEIGHT].to_numpy() if SAMPLING_WEIGHT in population else None
        self.propensity_ = InspectionPropensity(self.C, self.random_state).fit(
            population, population[INSPECTED].to_numpy(), weights)
        return self

    def weights(self, rows: pd.DataFrame) -> np.ndarray:
        p = self.propensity_.predict_proba(rows)
        w = self.propensity_.base_rate_ / np.maximum(p, 1e-6)
        return np.clip(w, 1.0 / self.max_weight, self.max_weight)


def weighting(mode: str, max_weight: float, seed: int) -> BaseEstimator:
    """The weighting object for a resolved mode ('on' or 'off')."""
    if mode == "on":
        return InversePropensityWeighting(max_weight=max_weight, random_state=seed)
    if mode == "off":
        return NoWeighting()
    raise ValueError(f"weighting mode must be resolved to 'on' or 'off', not {mode!r}")
