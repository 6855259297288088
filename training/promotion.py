"""The promotion gate: the challenger becomes champion only if it does at least as well on its latest fold.

Both models must be measured on inspections neither was trained on:
- when the champion's latest fold holds the same inspections as the challenger's (a retraining on the
  same data), both values are computed from their out-of-fold scores on those rows;
- otherwise the champion scores the rows of the challenger's latest fold dated after its own data
  (`unseen_by`), against the challenger's out-of-fold scores on the same rows;
- if there are none, nothing compares the two (their recorded values are of other folds): the champion is kept.
The first model becomes champion; `force` overrides the gate.

The gate's metric (`gate_value`: the tuning objective on the latest fold) is the one `models` shows,
with its interval (`gate_interval`) and every baseline's value on the same rows (`latest_fold_values`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.capacity import siret_key
from core.training_config import TrainingConfig
from training.evaluation import fold_objective
from training.labels import LABEL, one_outcome
from training.metrics import Interval, region_keys
from training.models import MODEL_LABELS


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the candidate version becomes champion, and why."""

    promote: bool
    reason: str
    challenger_value: float | None = None  # the candidate's
    champion_value: float | None = None


def promotion_decision(challenger: float, champion: float | None, force: bool = False,
                       metric: str = "precision@k") -> PromotionDecision:
    """The gate: promote when there is no champion, when forced, or when candidate >= champion."""
    if champion is None:
        return PromotionDecision(True, "no champion yet: the first model becomes champion", challenger, None)
    if force:
        return PromotionDecision(True, f"forced (candidate {metric} {challenger:.3f}, champion {champion:.3f})",
                                 challenger, champion)
    if challenger >= champion:
        return PromotionDecision(True, f"candidate {metric} {challenger:.3f} >= champion {champion:.3f} on the same "
                                       "inspections", challenger, champion)
    return PromotionDecision(False, f"candidate {metric} {challenger:.3f} < champion {champion:.3f} on the same "
                                    "inspections: champion kept (use --force to override)", challenger, champion)


def too_few_to_compare(rows: pd.DataFrame, minimum: int) -> str:
    """Why the inspections `rows` (with their outcome, LABEL) cannot tell two versions apart, as a predicate of « the
    N inspections » ('' when they can): fewer than `minimum` (`training.min_promotion_rows`), or all of one outcome,
    on which every ranking scores the same."""
    if len(rows) < minimum:
        return f"are fewer than the {minimum} a comparison needs (`training.min_promotion_rows`)"
    if (found := one_outcome(rows[LABEL].to_numpy())) is not None:
        return (f"all have one outcome (abuse found in {found * len(rows)} of them): every ranking scores the same on "
                "them")
    return ""


def promotion_metric(settings: TrainingConfig) -> str:
    """The promotion metric in words: the tuning objective on a version's latest validation fold."""
    what = {"precision_at_k": f"precision at {settings.capacity_share:.0%}",
            "mean_precision_at_shares": "mean precision at " + ", ".join(f"{s:.0%}" for s in settings.shares),
            "average_precision": "average precision"}[settings.objective]
    return f"{what} of each region's inspected establishments on the latest validation fold, held out of tuning, out of fold"


def promotion_settings(settings: TrainingConfig) -> str:
    """The settings the promotion metric's values depend on (objective, capacity, shares), as text a registry tag
    keeps: two versions with the same measure the same thing."""
    return json.dumps({"objective": settings.objective, "capacity_share": settings.capacity_share,
                       "shares": settings.shares}, sort_keys=True)


def gate_value(fold_rows: pd.DataFrame, scores: np.ndarray, settings: TrainingConfig) -> float:
    """The tuning objective on one fold's rows (region_code and abuse_found) for the given scores."""
    return fold_objective(
        fold_rows[LABEL].to_numpy(), np.asarray(scores, dtype=float), region_keys(fold_rows["region_code"]),
        settings.objective, settings.capacity_share, settings.shares, siret_key(fold_rows["siret"]),
    )


def gate_interval(fold_rows: pd.DataFrame, scores: np.ndarray, settings: TrainingConfig) -> Interval:
    """`gate_value` with a 95% bootstrap percentile interval: the fold's rows resampled with replacement
    within each region (fixed seed), each region's list drawn again on every resample."""
    scores = np.asarray(scores, dtype=float)
    regions = region_keys(fold_rows["region_code"])
    members = [np.flatnonzero(regions == region) for region in np.unique(regions)]
    rng = np.random.default_rng(settings.seed)
    draws = np.empty(settings.bootstrap_resamples)
    for b in range(settings.bootstrap_resamples):
        index = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members])
        draws[b] = gate_value(fold_rows.iloc[index], scores[index], settings)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(gate_value(fold_rows, scores, settings), float(low), float(high))


def latest_fold_values(latest_fold: pd.DataFrame, oof: pd.DataFrame, settings: TrainingConfig) -> pd.DataFrame:
    """The gate's metric of every model on the latest fold (out-of-fold scores `score_<model>` of `oof`,
    aligned with `latest_fold`): model, value, and for LightGBM its interval (low, high)."""
    fold = int(latest_fold["fold"].iloc[0])
    scores = oof.loc[oof["fold"] == fold]
    records = []
    for column in [c for c in scores.columns if c.startswith("score_")]:
        name = column.removeprefix("score_")
        values = scores[column].to_numpy(dtype=float)
        if name == "lightgbm":
            interval = gate_interval(latest_fold, values, settings)
            records.append({"model": name, "value": interval.value, "low": interval.low, "high": interval.high})
        else:
            records.append({"model": name, "value": gate_value(latest_fold, values, settings),
                            "low": float("nan"), "high": float("nan")})
    return pd.DataFrame.from_records(records)


def against_simpler(values: dict[str, float], interval: Interval) -> tuple[list[str], list[str]]:
    """The simpler models (model name -> value on the same rows) that do better than LightGBM (above its interval) and
    those that do as well (within it), the logistic regression first, then by value."""
    def ordered(kept: list[str]) -> list[str]:
        return sorted(kept, key=lambda name: (name != "logistic", -values[name]))

    return (ordered([name for name, value in values.items() if value > interval.high]),
            ordered([name for name, value in values.items() if interval.low <= value <= interval.high]))


def simpler_model_verdict(values: dict[str, float], interval: Interval) -> str:
    """In words: whether LightGBM beats the simpler models, given its value with its interval and each
    baseline's value (model name -> value) on the same rows."""
    lightgbm = f"LightGBM {interval.value:.3f} [{interval.low:.2f}, {interval.high:.2f}]"

    def named(kept: list[str]) -> str:
        return ", ".join(f"{MODEL_LABELS.get(name, name)} {values[name]:.3f}" for name in kept)

    better, as_good = against_simpler(values, interval)
    if better:
        also = f"; as good: {named(as_good)}" if as_good else ""
        return f"a simpler model does better: {named(better)}, above the interval of {lightgbm}{also}"
    if not as_good:
        return f"{lightgbm} beats every simpler model: each is below its interval"
    return f"the simpler model does as well: {named(as_good)}, within the interval of {lightgbm}"


# How a latest fold's values were measured besides its rows: held out of tuning (`training.pipeline`), or, in a key
# written before, tuned on too (the best of N trials there: its value too high).
HELD_OUT, TUNED_ON = ":held-out", ":tuned-on"


def fold_key(fold_rows: pd.DataFrame, outcome_after_days: int) -> str:
    """Identifies a validation fold by its inspections (SIRET, date, outcome), the delay after which the outcomes
    it was trained on and its features read were known (`features.outcome_known_after_days`), and that it was held out
    of tuning: equal keys, same rows measured the same way. Two models measured out-of-fold otherwise (one trained on
    outcomes its window did not know yet, or tuned on the fold) are compared by re-scoring, never by their recorded
    values."""
    keys = fold_rows[["siret", "inspection_date", LABEL]].astype(str).sort_values(["inspection_date", "siret"])
    digest = hashlib.sha256(keys.to_csv(index=False).encode()).hexdigest()[:16]
    dates = pd.to_datetime(fold_rows["inspection_date"])
    return (f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}:{len(fold_rows)}:{digest}:outcomes+{outcome_after_days}d"
            f"{HELD_OUT}")


def comparable_fold_key(tag: str | None) -> str | None:
    """A version's recorded `latest_fold` tag as `fold_key` writes it now: a tag written before keys named the delay
    of the outcomes was measured with outcomes read from the day of the control (0 days), and one written before they
    named the tuning was measured on a fold Optuna tuned on."""
    if not tag:
        return tag
    if ":outcomes+" not in tag:
        tag = f"{tag}:outcomes+0d"
    return tag if tag.endswith(HELD_OUT) else f"{tag}{TUNED_ON}"


def unseen_by(fold_rows: pd.DataFrame, data_months: list[str]) -> pd.DataFrame:
    """The fold's inspections that a model trained on `data_months` (as-of months 'YYYY-MM') never saw:
    those whose as-of month comes after its last one."""
    if not data_months:
        return fold_rows
    as_of = pd.to_datetime(fold_rows["as_of"]).dt.strftime("%Y-%m")
    return fold_rows[as_of > max(data_months)]
