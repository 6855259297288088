"""Whether the audited model does better than the simple methods it was compared with in training.

The training run's comparison (`report/comparison.csv`: each model's precision at each share of capacity on each
temporal fold and over all of them, with its exact 95 % interval) is read at the capacity the regions have. The
check judges the latest fold when Optuna chose the parameters without it (`folds_tuned_on`): on the folds it tuned on,
LightGBM's values were chosen as the best of its trials, and the simple methods are not tuned. All folds are shown
beside it, said to hold the folds of the tuning. A simple method whose precision reaches LightGBM's interval does as
well as far as the inspections can tell: the model's complexity is then not earned, and the check asks to be read;
one above the interval does better, and the check fails. How many inspections each value counts (selected at the top
of each region and fold, out of how many) is said with it: at least one per region and fold is selected, so a small
share of few inspections selects more than that share.
"""

from __future__ import annotations

import pandas as pd

from audit.verdict import Check, Status
from core.french import count_fr, number_fr, percent_fr

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


def baselines_check(comparison: pd.DataFrame | None, capacity_share: float, tuned_on: int | None = None) -> Check:
    """The check of LightGBM's precision at `capacity_share` against each simpler method's: on the latest fold when
    Optuna tuned on the `tuned_on` folds before it (the run's `folds_tuned_on`), else over all folds (None: a run that
    tuned on every fold)."""
    threshold = "chaque méthode simple sous l'intervalle à 95 % de LightGBM"
    if comparison is None:
        return Check(GROUP, NAME, Status.WARNING, float("nan"), threshold,
                     "Non mesuré : l'entraînement de cette version n'a pas enregistré sa comparaison (report/comparison.csv).")
    at = comparison[(comparison["share"] - capacity_share).abs() < 1e-9]
    folds = sorted({str(fold) for fold in at["fold"]} - {"all"}, key=lambda fold: (len(fold), fold))
    held_out = folds[-1] if tuned_on is not None and len(folds) > tuned_on else None
    judged = at[at["fold"].astype(str) == (held_out or "all")].set_index("model")
    if "lightgbm" not in judged.index:
        return Check(GROUP, NAME, Status.WARNING, float("nan"), threshold,
                     f"Non mesuré : la comparaison de l'entraînement ne donne pas LightGBM à {_share(capacity_share)}.")
    own = judged.loc["lightgbm"]
    low, high = float(own["precision_low"]), float(own["precision_high"])
    simple = judged.drop(index="lightgbm")["precision"].astype(float).sort_values(ascending=False)
    if simple.empty:
        return Check(GROUP, NAME, Status.WARNING, float(own["precision"]), threshold,
                     "Non mesuré : aucune méthode simple dans la comparaison de l'entraînement.")
    better, as_good = simple[simple > high], simple[(simple >= low) & (simple <= high)]
    status = Status.FAILED if len(better) else Status.WARNING if len(as_good) else Status.PASSED
    if len(better):
        verdict = f"{_names(better)} {_does(better)} mieux que le modèle : au-dessus de l'intervalle de LightGBM"
    elif len(as_good):
        verdict = f"{_names(as_good)} {_does(as_good)} aussi bien, à l'incertitude près : dans l'intervalle de LightGBM"
    else:
        verdict = "chaque méthode simple est sous l'intervalle de LightGBM"
    top = f"Précision des {_share(capacity_share)} premiers de chaque région"
    if held_out is None:
        detail = (f"{top} sur les contrôles passés validés hors échantillon, tous plis temporels confondus"
                  f"{_counted(own)} ; Optuna a choisi les paramètres sur ces plis (valeurs optimistes) : "
                  f"{_values(judged)}. {verdict[0].upper()}{verdict[1:]}.")
    else:
        overall = at[at["fold"].astype(str) == "all"].set_index("model")
        pooled = (f" Sur les {len(folds)} plis{_counted(overall.loc['lightgbm'])}, dont {count_fr(tuned_on or 0, 'pli')} où "
                  f"Optuna a choisi les paramètres (valeurs optimistes) : {_values(overall)}."
                  if "lightgbm" in overall.index else "")
        detail = (f"{top} sur le dernier pli temporel (pli {held_out}), resté hors du réglage d'Optuna{_counted(own)} : "
                  f"{_values(judged)}. {verdict[0].upper()}{verdict[1:]}.{pooled}")
    return Check(GROUP, NAME, status, float(own["precision"]), threshold, detail)


TRUTH_NAME = ("Face à la vérité simulée, le modèle fait mieux que les méthodes simples (précision à la capacité de "
              "contrôle, mois des plis de validation)")
ORACLES = ("oracle", "perfect_list")  # ceilings that know the truth, not methods one could use


def truth_baselines_check(over_folds: pd.DataFrame, capacity_share: float) -> Check:
    """The check of LightGBM against each simpler method on the simulated population's truth, month by month of the
    validation folds (the training run's `report/truth_over_folds.csv`: every establishment ranked in its region each
    month, its top share compared with who really abused). Not a sample of inspections: the months are the uncertainty.
    Échec: a simple method with a higher mean precision that beats LightGBM in most months; alerte: a higher mean
    alone; réussi otherwise."""
    threshold = "aucune méthode simple au-dessus de LightGBM en moyenne sur les mois de validation"
    at = over_folds[(over_folds["share"] - capacity_share).abs() < 1e-9]
    by_month = at.pivot_table(index="as_of", columns="model", values="precision", aggfunc="first")
    if "lightgbm" not in by_month:
        return Check(GROUP, TRUTH_NAME, Status.WARNING, float("nan"), threshold,
                     f"Non mesuré : la comparaison à la vérité ne donne pas LightGBM à {_share(capacity_share)}.")
    own = by_month["lightgbm"]
    simple = by_month.drop(columns=["lightgbm", *[m for m in ORACLES if m in by_month]])
    means = simple.mean().sort_values(ascending=False)
    wins = simple.gt(own, axis=0).sum()
    months = len(by_month)
    above = means[means > own.mean()]
    better = above[wins[above.index] > months / 2]
    status = Status.FAILED if len(better) else Status.WARNING if len(above) else Status.PASSED
    listed = " ; ".join(f"{_label(str(model))} {_number(value)} (au-dessus de LightGBM {number_fr(int(wins[model]))} "
                        f"mois sur {number_fr(months)})" for model, value in means.items())
    if len(better):
        verdict = f"{_names(better)} {_does(better)} mieux que le modèle, en moyenne et la plupart des mois"
    elif len(above):
        verdict = f"{_names(above)} {_does(above)} mieux que le modèle en moyenne, mais pas la plupart des mois"
    else:
        verdict = "aucune méthode simple ne fait mieux que le modèle en moyenne"
    detail = (f"Précision moyenne des {_share(capacity_share)} premiers de chaque région face à la vérité de la population "
              f"simulée, sur les {count_fr(months, 'mois', 'mois')} des plis de validation ({by_month.index.min()} à "
              f"{by_month.index.max()}) : LightGBM {_number(float(own.mean()))} ; {listed}. "
              f"{verdict[0].upper()}{verdict[1:]}.")
    return Check(GROUP, TRUTH_NAME, status, float(own.mean()), threshold, detail)


def _values(rows: pd.DataFrame) -> str:
    """LightGBM's precision with its interval, then each simple method's, best first (`rows` indexed by model)."""
    own = rows.loc["lightgbm"]
    simple = rows.drop(index="lightgbm")["precision"].astype(float).sort_values(ascending=False)
    listed = "".join(f" ; {_label(str(model))} {_number(value)}" for model, value in simple.items())
    return (f"LightGBM {_number(float(own['precision']))} [{_number(float(own['precision_low']))} ; "
            f"{_number(float(own['precision_high']))}]{listed}")


def _counted(row: pd.Series) -> str:
    """How many inspections a value counts, « (12 sélectionnés sur 79 contrôles) », when the comparison says so."""
    if "selected" not in row or "n" not in row or pd.isna(row["selected"]) or pd.isna(row["n"]):
        return ""
    return f" ({number_fr(int(row['selected']))} sélectionnés sur {count_fr(int(row['n']), 'contrôle')})"


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
