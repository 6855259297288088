"""Every model in one evaluation: out-of-fold scores on the temporal folds, then the comparison table.

`cross_validate` fits each model on each fold's training rows (weighted if asked) and scores the
fold's validation rows; `comparison` turns the out-of-fold scores into precision@k and recall@k per
fold and overall (95% intervals, `metrics.bootstrap_at_share`), average precision, ROC AUC, Brier score of the calibrated
probabilities and lift over random, for each share of capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from core.capacity import siret_key, top_share_mask
from training.calibration import cross_fitted_probabilities
from training.labels import LABEL
from training.metrics import (
    average_precision,
    bootstrap_at_share,
    brier,
    group_codes,
    precision_recall_at_share,
    region_keys,
    roc_auc,
)
from training.models import WEIGHTED

KEY_COLUMNS = ("fold", "siret", "as_of", "inspection_date", "region_code", "naf", "headcount", LABEL)


def cross_validate(
    rows: pd.DataFrame,
    splits: list[tuple[int, np.ndarray, np.ndarray]],
    make_models: Callable[[], dict[str, BaseEstimator]],
    fold_weights: Mapping[int, np.ndarray | None],
) -> pd.DataFrame:
    """Out-of-fold raw scores: one row per validation row, a `score_<model>` column per model.

    `splits` are (fold, train positions, validation positions); the learned models (`WEIGHTED`)
    train with `fold_weights[fold]` (None: unweighted).
    """
    y = rows[LABEL].to_numpy()
    parts = []
    for fold, train, valid in splits:
        X_train, X_valid = rows.iloc[train], rows.iloc[valid]
        part = X_valid[[c for c in KEY_COLUMNS if c in X_valid.columns and c != "fold"]].copy()
        part.insert(0, "fold", fold)
        for name, model in make_models().items():
            model.fit(X_train, y[train], sample_weight=fold_weights.get(fold) if name in WEIGHTED else None)
            part[f"score_{name}"] = model.decision_function(X_valid)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def model_names(oof: pd.DataFrame) -> list[str]:
    """The models present in an out-of-fold table, in column order."""
    return [c.removeprefix("score_") for c in oof.columns if c.startswith("score_")]


def add_probabilities(oof: pd.DataFrame, method: str) -> pd.DataFrame:
    """`proba_<model>` columns: each fold calibrated on the other folds' out-of-fold scores."""
    out = oof.copy()
    for name in model_names(oof):
        out[f"proba_{name}"] = cross_fitted_probabilities(out[f"score_{name}"], out[LABEL], out["fold"], method)
    return out


def comparison(oof: pd.DataFrame, shares: list[float], resamples: int, seed: int) -> pd.DataFrame:
    """The comparison in long form: one row per model, fold (1..n or 'all') and share, with
    precision, precision_low/high, recall, recall_low/high, selected, n, positives, prevalence, lift,
    average_precision, roc_auc, brier."""
    y = oof[LABEL].to_numpy()
    folds = oof["fold"].to_numpy()
    regions = region_keys(oof["region_code"])
    tiebreak = siret_key(oof["siret"])
    fold_region = group_codes(folds, regions)
    records = []
    for name in model_names(oof):
        scores = oof[f"score_{name}"].to_numpy(dtype=float)
        probabilities = oof[f"proba_{name}"].to_numpy(dtype=float) if f"proba_{name}" in oof else None
        for share in shares:
            intervals = bootstrap_at_share(y, scores, regions, folds, share, tiebreak, resamples, seed)
            for key in [*sorted(set(folds)), "all"]:
                here = np.ones(len(y), bool) if key == "all" else folds == key
                groups = fold_region[here]
                _, groups = np.unique(groups, return_inverse=True)
                _, _, selected = precision_recall_at_share(y[here], scores[here], groups, share, tiebreak[here])
                prevalence = float(y[here].mean())
                p, r = intervals["precision"][key], intervals["recall"][key]
                records.append(
                    {
                        "model": name, "fold": str(key), "share": share,
                        "precision": p.value, "precision_low": p.low, "precision_high": p.high,
                        "recall": r.value, "recall_low": r.low, "recall_high": r.high,
                        "selected": selected, "n": int(here.sum()), "positives": int(y[here].sum()),
                        "prevalence": prevalence,
                        "lift": p.value / prevalence if prevalence else float("nan"),
                        "average_precision": average_precision(y[here], scores[here]),
                        "roc_auc": roc_auc(y[here], scores[here]),
                        "brier": brier(y[here], probabilities[here]) if probabilities is not None else float("nan"),
                    }
                )
    return pd.DataFrame.from_records(records)


def selected_text(overall: pd.DataFrame, shares: list[float]) -> str:
    """How many of the out-of-fold rows each share selected, from the `comparison` rows of fold 'all' (every model
    selects as many): a region's list holds at least one establishment, so a share selects more where regions have few
    inspected establishments. E.g. "5%: 44 of 320 (13.8%); 10%: 50 of 320 (15.6%)"."""
    first = overall[overall["model"] == overall["model"].iloc[0]]
    at = {round(r.share, 6): r for r in first.itertuples(index=False)}
    rows = [(share, at[round(share, 6)]) for share in shares if round(share, 6) in at]
    return "; ".join(f"{share:.0%}: {row.selected} of {row.n} ({row.selected / row.n:.1%})" for share, row in rows)


def fold_objective(y: np.ndarray, scores: np.ndarray, regions: np.ndarray, objective: str,
                   capacity_share: float, shares: list[float], tiebreak: np.ndarray) -> float:
    """The tuning objective on one fold's validation rows (higher is better)."""
    if objective == "average_precision":
        value = average_precision(y, scores)
        return 0.0 if np.isnan(value) else value
    _, groups = np.unique(np.asarray(regions).astype(str), return_inverse=True)
    chosen = [capacity_share] if objective == "precision_at_k" else shares
    return float(np.mean([precision_recall_at_share(y, scores, groups, s, tiebreak)[0] for s in chosen]))


def subgroup_table(oof: pd.DataFrame, model: str, by: pd.Series, share: float) -> pd.DataFrame:
    """Per subgroup (region, sector, size band) of the out-of-fold rows: n, positives, precision@k
    (selection within fold x region, as in deployment), average precision and ROC AUC."""
    y = oof[LABEL].to_numpy()
    scores = oof[f"score_{model}"].to_numpy(dtype=float)
    groups = group_codes(oof["fold"].to_numpy(), region_keys(oof["region_code"]))
    selected = top_share_mask(scores, groups, share, siret_key(oof["siret"]))
    frame = pd.DataFrame({"group": by.astype(str).to_numpy(), "y": y, "score": scores, "selected": selected})
    records = []
    for group, part in frame.groupby("group", sort=True):
        picked = part[part["selected"]]
        records.append(
            {
                "group": group, "n": len(part), "positives": int(part["y"].sum()),
                "selected": len(picked),
                "precision_at_k": float(picked["y"].mean()) if len(picked) else float("nan"),
                "average_precision": average_precision(part["y"].to_numpy(), part["score"].to_numpy()),
                "roc_auc": roc_auc(part["y"].to_numpy(), part["score"].to_numpy()),
            }
        )
    return pd.DataFrame.from_records(records)
