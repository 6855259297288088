"""The audit's annex: the audited version's model card in French, from what its training run recorded.

The training run writes its own card (`report/model_card.md`) in English for the technical teams; evaluators read
the audit in French. This card is written from the run's parameters (`training.*`, `lightgbm.*`, the data and tuning
figures `training.registry` logs) and its folds (`report/folds.csv`), so a version trained before it existed gets it
too. Its evaluation, fairness and selection bias are the audit's own sections: the card points to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import PurePath

import pandas as pd

from core.french import month_fr, number_fr, of_month_fr, percent_fr
from scoring.explain import CALIBRATION_FR

OBJECTIVES_FR = {
    "mean_precision_at_shares": "la précision moyenne aux parts de la capacité de contrôle",
    "precision_at_k": "la précision à la capacité de contrôle",
    "average_precision": "la précision moyenne (average precision)",
}
# The LightGBM parameters Optuna tunes, as an evaluator reads them.
PARAMETERS_FR = {
    "n_estimators": "nombre d'arbres",
    "num_leaves": "feuilles par arbre (au plus)",
    "max_depth": "profondeur des arbres (au plus)",
    "learning_rate": "taux d'apprentissage",
    "min_child_samples": "contrôles par feuille (au moins)",
    "feature_fraction": "part des indicateurs tirée par arbre",
    "bagging_fraction": "part des contrôles tirée par arbre",
    "lambda_l2": "régularisation L2",
    "cat_smooth": "lissage des variables catégorielles",
}


def _number(value: str | None, digits: int = 0) -> str:
    try:
        return number_fr(float(value), digits) if value is not None else "non enregistré"
    except ValueError:
        return str(value)


def _tuned_on_fr(params: Mapping[str, str]) -> str:
    """The folds Optuna chose the parameters on, in French: every one but the latest, held out for the promotion
    metric (`folds_tuned_on`), or every one for a model trained before (its latest fold's values are then optimistic)."""
    folds = _number(params.get("folds_chosen"))
    if params.get("folds_tuned_on") is None:
        return (f"les {folds} plis temporels à fenêtre croissante, le dernier compris (modèle entraîné avant que le "
                "dernier pli reste hors du réglage : ses valeurs sur ce pli, choisies parmi les essais, sont optimistes)")
    return (f"{_number(params.get('folds_tuned_on'))} des {folds} plis temporels à fenêtre croissante : le dernier reste "
            "hors du réglage, et la métrique de promotion y mesure des paramètres choisis sans lui")


def _weighting_fr(params: Mapping[str, str]) -> str:
    """Whether the training weighted the inspections by the inverse of their modelled probability, and why (the run
    records its reason in English: its three forms are said in French)."""
    resolved, reason = params.get("ipw_resolved", ""), params.get("ipw_reason", "")
    state = {"on": "appliquée", "off": "non appliquée"}.get(resolved, resolved or "non enregistrée")
    if reason.startswith("auto, decided on the hidden truth"):
        why = "choix automatique, fait sur la vérité simulée des fenêtres de validation : report/ipw_decision.csv du run"
    elif reason.startswith("auto without a truth folder"):
        why = "choix automatique sans vérité pour en juger : non appliquée par défaut"
    elif reason.startswith("set to"):
        why = f"fixée à « {params.get('training.ipw', resolved)} » dans la configuration"
    else:
        why = ""
    return f"{state} ({why})" if why else state


def _months_fr(params: Mapping[str, str]) -> str:
    """« de novembre 2024 à septembre 2026 », from the run's first and last months ('YYYY-MM'), as given if not such."""
    first, last = params.get("first_month", "?"), params.get("last_month", "?")
    try:
        start, end = (date.fromisoformat(f"{month}-01") for month in (first, last))
    except ValueError:
        return f"de {first} à {last}"
    return f"{of_month_fr(start)} à {month_fr(end)}"


def _outcome_delay_fr(params: Mapping[str, str]) -> str:
    """When the run took the outcome of a control as known (`features.outcome_known_after_days`), in French."""
    days = params.get("features.outcome_known_after_days")
    if days is None:
        return ("Issue d'un contrôle lue dès le jour du contrôle (modèle entraîné avant le réglage "
                "`features.outcome_known_after_days`) : ses plis apprenaient sur des issues que le début de leur "
                "validation ne connaissait pas encore.")
    when = "le jour même" if int(days) == 0 else f"{number_fr(int(days))} jours après celui-ci"
    return (f"Issue d'un contrôle supposée connue {when} (hypothèse réglable : "
            "`features.outcome_known_after_days`, le fichier du ministère ne datant pas la clôture de la procédure) : "
            "les indicateurs d'un mois ne lisent que les issues connues à sa fin, et chaque pli n'apprend que sur les "
            "contrôles dont l'issue était connue avant sa validation.")


def _folds_table(folds: pd.DataFrame | None) -> str:
    if folds is None or folds.empty:
        return "Les plis de validation ne sont pas enregistrés dans le run (report/folds.csv)."
    lines = ["| pli | apprentissage jusqu'au | validation du | au | contrôles appris | contrôles validés | dont abus |",
             "|---|---|---|---|---|---|---|"]
    for fold in folds.itertuples(index=False):
        dates = [pd.Timestamp(str(value)).strftime("%d/%m/%Y") for value in (fold.train_until, fold.valid_from,
                                                                            fold.valid_until)]
        lines.append(f"| {fold.fold} | {' | '.join(dates)} | {number_fr(fold.n_train)} | {number_fr(fold.n_valid)} "
                     f"| {number_fr(fold.positives)} |")
    return "\n".join(lines)


def _parameters_table(params: Mapping[str, str]) -> str:
    tuned = {key.removeprefix("lightgbm."): value for key, value in params.items() if key.startswith("lightgbm.")}
    if not tuned:
        return "Les paramètres retenus ne sont pas enregistrés dans le run."
    lines = ["| paramètre | valeur |", "|---|---|"]
    for name in [n for n in PARAMETERS_FR if n in tuned] + sorted(n for n in tuned if n not in PARAMETERS_FR):
        value = tuned[name]
        shown = _number(value) if value.lstrip("-").isdigit() else _number(value, 4)
        lines.append(f"| {PARAMETERS_FR.get(name, name)} | {shown} |")
    return "\n".join(lines)


def model_card_fr(params: Mapping[str, str], folds: pd.DataFrame | None, run_id: str) -> str:
    """The model card of the run `run_id` (Markdown, French; its headings are the annex's sections, level 1), from its
    logged `params` and `folds`."""
    capacity = float(params.get("training.capacity_share", "nan"))
    capacity_fr = percent_fr(capacity) if capacity == capacity else "une part"
    source = params.get("inspections_source", "")
    # The run names the file it read, or "warehouse" when training read the warehouse's inspections.
    source_fr = f"« {PurePath(source).name} »" if source and source != "warehouse" else "les contrôles de l'entrepôt"
    resumed = int(params.get("optuna_trials_resumed", "0") or 0)
    calibration = params.get("training.calibration", "")
    objective = params.get("training.objective", "")
    return f"""# Usage prévu
Le modèle classe chaque mois les établissements de chaque région selon la probabilité qu'un contrôle de leur recours
aux CDD et à l'intérim relève un abus, pour que les agents de contrôle des DREETS choisissent qui contrôler dans la
limite de leur capacité : la liste mensuelle d'une région en retient la tête, au plus {capacity_fr} de ses
établissements, et sa précision est mesurée à cette part. Il oriente le choix des
contrôles ; il ne prouve rien : chaque signal est une *infraction potentielle* que l'agent établit sur place. Il ne
doit servir ni à sanctionner, ni à noter des personnes, ni en dehors de la population DSN sur laquelle il a été
appris.

# Données
- {_number(params.get("labelled_rows"))} contrôles passés étiquetés, dont {_number(params.get("labelled_positives"))}
  ayant relevé un abus, lus dans {source_fr} ; {_number(params.get("left_out_inspections"))} contrôles écartés (leur
  liste et la raison de chacun : report/left_out_inspections.csv du run).
- Chaque contrôle est décrit par les indicateurs de son établissement au mois précédant le contrôle (mois
  {_months_fr(params)}, soit {_number(params.get("n_months"))} mois) ;
  {_number(params.get("n_features"))} indicateurs, schéma version {params.get("feature_schema_version", "?")}. Les
  indicateurs décrivent des établissements : aucune donnée individuelle n'entre dans le modèle.

# Apprentissage
- Gradient boosting LightGBM (classification binaire), réglé par Optuna (échantillonneur TPE, élagage médian) pour
  maximiser {OBJECTIVES_FR.get(objective, objective)}, moyennée sur {_tuned_on_fr(params)} ;
  {_number(params.get("optuna_trials_this_run"))} essais lors de cet entraînement
  {f"et {number_fr(resumed)} repris d'un entraînement précédent " if resumed else ""}(étude
  « {params.get("optuna_study", "?")} »).
- Les comptes d'infractions potentielles aux règles du Code du travail ne peuvent qu'augmenter le score (contrainte
  monotone).
- Pondération par l'inverse de la probabilité d'être contrôlé : {_weighting_fr(params)}.
- Probabilités calibrées ({f"calibration {CALIBRATION_FR.get(calibration, calibration)}" if calibration
                           else "méthode non enregistrée"}) sur les scores hors échantillon.
- {_outcome_delay_fr(params)}

Plis de validation (par date de contrôle ; chaque pli apprend sur les contrôles jusqu'à la date indiquée) :

{_folds_table(folds)}

Paramètres retenus par Optuna :

{_parameters_table(params)}

# Évaluation, équité et biais de sélection
Voir les sections du rapport ci-dessus : elles sont calculées à partir du même run et des mêmes contrôles.

# Limites
- Les ensembles de validation sont petits (quelques dizaines de contrôles retenus par pli à {capacity_fr}) : les
  intervalles sont larges ; comparer les modèles sur leurs intervalles, non sur les valeurs ponctuelles.
- Un contrôle qui ne relève pas d'abus ne prouve pas l'absence d'abus ; le résultat dépend de l'agent et de la visite.
- Les établissements d'un secteur ou d'une région jamais contrôlés sont classés par extrapolation.
- Un établissement contrôlé ou dissuadé change de comportement ; les indicateurs ne le voient qu'avec retard.

La fiche technique complète écrite par l'entraînement (en anglais, pour les équipes techniques) est jointe au run
MLflow {run_id} : report/model_card.md.
"""
