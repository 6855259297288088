"""`champollion audit`: every section of the evaluators' audit for one registered model and one month.

The audit scores the month's population with the model, explains every establishment, and checks, each
check ending réussi, alerte or échec (`verdict.py`): the explanations (additivity, agreement with
permutation importance, stability of the top reason under retraining); fairness (disparities of the
share listed and of the false discovery rate by region, NAF section and size band, for the month's
list and the past inspections); drift (PSI against the training months and each recent month);
selection bias (how predictable past inspections were); and, given a simulated population's truth,
the precision of the legal-rule evidence. It writes one self-contained HTML report in French and
logs it to the model's MLflow run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from audit.baselines import baselines_check, truth_baselines_check
from audit.checks import (
    Explainer,
    additivity_check,
    global_importance,
    importance_check,
    interactions,
    list_stability,
    model_explainer,
    permutation_importance,
    reason_stability,
    top_reasons_of,
)
from audit.drift import TRAINING, drift_check, drift_table
from audit.fairness import fairness_checks, targeting_tables, with_groups
from audit.legal_rules import rule_checks
from audit.model_card import model_card_fr
from audit.reasons_truth import precision_by_reason, reason_truth_check
from audit.selection_bias import selection_bias_check
from audit.verdict import Check, Status, Verdict, verdict_of
from core.capacity import siret_key, top_share_mask
from core.config import Config
from core.french import number_fr
from core.home import Home
from core.months import add_months
from features.build import refuse_other_settings
from features.store import declared_months, feature_tables
from features.validation import rules_against_truth
from scoring.monthly import (
    drawn_up_at,
    lists_folder,
    month_features,
    previous_ranking,
    rank_table,
    read_ranking,
    score_stored,
)
from training.labels import LABEL
from training.metrics import group_codes, region_keys
from training.pipeline import load_training_data, score_against_truth
from training.registry import (
    COMPARISON_MODELS,
    TRUTH_OVER_FOLDS,
    connect,
    download,
    load_scoring_model,
    resolve_version,
)
from training.saved_model import SavedModel
from training.workflow import read_truth, rows_sha256
from warehouse.inspections import load_inspections

log = logging.getLogger("champollion.audit")


@dataclass
class AuditResult:
    """Everything the report shows."""

    version: str
    run_id: str
    month: date
    model: SavedModel
    model_card: str  # the version's model card in French (Markdown, `audit.model_card`)
    checks: list[Check]
    importance: pd.DataFrame
    permutation: pd.Series
    interactions: pd.DataFrame
    dependence: dict[str, pd.DataFrame]
    stability: pd.DataFrame
    targeting: dict[tuple[str, str], pd.DataFrame]
    list_stability: pd.DataFrame | None
    previous_list: str  # where last month's list came from, in French
    drift: pd.DataFrame  # long: feature, label_fr, reference, psi
    selection_bias: pd.DataFrame | None
    metrics: dict[str, float]
    ranked: pd.DataFrame
    truth_used: bool
    notes: list[str] = field(default_factory=list)
    rule_accuracy: pd.DataFrame | None = None  # the legal-rule checks against the truth (features.validation)
    comparison: pd.DataFrame | None = None  # the training run's models compared at capacity (out of fold)
    tuned_on: int | None = None  # folds Optuna chose the parameters on, the latest held out (None: every fold)
    truth_comparison: pd.DataFrame | None = None  # ... and against the simulated truth of the month, given one
    out_of_fold: pd.DataFrame | None = None  # validated inspections with their calibrated probabilities
    inspected: pd.DataFrame | None = None  # the labelled inspections of training, with their groups

    @property
    def verdict(self) -> Verdict:
        """The count of checks by status and the worst of them."""
        return verdict_of(self.checks)

    @property
    def passed(self) -> bool:
        """The audit passes when no check failed (alerts ask to be read)."""
        return self.verdict.status is not Status.FAILED


def _artifact(run_id: str, path: str) -> Path | None:

    try:
        return download(run_id, path)
    except Exception:
        log.warning("run %s has no artifact %s", run_id, path)
        return None


def _oof_selected(run_id: str, share: float) -> pd.DataFrame | None:
    """Out-of-fold validated inspections with their groups and whether LightGBM put them in the top
    `share` of their fold x region (as the training report measures precision at capacity)."""

    path = _artifact(run_id, "evaluation/out_of_fold.parquet")
    if path is None:
        return None
    oof = pd.read_parquet(path)
    groups = group_codes(oof["fold"], region_keys(oof["region_code"]))
    oof["selected"] = top_share_mask(oof["score_lightgbm"].to_numpy(), groups, share, siret_key(oof["siret"]))
    return oof


def _truth_of(truth: Path | None, month: date) -> pd.Series | None:
    if truth is None:
        return None

    months = read_truth(truth)
    rows = months[pd.to_datetime(months["month"]).dt.to_period("M") == pd.Period(month, "M")]
    return rows.set_index(rows["siret"].astype(str))["abusing"].astype("float64")


def _against_truth(run_id: str, model: SavedModel, table: pd.DataFrame, truth: Path, month: date, config: Config) -> pd.DataFrame:
    """The version's LightGBM and the baselines fitted with it, each establishment of the month ranked in
    its region, against who was really abusing that month (`training.pipeline.score_against_truth`)."""
    import joblib


    scorers = {name: m.decision_function for name, m in joblib.load(download(run_id, COMPARISON_MODELS)).items()}
    scorers["lightgbm"] = model.raw_scores
    return score_against_truth(scorers, table, read_truth(truth), month, config.training)[0]


def _csv_artifact(run_id: str, path: str) -> pd.DataFrame | None:
    found = _artifact(run_id, path)
    return pd.read_csv(found) if found is not None else None


def _drift_references(
    home: Home, config: Config, model: SavedModel, month: date, months: list[date], inspections: pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The populations the month is compared with: the training months pooled, then each of the `drift_months`
    months before it; of each month, a seeded sample of `sample_rows` establishments (every one when it has fewer:
    a national month's table is 1.16 GB, and one month at a time is read)."""

    audit, notes = config.audit, []
    rng = np.random.default_rng(config.training.seed)

    def sample(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[np.sort(rng.choice(len(table), size=min(audit.sample_rows, len(table)), replace=False))]

    training_months = [pd.Period(m, "M").to_timestamp().date() for m in model.data_months]
    tables = feature_tables(home, config, [m for m in training_months if m != month], inspections)
    samples = [sample(table) for table in tables.values()]
    references: dict[str, pd.DataFrame] = {}
    if samples:
        references[TRAINING] = pd.concat(samples, ignore_index=True)
    else:
        notes.append("Aucun mois d'entraînement du modèle n'est dans l'entrepôt : la dérive depuis l'entraînement "
                     "n'est pas mesurée.")
    recent = [add_months(month, -i) for i in range(audit.drift_months, 0, -1)]
    recent_tables = feature_tables(home, config, [m for m in recent if m in months], inspections)
    for previous in recent:
        if previous in recent_tables:
            references[f"{previous:%Y-%m}"] = sample(recent_tables[previous])
    missing = [f"{m:%Y-%m}" for m in recent if m not in recent_tables]
    if missing:
        notes.append(f"Pas de déclarations pour {', '.join(missing)} : dérive mensuelle mesurée sur "
                     f"{len(recent) - len(missing)} mois au lieu de {len(recent)}.")
    return references, notes


def audited_data_note(home: Home, month: date, inspections: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """What the audit read, in French: the warehouse's published version, the controls stored (their number and a
    digest of their rows), and how the list it computed compares with the list published for the month, if one was:
    an audit run again after new declarations or controls judges other data, and says so."""
    current = home.data / "current"
    version = f"version {current.resolve().name} de l'entrepôt" if current.is_symlink() else "l'entrepôt"
    controls = f"contrôles enregistrés : {number_fr(len(inspections))} (empreinte {rows_sha256(inspections)[:12]})"
    published = lists_folder(home, month) / "ranked.csv"
    if not published.exists():
        return (f"Données auditées : {version}, {controls}. Aucune liste n'a été publiée pour {month:%Y-%m} : l'audit "
                "porte sur la liste qu'il a calculée.")
    drawn, when = read_ranking(published), drawn_up_at(home, month)

    def scored(frame: pd.DataFrame) -> set[str]:
        chosen = frame["in_list"].astype(bool).to_numpy() & ~frame["exploration"].astype(bool).to_numpy()
        return set(frame.loc[chosen, "siret"].astype(str))

    before, now = scored(drawn), scored(ranked)
    return (f"Données auditées : {version}, {controls}. Lignes classées par le score (hors tirage d'exploration) de "
            f"la liste publiée pour {month:%Y-%m} (lists/{month:%Y-%m}/ranked.csv"
            f"{f', établie le {when:%d/%m/%Y à %H:%M} UTC' if when else ''}) : {number_fr(len(before))}, dont "
            f"{number_fr(len(before & now))} dans celle que l'audit a calculée sur ces données "
            f"({number_fr(len(now))}).")


def run_audit(
    home: Home,
    config: Config,
    reference: str = "champion",
    month: date | None = None,
    truth: Path | None = None,
    explainer: Explainer = model_explainer,
) -> AuditResult:
    """Compute every section of the audit of a registered version (alias or number) for a month."""

    inspections = load_inspections(home.warehouse)
    if inspections is None:
        raise FileNotFoundError(f"{home.warehouse}: no inspections stored, and the audit refits the model on them: run "
                                "`champollion import-inspections FILE.csv` (or `train --inspections FILE.csv`, "
                                "which stores them)")
    settings, audit = config.training, config.audit
    client = connect(home, settings)
    version = resolve_version(client, settings.registered_model, reference)
    model = load_scoring_model(settings.registered_model, version.version)
    # Scored, explained and refitted on features it never learned from, its audit would judge another model.
    refuse_other_settings(model, str(version.version), config, then=": audit the version trained with these settings")
    months = declared_months(home.warehouse)
    month = month or months[-1]
    notes: list[str] = []

    log.info("scoring and explaining every establishment as of %s", f"{month:%Y-%m}")
    stored = month_features(home, config, month, inspections)
    table = stored.table
    ranked = score_stored(model, stored, config, inspections, None)
    notes.append(audited_data_note(home, month, inspections, ranked))
    contributions = explainer(model, table)
    checks = [additivity_check(model, table, contributions, audit)]

    rng = np.random.default_rng(settings.seed)
    sample = table.loc[np.sort(rng.choice(len(table), size=min(audit.sample_rows, len(table)), replace=False))]
    importance = global_importance(contributions, model.features)
    log.info("permutation importance on %d rows", len(sample))
    permutation = permutation_importance(model, sample, model.features, settings.seed)
    checks.append(importance_check(importance, permutation, audit))
    pairs = interactions(model, sample.head(min(500, len(sample))))
    dependence = {
        feature: pd.DataFrame({"value": table[feature].to_numpy(), "shap": contributions[feature].to_numpy()})
        for feature in importance["feature"].head(audit.dependence_plots)
    }

    log.info("retraining with another seed and with one month less for the stability of reasons")
    data = load_training_data(home, config, inspections)
    listed = table.loc[ranked.index[ranked["in_list"].to_numpy()]]
    current = top_reasons_of(contributions.loc[listed.index], model.features)
    stability, stability_checks = reason_stability(
        model, data.labelled.rows, LABEL, listed, current, settings.seed, audit)
    checks += stability_checks

    truth_series = _truth_of(truth, month)
    if truth_series is not None:
        scored = ranked["siret"].astype(str).map(truth_series).dropna()
        checks.append(reason_truth_check(precision_by_reason(ranked, truth_series), float(scored.mean()), audit))
    rule_accuracy = (rules_against_truth(stored.evidence(), truth, month, config.features.window_months)
                     if truth is not None else None)
    oof = _oof_selected(version.run_id, settings.capacity_share)
    targeting = targeting_tables(ranked, oof, truth_series, audit)
    checks += fairness_checks(targeting, audit)

    previous_month = add_months(month, -1)
    consecutive, previous_list = None, ""
    drawn = previous_ranking(home, month)
    if drawn is not None:
        consecutive = list_stability(ranked, drawn.assign(exploration=drawn["exploration"].astype(bool),
                                                          in_list=drawn["in_list"].astype(bool)))
        previous_list = f"la liste produite pour {previous_month:%Y-%m} (lists/{previous_month:%Y-%m}/ranked.csv)"
    elif previous_month in months:
        before = month_features(home, config, previous_month, inspections)
        # Ranked only: the stability of lists compares lines and scores, not their reasons.
        previous = rank_table(model, before.table, previous_month, config, inspections, None)
        consecutive = list_stability(ranked, previous)
        previous_list = (f"aucune liste n'a été produite pour {previous_month:%Y-%m} : l'audit l'a recalculée avec le "
                         "même modèle sur les déclarations de ce mois")
    else:
        notes.append(f"Pas de déclarations pour {previous_month:%Y-%m} : stabilité des listes non mesurée.")

    log.info("drift against the training months and the %d months before", audit.drift_months)
    references, drift_notes = _drift_references(home, config, model, month, months, inspections)
    notes += drift_notes
    drift = drift_table(references, table, model.features)
    checks.append(drift_check(drift[drift["reference"] == TRAINING], "Dérive depuis les mois d'entraînement", audit))
    checks.append(drift_check(drift[drift["reference"] != TRAINING],
                              f"Dérive d'un mois à l'autre ({audit.drift_months} mois précédents)", audit))

    run = client.get_run(version.run_id)
    metrics = dict(run.data.metrics)
    checks.append(selection_bias_check(metrics.get("propensity/roc_auc_last_window"), model.ipw, audit))
    if rule_accuracy is not None:
        checks += rule_checks(rule_accuracy, audit)

    comparison = _csv_artifact(version.run_id, "report/comparison.csv")
    tuned_on = run.data.params.get("folds_tuned_on")  # absent: a version that tuned on every fold
    checks.append(baselines_check(comparison, settings.capacity_share, int(tuned_on) if tuned_on else None))
    over_folds = _csv_artifact(version.run_id, TRUTH_OVER_FOLDS)  # a training given the simulated truth
    if over_folds is not None:
        checks.append(truth_baselines_check(over_folds, settings.capacity_share))
    return AuditResult(
        version=str(version.version), run_id=version.run_id, month=month, model=model,
        model_card=model_card_fr(run.data.params, _csv_artifact(version.run_id, "report/folds.csv"), version.run_id),
        checks=checks, importance=importance, permutation=permutation, interactions=pairs, dependence=dependence,
        stability=stability, targeting=targeting, list_stability=consecutive, previous_list=previous_list,
        drift=drift, selection_bias=_csv_artifact(version.run_id, "report/selection_bias.csv"),
        metrics=metrics, ranked=ranked, truth_used=truth_series is not None, notes=notes,
        rule_accuracy=rule_accuracy, comparison=comparison, tuned_on=int(tuned_on) if tuned_on else None,
        truth_comparison=_against_truth(version.run_id, model, table, truth, month, config) if truth is not None else None,
        out_of_fold=oof,
        inspected=with_groups(data.labelled.rows),
    )


def write_audit(result: AuditResult, home: Home, config: Config, log_to_mlflow: bool = True) -> Path:
    """Render the report to `<home>/reports/audit-v<version>-<month>.html` and log it to the model's run."""
    from audit.report import render_audit

    home.reports.mkdir(parents=True, exist_ok=True)
    path = home.reports / f"audit-v{result.version}-{result.month:%Y-%m}.html"
    path.write_text(render_audit(result, config), encoding="utf-8")
    if log_to_mlflow:
        client = connect(home, config.training)
        client.log_artifact(result.run_id, str(path), "audit")
        outcome = {Status.PASSED: "passed", Status.WARNING: "passed with alerts", Status.FAILED: "failed"}
        client.set_tag(result.run_id, f"audit_{result.month:%Y_%m}", outcome[result.verdict.status])
    return path
