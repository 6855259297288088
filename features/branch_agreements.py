"""Branch agreements that set the délai de carence (L1244-3-1, L1251-36-1), read from
`reference/branch_agreements.csv`: by IDCC, the rule the DSN check applies, how sure that reading is,
and its source.

- `statutory`: the Code du travail's délai (a third of the previous contract's duration from 14 days,
  half of it below, in opening days);
- `quarter_21_calendar`: a quarter of the previous contract's duration, at most 21 calendar days;
- `none`: no délai between two contracts on the same post.

A reading marked `to_check` (the agreement adds cases or changes the délai in ways the table does not
hold) makes every carence finding under it one to check on site, its sentence naming the agreement.
Establishments whose IDCC is not listed follow the statutory rule. Maximum durations and numbers of
renewals are the statutory ones everywhere: none of the agreements listed changes them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

STATUTORY = "statutory"
QUARTER_21_CALENDAR = "quarter_21_calendar"
NO_CARENCE = "none"
BRANCH_AGREEMENTS_FILE = "branch_agreements.csv"


@dataclass(frozen=True)
class BranchRule:
    """How one branch agreement sets the délai de carence."""

    idcc: str
    name_fr: str
    carence: str  # STATUTORY, QUARTER_21_CALENDAR or NO_CARENCE
    sure: bool  # False: findings under it are to check on site
    source_fr: str

    @property
    def calendar_days(self) -> bool:
        """Whether the délai counts calendar days (else the establishment's opening days)."""
        return self.carence == QUARTER_21_CALENDAR


STATUTORY_RULE = BranchRule("", "Code du travail", STATUTORY, True, "L1244-3, L1251-36")


@cache
def branch_rules() -> dict[str, BranchRule]:
    """The branch agreements of `reference/branch_agreements.csv`, by IDCC."""
    text = resources.files("features.reference").joinpath(BRANCH_AGREEMENTS_FILE).read_text(encoding="utf-8")
    rules = {}
    for row in csv.DictReader(text.splitlines()):
        if row["carence"] not in (STATUTORY, QUARTER_21_CALENDAR, NO_CARENCE):
            raise ValueError(f"{BRANCH_AGREEMENTS_FILE}: IDCC {row['idcc']}: unknown carence rule {row['carence']!r}")
        idcc = _key(row["idcc"])
        rules[idcc] = BranchRule(idcc, row["name_fr"], row["carence"], row["reading"] == "sure", row["source_fr"])
    return rules


def _key(idcc: str | None) -> str:
    """IDCC as a key: the DSN writes four characters ('0176'), the agreements' lists often fewer."""
    return (idcc or "").strip().lstrip("0")


def rule_of(idcc: str | None) -> BranchRule:
    """The rule an establishment or contract of that IDCC follows (statutory when not listed)."""
    return branch_rules().get(_key(idcc), STATUTORY_RULE)


def required_carence_days(duration_days: int, carence: str = STATUTORY) -> int:
    """Délai de carence after a contract of `duration_days` calendar days (renewals included), under the rule
    `carence` (a `BranchRule.carence`): statutory, a third of it from 14 days on and half of it below, in
    opening days (L1244-3); a quarter, at most 21 calendar days; or none."""
    if carence == NO_CARENCE:
        return 0
    if carence == QUARTER_21_CALENDAR:
        return min(math.ceil(duration_days / 4), 21)
    return math.ceil(duration_days / 3) if duration_days >= 14 else math.ceil(duration_days / 2)
