"""Temp missions are requested by user establishments and declared by agencies: once every employer has
described its needs, each agency staffs its missions in date order from its own pool of temps."""

from __future__ import annotations

from simulation.contracts import ContractStore, Hire, People, Pool, assign_people
from simulation.random_stream import Stream


def staff_missions(missions: list[Hire], people: People, store: ContractStore, stream: Stream) -> None:
    """Give each mission a temp of its agency (the same one along a chain) and store it, declared by the agency."""
    pools: dict[int, Pool] = {}

    def pool_of(hire: Hire) -> Pool:
        pool = pools.get(hire.agency)
        if pool is None:
            pool = pools[hire.agency] = Pool(people, stream)
        return pool

    for hire, person in zip(missions, assign_people(missions, pool_of), strict=True):
        store.add(hire.agency, person, hire)
