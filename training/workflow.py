"""What the commands do, as functions of the home and the settings: train, evaluate, promote, list models.

These gather inputs (files, warehouse, MLflow), call the stage's logic and return what the command
prints; progress is reported through callbacks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from core.config import Config
from core.home import Home
from core.training_config import TrainingConfig
from features.build import ScoringRefusal, refuse_other_settings, scoring_refusal
from features.store import declared_months, feature_tables
from training.pipeline import TrainingData, TrainingResult, fit_and_evaluate, load_training_data, score_against_truth
from training.promotion import (
    PromotionDecision,
    comparable_fold_key,
    gate_value,
    promotion_decision,
    promotion_metric,
    promotion_settings,
    too_few_to_compare,
    unseen_by,
)
from training.registry import (
    CHALLENGER,
    CHAMPION,
    COMPARISON_MODELS,
    LATEST_FOLD,
    TRUTH_OVER_FOLDS,
    TrainingRecord,
    aliases_of,
    connect,
    current_version,
    download,
    experiment_id,
    load_scoring_model,
    log_training,
    optuna_storage,
    resolve_version,
    versions_table,
)
from training.saved_model import SavedModel
from training.splitter import FoldChoice
from training.tuning import TrialReport
from warehouse.dsn.parser import Issue
from warehouse.inspections import (
    InspectionImport,
    file_controls,
    import_inspections,
    load_inspections,
    read_valid_inspections,
    stored_conflicts,
)

log = logging.getLogger("champollion.training")


def settings_with(config: Config, **overrides: Any) -> TrainingConfig:
    """The training settings with command-line overrides (None values ignored), validated again."""
    base = config.training
    changes = {k: v for k, v in overrides.items() if v is not None}
    return TrainingConfig.model_validate({**base.model_dump(), **changes}) if changes else base


@dataclass(frozen=True)
class InspectionSource:
    """Inspections to learn from, where they came from, and the rows left out of the file."""

    rows: pd.DataFrame
    issues: list[Issue]
    label: str
    sha256: str
    imported: InspectionImport | None = None  # what importing the file given did to the stored history


def inspection_source(home: Home, path: Path | None) -> InspectionSource:
    """The inspections stored in the warehouse; a CSV file given is first imported into it (checked
    row by row, exactly as `import-inspections`), so that scoring, exclusions and the audit see the
    inspections training saw. The issues: the file's, or those of the warehouse's controls imported and recorded in
    the web application with other outcomes (`stored_conflicts`: the imported one is the label)."""
    if path is not None:
        loaded = import_inspections(path, home)
        stored = load_inspections(home.warehouse)
        return InspectionSource(stored, loaded.issues, str(path), hashlib.sha256(path.read_bytes()).hexdigest(), loaded)
    stored = load_inspections(home.warehouse)
    if stored is None:
        raise FileNotFoundError("no inspections: pass --inspections FILE.csv or run `champollion import-inspections` first")
    return InspectionSource(stored, stored_conflicts(home.warehouse), str(home.warehouse / "inspections.parquet"),
                            rows_sha256(stored))


def rows_sha256(rows: pd.DataFrame) -> str:
    """SHA-256 of a table's values, row by row (not of a file: the same rows give the same digest, wherever kept)."""
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()


def truth_file(folder: Path) -> Path:
    """`establishment_months.parquet` of a simulated population's truth folder (or of its parent)."""
    for candidate in (folder / "establishment_months.parquet", folder / "truth" / "establishment_months.parquet"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder}: no establishment_months.parquet (expected a simulated population's truth/ folder)")


def read_truth(folder: Path) -> pd.DataFrame:
    """The hidden truth of a simulated population, each establishment month (`truth_file`)."""
    frame = pq.read_table(truth_file(folder)).to_pandas(date_as_object=False)
    frame["siret"] = frame["siret"].astype(str)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


@dataclass(frozen=True)
class TrainOutcome:
    """A finished training: the results, where MLflow keeps them, and how long it took."""

    result: TrainingResult
    record: TrainingRecord
    source: InspectionSource
    seconds: float


def train(
    home: Home,
    config: Config,
    source: InspectionSource,
    trials: int | None = None,
    truth: Path | None = None,
    ipw: str | None = None,
    on_month: Callable[[date, str], None] | None = None,
    on_folds: Callable[[FoldChoice, TrainingData], None] | None = None,
    on_trial: Callable[[TrialReport], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    resume: bool = False,
) -> TrainOutcome:
    """Labels from the inspections (see `inspection_source`), folds fitted to the history, tuning (`trials`
    trials in a new study, or with `resume` in the last study of the same data and settings), comparison,
    final model, MLflow run and registration (unless a registered version is the same model).

    `on_folds(fold_choice, training_data)` is called before tuning so the folds can be shown early.
    """
    started = time.perf_counter()
    settings = settings_with(config, trials=trials, ipw=ipw)
    if source.rows.empty:
        raise ValueError(f"{source.label}: no valid inspection rows")
    experiment_id(connect(home, settings), home, settings)  # a copied home is refused before the work, not after
    truth_months = read_truth(truth) if truth is not None else None
    data = load_training_data(home, config, source.rows, on_month)
    result = fit_and_evaluate(data, settings, settings.trials, optuna_storage(home), truth_months, on_trial, on_step,
                              resume, (lambda choice: on_folds(choice, data)) if on_folds else None)
    if on_step:
        on_step("logging the run and registering the model in MLflow")
    record = log_training(result, home, settings, {"inspections": source.label, "inspections_sha256": source.sha256})
    return TrainOutcome(result, record, source, time.perf_counter() - started)


@dataclass(frozen=True)
class EvaluationOutcome:
    """The models of one registered version against a simulated population's truth."""

    month: date
    version: str
    run_id: str
    table: pd.DataFrame  # truth comparison (see training.truth.truth_comparison)
    without_truth: int
    labelled: pd.DataFrame  # model, share, labelled precision (out-of-fold, from the run)
    truth_over_folds: pd.DataFrame | None
    settings: TrainingConfig


def known_inspections(home: Home, inspections: Path | None) -> pd.DataFrame | None:
    """The inspections the features of an evaluation know: those of the file `inspections`, one row per control
    (`file_controls`; its problems logged, ValueError when no row is valid), else those stored (None: none)."""
    if inspections is None:
        return load_inspections(home.warehouse)
    given = read_valid_inspections(inspections)
    for issue in given.issues:
        log.warning("%s:%s: %s", issue.file, issue.line, issue.reason)
    return file_controls(given)


def truth_provenance(truth: Path, inspections: Path | None, known: pd.DataFrame | None, establishments: int) -> dict[str, Any]:
    """What an evaluation against the truth was measured on: the truth file and its SHA-256, the inspections its
    features counted (the file given, or the stored history, with the digest of their rows; none) and the number of
    establishments scored. No row of either is copied."""
    found = truth_file(truth)
    if known is None:  # the month's stored feature table was read as it was, with whatever inspections it counted
        counted = "none given or stored: the stored feature tables as they were"
    else:
        given = inspections if inspections is not None else "stored history"
        counted = f"{given} ({len(known)} controls, rows {rows_sha256(known)})"
    with found.open("rb") as data:
        digest = hashlib.file_digest(data, "sha256").hexdigest()
    return {"truth": str(found), "truth_sha256": digest, "inspections": counted, "establishments": establishments}


def evaluate(home: Home, config: Config, truth: Path, month: date | None = None, model: str = CHALLENGER,
             inspections: Path | None = None) -> EvaluationOutcome:
    """Score every establishment of the month's feature table with the version's LightGBM and the
    baselines fitted alongside it, against the hidden truth of that month, with the oracle."""
    import joblib

    settings = config.training
    known = known_inspections(home, inspections)  # first: a bad file stops the run before the registry is read
    truth_months = read_truth(truth)
    client = connect(home, settings)
    version = resolve_version(client, settings.registered_model, model)
    scoring_model = load_scoring_model(settings.registered_model, version.version)
    refuse_other_settings(scoring_model, str(version.version), config)  # else its figures would be another model's
    baselines = joblib.load(download(version.run_id, COMPARISON_MODELS))
    months = declared_months(home.warehouse)
    if month is None:
        if not months:
            raise FileNotFoundError(f"{home.warehouse}: no declarations in the warehouse")
        month = months[-1]
    if known is None:
        log.warning("no inspections given or imported: stored feature tables are used as they are")
    tables = feature_tables(home, config, [month], known)
    if month not in tables:
        raise FileNotFoundError(f"month {month:%Y-%m} is not in the warehouse")
    scorers = {name: m.decision_function for name, m in baselines.items()}
    scorers["lightgbm"] = scoring_model.raw_scores
    table, missing = score_against_truth(scorers, tables[month], truth_months, month, settings)

    run = client.get_run(version.run_id)
    records = []
    for name in [*baselines, "lightgbm"]:
        for share in settings.shares:
            key = f"{name}/precision_at_{share * 100:g}pct"
            records.append({"model": name, "share": share, "precision": run.data.metrics.get(key, float("nan"))})
    over_folds = None
    try:
        over_folds = pd.read_csv(download(version.run_id, TRUTH_OVER_FOLDS))
    except Exception:
        over_folds = None
    for row in table.itertuples(index=False):
        client.log_metric(version.run_id, f"truth_{month:%Y_%m}/{row.model}/precision_at_{row.share * 100:g}pct",
                          float(row.precision))
    # What those values were measured on: another truth, or other inspections in the features, give others.
    client.set_tag(version.run_id, f"truth_{month:%Y_%m}/measured_on", json.dumps(
        truth_provenance(truth, inspections, known, len(tables[month])), sort_keys=True))
    return EvaluationOutcome(month, str(version.version), version.run_id, table, missing, pd.DataFrame(records),
                             over_folds, settings)


@dataclass(frozen=True)
class PromotionOutcome:
    """What `promote` decided, on which versions, and how the champion was measured."""

    decision: PromotionDecision
    candidate: str  # the version put forward
    candidate_aliases: list[str]  # the aliases it held before
    challenger: str | None  # the version holding the alias challenger (it does not move)
    champion_before: str | None
    champion_after: str | None
    rows_compared: int | None  # inspections both values were measured on (None: no comparison)
    metric: str  # the promotion metric, in words
    note: str


def promote(home: Home, config: Config, reference: str = CHALLENGER, force: bool = False) -> PromotionOutcome:
    """Move the alias champion to the version `reference` (alias or number) if it does at least as well as
    the champion on its latest validation fold, on inspections neither was trained on (see
    training.promotion), or if forced. Only the alias champion moves: challenger stays where it is."""
    settings = config.training
    name = settings.registered_model
    client = connect(home, settings)
    candidate = resolve_version(client, name, reference)
    champion = current_version(client, name, CHAMPION)
    holder = current_version(client, name, CHALLENGER)
    challenger = str(holder.version) if holder is not None else None
    held = aliases_of(client, name, str(candidate.version))
    metric = promotion_metric(settings)
    if champion is not None and str(champion.version) == str(candidate.version):
        decision = PromotionDecision(False, f"version {candidate.version} is already champion")
        return PromotionOutcome(decision, str(candidate.version), held, challenger, str(champion.version),
                                str(champion.version), None, metric, "")
    from mlflow.exceptions import MlflowException

    try:
        fold = pd.read_parquet(download(candidate.run_id, LATEST_FOLD))
    except (MlflowException, OSError) as exc:  # its run's artifacts gone: nothing to measure it on
        raise ValueError(f"version {candidate.version} cannot be made champion: its latest fold cannot be read "
                         f"({type(exc).__name__}: {exc})") from exc
    challenger_value = gate_value(fold, fold["challenger_score"].to_numpy(), settings)
    champion_value, note = None, ""
    rows: int | None = len(fold)
    # What `score` would say of each (`loaded_for_scoring`). A champion whose model no longer loads gives no list
    # either; a candidate that does not load is never made champion, even forced.
    loaded, cannot_score = loaded_for_scoring(name, str(candidate.version), config)
    if loaded is None:
        raise ValueError(f"version {candidate.version} cannot be made champion: its model {cannot_score}")
    incumbent, unusable = loaded_for_scoring(name, str(champion.version), config) if champion is not None else (None, None)
    # Measured only when both can score: otherwise the decision does not read the values (and a champion whose
    # artifacts are gone has no latest fold to read either).
    if champion is not None and not cannot_score and not unusable:
        same_fold = comparable_fold_key((champion.tags or {}).get("latest_fold"))
        if same_fold and same_fold == comparable_fold_key((candidate.tags or {}).get("latest_fold")):
            # Both from their out-of-fold scores on these rows, as the candidate's value is: the recorded tag is
            # rounded, and a tie (common on a few hundred inspections) must stay one.
            note = (f"same latest fold as champion v{champion.version} ({len(fold)} inspections): both measured "
                    "out-of-fold on the same rows")
            if thin := too_few_to_compare(fold, settings.min_promotion_rows):
                rows, note = None, f"{note}, but the {len(fold)} inspections {thin}: the two are not compared"
            else:
                own = pd.read_parquet(download(champion.run_id, LATEST_FOLD))
                champion_value = gate_value(own, own["challenger_score"].to_numpy(), settings)
        elif incumbent is not None:
            unseen = unseen_by(fold, incumbent.data_months)
            thin = too_few_to_compare(unseen, settings.min_promotion_rows) if not unseen.empty else ""
            if thin:
                rows, note = None, (f"champion v{champion.version} is not compared with v{candidate.version}: the "
                                    f"{len(unseen)} inspections of v{candidate.version}'s latest fold later than its data "
                                    f"{thin}")
            else:
                try:
                    if unseen.empty:
                        raise ValueError("none of the latest fold's inspections is later than its data")
                    champion_value = gate_value(unseen, incumbent.raw_scores(unseen), settings)
                    challenger_value = gate_value(unseen, unseen["challenger_score"].to_numpy(), settings)
                    rows = len(unseen)
                    note = (f"champion v{champion.version} re-scored on the {len(unseen)} inspections of "
                            f"v{candidate.version}'s latest fold it was not trained on (of {len(fold)}); "
                            f"v{candidate.version} by its out-of-fold scores")
                except (ValueError, KeyError) as exc:
                    # Its recorded value is of another fold, other inspections: no comparison (the fold of the version
                    # trained on later data is harder or easier, not the model better).
                    champion_value, rows = None, None
                    note = (f"champion v{champion.version} cannot be measured on v{candidate.version}'s latest fold "
                            f"({exc}); their recorded values are of other folds, other inspections, and are not compared")
    if cannot_score:
        # Champion, it would give no list: `score` refuses it until the settings are put back or a model retrained.
        why = f"v{candidate.version} {cannot_score}: `champollion score` would refuse it"
        kept = "champion kept" if champion is not None else "not made champion"
        decision = PromotionDecision(force, f"{why}: forced" if force else f"{why}: {kept} (train a model with this "
                                     "code and these settings, or use --force)", challenger_value, champion_value)
    elif champion is not None and unusable:
        # `score` refuses the champion, or cannot load it: kept, it would give no list; the candidate can score.
        decision = PromotionDecision(True, f"champion v{champion.version} {unusable}: `champollion score` refuses it, "
                                           f"v{candidate.version} can score", challenger_value, champion_value)
    elif champion is not None and champion_value is None:
        verdict = "forced" if force else "champion kept (use --force to override)"
        decision = PromotionDecision(force, f"no comparable value for champion v{champion.version}: {verdict}",
                                     challenger_value, None)
    else:
        decision = promotion_decision(challenger_value, champion_value, force, settings.objective)
    after = str(champion.version) if champion is not None else None
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, candidate.version)
        client.set_model_version_tag(name, candidate.version, "promotion", decision.reason)
        after = str(candidate.version)
    return PromotionOutcome(decision, str(candidate.version), held, challenger,
                            str(champion.version) if champion else None, after, rows if champion else None, metric, note)


def loaded_for_scoring(name: str, version: str, config: Config) -> tuple[SavedModel | None, ScoringRefusal | None]:
    """The saved model of `version` and why `champollion score` would refuse it with this code and `config`
    (`features.build.scoring_refusal`; None when it scores it); None and why, when the model cannot be loaded: its
    artifacts gone or unreadable (the registry's error, a missing file, a pickle cut short or written by code that
    no longer has its classes). Other failures (memory) are raised: they say nothing of the model."""
    from mlflow.exceptions import MlflowException

    try:
        model = load_scoring_model(name, version)
    except (MlflowException, OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        return None, ScoringRefusal(unloadable=f"{type(exc).__name__}: {exc}")
    return model, scoring_refusal(model, config)


def list_models(home: Home, config: Config) -> pd.DataFrame:
    """The registered versions with aliases, data months and key metrics, and why `score` would refuse each with
    this code and `config` (`refusal`: a `ScoringRefusal` or None; `refused`: it in words, '' when it scores)."""
    settings = config.training
    frame = versions_table(connect(home, settings), settings.registered_model)
    refusals = [loaded_for_scoring(settings.registered_model, str(v), config)[1] for v in frame.get("version", [])]
    frame["refused"] = [str(refusal) if refusal else "" for refusal in refusals]
    frame["refusal"] = refusals
    # Values measured with another objective, capacity or shares than the configuration's (versions registered before
    # the settings were kept as a tag: not known, not flagged).
    frame["other_metric"] = [bool(kept) and kept != promotion_settings(settings) for kept in frame.get("promotion_settings", [])]
    return frame
