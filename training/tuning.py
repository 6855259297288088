"""LightGBM hyperparameters tuned by Optuna (TPE with median pruning) on the temporal folds.

A trial fits LightGBM on each fold's training rows and reports the fold's objective (see
`TrainingConfig.objective`) after each fold, so that the pruner can stop a poor trial early; its
value is the mean over folds; a pruned trial keeps the mean of the folds it reached, reported as
partial (it is not comparable with complete trials). Studies live in SQLite (`mlruns/optuna.db` by
default) under a name derived from the data months, the data and the settings: each training starts a
new study (`<name>`, then `<name>-2`, ... when the same data and settings were tuned before) and runs
its trials; `resume` continues the last study of the same data and settings instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.capacity import siret_key
from core.training_config import TrainingConfig
from features.catalog import FEATURES_SCHEMA_VERSION
from training.evaluation import fold_objective
from training.labels import LABEL
from training.metrics import region_keys
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
              weights: Mapping[int, np.ndarray | None]) -> list[FoldData]:
    """Per fold, the matrices a trial fits and scores (computed once for all trials)."""
    y = rows[LABEL].to_numpy()
    tiebreak = siret_key(rows["siret"])
    return [
        FoldData(fold, rows.iloc[train], y[train], weights.get(fold), rows.iloc[valid], y[valid],
                 region_keys(rows.iloc[valid]["region_code"]), tiebreak[valid])
        for fold, train, valid in splits
    ]


def data_fingerprint(rows: pd.DataFrame) -> str:
    """A hash of the labelled rows (SIRET, inspection date, outcome and every model feature): equal
    fingerprints, same data."""
    columns = ["siret", "inspection_date", LABEL, *model_features()]
    return hashlib.sha256(pd.util.hash_pandas_object(rows[columns], index=False).to_numpy().tobytes()).hexdigest()


def study_name(rows: pd.DataFrame, folds: pd.DataFrame, config: TrainingConfig, ipw: str, months: list[str],
               propensity_sampled: bool = False) -> str:
    """A name that changes whenever the labelled data, the folds or a setting that shapes tuning does (with
    `propensity_rows` when the rows are weighted by a propensity model fitted on a sample), led by the data months
    ('YYYY-MM') so that a person can tell studies apart."""
    digest = hashlib.sha256(data_fingerprint(rows).encode())
    digest.update(folds.astype(str).to_csv(index=False).encode())
    settings = {
        "search_space": SEARCH_SPACE_VERSION,
        "tuned_on": "every fold but the latest",  # a study tuned on every fold is not resumed with another objective
        "schema": FEATURES_SCHEMA_VERSION,
        "ipw": ipw,
        **config.model_dump(include={"objective", "capacity_share", "report_shares", "max_depth", "max_estimators",
                                     "threads", "seed", "ipw_max_weight", "pruner_startup_trials"}),
        **({"propensity_rows": config.propensity_rows} if propensity_sampled else {}),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return f"lightgbm-{months[0]}..{months[-1]}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class TrialReport:
    """One finished trial as the log shows it: complete over every fold, or pruned after `folds_done`."""

    number: int
    state: str  # complete | pruned | fail
    value: float | None  # the mean over the folds it reached (partial when pruned)
    folds_done: int
    n_folds: int

    @property
    def partial(self) -> bool:
        """Whether the value covers only some folds (a pruned trial)."""
        return self.state == "pruned"


def same_data_studies(storage: str | None, name: str) -> list[str]:
    """The studies of `storage` named `name` or `name-k` (earlier trainings on the same data and settings),
    oldest first."""
    import optuna

    if storage is None:
        return []
    found = []
    for existing in optuna.study.get_all_study_names(storage):
        suffix = existing.removeprefix(name)
        if existing == name:
            found.append((1, existing))
        elif existing.startswith(name + "-") and suffix[1:].isdigit():
            found.append((int(suffix[1:]), existing))
    return [study for _, study in sorted(found)]


def study_to_run(storage: str | None, name: str, resume: bool) -> str:
    """The study this training runs its trials in: a new one (`name`, else `name-k` after the last of the
    same data and settings), or with `resume` the last one. Raises ValueError when there is none to resume."""
    earlier = same_data_studies(storage, name)
    if resume:
        if not earlier:
            raise ValueError(f"--resume: no earlier study on this data and these settings ({name}); the data or a "
                             "setting changed since the last training, or this code tunes otherwise (since 7 December "
                             "2026 on every fold but the latest): run without --resume to start a new study")
        return earlier[-1]
    if not earlier:
        return name
    last = earlier[-1]
    return f"{name}-{int(last.removeprefix(name + '-')) + 1 if last != name else 2}"


def tune(
    folds: list[FoldData],
    config: TrainingConfig,
    n_trials: int,
    storage: str | None,
    name: str,
    on_trial: Callable[[TrialReport], None] | None = None,
):
    """Run `n_trials` trials in the study `name` (created, or loaded when it exists: see `study_to_run`);
    returns the study and the number of trials it held before this run.

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
    earlier = len(study.get_trials(deepcopy=False, states=finished))
    if earlier:
        log.info("study %s resumed: %d trials already done, %d more to run", name, earlier, n_trials)

    def objective(trial: optuna.Trial) -> float:
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

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(TrialReport(trial.number, trial.state.name.lower(), trial.value, len(trial.intermediate_values),
                                 len(folds)))

    study.optimize(objective, n_trials=n_trials, callbacks=[callback], gc_after_trial=False)
    return study, earlier


def trials_table(study: Any, n_folds: int) -> pd.DataFrame:
    """Every trial of the study: number, state, folds_evaluated, objective (complete trials: the mean over
    every fold), partial_objective (pruned trials: the mean over the folds they reached), and parameters."""
    records = []
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        records.append({
            "number": trial.number, "state": state, "folds_evaluated": len(trial.intermediate_values),
            "n_folds": n_folds,
            "objective": trial.value if state == "complete" else float("nan"),
            "partial_objective": trial.value if state == "pruned" and trial.value is not None else float("nan"),
            **{f"params_{k}": v for k, v in trial.params.items()},
        })
    return pd.DataFrame.from_records(records)


def best_params(study: Any) -> dict[str, Any]:
    """The best finished trial's LightGBM parameters (ties: the earliest trial)."""
    return dict(study.best_trial.params)
