"""How well each legal-rule check finds the truly abusive contracts of a simulated population (evaluation only).

A finding is matched to the truth by its contract as the DSN declares it: the declaring SIRET, the
contract number (S21.G00.40.009) and the start date. A finding is correct when the simulated truth
says that this contract broke the rule the finding names (`truth/contracts.parquet`, `rules_broken`;
for a lasting job, also `lasting_job`: the law read on the true posts and dates, whatever the intent).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.months import add_months, month_end
from features.rules import CONFIDENCE_LEVELS, RULES, SCORED_CONFIDENCE

# The truth's names of what each check looks for (simulation/contracts.py RULE_BIT): a finding is correct
# when its contract has one of them.
TRUTH_RULES: dict[str, tuple[str, ...]] = {
    "carence": ("carence",),
    "renouvellements": ("renouvellements",),
    "duree_max": ("duree_max",),
    "remplacement_sans_absence": ("faux_remplacement",),
    "usage_hors_secteur": ("usage_hors_secteur",),
    "poste_permanent": ("poste_permanent", "interim_poste_permanent", "lasting_job"),
}
# What recall counts, where it is narrower: the contracts of an abusive chain on a permanent post are all marked
# by the episode that made them, but only those that held a job all year in the window are a lasting job that
# the DSN can show (`lasting_job`: the law read on the true posts and dates).
FINDABLE_RULES: dict[str, tuple[str, ...]] = {**TRUTH_RULES, "poste_permanent": ("lasting_job",)}
# The date that places a truly abusive contract in the window of the check: its start for the rules about
# how a contract began, any day of it for the rules about how long it lasted.
_BY_START = ("carence", "remplacement_sans_absence", "usage_hors_secteur")
SCORED = "établies et probables"
EVERY_LEVEL = "toutes"


_TRUTH_COLUMNS = ["siret", "work_siret", "contract_number", "start_date", "end_date", "in_dsn", "rules_broken",
                  "lasting_job"]


def _truth_contracts(truth: Path) -> pd.DataFrame:
    path = truth / "contracts.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no simulated truth there (`champollion simulate --out DIR` writes DIR/truth)")
    missing = sorted(set(_TRUTH_COLUMNS) - set(pq.read_schema(path).names))
    if missing:
        raise ValueError(f"{path} lacks {missing}: it was written by an older simulator; simulate the population again")
    contracts = pd.read_parquet(path, columns=_TRUTH_COLUMNS)
    contracts["start_date"] = pd.to_datetime(contracts["start_date"])
    contracts["end_date"] = pd.to_datetime(contracts["end_date"])
    contracts["rules_broken"] = contracts["rules_broken"].fillna("")
    lasting = contracts["lasting_job"].fillna(False).astype(bool)
    contracts.loc[lasting, "rules_broken"] = contracts.loc[lasting, "rules_broken"] + ",lasting_job"
    return contracts[contracts["in_dsn"]].reset_index(drop=True)


def _findable(contracts: pd.DataFrame, rule: str, window_start: pd.Timestamp, as_of_end: pd.Timestamp) -> pd.Series:
    """Truth contracts that break `rule` and that a check as of the month can see in its window."""
    broken = contracts["rules_broken"].str.split(",").apply(lambda names: bool(set(names) & set(FINDABLE_RULES[rule])))
    started = contracts["start_date"] <= as_of_end
    if rule in _BY_START:
        return broken & started & (contracts["start_date"] >= window_start)
    running = contracts["end_date"].isna() | (contracts["end_date"] >= window_start)
    return broken & started & running


def rules_against_truth(evidence: pd.DataFrame, truth: Path, as_of: date, window_months: int = 12) -> pd.DataFrame:
    """Per rule and confidence level (each level, then established and probable together, then all):
    findings, contract-level precision and recall, establishment-level precision and recall.

    `evidence` is a month's `rule_evidence` (declaring_siret, contract_number, start_date, rule,
    confidence, establishment_siret); `truth` a simulated population's `truth/` folder. Recall counts
    the truly abusive contracts of the window of the month (`FINDABLE_RULES`): started in it for
    carence, replacement and usage, running in it for the others. Establishment level: an establishment is flagged by a
    rule when it has a finding of that rule, and truly concerned when one of its contracts (counted
    where the work is done) is findable.
    """
    window_start = pd.Timestamp(add_months(as_of.replace(day=1), 1 - window_months))
    as_of_end = pd.Timestamp(month_end(as_of))
    contracts = _truth_contracts(truth)
    found = evidence.assign(start_date=pd.to_datetime(evidence["start_date"]))
    keyed = found.merge(
        contracts[["siret", "contract_number", "start_date", "rules_broken"]].rename(columns={"siret": "declaring_siret"}),
        on=["declaring_siret", "contract_number", "start_date"], how="left",
    )
    keyed["rules_broken"] = keyed["rules_broken"].fillna("")
    rows = []
    for rule in RULES:
        names = set(TRUTH_RULES[rule.id])
        of_rule = keyed[keyed["rule"] == rule.id]
        correct = of_rule["rules_broken"].str.split(",").apply(lambda broken, names=names: bool(set(broken) & names))
        findable = contracts[_findable(contracts, rule.id, window_start, as_of_end)]
        abusive_places = set(findable["work_siret"])
        levels = [*((level,) for level in CONFIDENCE_LEVELS), SCORED_CONFIDENCE, CONFIDENCE_LEVELS]
        for level in levels:
            chosen = of_rule["confidence"].isin(level)
            label = level[0] if len(level) == 1 else (SCORED if level == SCORED_CONFIDENCE else EVERY_LEVEL)
            contracts_found = of_rule.loc[chosen, ["declaring_siret", "contract_number", "start_date"]].drop_duplicates()
            hit = findable.merge(contracts_found.rename(columns={"declaring_siret": "siret"}),
                                 on=["siret", "contract_number", "start_date"], how="inner")
            flagged_places = set(of_rule.loc[chosen, "establishment_siret"])
            rows.append({
                "rule": rule.id, "confidence": label, "findings": int(chosen.sum()),
                "contract_precision": float(correct[chosen].mean()) if chosen.any() else np.nan,
                "contract_recall": len(hit) / len(findable) if len(findable) else np.nan,
                "abusive_contracts": len(findable),
                "establishments_flagged": len(flagged_places),
                "establishment_precision": (len(flagged_places & abusive_places) / len(flagged_places)
                                            if flagged_places else np.nan),
                "establishment_recall": (len(flagged_places & abusive_places) / len(abusive_places)
                                         if abusive_places else np.nan),
            })
    return pd.DataFrame(rows)
