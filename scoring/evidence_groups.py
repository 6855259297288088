"""The evidence of one establishment as an inspector reads it: per rule and post, one sentence that says
what is wrong, with the contracts under it.

« 40 contrats sur 1 poste de « préparateur commande » tenu toute l'année par des contrats courts (L1251-5) »
instead of forty rows. Groups come in the order of the rules, then of their number of established
and probable findings; the findings to check on site are counted in their group's sentence.

`grouped_evidence` groups the evidence of many establishments (a region's listed lines) in one pass, with
column-wise pandas operations and a Python loop over the groups only; `group_evidence` is the same for one
establishment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.rules import CONFIDENCE_LEVELS, ESTABLISHED, PROBABLE, RULES, TO_CHECK

_ORDER = {rule.id: i for i, rule in enumerate(RULES)}
_LABELS = {rule.id: rule.label_fr for rule in RULES}
_CONFIDENCE_RANK = {level: i for i, level in enumerate(CONFIDENCE_LEVELS)}
MISSING_POST = "non renseigné"
# A duree_max finding over several contracts: the maximum is that of one contract with its renewals (L1242-8,
# L1251-12), so what it shows is a succession to check on site, not a contract past the maximum.
SUCCESSION_LABEL_FR = "Succession de contrats sur un même poste"


def successions(evidence: pd.DataFrame) -> np.ndarray:
    """Which evidence rows are duree_max findings over several contracts (`features.rules`: their related contract is
    the chain's first; `succession` when the rows carry no contract id, as an explanation's)."""
    if "succession" in evidence.columns:
        return evidence["succession"].to_numpy(dtype=bool)
    if "related_contract_id" not in evidence.columns:
        return np.zeros(len(evidence), dtype=bool)
    return ((evidence["rule"] == "duree_max") & evidence["related_contract_id"].notna()).to_numpy(dtype=bool)


def rule_labels(evidence: pd.DataFrame) -> list[str]:
    """Each evidence row's rule in French: its rule's label, a succession's (`successions`) for one."""
    labels = [_LABELS.get(str(rule), str(rule)) for rule in evidence["rule"]]
    return [SUCCESSION_LABEL_FR if several else label
            for label, several in zip(labels, successions(evidence), strict=True)]


@dataclass(frozen=True)
class EvidenceGroup:
    """The findings of one rule on one post of one establishment."""

    rule: str
    post: str
    summary_fr: str
    rows: pd.DataFrame  # the evidence rows, established first, then probable, then to check on site


@dataclass(frozen=True)
class GroupedEvidence:
    """The evidence of many establishments in reading order: by key (e.g. list position), then group by group.

    `rows` are the evidence rows (missing posts shown as « non renseigné ») in that order, with a fresh index;
    `groups` has one row per group, in the same order: the key, `rule`, `post`, `summary_fr`, and `start` and
    `stop`, the group's slice of `rows`."""

    rows: pd.DataFrame
    groups: pd.DataFrame

    def of(self, position: int) -> EvidenceGroup:
        """The group at `position` of `groups`, with its rows."""
        group = self.groups.iloc[position]
        rows = self.rows.iloc[int(group["start"]):int(group["stop"])].reset_index(drop=True)
        return EvidenceGroup(str(group["rule"]), str(group["post"]), str(group["summary_fr"]), rows)


def _plural(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _what(rule: str, n: int, post: str, distinct_posts: int, posts_concerned: Any, several: int) -> str:
    """The sentence of one group of `n` findings, without its article and confidence. `distinct_posts`: the
    numbers of the posts (`post_no`) the findings name; `posts_concerned`: the largest count of posts held;
    `several`: the findings about a succession of contracts (`successions`)."""
    job = f"« {post} »"
    if rule == "carence":
        where = (f"sur {_plural(distinct_posts, 'poste', 'postes')} de {job}" if distinct_posts
                 else f"sur le poste {job}")
        return f"{_plural(n, 'contrat', 'contrats')} {where} sans respect du délai de carence"
    if rule == "poste_permanent":
        known = pd.notna(posts_concerned)
        # The findings are the contracts found on the posts, not every contract that held them (the finding's own
        # sentence counts those): « 2 contrats sur 1 poste » is what the rows under the sentence show.
        held = f"{_plural(int(posts_concerned), 'poste', 'postes')} de {job}" if known else f"le poste {job}"
        verb = "tenus" if known and int(posts_concerned) > 1 else "tenu"
        return f"{_plural(n, 'contrat', 'contrats')} sur {held} {verb} toute l'année par des contrats courts"
    if rule == "renouvellements":
        return (f"{_plural(n, 'contrat', 'contrats')} de {job} {'renouvelé' if n == 1 else 'renouvelés'} "
                "au-delà du nombre autorisé")
    if rule == "duree_max":
        single = f"{_plural(n - several, 'contrat', 'contrats')} de {job} au-delà de la durée maximale, renouvellements inclus"
        chains = f"{_plural(several, 'succession', 'successions')} de contrats d'un même salarié"
        if not several:
            return single
        return f"{single}, et {chains} au-delà de cette durée" if n > several else (
            f"{chains} sur {job} au-delà de la durée maximale d'un contrat")
    if rule == "remplacement_sans_absence":
        return f"{_plural(n, 'contrat', 'contrats')} de remplacement sur {job} sans absence déclarée sur ce poste"
    if rule == "usage_hors_secteur":
        return f"{_plural(n, 'CDD', 'CDD')} d'usage sur {job} hors des secteurs autorisés"
    return f"{_plural(n, 'élément', 'éléments')} sur {job}"


def _confidence_fr(established: int, probable: int, to_check: int) -> str:
    parts = [f"{count} {label}" for count, label in (
        (established, "établi" if established == 1 else "établis"),
        (probable, "probable" if probable == 1 else "probables"),
        (to_check, "à vérifier sur place"),
    ) if count]
    return ", ".join(parts)


def _articles(rows: pd.DataFrame) -> dict[int, str]:
    """Group -> its articles, the most cited first (ties: in reading order), e.g. ' (L1244-3, L1251-36)'."""
    cited = pd.DataFrame({"_group": rows["_group"].to_numpy(), "article": rows["article"]}).dropna()
    if cited.empty:
        return {}
    cited["article"] = cited["article"].astype(str)
    cited["_first"] = np.arange(len(cited))
    counts = cited.groupby(["_group", "article"], sort=False).agg(n=("_first", "size"), first=("_first", "min"))
    counts = counts.reset_index().sort_values(["_group", "n", "first"], ascending=[True, False, True])
    articles: dict[int, list[str]] = {}
    for group, article in zip(counts["_group"].tolist(), counts["article"].tolist(), strict=True):
        articles.setdefault(group, []).append(article)
    return {group: f" ({', '.join(found)})" for group, found in articles.items()}


def grouped_evidence(evidence: pd.DataFrame, key: str) -> GroupedEvidence:
    """The evidence rows of many establishments grouped by `key` (one value per establishment: SIRET or list
    position; rows without one are left out), then by rule and post, each group with its sentence.

    Keys come in ascending order; within a key, groups in the order of the rules, then of their number of
    established and probable findings, then of their post; within a group, established findings first,
    then probable, then to check on site, each by date."""
    rows = evidence.assign(
        post=evidence["post"].fillna(MISSING_POST),
        _confidence=evidence["confidence"].map(_CONFIDENCE_RANK).fillna(len(_CONFIDENCE_RANK)),
        _scored=evidence["confidence"].isin((ESTABLISHED, PROBABLE)).to_numpy(),
        _succession=successions(evidence),
        _position=np.arange(len(evidence)),
    )
    rows = rows[rows[key].notna().to_numpy() & rows["rule"].notna().to_numpy()]
    if rows.empty:
        columns = [key, "rule", "post", "summary_fr", "start", "stop"]
        return GroupedEvidence(rows.drop(columns=["_confidence", "_scored", "_succession", "_position"])
                               .reset_index(drop=True),
                               pd.DataFrame({c: pd.Series(dtype="object") for c in columns}))
    # Groups numbered in order of first appearance: the tie-break of groups with the same rule rank, count and post.
    rows["_group"] = rows.groupby([key, "rule", "post"], sort=False).ngroup().to_numpy()
    by_group = rows.groupby("_group", sort=True)
    groups = pd.DataFrame({
        key: by_group[key].first(),
        "rule": by_group["rule"].first(),
        "post": by_group["post"].first(),
        "n": by_group.size(),
        "scored": by_group["_scored"].sum(),
        "several": by_group["_succession"].sum(),
        "distinct_posts": by_group["post_no"].nunique() if "post_no" in rows else 0,
        "posts_concerned": by_group["posts_concerned"].max() if "posts_concerned" in rows else np.nan,
        **{level: (rows["confidence"] == level).groupby(rows["_group"]).sum() for level in CONFIDENCE_LEVELS},
    })
    groups["_rule_rank"] = groups["rule"].astype(str).map(_ORDER).fillna(len(_ORDER)).to_numpy()
    groups["_post_text"] = groups["post"].astype(str)
    groups["_minus_scored"] = -groups["scored"]
    groups = groups.rename_axis(None)
    groups["_group"] = groups.index
    group_order = groups.sort_values([key, "_rule_rank", "_minus_scored", "_post_text", "_group"]).index
    rank = pd.Series(np.arange(len(group_order)), index=group_order)
    rows["_group_rank"] = rank.reindex(rows["_group"]).to_numpy()
    rows = rows.sort_values(["_group_rank", "_confidence", "event_date", "_position"], kind="stable")
    groups = groups.loc[group_order]
    articles = _articles(rows)
    sizes = groups["n"].to_numpy()
    stops = np.cumsum(sizes)
    summaries = [
        f"{_what(str(rule), int(n), str(post), int(distinct), concerned, int(several))}{articles.get(int(group), '')} : "
        f"{_confidence_fr(int(established), int(probable), int(to_check))}"
        for group, rule, n, post, distinct, concerned, several, established, probable, to_check in zip(
            groups.index, groups["rule"], sizes, groups["post"], groups["distinct_posts"], groups["posts_concerned"],
            groups["several"], groups[ESTABLISHED], groups[PROBABLE], groups[TO_CHECK], strict=True)
    ]
    table = pd.DataFrame({key: groups[key].to_numpy(), "rule": groups["rule"].astype(str).to_numpy(),
                          "post": groups["_post_text"].to_numpy(), "summary_fr": summaries,
                          "start": stops - sizes, "stop": stops})
    kept = rows.drop(columns=["_confidence", "_scored", "_succession", "_position", "_group", "_group_rank"])
    kept = kept.reset_index(drop=True)
    return GroupedEvidence(kept, table)


def group_evidence(evidence: pd.DataFrame) -> list[EvidenceGroup]:
    """The evidence rows of one establishment grouped by rule and post, each with its sentence."""
    if evidence.empty:
        return []
    grouped = grouped_evidence(evidence.assign(_establishment=0), "_establishment")
    return [EvidenceGroup(g.rule, g.post, g.summary_fr, g.rows.drop(columns="_establishment"))
            for g in (grouped.of(i) for i in range(len(grouped.groups)))]
