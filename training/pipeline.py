"""Training from past inspections, from labelled rows to the saved model, as plain functions.

`load_training_data` gathers the feature tables and the labelled rows (the only I/O: the feature
cache); `fit_and_evaluate` runs the temporal folds, the weighting decision, the Optuna study, the
comparison with the baselines and the final fits, and returns everything the report and the MLflow
run need; `score_against_truth` measures the final models on a simulated population's truth.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from core.capacity import siret_key
from core.config import Config
from core.home import Home
from core.months import add_months, months_between, runs_text
from core.training_config import TrainingConfig
from features.asof import declared_span, undeclared_in_window
from features.build import settings_of
from features.catalog import FEATURES_SCHEMA_VERSION
from features.store import StoredFeatures, declared_months, feature_tables
from training.calibration import ScoreCalibrator
from training.evaluation import add_probabilities, comparison, cross_validate
from training.labels import (
    LABEL,
    LabelledSet,
    build_labelled_set,
    label_as_of,
    needed_months,
    one_outcome,
)
from training.metrics import Interval, group_codes, precision_recall_at_share, region_keys, roc_auc
from training.models import WEIGHTED, LightGBMModel, comparison_models, model_features
from training.promotion import fold_key, latest_fold_values, simpler_model_verdict
from training.propensity import (
    INSPECTED,
    SAMPLING_WEIGHT,
    InversePropensityWeighting,
    known_before,
    propensity_population,
    sampled,
)
from training.splitter import FoldChoice, choose_folds, folds_problem
from training.truth import align_truth, truth_at, truth_comparison
from training.tuning import (
    TrialReport,
    best_params,
    data_fingerprint,
    fold_data,
    study_name,
    study_to_run,
    trials_table,
    tune,
)
from warehouse.engine import published_version
from warehouse.inspections import typed_inspections

if TYPE_CHECKING:  # imported when training ends: it loads MLflow
    from training.scoring_model import ScoringModel

log = logging.getLogger("champollion.training")

SELECTION_COLUMNS = ("precarity_rate_12m", "precarity_rate_12m_excess", "n_rule_hits_total", "headcount",
                     "share_hires_fixed_term_12m", "past_inspections")


@dataclass(frozen=True)
class TrainingData:
    """Inspections, the feature table of every month they need (read when asked for), the labelled rows, and which
    as-of months were kept and why (`load_training_data`)."""

    inspections: pd.DataFrame
    features_by_month: StoredFeatures
    labelled: LabelledSet
    months_choice: str
    features_settings: dict[str, Any]  # features.build.settings_of the tables (what scoring must use)

    @property
    def outcome_after_days(self) -> int:
        """`features.outcome_known_after_days` of the tables: when the outcomes were known (the folds' cut)."""
        return int(self.features_settings["outcome_known_after_days"])


def load_training_data(home: Home, config: Config, inspections: pd.DataFrame,
                       on_month: Callable[[date, str], None] | None = None) -> TrainingData:
    """Feature tables (cached or computed) for the as-of months of the inspections, and the labelled rows; the
    inspections typed first (`warehouse.inspections.typed_inspections`).

    An as-of month whose window (`features.window_months`), or the month before it (the headcount growth's start),
    holds a month the warehouse does not declare (before its first declared month, or in a gap) counts its features
    over part of it: the inspections of such months are left out, with the reason, when they are at most a third of
    those of declared months and the others alone fill the configured number of folds, their windows shortened to
    half at most if need be (`training.splitter.folds_problem`: rows whose window is whole are worth shorter
    validation windows, not much shorter);
    a gap never brings back the first months (`_months_to_train`); otherwise every month is kept. `months_choice`
    says which and why. (Trained on the 56 of its 98 inspections left, the `small` preset's model read no feature.)
    """
    inspections = typed_inspections(inspections)
    declared = declared_months(published_version(home.warehouse))
    months, partial_left_out, choice = _months_to_train(inspections, declared, config)
    tables = feature_tables(home, config, months, inspections, on_month)
    labelled = build_labelled_set(inspections, tables, declared if partial_left_out else None,
                                  config.features.window_months, partial_left_out)
    return TrainingData(inspections, tables, labelled, choice, settings_of(config))


def _months_to_train(inspections: pd.DataFrame, declared: list[date],
                     config: Config) -> tuple[list[date], list[date] | None, str]:
    """The as-of months to compute, the partial months whose inspections `build_labelled_set` leaves out (None:
    none), and the choice in words (`load_training_data`). Decided on the inspections' dates alone, before any
    feature table is read.

    Every partial month is left out when that can be afforded; else, where the warehouse has gaps, those before its
    first declared month + the window (a gap never brings the first months back); else none."""
    months, window = needed_months(inspections), config.features.window_months
    if not declared:
        return months, None, "all (the warehouse holds no declared month)"
    known, span = set(declared), declared_span(declared)
    # Months the warehouse declares whose window, or the month before it, holds one it does not: before its first
    # declared month, or in a gap. Months it does not declare have no feature table at all (left out either way).
    partial = [month for month in months if month in known and undeclared_in_window(month, known, window)]
    if not partial:
        return months, None, f"all: none counts its {window}-month window or the month before it over part of it ({span})"
    as_of = [label_as_of(d.date()) for d in pd.to_datetime(inspections["inspection_date"])]
    whole_from = add_months(declared[0], window)
    leading = [month for month in partial if month < whole_from]
    attempts = [partial, *([leading] if leading and len(leading) < len(partial) else [])]
    problems = [_problem_without(set(left), inspections, as_of, known, config) for left in attempts]
    why = f"count their {window}-month window or the month before it over part of it"
    if all(problem is not None for problem in problems):
        held = set(as_of)
        inspected = [month for month in partial if month in held]  # the months the problem is about
        return months, None, f"all, though {_named(inspected, whole_from)} {why} ({span}): without them {problems[0]}"
    chosen = attempts[0] if problems[0] is None else attempts[1]
    left = set(chosen)
    kept = f"from {whole_from:%Y-%m}" if chosen == leading else f"without {runs_text(chosen)}"
    holding = any(month in left for month in as_of)
    others = "later" if chosen == leading else "other"
    choice = (f"{kept}: {_named(chosen, whole_from)} {why} ({span}), and "
              + (f"the {others} ones fill the configured number of folds" if holding else "they hold no inspection"))
    if chosen is not partial:
        choice += (f"; those of {runs_text([month for month in partial if month not in left])} are kept though they count it "
                   f"over part of it too: leaving out every such month, {problems[0]}")
    return [month for month in months if month not in left], chosen, choice


def _problem_without(left: set[date], inspections: pd.DataFrame, as_of: list[date], known: set[date],
                     config: Config) -> str | None:
    """Why the inspections of the as-of months `left` cannot be left out (None: they can): more than a third of those
    of declared months (which alone can be labelled), or the others do not fill the configured number of folds, even
    with shorter windows (`training.splitter.folds_problem`). Months holding
    no inspection can always be left out: no row is lost."""
    settings = config.training
    earlier = sum(month in left for month in as_of)
    if earlier == 0:
        return None
    labelable = sum(month in known for month in as_of)
    if earlier * 3 > labelable:
        return (f"{earlier} of the {labelable} inspections of months the warehouse declares would be left out, "
                "more than a third")
    others = inspections[[month in known and month not in left for month in as_of]]
    return folds_problem(others, settings.n_folds, settings.validation_months, settings.min_train_rows,
                         outcome_after_days=config.features.outcome_known_after_days)


def _learns_nothing(labels: np.ndarray, what: str) -> str:
    """Why `labels` (the outcomes of `what`) teach nothing ('' when they hold both): all found abuse, or none did."""
    found = one_outcome(labels)
    if found is None:
        return ""
    return (f"{what} all {'found abuse' if found else 'found no abuse'} (abuse_found={found}): a model learns "
            "to tell the controls that found abuse from those that did not, and needs both")


def _named(months: list[date], whole_from: date) -> str:
    """Partial as-of months (sorted) in words: those before `whole_from` when all are, else their runs."""
    return f"those before {whole_from:%Y-%m}" if months[-1] < whole_from else f"those of {runs_text(months)}"


@dataclass
class TrainingResult:
    """Everything a training produced: for the report, the MLflow run and the registry."""

    labelled: LabelledSet
    folds: pd.DataFrame
    ipw: str
    ipw_reason: str
    ipw_decision: pd.DataFrame | None
    months_choice: str
    fold_choice: str
    study_name: str
    trials: pd.DataFrame
    trials_resumed: int
    trials_this_run: int
    params: dict[str, Any]
    oof: pd.DataFrame
    comparison: pd.DataFrame
    final_models: dict[str, BaseEstimator]
    calibrators: dict[str, ScoreCalibrator]
    scoring_model: ScoringModel
    importance: pd.DataFrame
    selection: pd.DataFrame
    propensity_auc: float
    weights_summary: dict[str, float]
    latest_fold: pd.DataFrame
    latest_fold_key: str
    latest_fold_values: pd.DataFrame  # the promotion metric of every model on the latest fold
    simpler_model_verdict: str
    data_fingerprint: str
    model_fingerprint: str
    settings: TrainingConfig
    truth_over_folds: pd.DataFrame | None = None


def fold_weightings(rows: pd.DataFrame, splits: list, folds: pd.DataFrame, population: pd.DataFrame,
                    settings: TrainingConfig) -> tuple[dict[int, InversePropensityWeighting], dict[int, np.ndarray]]:
    """Per fold, the inverse-propensity weighting fitted on what was known before its window, and the
    weights of its training rows."""
    weightings, weights = {}, {}
    for fold, train, _ in splits:
        window = folds.loc[folds["fold"] == fold].iloc[0]
        known = known_before(population, window["valid_from"])
        weighting = InversePropensityWeighting(settings.ipw_max_weight, random_state=settings.seed).fit(known)
        weightings[fold], weights[fold] = weighting, weighting.weights(rows.iloc[train])
    return weightings, weights


def truth_over_folds(
    rows: pd.DataFrame,
    splits: list,
    folds: pd.DataFrame,
    tables: Mapping[date, pd.DataFrame],
    truth_months: pd.DataFrame,
    make_models: Callable[[], dict[str, BaseEstimator]],
    fold_weights: Mapping[int, np.ndarray | None],
    shares: list[float],
) -> pd.DataFrame:
    """The hidden truth over the validation windows, with honest temporal models: each fold's models
    (trained on inspections before its window) score every establishment as of each month whose list
    serves the window (valid_from - 1 to valid_until - 1), compared with who was abusing that month.

    One row per fold, month, model and share: precision, establishments, abusing.
    """
    y = rows[LABEL].to_numpy()
    records = []
    for fold, train, _ in splits:
        window = folds.loc[folds["fold"] == fold].iloc[0]
        months = [add_months(m, -1) for m in months_between(window["valid_from"], window["valid_until"])]
        models = make_models()
        for name, model in models.items():
            model.fit(rows.iloc[train], y[train], sample_weight=fold_weights.get(fold) if name in WEIGHTED else None)
        for month in months:
            if month not in tables:
                continue
            table, _ = align_truth(tables[month], truth_at(truth_months, pd.Timestamp(month)))
            abusing = table["abusing"].to_numpy()
            groups = group_codes(region_keys(table["region_code"]))
            tiebreak = siret_key(table["siret"])
            scores = {name: model.decision_function(table) for name, model in models.items()}
            scores["oracle"] = table["latent_abuse_probability"].to_numpy(dtype=float)
            for name, values in scores.items():
                for share in shares:
                    precision, _, _ = precision_recall_at_share(abusing, values, groups, share, tiebreak)
                    records.append({"fold": fold, "as_of": f"{month:%Y-%m}", "model": name, "share": share,
                                    "precision": precision, "establishments": len(table),
                                    "abusing": int(abusing.sum())})
            del table  # let go before the next month is read
    return pd.DataFrame.from_records(records)


def decide_ipw(rows: pd.DataFrame, splits: list, folds: pd.DataFrame, tables: Mapping[date, pd.DataFrame],
               weights_on: dict[int, np.ndarray], truth_months: pd.DataFrame,
               settings: TrainingConfig) -> pd.DataFrame:
    """For `ipw: auto` on a simulated population: LightGBM (default parameters) per fold with and without
    weights, precision at capacity against the hidden truth over the validation windows (see
    `truth_over_folds`). One row per fold and month with `ipw_off` and `ipw_on`."""

    def lightgbm() -> dict[str, BaseEstimator]:
        return {"lightgbm": LightGBMModel(threads=settings.threads, random_state=settings.seed)}

    none: dict[int, np.ndarray | None] = {fold: None for fold, _, _ in splits}
    parts = []
    for mode, weights in (("off", none), ("on", weights_on)):
        part = truth_over_folds(rows, splits, folds, tables, truth_months, lightgbm, weights,
                                [settings.capacity_share])
        part = part[part["model"] == "lightgbm"].set_index(["fold", "as_of"])["precision"].rename(f"ipw_{mode}")
        parts.append(part)
    return pd.concat(parts, axis=1).reset_index()


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """The mean of the values that are not missing, each counting its weight (NaN when none is)."""
    known = ~np.isnan(values)
    return float(np.average(values[known], weights=weights[known])) if known.any() else float("nan")


def selection_table(population: pd.DataFrame, propensity: np.ndarray) -> pd.DataFrame:
    """How the inspected establishment-months differ from all of them (means of a few features; the population's
    sampling weights make them the means over every establishment-month)."""
    inspected = population[INSPECTED].to_numpy() == 1
    weights = (population[SAMPLING_WEIGHT].to_numpy(dtype="float64") if SAMPLING_WEIGHT in population
               else np.ones(len(population)))
    records = []
    for column, values in [*((c, pd.to_numeric(population[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
                             for c in SELECTION_COLUMNS), ("propensity (modelled)", np.asarray(propensity, float))]:
        records.append({"feature": column, "inspected": _weighted_mean(values[inspected], weights[inspected]),
                        "all": _weighted_mean(values, weights)})
    return pd.DataFrame.from_records(records)


def feature_importance(model: LightGBMModel, rows: pd.DataFrame) -> pd.DataFrame:
    """Global importance of the final LightGBM: split gain and mean |SHAP| (log-odds) over the labelled rows."""
    booster = model.booster_
    contributions = np.asarray(booster.predict(model.inputs(rows), pred_contrib=True))[:, :-1]
    frame = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance(importance_type="gain"),
            "splits": booster.feature_importance(importance_type="split"),
            "mean_abs_shap": np.abs(contributions).mean(axis=0),
        }
    )
    return frame.sort_values(["mean_abs_shap", "gain"], ascending=False, ignore_index=True)


def model_fingerprint(data: str, folds: pd.DataFrame, params: dict[str, Any], ipw: str,
                      settings: TrainingConfig, propensity_sampled: bool = False) -> str:
    """A hash of what makes a trained model what it is: the labelled data (its fingerprint), the folds (the
    calibration is fitted out of fold), the LightGBM parameters, the weighting (with `propensity_rows` when the
    rows are weighted by a propensity model fitted on a sample) and the settings of the final fits. Two trainings
    with equal fingerprints give the same model."""
    identity = {
        "data": data, "folds": folds.astype(str).to_dict(orient="list"), "params": params, "ipw": ipw,
        "schema": FEATURES_SCHEMA_VERSION,
        **settings.model_dump(include={"calibration", "logistic_c", "ipw_max_weight", "threads", "seed",
                                       "capacity_share", "report_shares", "objective"}),
        **({"propensity_rows": settings.propensity_rows} if propensity_sampled else {}),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def fit_and_evaluate(
    data: TrainingData,
    settings: TrainingConfig,
    trials: int,
    storage: str | None,
    truth_months: pd.DataFrame | None = None,
    on_trial: Callable[[TrialReport], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    resume: bool = False,
    on_folds: Callable[[FoldChoice], None] | None = None,
) -> TrainingResult:
    """Folds fitted to the history, weighting decision, Optuna study, comparison of every model, final fits
    and calibration.

    `storage` is the Optuna storage URL (None: in memory); `trials` are run in a new study, or with
    `resume` in the last study of the same data and settings (see `training.tuning.study_to_run`);
    `truth_months` (the simulated population's establishment_months) lets `ipw: auto` decide on the
    hidden truth. `on_folds` receives the fold choice before the work starts.
    """
    from training.scoring_model import ScoringModel

    step = on_step or (lambda message: log.info("%s", message))
    rows = data.labelled.rows
    if rows.empty:
        raise ValueError("no labelled rows: no inspection could be joined to features")
    if why := _learns_nothing(rows[LABEL].to_numpy(), f"the {len(rows)} labelled inspections"):
        raise ValueError(why)
    choice = choose_folds(rows, settings.n_folds, settings.validation_months, settings.min_train_rows,
                          outcome_after_days=data.outcome_after_days)
    folds, splits = choice.folds, list(choice.splitter.split(rows))
    for fold, train, _ in splits:
        if why := _learns_nothing(rows[LABEL].to_numpy()[train], f"fold {fold} trains on {len(train)} inspections: they"):
            raise ValueError(f"{why}; with more inspections, or fewer folds or shorter validation windows, "
                             "each fold learns from both")
    log.info("folds: %s", choice.reason)
    if on_folds:
        on_folds(choice)

    step("fitting the inspection-propensity model per fold")
    population = propensity_population(data.features_by_month, data.inspections, settings.propensity_rows, settings.seed)
    weightings, weights_on = fold_weightings(rows, splits, folds, population, settings)
    last_fold = int(folds["fold"].max())
    last_from = folds.loc[folds["fold"] == last_fold, "valid_from"].iloc[0]
    later = population[population["as_of"] >= pd.Timestamp(add_months(last_from, -1))]
    propensity_auc = roc_auc(later[INSPECTED].to_numpy(), weightings[last_fold].propensity_.predict_proba(later),
                             later[SAMPLING_WEIGHT].to_numpy())
    final_weighting = InversePropensityWeighting(settings.ipw_max_weight, random_state=settings.seed).fit(population)
    final_weights_on = final_weighting.weights(rows)
    selection = selection_table(population, final_weighting.propensity_.predict_proba(population))

    ipw_decision = None
    if settings.ipw == "auto" and truth_months is not None:
        step("deciding inverse-propensity weighting on the hidden truth (fold start months)")
        ipw_decision = decide_ipw(rows, splits, folds, data.features_by_month, weights_on, truth_months, settings)
        on, off = ipw_decision["ipw_on"].mean(), ipw_decision["ipw_off"].mean()
        ipw = "on" if on > off else "off"
        ipw_reason = (f"auto, decided on the hidden truth over {len(ipw_decision)} months of the validation windows: "
                      f"precision@k {on:.3f} with weights, {off:.3f} without")
    elif settings.ipw == "auto":
        ipw, ipw_reason = "off", "auto without a truth folder: off"
    else:
        ipw, ipw_reason = settings.ipw, f"set to {settings.ipw} in the configuration"
    fold_weights = weights_on if ipw == "on" else {fold: None for fold, _, _ in splits}
    propensity_sampled = ipw == "on" and sampled(population)  # the models depend on propensity_rows
    final_weights = final_weights_on if ipw == "on" else None

    name = study_to_run(storage, study_name(rows, folds, settings, ipw, data.labelled.months, propensity_sampled),
                        resume)
    step(f"tuning LightGBM: study {name}, {trials} trials" + (" (resumed)" if resume else ""))
    # Every fold but the latest chooses the parameters: the latest stays held out, so that the promotion metric and the
    # baselines' values on it measure a choice it played no part in (tuned on it, the best of N trials looked better
    # there than it is, beside baselines that are not tuned).
    study, resumed = tune(fold_data(rows, splits[:-1], fold_weights), settings, trials, storage, name, on_trial)
    params = best_params(study)
    trial_log = trials_table(study, len(splits) - 1)

    step("evaluating every model on the folds")

    def make_models() -> dict[str, BaseEstimator]:
        return comparison_models(params, settings.logistic_c, settings.threads, settings.seed)

    oof = add_probabilities(cross_validate(rows, splits, make_models, fold_weights), settings.calibration)
    table = comparison(oof, settings.shares, settings.bootstrap_resamples, settings.seed)
    truth_folds = None
    if truth_months is not None:
        step("every model against the hidden truth over the validation windows")
        truth_folds = truth_over_folds(rows, splits, folds, data.features_by_month, truth_months, make_models,
                                       fold_weights, settings.shares)

    step("fitting the final models on every labelled row")
    y = rows[LABEL].to_numpy()
    final_models = make_models()
    calibrators = {}
    for model_name, model in final_models.items():
        model.fit(rows, y, sample_weight=final_weights if model_name in WEIGHTED else None)
        calibrators[model_name] = ScoreCalibrator(settings.calibration).fit(oof[f"score_{model_name}"], oof[LABEL])
    booster_model: LightGBMModel = final_models["lightgbm"]

    overall = table[(table["fold"] == "all") & (table["model"] == "lightgbm")]
    at_k = overall[np.isclose(overall["share"], settings.capacity_share)].iloc[0]
    latest = table[(table["fold"] == str(last_fold)) & (table["model"] == "lightgbm")
                   & np.isclose(table["share"], settings.capacity_share)].iloc[0]
    metrics = {
        "precision_at_k": float(at_k["precision"]), "recall_at_k": float(at_k["recall"]),
        "average_precision": float(at_k["average_precision"]), "roc_auc": float(at_k["roc_auc"]),
        "brier": float(at_k["brier"]), "lift": float(at_k["lift"]),
        "latest_fold_precision_at_k": float(latest["precision"]),
    }
    latest_rows = rows.iloc[splits[-1][2]].reset_index(drop=True)
    latest_fold = latest_rows.assign(
        fold=last_fold, challenger_score=oof.loc[oof["fold"] == last_fold, "score_lightgbm"].to_numpy()
    )
    step("the promotion metric on the latest fold, with its interval and every baseline")
    on_latest = latest_fold_values(latest_fold, oof, settings)
    gbm = on_latest.set_index("model").loc["lightgbm"]
    metrics.update(latest_fold_objective=float(gbm["value"]), latest_fold_objective_low=float(gbm["low"]),
                   latest_fold_objective_high=float(gbm["high"]))
    baselines = {r.model: float(r.value) for r in on_latest.itertuples(index=False) if r.model != "lightgbm"}
    fingerprint = data_fingerprint(rows)
    scoring_model = ScoringModel(
        booster=booster_model.booster_, calibrator=calibrators["lightgbm"], features=model_features(),
        categories=booster_model.categories_, schema_version=FEATURES_SCHEMA_VERSION,
        data_months=data.labelled.months, metrics=metrics, params=params,
        capacity_share=settings.capacity_share, ipw=ipw, features_settings=data.features_settings,
    )
    final = final_weights if final_weights is not None else np.ones(len(rows))
    return TrainingResult(
        labelled=data.labelled, folds=folds, ipw=ipw, ipw_reason=ipw_reason, ipw_decision=ipw_decision,
        months_choice=data.months_choice, fold_choice=choice.reason, study_name=name, trials=trial_log, trials_resumed=resumed,
        trials_this_run=trials,
        params=params, oof=oof, comparison=table,
        final_models=final_models, calibrators=calibrators, scoring_model=scoring_model,
        importance=feature_importance(booster_model, rows), selection=selection, propensity_auc=propensity_auc,
        weights_summary={"min": float(np.min(final)), "median": float(np.median(final)), "max": float(np.max(final))},
        latest_fold=latest_fold, latest_fold_key=fold_key(latest_fold, data.outcome_after_days), latest_fold_values=on_latest,
        simpler_model_verdict=simpler_model_verdict(
            baselines, Interval(float(gbm["value"]), float(gbm["low"]), float(gbm["high"]))),
        data_fingerprint=fingerprint,
        model_fingerprint=model_fingerprint(fingerprint, folds, params, ipw, settings, propensity_sampled),
        settings=settings,
        truth_over_folds=truth_folds,
    )


def score_against_truth(
    scorers: dict[str, Callable[[pd.DataFrame], np.ndarray]],
    table: pd.DataFrame,
    truth_months: pd.DataFrame,
    month: date,
    settings: TrainingConfig,
) -> tuple[pd.DataFrame, int]:
    """Every model's precision@k over all establishments of `table` (features as of `month`) against who
    was abusing that month, with the oracle; and the number of rows without a truth row."""
    aligned, missing = align_truth(table, truth_at(truth_months, pd.Timestamp(month)))
    scores = {name: np.asarray(score(aligned), dtype=float) for name, score in scorers.items()}
    return truth_comparison(aligned, scores, settings.shares, settings.bootstrap_resamples, settings.seed), missing
