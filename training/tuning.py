"""LightGBM hyperparameters tuned by Optuna (TPE with median pruning) on the temporal folds.

A trial fits LightGBM on each fold's training rows and reports the fold's objective (see
`TrainingConfig.objective`) after each fold, so that the pruner can stop a poor trial early; its
value is the mean over folds. Studies live in SQLite (`mlruns/optuna.db` by default) under a name
derived from the data and the settings, so the same data and settings resume the same study.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from champollion.capacity import siret_key
from features.catalog import FEATURES_SCHEMA_VERSION
from training.config import TrainingConfig
from training.evaluation import fold_objective
from training.labels import LABEL
from training.models import LightGBMModel, model_features

log = logging.getLogger("champollion.training")
SEARCH_SPACE_VERSION = 1


def search_space(trial: Any, config: TrainingConfig) -> dict[str, Any]:
    """LightGBM parameters drawn for a trial; depth and tree count capped by the configuration."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 4, 31),
        "max_depth": trial.suggest_int("max_depth", 2, config.max_depth),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 20, config.max_estimators, step=10),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 60),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
    }


@dataclass(frozen=True)
class FoldData:
    """What a trial needs of one fold: training rows and weights, validation rows and outcomes."""

    fold: int
    X_train: pd.DataFrame
    y_train: np.ndarray
    weights: np.ndarray | None
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    regions: np.ndarray
    tiebreak: np.ndarray


def fold_data(rows: pd.DataFrame, splits: list[tuple[int, np.ndarray, np.ndarray]],
              weights: dict[int, np.ndarray | None]) -> list[FoldData]:
    """Per fold, the matrices a trial fits and scores (computed once for all trials)."""
    y = rows[LABEL].to_numpy()
    tiebreak = siret_key(rows["siret"])
    return [
        FoldData(fold, rows.iloc[train], y[train], weights.get(fold), rows.iloc[valid], y[valid],
                 rows.iloc[valid]["region_code"].astype(str).to_numpy(), tiebreak[valid])
        for fold, train, valid in splits
    ]


def study_name(rows: pd.DataFrame, folds: pd.DataFrame, config: TrainingConfig, ipw: str) -> str:
    """A name that changes whenever the labelled data, the folds or a setting that shapes tuning does."""
    digest = hashlib.sha256()
    columns = ["siret", "inspection_date", LABEL, *model_features()]
    digest.update(pd.util.hash_pandas_object(rows[columns], index=False).to_numpy().tobytes())
    digest.update(folds.astype(str).to_csv(index=False).encode())
    settings = {
        "search_space": SEARCH_SPACE_VERSION,
        "schema": FEATURES_SCHEMA_VERSION,
        "ipw": ipw,
        **config.model_dump(include={"objective", "capacity_share", "report_shares", "max_depth", "max_estimators",
                                     "threads", "seed", "ipw_max_weight", "pruner_startup_trials"}),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return f"champollion-lightgbm-{digest.hexdigest()[:16]}"


def tune(
    folds: list[FoldData],
    config: TrainingConfig,
    n_trials: int,
    storage: str | None,
    name: str,
    on_trial: Callable[[int, float | None, str], None] | None = None,
):
    """Run (or resume) the study until it holds `n_trials` finished trials; returns the study and the
    number of trials it already held.

    `storage` is an Optuna storage URL (e.g. sqlite:///.../optuna.db), None for in memory.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=config.pruner_startup_trials, n_warmup_steps=0),
        load_if_exists=True,
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    remaining = max(0, n_trials - done)
    if done:
        log.info("study %s resumed: %d trials already done, %d to run", name, done, remaining)

    def objective(trial: "optuna.Trial") -> float:
        params = search_space(trial, config)
        values = []
        for step, data in enumerate(folds):
            model = LightGBMModel(**params, threads=config.threads, random_state=config.seed)
            model.fit(data.X_train, data.y_train, sample_weight=data.weights)
            scores = model.decision_function(data.X_valid)
            values.append(fold_objective(data.y_valid, scores, data.regions, config.objective,
                                         config.capacity_share, config.shares, data.tiebreak))
            trial.report(float(np.mean(values)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(values))

    def callback(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        if on_trial is not None:
            on_trial(trial.number, trial.value, trial.state.name)

    if remaining:
        study.optimize(objective, n_trials=remaining, callbacks=[callback], gc_after_trial=False)
    return study, done


def best_params(study: Any) -> dict[str, Any]:
    """The best finished trial's LightGBM parameters (ties: the earliest trial)."""
    return dict(study.best_trial.params)
