"""Ranking metrics at inspection capacity: each region visits the top share of its own establishments.

precision@k pools the regions: within each group (a region, or a fold x region), the rows are selected
as the monthly lists select them (`core.capacity.top_share_mask`: the top ceil(share x n_group)
by score, ties broken by SIRET), exclusions and exploration aside; precision is the share of positives
among all selected rows, recall the share of all positives that were selected. The tie-break key
(`tiebreak`) is `core.capacity.siret_key` of the rows' SIRETs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import beta

from core.capacity import top_share_mask


def region_keys(regions: pd.Series) -> np.ndarray:
    """Region codes as text, '' for a missing one (a postal code that names no département): a region of its own, as
    the monthly lists and the audit group it."""
    return regions.astype("string").fillna("").to_numpy(dtype=object)


def group_codes(*keys: np.ndarray | pd.Series) -> np.ndarray:
    """Integer codes of the combinations of the given keys (e.g. fold and region); a missing key is a value of its own."""
    frame = pd.DataFrame({f"k{i}": pd.Series(np.asarray(k)).astype(str) for i, k in enumerate(keys)})
    return frame.groupby(list(frame.columns), sort=True, dropna=False).ngroup().to_numpy()


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
    """A point estimate with its 95% interval (NaN bounds when nothing was selected)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "-"
        return f"{self.value:.3f} [{self.low:.2f}, {self.high:.2f}]"


def exact_binomial_interval(hits: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion `hits / trials` (NaN, NaN when `trials` is 0).

    Exact: it covers the true proportion with at least `confidence` for every true value and every
    number of trials, and always holds `hits / trials`.
    """
    if trials == 0:
        return float("nan"), float("nan")
    alpha = 1 - confidence
    low = beta.ppf(alpha / 2, hits, trials - hits + 1) if hits > 0 else 0.0
    high = beta.ppf(1 - alpha / 2, hits + 1, trials - hits) if hits < trials else 1.0
    return float(low), float(high)


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
    """Precision@k and recall@k per stratum (e.g. fold) and pooled, with 95% intervals.

    The list is drawn once, by the capacity rule, on the rows as they are: the top ceil(share x n)
    of each stratum x region. k is therefore fixed by the capacity and the group sizes; only the
    outcomes of the establishments are uncertain.

    - Precision: exact binomial (Clopper-Pearson) interval of the hits among the k selected rows.
      It covers the list's expected precision with at least 95% probability, conservatively when the
      selected establishments' probabilities differ (their sum is then less spread than a binomial).
    - Recall: stratified bootstrap (fixed seed) that resamples establishments with replacement within
      each stratum x region x (selected or not), so that every resample keeps the same k and group
      sizes; recall = hits / (hits + positives left out), 2.5th-97.5th percentiles.

    The precision interval always holds its point estimate (the percentile bootstrap that redrew k
    with each resample did not). Returns {"precision": {stratum|"all": Interval},
    "recall": {...}}.
    """
    y = np.asarray(y).astype(int)
    strata = np.asarray(strata)
    levels = list(pd.unique(strata))
    selected = top_share_mask(scores, group_codes(strata, regions), share, tiebreak)
    # Cells of the bootstrap: stratum x region x selected; within each, positives ~ Binomial(size, observed rate).
    cells = group_codes(strata, regions, selected)
    sizes = np.bincount(cells)
    positives = np.bincount(cells, weights=y)
    cell_stratum = np.zeros(len(sizes), dtype=int)
    cell_stratum[cells] = pd.Index(levels).get_indexer(strata)
    cell_selected = np.zeros(len(sizes), dtype=bool)
    cell_selected[cells] = selected
    rng = np.random.default_rng(seed)
    draws = rng.binomial(sizes, positives / np.maximum(sizes, 1), size=(resamples, len(sizes)))

    result: dict[str, dict[object, Interval]] = {"precision": {}, "recall": {}}
    for i, key in enumerate([*levels, "all"]):
        in_key = np.ones(len(y), bool) if key == "all" else strata == key
        cell_in_key = np.ones(len(sizes), bool) if key == "all" else cell_stratum == i
        picked, hits, found = int((selected & in_key).sum()), int(y[selected & in_key].sum()), int(y[in_key].sum())
        low, high = exact_binomial_interval(hits, picked)
        result["precision"][key] = Interval(hits / picked if picked else float("nan"), low, high)
        resampled_hits = draws[:, cell_in_key & cell_selected].sum(axis=1)
        resampled_positives = draws[:, cell_in_key].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = resampled_hits / resampled_positives
        recall = recall[np.isfinite(recall)]
        low, high = np.percentile(recall, [2.5, 97.5]) if recall.size else (float("nan"), float("nan"))
        result["recall"][key] = Interval(hits / found if found else float("nan"), float(low), float(high))
    return result


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (NaN when one class is missing)."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    return float(average_precision_score(y, np.nan_to_num(np.asarray(scores, float), nan=-1e12)))


def roc_auc(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """ROC AUC, each row counting its weight if given (NaN when one class is missing)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, np.nan_to_num(np.asarray(scores, float), nan=-1e12), sample_weight=sample_weight))


def brier(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    return float(np.mean((np.asarray(probabilities, float) - np.asarray(y, float)) ** 2))
