"""The legal-rule evidence inspectors read line by line, measured against a simulated population's
truth (`features.validation.rules_against_truth`), as one check per rule."""

from __future__ import annotations

import pandas as pd

from audit.verdict import Check, Status
from core.french import count_fr, number_fr, percent_fr
from core.scoring_config import AuditConfig
from features.rules import RULES
from features.validation import SCORED

RULE_LABELS = {rule.id: rule.label_fr for rule in RULES}


def rule_checks(accuracy: pd.DataFrame, settings: AuditConfig) -> list[Check]:
    """Per rule, the contract-level precision of its established and probable findings (those that feed
    the lists' reasons): échec below `min_rule_precision`, alerte below `rule_precision_alert`. A rule
    with no finding while the truth holds abusive contracts is an alert (nothing to measure)."""
    threshold = (f"précision ≥ {number_fr(settings.rule_precision_alert, 2)} (alerte), "
                 f"≥ {number_fr(settings.min_rule_precision, 2)} (échec)")
    checks = []
    for row in accuracy[accuracy["confidence"] == SCORED].itertuples(index=False):
        name = f"Règle « {RULE_LABELS.get(row.rule, row.rule)} » : précision des constats établis et probables"
        recall = (f", rappel {percent_fr(row.contract_recall)} sur "
                  f"{count_fr(int(row.abusive_contracts), 'contrat abusif', 'contrats abusifs')}"
                  if not pd.isna(row.contract_recall) else "")
        if row.findings == 0:
            status = Status.WARNING if row.abusive_contracts else Status.PASSED
            checks.append(Check("rules", name, status, float("nan"), threshold,
                                f"aucun constat{recall}"))
            continue
        precision = float(row.contract_precision)
        status = (Status.FAILED if precision < settings.min_rule_precision
                  else Status.WARNING if precision < settings.rule_precision_alert else Status.PASSED)
        shown = _percent_below(precision, (settings.rule_precision_alert, settings.min_rule_precision))
        checks.append(Check("rules", name, status, precision, threshold,
                            f"{shown} justes sur {count_fr(int(row.findings), 'constat')}{recall}"))
    return checks


def _percent_below(share: float, thresholds: tuple[float, ...]) -> str:
    """`share` as a French percentage with one decimal, or more where fewer would round it up onto a threshold it
    is below (284 of 299 findings, 94,98 %, below 95 %, read « 95,0 % » beside its alert)."""
    decimals = 1
    while decimals < 4 and any(share < limit <= round(share, decimals + 2) for limit in thresholds):
        decimals += 1
    return percent_fr(share, decimals)
