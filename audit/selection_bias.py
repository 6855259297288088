"""Selection bias: past inspections were not drawn at random, so what is measured on them may not hold
for the population the lists are drawn from."""

from __future__ import annotations

from audit.verdict import Check, Status
from core.french import number_fr
from core.scoring_config import AuditConfig


def selection_bias_check(propensity_auc: float | None, ipw: str, settings: AuditConfig) -> Check:
    """Alerte when the training run's inspection-propensity model tells inspected establishment-months
    from the others with ROC AUC of `max_propensity_auc` or more (0.5 would be a random draw). This is a
    limit of what the inspections can show, never a failure of the model: no échec."""
    name = "Représentativité des contrôles passés (modèle de propension)"
    threshold = f"AUC < {number_fr(settings.max_propensity_auc, 2)}"
    weighting = "avec" if ipw == "on" else "sans"
    if propensity_auc is None:
        return Check("selection_bias", name, Status.WARNING, float("nan"), threshold,
                     "le run d'entraînement n'a pas mesuré la propension à être contrôlé")
    status = Status.WARNING if propensity_auc >= settings.max_propensity_auc else Status.PASSED
    detail = (f"les établissements contrôlés se distinguent des autres avec une AUC de {number_fr(propensity_auc, 3)} "
              f"(0,5 : tirage au hasard) ; modèle entraîné {weighting} pondération par l'inverse de la propension")
    return Check("selection_bias", name, status, float(propensity_auc), threshold, detail)
