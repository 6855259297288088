"""A tiny hand-made world of contracts over fourteen months (2024-07 to 2025-08), written as one DSN file per declared month.

Small enough to reason about by hand, rich enough to exercise every feature family: rotating ATA
CDDs on one post (waiting periods ignored), a CDD renewed three times, a contract that ends with
no end block, an end block declared a month late, a sick CDI and its replacement, a replacement
with nothing to replace, usage CDDs in retail, and temp missions all year at a user establishment.
The restaurant moves to another street in June 2025.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn

RESTAURANT = "11111111100011"
CARE_HOME = "22222222200012"
AGENCY = "33333333300013"
SHOP = "44444444400014"
MONTHS = [date(2024, m, 1) for m in range(7, 13)] + [date(2025, m, 1) for m in range(1, 9)]
ESTABLISHMENTS = {
    RESTAURANT: ("5610A", "75011", "1979"),
    CARE_HOME: ("8710A", "69003", "2264"),
    AGENCY: ("7820Z", "13001", "2378"),
    SHOP: ("4711D", "69007", "2216"),
}
# Street and city (S21.G00.11.003 and .005); the restaurant moves within its arrondissement in June 2025.
ADDRESSES = {
    RESTAURANT: ("8 RUE DE LA ROQUETTE", "PARIS"),
    CARE_HOME: ("14 RUE GARIBALDI", "LYON"),
    AGENCY: ("3 QUAI DU PORT", "MARSEILLE"),
    SHOP: ("40 AVENUE JEAN JAURES", "LYON"),
}
RESTAURANT_MOVE = (date(2025, 6, 1), "25 BOULEVARD VOLTAIRE")


def address_of(siret: str, month: date) -> tuple[str, str]:
    """(street, city) an establishment declares for `month`."""
    street, city = ADDRESSES[siret]
    moved_on, new_street = RESTAURANT_MOVE
    return (new_street if siret == RESTAURANT and month >= moved_on else street), city


def _last_day(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


@dataclass
class Spell:
    """One contract of the mini world and how it shows in the monthly declarations."""

    siret: str
    person: int
    number: str
    start: date
    end: date | None
    nature: str = "02"
    motif: str | None = "02"
    title: str = "Serveur"
    planned_ends: list[date] = field(default_factory=list)  # successive planned ends (renewals)
    end_block: bool = True
    end_block_late: bool = False  # the end block comes in the month after the end
    user_siret: str | None = None
    absence: tuple[date, date] | None = None  # (last day worked, planned end of the stoppage)
    pcs: str | None = None

    def runs_in(self, month: date) -> bool:
        return self.start <= _last_day(month) and (self.end is None or self.end >= month)

    def planned_end_in(self, month: date) -> date | None:
        """The planned end as declared that month: the first not yet passed at the month start."""
        for planned in self.planned_ends:
            if planned >= month or planned == self.planned_ends[-1]:
                return planned
        return None


def _spells() -> list[Spell]:
    d = date
    spells = [
        Spell(RESTAURANT, 1, "R-CDI-1", d(2020, 1, 1), None, nature="01", motif=None, title="Cuisinier"),
        # Rotating ATA CDDs on 'serveur': each gap shorter than the waiting period.
        Spell(RESTAURANT, 2, "R-ATA-1", d(2025, 1, 6), d(2025, 1, 31), planned_ends=[d(2025, 1, 31)]),
        Spell(RESTAURANT, 3, "R-ATA-2", d(2025, 2, 3), d(2025, 2, 28), title="SERVEUSE", planned_ends=[d(2025, 2, 28)]),
        Spell(RESTAURANT, 2, "R-ATA-3", d(2025, 3, 3), d(2025, 3, 28), title="Serveur H/F", planned_ends=[d(2025, 3, 28)]),
        # Renewed three times (planned end pushed each month).
        Spell(RESTAURANT, 4, "R-ATA-4", d(2025, 2, 10), d(2025, 6, 30), title="Plongeur",
              planned_ends=[d(2025, 3, 9), d(2025, 4, 30), d(2025, 5, 31), d(2025, 6, 30)]),
        # Ends in May with no end block: inferred only once three later months are declared.
        Spell(RESTAURANT, 5, "R-ATA-5", d(2025, 4, 1), d(2025, 5, 20), title="Commis de cuisine",
              planned_ends=[d(2025, 5, 20)], end_block=False),
        # Ends in April, end block declared in May.
        Spell(RESTAURANT, 6, "R-ATA-6", d(2025, 4, 7), d(2025, 4, 25), title="Barman",
              planned_ends=[d(2025, 4, 25)], end_block_late=True),
        Spell(CARE_HOME, 7, "C-CDI-1", d(2019, 5, 1), None, nature="01", motif=None, title="Aide-soignante",
              absence=(d(2025, 2, 9), d(2025, 3, 20)), pcs="526A"),
        Spell(CARE_HOME, 8, "C-CDI-2", d(2018, 1, 1), None, nature="01", motif=None, title="Agent de service"),
        # A genuine replacement during the stoppage (titled 'AS': the same post by its PCS-ESE code
        # only), and one with no absence on its post.
        Spell(CARE_HOME, 9, "C-REMP-1", d(2025, 2, 10), d(2025, 3, 20), motif="01", title="AS",
              planned_ends=[d(2025, 3, 20)], pcs="526a"),
        Spell(CARE_HOME, 10, "C-REMP-2", d(2025, 5, 5), d(2025, 6, 27), motif="01", title="Infirmier",
              planned_ends=[d(2025, 6, 27)]),
        Spell(SHOP, 11, "S-CDI-1", d(2021, 3, 1), None, nature="01", motif=None, title="Vendeur"),
        # Usage CDDs in retail, where D1242-1 does not allow them.
        Spell(SHOP, 12, "S-USA-1", d(2025, 3, 1), d(2025, 3, 15), motif="05", title="Vendeur", planned_ends=[d(2025, 3, 15)]),
        Spell(SHOP, 13, "S-USA-2", d(2025, 6, 1), d(2025, 6, 30), motif="05", title="Vendeuse", planned_ends=[d(2025, 6, 30)]),
    ]
    # Temp missions on 'manutentionnaire' at the shop, back to back all year, declared by the agency.
    start = d(2024, 9, 2)
    for n in range(12):
        end = start + timedelta(days=27)
        spells.append(Spell(AGENCY, 20 + n % 3, f"A-MIS-{n}", start, end, nature="03", motif="02",
                            title="Manutentionnaire", planned_ends=[end], user_siret=SHOP))
        start = end + timedelta(days=3)
    return spells


def _nir(person: int) -> str:
    return f"1850175{person:06d}"


def declarations_for(month: date, order_base: int) -> list[Declaration]:
    """Every establishment's declaration for one month."""
    spells = _spells()
    out = []
    for index, (siret, (naf, postal, idcc)) in enumerate(ESTABLISHMENTS.items()):
        individuals: dict[int, Individual] = {}
        for spell in spells:
            late_block_month = (spell.end_block_late and spell.end
                                and (spell.end.replace(day=1) + timedelta(days=32)).replace(day=1) == month)
            if spell.siret != siret or not (spell.runs_in(month) or late_block_month):
                continue
            ends_now = spell.end is not None and spell.end <= _last_day(month)
            end = None
            if spell.end_block and ends_now and (not spell.end_block_late or late_block_month):
                end = (spell.end.isoformat(), "032" if spell.nature == "03" else "031")
            absence = None
            if spell.absence and spell.absence[0] < _last_day(month) and spell.absence[1] >= month:
                absence = ("01", spell.absence[0].isoformat(), spell.absence[1].isoformat())
            planned = spell.planned_end_in(month)
            contract = Contract(
                spell.number, spell.start.isoformat(), nature=spell.nature, motif=spell.motif, title=spell.title,
                planned_end=planned.isoformat() if planned else None, user_siret=spell.user_siret, end=end,
                absence=absence, pcs=spell.pcs,
            )
            person = individuals.setdefault(spell.person, Individual(nir=_nir(spell.person), surname=f"NOM{spell.person}",
                                                                      first_names="Prenom", birth="01011985"))
            person.contracts.append(contract)
        workplaces = [(SHOP, "4711D", "69007")] if siret == AGENCY else []
        street, city = address_of(siret, month)
        out.append(Declaration(siret, f"{month:%Y-%m}", list(individuals.values()), order=str(order_base + index),
                               naf=naf, postal_code=postal, idcc=idcc, workplaces=workplaces, street=street, city=city))
    return out


def write_months(folder: Path, months: list[date],
                 declares: Callable[[str, date], bool] = lambda siret, month: True) -> list[Path]:
    """One DSN file per declared month, holding the declarations of the establishments that `declares(siret, month)`
    (default: all)."""
    paths = []
    for month in months:
        order_base = (month.year * 12 + month.month) * 10
        declared = [d for d in declarations_for(month, order_base) if declares(d.siret, month)]
        paths.append(write_dsn(folder / f"{month:%Y-%m}.dsn", envoi(declared)))
    return paths
