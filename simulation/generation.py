"""Every contract of the population: honest work of each establishment, the abuse episodes planned for
it, then the temp missions staffed by the agencies."""

from __future__ import annotations

import logging

from simulation import abusive_contracts
from simulation.abuse import AbusePlan
from simulation.calendar import Period
from simulation.contracts import Absence, ContractColumns, ContractStore, Hire, People
from simulation.employer import Employer
from simulation.fixed_term import activity_peaks, seasonal_jobs, usage_contracts
from simulation.population import Establishment
from simulation.random_stream import Stage, stream_for
from simulation.summary import Progress
from simulation.temp_work import staff_missions
from simulation.workforce import permanent_positions

log = logging.getLogger("simulation")


def generate_contracts(
    establishments: list[Establishment], plan: AbusePlan, period: Period, seed: int, progress: Progress
) -> tuple[ContractColumns, list[Absence], People]:
    """All contracts (as arrays), all absences and all people of the population."""
    people = People()
    store = ContractStore()
    absences: list[Absence] = []
    missions: list[Hire] = []
    episodes_of: dict[int, list] = {}
    for episode in plan.episodes:
        episodes_of.setdefault(episode.establishment, []).append(episode)
    total = len(establishments)
    for done, establishment in enumerate(establishments, start=1):
        stream = stream_for(seed, Stage.CONTRACTS, establishment.index)
        employer = Employer(establishment, establishments, period, stream, people)
        permanent_positions(employer)
        activity_peaks(employer)
        seasonal_jobs(employer)
        usage_contracts(employer)
        for episode in episodes_of.get(establishment.index, ()):
            abusive_contracts.generate(employer, episode)
        employer.staff(store, absences)
        missions.extend(employer.missions)
        if done % 200 == 0 or done == total:
            progress("contracts", done, total)
    staff_missions(missions, people, store, stream_for(seed, Stage.MISSIONS))
    contracts = store.finish()
    log.info("generated %d contracts (%d temp missions) for %d people", len(contracts), len(missions), len(people))
    return contracts, absences, people
