"""The audit's annexed model card: French, from what the training run logged."""

from __future__ import annotations

import re

import pandas as pd

from audit.model_card import model_card_fr

PARAMS = {
    "training.capacity_share": "0.05", "training.objective": "mean_precision_at_shares", "training.calibration": "platt",
    "training.ipw": "auto", "ipw_resolved": "off",
    "ipw_reason": "auto, decided on the hidden truth over 18 months of the validation windows: precision@k 0.215 with",
    "labelled_rows": "1481", "labelled_positives": "106", "left_out_inspections": "184",
    "inspections_source": "/home/someone/data/warehouse/inspections.parquet", "first_month": "2024-11",
    "last_month": "2026-09", "n_months": "23", "n_features": "64", "feature_schema_version": "5", "folds_chosen": "3",
    "optuna_trials_this_run": "40", "optuna_trials_resumed": "0", "optuna_study": "lightgbm-2024-11..2026-09-6f517bb6",
    "lightgbm.learning_rate": "0.023881564953254775", "lightgbm.n_estimators": "60", "lightgbm.num_leaves": "29",
}
FOLDS = pd.DataFrame({"fold": [1, 2], "train_until": ["2025-04-30", "2025-10-31"], "valid_from": ["2025-05-01", "2025-11-01"],
                      "valid_until": ["2025-10-31", "2026-04-30"], "n_train": [1118, 1244], "n_valid": [126, 127],
                      "positives": [22, 32]})


def _one_text(card: str) -> str:
    """The Markdown's wrapped lines joined (its numbers keep their narrow no-break spaces)."""
    return re.sub(r" *\n *", " ", card)


def test_the_model_card_of_the_audit_is_french_and_written_from_the_run():
    card = _one_text(model_card_fr(PARAMS, FOLDS, "abc123"))
    assert "1\u202f481 contrôles passés étiquetés, dont 106 ayant relevé un abus, lus dans « inspections.parquet »" in card
    assert "en retient la tête, au plus 5,0\u202f% de ses établissements, et sa précision est mesurée à cette part" in card
    assert "(mois de novembre 2024 à septembre 2026, soit 23 mois)" in card
    assert "| 1 | 30/04/2025 | 01/05/2025 | 31/10/2025 | 1\u202f118 | 126 | 22 |" in card
    # The tuned parameters in French, most read first, with decimal commas.
    assert card.index("| nombre d'arbres | 60 |") < card.index("| feuilles par arbre (au plus) | 29 |") < card.index(
        "| taux d'apprentissage | 0,0239 |")
    assert "non appliquée (choix automatique, fait sur la vérité simulée" in card
    assert "calibration de Platt" in card and "la précision moyenne aux parts de la capacité de contrôle" in card
    assert "MLflow abc123 : report/model_card.md" in card
    # When the outcome of a control was taken as known: an assumption, named with its setting.
    assert ("Issue d'un contrôle supposée connue 90 jours après celui-ci (hypothèse réglable : "
            "`features.outcome_known_after_days`") in _one_text(model_card_fr(
                {**PARAMS, "features.outcome_known_after_days": "90"}, FOLDS, "abc123"))
    # Which folds chose the parameters: every one but the latest, held out; every one for a run trained before.
    assert ("moyennée sur 2 des 3 plis temporels à fenêtre croissante : le dernier reste hors du réglage, et la "
            "métrique de promotion y mesure des paramètres choisis sans lui") in _one_text(model_card_fr(
                {**PARAMS, "folds_tuned_on": "2"}, FOLDS, "abc123"))
    assert ("moyennée sur les 3 plis temporels à fenêtre croissante, le dernier compris (modèle entraîné avant que le "
            "dernier pli reste hors du réglage : ses valeurs sur ce pli, choisies parmi les essais, sont optimistes)") in card
    # A run trained before the setting read it from the day of the control, and its card says so.
    assert "Issue d'un contrôle lue dès le jour du contrôle (modèle entraîné avant le réglage" in card
    # No English sentence of the training's card, no home path (the source is named by its file).
    assert not re.search(r"Intended use|inspections that|\bthe\b|/home/", card)


def test_a_run_that_logged_less_still_gets_a_card_that_says_so():
    card = _one_text(model_card_fr({"ipw_resolved": "on", "ipw_reason": "set to on in the configuration",
                                    "training.ipw": "on"}, None, "r1"))
    assert "appliquée (fixée à « on » dans la configuration)" in card
    assert "Les plis de validation ne sont pas enregistrés dans le run" in card
    assert "Les paramètres retenus ne sont pas enregistrés dans le run." in card
    assert "non enregistré contrôles" in card  # said, not a crash nor « nan »
    assert "nan" not in card and "(méthode non enregistrée)" in card and "lus dans les contrôles de l'entrepôt" in card
