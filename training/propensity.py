"""Selection bias: past inspections were not drawn at random (campaigns, complaints, random visits).

`InspectionPropensity` models the probability that an establishment is inspected in the month after
an as-of month, from its features, over every establishment-month. `InversePropensityWeighting`
turns it into stabilised weights (mean propensity / propensity, clipped) for the inspected rows, so
that training looks more like the whole population; `NoWeighting` does nothing. Weighting corrects
only for selection on what the features show: visits prompted by complaints select on what they
do not show, and no weight can undo that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from core.months import add_months
from training.labels import label_as_of
from training.models import LogisticBaseline

INSPECTED = "inspected_next_month"


def propensity_population(features_by_month: dict, inspections: pd.DataFrame) -> pd.DataFrame:
    """Every establishment-month of the feature tables, with `inspected_next_month` (0/1): whether the
    establishment was inspected in the month after `as_of` (the months whose inspections are known)."""
    frames = []
    for as_of, table in sorted(features_by_month.items()):
        frames.append(table.assign(as_of=pd.Timestamp(as_of)))
    population = pd.concat(frames, ignore_index=True)
    population["siret"] = population["siret"].astype(str)
    visits = pd.DataFrame(
        {
            "siret": inspections["siret"].astype(str).to_numpy(),
            "as_of": [pd.Timestamp(label_as_of(d.date())) for d in pd.to_datetime(inspections["inspection_date"])],
        }
    ).drop_duplicates()
    visits[INSPECTED] = 1
    population["as_of"] = population["as_of"].astype("datetime64[s]")
    visits["as_of"] = visits["as_of"].astype("datetime64[s]")
    population = population.merge(visits, on=["siret", "as_of"], how="left")
    population[INSPECTED] = population[INSPECTED].fillna(0).astype("int64")
    return population


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

    def fit(self, population: pd.DataFrame, inspected: np.ndarray) -> InspectionPropensity:
        self.model_ = LogisticBaseline(C=self.C, random_state=self.random_state).fit(population, inspected)
        self.base_rate_ = float(np.mean(inspected))
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
        self.propensity_ = InspectionPropensity(self.C, self.random_state).fit(population, population[INSPECTED].to_numpy())
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
