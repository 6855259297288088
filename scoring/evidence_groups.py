"""The evidence of one establishment as an inspector reads it: per rule and post, one sentence that says
what is wrong, with the contracts under it.

« 1 poste de « préparateur commande » tenu toute l'année par 40 contrats courts successifs (L1251-5) »
instead of forty rows. Groups come in the order of the rules, then of their number of established
and probable findings; the findings to check on site are counted in their group's sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.rules import CONFIDENCE_LEVELS, ESTABLISHED, PROBABLE, RULES, TO_CHECK

_ORDER = {rule.id: i for i, rule in enumerate(RULES)}
_CONFIDENCE_RANK = {level: i for i, level in enumerate(CONFIDENCE_LEVELS)}


@dataclass(frozen=True)
class EvidenceGroup:
    """The findings of one rule on one post of one establishment."""

    rule: str
    post: str
    summary_fr: str
    rows: pd.DataFrame  # the evidence rows, established first, then probable, then to check on site


def _plural(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _what(rule: str, rows: pd.DataFrame, post: str) -> str:
    """The sentence of one group, without its article and confidence."""
    n = len(rows)
    job = f"« {post} »"
    if rule == "carence":
        posts = int(rows["post_no"].nunique())
        where = f"sur {_plural(posts, 'poste', 'postes')} de {job}" if posts else f"sur le poste {job}"
        return f"{_plural(n, 'contrat', 'contrats')} {where} sans respect du délai de carence"
    if rule == "poste_permanent":
        posts = rows["posts_concerned"].max()
        held = f"{_plural(int(posts), 'poste', 'postes')} de {job}" if pd.notna(posts) else f"le poste {job}"
        verb = "tenus" if pd.notna(posts) and int(posts) > 1 else "tenu"
        return f"{held} {verb} toute l'année par {_plural(n, 'contrat court', 'contrats courts')} successifs"
    if rule == "renouvellements":
        return f"{_plural(n, 'contrat', 'contrats')} de {job} renouvelés au-delà du nombre autorisé"
    if rule == "duree_max":
        return f"{_plural(n, 'salarié', 'salariés')} en contrats courts sur {job} au-delà de la durée maximale"
    if rule == "remplacement_sans_absence":
        return f"{_plural(n, 'contrat', 'contrats')} de remplacement sur {job} sans absence déclarée sur ce poste"
    if rule == "usage_hors_secteur":
        return f"{_plural(n, 'CDD', 'CDD')} d'usage sur {job} hors des secteurs autorisés"
    return f"{_plural(n, 'élément', 'éléments')} sur {job}"


def _confidence_fr(rows: pd.DataFrame) -> str:
    counts = rows["confidence"].value_counts()
    parts = [f"{counts[level]} {label}" for level, label in (
        (ESTABLISHED, "établi" if counts.get(ESTABLISHED, 0) == 1 else "établis"),
        (PROBABLE, "probable" if counts.get(PROBABLE, 0) == 1 else "probables"),
        (TO_CHECK, "à vérifier sur place"),
    ) if counts.get(level, 0)]
    return ", ".join(parts)


def group_evidence(evidence: pd.DataFrame) -> list[EvidenceGroup]:
    """The evidence rows of one establishment grouped by rule and post, each with its sentence."""
    if evidence.empty:
        return []
    rows = evidence.assign(
        post=evidence["post"].fillna("non renseigné"),
        _confidence=evidence["confidence"].map(_CONFIDENCE_RANK).fillna(len(_CONFIDENCE_RANK)),
    )
    groups = []
    for (rule, post), found in rows.groupby(["rule", "post"], sort=False):
        found = found.sort_values(["_confidence", "event_date"], kind="stable").drop(columns="_confidence")
        articles = found["article"].dropna().astype(str).value_counts().index.tolist()
        article = f" ({', '.join(articles)})" if articles else ""
        summary = f"{_what(str(rule), found, str(post))}{article} : {_confidence_fr(found)}"
        scored = int(found["confidence"].isin((ESTABLISHED, PROBABLE)).sum())
        groups.append((_ORDER.get(str(rule), len(_ORDER)), -scored, str(post), EvidenceGroup(
            str(rule), str(post), summary, found.reset_index(drop=True))))
    return [group for *_, group in sorted(groups, key=lambda item: item[:3])]
