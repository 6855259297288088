"""Honest fixed-term work beyond replacements: activity peaks (ATA, motif 02, as CDDs or temp missions),
seasonal jobs (motif 03) and CDD d'usage (motif 05) where the sector allows it."""

from __future__ import annotations

import datetime as dt
import heapq
import math

from simulation.calendar import day_of, first_day_of
from simulation.employer import MAX_HONEST_DAYS, Employer

_RENEWALS_LONG_ATA = [0.5, 0.85, 1.0]  # cumulative chances of 0, 1, 2 renewals
REGULARS_HABIT = 2.0  # short-contract habit from which an employer keeps regulars on one-day contracts
REGULAR_SHIFTS_PER_MONTH = 1.6
REGULARS_PER_HEADCOUNT = 4  # one (or two) regulars per this many CDI employees
REGULAR_KEY = 10**9  # person keys of regulars (chains of abuse episodes use keys below)


def activity_peaks(emp: Employer) -> None:
    """Temporary increases in activity: a few extra workers on one post for days to months, on slots
    that respect the délai de carence. Slots are booked in date order, as an employer hires."""
    sector, stream, period = emp.est.sector, emp.stream, emp.period
    size = emp.est.size
    window_start = period.first_day - 90
    years = (period.last_day - window_start) / 365.25
    requests: list[tuple[int, int, int, int, bool]] = []  # begin, post index, days, renewals, mission
    for _ in range(stream.poisson(sector.peak_rate * size**0.6 * years)):
        start = stream.integer(window_start, period.last_day)
        post_index = emp.pick_post()
        long = stream.chance(sector.long_ata_share)
        for _ in range(1 + stream.poisson(sector.peak_workers * math.sqrt(size))):
            begin = start + stream.integer(0, 3)
            mission = stream.chance(sector.temp_share)
            if long:  # temp missions are shorter than CDDs even for long needs
                days = min(MAX_HONEST_DAYS, max(45, int(stream.lognormal(60 if mission else 270, 0.5))))
                renewals = stream.pick_weighted(_RENEWALS_LONG_ATA)
            else:
                days = min(45, max(1, int(stream.lognormal(sector.peak_median_days, 0.75))))
                renewals = 1 if days > 20 and stream.chance(0.15) else 0
            requests.append((begin, post_index, days, renewals, mission))
    heapq.heapify(requests)
    while requests:
        begin, post_index, days, renewals, mission = heapq.heappop(requests)
        if begin > period.last_day:
            continue  # waited for a post past the simulated months
        post = emp.post_id(post_index)
        slot = emp.slots.take(post, begin)
        if slot is None:  # every vacant post is within its waiting period: wait for the first one
            heapq.heappush(requests, (emp.slots.free_from(post, begin), post_index, days, renewals, mission))
            continue
        hire = emp.fixed_term(post_index, slot, begin, begin + days - 1, "02", origin="surcroit", renewals=renewals,
                              mission=mission, rehire_probability=0.7)
        emp.slots.book(post, slot, hire.start, hire.end, hire.end_motif)


def _season(kind: str, year: int) -> tuple[int, int]:
    """First and last day of a summer season, or of a winter season starting in December of `year`."""
    if kind == "summer":
        return day_of(dt.date(year, 6, 1)), day_of(dt.date(year, 9, 15))
    return day_of(dt.date(year, 12, 10)), day_of(dt.date(year + 1, 4, 10))


def seasonal_jobs(emp: Employer) -> None:
    """Seasonal establishments hire for each season, largely the same people as the year before."""
    kind = emp.est.seasonal
    if kind is None:
        return
    stream, period = emp.stream, emp.period
    first_year = period.year_month(0)[0] - 1
    last_year = period.year_month(period.n_months - 1)[0]
    for year in range(first_year, last_year + 1):
        season_start, season_end = _season(kind, year)
        if season_end < period.first_day - 30 or season_start > period.last_day:
            continue
        for _ in range(1 + round(emp.est.size * stream.between(0.4, 1.2))):
            start = season_start + int(stream.exponential(7))
            end = season_end - int(stream.exponential(10))
            if end - start < 20:
                continue
            emp.fixed_term(emp.pick_post(), -1, start, end, "03", origin="saisonnier",
                           renewals=1 if stream.chance(0.25) else 0, early_end=0.05, rehire_probability=0.75)


def _season_factor(emp: Employer, month: int) -> float:
    if emp.est.seasonal == "summer":
        return 1.8 if month in (6, 7, 8, 9) else 0.7
    if emp.est.seasonal == "winter":
        return 1.8 if month in (12, 1, 2, 3) else 0.7
    return 1.25 if month == 12 else 1.0


def usage_contracts(emp: Employer) -> None:
    """CDD d'usage in the sectors that allow them: extras for a service, a show, a training session,
    mostly one day long, mostly given to the same people. Employers with a strong short-contract habit
    also keep one or two regulars on one-day contracts several times a month, which is where re-hiring
    concentrates."""
    sector, stream, period = emp.est.sector, emp.stream, emp.period
    if not sector.usage_allowed or sector.usage_rate <= 0:
        return
    habit = emp.est.short_contract_habit
    longest = 60 if sector.key == "performing_arts" else 25
    regulars = 0 if habit < REGULARS_HABIT else (1 + int(habit >= 2 * REGULARS_HABIT)) * max(
        1, round(emp.est.size / REGULARS_PER_HEADCOUNT))
    for index in range(-2, period.n_months):
        _, month = period.year_month(index)
        month_first = first_day_of(period.first_absolute_month + index)
        month_last = first_day_of(period.first_absolute_month + index + 1) - 1
        season = _season_factor(emp, month)
        for _ in range(stream.poisson(sector.usage_rate / 12 * emp.est.size * habit * season)):
            start = stream.integer(month_first, month_last)
            if stream.chance(sector.usage_one_day):
                days = 1
            else:
                days = stream.integer(2, 5) if stream.chance(0.7) else stream.integer(6, longest)
            emp.fixed_term(emp.pick_post(), -1, start, start + days - 1, "05", origin="usage", early_end=0.01,
                           rehire_probability=0.95)
        for regular in range(regulars):
            shifts = min(month_last - month_first + 1, stream.poisson(REGULAR_SHIFTS_PER_MONTH * season))
            post_index = emp.pick_post()
            for day in sorted(stream.rng.choice(month_last - month_first + 1, shifts, replace=False).tolist()):
                emp.fixed_term(post_index, -1, month_first + day, month_first + day, "05", origin="usage",
                               early_end=0.0, person_key=REGULAR_KEY + regular)
