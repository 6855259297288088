"""MLflow: the tracking store, the training run, the model registry and its aliases.

Tracking goes to `sqlite:///<home>/mlruns/mlflow.db` with artifacts under `<home>/mlruns/artifacts`
unless `training.tracking_uri` names another store (MLflow 3 no longer accepts a plain `./mlruns`
file store by default). Browse it with

    mlflow ui --backend-store-uri sqlite:///<home>/mlruns/mlflow.db

Each new version gets the alias `challenger`; the first one also `champion`; `promote` moves
`champion`. A training whose model is the same as a registered version's (same `model_fingerprint`: same
data, folds, parameters and settings) is logged as a run but not registered again. Scoring loads
`models:/champollion-precarite@champion` (see training.scoring_model).
"""

from __future__ import annotations

import fcntl
import json
import logging
import platform
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.csv_files import write_frame_csv
from core.home import REPOSITORY_ROOT, Home
from core.training_config import TrainingConfig
from training.pipeline import TrainingResult
from training.promotion import promotion_metric, promotion_settings
from training.saved_model import SavedModel

log = logging.getLogger("champollion.training")

CHAMPION, CHALLENGER = "champion", "challenger"
LIBRARIES = ("lightgbm", "scikit-learn", "optuna", "mlflow", "pandas", "numpy", "pyarrow", "duckdb", "shap")
LATEST_FOLD = "evaluation/latest_fold.parquet"
COMPARISON_MODELS = "comparison_models/models.joblib"
TRUTH_OVER_FOLDS = "report/truth_over_folds.csv"


def tracking_uri(home: Home, settings: TrainingConfig) -> str:
    """The configured tracking URI, else the SQLite store under the home's mlruns/."""
    if settings.tracking_uri:
        return settings.tracking_uri
    return f"sqlite:///{home.mlruns / 'mlflow.db'}"


def optuna_storage(home: Home) -> str:
    """Where Optuna studies are kept (resumable): `mlruns/optuna.db` under the home."""
    home.mlruns.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home.mlruns / 'optuna.db'}"


def connect(home: Home, settings: TrainingConfig):
    """An MlflowClient on the tracking and registry store (also set as mlflow's default)."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(home, settings)
    if uri.startswith("sqlite:///") and not settings.tracking_uri:
        home.mlruns.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: Any, home: Home, settings: TrainingConfig) -> str:
    """The experiment's id, created (with artifacts under mlruns/artifacts for the default store) if needed.

    The default store records where the experiment's artifacts go as an absolute path: a home copied or moved keeps
    the path of the home it came from, and its runs would write into that one; refused, with the way out."""
    location = None if settings.tracking_uri else (home.mlruns / "artifacts").resolve().as_uri()
    found = client.get_experiment_by_name(settings.experiment)
    if found is None:
        return client.create_experiment(settings.experiment, artifact_location=location)
    if location is not None and found.artifact_location.rstrip("/") != location.rstrip("/"):
        raise ValueError(
            f"{home.mlruns / 'mlflow.db'}: experiment {settings.experiment!r} keeps its artifacts in "
            f"{found.artifact_location}, not in this home's {location}: the home was copied or moved from another, "
            "and its runs would write there. Train in the home it came from, or set `training.experiment` to a new "
            "name in this home's configuration (its runs and models then go under this home)")
    return found.experiment_id


def git_commit() -> tuple[str, bool]:
    """(commit hash, whether tracked files differ from it) of the repository, ('unknown', False) outside git."""
    try:
        commit = subprocess.run(["git", "-C", str(REPOSITORY_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPOSITORY_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return commit, bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _pct(share: float) -> str:
    return f"{share * 100:g}pct"


def run_metrics(result: TrainingResult) -> dict[str, float]:
    """Metrics per model, per fold and overall, named `<model>/<metric>[/fold_<k>]`."""
    out: dict[str, float] = {}
    for row in result.comparison.itertuples(index=False):
        suffix = "" if row.fold == "all" else f"/fold_{row.fold}"
        pct = _pct(row.share)
        values = {f"precision_at_{pct}": row.precision, f"recall_at_{pct}": row.recall, f"lift_at_{pct}": row.lift,
                  "average_precision": row.average_precision, "roc_auc": row.roc_auc, "brier": row.brier}
        for name, value in values.items():
            if value is not None and np.isfinite(value):
                out[f"{row.model}/{name}{suffix}"] = float(value)
    out["propensity/roc_auc_last_window"] = float(result.propensity_auc)
    if result.truth_over_folds is not None:
        mean = result.truth_over_folds.groupby(["model", "share"])["precision"].mean()
        for (model, share), value in mean.items():
            out[f"truth_over_folds/{model}/precision_at_{_pct(share)}"] = float(value)
    return out


def _signature_sample(rows: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """A sample of the labelled rows' features for the model signature, in the feature table's own types
    except nullable integers, which become float64 (MLflow cannot enforce a nullable integer)."""
    sample = rows[features].head(50).copy()
    for column in features:
        if isinstance(sample[column].dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(sample[column]):
            sample[column] = sample[column].astype("float64")
    return sample


@dataclass(frozen=True)
class TrainingRecord:
    """Where a training went in MLflow: the run, and the version registered (None when `same_as`, a
    registered version with the same model, made a new one pointless)."""

    run_id: str
    experiment_id: str
    version: str | None
    aliases: list[str]
    tracking_uri: str
    run_name: str
    same_as: str | None = None
    same_as_aliases: tuple[str, ...] = ()


def run_name(version: str | None, same_as: str | None, months: list[str], trials: int, resumed: int) -> str:
    """A run's name: the version it registered (or the one it repeats), its data months and its trials."""
    who = f"v{version}" if version is not None else f"same model as v{same_as} (not registered)"
    more = f" (+{resumed} resumed)" if resumed else ""
    return f"{who} · data {months[0]}..{months[-1]} · {trials} trials{more}"


def version_with_fingerprint(client: Any, name: str, fingerprint: str) -> Any | None:
    """The registered version whose model has this fingerprint, or None."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    return next((mv for mv in found if (mv.tags or {}).get("model_fingerprint") == fingerprint), None)


def aliases_of(client: Any, name: str, version: str) -> list[str]:
    """The aliases a version holds, sorted."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases or {}
    except MlflowException:
        return []
    return sorted(alias for alias, held in aliases.items() if str(held) == str(version))


@contextmanager
def registry_lock(home: Home) -> Iterator[None]:
    """Held while a training looks for its model among the registered versions and registers it: two trainings at
    once of the same model register it once (the second one waits, then finds it)."""
    home.mlruns.mkdir(parents=True, exist_ok=True)
    with open(home.mlruns / "registry.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another training is registering its model in %s: waiting for it", home.mlruns)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file


def log_training(result: TrainingResult, home: Home, settings: TrainingConfig, context: dict[str, str]) -> TrainingRecord:
    """Log the run (parameters, metrics, artifacts, model) and register the model as a new version with
    the alias `challenger` (and `champion` if there is none yet), unless a registered version holds the same
    model (same `model_fingerprint`): then the run is logged without a model and nothing is registered.

    The version is created with its tags in one transaction (a training killed meanwhile leaves none, or a whole
    one that the next training of the same model finds), under `registry_lock`."""
    with registry_lock(home):
        return _log_training(result, home, settings, context)


def _log_training(result: TrainingResult, home: Home, settings: TrainingConfig, context: dict[str, str]) -> TrainingRecord:
    import joblib
    import mlflow
    from mlflow.models import infer_signature

    from training.report_files import (
        model_card,
        plot_calibration,
        plot_importance,
        plot_precision_curve,
        precision_curve,
    )

    client = connect(home, settings)
    commit, dirty = git_commit()
    context = {**context, "git_commit": commit + (" (modified)" if dirty else "")}
    versions = library_versions()
    model = result.scoring_model
    months = result.labelled.months
    name = settings.registered_model
    same = version_with_fingerprint(client, name, result.model_fingerprint)
    same_as = str(same.version) if same is not None else None
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(
        experiment_id=experiment_id(client, home, settings),
        run_name=run_name(None, same_as, months, result.trials_this_run, result.trials_resumed) if same_as else None,
    ) as run:
        out = Path(tmp)
        mlflow.set_tags({
            "git_commit": commit, "git_dirty": str(dirty), "feature_schema_version": str(model.schema_version),
            "data_months": f"{months[0]}..{months[-1]}", "ipw": result.ipw,
            "data_fingerprint": result.data_fingerprint, "model_fingerprint": result.model_fingerprint,
            **({"same_model_as_version": same_as} if same_as else {}),
            **{f"version.{k}": v for k, v in versions.items()},
        })
        params = {
            **{f"training.{k}": v for k, v in settings.model_dump().items()},
            **{f"lightgbm.{k}": v for k, v in result.params.items()},
            **{f"features.{k}": str(v)[:500] for k, v in (model.features_settings or {}).items()},
            "ipw_resolved": result.ipw, "ipw_reason": result.ipw_reason[:500], "optuna_study": result.study_name,
            "optuna_trials_in_study": len(result.trials), "optuna_trials_this_run": result.trials_this_run,
            "optuna_trials_resumed": result.trials_resumed, "labelled_rows": len(result.labelled.rows),
            "folds_chosen": len(result.folds), "folds_tuned_on": len(result.folds) - 1,
            "fold_choice": result.fold_choice[:500],
            "months_choice": result.months_choice[:500],
            "data_fingerprint": result.data_fingerprint,
            "labelled_positives": int(result.labelled.rows["abuse_found"].sum()),
            "left_out_inspections": len(result.labelled.left_out), "first_month": months[0], "last_month": months[-1],
            "n_months": len(months), "feature_schema_version": model.schema_version, "n_features": len(model.features),
            "inspections_source": context.get("inspections", "warehouse"),
            "inspections_sha256": context.get("inspections_sha256", ""),
        }
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        mlflow.log_metrics(run_metrics(result))
        for fold in result.folds.itertuples(index=False):
            mlflow.log_metrics({"folds/n_train": fold.n_train, "folds/n_valid": fold.n_valid,
                                "folds/positives": fold.positives}, step=int(fold.fold))

        report = out / "report"
        report.mkdir()
        (out / "features.json").write_text(json.dumps({"schema_version": model.schema_version, "features": model.features,
                                                       "data_months": months}, indent=2), encoding="utf-8")
        curve = precision_curve(result.oof)
        write_frame_csv(curve, report / "precision_at_k_curve.csv")
        plot_precision_curve(curve, settings.capacity_share, report / "precision_at_k_curve.png")
        plot_calibration(result.oof, report / "calibration.png")
        write_frame_csv(result.importance, report / "feature_importance.csv")
        plot_importance(result.importance, report / "feature_importance.png")
        write_frame_csv(result.comparison, report / "comparison.csv")
        write_frame_csv(result.folds, report / "folds.csv")
        write_frame_csv(result.trials, report / "optuna_trials.csv")
        write_frame_csv(result.labelled.left_out, report / "left_out_inspections.csv")
        write_frame_csv(result.selection, report / "selection_bias.csv")
        if result.ipw_decision is not None:
            write_frame_csv(result.ipw_decision, report / "ipw_decision.csv")
        if result.truth_over_folds is not None:
            write_frame_csv(result.truth_over_folds, report / "truth_over_folds.csv")
        (report / "model_card.md").write_text(model_card(result, context), encoding="utf-8")
        mlflow.log_artifacts(str(report), "report")
        mlflow.log_artifact(str(out / "features.json"))

        evaluation = out / "evaluation"
        evaluation.mkdir()
        result.latest_fold.to_parquet(evaluation / "latest_fold.parquet", index=False)
        result.oof.to_parquet(evaluation / "out_of_fold.parquet", index=False)
        mlflow.log_artifacts(str(evaluation), "evaluation")

        baselines = {name: m for name, m in result.final_models.items() if name != "lightgbm"}
        (out / "comparison_models").mkdir()
        joblib.dump(baselines, out / "comparison_models" / "models.joblib")
        mlflow.log_artifacts(str(out / "comparison_models"), "comparison_models")
        (out / "booster").mkdir()
        model.booster.save_model(str(out / "booster" / "booster.txt"))
        mlflow.log_artifacts(str(out / "booster"), "booster")

        sample = _signature_sample(result.labelled.rows, model.features)
        with warnings.catch_warnings():  # MLflow's hint about integer columns: nullable ones are floats already
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
            signature = infer_signature(sample, model.predict(None, sample))
        requirements = [f"{name}=={versions[name]}" for name in ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")
                        if versions.get(name, "absent") != "absent"]
        run_id = run.info.run_id
        if same_as is not None:  # the registered version's run holds this very model
            return TrainingRecord(run_id, run.info.experiment_id, None, [], tracking_uri(home, settings),
                                  run_name(None, same_as, months, result.trials_this_run, result.trials_resumed),
                                  same_as, tuple(aliases_of(client, name, same_as)))
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, signature=signature, input_example=sample.head(3),
            pip_requirements=requirements,
        )
        latest = result.latest_fold_values.set_index("model")
        tags = {
            "run_id": run_id, "data_months": f"{months[0]}..{months[-1]}", "feature_schema_version": str(model.schema_version),
            "labelled_rows": str(len(result.labelled.rows)), "ipw": result.ipw, "git_commit": commit,
            "latest_fold": result.latest_fold_key, "objective": settings.objective,
            # What its values measure, whatever the settings later: in words, and the settings that decide it.
            "promotion_metric": promotion_metric(settings), "promotion_settings": promotion_settings(settings),
            "model_fingerprint": result.model_fingerprint, "data_fingerprint": result.data_fingerprint,
            "trials": str(result.trials_this_run),
            "trials_in_study": str(int(result.trials["state"].isin(["complete", "pruned"]).sum())),  # finished ones
            "optuna_study": result.study_name,
            "simpler_model_verdict": result.simpler_model_verdict,
            # Six decimals: shown with three, a value kept with four was rounded twice (0.19049, 0.1905, 0.191).
            **{f"metric.{k}": f"{v:.6f}" for k, v in model.metrics.items()},
            **{f"latest_fold.{m}": f"{row.value:.6f}" for m, row in latest.iterrows() if m != "lightgbm"},
        }
        version = str(mlflow.register_model(info.model_uri, name, tags=tags).version)
        named = run_name(version, None, months, result.trials_this_run, result.trials_resumed)
        mlflow.set_tag("mlflow.runName", named)

    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    if current_version(client, name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promotion", "first model: champion")
        aliases.append(CHAMPION)
    return TrainingRecord(run_id, run.info.experiment_id, version, aliases, tracking_uri(home, settings), named)


def current_version(client: Any, name: str, alias: str) -> Any | None:
    """The model version holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


MAX_VERSION = 2**31 - 1  # versions are the registry database's integers (32 bits in PostgreSQL and MySQL)


def is_version_number(reference: str) -> bool:
    """Whether a model reference is a version number (ASCII digits: '١' is an alias that no version holds)."""
    return reference.isascii() and reference.isdecimal()


def resolve_version(client: Any, name: str, reference: str) -> Any:
    """A model version from an alias (champion, challenger) or a version number."""
    from mlflow.exceptions import MlflowException

    reference = str(reference)
    if is_version_number(reference):
        if int(reference) > MAX_VERSION:  # the registry's integer: a larger number is no version, not an error
            raise LookupError(f"version {reference} of {name} is not in the registry")
        try:
            return client.get_model_version(name, reference)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise LookupError(f"version {reference} of {name} is not in the registry") from exc
    found = current_version(client, name, reference)
    if found is None:
        raise LookupError(f"no version of {name} has the alias {reference!r}")
    return found


def load_scoring_model(name: str, reference: str) -> SavedModel:
    """The saved model of a version (alias or number), as scoring loads it."""
    import mlflow.pyfunc

    reference = str(reference)
    uri = f"models:/{name}/{reference}" if is_version_number(reference) else f"models:/{name}@{reference}"
    return mlflow.pyfunc.load_model(uri).unwrap_python_model()


def download(run_id: str, path: str) -> Path:
    """A run artifact downloaded to a temporary folder."""
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tempfile.mkdtemp()))


BASELINES = ("logistic", "campaign_rule", "rule_violations", "random")


def versions_table(client: Any, name: str) -> pd.DataFrame:
    """Every registered version: version, aliases, created, run, data months, rows, trials, ipw, the objective
    it was tuned and gated on, its latest fold, the promotion metric on it (`promotion`, `promotion_low`,
    `promotion_high`), each baseline's value on the same rows (`<baseline>`, see BASELINES) and the verdict on
    the simpler models; empty strings where a version predates a tag."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='{name}'")
        held: dict[str, list[str]] = {}
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            held.setdefault(str(version), []).append(alias)
    except MlflowException:
        found, held = [], {}
    records = []
    for mv in sorted(found, key=lambda v: int(v.version)):
        tags = mv.tags or {}
        records.append({
            "version": int(mv.version), "aliases": ", ".join(sorted(held.get(str(mv.version), []))),
            "created": pd.Timestamp(mv.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
            "data_months": tags.get("data_months", ""), "labelled_rows": tags.get("labelled_rows", ""),
            "trials": tags.get("trials", ""), "trials_in_study": tags.get("trials_in_study", ""),
            "ipw": tags.get("ipw", ""), "objective": tags.get("objective", ""),
            "latest_fold": tags.get("latest_fold", "").split(":")[0],
            "promotion": tags.get("metric.latest_fold_objective", ""),
            "promotion_low": tags.get("metric.latest_fold_objective_low", ""),
            "promotion_high": tags.get("metric.latest_fold_objective_high", ""),
            **{baseline: tags.get(f"latest_fold.{baseline}", "") for baseline in BASELINES},
            "verdict": tags.get("simpler_model_verdict", ""), "promotion_metric": tags.get("promotion_metric", ""),
            "promotion_settings": tags.get("promotion_settings", ""),
            "run_id": mv.run_id,
        })
    return pd.DataFrame.from_records(records)
