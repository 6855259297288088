"""The saved model's contract: what scoring, the audit and promotion may use of a registered model.

`training.scoring_model.ScoringModel` implements it; MLflow pickles that class by module and name, so
registered versions load back as it. Everything downstream of training types the model it loads as
`SavedModel`, so that only these members cross the boundary.
"""

from __future__ import annotations

from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd


class SavedModel(Protocol):
    """A calibrated LightGBM that reads a feature table the way it was trained on it."""

    booster: lgb.Booster  # the native booster (trees, SHAP via pred_contrib)
    features: list[str]  # model inputs, in training order
    categories: dict[str, list[str]]  # levels of each categorical feature, frozen at training
    schema_version: int  # features.catalog.FEATURES_SCHEMA_VERSION of the training data
    data_months: list[str]  # as-of months trained on, 'YYYY-MM'
    metrics: dict[str, float]
    params: dict[str, Any]  # LightGBM parameters chosen by the search
    capacity_share: float  # the share of a region's establishments precision is measured at (a list holds at most it)
    ipw: str  # inverse-propensity weighting used: 'on' or 'off'
    features_settings: dict[str, Any] | None  # features.build.settings_of the training's tables (None: older models)

    def inputs(self, table: pd.DataFrame) -> pd.DataFrame:
        """The model matrix of a feature table (extra columns ignored)."""
        ...

    def raw_scores(self, table: pd.DataFrame) -> np.ndarray:
        """LightGBM margins (log-odds before calibration)."""
        ...

    def predict_proba(self, table: pd.DataFrame) -> np.ndarray:
        """Calibrated probability, per row, that an inspection finds abuse."""
        ...

    def contributions(self, table: pd.DataFrame) -> pd.DataFrame:
        """SHAP values in log-odds: a column per feature and `bias`; each row sums to the raw score."""
        ...
