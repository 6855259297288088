"""Rules checked on the generated dates and codes (carence, renewals, maximum duration, CDD d'usage
outside D1242-1 sectors), added to the rules each contract breaks by construction."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from core.config import FeaturesConfig
from features.asof import TRAINING_MOTIFS
from features.branch_agreements import required_carence_days
from features.job_posts import EXEMPT_END_MOTIFS, base_holders, base_load, daily_level
from features.rules import NOT_LASTING_MOTIFS
from simulation.calendar import Period, days_waited
from simulation.contracts import RULE_BIT, ContractColumns

MAX_DURATION_DAYS = 548  # 18 months (L1242-8)
# A lasting job (L1242-1, L1251-5) as the features read it by default: the base load of fixed-term contracts a job
# keeps on year_round_share of the last year's days, breaks of at most continuity_gap_days counting as held;
# replacements, seasonal work (features.rules.NOT_LASTING_MOTIFS) and training contracts aside.
_READING = FeaturesConfig()
_NOT_LASTING_MOTIFS = (*NOT_LASTING_MOTIFS, *TRAINING_MOTIFS)
MAX_RENEWALS = 2  # L1243-13


def fixed_term_end(contracts: ContractColumns) -> np.ndarray:
    """Last day as a fixed-term contract: the day before a conversion into CDI, else the end."""
    return np.where(contracts.conversion_day >= 0, contracts.conversion_day - 1, contracts.end)


def renewals_by(contracts: ContractColumns, period: Period) -> np.ndarray:
    """Renewals that took effect before the last declared month (each pushes the planned end into a later
    month; pushes made in the last month are not visible yet)."""
    width = contracts.versions.shape[1]
    previous = contracts.versions[:, : width - 1]
    valid = np.arange(width - 1)[None, :] < (contracts.n_versions - 1)[:, None]
    visible = period.month_index(np.where(previous >= 0, previous, 0)) <= period.n_months - 2
    return (valid & visible).sum(axis=1)


def checked_rules(contracts: ContractColumns, usage_allowed: np.ndarray, carence: np.ndarray,
                  period: Period) -> np.ndarray:
    """Bit flags (contracts.RULE_BIT) of the rules each contract breaks, judging from its dates and codes
    as of the end of the period; `usage_allowed` and `carence` (the branch's rule of the délai de carence,
    features.branch_agreements) are per establishment."""
    fixed_term = np.isin(contracts.nature, ("02", "03"))
    end = np.minimum(fixed_term_end(contracts), period.last_day)
    duration = end - contracts.start + 1
    flags = np.zeros(len(contracts), dtype="int64")
    flags |= np.where(fixed_term & (renewals_by(contracts, period) > MAX_RENEWALS), RULE_BIT["renouvellements"], 0)
    too_long = fixed_term & np.isin(contracts.motif, ("01", "02")) & (duration > MAX_DURATION_DAYS)
    flags |= np.where(too_long, RULE_BIT["duree_max"], 0)
    outside = (contracts.motif == "05") & ~usage_allowed[contracts.work]
    flags |= np.where(outside, RULE_BIT["usage_hors_secteur"], 0)
    flags |= np.where(_carence_violations(contracts, carence), RULE_BIT["carence"], 0)
    return flags


def lasting_job_contracts(contracts: ContractColumns, period: Period) -> np.ndarray:
    """Fixed-term contracts and missions that hold the base load of their job (establishment where the work is
    done, true post) over the last 12 simulated months: the law's lasting job (L1242-1, L1251-5) read on the
    true posts and dates, whatever the intent (an employer whose honest peaks cover a job all year is there too).
    A contract holds the base load when, on at least one day of its own in those months, the job had no more
    such contracts than the number of its posts they held all year; or when it held one of those posts as the
    features hand them over (`features.job_posts.base_holders`: a holder keeps its post until it ends), so that of
    two contracts running side by side most of the year on a job of one post, the post's holder is there too."""
    first = period.month_start(max(0, period.n_months - 12))
    width = period.last_day - first + 1
    end = np.minimum(fixed_term_end(contracts), period.last_day)
    rows = np.flatnonzero(np.isin(contracts.nature, ("02", "03")) & ~np.isin(contracts.motif, _NOT_LASTING_MOTIFS)
                          & ~contracts.dropped & (end >= first) & (contracts.start <= period.last_day))
    found = np.zeros(len(contracts), dtype=bool)
    if len(rows) == 0:
        return found
    rows = rows[np.lexsort((contracts.post[rows], contracts.work[rows]))]
    jobs = contracts.work[rows] * 100_000 + contracts.post[rows]
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(jobs)) + 1, [len(rows)]))
    for low, high in pairwise(bounds):
        job = rows[low:high]
        starts = np.maximum(contracts.start[job], first) - first
        ends = end[job] - first
        level = daily_level(starts, ends, width)
        base, _ = base_load(level, _READING.continuity_gap_days, _READING.year_round_share)
        if base:
            at_base = level <= base
            positions = np.arange(len(job))
            held = base_holders(positions, starts, ends, np.array([f"{row:012d}" for row in job]), base,
                                _READING.continuity_gap_days, width)
            found[job] = [at_base[s: e + 1].any() or held.get(i, 0) > 0
                          for i, s, e in zip(positions.tolist(), starts, ends, strict=True)]
    return found


def _carence_violations(contracts: ContractColumns, carence: np.ndarray) -> np.ndarray:
    """Contracts started on a slot before the waiting period after the previous ATA contract on it was over
    (both motif 02, the previous one neither converted into CDI nor ended early by the employee)."""
    candidates = np.flatnonzero(
        np.isin(contracts.nature, ("02", "03")) & (contracts.slot >= 0) & ~contracts.dropped
    )
    order = candidates[np.lexsort((contracts.start[candidates], contracts.slot[candidates],
                                   contracts.post[candidates], contracts.work[candidates]))]
    previous, following = order[:-1], order[1:]
    same_slot = ((contracts.work[previous] == contracts.work[following])
                 & (contracts.post[previous] == contracts.post[following])
                 & (contracts.slot[previous] == contracts.slot[following]))
    previous_end = fixed_term_end(contracts)[previous]
    applies = (same_slot & (contracts.motif[previous] == "02") & (contracts.motif[following] == "02")
               & (contracts.conversion_day[previous] < 0)
               & ~np.isin(contracts.end_motif[previous], sorted(EXEMPT_END_MOTIFS))
               & (previous_end < contracts.start[following]))
    rule = carence[contracts.work[previous]]  # where the work is done: the user's branch for a mission
    waited = days_waited(previous_end, contracts.start[following], rule)
    required = np.vectorize(required_carence_days, otypes=[np.int64])(previous_end - contracts.start[previous] + 1, rule)
    violation = np.zeros(len(contracts), dtype=bool)
    violation[following[applies & (waited < required)]] = True
    return violation
