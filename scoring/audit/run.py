"""`champollion audit`: every section of the evaluators' audit for one registered model and one month.

The audit scores the month's population with the model, explains every establishment, checks the
explanations (additivity, agreement with permutation importance, stability of the top reason under
retraining), shows whom the list targets by region, sector and size (with the truth on a simulated
population), how the list and the features moved, and what the training run said about selection
bias. It writes one self-contained HTML report and logs it to the model's MLflow run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from champollion.capacity import siret_key, top_share_mask
from champollion.config import Config
from champollion.home import Home
from features.asof import add_months
from features.inspections import load_inspections
from features.validation import rules_against_truth
from scoring.audit.checks import (
    Check,
    Explainer,
    additivity_check,
    feature_drift,
    global_importance,
    importance_check,
    interactions,
    list_stability,
    model_explainer,
    permutation_importance,
    reason_stability,
    targeting_tables,
    top_reasons_of,
)
from scoring.monthly import month_evidence, month_features, score_table

log = logging.getLogger("champollion.audit")


@dataclass
class AuditResult:
    """Everything the report shows."""

    version: str
    run_id: str
    month: date
    model: Any
    model_card: str
    checks: list[Check]
    importance: pd.DataFrame
    permutation: pd.Series
    interactions: pd.DataFrame
    dependence: dict[str, pd.DataFrame]
    stability: pd.DataFrame
    targeting: dict[str, pd.DataFrame]
    list_stability: pd.DataFrame | None
    drift: pd.DataFrame
    drift_reference: str
    selection_bias: pd.DataFrame | None
    metrics: dict[str, float]
    ranked: pd.DataFrame
    truth_used: bool
    notes: list[str] = field(default_factory=list)
    rule_accuracy: pd.DataFrame | None = None  # the legal-rule checks against the truth (features.validation)

    @property
    def passed(self) -> bool:
        """The audit passes when every check passes."""
        return all(check.passed for check in self.checks)


def _artifact(run_id: str, path: str) -> Path | None:
    from training.registry import download

    try:
        return download(run_id, path)
    except Exception:  # noqa: BLE001 - an older run may lack an artifact: the report says so
        log.warning("run %s has no artifact %s", run_id, path)
        return None


def _oof_selected(run_id: str, share: float) -> pd.DataFrame | None:
    """Out-of-fold validated inspections with their groups and whether LightGBM put them in the top
    `share` of their fold x region (as the training report measures precision at capacity)."""
    from training.metrics import group_codes

    path = _artifact(run_id, "evaluation/out_of_fold.parquet")
    if path is None:
        return None
    oof = pd.read_parquet(path)
    groups = group_codes(oof["fold"], oof["region_code"].astype("string").fillna(""))
    oof["selected"] = top_share_mask(oof["score_lightgbm"].to_numpy(), groups, share, siret_key(oof["siret"]))
    return oof


def _truth_of(truth: Path | None, month: date) -> pd.Series | None:
    if truth is None:
        return None
    from training.workflow import read_truth

    months = read_truth(truth)
    rows = months[pd.to_datetime(months["month"]).dt.to_period("M") == pd.Period(month, "M")]
    return rows.set_index(rows["siret"].astype(str))["abusing"].astype("float64")


def run_audit(
    home: Home,
    config: Config,
    reference: str = "champion",
    month: date | None = None,
    truth: Path | None = None,
    explainer: Explainer = model_explainer,
) -> AuditResult:
    """Compute every section of the audit of a registered version (alias or number) for a month."""
    from training.feature_store import declared_months, feature_tables
    from training.labels import LABEL
    from training.pipeline import load_training_data
    from training.registry import connect, load_scoring_model, resolve_version

    inspections = load_inspections(home.warehouse)
    if inspections is None:
        raise FileNotFoundError(f"{home.warehouse}: no inspections stored, and the audit refits the model on them: run "
                                "`champollion import-inspections FILE.csv` (or `train --inspections FILE.csv`, which stores them)")
    settings, audit = config.training, config.audit
    client = connect(home, settings)
    version = resolve_version(client, settings.registered_model, reference)
    model = load_scoring_model(settings.registered_model, version.version)
    months = declared_months(home.warehouse)
    month = month or months[-1]
    notes: list[str] = []

    log.info("scoring and explaining every establishment as of %s", f"{month:%Y-%m}")
    table = month_features(home, config, month, inspections)
    ranked = score_table(model, table, month_evidence(home, month), month, config, inspections, None)
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
    rule_accuracy = (rules_against_truth(month_evidence(home, month), truth, month, config.features.window_months)
                     if truth is not None else None)
    oof = _oof_selected(version.run_id, settings.capacity_share)
    targeting = targeting_tables(ranked, oof, truth_series, audit)

    previous_month = add_months(month, -1)
    consecutive = None
    if previous_month in months:
        before = month_features(home, config, previous_month, inspections)
        previous = score_table(model, before, month_evidence(home, previous_month), previous_month, config, inspections, None)
        consecutive = list_stability(ranked, previous)
    else:
        notes.append(f"No declarations for {previous_month:%Y-%m}: list stability not measured.")

    reference_month = pd.Period(model.data_months[-1], "M").to_timestamp().date()
    reference_table = feature_tables(home, config, [reference_month], inspections).get(reference_month)
    if reference_table is None:
        reference_table, reference_month = table, month
        notes.append("The model's last training month is not in the warehouse: drift measured against itself.")
    drift = feature_drift(reference_table, table, model.features, audit.psi_threshold)

    card = _artifact(version.run_id, "report/model_card.md")
    selection = _artifact(version.run_id, "report/selection_bias.csv")
    run = client.get_run(version.run_id)
    return AuditResult(
        version=str(version.version), run_id=version.run_id, month=month, model=model,
        model_card=card.read_text(encoding="utf-8") if card else "(the training run has no model card)",
        checks=checks, importance=importance, permutation=permutation, interactions=pairs, dependence=dependence,
        stability=stability, targeting=targeting, list_stability=consecutive, drift=drift,
        drift_reference=f"{reference_month:%Y-%m}", selection_bias=pd.read_csv(selection) if selection else None,
        metrics=dict(run.data.metrics), ranked=ranked, truth_used=truth_series is not None, notes=notes,
        rule_accuracy=rule_accuracy,
    )


def write_audit(result: AuditResult, home: Home, config: Config, log_to_mlflow: bool = True) -> Path:
    """Render the report to `<home>/reports/audit-v<version>-<month>.html` and log it to the model's run."""
    from scoring.audit.report import render_audit
    from training.registry import connect

    home.reports.mkdir(parents=True, exist_ok=True)
    path = home.reports / f"audit-v{result.version}-{result.month:%Y-%m}.html"
    path.write_text(render_audit(result, config.audit), encoding="utf-8")
    if log_to_mlflow:
        client = connect(home, config.training)
        client.log_artifact(result.run_id, str(path), "audit")
        client.set_tag(result.run_id, f"audit_{result.month:%Y_%m}", "passed" if result.passed else "failed")
    return path
