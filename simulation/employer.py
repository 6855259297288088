"""One establishment's hiring: the helpers every contract generator uses, and the staffing pass that
gives each hire a person."""

from __future__ import annotations

from features.branch_agreements import rule_of
from simulation.calendar import OPEN_FOREVER, Period, date_of
from simulation.contracts import (
    FROM_POOL,
    Absence,
    ContractStore,
    Hire,
    People,
    Pool,
    SlotBook,
    assign_people,
    cut_at,
    planned_end_versions,
)
from simulation.population import Establishment
from simulation.random_stream import Stream, cumulative
from simulation.sectors import POST_ID

FULL_TIME_HOURS = 151.67
PART_TIME_HOURS = (86.67, 104.0, 121.33, 130.0)
MAX_HONEST_DAYS = 540  # below the 18-month maximum (548 days)
_MINIMUM_WAGE = {2022: 11.07, 2023: 11.52, 2024: 11.65, 2025: 11.88, 2026: 12.02}


def minimum_wage(day: int) -> float:
    """Hourly SMIC in force on a day (rounded yearly values)."""
    year = date_of(day).year
    return _MINIMUM_WAGE.get(year, 11.07 if year < 2022 else 12.02)


class Employer:
    """Everything the generators need about one establishment while they describe its contracts."""

    def __init__(self, establishment: Establishment, establishments: list[Establishment], period: Period,
                 stream: Stream, people: People) -> None:
        self.est = establishment
        self.establishments = establishments
        self.period = period
        self.stream = stream
        self.people = people
        self.pool = Pool(people, stream)
        self.carence = rule_of(establishment.idcc).carence  # its branch's délai de carence
        self.slots = SlotBook(self.carence)
        self.hires: list[Hire] = []
        self.missions: list[Hire] = []
        self.absences: list[Absence] = []
        posts = establishment.sector.posts
        self._post_cumulative = cumulative([post.weight for post in posts])
        self.cdi_slots: list[int] = [0] * len(posts)  # CDI positions per post

    # -- posts -------------------------------------------------------------------------------------
    def pick_post(self) -> int:
        """Index of a post of this sector, drawn by weight."""
        return self.stream.pick_weighted(self._post_cumulative)

    def post_id(self, post_index: int) -> int:
        return POST_ID[self.est.sector.posts[post_index].canonical]

    def _terms(self, post_index: int, start: int, writer: Establishment) -> tuple[str, float, float]:
        """Job title (as `writer` spells it), monthly hours and hourly wage of a new contract."""
        post = self.est.sector.posts[post_index]
        stream = self.stream
        hours = stream.pick(PART_TIME_HOURS) if stream.chance(self.est.sector.part_time_share) else FULL_TIME_HOURS
        smic = minimum_wage(start)
        rate = max(smic, round(smic * post.wage * stream.lognormal(1.0, 0.08), 2))
        return writer.title_for(post.spellings, stream), hours, rate

    # -- contracts ---------------------------------------------------------------------------------
    def cdi(self, post_index: int, slot: int, start: int, end: int, end_motif: str, *, origin: str,
            rehire_probability: float = 0.35) -> Hire:
        """An open-ended contract on a CDI slot (end = OPEN_FOREVER when it outlives the period). The holder
        is a former employee with `rehire_probability`, else a newcomer chosen now (so that its leaves can
        depend on its sex and age)."""
        title, hours, rate = self._terms(post_index, start, self.est)
        hire = Hire(work_establishment=self.est.index, post=self.post_id(post_index), slot=slot, start=start,
                    end=end, versions=(), nature="01", motif="", title=title, hours=hours, rate=rate,
                    origin=origin, end_motif=end_motif if end != OPEN_FOREVER else "",
                    rehire_probability=rehire_probability)
        if not self.stream.chance(rehire_probability):
            # old hands were young when hired: nobody is older than 64 at the start of the period
            max_age = max(19.0, min(58.0, 64.0 - (self.period.first_day - start) / 365.25))
            hire.person = self.people.new(self.stream, start, 18, max_age)
        self.hires.append(hire)
        return hire

    def fixed_term(self, post_index: int, slot: int, start: int, end: int, motif: str, *, origin: str,
                   renewals: int = 0, versions: tuple[int, ...] | None = None, mission: bool = False,
                   agency: int = -1, early_end: float = 0.04, rules: int = 0, episode: int = -1,
                   person_key: int = FROM_POOL, rehire_probability: float = 0.8) -> Hire:
        """A CDD (nature 02) or, with `mission`, a temp mission (nature 03) declared by a temp agency.

        Planned end dates are `versions` when given, else drawn with `renewals` pushes; with probability
        `early_end` the contract stops before its planned end (trial period or early termination).
        """
        stream = self.stream
        if mission and agency < 0:
            agency = stream.pick(self.est.agencies) if self.est.agencies else -1
            mission = agency >= 0
        if versions is None:
            versions = planned_end_versions(start, end, renewals, stream)
        end_motif = "032" if mission else "031"
        if end > start and stream.chance(early_end):
            end = start + int(stream.uniform() * (end - start))
            versions = cut_at(versions, end)
            early_trial = end - start < 7
            by_employee = stream.chance(0.6)
            end_motif = ("035" if by_employee else "034") if early_trial else ("037" if by_employee else "036")
        writer = self.establishments[agency] if mission else self.est
        title, hours, rate = self._terms(post_index, start, writer)
        if mission:
            rate = round(rate * 1.1, 2)  # indemnité de fin de mission folded into the rate
        hire = Hire(work_establishment=self.est.index, post=self.post_id(post_index), slot=slot, start=start,
                    end=end, versions=versions, nature="03" if mission else "02", motif=motif, title=title,
                    hours=hours, rate=rate, origin=origin, end_motif=end_motif, rules=rules, episode=episode,
                    person_key=person_key, rehire_probability=rehire_probability, agency=agency if mission else -1)
        (self.missions if mission else self.hires).append(hire)
        return hire

    # -- staffing ----------------------------------------------------------------------------------
    def staff(self, store: ContractStore, absences: list[Absence]) -> None:
        """Give every own hire a person from this employer's pool and store it with its absences."""
        for hire, person in zip(self.hires, assign_people(self.hires, lambda _: self.pool), strict=True):
            store.add(self.est.index, person, hire)
            absences.extend(hire.absences)
