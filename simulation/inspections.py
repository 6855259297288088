"""Past inspections, chosen the way they really are, and what they change.

Each month after the first six, establishments are inspected after a complaint (likelier where abuse is
intense), at random, or, from March to June, by the national campaign rule (fixed-term and temp-work
share of the last 12 months above the mean of its sector in its region). An inspection finds abuse often
but not always when there was some in the last 12 months, and rarely when there was none. Found abuse
mostly stops within weeks (the chain's current CDD is sometimes converted into a CDI) and later episodes
are mostly deterred.

The rates give about 10% of establishments inspected per year: several times real life, so that the
population carries enough labels to learn from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from simulation.abuse import AbusePlan, Episode
from simulation.calendar import OPEN_FOREVER, Period
from simulation.contracts import ContractColumns
from simulation.population import Establishment
from simulation.random_stream import Stream

log = logging.getLogger("simulation")

FIRST_INSPECTED_MONTH = 6
RANDOM_PER_MONTH = 0.003
CAMPAIGN_PER_MONTH = 0.025  # among establishments above their branch-region mean, March to June
CAMPAIGN_MONTHS = (3, 4, 5, 6)
COMPLAINT_BASE_PER_MONTH = 0.0006
COMPLAINT_PER_INTENSITY = 0.13
FOUND_IF_ABUSED = (0.55, 0.35)  # probability = a + b * intensity
FOUND_IF_HONEST = 0.05
STOPS_AFTER_FINDING = 0.85
DETERRED_AFTER_FINDING = 0.7
CONVERTED_AT_STOP = 0.5
DETERRENCE = 0.3  # latent propensity multiplier after a finding
_REASONS = ("aleatoire", "signalement", "campagne")  # rows of the selection draws, by increasing precedence


@dataclass(frozen=True)
class Inspection:
    establishment: int
    day: int
    abuse_found: bool
    abusing_at_date: bool
    abused_last_12_months: bool
    selection_reason: str  # campagne | signalement | aleatoire


def run_inspections(establishments: list[Establishment], plan: AbusePlan, contracts: ContractColumns,
                    period: Period, stream: Stream) -> tuple[list[Inspection], np.ndarray]:
    """Inspections month by month; stops and deters abuse after findings, editing `plan.episodes` and
    `contracts` in place. Returns the inspections and the month index of each establishment's first finding
    (n_months when none)."""
    n = len(establishments)
    rng = stream.rng
    agency = np.array([e.is_agency for e in establishments])
    branch = np.array([f"{e.sector.key}|{e.region_code}" for e in establishments])
    sector = np.array([e.sector.key for e in establishments])
    last_inspected = np.full(n, -100)
    first_finding = np.full(n, period.n_months)
    inspections: list[Inspection] = []
    episodes_of: dict[int, list[Episode]] = {}
    for episode in plan.episodes:
        episodes_of.setdefault(episode.establishment, []).append(episode)
    campaign_targets = np.zeros(n, dtype=bool)
    for month in range(FIRST_INSPECTED_MONTH, period.n_months):
        month_first, month_last = period.month_start(month), period.month_end(month)
        in_campaign = period.year_month(month)[1] in CAMPAIGN_MONTHS
        if in_campaign and (period.year_month(month)[1] == CAMPAIGN_MONTHS[0] or month == FIRST_INSPECTED_MONTH):
            campaign_targets = _above_branch_mean(contracts, n, branch, sector, month_first) & ~agency
        intensity = _intensity(plan.episodes, n, month_first, month_last)
        probability = np.where(agency, RANDOM_PER_MONTH / 3, RANDOM_PER_MONTH)
        complaint = COMPLAINT_BASE_PER_MONTH + COMPLAINT_PER_INTENSITY * intensity
        campaign = CAMPAIGN_PER_MONTH * (campaign_targets & in_campaign)
        draws = rng.random((3, n))
        chosen = np.vstack([draws[0] < probability, draws[1] < complaint, draws[2] < campaign])
        chosen &= (month - last_inspected >= 12)[None, :]
        for est in np.flatnonzero(chosen.any(axis=0)).tolist():
            reason = _REASONS[np.flatnonzero(chosen[:, est])[-1]]  # campaign, then complaint, name the visit
            day = month_first + int(rng.integers(0, month_last - month_first + 1))
            recent = [e for e in episodes_of.get(est, ()) if not e.dropped and e.start <= day and e.end >= day - 365]
            current = [e for e in recent if e.end >= day]
            if recent:
                a, b = FOUND_IF_ABUSED
                found = rng.random() < a + b * max(e.intensity for e in recent)
            else:
                found = rng.random() < FOUND_IF_HONEST
            inspections.append(Inspection(int(est), day, bool(found), bool(current), bool(recent), str(reason)))
            last_inspected[est] = month
            if found and recent:
                first_finding[est] = min(first_finding[est], month)
                _react(episodes_of.get(est, []), day, contracts, period, rng)
    log.info("%d inspections, %d finding abuse", len(inspections), sum(i.abuse_found for i in inspections))
    return inspections, first_finding


def _intensity(episodes: list[Episode], n: int, first_day: int, last_day: int) -> np.ndarray:
    """Per establishment, the intensity of its abuse during the month (0 when none)."""
    intensity = np.zeros(n)
    for episode in episodes:
        if not episode.dropped and episode.start <= last_day and episode.end >= first_day:
            intensity[episode.establishment] = max(intensity[episode.establishment], episode.intensity)
    return intensity


def _above_branch_mean(contracts: ContractColumns, n: int, branch: np.ndarray, sector: np.ndarray,
                       day: int) -> np.ndarray:
    """The campaign rule: fixed-term + temp share of the headcount-days of the 12 months before `day`
    above the mean of the same sector in the same region (the national sector mean for groups under 3)."""
    window_start = day - 365
    start = np.maximum(contracts.start, window_start)
    end = np.minimum(contracts.end, day - 1)
    days = np.where(~contracts.dropped & (end >= start), end - start + 1, 0)
    converted = (contracts.conversion_day >= 0) & (contracts.conversion_day <= window_start)
    precarious = np.isin(contracts.nature, ("02", "03")) & ~converted
    total = np.bincount(contracts.work, weights=days, minlength=n)
    fixed = np.bincount(contracts.work, weights=days * precarious, minlength=n)
    share = np.divide(fixed, total, out=np.zeros(n), where=total > 0)
    branch_mean, branch_size = _group_mean(share, branch)
    sector_mean, _ = _group_mean(share, sector)
    return share > np.where(branch_size >= 3, branch_mean, sector_mean)


def _group_mean(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the mean of `values` over its group and the size of its group."""
    _, group = np.unique(groups, return_inverse=True)
    size = np.bincount(group)
    return (np.bincount(group, weights=values) / size)[group], size[group]


def _react(episodes: list[Episode], day: int, contracts: ContractColumns, period: Period,
           rng: np.random.Generator) -> None:
    """After a finding: current episodes mostly stop within weeks, later ones are mostly deterred."""
    for episode in episodes:
        if episode.dropped or episode.end < day:
            continue
        if episode.start > day:
            if rng.random() < DETERRED_AFTER_FINDING:
                episode.dropped = True
                contracts.dropped[contracts.episode == episode.id] = True
            continue
        if rng.random() < STOPS_AFTER_FINDING:
            stop = day + int(rng.integers(15, 76))
            if stop < episode.end:
                episode.end = stop
                _stop_contracts(episode, stop, contracts, period, rng)


def _stop_contracts(episode: Episode, stop: int, contracts: ContractColumns, period: Period,
                    rng: np.random.Generator) -> None:
    """Contracts of a stopped episode: later ones never happen; a running CDD of a permanent-post chain is
    converted into CDI, other running ones end at their current planned end."""
    rows = np.flatnonzero((contracts.episode == episode.id) & ~contracts.dropped)
    for row in rows:
        start = contracts.start[row]
        if start > stop:
            contracts.dropped[row] = True
            continue
        if contracts.end[row] < stop:
            continue
        n_versions = contracts.n_versions[row]
        versions = contracts.versions[row, :n_versions]
        if (episode.kind == "poste_permanent" and contracts.nature[row] == "02" and stop <= period.last_day
                and period.month_index(stop) > period.month_index(start) and rng.random() < CONVERTED_AT_STOP):
            kept = versions[versions < stop]
            keep = max(1, len(kept))
            contracts.versions[row, keep:] = -1
            contracts.n_versions[row] = keep
            contracts.conversion_day[row] = stop
            contracts.nature_final[row] = "01"
            contracts.end[row] = OPEN_FOREVER
            contracts.end_motif[row] = ""
            contracts.origin[row] = "abus_poste_permanent_requalifie"
            continue
        current = min(int(np.searchsorted(versions, stop)), n_versions - 1)  # the planned end in force at the stop
        contracts.end[row] = versions[current]
        contracts.versions[row, current + 1:] = -1
        contracts.n_versions[row] = current + 1
