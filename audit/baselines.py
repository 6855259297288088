"""Whether the audited model does better than the simple methods it was compared with in training.

The training run's comparison (`report/comparison.csv`: each model's precision at each share of capacity over the
temporal folds, with its exact 95 % interval) is read at the capacity the regions have. A simple method whose
precision reaches LightGBM's interval does as well as far as the inspections can tell: the model's complexity is then
not earned, and the check asks to be read; one above the interval does better, and the check fails.
"""

from __future__ import annotations

import pandas as pd

from audit.verdict import Check, Status
from core.french import number_fr, percent_fr

# The methods of the training run's comparison, in French. Here, not in `audit.figures`: importing that module
# sets matplotlib's backend for the process (a notebook importing the audit would draw nothing).
MODEL_LABELS_FR = {
    "random": "tirage au hasard",
    "campaign_rule": "règle de la campagne 2025",
    "rule_violations": "nombre d'infractions aux règles",
    "logistic": "régression logistique",
    "lightgbm": "LightGBM (le modèle audité)",
    "oracle": "oracle (probabilité latente vraie)",
    "perfect_list": "liste parfaite (connaît les abus)",
}

GROUP = "performance"
NAME = "Le modèle fait mieux que les méthodes simples (précision à la capacité de contrôle, plis temporels)"


def baselines_check(comparison: pd.DataFrame | None, capacity_share: float) -> Check:
    """The check of LightGBM's precision at `capacity_share` against each simpler method's, over all folds."""
    threshold = "chaque méthode simple sous l'intervalle à 95 % de LightGBM"
    if comparison is None:
        return Check(GROUP, NAME, Status.WARNING, float("nan"), threshold,
                     "Non mesuré : l'entraînement de cette version n'a pas enregistré sa comparaison (report/comparison.csv).")
    overall = comparison[(comparison["fold"].astype(str) == "all")
                         & ((comparison["share"] - capacity_share).abs() < 1e-9)].set_index("model")
    if "lightgbm" not in overall.index:
        return Check(GROUP, NAME, Status.WARNING, float("nan"), threshold,
                     f"Non mesuré : la comparaison de l'entraînement ne donne pas LightGBM à {_share(capacity_share)}.")
    own = overall.loc["lightgbm"]
    low, high = float(own["precision_low"]), float(own["precision_high"])
    simple = overall.drop(index="lightgbm")["precision"].astype(float).sort_values(ascending=False)
    if simple.empty:
        return Check(GROUP, NAME, Status.WARNING, float(own["precision"]), threshold,
                     "Non mesuré : aucune méthode simple dans la comparaison de l'entraînement.")
    better, as_good = simple[simple > high], simple[(simple >= low) & (simple <= high)]
    status = Status.FAILED if len(better) else Status.WARNING if len(as_good) else Status.PASSED
    listed = " ; ".join(f"{_label(model)} {_number(value)}" for model, value in simple.items())
    if len(better):
        verdict = f"{_names(better)} {_does(better)} mieux que le modèle : au-dessus de l'intervalle de LightGBM"
    elif len(as_good):
        verdict = f"{_names(as_good)} {_does(as_good)} aussi bien, à l'incertitude près : dans l'intervalle de LightGBM"
    else:
        verdict = "chaque méthode simple est sous l'intervalle de LightGBM"
    detail = (f"Précision des {_share(capacity_share)} premiers de chaque région, sur les contrôles passés validés hors "
              f"échantillon : LightGBM {_number(float(own['precision']))} [{_number(low)} ; {_number(high)}] ; {listed}. "
              f"{verdict[0].upper()}{verdict[1:]}.")
    return Check(GROUP, NAME, status, float(own["precision"]), threshold, detail)


def _label(model: str) -> str:
    return MODEL_LABELS_FR.get(model, model)


def _names(models: pd.Series) -> str:
    names = [_label(str(model)) for model in models.index]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " et " + names[-1]


def _does(models: pd.Series) -> str:
    return "fait" if len(models) == 1 else "font"


def _number(value: float) -> str:
    return number_fr(value, 2)


def _share(share: float) -> str:
    return percent_fr(share, 0)
