"""How the model's inputs moved: population stability index (PSI) of each feature between a reference
population and the audited month, against the training months and against each recent month."""

from __future__ import annotations

import pandas as pd

from audit.checks import LABELS_FR
from audit.metrics import population_stability_index
from audit.verdict import Check, Status
from core.french import count_fr, number_fr
from core.scoring_config import AuditConfig
from features.catalog import CATEGORICAL

TRAINING = "mois d'entraînement"


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> pd.Series:
    """PSI of each feature of `current` against `reference` (categories compared as text)."""
    out = {}
    for feature in features:
        expected, actual = reference[feature], current[feature]
        if feature in CATEGORICAL:
            expected, actual = expected.astype("string"), actual.astype("string")
        out[feature] = population_stability_index(expected, actual)
    return pd.Series(out, name="psi")


def drift_table(references: dict[str, pd.DataFrame], current: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """PSI in long form: one row per feature and reference (in the order given), with the French label."""
    frames = []
    for name, reference in references.items():
        psi = feature_drift(reference, current, features)
        frames.append(pd.DataFrame({"feature": psi.index, "label_fr": [LABELS_FR.get(f, f) for f in psi.index],
                                    "reference": name, "psi": psi.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def drift_check(table: pd.DataFrame, name: str, settings: AuditConfig) -> Check:
    """Échec when a feature's PSI exceeds `psi_threshold` (shifted), alerte above `psi_alert` (moving)."""
    threshold = f"PSI ≤ {number_fr(settings.psi_alert, 2)} (alerte), ≤ {number_fr(settings.psi_threshold, 2)} (échec)"
    if table.empty:
        return Check("drift", name, Status.WARNING, float("nan"), threshold, "aucun mois de référence disponible")
    worst = table.loc[table["psi"].idxmax()]
    shifted = table.loc[table["psi"] > settings.psi_threshold, "feature"].nunique()
    moving = table.loc[table["psi"] > settings.psi_alert, "feature"].nunique()
    status = Status.FAILED if shifted else Status.WARNING if moving else Status.PASSED
    detail = (f"PSI le plus fort {number_fr(worst['psi'], 3)} : « {worst['label_fr']} » ({worst['reference']}) ; "
              f"{count_fr(shifted, 'variable')} au-delà de {number_fr(settings.psi_threshold, 2)}, "
              f"{count_fr(moving, 'variable')} au-delà de {number_fr(settings.psi_alert, 2)}, "
              f"sur {table['feature'].nunique()}")
    return Check("drift", name, status, float(worst["psi"]), threshold, detail)
