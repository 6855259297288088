"""The contracts an abuse episode leaves in the DSN. Traces range from blatant to faint: a large firm
with one permanent post under CDD chains looks much like an honest one."""

from __future__ import annotations

from features.branch_agreements import required_carence_days
from simulation.abuse import Episode
from simulation.calendar import day_after_waiting, first_day_of
from simulation.contracts import FROM_POOL, RULE_BIT
from simulation.employer import Employer

_CHAIN_RENEWALS = [0.4, 0.7, 0.9, 1.0]  # cumulative chances of 0-3 renewals per contract of a chain
_HISTORY_DAYS = 540  # chains that started long before the period are generated from this far back


def generate(emp: Employer, episode: Episode) -> None:
    """Describe the contracts of one episode of `emp`."""
    GENERATORS[episode.kind](emp, episode)


def _window(emp: Employer, episode: Episode) -> tuple[int, int]:
    return max(episode.start, emp.period.first_day - _HISTORY_DAYS), min(episode.end, emp.period.last_day)


def _chain_slot(episode: Episode, chain: int) -> int:
    """A position of its own for each chain (CDI slots count from 0, honest extra slots from 1000)."""
    return 100_000 + episode.id * 1_000 + chain


def _chain_person(episode: Episode, chain: int) -> int:
    """Key making all contracts of a chain go to the same person."""
    return episode.id * 1_000 + chain


def _chain_count(emp: Employer, episode: Episode, per_employees: float) -> int:
    cap = 1 + emp.est.size // 4
    return min(cap, 1 + emp.stream.poisson(episode.intensity * emp.est.size / per_employees))


def permanent_post(emp: Employer, episode: Episode) -> None:
    """A lasting job filled by a chain of CDDs: rotating people, or one person renewed too often and
    for too long. In sectors allowed CDD d'usage the chain often uses motif 05."""
    stream = emp.stream
    first, last = _window(emp, episode)
    for chain in range(_chain_count(emp, episode, 12)):
        post_index = emp.pick_post()
        slot = _chain_slot(episode, chain)
        same_person = stream.chance(0.45)
        key = _chain_person(episode, chain) if same_person else FROM_POOL
        motif = "05" if emp.est.sector.usage_allowed and stream.chance(0.5) else "01" if stream.chance(0.2) else "02"
        rules = RULE_BIT["poste_permanent"] | (RULE_BIT["faux_remplacement"] if motif == "01" else 0)
        day = first + stream.integer(0, 20)
        while day <= last:
            if same_person:
                days, renewals = stream.integer(120, 720), stream.integer(1, 4)
            else:
                days = min(300, max(20, int(stream.lognormal(75, 0.6))))
                renewals = stream.pick_weighted(_CHAIN_RENEWALS)
            end = day + days - 1
            emp.fixed_term(post_index, slot, day, end, motif, origin="abus_poste_permanent", renewals=renewals,
                           early_end=0.0, rules=rules, episode=episode.id, person_key=key, rehire_probability=0.5)
            day = end + 1 + (stream.integer(0, 3) if same_person else stream.integer(0, 12))


def carence(emp: Employer, episode: Episode) -> None:
    """Successive ATA contracts on one post without the waiting period (sometimes with it)."""
    stream = emp.stream
    first, last = _window(emp, episode)
    mission_share = emp.est.sector.temp_share if emp.est.agencies else 0.0
    for chain in range(_chain_count(emp, episode, 15)):
        post_index = emp.pick_post()
        slot = _chain_slot(episode, chain)
        key = _chain_person(episode, chain) if stream.chance(0.3) else FROM_POOL
        mission = stream.chance(mission_share)
        agency = stream.pick(emp.est.agencies) if mission else -1
        day = first + stream.integer(0, 30)
        while day <= last:
            days = min(60, max(2, int(stream.lognormal(12, 0.7))))
            end = day + days - 1
            emp.fixed_term(post_index, slot, day, end, "02", origin="abus_carence", mission=mission,
                           agency=agency, early_end=0.0, episode=episode.id, person_key=key)
            required = required_carence_days(days, emp.carence)  # as the establishment's branch sets it
            # Sometimes the waiting period is respected.
            waited = stream.integer(required, required + 5) if stream.chance(0.2) else int(required * stream.uniform() * 0.7)
            day = day_after_waiting(end, waited, emp.carence)


def _overlaps_absence(emp: Employer, post_id: int, start: int, end: int) -> bool:
    return any(a.post == post_id and a.start <= end and a.end >= start for a in emp.absences)


def fake_replacement(emp: Employer, episode: Episode) -> None:
    """Replacement CDDs (motif 01) when nobody on the post is absent."""
    stream, period = emp.stream, emp.period
    first, last = _window(emp, episode)
    per_month = episode.intensity * max(1.0, emp.est.size / 6) * 0.6
    for month in range(period.month_index(first), period.month_index(last) + 1):
        month_first = first_day_of(period.first_absolute_month + month)
        for _ in range(stream.poisson(per_month)):
            post_index = emp.pick_post()
            start = max(first, month_first + stream.integer(0, 27))
            days = min(120, max(3, int(stream.lognormal(20, 0.8))))
            end = start + days - 1
            if start > last or _overlaps_absence(emp, emp.post_id(post_index), start, end):
                continue
            slot = stream.integer(0, max(0, emp.cdi_slots[post_index] - 1))
            emp.fixed_term(post_index, slot, start, end, "01", origin="abus_faux_remplacement",
                           renewals=1 if days > 45 and stream.chance(0.5) else 0, rules=RULE_BIT["faux_remplacement"],
                           episode=episode.id)


def usage_outside_sector(emp: Employer, episode: Episode) -> None:
    """CDD d'usage (motif 05) in a sector that D1242-1 does not list: short extras, often the same people."""
    stream, period = emp.stream, emp.period
    first, last = _window(emp, episode)
    per_month = episode.intensity * max(1.0, emp.est.size / 5) * 0.8
    for month in range(period.month_index(first), period.month_index(last) + 1):
        month_first = first_day_of(period.first_absolute_month + month)
        for _ in range(stream.poisson(per_month)):
            start = max(first, month_first + stream.integer(0, 27))
            if start > last:
                continue
            days = 1 if stream.chance(0.6) else stream.integer(2, 10)
            emp.fixed_term(emp.pick_post(), -1, start, start + days - 1, "05", origin="abus_usage",
                           rules=RULE_BIT["usage_hors_secteur"], episode=episode.id, rehire_probability=0.85)


def temp_on_permanent_post(emp: Employer, episode: Episode) -> None:
    """A lasting job at the user firm filled by chains of temp missions, declared by its agency."""
    stream = emp.stream
    if not emp.est.agencies:
        return
    first, last = _window(emp, episode)
    for chain in range(_chain_count(emp, episode, 10)):
        post_index = emp.pick_post()
        slot = _chain_slot(episode, chain)
        agency = stream.pick(emp.est.agencies)
        key = _chain_person(episode, chain) if stream.chance(0.35) else FROM_POOL
        day = first + stream.integer(0, 20)
        while day <= last:
            days = min(200, max(10, int(stream.lognormal(45, 0.6))))
            end = day + days - 1
            emp.fixed_term(post_index, slot, day, end, "02", origin="abus_interim", mission=True, agency=agency,
                           renewals=stream.pick_weighted(_CHAIN_RENEWALS), early_end=0.0,
                           rules=RULE_BIT["interim_poste_permanent"], episode=episode.id, person_key=key)
            day = end + 1 + stream.integer(0, 5)


GENERATORS = {
    "poste_permanent": permanent_post,
    "carence": carence,
    "faux_remplacement": fake_replacement,
    "usage_hors_secteur": usage_outside_sector,
    "interim_poste_permanent": temp_on_permanent_post,
}
