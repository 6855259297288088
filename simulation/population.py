"""Firms, establishments, temp agencies and DSN emitters (payroll software or accountants)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulation.geography import (
    EMPLOYMENT_CUMULATIVE,
    MOUNTAIN,
    PLACES,
    PLACES_BY_REGION,
    city_of,
    is_tourist,
    postal_code,
    street_address,
)
from simulation.identity import SURNAMES, new_siren, siret_of
from simulation.presets import Preset
from simulation.random_stream import Stream, cumulative
from simulation.sectors import SECTORS, TEMP_AGENCY, Sector

# Sectors whose firms often run several establishments, with the chance and the largest chain.
_CHAINS = {"retail": (0.08, 8), "care_homes": (0.3, 5), "cleaning": (0.1, 4), "restaurants": (0.04, 6),
           "logistics": (0.15, 4), "temp_agency": (0.5, 8), "hotels": (0.08, 4), "home_help": (0.1, 3)}

_HABIT_SPREAD = 1.3
_HABIT_CAP = 5.0

_SOFTWARE = (("PAIEXPERT", "LOGIPAIE", "5.2.1"), ("SOLUPAIE", "SOLUPAIE SAS", "24.3"),
             ("GESTRH", "GESTION RH", "11.0.4"),
             ("NETPAYE", "NETPAYE", "3.8"), ("CLICPAIE", "CLIC SOLUTIONS", "2026.1"))
_EMITTER_CITIES = (("PARIS", "75"), ("LYON", "69"), ("LILLE", "59"), ("NANTES", "44"), ("BORDEAUX", "33"),
                   ("TOULOUSE", "31"), ("MARSEILLE", "13"), ("STRASBOURG", "67"), ("RENNES", "35"), ("DIJON", "21"),
                   ("ROUEN", "76"), ("ORLEANS", "45"), ("MONTPELLIER", "34"), ("NICE", "06"), ("GRENOBLE", "38"))


@dataclass
class Establishment:
    """One SIRET: what it declares and how it behaves."""

    index: int
    siren: str
    siret: str
    nic_siege: str
    firm: int
    sector: Sector
    naf: str
    idcc: str
    departement: str
    region_code: str
    postal_code: str
    street: str  # S21.G00.11.003: number and street name
    city: str  # S21.G00.11.005: the localité
    size: int  # CDI headcount at the start of the period
    seasonal: str | None  # "summer", "winter" or None
    title_style: int  # picks this employer's usual spelling of each post
    short_contract_habit: float  # multiplies its use of very short contracts (mean 1, heavy-tailed)
    emitter: int = -1
    agencies: tuple[int, ...] = ()  # temp agencies it calls on
    firm_size: int = 0  # headcount of the whole firm (S21.G00.06.009)

    @property
    def nic(self) -> str:
        return self.siret[9:]

    @property
    def is_agency(self) -> bool:
        return self.sector is TEMP_AGENCY

    def title_for(self, spellings: tuple[str, ...], stream: Stream) -> str:
        """The job title this employer writes for a post: its usual spelling, sometimes another one."""
        if stream.chance(0.2):
            return stream.pick(spellings)
        return spellings[(self.title_style + len(spellings[0])) % len(spellings)]


@dataclass
class Emitter:
    """Who sends the DSN files: an accountant or payroll service, or a large firm itself."""

    index: int
    siren: str
    nic: str
    name: str
    street: str
    postal_code: str
    city: str
    contact: str
    contact_title: str  # S10.G00.02.001: 01 Mr, 02 Mrs
    phone: str
    software: tuple[str, str, str]
    crlf: bool
    filing_day: int  # day of the following month when the file is built
    establishments: list[int] = field(default_factory=list)  # indices, in declaration order


def _short_contract_habit(stream: Stream) -> float:
    """How much an employer relies on very short contracts compared with its sector: mean 1, heavy-tailed."""
    return min(_HABIT_CAP, stream.lognormal(1.0, _HABIT_SPREAD) / math.exp(_HABIT_SPREAD**2 / 2))


def _size(sector: Sector, preset: Preset, stream: Stream) -> int:
    raw = stream.lognormal(sector.size_median, sector.size_sigma + preset.size_spread) * preset.size_scale
    return max(1, min(preset.max_size, round(raw)))


def build_population(preset: Preset, stream: Stream, addresses: Stream) -> tuple[list[Establishment], list[Emitter]]:
    """Establishments grouped in firms, each declared by one emitter; temp agencies among them. Street
    addresses come from their own stream `addresses`, so that they draw nothing from `stream`."""
    sector_cumulative = cumulative([sector.weight for sector in SECTORS])
    sirens: set[str] = set()
    establishments: list[Establishment] = []
    firms: list[list[int]] = []
    while len(establishments) < preset.n_establishments:
        sector = SECTORS[stream.pick_weighted(sector_cumulative)]
        chance, largest = _CHAINS.get(sector.key, (0.0, 1))
        n_sites = stream.integer(2, largest) if stream.chance(chance) else 1
        n_sites = min(n_sites, preset.n_establishments - len(establishments))
        naf, base_idcc, _ = sector.activities[stream.pick_weighted(cumulative([a[2] for a in sector.activities]))]
        siren = new_siren(stream, sirens)
        home = PLACES[stream.pick_weighted(EMPLOYMENT_CUMULATIVE)]
        firm = len(firms)
        members = []
        for site in range(1, n_sites + 1):
            if site == 1:
                place = home
            elif stream.chance(0.7):  # chains stay mostly within their region
                place = stream.pick(PLACES_BY_REGION[home.region_code])
            else:
                place = PLACES[stream.pick_weighted(EMPLOYMENT_CUMULATIVE)]
            size = _size(sector, preset, stream)
            seasonal = None
            if stream.chance(sector.seasonal_tourist if is_tourist(place.departement) else sector.seasonal_other):
                seasonal = "winter" if place.departement in MOUNTAIN and stream.chance(0.5) else "summer"
            siret = siret_of(siren, site)
            members.append(len(establishments))
            establishments.append(Establishment(
                index=len(establishments), siren=siren, siret=siret, nic_siege=siret_of(siren, 1)[9:], firm=firm,
                sector=sector, naf=naf, idcc=sector.idcc_for(base_idcc, size), departement=place.departement,
                region_code=place.region_code, postal_code=postal_code(place.departement, stream),
                street=street_address(addresses), city=city_of(place.departement), size=size,
                seasonal=seasonal, title_style=stream.integer(0, 97),
                short_contract_habit=_short_contract_habit(stream),
            ))
        firms.append(members)
    for members in firms:
        firm_size = sum(establishments[i].size for i in members)
        for i in members:
            establishments[i].firm_size = firm_size
    _assign_agencies(establishments, stream)
    emitters = _assign_emitters(preset, establishments, firms, stream, sirens)
    return establishments, emitters


def _assign_agencies(establishments: list[Establishment], stream: Stream) -> None:
    """Each employer calls on one or two temp agencies, in its region when there is one."""
    agencies = [e.index for e in establishments if e.is_agency]
    if not agencies:
        return
    by_region: dict[str, list[int]] = {}
    for index in agencies:
        by_region.setdefault(establishments[index].region_code, []).append(index)
    for establishment in establishments:
        if establishment.is_agency:
            continue
        candidates = by_region.get(establishment.region_code) or agencies
        first = stream.pick(candidates)
        second = stream.pick(candidates)
        establishment.agencies = (first,) if first == second else (first, second)


def _assign_emitters(
    preset: Preset, establishments: list[Establishment], firms: list[list[int]], stream: Stream, sirens: set[str]
) -> list[Emitter]:
    """Accounting firms serve many small firms (a few serve most); large chains emit their own files."""
    n_services = max(3, math.ceil(len(establishments) / preset.establishments_per_emitter))
    emitters = [_new_emitter(i, stream, sirens, own_siren=None) for i in range(n_services)]
    popularity = cumulative([1.0 / (rank + 1) ** 0.6 for rank in range(n_services)])
    for members in firms:
        if len(members) >= 4 and stream.chance(0.6):
            emitter = _new_emitter(len(emitters), stream, sirens, own_siren=establishments[members[0]].siren)
            emitters.append(emitter)
        else:
            emitter = emitters[stream.pick_weighted(popularity)]
        for i in members:
            establishments[i].emitter = emitter.index
            emitter.establishments.append(i)
    return [emitter for emitter in emitters if emitter.establishments]


def _new_emitter(index: int, stream: Stream, sirens: set[str], own_siren: str | None) -> Emitter:
    """An accounting firm, or with `own_siren` the payroll service of a large firm."""
    city, departement = stream.pick(_EMITTER_CITIES)
    surname = stream.pick(SURNAMES)
    if own_siren is None:
        siren = new_siren(stream, sirens)
        pattern = stream.pick(("CABINET {} EXPERTISE", "FIDUCIAIRE {}", "{} ET ASSOCIES", "COMPTA {} CONSEIL"))
        name = pattern.format(surname)
    else:
        siren, name = own_siren, f"SERVICE PAIE {own_siren}"
    return Emitter(
        index=index, siren=siren, nic=siret_of(siren, 1)[9:], name=name,
        street=street_address(stream), postal_code=f"{departement}000", city=city,
        contact=f"{stream.pick(SURNAMES)} {stream.pick(('CLAIRE', 'MARC', 'NADIA', 'PAUL', 'SONIA'))}",
        contact_title=stream.pick(("01", "02")), phone=f"0{stream.integer(1, 5)}{stream.integer(0, 99_999_999):08d}",
        software=stream.pick(_SOFTWARE), crlf=stream.chance(0.6), filing_day=stream.integer(1, 12),
    )
