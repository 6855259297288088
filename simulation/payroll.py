"""What a real monthly DSN carries beyond contracts and pay: the rubrics and blocks payroll software
always writes, and the contribution blocks that make up most of a real file.

Per contract (S21.G00.40): statut catégoriel (003), dispositif (008, '99'), régimes (016, 018, 020),
worker abroad (024), statut d'emploi (026), multiple jobs and employers (036, 037), AT rate (043); the
prévoyance affiliation S21.G00.70 where the sector has a branch scheme, and the Agirc-Arrco regime
S21.G00.71 for every contract.

Per versement (S21.G00.50), after the pay blocks 51/53: primes and indemnities S21.G00.52 (end of CDD or
mission, paid leave, thirteenth month, ...), other income S21.G00.54 (meal vouchers, transport), then
the bases S21.G00.78 (02 plafonnée, 03 déplafonnée, 04 CSG/CRDS, 07 assurance chômage, 31 prévoyance)
with their components S21.G00.79 and individual contributions S21.G00.81 at 2023-2026 rates; per
individual, seniority S21.G00.86 for the software that writes it.

Per establishment (children of S21.G00.11, before the individuals): the prévoyance adhésion
S21.G00.15, one payment S21.G00.20 (with its S21.G00.55 component) per body paid (URSSAF, Agirc-Arrco,
prévoyance), and the URSSAF bordereau S21.G00.22 with its aggregated contributions S21.G00.23 (CTP
codes), each the sum of the individual contributions it stands for (the DSN's equivalence between the
aggregated and the individual level).

Amounts follow the pay already written: the bases are the gross of the month (51.013) plus the primes
subject to contributions. Choices that are not in the population (which employer pays a thirteenth
month, who gets a transport allowance...) come from a stream of their own or from a hash of
(contract, month), so that a declaration written twice (a replacement) carries the same amounts and the
population itself is untouched. Organisation identifiers (URSSAF SIRET, Agirc-Arrco and prévoyance
bodies, bank accounts) have the real formats but are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.calendar import DateFormatter, Period
from simulation.contracts import ContractColumns
from simulation.employer import minimum_wage
from simulation.identity import siret_of, with_luhn_key
from simulation.population import Emitter, Establishment
from simulation.random_stream import Stream
from simulation.sectors import POSTS


@dataclass(frozen=True)
class SoftwareHabits:
    """What a payroll software writes beyond the norm's minimum."""

    birthplace: bool  # S21.G00.30.007/014/015 for everyone (others: only for people without a NIR)
    seniority: bool  # S21.G00.86 for every contract


HABITS: dict[str, SoftwareHabits] = {
    "PAIEXPERT": SoftwareHabits(birthplace=True, seniority=True),
    "SOLUPAIE": SoftwareHabits(birthplace=False, seniority=False),
    "GESTRH": SoftwareHabits(birthplace=True, seniority=False),
    "NETPAYE": SoftwareHabits(birthplace=False, seniority=True),
    "CLICPAIE": SoftwareHabits(birthplace=True, seniority=False),
}
_DEFAULT_HABITS = SoftwareHabits(birthplace=False, seniority=False)
# Share of establishments whose emitter writes the PCS-ESE code in upper case ('526A'); the others, as
# most payroll software does, in lower case.
PCS_UPPER_CASE_SHARE = 0.2


def upper_case_emitters(emitters: list[Emitter], stream: Stream) -> set[int]:
    """Emitters writing PCS-ESE codes in upper case, drawn until they declare about PCS_UPPER_CASE_SHARE
    of the establishments (a few emitters declare most establishments, so drawing emitters alone would
    make the share swing from one seed to the next)."""
    total = sum(len(e.establishments) for e in emitters)
    chosen: set[int] = set()
    covered = 0
    for k in stream.rng.permutation(len(emitters)).tolist():
        size = len(emitters[k].establishments)
        if covered + size <= PCS_UPPER_CASE_SHARE * total:
            chosen.add(emitters[k].index)
            covered += size
    return chosen


@dataclass(frozen=True)
class SectorPayroll:
    at_rate: float  # AT/MP rate (%), before the establishment's own variation
    prevoyance: tuple[str, float] | None  # branch prévoyance: (body code, rate % of gross), None when none
    retirement: tuple[str, ...]  # Agirc-Arrco bodies (institution codes) firms of the sector use


_GENERIC_RETIREMENT = ("A100", "A210", "A700", "A810")
SECTOR_PAYROLL: dict[str, SectorPayroll] = {
    "restaurants": SectorPayroll(1.72, ("P0942", 0.80), _GENERIC_RETIREMENT),
    "hotels": SectorPayroll(1.91, ("P0942", 0.80), _GENERIC_RETIREMENT),
    "care_homes": SectorPayroll(3.45, ("P1050", 1.20), _GENERIC_RETIREMENT),
    "retail": SectorPayroll(1.64, None, _GENERIC_RETIREMENT),
    "construction": SectorPayroll(5.94, ("P0300", 1.75), ("A300",)),
    "logistics": SectorPayroll(3.78, ("P0712", 1.10), _GENERIC_RETIREMENT),
    "cleaning": SectorPayroll(3.16, ("P0845", 1.00), _GENERIC_RETIREMENT),
    "bakeries": SectorPayroll(2.57, None, _GENERIC_RETIREMENT),
    "metalwork": SectorPayroll(2.98, ("P0512", 1.30), _GENERIC_RETIREMENT),
    "it": SectorPayroll(0.66, ("P0925", 1.50), _GENERIC_RETIREMENT),
    "training": SectorPayroll(0.87, None, _GENERIC_RETIREMENT),
    "performing_arts": SectorPayroll(1.59, ("P0560", 1.10), ("A560",)),
    "home_help": SectorPayroll(4.62, ("P0420", 1.30), ("A420",)),
    "temp_agency": SectorPayroll(3.66, ("P0878", 0.90), _GENERIC_RETIREMENT),
}

# (bank code, BIC) of the banks the simulated firms use.
_BANKS = (("30004", "BNPAFRPP"), ("30003", "SOGEFRPP"), ("10278", "CMCIFR2A"), ("30002", "CRLYFRPP"),
          ("20041", "PSSTFRPP"), ("11315", "CEPAFRPP"), ("18206", "AGRIFRPP"))

# Yearly parameters (monthly plafond de la sécurité sociale, rates in %).
_PASS = {2023: 3666.0, 2024: 3864.0, 2025: 3925.0, 2026: 4005.0}
_AGS = {2023: 0.15, 2024: 0.20, 2025: 0.25, 2026: 0.25}
_VIEILLESSE_DEPLAFONNEE = {2023: 2.30, 2024: 2.42, 2025: 2.51, 2026: 2.51}  # employer + employee
_TRANSPORT_IDF = {2023: 42.05, 2024: 43.15, 2025: 44.05, 2026: 45.40}  # half of the Navigo pass
VIEILLESSE_PLAFONNEE = 15.45
MALADIE, MALADIE_COMPLEMENT = 7.00, 6.00  # complement above 2.5 SMIC (CTP 635)
FAMILLE, FAMILLE_COMPLEMENT = 3.45, 1.80  # complement above 3.5 SMIC (CTP 437)
CSA = 0.30
FNAL_SMALL, FNAL_LARGE = 0.10, 0.50  # under 50 employees on the plafonnée base, else on the whole gross
DIALOGUE_SOCIAL = 0.016
CSG, CRDS, CSG_BASE = 9.20, 0.50, 0.9825
CHOMAGE = 4.05
CFP_SMALL, CFP_LARGE = 0.55, 1.00  # formation professionnelle, under 11 employees / 11 or more
CPF_CDD = 1.00
AGIRC_ARRCO_T1, AGIRC_ARRCO_T2, APEC = 10.02, 24.64, 0.06  # T1/T2 with CEG and CET
REDUCTION_T_SMALL, REDUCTION_T_LARGE, REDUCTION_RETIREMENT_SHARE = 0.3194, 0.3234, 0.0601


def _for_year(table: dict[int, float], year: int) -> float:
    """The value of a yearly table, the nearest year's outside it."""
    return table[min(max(year, min(table)), max(table))]


def _iban(bank: str, branch: int, account: int) -> str:
    """A French IBAN with a valid RIB key and check digits."""
    key = 97 - (89 * int(bank) + 15 * branch + 3 * account) % 97
    bban = f"{bank}{branch:05d}{account:011d}{key:02d}"
    check = 98 - int(bban + "152700") % 97  # F=15, R=27
    return f"FR{check:02d}{bban}"


@dataclass
class EstablishmentPay:
    """What the payroll of one establishment declares every month."""

    at_rate: float
    alsace_moselle: bool
    urssaf: str  # SIRET of the URSSAF of the region (S21.G00.20.001, S21.G00.22.001)
    retirement: str  # Agirc-Arrco body (S21.G00.20.001, S21.G00.81.002)
    bic: str
    iban: str
    prevoyance: tuple[str, str, float] | None  # (body, contract reference, rate %)
    mobility_rate: float  # versement mobilité (%), 0 outside a transport authority
    commune: str  # INSEE code of the commune (S21.G00.81.005, S21.G00.23.006)
    thirteenth_month: bool
    meal_voucher: float  # employer's share of a meal voucher (EUR), 0 when none
    transport_share: float  # share of its people paid a public transport allowance
    transport_amount: float  # monthly allowance outside Île-de-France


def establishment_pay(establishments: list[Establishment], stream: Stream) -> list[EstablishmentPay]:
    """Each establishment's payroll settings; firms share their bank, retirement body and prévoyance contract."""
    firm_settings: dict[int, tuple[str, str, str, str]] = {}
    result = []
    for e in establishments:
        sector = SECTOR_PAYROLL[e.sector.key]
        if e.firm not in firm_settings:
            bank, bic = stream.pick(_BANKS)
            iban = _iban(bank, stream.integer(1, 99_999), stream.integer(0, 10**11 - 1))
            reference = f"{stream.integer(100_000, 999_999)}/{stream.integer(1, 9999):04d}"
            firm_settings[e.firm] = (stream.pick(sector.retirement), bic, iban, reference)
        retirement, bic, iban, reference = firm_settings[e.firm]
        region = int(e.region_code)
        urssaf = siret_of(with_luhn_key(f"7886{region:02d}17"), 1)
        at_rate = round(sector.at_rate * stream.lognormal(1.0, 0.15), 2)
        if e.departement in ("75", "92", "93", "94"):
            mobility = 2.95
        elif e.region_code == "11":
            mobility = 2.01
        else:
            mobility = round(stream.between(0.8, 2.0), 2) if stream.chance(0.65) else 0.0
        postal = e.postal_code
        commune = (postal[:3] + f"{(int(postal[3:]) * 7 + 1) % 97 + 1:02d}" if len(e.departement) == 3
                   else e.departement + f"{(int(postal[2:]) * 7 + 1) % 900 + 1:03d}")
        prevoyance = (sector.prevoyance[0], reference, sector.prevoyance[1]) if sector.prevoyance else None
        result.append(EstablishmentPay(
            at_rate=at_rate, alsace_moselle=e.departement in ("57", "67", "68"), urssaf=urssaf,
            retirement=retirement, bic=bic, iban=iban, prevoyance=prevoyance, mobility_rate=mobility,
            commune=commune, thirteenth_month=stream.chance(0.25),
            meal_voucher=round(stream.between(4.0, 6.5), 2) if stream.chance(0.3) else 0.0,
            transport_share=0.45 if e.region_code == "11" else 0.08,
            transport_amount=round(stream.between(15.0, 30.0), 2),
        ))
    return result


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def hashed_uniform(keys: np.ndarray, salt: int) -> np.ndarray:
    """A uniform draw in [0, 1) per integer key (splitmix64): the same key always gives the same draw."""
    x = np.asarray(keys, dtype=np.int64).astype(np.uint64) * _GOLDEN + np.uint64(salt)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _money(values: np.ndarray) -> np.ndarray:
    """Rounded to the cent, without negative zeros."""
    return np.round(values, 2) + 0.0


class Payroll:
    """The payroll side of the declarations: per-contract rubrics, then each month's amounts and blocks."""

    def __init__(self, period: Period, establishments: list[Establishment], emitters: list[Emitter],
                 contracts: ContractColumns, numbers: list[str], conversion_month: np.ndarray,
                 end_month: np.ndarray, stream: Stream) -> None:
        self.period = period
        self.establishments = establishments
        self.c = contracts
        self.numbers = numbers
        self.conversion_month = conversion_month
        self.end_month = end_month
        self.fmt = DateFormatter()
        self.salt = int(stream.rng.integers(0, 2**62))
        self.pay = establishment_pay(establishments, stream)
        software = {e.index: e.software[0] for e in emitters}
        self.habits = [HABITS.get(software[e.emitter], _DEFAULT_HABITS) for e in establishments]
        upper = upper_case_emitters(emitters, stream)
        self.pcs_upper = [e.emitter in upper for e in establishments]
        c = contracts
        self.cadre = np.array([p.statut == "04" for p in POSTS])[c.post]
        has_prevoyance = np.array([p.prevoyance is not None for p in self.pay])
        self.affiliated = has_prevoyance[c.declaring]
        self.at_rate = np.array([p.at_rate for p in self.pay])
        self.firm_size = np.array([e.firm_size for e in establishments], dtype="int64")
        self.thirteenth = np.array([p.thirteenth_month for p in self.pay])
        self.meal = np.array([p.meal_voucher for p in self.pay])
        self.mobility = np.array([p.mobility_rate for p in self.pay])
        self.prevoyance_rate = np.array([p.prevoyance[2] if p.prevoyance else 0.0 for p in self.pay])
        self.transport_share = np.array([p.transport_share for p in self.pay])
        self.transport_amount = np.array([p.transport_amount for p in self.pay])
        self.idf = np.array([e.region_code == "11" for e in establishments])

    # -- per contract ------------------------------------------------------------------------------
    def contract_rubrics(self, workplace: list[str], idcc: list[str]) -> tuple[list[str], list[str], list[str],
                                                                              list[str]]:
        """Text of every contract's fixed rubrics, in four pieces written around the others: 002-004
        (statut, statut catégoriel, PCS-ESE as the software writes it), 016-020 (régimes, with 017 and
        019), 024-043 (after the motif), and the S21.G00.70/71 blocks (after the contract's children)."""
        c = self.c
        n = len(c)
        statut = np.array([p.statut for p in POSTS], dtype=object)[c.post].tolist()
        pcs = np.array([p.pcs for p in POSTS], dtype=object)[c.post].tolist()
        upper = [self.pcs_upper[est] for est in c.declaring.tolist()]
        part_time = (c.hours < 151.0).tolist()
        u = hashed_uniform(np.arange(n) * 7 + 1, self.salt).tolist()
        alsace = [self.pay[est].alsace_moselle for est in c.declaring.tolist()]
        at_rate = self.at_rate[c.work].tolist()
        affiliation_start = np.maximum(c.start, 17897).tolist()  # 01/01/2019, when the adhésions began
        affiliated = self.affiliated.tolist()
        head, regimes, tail, blocks = [], [], [], []
        for row in range(n):
            head.append(f"S21.G00.40.002,'{statut[row]}'\nS21.G00.40.003,'{'01' if statut[row] == '04' else '04'}'\n"
                        f"S21.G00.40.004,'{pcs[row].upper() if upper[row] else pcs[row]}'\n")
            regimes.append(f"S21.G00.40.016,'{'01' if alsace[row] else '99'}'\nS21.G00.40.017,'{idcc[row]}'\n"
                           f"S21.G00.40.018,'200'\nS21.G00.40.019,'{workplace[row]}'\nS21.G00.40.020,'200'\n")
            draw = u[row]
            multiple_jobs = "02" if part_time[row] and draw < 0.25 else ("03" if draw > 0.995 else "01")
            multiple_employers = "02" if part_time[row] and draw < 0.2 else ("03" if draw > 0.995 else "01")
            tail.append(f"S21.G00.40.024,'99'\nS21.G00.40.026,'99'\nS21.G00.40.036,'{multiple_jobs}'\n"
                        f"S21.G00.40.037,'{multiple_employers}'\nS21.G00.40.043,'{at_rate[row]:.2f}'\n")
            block = ""
            if affiliated[row]:
                population = "CAD" if statut[row] == "04" else "NCA"
                block = (f"S21.G00.70.005,'{population}'\nS21.G00.70.012,'1'\nS21.G00.70.013,'1'\n"
                         f"S21.G00.70.014,'{self.fmt(affiliation_start[row])}'\n")
            blocks.append(block + "S21.G00.71.002,'RUAA'\n")
        return head, regimes, tail, blocks

    # -- per month ---------------------------------------------------------------------------------
    def month(self, month: int, rows: np.ndarray) -> PayMonth:
        """Amounts and texts of the contracts `rows` in force during `month` (in declaration order)."""
        return PayMonth(self, month, rows)


class PayMonth:
    """One month: per contract in force, the pay (hours, gross), the text of its S21.G00.52/54 and
    S21.G00.78 blocks and of its S21.G00.86 block; per establishment, its S21.G00.15/20/22 blocks."""

    def __init__(self, payroll: Payroll, month: int, rows: np.ndarray) -> None:
        self.payroll = p = payroll
        c, period, fmt = p.c, p.period, p.fmt
        self.month = month
        self.rows = rows
        self.position = np.full(len(c), -1, dtype="int64")
        self.position[rows] = np.arange(len(rows))
        first, last = period.month_start(month), period.month_end(month)
        self.first, self.last = first, last
        year, month_number = period.year_month(month)
        self.year, self.month_number = year, month_number
        days_in_month = last - first + 1
        start, end, contract_hours, rate = c.start[rows], c.end[rows], c.hours[rows], c.rate[rows]
        covered = np.minimum(end, last) - np.maximum(start, first) + 1
        # hours and gross exactly as dsn_writer always wrote them
        self.hours = hours = np.minimum(contract_hours, np.round(contract_hours * covered * 1.4 / days_in_month, 2))
        self.gross = gross = np.round(hours * rate, 2)
        est = c.declaring[rows]
        nature = np.where(p.conversion_month[rows] <= month, c.nature_final[rows], c.nature[rows])
        motif, end_motif = c.motif[rows], c.end_motif[rows]
        ends_now = p.end_month[rows] == month
        draws = [hashed_uniform(rows * 1_000_003 + month * 16 + purpose, p.salt) for purpose in range(3)]

        # primes and indemnities (S21.G00.52): subject to contributions, except the severance pays
        monthly = rate * contract_hours
        fixed_end = ends_now & (nature != "01")
        days = (np.minimum(end, last) - start + 1).astype("float64")
        earned = monthly * np.maximum(days / 30.44, np.minimum(1.0, days * 1.4 / 30.44))
        precarity = _money(np.where(fixed_end & (nature == "02") & ~np.isin(motif, ("03", "05"))
                                    & np.isin(end_motif, ("031", "036")), 0.10 * earned, 0.0))
        end_of_mission = _money(np.where(fixed_end & (nature == "03") & np.isin(end_motif, ("032", "036")),
                                         0.10 * earned, 0.0))
        cdi_end = ends_now & (nature == "01")
        paid_leave = _money(np.where(fixed_end, 0.10 * (earned + precarity + end_of_mission),
                                     np.where(cdi_end, monthly * (0.3 + 0.9 * draws[0]), 0.0)))
        years = (end - start) / 365.25
        severance = monthly * 0.25 * years
        conventional = _money(np.where(cdi_end & (end_motif == "043"), np.maximum(severance, 0.25 * monthly), 0.0))
        dismissal = _money(np.where(cdi_end & (end_motif == "020") & (years >= 8 / 12), severance, 0.0))
        permanent = (nature == "01") & ~ends_now
        thirteenth = _money(np.where(permanent & p.thirteenth[est] & (month_number == 12), monthly, 0.0))
        bonus = _money(np.where(permanent & (draws[1] < 0.03), gross * (0.05 + 0.10 * draws[2]), 0.0))
        self.subject_extra = precarity + end_of_mission + paid_leave + thirteenth + bonus
        primes = (("001", conventional), ("007", dismissal), ("011", precarity), ("012", end_of_mission),
                  ("020", paid_leave), ("027", bonus), ("028", thirteenth))
        # other income (S21.G00.54): meal vouchers, public transport allowance (not in the gross)
        meal = _money(np.where((p.meal[est] > 0) & (hours >= 21), p.meal[est] * np.round(hours / 7), 0.0))
        person_draw = hashed_uniform(c.person[rows] * 8 + 5, p.salt)
        transport_amount = np.where(p.idf[est], _for_year(_TRANSPORT_IDF, year), p.transport_amount[est])
        transport = _money(np.where((person_draw < p.transport_share[est]) & (covered >= 15), transport_amount, 0.0))

        # bases and contributions (S21.G00.78/79/81)
        total = _money(gross + self.subject_extra)
        ceiling = _money(_for_year(_PASS, year) * covered / days_in_month)
        plafonnee = np.minimum(total, ceiling)
        chomage_base = np.minimum(total, 4 * ceiling)
        smic = _money(minimum_wage(first) * hours)
        counts = np.bincount(est, minlength=len(p.establishments))
        headcount = np.maximum(p.firm_size, counts)[est]
        small50, small11 = headcount < 50, headcount < 11
        t = np.where(small50, REDUCTION_T_SMALL, REDUCTION_T_LARGE)
        coefficient = np.clip(t / 0.6 * (1.6 * smic / np.maximum(total, 0.01) - 1.0), 0.0, t)
        reduction = _money(coefficient * total)
        reduction_retirement = _money(reduction * REDUCTION_RETIREMENT_SHARE / t)
        reduction_urssaf = _money(reduction - reduction_retirement)
        above25, above35 = total > 2.5 * smic, total > 3.5 * smic
        tranche2 = np.where(total > ceiling, np.minimum(total, 8 * ceiling) - ceiling, 0.0)
        cadre = p.cadre[rows]
        affiliated = p.affiliated[rows]
        a = {
            "076p": _money(plafonnee * VIEILLESSE_PLAFONNEE / 100),
            "049": _money(np.where(small50, plafonnee * FNAL_SMALL, total * FNAL_LARGE) / 100),
            "t1": _money(plafonnee * AGIRC_ARRCO_T1 / 100),
            "t2": _money(tranche2 * AGIRC_ARRCO_T2 / 100),
            "apec": _money(np.where(cadre, np.minimum(total, 4 * ceiling) * APEC / 100, 0.0)),  # 4 PASS at most
            "075a": _money(total * MALADIE / 100),
            "075b": _money(np.where(above25, total * MALADIE_COMPLEMENT / 100, 0.0)),
            "076d": _money(total * _for_year(_VIEILLESSE_DEPLAFONNEE, year) / 100),
            "074a": _money(total * FAMILLE / 100),
            "074b": _money(np.where(above35, total * FAMILLE_COMPLEMENT / 100, 0.0)),
            "045": _money(total * p.at_rate[c.work[rows]] / 100),
            "068": _money(total * CSA / 100),
            "100": _money(total * DIALOGUE_SOCIAL / 100),
            "128": _money(total * np.where(small11, CFP_SMALL, CFP_LARGE) / 100),
            "129": _money(np.where((nature == "02") & (motif != "05"), total * CPF_CDD / 100, 0.0)),
            "081": _money(np.where(small11, 0.0, total * p.mobility[est] / 100)),
            "059": _money(np.where(affiliated, total * p.prevoyance_rate[est] / 100, 0.0)),
            "040": _money(chomage_base * CHOMAGE / 100),
            "048": _money(chomage_base * _for_year(_AGS, year) / 100),
        }
        csg_base = _money(CSG_BASE * total + np.round(0.6 * a["059"], 2))
        a["072"] = _money(csg_base * CSG / 100)
        a["079"] = _money(csg_base * CRDS / 100)
        a["018"], a["106"] = 0.0 - reduction_urssaf, 0.0 - reduction_retirement  # reductions: negative, never -0.00
        self.tranche2, self.apec_base = tranche2, np.minimum(total, 4 * ceiling)
        self.amounts, self.total, self.plafonnee = a, total, plafonnee
        self.chomage_base, self.csg_base = chomage_base, csg_base
        self.flags = {"small50": small50, "small11": small11, "above25": above25, "above35": above35,
                      "reduced": reduction > 0, "cdd": a["129"] != 0, "affiliated": affiliated}

        # texts per contract
        numbers = [p.numbers[row] for row in rows.tolist()]
        start_text = [fmt(day) for day in np.maximum(start, first).tolist()]
        end_text = [fmt(day) for day in np.minimum(end, last).tolist()]
        self.periods = list(zip(start_text, end_text, strict=True))
        self.primes_text = self._primes(primes, numbers)
        self.others_text = self._others(meal, transport)
        self.bases_text = self._bases(est.tolist(), smic.tolist())
        months_in = np.maximum((last - start) // 30.44, 0).astype("int64").tolist()
        seniority = [p.habits[e].seniority for e in est.tolist()]
        self.seniority_text = [
            f"S21.G00.86.001,'07'\nS21.G00.86.002,'02'\nS21.G00.86.003,'{m}'\nS21.G00.86.005,'{number}'\n"
            if writes else "" for m, number, writes in zip(months_in, numbers, seniority, strict=True)]
        # sums per establishment, for the establishment blocks
        self._est_index, inverse = np.unique(est, return_inverse=True)
        groups = len(self._est_index)

        summed = {**a, "total": total, "plafonnee": plafonnee, "csg_base": csg_base, "chomage_base": chomage_base}
        for key, flag in self.flags.items():
            summed["total_" + key] = np.where(flag, total, 0.0)
            summed["any_" + key] = flag.astype("float64")
        self._sum_keys = list(summed)
        self._sum_rows = (np.round(np.stack([np.bincount(inverse, weights=values, minlength=groups)
                                             for values in summed.values()], axis=1), 2) + 0.0).tolist()
        self._headcount = np.maximum(p.firm_size, counts)
        self._est_text: dict[int, str] = {}

    # -- per-contract texts ------------------------------------------------------------------------
    def _primes(self, primes: tuple[tuple[str, np.ndarray], ...], numbers: list[str]) -> list[str]:
        texts = [""] * len(numbers)
        period_first, period_last = self.payroll.fmt(self.first), self.payroll.fmt(self.last)
        for code, amounts in primes:
            for j in np.flatnonzero(amounts > 0).tolist():
                rattachement = (f"S21.G00.52.003,'{period_first}'\nS21.G00.52.004,'{period_last}'\n"
                                if code == "027" else "")
                texts[j] += (f"S21.G00.52.001,'{code}'\nS21.G00.52.002,'{amounts[j]:.2f}'\n{rattachement}"
                             f"S21.G00.52.006,'{numbers[j]}'\n")
        return texts

    @staticmethod
    def _others(meal: np.ndarray, transport: np.ndarray) -> list[str]:
        texts = [""] * len(meal)
        for code, amounts in (("17", meal), ("18", transport)):
            for j in np.flatnonzero(amounts > 0).tolist():
                texts[j] += f"S21.G00.54.001,'{code}'\nS21.G00.54.002,'{amounts[j]:.2f}'\n"
        return texts

    def _bases(self, est: list[int], smic: list[float]) -> list[str]:
        """S21.G00.78 blocks (with 79 and 81) of each contract, in the order payroll software writes them."""
        p = self.payroll
        a = {key: values.tolist() for key, values in self.amounts.items()}
        f = {key: values.tolist() for key, values in self.flags.items()}
        total, plafonnee = self.total.tolist(), self.plafonnee.tolist()
        chomage_base, csg_base = self.chomage_base.tolist(), self.csg_base.tolist()
        tranche2, apec_base = self.tranche2.tolist(), self.apec_base.tolist()
        texts = []
        for j, e in enumerate(est):
            pay = p.pay[e]
            start, end = self.periods[j]
            dates = f"S21.G00.78.002,'{start}'\nS21.G00.78.003,'{end}'\n"
            b02, b03 = f"{plafonnee[j]:.2f}", f"{total[j]:.2f}"
            body = [
                f"S21.G00.78.001,'02'\n{dates}S21.G00.78.004,'{b02}'\n"
                f"S21.G00.81.001,'076'\nS21.G00.81.003,'{b02}'\nS21.G00.81.004,'{a['076p'][j]:.2f}'\n",
                f"S21.G00.81.001,'049'\nS21.G00.81.003,'{b02}'\nS21.G00.81.004,'{a['049'][j]:.2f}'\n"
                if f["small50"][j] else "",
                f"S21.G00.81.001,'131'\nS21.G00.81.002,'{pay.retirement}'\nS21.G00.81.003,'{b02}'\n"
                f"S21.G00.81.004,'{a['t1'][j]:.2f}'\n"
                f"S21.G00.78.001,'03'\n{dates}S21.G00.78.004,'{b03}'\n",
            ]
            reduced = f["reduced"][j]
            if reduced:
                body.append(f"S21.G00.79.001,'01'\nS21.G00.79.004,'{smic[j]:.2f}'\n"
                            f"S21.G00.81.001,'018'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['018'][j]:.2f}'\n")
            body.append(
                f"S21.G00.81.001,'045'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['045'][j]:.2f}'\n")
            if not f["small50"][j]:
                body.append(f"S21.G00.81.001,'049'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['049'][j]:.2f}'\n")
            body.append(
                f"S21.G00.81.001,'068'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['068'][j]:.2f}'\n"
                f"S21.G00.81.001,'074'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['074a'][j] + a['074b'][j]:.2f}'\n"
                f"S21.G00.81.001,'075'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['075a'][j] + a['075b'][j]:.2f}'\n"
                f"S21.G00.81.001,'076'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['076d'][j]:.2f}'\n")
            if a["081"][j]:
                body.append(f"S21.G00.81.001,'081'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['081'][j]:.2f}'\n"
                            f"S21.G00.81.005,'{pay.commune}'\n")
            body.append(f"S21.G00.81.001,'100'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['100'][j]:.2f}'\n")
            if reduced:
                body.append(f"S21.G00.81.001,'106'\nS21.G00.81.002,'{pay.retirement}'\nS21.G00.81.003,'{b03}'\n"
                            f"S21.G00.81.004,'{a['106'][j]:.2f}'\n")
            body.append(f"S21.G00.81.001,'128'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['128'][j]:.2f}'\n")
            if f["cdd"][j]:
                body.append(f"S21.G00.81.001,'129'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['129'][j]:.2f}'\n")
            if a["t2"][j]:
                body.append(f"S21.G00.81.001,'131'\nS21.G00.81.002,'{pay.retirement}'\n"
                            f"S21.G00.81.003,'{tranche2[j]:.2f}'\nS21.G00.81.004,'{a['t2'][j]:.2f}'\n")
            if a["apec"][j]:
                body.append(f"S21.G00.81.001,'132'\nS21.G00.81.002,'{pay.retirement}'\n"
                            f"S21.G00.81.003,'{apec_base[j]:.2f}'\n"
                            f"S21.G00.81.004,'{a['apec'][j]:.2f}'\n")
            b04, b07 = f"{csg_base[j]:.2f}", f"{chomage_base[j]:.2f}"
            body.append(
                f"S21.G00.78.001,'04'\n{dates}S21.G00.78.004,'{b04}'\n"
                f"S21.G00.81.001,'072'\nS21.G00.81.003,'{b04}'\nS21.G00.81.004,'{a['072'][j]:.2f}'\n"
                f"S21.G00.81.001,'079'\nS21.G00.81.003,'{b04}'\nS21.G00.81.004,'{a['079'][j]:.2f}'\n"
                f"S21.G00.78.001,'07'\n{dates}S21.G00.78.004,'{b07}'\n"
                f"S21.G00.81.001,'040'\nS21.G00.81.003,'{b07}'\nS21.G00.81.004,'{a['040'][j]:.2f}'\n"
                f"S21.G00.81.001,'048'\nS21.G00.81.003,'{b07}'\nS21.G00.81.004,'{a['048'][j]:.2f}'\n")
            if f["affiliated"][j]:
                body.append(
                    f"S21.G00.78.001,'31'\n{dates}S21.G00.78.004,'{b03}'\nS21.G00.78.005,'1'\n"
                    f"S21.G00.79.001,'10'\nS21.G00.79.004,'{b03}'\n"
                    f"S21.G00.81.001,'059'\nS21.G00.81.003,'{b03}'\nS21.G00.81.004,'{a['059'][j]:.2f}'\n")
            texts.append("".join(body))
        return texts

    # -- per establishment -------------------------------------------------------------------------
    def establishment_text(self, est: int, siret: str) -> str:
        """S21.G00.15 (prévoyance adhésion), S21.G00.20/55 (one payment per body) and S21.G00.22/23 (URSSAF
        bordereau, aggregated by CTP) of an establishment with people in force this month."""
        text = self._est_text.get(est)
        if text is None:
            text = self._est_text[est] = self._establishment_text(est, siret)
        return text

    def _establishment_text(self, est: int, siret: str) -> str:
        p = self.payroll
        pay = p.pay[est]
        index = int(np.searchsorted(self._est_index, est))
        s = dict(zip(self._sum_keys, self._sum_rows[index], strict=True))
        headcount = int(self._headcount[est])
        base03 = s["total"]
        ctp: list[tuple[str, str, str | None, float, float, str]] = [  # code, qualifiant, rate, base, amount, commune
            ("027", "920", None, base03, s["100"], ""),
            ("100", "921", f"{VIEILLESSE_PLAFONNEE:.2f}", s["plafonnee"], s["076p"], ""),
            ("100", "920", None, base03, round(s["075a"] + s["076d"] + s["074a"] + s["045"] + s["068"], 2), ""),
        ]
        if headcount < 50:
            ctp.append(("332", "921", f"{FNAL_SMALL:.2f}", s["plafonnee"], s["049"], ""))
        else:
            ctp.append(("236", "920", f"{FNAL_LARGE:.2f}", base03, s["049"], ""))
        ctp.append(("260", "920", f"{CSG + CRDS:.2f}", s["csg_base"], round(s["072"] + s["079"], 2), ""))
        if s["any_above35"]:
            ctp.append(("437", "920", f"{FAMILLE_COMPLEMENT:.2f}", s["total_above35"], s["074b"], ""))
        if s["any_above25"]:
            ctp.append(("635", "920", f"{MALADIE_COMPLEMENT:.2f}", s["total_above25"], s["075b"], ""))
        if s["any_reduced"]:
            ctp.append(("668", "920", None, s["total_reduced"], s["018"], ""))
        ctp.append(("772", "920", f"{CHOMAGE:.2f}", s["chomage_base"], s["040"], ""))
        if headcount >= 11 and pay.mobility_rate > 0:
            ctp.append(("900", "920", f"{pay.mobility_rate:.2f}", base03, s["081"], pay.commune))
        ctp.append(("937", "920", f"{_for_year(_AGS, self.year):.2f}", s["chomage_base"], s["048"], ""))
        if headcount < 11:
            ctp.append(("959", "920", f"{CFP_SMALL:.2f}", base03, s["128"], ""))
        else:
            ctp.append(("971", "920", f"{CFP_LARGE:.2f}", base03, s["128"], ""))
        if s["any_cdd"]:
            ctp.append(("983", "920", f"{CPF_CDD:.2f}", s["total_cdd"], s["129"], ""))
        urssaf_total = round(sum(amount for *_, amount, _ in ctp), 2) + 0.0
        retirement_total = round(s["t1"] + s["t2"] + s["apec"] + s["106"], 2) + 0.0
        prevoyance_total = s["059"]
        fmt = p.fmt
        period = f"S21.G00.20.006,'{fmt(self.first)}'\nS21.G00.20.007,'{fmt(self.last)}'\nS21.G00.20.010,'05'\n"
        bank = f"S21.G00.20.003,'{pay.bic}'\nS21.G00.20.004,'{pay.iban}'\n"
        affectation = f"S21.G00.55.004,'{self.year}M{self.month_number:02d}'\n"
        parts = []
        prevoyance = pay.prevoyance if s["any_affiliated"] > 0 else None
        if prevoyance is not None:
            body, reference, _ = prevoyance
            parts.append(f"S21.G00.15.001,'{reference}'\nS21.G00.15.002,'{body}'\nS21.G00.15.004,'01'\n"
                         f"S21.G00.15.005,'1'\n")
        parts.append(f"S21.G00.20.001,'{pay.urssaf}'\n{bank}S21.G00.20.005,'{max(urssaf_total, 0.0):.2f}'\n{period}"
                     f"S21.G00.55.001,'{urssaf_total:.2f}'\nS21.G00.55.003,'{siret}'\n{affectation}")
        parts.append(f"S21.G00.20.001,'{pay.retirement}'\n{bank}S21.G00.20.005,'{max(retirement_total, 0.0):.2f}'\n"
                     f"{period}S21.G00.55.001,'{retirement_total:.2f}'\n{affectation}")
        if prevoyance is not None:
            parts.append(f"S21.G00.20.001,'{body}'\n{bank}S21.G00.20.005,'{prevoyance_total:.2f}'\n{period}"
                         f"S21.G00.55.001,'{prevoyance_total:.2f}'\nS21.G00.55.003,'{reference}'\n{affectation}")
        parts.append(f"S21.G00.22.001,'{pay.urssaf}'\nS21.G00.22.003,'{fmt(self.first)}'\n"
                     f"S21.G00.22.004,'{fmt(self.last)}'\nS21.G00.22.005,'{urssaf_total:.2f}'\n")
        for code, qualifier, rate, base, amount, commune in ctp:
            parts.append(
                f"S21.G00.23.001,'{code}'\nS21.G00.23.002,'{qualifier}'\n"
                + (f"S21.G00.23.003,'{rate}'\n" if rate else "")
                + f"S21.G00.23.004,'{base:.2f}'\nS21.G00.23.005,'{amount:.2f}'\n"
                + (f"S21.G00.23.006,'{commune}'\n" if commune else ""))
        return "".join(parts)
