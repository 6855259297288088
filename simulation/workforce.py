"""The permanent workforce: CDI holders on each position, their departures and replacements by new
hires, their sick and maternity leaves, and the replacement CDDs (motif 01) those leaves justify."""

from __future__ import annotations

import math

from simulation.calendar import OPEN_FOREVER, month_of
from simulation.contracts import Absence, Hire
from simulation.employer import Employer
from simulation.random_stream import cumulative

# S21.G00.62.002 of CDI departures: resignation, rupture conventionnelle, dismissal, retirement, economic dismissal
_DEPARTURE_MOTIFS = (("059", 0.45), ("043", 0.25), ("020", 0.15), ("039", 0.05), ("014", 0.1))
_DEPARTURE_CUMULATIVE = cumulative([weight for _, weight in _DEPARTURE_MOTIFS])
TRIAL_FAILURE = 0.08
VACANCY_COVER = 0.15  # a CDD (motif 01) covers the wait for the new CDI holder
CDD_THEN_CDI = 0.15  # the new holder starts on a CDD later converted into CDI
MATERNITY_PER_YEAR = 0.04


def permanent_positions(emp: Employer) -> None:
    """CDI positions spread over the sector's posts; each position has a chain of holders."""
    size = emp.est.size
    counts = [0] * len(emp.est.sector.posts)
    counts[emp.pick_post()] += 1
    for _ in range(size - 1):
        counts[emp.pick_post()] += 1
    emp.cdi_slots = counts
    for post_index, count in enumerate(counts):
        for slot in range(count):
            _position(emp, post_index, slot)


def _position(emp: Employer, post_index: int, slot: int) -> None:
    stream, period = emp.stream, emp.period
    first_day, last_day = period.first_day, period.last_day
    mean_stay = 365.0 / emp.est.sector.cdi_turnover
    start = first_day - 1 - min(int(stream.exponential(mean_stay)), 35 * 365)
    newcomer = False
    while start <= last_day:
        if newcomer and stream.chance(TRIAL_FAILURE):
            end = start + stream.integer(7, 60)
            motif = "035" if stream.chance(0.5) else "034"
        else:
            end = max(start, first_day) + int(stream.exponential(mean_stay))
            motif = _DEPARTURE_MOTIFS[stream.pick_weighted(_DEPARTURE_CUMULATIVE)][0]
        if end > last_day:
            end = OPEN_FOREVER
        if newcomer and stream.chance(CDD_THEN_CDI):
            hire = _cdd_then_cdi(emp, post_index, slot, start, end, motif)
        else:
            hire = emp.cdi(post_index, slot, start, end, motif, origin="cdi" if newcomer else "cdi_stock",
                           rehire_probability=0.35 if newcomer else 0.0)
        _leaves(emp, hire, post_index, slot)
        end = hire.end  # a CDD-then-CDI may end later than drawn
        if end > last_day:
            return
        gap = stream.integer(5, 45)
        if stream.chance(VACANCY_COVER):
            emp.fixed_term(post_index, slot, end + 1, end + gap, "01", origin="attente_cdi", early_end=0.0)
        start, newcomer = end + 1 + gap, True


def _cdd_then_cdi(emp: Employer, post_index: int, slot: int, start: int, end: int, motif: str) -> Hire:
    """A CDD (motif 02) converted into CDI at its planned end: same contract, S21.G00.41 block."""
    stream = emp.stream
    cdd_end = start + stream.integer(60, 365)
    if cdd_end == emp.period.last_day:
        cdd_end -= 1  # converted the day after: inside the period, so the conversion is declared
    if end != OPEN_FOREVER and end <= cdd_end + 30:
        end = cdd_end + 30 + stream.integer(0, 200)
        end = OPEN_FOREVER if end > emp.period.last_day else end
    hire = emp.fixed_term(post_index, slot, start, cdd_end, "02", origin="cdd_puis_cdi",
                          renewals=stream.integer(0, 1), early_end=0.0, rehire_probability=0.5)
    if cdd_end > emp.period.last_day:
        return hire  # converted after the period: still a CDD in every declaration
    hire.end, hire.end_motif = end, motif if end != OPEN_FOREVER else ""
    hire.nature_final, hire.conversion_day = "01", cdd_end + 1
    return hire


def _sick_days(emp: Employer) -> int:
    """Length of a sick leave: mostly a few days, some weeks, a few months."""
    stream = emp.stream
    u = stream.uniform()
    if u < 0.40:
        return stream.integer(1, 3)
    if u < 0.70:
        return stream.integer(4, 14)
    if u < 0.90:
        return stream.integer(15, 60)
    return min(365, int(stream.lognormal(150, 0.5)))


def _leaves(emp: Employer, hire: Hire, post_index: int, slot: int) -> None:
    """Sick and maternity leaves of a CDI holder over the period, each maybe covered by a replacement."""
    stream, period = emp.stream, emp.period
    low = max(hire.start + 20, period.first_day - 120)
    high = min(hire.end - 1, period.last_day)
    female_young = False
    if hire.person >= 0:
        age = (low - emp.people.birth_day[hire.person]) / 365.25
        female_young = emp.people.sex[hire.person] == 2 and 22 <= age <= 42
    rate = emp.est.sector.sick_spells + (MATERNITY_PER_YEAR if female_young else 0.0)
    day = float(low)
    while True:
        day += stream.exponential(365.0 / rate)
        if day > high:
            return
        start = int(day)
        maternity = female_young and stream.chance(MATERNITY_PER_YEAR / rate)
        length = 112 if maternity else _sick_days(emp)
        end = min(start + length - 1, hire.end - 1)
        planned = end
        if not maternity and end - start >= 3 and stream.chance(0.25):
            planned = start + math.ceil((end - start + 1) * stream.between(0.3, 0.7)) - 1
        absence = Absence(post=hire.post, slot=slot, start=start, end=end, planned_end=planned,
                          reason="02" if maternity else "01")
        hire.absences.append(absence)
        emp.absences.append(absence)
        _replace(emp, absence, post_index, slot)
        day = float(end + 1)


def _replace(emp: Employer, absence: Absence, post_index: int, slot: int) -> None:
    """Cover an absence (or not): one CDD or mission renewed if the leave is extended, or successive
    short contracts ("vacations", common in care)."""
    sector, stream = emp.est.sector, emp.stream
    length = absence.end - absence.start + 1
    if length <= 2:
        cover = sector.cover_short
    else:
        cover = min(0.95, sector.cover_long * (0.8 if length <= 7 else 1.6 if length >= 30 else 1.0))
    if not stream.chance(cover):
        return
    if stream.chance(sector.temp_share):
        emp.fixed_term(post_index, slot, absence.start, absence.end, "01", origin="remplacement",
                       versions=_extension(absence), mission=True, early_end=0.0)
    elif stream.chance(sector.cover_by_vacations * emp.est.short_contract_habit):
        day = absence.start
        while day <= absence.end:
            piece = 1 if stream.chance(0.3) else stream.integer(2, 7)
            last = min(day + piece - 1, absence.end)
            emp.fixed_term(post_index, slot, day, last, "01", origin="remplacement", early_end=0.0,
                           rehire_probability=0.93)
            day = last + 1
    else:
        emp.fixed_term(post_index, slot, absence.start, absence.end, "01", origin="remplacement",
                       versions=_extension(absence), early_end=0.01)


def _extension(absence: Absence) -> tuple[int, ...]:
    """Planned ends of a replacement: the leave's first planned end, pushed when the leave is extended."""
    if absence.planned_end < absence.end and month_of(absence.planned_end) < month_of(absence.end):
        return absence.planned_end, absence.end
    return (absence.end,)
