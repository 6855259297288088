"""Ranking metrics at inspection capacity: each region visits the top share of its own establishments.

precision@k pools the regions: within each group (a region, or a fold x region), the rows are selected
as the monthly lists select them (`champollion.capacity.top_share_mask`: the top ceil(share x n_group)
by score, ties broken by SIRET), exclusions and exploration aside; precision is the share of positives
among all selected rows, recall the share of all positives that were selected. The tie-break key
(`tiebreak`) is `champollion.capacity.siret_key` of the rows' SIRETs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from champollion.capacity import top_share_mask


def group_codes(*keys: np.ndarray | pd.Series) -> np.ndarray:
    """Integer codes of the combinations of the given keys (e.g. fold and region)."""
    frame = pd.DataFrame({f"k{i}": pd.Series(np.asarray(k)).astype(str) for i, k in enumerate(keys)})
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()


def precision_recall_at_share(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, share: float, tiebreak: np.ndarray
) -> tuple[float, float, int]:
    """(precision@k, recall@k, rows selected) with k the top `share` of each group."""
    y = np.asarray(y)
    selected = top_share_mask(scores, groups, share, tiebreak)
    hits = int(y[selected].sum())
    positives = int(y.sum())
    precision = hits / selected.sum() if selected.any() else float("nan")
    recall = hits / positives if positives else float("nan")
    return precision, recall, int(selected.sum())


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "-"
        return f"{self.value:.3f} [{self.low:.2f}, {self.high:.2f}]"


def bootstrap_at_share(
    y: np.ndarray,
    scores: np.ndarray,
    regions: np.ndarray,
    strata: np.ndarray,
    share: float,
    tiebreak: np.ndarray,
    resamples: int,
    seed: int,
) -> dict[str, dict[object, Interval]]:
    """Precision@k and recall@k per stratum (e.g. fold) and pooled, with 95% bootstrap intervals.

    Rows are resampled with replacement within each stratum (fixed seed); the selection is redone
    on every resample within each stratum x region. Returns {"precision": {stratum|"all": Interval},
    "recall": {...}}.
    """
    y = np.asarray(y).astype(int)
    strata = np.asarray(strata)
    levels = list(pd.unique(strata))
    members = [np.flatnonzero(strata == s) for s in levels]
    groups = group_codes(strata, regions)

    def measure(index: np.ndarray) -> np.ndarray:
        # regroup codes to stay dense on the resample
        _, dense = np.unique(groups[index], return_inverse=True)
        chosen = top_share_mask(scores[index], dense, share, tiebreak[index])
        ys, st = y[index], strata[index]
        out = []
        for s in levels:
            in_s = st == s
            hits, picked, pos = (ys[chosen & in_s]).sum(), (chosen & in_s).sum(), ys[in_s].sum()
            out.append((hits, picked, pos))
        out.append((ys[chosen].sum(), chosen.sum(), ys.sum()))
        return np.array(out, dtype=float)

    point = measure(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, len(levels) + 1, 3))
    for b in range(resamples):
        index = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members])
        draws[b] = measure(index)
    result: dict[str, dict[object, Interval]] = {"precision": {}, "recall": {}}
    for i, key in enumerate([*levels, "all"]):
        for name, num, den in (("precision", 0, 1), ("recall", 0, 2)):
            with np.errstate(invalid="ignore", divide="ignore"):
                value = point[i, num] / point[i, den] if point[i, den] else float("nan")
                sample = draws[:, i, num] / draws[:, i, den]
            sample = sample[np.isfinite(sample)]
            low, high = (np.percentile(sample, [2.5, 97.5]) if sample.size else (float("nan"),) * 2)
            result[name][key] = Interval(float(value), float(low), float(high))
    return result


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (NaN when one class is missing)."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    return float(average_precision_score(y, np.nan_to_num(np.asarray(scores, float), nan=-1e12)))


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (NaN when one class is missing)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, np.nan_to_num(np.asarray(scores, float), nan=-1e12)))


def brier(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    return float(np.mean((np.asarray(probabilities, float) - np.asarray(y, float)) ** 2))
