"""The saved model: the contract between training and scoring.

Scoring gets it back with

    import mlflow
    model = mlflow.pyfunc.load_model("models:/champollion-precarite@champion").unwrap_python_model()
    probabilities = model.predict_proba(feature_table)        # calibrated: P(an inspection finds abuse)
    contributions = model.contributions(feature_table)        # SHAP values (log-odds), one column per feature + bias

and reads `model.features`, `model.schema_version`, `model.data_months`, `model.metrics`,
`model.capacity_share`. The feature table is the one `features.build` writes (extra columns are
ignored). `model.booster` is the native LightGBM booster; `model.inputs(table)` builds the exact
matrix it reads (categories frozen at training; unseen values become missing).

It implements `training.saved_model.SavedModel`, the type scoring and the audit see. MLflow pickles it
by module and name (`training.scoring_model.ScoringModel`): moving or renaming it would leave the
registered versions unloadable.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from features.catalog import CATEGORICAL
from training.calibration import ScoreCalibrator
from training.models import categorical_frame, numeric_frame


def model_matrix(table: pd.DataFrame, features: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """`features` of `table` in that order: numbers as float64, categorical columns with the levels
    `categories` (an unseen value becomes missing)."""
    categorical = [c for c in features if c in CATEGORICAL]
    numeric = [c for c in features if c not in CATEGORICAL]
    frame = pd.concat([numeric_frame(table, numeric), categorical_frame(table, categorical, categories)], axis=1)
    return frame[features]


class ScoringModel(PythonModel):
    """LightGBM booster + calibrator + everything needed to read a feature table the same way."""

    def __init__(
        self,
        booster: lgb.Booster,
        calibrator: ScoreCalibrator,
        features: list[str],
        categories: dict[str, list[str]],
        schema_version: int,
        data_months: list[str],
        metrics: dict[str, float],
        params: dict[str, Any],
        capacity_share: float,
        ipw: str,
        features_settings: dict[str, Any] | None = None,
    ):
        self.booster = booster
        self.calibrator = calibrator
        self.features = list(features)
        self.categories = {k: list(v) for k, v in categories.items()}
        self.schema_version = schema_version
        self.data_months = list(data_months)
        self.metrics = dict(metrics)
        self.params = dict(params)
        self.capacity_share = capacity_share
        self.ipw = ipw
        self.features_settings = dict(features_settings) if features_settings is not None else None

    def inputs(self, table: pd.DataFrame) -> pd.DataFrame:
        """The model matrix: features in training order, numbers as float64, frozen categories."""
        missing = [c for c in self.features if c not in table.columns]
        if missing:
            raise ValueError(f"feature table lacks column(s) {missing} (model trained on schema {self.schema_version})")
        return model_matrix(table, self.features, self.categories)

    def raw_scores(self, table: pd.DataFrame) -> np.ndarray:
        """LightGBM margins (log-odds before calibration)."""
        return np.asarray(self.booster.predict(self.inputs(table), raw_score=True))

    def predict_proba(self, table: pd.DataFrame) -> np.ndarray:
        """Calibrated probability, per row, that an inspection finds abuse."""
        return self.calibrator.transform(self.raw_scores(table))

    def contributions(self, table: pd.DataFrame) -> pd.DataFrame:
        """Path-dependent SHAP values in log-odds (LightGBM's pred_contrib): a column per feature and
        `bias`; each row sums to the raw score. Call on the rows someone will read (cost ~165x a prediction)."""
        values = np.asarray(self.booster.predict(self.inputs(table), pred_contrib=True))
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=table.index)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """pyfunc entry point: a `probability` column."""
        return pd.DataFrame({"probability": self.predict_proba(model_input)}, index=model_input.index)
