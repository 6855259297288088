"""Who abuses, how and when: a latent propensity per establishment and abuse episodes that start and
stop (a two-state monthly Markov chain whose stationary probability is the propensity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.calendar import Period
from simulation.population import Establishment
from simulation.random_stream import Stream, cumulative

HISTORY_MONTHS = 18  # episodes may have started this long before the first declared month
_PROPENSITY_SPREAD = 1.3  # standard deviation of the establishment effect (log-odds)


@dataclass
class Episode:
    """A stretch of time during which an establishment abuses in one way."""

    id: int
    establishment: int
    kind: str  # one of sectors.ABUSE_TYPES
    start: int  # first day
    end: int  # last day (may lie after the period)
    intensity: float  # 0-1: how much of its workforce the abuse touches
    dropped: bool = False  # never happened: deterred by an earlier inspection


@dataclass
class AbusePlan:
    propensity: np.ndarray  # latent stationary probability of abusing, per establishment
    episodes: list[Episode]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ever_share(offset: float, logits: np.ndarray, mean_months: np.ndarray, n_months: int) -> float:
    """Expected share of establishments abusing at least once over n_months, for a given offset."""
    p = _sigmoid(logits + offset)
    onset = np.minimum(0.9, p / np.maximum(1e-9, 1.0 - p) / mean_months)
    return float(np.mean(1.0 - (1.0 - p) * (1.0 - onset) ** (n_months - 1)))


def plan_abuse(establishments: list[Establishment], period: Period, stream: Stream,
               target_share: float) -> AbusePlan:
    """Propensities (by sector, size and an establishment effect), calibrated so that about
    `target_share` of establishments abuse at some point of the period, then the episodes themselves."""
    n = len(establishments)
    rng = stream.rng
    sector_effect = np.array([e.sector.abuse_logit for e in establishments])
    log_size = np.log(np.array([e.size for e in establishments], dtype=float))
    logits = sector_effect + 0.3 * (log_size - 1.5) + _PROPENSITY_SPREAD * rng.standard_normal(n)
    agencies = np.array([e.is_agency for e in establishments])
    mean_months = np.clip(rng.lognormal(np.log(14.0), 0.4, n), 4, 36)
    low, high = -12.0, 4.0
    for _ in range(50):  # bisection: the share rises with the offset
        middle = (low + high) / 2
        if _ever_share(middle, logits[~agencies], mean_months[~agencies], period.n_months) < target_share:
            low = middle
        else:
            high = middle
    propensity = np.where(agencies, 0.0, _sigmoid(logits + (low + high) / 2))
    onset = np.minimum(0.9, propensity / np.maximum(1e-9, 1.0 - propensity) / mean_months)
    stop = 1.0 / mean_months

    kinds = [_kinds_of(e, stream) for e in establishments]
    months = HISTORY_MONTHS + period.n_months
    draws = rng.random((n, months))
    state = rng.random(n) < propensity
    active = np.zeros((n, months), dtype=bool)
    for month in range(months):
        if month:
            state = np.where(state, draws[:, month] >= stop, draws[:, month] < onset)
        active[:, month] = state
    episodes: list[Episode] = []
    for est in np.flatnonzero(active.any(axis=1)):
        row = active[est]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(int), [0]))))
        for first, after in zip(edges[::2], edges[1::2], strict=True):
            first_index, last_index = first - HISTORY_MONTHS, after - 1 - HISTORY_MONTHS
            start = period.month_start(first_index) + stream.integer(0, 27)
            end = period.month_end(last_index) if after < months else period.last_day + 365
            episodes.append(Episode(
                id=len(episodes), establishment=int(est), kind=stream.pick(kinds[est]), start=start, end=end,
                intensity=round(0.15 + 0.85 * float(rng.beta(2.0, 2.5)), 3),
            ))
    return AbusePlan(propensity=propensity, episodes=episodes)


def _kinds_of(establishment: Establishment, stream: Stream) -> tuple[str, ...]:
    """One or two abuse types, drawn from those common in the establishment's sector."""
    options = establishment.sector.abuse_types
    if not options:
        return ()
    weights = cumulative([weight for _, weight in options])
    first = options[stream.pick_weighted(weights)][0]
    second = options[stream.pick_weighted(weights)][0]
    if establishment.agencies == () and "interim_poste_permanent" in (first, second):
        first = second = next((kind for kind, _ in options if kind != "interim_poste_permanent"), first)
    if second == first or stream.chance(0.7):
        return (first,)
    return tuple(sorted((first, second)))


def extend_to_contracts(plan: AbusePlan, episode_of_contract: np.ndarray, contract_end: np.ndarray,
                        kept: np.ndarray) -> None:
    """An episode lasts at least as long as the contracts it created and that still exist."""
    rows = np.flatnonzero((episode_of_contract >= 0) & kept)
    last_end = np.full(len(plan.episodes), -1, dtype="int64")
    np.maximum.at(last_end, episode_of_contract[rows], contract_end[rows])
    for episode in plan.episodes:
        episode.end = max(episode.end, int(last_end[episode.id]))
