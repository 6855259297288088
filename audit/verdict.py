"""The audit's checks and its verdict: every check has a status (réussi, alerte, échec) and a group;
the verdict counts each status and takes the worst.

What evaluators read (names, thresholds, details, the verdict) is in French.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.french import count_fr


class Status(StrEnum):
    """The outcome of one check, in the words of the report."""

    PASSED = "réussi"
    WARNING = "alerte"
    FAILED = "échec"


SEVERITY = {Status.PASSED: 0, Status.WARNING: 1, Status.FAILED: 2}

GROUPS = {
    "performance": "Valeur du modèle",
    "explanations": "Explications",
    "fairness": "Équité",
    "drift": "Dérive des données",
    "selection_bias": "Biais de sélection",
    "rules": "Règles de droit",
}


@dataclass(frozen=True)
class Check:
    """One line of the verdict: which group, what was measured, against which threshold, the status."""

    group: str  # a key of GROUPS
    name: str
    status: Status
    value: float
    threshold: str
    detail: str
    counts: bool = False  # the value is a number of things (shown without decimals), not a measure

    @property
    def passed(self) -> bool:
        """A check passes unless it failed (an alert passes, and asks to be read)."""
        return self.status is not Status.FAILED


def worst(statuses: list[Status]) -> Status:
    """The most severe of the statuses (réussi when there are none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.PASSED)


@dataclass(frozen=True)
class Verdict:
    """The whole audit's outcome: the worst status and how many checks ended in each."""

    status: Status
    counts: dict[Status, int]
    total: int

    @property
    def headline(self) -> str:
        """'Verdict : échec — 18 contrôles : 11 réussis, 5 alertes, 2 échecs'."""
        word = {Status.PASSED: "réussi", Status.WARNING: "réussi avec alertes", Status.FAILED: "échec"}[self.status]
        parts = [count_fr(self.counts[s], singular, plural) for s, (singular, plural) in _COUNT_WORDS.items()]
        return f"Verdict : {word} — {count_fr(self.total, 'contrôle')} : {', '.join(parts)}"


_COUNT_WORDS = {
    Status.PASSED: ("réussi", "réussis"), Status.WARNING: ("alerte", "alertes"), Status.FAILED: ("échec", "échecs"),
}


def verdict_of(checks: list[Check]) -> Verdict:
    """Count the checks by status; the verdict is the worst of them."""
    counts = {status: sum(check.status is status for check in checks) for status in Status}
    return Verdict(worst([check.status for check in checks]), counts, len(checks))


def by_group(checks: list[Check]) -> list[tuple[str, list[Check], Status]]:
    """The checks under each group's French title, in the order of GROUPS, with the group's worst status."""
    out = []
    for key, title in GROUPS.items():
        members = [check for check in checks if check.group == key]
        if members:
            out.append((title, members, worst([check.status for check in members])))
    return out


def verdict_lines(checks: list[Check]) -> list[str]:
    """The verdict block as text: the headline, then each group with its checks and their statuses."""
    lines = [verdict_of(checks).headline]
    for title, members, _ in by_group(checks):
        counts = verdict_of(members).counts
        lines.append(f"{title} ({', '.join(count_fr(counts[s], *words) for s, words in _COUNT_WORDS.items() if counts[s])})")
        lines += [f"  [{check.status.value}] {check.name} — {check.detail}" for check in members]
    return lines
