"""The registered model versions as evaluators read them, in French: titles, decimal commas and the verdict on the
simpler models (the registry keeps it in English, for data scientists)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

from web.project import BASELINES, MODEL_LABELS_FR, Interval, against_simpler, number_fr, paris_time_fr

TITLES_FR = {
    "version": "Version", "aliases": "Alias", "created": "Enregistrée le (heure de Paris)", "data_months": "Mois de données",
    "labelled_rows": "Contrôles appris", "trials": "Essais de réglage", "ipw": "Pondération par la propension",
    "objective": "Objectif de réglage", "latest_fold": "Dernier pli de validation",
    "promotion": "Métrique de promotion [intervalle à 95 %]",
    **{baseline: f"{MODEL_LABELS_FR.get(baseline, baseline)[:1].upper()}{MODEL_LABELS_FR.get(baseline, baseline)[1:]}"
       for baseline in BASELINES},
    "verdict": "Face aux méthodes simples", "scores": "Accepté par la notation des listes", "run_id": "Exécution MLflow",
}
OBJECTIVES_FR = {"mean_precision_at_shares": "précision moyenne aux parts contrôlées",
                 "precision_at_k": "précision à la capacité", "average_precision": "précision moyenne (AP)"}
IPW_FR = {"on": "oui", "off": "non"}


def _number(text: Any) -> float | None:
    """A registry tag as a number (None when empty or not one)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _fr(value: float | None, decimals: int = 3) -> str:
    """A value with a decimal comma (empty when missing)."""
    return "" if value is None else number_fr(value, decimals)


def created_fr(text: Any) -> str:
    """The registry's creation time ('YYYY-MM-DD HH:MM', UTC) as the time in Paris; as it is when not such a time."""
    try:
        return paris_time_fr(datetime.strptime(str(text), "%Y-%m-%d %H:%M"))
    except ValueError:
        return "" if text is None or pd.isna(text) else str(text)


def _setting_fr(value: Any) -> str:
    """A setting's value as a French reader reads it: oui / non, aucun, decimal commas, lists joined."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if value is None:
        return "aucun"
    if isinstance(value, float):
        return number_fr(value, 3).rstrip("0").rstrip(",")
    if isinstance(value, list | tuple):
        return ", ".join(_setting_fr(v) for v in value) or "aucun"
    return str(value)


def refusal_fr(refusal: Any) -> str:
    """Whether `champollion score` accepts a version with this code and configuration, in French, and why not
    (`training.workflow.list_models`'s `refusal`: None, or a `features.build.ScoringRefusal`)."""
    if refusal is None:
        return "oui"
    if refusal.unloadable:
        return f"non : le modèle ne peut pas être chargé ({refusal.unloadable.split(':')[0]})"
    if refusal.schema is not None:
        then, now = refusal.schema
        return f"non : appris sur le schéma d'indicateurs {then}, ce code calcule le schéma {now} ; à réentraîner"
    settings = " ; ".join(f"{key} : {_setting_fr(then)} à l'apprentissage, {_setting_fr(now)} dans la configuration"
                          for key, then, now in refusal.settings)
    return f"non : appris sur des indicateurs calculés avec d'autres réglages ({settings})"


def verdict_fr(row: dict[str, Any]) -> str:
    """Whether LightGBM beats the simpler models on its latest fold, in French, from the version's values (empty when
    a value is missing: a version registered before they were kept)."""
    value, low, high = (_number(row.get(k)) for k in ("promotion", "promotion_low", "promotion_high"))
    baselines = {b: v for b in BASELINES if (v := _number(row.get(b))) is not None}
    if value is None or low is None or high is None or not baselines:
        return ""
    better, as_good = against_simpler(baselines, Interval(value, low, high))
    lightgbm = f"LightGBM {_fr(value)} [{_fr(low, 2)} ; {_fr(high, 2)}]"

    def named(kept: list[str]) -> str:
        return ", ".join(f"{MODEL_LABELS_FR.get(name, name)} {_fr(baselines[name])}" for name in kept)

    if better:
        also = f" ; aussi bien : {named(as_good)}" if as_good else ""
        return f"une méthode simple fait mieux : {named(better)}, au-dessus de l'intervalle de {lightgbm}{also}"
    if as_good:
        return f"une méthode simple fait aussi bien : {named(as_good)}, dans l'intervalle de {lightgbm}"
    return f"{lightgbm} fait mieux que chaque méthode simple : toutes sont sous son intervalle"


def versions_fr(versions: pd.DataFrame) -> pd.DataFrame:
    """`training.registry.versions_table` as the models page shows it: French titles and values."""
    if versions.empty:
        return versions
    rows = []
    for row in versions.to_dict("records"):
        value, low, high = (_number(row.get(k)) for k in ("promotion", "promotion_low", "promotion_high"))
        rows.append({
            **row,
            "created": created_fr(row.get("created")),
            "trials": (f"{row.get('trials')} sur {row.get('trials_in_study')}"
                       if row.get("trials_in_study") not in (None, "", row.get("trials")) else row.get("trials", "")),
            "ipw": IPW_FR.get(str(row.get("ipw", "")), row.get("ipw", "")),
            "objective": OBJECTIVES_FR.get(str(row.get("objective", "")), row.get("objective", "")),
            "promotion": (f"{_fr(value)} [{_fr(low, 2)} ; {_fr(high, 2)}]" if None not in (value, low, high) else _fr(value))
                         + (" (mesurée avec l'objectif, la capacité ou les parts de son apprentissage, autres que ceux de "
                            "la configuration)" if row.get("other_metric") else ""),
            **{b: _fr(_number(row.get(b))) for b in BASELINES},
            "verdict": verdict_fr(row),
            "scores": refusal_fr(row.get("refusal")),
        })
    shown = pd.DataFrame(rows).drop(columns=["promotion_low", "promotion_high", "refused", "refusal", "promotion_metric",
                                             "trials_in_study", "promotion_settings", "other_metric"],
                                    errors="ignore")
    after_aliases = list(shown.columns).index("aliases") + 1 if "aliases" in shown.columns else 0
    shown.insert(after_aliases, "scores", shown.pop("scores"))  # next to who is champion
    return shown.rename(columns=TITLES_FR)
