"""The models compared at inspection capacity, all with the same interface.

Each follows the scikit-learn contract (`__init__` stores parameters, learned attributes end in `_`,
`fit(X, y, sample_weight=None)` returns self, randomness through `random_state`) and exposes
`decision_function(X)`: a score, higher = more likely that an inspection finds abuse. Scores are
turned into probabilities by `training.calibration` on out-of-fold predictions.

The baselines are ordinary models: random ranking, the 2025 campaign rule, the count of legal-rule
violations and a logistic regression on the same features as LightGBM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from features.catalog import CATEGORICAL, FEATURES, feature_names

# Counts of potential legal-rule infractions: more of them never makes abuse less likely. LightGBM
# is constrained to respect that (a prior that steadies it on a few hundred labelled rows).
RULE_COUNTS = tuple(f.name for f in FEATURES if f.family == "rules")


def model_features() -> list[str]:
    """The feature columns every learned model reads, in the catalog's order."""
    return feature_names()


def numeric_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The numeric columns as float64 (nullable integers become NaN where missing)."""
    data = {}
    for c in columns:
        values = frame[c]
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiub":
            data[c] = values.to_numpy(dtype="float64")
        else:
            data[c] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.DataFrame(data, index=frame.index)


def categorical_frame(frame: pd.DataFrame, columns: list[str], levels: dict[str, list[str]] | None) -> pd.DataFrame:
    """The categorical columns as pandas categories: with `levels`, those frozen at training
    (an unseen value becomes missing); without, the sorted values present."""
    out = {}
    for c in columns:
        values = frame[c].astype("object").where(frame[c].notna(), None)
        # Text is itself: not mapped value by value (a national month's three categorical columns, 1.8 M rows each:
        # 1.22 s instead of 1.85).
        if not isinstance(frame[c].dtype, pd.StringDtype):
            values = values.map(lambda v: None if v is None else str(v))  # pandas may make the Nones NaN
        categories = levels[c] if levels is not None else sorted({v for v in values if isinstance(v, str)})
        out[c] = pd.Categorical(values.where(values.isin(set(categories)), None), categories=categories)
    return pd.DataFrame(out, index=frame.index)


class RandomRanking(ClassifierMixin, BaseEstimator):
    """Ranks at random: the precision an inspector gets without any list."""

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> RandomRanking:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return np.random.default_rng(self.random_state).random(len(X))


class CampaignRule(ClassifierMixin, BaseEstimator):
    """The 2025 national campaign: precarity rate above the median of its NAF code in its region,
    ranked by the excess (`precarity_rate_12m_excess`; establishments without a rate rank last)."""

    def __init__(self, column: str = "precarity_rate_12m_excess"):
        self.column = column

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> CampaignRule:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        excess = numeric_frame(X, [self.column])[self.column].to_numpy()
        return np.where(np.isnan(excess), -1.0, excess)  # shares lie in [-1, 1]


class RuleViolations(ClassifierMixin, BaseEstimator):
    """The number of potential legal-rule infractions found in the DSN (`n_rule_hits_total`)."""

    def __init__(self, column: str = "n_rule_hits_total"):
        self.column = column

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> RuleViolations:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return np.nan_to_num(numeric_frame(X, [self.column])[self.column].to_numpy(), nan=0.0)


SPARSE_BELOW = 0.3  # LogisticBaseline's prepared rows are sparse below this share of non-zero values


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


class LogisticBaseline(ClassifierMixin, BaseEstimator):
    """L2 logistic regression on the same features: signed-log, imputed (with missing flags) and
    standardised numbers; one-hot categories (rare levels pooled).

    The prepared rows are a sparse matrix when the categories' levels make them mostly zeros (the real NAF has
    732 codes and the conventions hundreds: dense, the propensity model's million rows would be about 9 GB)."""

    def __init__(self, C: float = 0.1, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def _pipeline(self):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

        numeric = [c for c in model_features() if c not in CATEGORICAL]
        prepare = ColumnTransformer(
            [
                ("numeric", make_pipeline(
                    FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ), numeric),
                ("categorical", make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=True),
                ), list(CATEGORICAL)),
            ],
            sparse_threshold=SPARSE_BELOW,
        )
        return make_pipeline(prepare, LogisticRegression(C=self.C, max_iter=5000, random_state=self.random_state))

    @staticmethod
    def _inputs(X: pd.DataFrame) -> pd.DataFrame:
        numeric = [c for c in model_features() if c not in CATEGORICAL]
        categories = X[list(CATEGORICAL)].astype("object").where(X[list(CATEGORICAL)].notna(), "missing")
        return pd.concat([numeric_frame(X, numeric), categories.astype(str)], axis=1)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LogisticBaseline:
        pipeline = self._pipeline()
        pipeline.fit(self._inputs(X), np.asarray(y), logisticregression__sample_weight=sample_weight)
        self.pipeline_ = pipeline
        self.classes_ = pipeline.classes_
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.decision_function(self._inputs(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._inputs(X))


class LightGBMModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier on the feature table, deterministic on a fixed number of threads.

    Categorical columns become pandas categories whose levels, learned at fit, are frozen in
    `categories_`; `decision_function` returns the raw margin (log-odds) and `booster_` is the
    native booster (SHAP values: `booster_.predict(X, pred_contrib=True)`).
    """

    def __init__(
        self,
        num_leaves: int = 15,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        n_estimators: int = 200,
        min_child_samples: int = 20,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        cat_smooth: float = 10.0,
        monotone_rules: bool = True,
        threads: int = 1,
        random_state: int = 0,
    ):
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.cat_smooth = cat_smooth
        self.monotone_rules = monotone_rules
        self.threads = threads
        self.random_state = random_state

    def lightgbm_params(self) -> dict[str, Any]:
        """The native LightGBM parameters (seeds and threads fixed for reproducibility)."""
        return {
            "objective": "binary",
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": 10,
            "max_cat_to_onehot": 8,
            "monotone_constraints": [1 if self.monotone_rules and f in RULE_COUNTS else 0 for f in model_features()],
            "monotone_constraints_method": "advanced",
            "num_threads": self.threads,
            "deterministic": True,
            "force_col_wise": True,
            "seed": self.random_state,
            "verbosity": -1,
        }

    def inputs(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model matrix: features in order, numbers as float64, categories with frozen levels."""
        features = model_features()
        numeric = [c for c in features if c not in CATEGORICAL]
        levels = getattr(self, "categories_", None)
        frame = pd.concat([numeric_frame(X, numeric), categorical_frame(X, list(CATEGORICAL), levels)], axis=1)
        return frame[features]

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LightGBMModel:
        import lightgbm as lgb

        for attribute in ("categories_", "booster_"):
            if hasattr(self, attribute):
                delattr(self, attribute)
        matrix = self.inputs(X)
        self.categories_ = {c: list(matrix[c].cat.categories) for c in CATEGORICAL}
        data = lgb.Dataset(matrix, label=np.asarray(y), weight=sample_weight,
                           categorical_feature=list(CATEGORICAL), free_raw_data=True)
        self.booster_ = lgb.train(self.lightgbm_params(), data, num_boost_round=self.n_estimators)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster_.predict(self.inputs(X), raw_score=True))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])


BASELINES = ("random", "campaign_rule", "rule_violations", "logistic")
MODEL_LABELS = {
    "random": "random ranking",
    "campaign_rule": "2025 campaign rule",
    "rule_violations": "count of legal-rule violations",
    "logistic": "logistic regression",
    "lightgbm": "LightGBM (tuned)",
    "oracle": "oracle (true latent probability)",
    "perfect_list": "perfect list (knows who abuses)",
}


def comparison_models(lightgbm_params: dict[str, Any], logistic_c: float, threads: int, seed: int) -> dict[str, BaseEstimator]:
    """Fresh, unfitted instances of every compared model, baselines first."""
    return {
        "random": RandomRanking(random_state=seed),
        "campaign_rule": CampaignRule(),
        "rule_violations": RuleViolations(),
        "logistic": LogisticBaseline(C=logistic_c, random_state=seed),
        "lightgbm": LightGBMModel(**lightgbm_params, threads=threads, random_state=seed),
    }


WEIGHTED = ("logistic", "lightgbm")  # the learned models, which take inverse-propensity weights
