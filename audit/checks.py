"""The audit's explanation checks and sections, computed from a model, the month's feature tables and
the training data.

Each function returns plain frames or `Check`s; `audit.run` gathers them and the verdict counts them.
An `Explainer` is any function (model, table) -> SHAP contributions (a column per feature and
`bias`); the audit takes it as a parameter so that a broken one can be shown to fail.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from audit.metrics import additivity_gaps, list_overlap, rank_correlation, top_reason_agreement
from audit.verdict import Check, Status
from core.french import count_fr, number_fr
from core.scoring_config import AuditConfig
from features.catalog import FEATURES
from scoring.reasons import grouped_contributions, region_names
from training.models import comparison_models
from training.saved_model import SavedModel

Explainer = Callable[[SavedModel, pd.DataFrame], pd.DataFrame]
LABELS_FR = {f.name: f.label_fr for f in FEATURES}


def model_explainer(model: SavedModel, table: pd.DataFrame) -> pd.DataFrame:
    """The explainer scoring uses: LightGBM's exact path-dependent tree SHAP."""
    return model.contributions(table)


# --- what drives the model -------------------------------------------------------------------------

def global_importance(contributions: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Mean |SHAP| of each feature over the rows, with its French label, largest first."""
    values = contributions[features].abs().mean()
    frame = pd.DataFrame({"feature": features, "label_fr": [LABELS_FR.get(f, f) for f in features],
                          "mean_abs_shap": values.to_numpy()})
    return frame.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def permutation_importance(model: SavedModel, table: pd.DataFrame, features: list[str], seed: int) -> pd.Series:
    """Mean |change of the raw score| when one feature's column is shuffled (the model's reliance on
    it, measured without labels, on the same rows as the SHAP importance)."""
    rng = np.random.default_rng(seed)
    base = model.raw_scores(table)
    out = {}
    for feature in features:
        shuffled = table.copy()
        shuffled[feature] = table[feature].to_numpy()[rng.permutation(len(table))]
        out[feature] = float(np.mean(np.abs(model.raw_scores(shuffled) - base)))
    return pd.Series(out)


def interactions(model: SavedModel, table: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """The strongest pairwise SHAP interactions (mean |interaction value|, both halves summed), from the
    `shap` package's exact tree interaction values on the given rows."""
    import shap

    inputs = model.inputs(table)
    codes = inputs.apply(lambda column: column.cat.codes.replace(-1, np.nan) if isinstance(column.dtype, pd.CategoricalDtype)
                         else column).to_numpy(dtype=np.float64)  # categories as LightGBM sees them
    values = shap.TreeExplainer(model.booster).shap_interaction_values(codes)
    values = values[1] if isinstance(values, list) else values
    strength = np.abs(values).mean(axis=0)
    names = list(inputs.columns)
    pairs = [(names[i], names[j], 2 * strength[i, j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    frame = pd.DataFrame(pairs, columns=["feature_a", "feature_b", "mean_abs_interaction"])
    return frame.sort_values("mean_abs_interaction", ascending=False, ignore_index=True).head(top)


# --- faithfulness of the explanations --------------------------------------------------------------

def _passed_or_failed(passed: bool) -> Status:
    return Status.PASSED if passed else Status.FAILED


def additivity_check(model: SavedModel, table: pd.DataFrame, contributions: pd.DataFrame, settings: AuditConfig) -> Check:
    """SHAP values must add up to the raw score for every establishment."""
    gaps = additivity_gaps(contributions[[*model.features, "bias"]], model.raw_scores(table))
    worst = float(gaps.max()) if len(gaps) else 0.0
    failing = int((gaps > settings.shap_tolerance).sum())
    return Check("explanations", "Les valeurs SHAP s'additionnent au score brut (chaque établissement)",
                 _passed_or_failed(failing == 0), worst, f"écart ≤ {settings.shap_tolerance:g}",
                 f"{count_fr(failing, 'établissement')} sur {number_fr(len(gaps))} au-delà de la tolérance ; "
                 f"plus grand écart {worst:.1e}".replace(".", ","))  # 4,9e-15: a decimal comma in French


def importance_check(shap_importance: pd.DataFrame, permutation: pd.Series, settings: AuditConfig) -> Check:
    """SHAP importance and permutation importance should rank features alike."""
    joined = shap_importance.set_index("feature")["mean_abs_shap"]
    rho = rank_correlation(joined, permutation)
    # Undefined with fewer than three features, or when either importance is the same for every feature (a model that
    # reads none of them): nothing then says that the explanations follow what the model relies on.
    compared = count_fr(len(joined.index.intersection(permutation.index)), "variable")
    finding = (f"corrélation de Spearman {number_fr(rho, 2)} sur {compared}" if np.isfinite(rho) else
               f"corrélation de Spearman non calculable sur {compared} : moins de trois variables, ou l'une des deux "
               "importances est la même pour toutes (un modèle qui ne lit aucune variable ?)")
    return Check("explanations", "L'importance SHAP concorde avec l'importance par permutation",
                 _passed_or_failed(bool(rho >= settings.min_importance_correlation)), rho,
                 f"Spearman ≥ {number_fr(settings.min_importance_correlation, 2)}", finding)


def top_reasons_of(contributions: pd.DataFrame, features: list[str]) -> pd.Series:
    """The reason group that raises each row's score most ('' when none raises it)."""
    grouped = grouped_contributions(contributions, features)
    top = grouped.idxmax(axis=1)
    return top.where(grouped.max(axis=1) > 0, "")


def retrained_top_reasons(
    model: SavedModel, rows: pd.DataFrame, labels: np.ndarray, table: pd.DataFrame, seed: int, threads: int = 1
) -> pd.Series:
    """Top reason of each row of `table` under the model's parameters refitted on `rows` with `seed`."""

    refit = comparison_models(model.params, 0.1, threads, seed)["lightgbm"].fit(rows, labels)
    values = refit.booster_.predict(refit.inputs(table), pred_contrib=True)
    contributions = pd.DataFrame(values, columns=[*model.features, "bias"], index=table.index)
    return top_reasons_of(contributions, model.features)


def reason_stability(
    model: SavedModel, labelled: pd.DataFrame, label: str, listed: pd.DataFrame, current: pd.Series, seed: int,
    settings: AuditConfig,
) -> tuple[pd.DataFrame, list[Check]]:
    """How often a listed establishment's top reason stays the top reason when the model is refitted with
    its parameters and another seed, or with its seed without the last month of inspections."""
    last_month = labelled["inspection_date"].dt.to_period("M").max()
    variants = {
        f"autre graine ({seed + 1})": (labelled, seed + 1),
        f"un mois de contrôles en moins (jusqu'à {last_month - 1})": (
            labelled[labelled["inspection_date"].dt.to_period("M") < last_month], seed),
    }
    rows, checks = [], []
    threshold = f"≥ {number_fr(100 * settings.min_top_reason_agreement)} %"
    for name, (data, variant_seed) in variants.items():
        title = f"Motif principal stable après réentraînement : {name}"
        if listed.empty:  # every establishment inspected recently: no line, no reason to compare
            agreement, status, detail = float("nan"), Status.WARNING, "aucun établissement listé ce mois : aucun motif à comparer"
        else:
            other = retrained_top_reasons(model, data, data[label].to_numpy(), listed, variant_seed)
            agreement = top_reason_agreement(current.loc[listed.index], other)
            status = _passed_or_failed(bool(agreement >= settings.min_top_reason_agreement))
            detail = (f"{number_fr(100 * agreement)} % des {number_fr(len(listed))} établissements listés "
                      "gardent leur motif principal")
        rows.append({"retraining": name, "labelled_rows": len(data), "listed": len(listed), "same_top_reason": agreement})
        checks.append(Check("explanations", title, status, agreement, threshold, detail))
    return pd.DataFrame(rows), checks


# --- stability of the lists ---------------------------------------------------------------------------

def list_stability(ranked: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Overlap of the score-selected lines and rank correlation of scores, overall ('Ensemble') and by
    region (named)."""
    rows = []
    names = region_names()
    regions = [("Ensemble", ranked, previous)] + [
        (names.get(code, code), part, previous[previous["region_code"] == code])
        for code, part in ranked.groupby("region_code", sort=True)
    ]
    for name, now, before in regions:
        chosen_now = set(now.loc[now["in_list"] & ~now["exploration"], "siret"])
        chosen_before = set(before.loc[before["in_list"] & ~before["exploration"], "siret"])
        rows.append({"region": name, "listed": len(chosen_now), "overlap_with_previous": list_overlap(chosen_now, chosen_before),
                     "rank_correlation": rank_correlation(now.set_index("siret")["score"], before.set_index("siret")["score"])})
    return pd.DataFrame(rows)
