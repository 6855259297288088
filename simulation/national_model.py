"""The population of one chunk of establishments, as numpy arrays (national-scale generator).

A chunk is self-contained: its establishments, the temp agencies that serve them, their people,
contracts and absences. `generate_chunk` draws it; `simulation.national` turns it into warehouse rows.
Days are integers (days since 1970-01-01); `NO_END` marks a CDI still running after the period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.national_sectors import (
    ABUSE_TYPES,
    ATA,
    CDD,
    CDI,
    END_CDD,
    END_MISSION,
    MISSION,
    NO_MOTIF,
    REPLACEMENT,
    SEASONAL,
    SECTORS,
    TEMP_AGENCY,
    USAGE,
)

NO_END = 2**30
USERS_PER_AGENCY = 250
ABUSIVE_SHARE = 0.05


@dataclass(frozen=True)
class Period:
    """The simulated months: month m runs from starts[m] to ends[m] (day numbers, inclusive)."""

    starts: np.ndarray
    ends: np.ndarray

    @property
    def first_day(self) -> int:
        return int(self.starts[0])

    @property
    def last_day(self) -> int:
        return int(self.ends[-1])

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month index of each day (-1 before the period, len(starts) - 1 at most)."""
        return np.searchsorted(self.starts, days, side="right") - 1


@dataclass
class Establishments:
    """Establishments of a chunk; agencies (NAF 7820Z) come after the users."""

    sector: np.ndarray  # index into SECTORS, or -1 for a temp agency
    n_cdi: np.ndarray
    departement: np.ndarray  # index into the places table
    postal_suffix: np.ndarray  # 0-999, completes the postal code
    agency: np.ndarray  # index (in this chunk) of the agency serving it; -1 for agencies
    abuse: np.ndarray  # index into ABUSE_TYPES, 0 = honest

    def __len__(self) -> int:
        return len(self.sector)


@dataclass
class Contracts:
    """Contracts of a chunk. `est` is where it counts, `decl` who declares it (the agency for a mission)."""

    est: np.ndarray
    decl: np.ndarray
    person: np.ndarray  # chunk-local person index
    start: np.ndarray
    end: np.ndarray  # true end (NO_END: a CDI running after the period)
    nature: np.ndarray
    motif: np.ndarray
    post: np.ndarray  # index into POSTS
    renewals: np.ndarray
    end_declared: np.ndarray
    end_motif: np.ndarray
    contract_hours: np.ndarray
    full_time: np.ndarray

    def __len__(self) -> int:
        return len(self.est)


@dataclass
class Absences:
    """Sick leaves of CDI holders: `contract` indexes Contracts."""

    contract: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class Chunk:
    establishments: Establishments
    contracts: Contracts
    absences: Absences
    n_persons: int


def _sector_arrays() -> dict[str, np.ndarray]:
    fields = ("share", "size", "cdd_rate", "mission_rate", "one_day", "usage", "seasonal")
    return {f: np.array([getattr(s, f) for s in SECTORS], dtype=float) for f in fields}


def draw_establishments(rng: np.random.Generator, n: int, departement_weights: np.ndarray) -> Establishments:
    """`n` user establishments (lognormal CDI headcount, mean ~8.6) and their temp agencies."""
    s = _sector_arrays()
    sector = rng.choice(len(SECTORS), size=n, p=s["share"] / s["share"].sum())
    raw = np.exp(rng.normal(1.3, 1.3, n)) * s["size"][sector]
    n_cdi = np.minimum(np.floor(raw + rng.random(n)), 5000).astype(np.int64)
    n_agencies = max(1, n // USERS_PER_AGENCY)
    abusive = rng.random(n) < ABUSIVE_SHARE
    abuse = np.where(abusive, rng.integers(1, len(ABUSE_TYPES), n), 0)
    usage_ok = s["usage"][sector] > 0
    abuse = np.where((abuse == ABUSE_TYPES.index("usage_hors_secteur")) & usage_ok, ABUSE_TYPES.index("carence"), abuse)
    total = n + n_agencies
    dep = rng.choice(len(departement_weights), size=total, p=departement_weights)
    return Establishments(
        sector=np.concatenate([sector, np.full(n_agencies, -1)]),
        n_cdi=np.concatenate([n_cdi, rng.integers(3, 12, n_agencies)]),
        departement=dep,
        postal_suffix=rng.integers(0, 1000, total),
        agency=np.concatenate([n + rng.integers(0, n_agencies, n), np.full(n_agencies, -1)]),
        abuse=np.concatenate([abuse, np.zeros(n_agencies, dtype=np.int64)]),
    )


class _Builder:
    """Accumulates contract columns from several draws, then stacks them."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **columns: np.ndarray) -> None:
        n = len(columns["est"])
        defaults = {
            "renewals": np.zeros(n, np.int64), "end_declared": np.ones(n, bool), "end_motif": np.zeros(n, np.int64),
            "contract_hours": np.full(n, 151.67), "full_time": np.ones(n, bool),
        }
        self.parts.append(defaults | columns)

    def build(self) -> Contracts:
        return Contracts(**{k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]})


def _post_of(rng: np.random.Generator, est: Establishments, index: np.ndarray) -> np.ndarray:
    """A post of each establishment's sector, the first post the most common."""
    posts = [s.posts for s in SECTORS] + [TEMP_AGENCY.posts]
    sector = est.sector[index]
    out = np.empty(len(index), np.int64)
    u = rng.random(len(index))
    for k, choices in enumerate(posts):
        rows = np.flatnonzero(np.where(sector < 0, len(SECTORS), sector) == k)
        pos = np.minimum((u[rows] ** 1.8 * len(choices)).astype(int), len(choices) - 1)
        out[rows] = np.asarray(choices)[pos]
    return out


def _fixed_term_days(rng: np.random.Generator, one_day_share: np.ndarray, long_median: float) -> np.ndarray:
    """Lengths in days: one day, a few days to a month (83 % under a month overall), or months."""
    n = len(one_day_share)
    u = rng.random(n)
    short = np.exp(rng.uniform(np.log(2), np.log(30), n))
    long = np.minimum(np.exp(rng.normal(np.log(long_median), 0.8, n)), 700)
    days = np.where(u < one_day_share, 1, np.where(u < 0.83, short, 31 + long))
    return np.round(days).astype(np.int64)


def generate_chunk(rng: np.random.Generator, period: Period, est: Establishments) -> Chunk:
    """Contracts, people and absences of the establishments `est` over `period`."""
    s = _sector_arrays()
    n_est = len(est)
    users = np.flatnonzero(est.sector >= 0)
    first, last = period.first_day, period.last_day
    years = (last - first + 1) / 365.25
    persons = 0
    b = _Builder()

    # CDI: one person each, started years ago; ~10 % a year leave and are replaced on the same post.
    cdi_est = np.repeat(np.arange(n_est), est.n_cdi)
    n = len(cdi_est)
    cdi_start = first - 1 - np.minimum(rng.exponential(6 * 365, n), 40 * 365).astype(np.int64)
    leaves = rng.random(n) < 0.10 * years
    cdi_end = np.where(leaves, rng.integers(first, last + 1, n), NO_END)
    cdi_post = _post_of(rng, est, cdi_est)
    full = rng.random(n) < 0.8
    hours = np.where(full, 151.67, np.round(rng.uniform(60, 130, n), 2))
    b.add(est=cdi_est, decl=cdi_est, person=persons + np.arange(n), start=cdi_start, end=cdi_end,
          nature=np.full(n, CDI), motif=np.full(n, NO_MOTIF), post=cdi_post,
          end_declared=rng.random(n) < 0.95, end_motif=rng.integers(2, 6, n), contract_hours=hours, full_time=full)
    persons += n
    left = np.flatnonzero(leaves)
    successor_start = cdi_end[left] + 1 + rng.integers(0, 30, len(left))
    keep = successor_start <= last
    left, successor_start = left[keep], successor_start[keep]
    m = len(left)
    b.add(est=cdi_est[left], decl=cdi_est[left], person=persons + np.arange(m), start=successor_start,
          end=np.full(m, NO_END), nature=np.full(m, CDI), motif=np.full(m, NO_MOTIF), post=cdi_post[left],
          contract_hours=hours[left], full_time=full[left])
    persons += m

    # Sick leaves of CDI holders, ~0.35 a year each, while they are under contract in the period.
    cdi_index = np.arange(n)
    n_abs = rng.poisson(0.35 * years, n)
    holder = np.repeat(cdi_index, n_abs)
    active_to = np.minimum(cdi_end[holder], last)
    abs_start = first + (rng.random(len(holder)) * (active_to - first + 1)).astype(np.int64)
    abs_len = np.minimum(np.exp(rng.normal(np.log(8), 1.0, len(holder))), 365).astype(np.int64) + 1
    abs_end = np.minimum(abs_start + abs_len - 1, active_to)
    absences = Absences(contract=holder, start=abs_start, end=abs_end)
    order = np.argsort(cdi_est[holder], kind="stable")
    abs_by_est = order
    abs_count = np.bincount(cdi_est[holder], minlength=n_est)
    abs_offset = np.concatenate([[0], np.cumsum(abs_count)[:-1]])

    # Fixed-term hires: CDD at the establishment, missions declared by its agency.
    sec = est.sector[users]
    base = np.maximum(est.n_cdi[users], 1)
    pool_size = np.maximum(2, np.ceil(0.3 * base * (s["cdd_rate"][sec] + s["mission_rate"][sec]))).astype(np.int64)
    pool_base = persons + np.concatenate([[0], np.cumsum(pool_size)[:-1]])
    persons += int(pool_size.sum())
    for kind, rate in ((CDD, s["cdd_rate"][sec]), (MISSION, s["mission_rate"][sec])):
        # Hires starting in the period, and long contracts started in the 18 months before it.
        k_in = rng.poisson(rate * base * years)
        k_before = rng.poisson(rate * base * 1.5 * 0.17)
        hired = np.concatenate([np.repeat(users, k_in), np.repeat(users, k_before)])
        before = np.concatenate([np.zeros(int(k_in.sum()), bool), np.ones(int(k_before.sum()), bool)])
        h = len(hired)
        sector_h = est.sector[hired]
        one_day = (s["one_day"][sector_h] if kind == CDD else np.full(h, 0.15)) * 0.83
        days = _fixed_term_days(rng, np.where(before, 0.0, one_day), 150 if kind == CDD else 60)
        days = np.where(before, np.maximum(days, 31 + rng.integers(0, 200, h)), days)
        start = np.where(before, first - rng.integers(1, 548, h), rng.integers(first, last + 1, h))
        u = rng.random(h)
        usage = s["usage"][sector_h] if kind == CDD else np.zeros(h)
        seasonal = s["seasonal"][sector_h] if kind == CDD else np.zeros(h)
        motif = np.select([u < usage, u < usage + seasonal, u < usage + seasonal + 0.35 * (1 - usage - seasonal)],
                          [USAGE, SEASONAL, REPLACEMENT], ATA)
        post = _post_of(rng, est, hired)
        # Replacements cover a real absence of the establishment (same post, same dates).
        replacing = np.flatnonzero((motif == REPLACEMENT) & (abs_count[hired] > 0))
        drawn = (rng.random(len(replacing)) * abs_count[hired[replacing]]).astype(np.int64)
        pick = abs_by_est[abs_offset[hired[replacing]] + drawn]
        start[replacing] = absences.start[pick]
        days[replacing] = absences.end[pick] - absences.start[pick] + 1
        post[replacing] = cdi_post[absences.contract[pick]]
        motif[(motif == REPLACEMENT) & (abs_count[hired] == 0)] = ATA
        end = start + days - 1
        renewals = np.where(days > 60, rng.choice(3, h, p=[0.7, 0.2, 0.1]),
                            np.where(days > 31, rng.choice(2, h, p=[0.8, 0.2]), 0))
        # 70 % of hires are re-hires from the establishment's pool, concentrated on a few people.
        user_pos = np.searchsorted(users, hired)
        from_pool = rng.random(h) < 0.7
        person = np.where(from_pool, pool_base[user_pos] + (rng.random(h) ** 2 * pool_size[user_pos]).astype(np.int64),
                          persons + np.arange(h))
        persons += h
        keep = end >= first
        decl = hired if kind == CDD else est.agency[hired]
        b.add(est=hired[keep], decl=decl[keep], person=person[keep], start=start[keep], end=end[keep],
              nature=np.full(int(keep.sum()), kind), motif=motif[keep], post=post[keep], renewals=renewals[keep],
              end_declared=rng.random(int(keep.sum())) < 0.88,
              end_motif=np.full(int(keep.sum()), END_CDD if kind == CDD else END_MISSION))

    persons = _add_abuse(rng, period, est, b, persons)
    contracts = b.build()
    order = np.lexsort((contracts.start, contracts.person, contracts.decl))
    contracts = Contracts(**{k: getattr(contracts, k)[order] for k in contracts.__dataclass_fields__})
    where = np.empty(len(order), np.int64)
    where[order] = np.arange(len(order))
    absences = Absences(contract=where[absences.contract], start=absences.start, end=absences.end)
    return Chunk(est, contracts, absences, persons)


def _add_abuse(rng: np.random.Generator, period: Period, est: Establishments, b: _Builder, persons: int) -> int:
    """Contracts of the abusive minority, each establishment with one pattern the rules look for."""
    first, last = period.first_day, period.last_day
    kinds = {name: np.flatnonzero(est.abuse == i) for i, name in enumerate(ABUSE_TYPES) if i}
    pool = 4

    def chain(index: np.ndarray, nature: int, motif: int, lo: int, hi: int, gap_hi: int) -> None:
        """Back-to-back contracts on one post from 3 months before the period to its end."""
        nonlocal persons
        if not len(index):
            return
        n_links = (last - first + 120) // lo + 2
        lengths = rng.integers(lo, hi + 1, (len(index), n_links)) + rng.integers(1, gap_hi + 2, (len(index), n_links))
        starts = first - 90 + np.concatenate([np.zeros((len(index), 1), np.int64), np.cumsum(lengths, 1)[:, :-1]], 1)
        ends = starts + lengths - rng.integers(1, gap_hi + 2, lengths.shape)
        owner = np.repeat(index, n_links)
        starts, ends = starts.ravel(), np.maximum(ends.ravel(), starts.ravel())
        keep = (starts <= last) & (ends >= first)
        owner, starts, ends = owner[keep], starts[keep], ends[keep]
        post = np.repeat(_post_of(rng, est, index), n_links)[keep]
        person = persons + np.repeat(np.arange(len(index)) * pool, n_links)[keep] + rng.integers(0, pool, len(owner))
        persons += len(index) * pool
        decl = owner if nature == CDD else est.agency[owner]
        b.add(est=owner, decl=decl, person=person, start=starts, end=ends, nature=np.full(len(owner), nature),
              motif=np.full(len(owner), motif), post=post,
              end_motif=np.full(len(owner), END_CDD if nature == CDD else END_MISSION))

    chain(kinds["carence"], CDD, ATA, 14, 40, 3)
    chain(kinds["interim_poste_permanent"], MISSION, ATA, 20, 60, 2)

    def singles(index: np.ndarray, per: int, motif: int, length: tuple[int, int], renewals: tuple[int, int],
                before: tuple[int, int]) -> None:
        nonlocal persons
        owner = np.repeat(index, per)
        n = len(owner)
        if not n:
            return
        start = first - rng.integers(*before, n)
        end = start + rng.integers(*length, n)
        keep = end >= first
        b.add(est=owner[keep], decl=owner[keep], person=persons + np.arange(n)[keep], start=start[keep], end=end[keep],
              nature=np.full(int(keep.sum()), CDD), motif=np.full(int(keep.sum()), motif),
              post=_post_of(rng, est, owner[keep]), renewals=rng.integers(*renewals, int(keep.sum())))
        persons += n

    singles(kinds["renouvellements"], 3, ATA, (90, 300), (3, 5), (0, 120))
    singles(kinds["duree_max"], 2, ATA, (560, 720), (0, 3), (200, 420))
    singles(kinds["faux_remplacement"], 4, REPLACEMENT, (20, 120), (0, 2), (-300, 60))
    singles(kinds["usage_hors_secteur"], 5, USAGE, (1, 30), (0, 1), (-330, 1))
    return persons
