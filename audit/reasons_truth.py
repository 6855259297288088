"""Whether the lines of the month's list hold up against the simulated truth whatever fact leads them.

A list can rank well overall while the lines led by one fact (one the model learned from which establishments were
inspected rather than from which abused) are no better than a draw at random. With `--truth`, the listed lines (not
those drawn at random for exploration) are grouped by their first reason; a group of at least `min_outcomes` lines
whose exact 95 % interval reaches down to the share of abusing establishments among all those scored is no better
than chance, and the check asks to be read.
"""

from __future__ import annotations

import pandas as pd

from audit.verdict import Check, Status
from core.french import count_fr, percent_fr
from core.scoring_config import AuditConfig
from scoring.reasons import reason_label
from training.metrics import exact_binomial_interval

NAME = "Les lignes de la liste tiennent face à la vérité simulée, quelle que soit leur raison principale"
NO_REASON = "(aucune raison)"


def precision_by_reason(ranked: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    """Per first reason of the listed lines (exploration left out): reason, label, lines, abusing, precision, low,
    high (exact 95 %), the most lines first. `truth`: 0/1 abuse of the month by SIRET."""
    listed = ranked[ranked["in_list"].astype(bool).to_numpy() & ~ranked["exploration"].astype(bool).to_numpy()]
    frame = pd.DataFrame({
        "reason": listed["reason_1_feature"].fillna("").astype(str).replace("", NO_REASON).to_numpy(),
        "abusing": listed["siret"].astype(str).map(truth).to_numpy(dtype="float64"),
    }).dropna()
    rows = []
    for reason, part in frame.groupby("reason", sort=False):
        hits, lines = int(part["abusing"].sum()), len(part)
        low, high = exact_binomial_interval(hits, lines)
        rows.append({"reason": reason, "label": reason if reason == NO_REASON else reason_label(str(reason)),
                     "lines": lines, "abusing": hits, "precision": hits / lines, "low": low, "high": high})
    columns = ["reason", "label", "lines", "abusing", "precision", "low", "high"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["lines", "reason"], ascending=[False, True], ignore_index=True)


def reason_truth_check(table: pd.DataFrame, base_rate: float, settings: AuditConfig) -> Check:
    """The check of `precision_by_reason` against `base_rate`, the share of abusing establishments among all scored."""
    threshold = f"précision des lignes de chaque raison principale (au moins {settings.min_outcomes} lignes) au-dessus du hasard"
    measured = table[table["lines"] >= settings.min_outcomes]
    chance = f"la part d'établissements en abus ce mois parmi tous ceux classés, {percent_fr(base_rate)}"
    if measured.empty:
        return Check("performance", NAME, Status.WARNING, float("nan"), threshold,
                     f"Non mesuré : aucune raison principale ne mène {settings.min_outcomes} lignes de la liste.")
    weak = measured[measured["low"] <= base_rate]
    share = float(weak["lines"].sum() / table["lines"].sum())
    lines, abusing = int(table["lines"].sum()), int(table["abusing"].sum())
    low, high = exact_binomial_interval(abusing, lines)
    whole = (f"Les {count_fr(lines, 'ligne')} de la liste classées par le score (hors tirage d'exploration) : "
             f"{percent_fr(abusing / lines)} en abus [{percent_fr(low)} ; {percent_fr(high)}]. ")
    shown = whole + " ; ".join(f"« {r.label} » : {count_fr(int(r.lines), 'ligne')}, {percent_fr(r.precision)} en abus "
                      f"[{percent_fr(r.low)} ; {percent_fr(r.high)}]" for r in measured.itertuples(index=False))
    if weak.empty:
        return Check("performance", NAME, Status.PASSED, share, threshold,
                     f"{shown}. Chaque raison fait mieux que {chance}.")
    named = ", ".join(f"« {label} »" for label in weak["label"])
    return Check("performance", NAME, Status.WARNING, share, threshold,
                 f"{shown}. Les lignes menées par {named} ({percent_fr(share)} des lignes classées par le score, hors "
                 f"tirage d'exploration) ne font pas "
                 f"mieux, à l'incertitude près, que {chance} : leur intervalle l'atteint. Le modèle a pu apprendre "
                 "ce fait de la façon dont les établissements étaient choisis pour être contrôlés, non de l'abus.")
