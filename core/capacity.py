"""The top of each region's list: one rule for the monthly lists and for the precision training measures.

Within a group (a region, or a fold x region in training) of n establishments, the list holds
k = ceil(share x n) lines, at least one and at most n. Rows are ranked by score, highest first, missing
scores last; equal scores are ordered by SIRET (ascending), so the same scores always give the same
list. `scoring.selection.rank_and_select` adds the exclusions (recently inspected) and the exploration
draw on top of `select_top`, and cuts a list at `scoring.max_list_lines`; `training.metrics` measures precision
at capacity with `top_share_mask`, so that a precision at 5% in training is the precision of a list drawn up this
way, of which a capped list is the top.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def list_length(n: int, share: float) -> int:
    """Lines on a list of `share` of `n` establishments: ceil(share x n), at least 1, at most n."""
    return min(n, max(1, math.ceil(share * n)))


def siret_key(sirets: np.ndarray | pd.Series) -> np.ndarray:
    """An integer per row that orders rows as their SIRETs do (equal SIRETs, equal keys): the tie-break."""
    _, codes = np.unique(np.asarray(sirets).astype(str), return_inverse=True)
    return codes


def ranking_order(scores: np.ndarray, groups: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Positions sorted by group, then score (highest first, NaN last), then `tiebreak` (ascending).
    The sort is stable: rows equal on all three keep their order."""
    scores = np.asarray(scores, dtype=float)
    clean = np.where(np.isnan(scores), -np.inf, scores)
    return np.lexsort((np.asarray(tiebreak), -clean, np.asarray(groups)))


def select_top(
    scores: np.ndarray, groups: np.ndarray, tiebreak: np.ndarray, quotas: np.ndarray, eligible: np.ndarray | None = None
) -> np.ndarray:
    """True for the first `quotas[g]` eligible rows of each group g in ranking order (see `ranking_order`).

    `groups` are dense integer codes 0..G-1 and `quotas` has one count per code; `eligible` (default:
    every row) leaves rows out of the selection without removing them from the group.
    """
    groups = np.asarray(groups)
    eligible = np.ones(len(groups), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    order = ranking_order(scores, groups, tiebreak)
    sorted_groups, sorted_eligible = groups[order], eligible[order]
    taken_before = np.cumsum(sorted_eligible) - sorted_eligible  # eligible rows ranked before, over all groups
    first_of_group = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank_among_eligible = taken_before - taken_before[first_of_group]
    mask = np.zeros(len(groups), dtype=bool)
    mask[order] = sorted_eligible & (rank_among_eligible < np.asarray(quotas)[sorted_groups])
    return mask


def top_share_mask(scores: np.ndarray, groups: np.ndarray, share: float, tiebreak: np.ndarray) -> np.ndarray:
    """True for the top `list_length(n_group, share)` rows of each group (dense codes), as a list selects them."""
    sizes = np.bincount(np.asarray(groups))
    quotas = np.array([list_length(int(n), share) if n else 0 for n in sizes], dtype=int)
    return select_top(scores, groups, tiebreak, quotas)
