"""Contracts as hire requests, the people who fill them, and the columnar store they end up in.

Generators describe each contract as a `Hire` (when, which post, which nature and motif, which planned
end dates) without choosing the person; an establishment's hires are then sorted by start date and
given people from its pool of former employees, so that re-hiring is chronological and realistic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from core.config import FeaturesConfig
from features.branch_agreements import QUARTER_21_CALENDAR, STATUTORY, required_carence_days
from features.job_posts import EXEMPT_END_MOTIFS, JobLevel
from simulation.calendar import first_day_of, month_of
from simulation.random_stream import Stream

# Rules a contract can break (bit flags); the names are those of truth/contracts.parquet.
RULES: tuple[str, ...] = (
    "carence",
    "renouvellements",
    "duree_max",
    "faux_remplacement",
    "usage_hors_secteur",
    "poste_permanent",
    "interim_poste_permanent",
)
RULE_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(RULES)}

FROM_POOL = -1  # Hire.person_key: a former employee or a newcomer, as the pool decides


@dataclass(slots=True)
class Absence:
    """A sick or maternity leave of a CDI holder, declared as an S21.G00.60 block."""

    post: int
    slot: int
    start: int  # first day off
    end: int  # last day off
    planned_end: int  # last day off as first declared (earlier when the leave is extended)
    reason: str  # S21.G00.60.001: 01 sickness, 02 maternity
    contract: int = -1  # the absent holder's contract, set when stored


@dataclass(slots=True)
class Hire:
    """One contract to be created: everything but the person (see person_key)."""

    work_establishment: int  # where the work is done (the user establishment for a mission)
    post: int
    slot: int  # position on the post: CDI slots from 0, extra slots from 1000, -1 when irrelevant
    start: int
    end: int  # true last day, OPEN_FOREVER when the contract outlives the simulation
    versions: tuple[int, ...]  # successive planned end dates (renewals push them), () for a CDI
    nature: str
    motif: str
    title: str
    hours: float  # monthly contract hours
    rate: float  # hourly gross wage
    origin: str  # which process created it
    end_motif: str = ""  # S21.G00.62.002 when it ends
    nature_final: str = ""  # after a conversion into CDI
    conversion_day: int = -1
    rules: int = 0  # rules broken by construction (RULE_BIT)
    episode: int = -1  # abuse episode that created it
    person_key: int = FROM_POOL  # FROM_POOL, or a key shared by a chain's contracts (same person)
    rehire_probability: float = 0.8
    person: int = -1  # set when the person is chosen up front (CDI holders whose leaves depend on their sex)
    agency: int = -1  # the temp agency declaring a mission
    absences: list[Absence] = field(default_factory=list)


class People:
    """Everyone who ever works in the simulation: an integer id with a sex and a birth day."""

    def __init__(self) -> None:
        self.sex: list[int] = []
        self.birth_day: list[int] = []

    def new(self, stream: Stream, on_day: int, min_age: float = 18, max_age: float = 60) -> int:
        self.sex.append(1 if stream.chance(0.5) else 2)
        self.birth_day.append(on_day - int(stream.between(min_age, max_age) * 365.25))
        return len(self.sex) - 1

    def __len__(self) -> int:
        return len(self.sex)


class Pool:
    """An employer's (or agency's) former employees, re-hired with Zipf weights: a few regulars get most
    of the work, as in real re-hiring."""

    def __init__(self, people: People, stream: Stream) -> None:
        self.people = people
        self.stream = stream
        self.members: list[int] = []
        self.cumulative: list[float] = []
        self.busy_until: dict[int, int] = {}

    def hire(self, start: int, rehire_probability: float) -> int:
        """A person free from `start`: a former employee with `rehire_probability`, else a newcomer."""
        person = -1
        if self.members and self.stream.chance(rehire_probability):
            for attempt in range(8):  # regulars first, then anyone who worked here
                if attempt < 4:
                    candidate = self.members[self.stream.pick_weighted(self.cumulative)]
                else:
                    candidate = self.stream.pick(self.members)
                if self.busy_until[candidate] < start:
                    person = candidate
                    break
        if person < 0:
            person = self.people.new(self.stream, start)
            self.add(person)
        return person

    def add(self, person: int) -> None:
        if person in self.busy_until:
            return
        self.members.append(person)
        weight = 1.0 / len(self.members) ** 2.0
        self.cumulative.append((self.cumulative[-1] if self.cumulative else 0.0) + weight)
        self.busy_until[person] = -1


def assign_people(hires: list[Hire], pool_of: Callable[[Hire], Pool]) -> list[int]:
    """The person of each hire, deciding in start order: the one chosen up front, the one already holding
    the hire's chain, or one from the pool (a former employee or a newcomer)."""
    chain_person: dict[int, int] = {}
    persons = [-1] * len(hires)
    for i in sorted(range(len(hires)), key=lambda i: (hires[i].start, i)):
        hire = hires[i]
        pool = pool_of(hire)
        person = hire.person
        if person < 0 and hire.person_key >= 0:
            person = chain_person.get(hire.person_key, -1)
        if person < 0:
            person = pool.hire(hire.start, hire.rehire_probability)
            if hire.person_key >= 0:
                chain_person[hire.person_key] = person
        pool.add(person)
        pool.busy_until[person] = max(pool.busy_until[person], hire.end)
        persons[i] = person
    return persons


class SlotBook:
    """Extra positions on each post for ATA contracts and missions, reused only after the délai de carence.

    A job has as many posts as it held at once within the last POST_MEMORY_DAYS, and a vacant post exists
    while it has been empty at most that long (the reading of `features.job_posts`): a law-abiding
    employer whose vacant posts are all within their waiting period waits for the first one to be free
    instead of calling the same job a new post.
    """

    FIRST_EXTRA_SLOT = 1000
    POST_MEMORY_DAYS = FeaturesConfig().post_memory_days  # as the features read posts by default

    def __init__(self, carence: str = STATUTORY) -> None:
        self._slots: dict[int, list[tuple[int, int]]] = {}  # post -> (last day held, free from) per slot
        self._levels: dict[int, JobLevel] = {}  # post -> contracts held at once
        self._carence = carence  # the establishment's branch rule (features.branch_agreements)

    def take(self, post: int, start: int) -> int | None:
        """A slot of `post` free for a contract starting on `start` (`book` it once the contract is known);
        None when the only vacant posts are still within their waiting period (a law-abiding employer waits:
        see `free_from`). Calls come in the order of their start dates."""
        slots = self._slots.setdefault(post, [])
        vacant = self._vacant(post, start)
        clean = [i for i in vacant if slots[i][1] <= start]
        if clean:
            return self.FIRST_EXTRA_SLOT + min(clean)
        if vacant:
            return None
        slots.append((start, start))  # none vacant, or only posts gone for good: the job grows, on a new post
        return self.FIRST_EXTRA_SLOT + len(slots) - 1

    def book(self, post: int, slot: int, start: int, end: int, end_motif: str) -> None:
        """Hold `slot` until `end`, then block it until the waiting period after the contract is over (none
        after an early end by the employee)."""
        carence = 0 if end_motif in EXEMPT_END_MOTIFS else required_carence_days(end - start + 1, self._carence)
        # opening days: enough calendar days for them whatever the weekdays, one Sunday per 6 of them
        margin = 0 if self._carence == QUARTER_21_CALENDAR or carence == 0 else carence // 6 + 1
        self._slots[post][slot - self.FIRST_EXTRA_SLOT] = (end, end + 1 + carence + margin)
        self._levels[post].hold(start, end + 1)

    def free_from(self, post: int, start: int) -> int:
        """The first day after `start` on which a vacant post of `post` is free again."""
        slots = self._slots[post]
        return min(slots[i][1] for i in self._vacant(post, start))

    def _vacant(self, post: int, start: int) -> list[int]:
        """The vacant slots of `post` that still exist on `start`: left within the memory, and no more than the
        posts the job held at once within it, less those held (the most recently left first)."""
        level = self._levels.setdefault(post, JobLevel(self.POST_MEMORY_DAYS))
        slots = self._slots.setdefault(post, [])
        alive = [i for i, (last, _) in enumerate(slots) if last < start and start - last - 1 <= self.POST_MEMORY_DAYS]
        alive.sort(key=lambda i: -slots[i][0])
        return alive[:max(level.posts(start) - level.held(start), 0)]


def planned_end_versions(start: int, end: int, renewals: int, stream: Stream) -> tuple[int, ...]:
    """Successive planned end dates ending with `end`: each renewal pushes the date into a later month
    (a push inside one month would never show in monthly declarations), so there may be fewer than asked."""
    first_month, last_month = month_of(start), month_of(end)
    renewals = min(renewals, last_month - first_month)
    if renewals <= 0:
        return (end,)
    months = sorted(first_month + int(i) for i in stream.rng.choice(last_month - first_month, renewals, replace=False))
    versions = []
    for month in months:
        low = max(start, first_day_of(month))
        versions.append(stream.integer(low, first_day_of(month + 1) - 1))
    versions.append(end)
    return tuple(versions)


def cut_at(versions: tuple[int, ...], end: int) -> tuple[int, ...]:
    """Planned end versions as declared until a contract ends early on `end`: those pushed after the
    month of `end` never happened."""
    month = month_of(end)
    kept = []
    for version in versions:
        kept.append(version)
        if month_of(version) >= month:
            break
    return tuple(kept)


@dataclass
class ContractColumns:
    """The final contract table as numpy arrays (one row per contract); see ContractStore.finish."""

    declaring: np.ndarray  # establishment index of the declarant (the agency for missions)
    work: np.ndarray  # establishment where the work is done
    person: np.ndarray
    post: np.ndarray
    slot: np.ndarray
    start: np.ndarray
    end: np.ndarray
    versions: np.ndarray  # (n, max versions), -1 padded
    n_versions: np.ndarray
    nature: np.ndarray  # initial nature, str
    motif: np.ndarray
    nature_final: np.ndarray
    conversion_day: np.ndarray
    end_motif: np.ndarray
    title: np.ndarray
    hours: np.ndarray
    rate: np.ndarray
    origin: np.ndarray
    rules: np.ndarray
    episode: np.ndarray
    dropped: np.ndarray  # removed after an inspection stopped the abuse that created it

    def __len__(self) -> int:
        return len(self.start)


class ContractStore:
    """Contracts as they are created (Python lists, appended to), turned into arrays once complete."""

    _FIELDS = ("declaring", "work", "person", "post", "slot", "start", "end", "versions", "nature", "motif",
               "nature_final", "conversion_day", "end_motif", "title", "hours", "rate", "origin", "rules", "episode")

    def __init__(self) -> None:
        self._columns: dict[str, list] = {name: [] for name in self._FIELDS}

    def add(self, declaring: int, person: int, hire: Hire) -> int:
        c = self._columns
        c["declaring"].append(declaring)
        c["work"].append(hire.work_establishment)
        c["person"].append(person)
        c["post"].append(hire.post)
        c["slot"].append(hire.slot)
        c["start"].append(hire.start)
        c["end"].append(hire.end)
        c["versions"].append(hire.versions)
        c["nature"].append(hire.nature)
        c["motif"].append(hire.motif)
        c["nature_final"].append(hire.nature_final or hire.nature)
        c["conversion_day"].append(hire.conversion_day)
        c["end_motif"].append(hire.end_motif)
        c["title"].append(hire.title)
        c["hours"].append(hire.hours)
        c["rate"].append(hire.rate)
        c["origin"].append(hire.origin)
        c["rules"].append(hire.rules)
        c["episode"].append(hire.episode)
        contract = len(c["start"]) - 1
        for absence in hire.absences:
            absence.contract = contract
        return contract

    def finish(self) -> ContractColumns:
        c = self._columns
        n = len(c["start"])
        width = max((len(v) for v in c["versions"]), default=1) or 1
        versions = np.full((n, width), -1, dtype="int64")
        n_versions = np.zeros(n, dtype="int64")
        for row, planned in enumerate(c["versions"]):
            versions[row, : len(planned)] = planned
            n_versions[row] = len(planned)
        as_int = {name: np.asarray(c[name], dtype="int64")
                  for name in ("declaring", "work", "person", "post", "slot", "start", "end", "conversion_day",
                               "rules", "episode")}
        return ContractColumns(
            **as_int,
            versions=versions,
            n_versions=n_versions,
            nature=np.asarray(c["nature"], dtype=object),
            motif=np.asarray(c["motif"], dtype=object),
            nature_final=np.asarray(c["nature_final"], dtype=object),
            end_motif=np.asarray(c["end_motif"], dtype=object),
            title=np.asarray(c["title"], dtype=object),
            hours=np.asarray(c["hours"], dtype="float64"),
            rate=np.asarray(c["rate"], dtype="float64"),
            origin=np.asarray(c["origin"], dtype=object),
            dropped=np.zeros(n, dtype=bool),
        )



def subset(contracts: ContractColumns, keep: np.ndarray) -> tuple[ContractColumns, np.ndarray]:
    """The rows of `contracts` where `keep` is true, and the new index of every old row (-1 if dropped)."""
    new_index = np.full(len(contracts), -1, dtype="int64")
    new_index[keep] = np.arange(int(keep.sum()))
    kept = ContractColumns(**{f.name: getattr(contracts, f.name)[keep] for f in fields(contracts)})
    return kept, new_index
