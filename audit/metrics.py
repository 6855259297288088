"""The audit's measures, as plain functions on arrays and frames: drift, list stability, disparity,
faithfulness of the explanations. Each one is tested on small hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

RATIO_TOLERANCE = 1e-9  # a ratio exactly at tau is within bounds
PSI_EPSILON = 1e-4  # floor of a bin's share, so that an empty bin does not make the index infinite


def population_stability_index(expected: pd.Series, actual: pd.Series, bins: int = 10) -> float:
    """PSI of `actual` against `expected`: sum over bins of (a - e) * ln(a / e).

    Numbers are cut at the deciles of `expected` (fewer bins when values repeat); categories and
    missing values are bins of their own. Read: < 0.1 stable, 0.1-0.25 moving, > 0.25 shifted.
    """
    if expected.dtype == object or isinstance(expected.dtype, (pd.StringDtype, pd.CategoricalDtype)):
        e_bins, a_bins = expected.astype("string").fillna("<NA>"), actual.astype("string").fillna("<NA>")
    else:
        e_values, a_values = expected.astype("float64"), actual.astype("float64")
        edges = (np.unique(np.nanquantile(e_values.dropna(), np.linspace(0, 1, bins + 1)[1:-1])) if e_values.notna().any()
                 else np.array([]))
        e_bins = pd.Series(np.searchsorted(edges, e_values, side="right"), index=e_values.index).astype("string")
        a_bins = pd.Series(np.searchsorted(edges, a_values, side="right"), index=a_values.index).astype("string")
        e_bins[e_values.isna()] = "<NA>"
        a_bins[a_values.isna()] = "<NA>"
    e_share = e_bins.value_counts(normalize=True)
    a_share = a_bins.value_counts(normalize=True)
    support = e_share.index.union(a_share.index)
    e = e_share.reindex(support, fill_value=0).clip(lower=PSI_EPSILON).to_numpy()
    a = a_share.reindex(support, fill_value=0).clip(lower=PSI_EPSILON).to_numpy()
    return float(np.sum((a - e) * np.log(a / e)))


def list_overlap(current: set[str], previous: set[str]) -> float:
    """Share of this month's list that was already on last month's (nan when the list is empty)."""
    return len(current & previous) / len(current) if current else float("nan")


def rank_correlation(current: pd.Series, previous: pd.Series) -> float:
    """Spearman correlation of two scorings of the same establishments (indexed by SIRET)."""
    common = current.index.intersection(previous.index)
    if len(common) < 3:
        return float("nan")
    return float(spearmanr(current.loc[common], previous.loc[common]).statistic)


def outside_band(ratio: pd.Series | float, tau: float) -> pd.Series | bool:
    """Whether a disparity ratio lies outside [tau, 1 / tau] (a ratio exactly at a bound is inside)."""
    return (ratio < tau - RATIO_TOLERANCE) | (ratio > 1 / tau + RATIO_TOLERANCE)


def rate_ratio_interval(
    events: float, total: float, reference_events: float, reference_total: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of the ratio of two rates (events / total over reference_events / reference_total), by
    Katz's log method; 0.5 is added to each count when one of them is 0 (Haldane), and the interval then widened to
    hold the ratio of the counts themselves (no event: from 0), which the report shows beside it. NaN without rows."""
    if total <= 0 or reference_total <= 0:
        return float("nan"), float("nan")
    observed = float("inf") if reference_events == 0 else (events / total) / (reference_events / reference_total)
    if events == 0 or reference_events == 0 or events == total or reference_events == reference_total:
        events, total, reference_events, reference_total = events + 0.5, total + 1, reference_events + 0.5, reference_total + 1
    log_ratio = np.log((events / total) / (reference_events / reference_total))
    spread = norm.ppf(0.5 + confidence / 2) * np.sqrt(1 / events - 1 / total + 1 / reference_events - 1 / reference_total)
    return min(float(np.exp(log_ratio - spread)), observed), max(float(np.exp(log_ratio + spread)), observed)


def group_disparities(
    frame: pd.DataFrame, group: str, listed: str = "in_list", label: str | None = None, tau: float = 0.8,
    reference: str | None = None,
) -> pd.DataFrame:
    """Aequitas-style disparities of a list by group.

    Per group: establishments, listed, share listed and, where `label` is given, the listed rows with a
    label, precision and false discovery rate (FDR = 1 - precision among listed labelled rows). Each
    rate is divided by the reference group's (by default the group with most establishments), with its
    95% interval (`rate_ratio_interval`, columns `<rate>_disparity_low` and `_high`); a group is flagged
    when a ratio falls outside [tau, 1 / tau].
    """
    rows = []
    for name, part in frame.groupby(group, dropna=False, sort=True):
        chosen = part[part[listed].astype(bool)]
        row: dict[str, str | float] = {
            "group": "inconnu" if pd.isna(name) else str(name), "establishments": len(part), "listed": len(chosen),
            "share_listed": len(chosen) / len(part) if len(part) else float("nan"),
        }
        if label is not None:
            known = chosen[label].dropna()
            precision = float(known.mean()) if len(known) else float("nan")
            row["listed_with_label"] = len(known)
            row["precision"] = precision
            row["fdr"] = 1 - precision if len(known) else float("nan")
            row["false_discoveries"] = int(len(known) - known.sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ref = reference if reference is not None else table.loc[table["establishments"].idxmax(), "group"]
    base = table.set_index("group").loc[ref]
    rates = ["share_listed"] + (["fdr"] if label is not None else [])
    flagged = pd.Series(False, index=table.index)
    counts = {"share_listed": ("listed", "establishments"), "fdr": ("false_discoveries", "listed_with_label")}
    for rate in rates:
        ratio = table[rate] / base[rate] if base[rate] else pd.Series(np.nan, index=table.index)
        table[f"{rate}_disparity"] = ratio
        events, total = counts[rate]
        bounds = [rate_ratio_interval(row[events], row[total], base[events], base[total]) for _, row in table.iterrows()]
        table[f"{rate}_disparity_low"] = [low for low, _ in bounds]
        table[f"{rate}_disparity_high"] = [high for _, high in bounds]
        flagged |= outside_band(ratio, tau)
    table["reference"] = table["group"] == ref
    table["flagged"] = flagged & ~table["reference"]
    return table


def top_reason_agreement(first: pd.Series, second: pd.Series) -> float:
    """Share of establishments (common index) whose top reason is the same in both explanations."""
    common = first.index.intersection(second.index)
    if not len(common):
        return float("nan")
    return float((first.loc[common].astype(str) == second.loc[common].astype(str)).mean())


def additivity_gaps(contributions: pd.DataFrame, raw_scores: np.ndarray) -> np.ndarray:
    """|sum of contributions (bias included) - raw score| for each row: zero for faithful SHAP values."""
    return np.abs(contributions.to_numpy(dtype=np.float64).sum(axis=1) - np.asarray(raw_scores, dtype=np.float64))
