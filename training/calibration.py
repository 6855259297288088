"""From a model's score to the probability that an inspection finds abuse, fitted on out-of-fold scores.

Platt scaling (a logistic curve on the score) keeps the ranking strict; isotonic regression is
more flexible but flattens the ranking into steps. Both are fitted on scores the model gave rows
it had not seen, so the probabilities are those of inspections, not of training rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator


class ScoreCalibrator(BaseEstimator):
    """Maps raw scores to probabilities; `method` is 'platt' or 'isotonic'."""

    def __init__(self, method: str = "platt"):
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        scores = np.asarray(scores, dtype=float)
        y = np.asarray(y, dtype=int)
        self.center_ = float(np.mean(scores))
        self.scale_ = float(np.std(scores)) or 1.0
        z = (scores - self.center_) / self.scale_
        if self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            self.mapping_ = LogisticRegression(C=1e4, max_iter=1000).fit(z.reshape(-1, 1), y)
        elif self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.mapping_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(z, y)
        else:
            raise ValueError(f"unknown calibration method {self.method!r} (platt or isotonic)")
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities (0-1) for raw scores."""
        z = (np.asarray(scores, dtype=float) - self.center_) / self.scale_
        if self.method == "platt":
            return self.mapping_.predict_proba(z.reshape(-1, 1))[:, 1]
        return self.mapping_.predict(z)


def cross_fitted_probabilities(scores: np.ndarray, y: np.ndarray, folds: np.ndarray, method: str) -> np.ndarray:
    """Probabilities for out-of-fold scores, each fold calibrated on the other folds' scores
    (so the Brier score of a fold never uses that fold's outcomes)."""
    scores, y, folds = np.asarray(scores, float), np.asarray(y, int), np.asarray(folds)
    out = np.empty(len(scores))
    for fold in np.unique(folds):
        here = folds == fold
        others = ~here
        if y[others].min() == y[others].max():
            out[here] = y[others].mean()
            continue
        out[here] = ScoreCalibrator(method).fit(scores[others], y[others]).transform(scores[here])
    return out
