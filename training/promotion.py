"""The promotion gate: the challenger becomes champion only if it does at least as well on its latest fold.

Both models must be measured on inspections neither was trained on:
- when the champion's latest fold holds the same inspections as the challenger's (a retraining on the
  same data), both out-of-fold values were recorded on the same rows and are compared;
- otherwise the champion scores the rows of the challenger's latest fold dated after its own data
  (`unseen_by`), against the challenger's out-of-fold scores on the same rows;
- if there are none, the recorded values (on different folds) are compared, and the report says so.
The first model becomes champion; `force` overrides the gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import hashlib

import numpy as np
import pandas as pd

from champollion.capacity import siret_key
from training.config import TrainingConfig
from training.evaluation import fold_objective
from training.labels import LABEL


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why."""

    promote: bool
    reason: str
    challenger_value: float | None = None
    champion_value: float | None = None


def promotion_decision(challenger: float, champion: float | None, force: bool = False,
                       metric: str = "precision@k") -> PromotionDecision:
    """The gate: promote when there is no champion, when forced, or when challenger >= champion."""
    if champion is None:
        return PromotionDecision(True, "no champion yet: the first model becomes champion", challenger, None)
    if force:
        return PromotionDecision(True, f"forced (challenger {metric} {challenger:.3f}, champion {champion:.3f})",
                                 challenger, champion)
    if challenger >= champion:
        return PromotionDecision(True, f"challenger {metric} {challenger:.3f} >= champion {champion:.3f} on the latest fold",
                                 challenger, champion)
    return PromotionDecision(False, f"challenger {metric} {challenger:.3f} < champion {champion:.3f} on the latest fold: "
                                    "champion kept (use --force to override)", challenger, champion)


def gate_value(fold_rows: pd.DataFrame, scores: np.ndarray, settings: TrainingConfig) -> float:
    """The tuning objective on one fold's rows (region_code and abuse_found) for the given scores."""
    return fold_objective(
        fold_rows[LABEL].to_numpy(), np.asarray(scores, dtype=float), fold_rows["region_code"].astype(str).to_numpy(),
        settings.objective, settings.capacity_share, settings.shares, siret_key(fold_rows["siret"]),
    )


def fold_key(fold_rows: pd.DataFrame) -> str:
    """Identifies a validation fold by its inspections (SIRET, date, outcome): equal keys, same rows."""
    keys = fold_rows[["siret", "inspection_date", LABEL]].astype(str).sort_values(["inspection_date", "siret"])
    digest = hashlib.sha256(keys.to_csv(index=False).encode()).hexdigest()[:16]
    dates = pd.to_datetime(fold_rows["inspection_date"])
    return f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}:{len(fold_rows)}:{digest}"


def unseen_by(fold_rows: pd.DataFrame, data_months: list[str]) -> pd.DataFrame:
    """The fold's inspections that a model trained on `data_months` (as-of months 'YYYY-MM') never saw:
    those whose as-of month comes after its last one."""
    if not data_months:
        return fold_rows
    as_of = pd.to_datetime(fold_rows["as_of"]).dt.strftime("%Y-%m")
    return fold_rows[as_of > max(data_months)]
