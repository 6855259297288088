"""Posts of a job, read from how many of its contracts run at once.

A PCS-ESE code or a normalised job title names a *job*, not a *post*: a restaurant holds six waiter
posts at once, and the DSN has no post identifier. Two readings of the law need posts:

- `carence_successions` (L1244-3, L1251-36): the contracts of a job for accroissement temporaire
  d'activité (motif 02) are placed on posts in date order. A contract that starts takes a vacant
  post: one whose last holder left before its start and that was held within the last
  `post_memory_days` (a post left empty longer than that no longer exists). A job has no more posts
  than the most contracts it held at once within that memory: contracts that follow one another one
  at a time hold one post, and cannot pass from post to post of a peak long over (the most recently
  left posts are the ones that remain; a CDI holder's departure leaves a post of its own). When none is vacant
  the job's headcount grows: a new post, no waiting period. When several are, it takes one whose
  waiting period is over if there is one (the reading most favourable to the employer, so that a
  finding holds whichever post the employer names). A CDI holder of the job who leaves frees a post
  too (no waiting period after a CDI), which the next CDI hire fills. Only when every vacant post is
  still within the waiting period of the contract that left it is the start a potential infraction,
  paired with the holder of the post whose waiting period is closest to its end. The délai follows
  the establishment's branch agreement (`features.branch_agreements`).
- `permanent_posts` (L1242-1, L1251-5): the base load of a job, the number of posts held every day
  of the window (a break of at most `continuity_gap_days` does not count) by fixed-term contracts
  and missions, whoever holds them. A job that always has some temps is not a post held by temps
  unless the same number of places is filled by them all year: the base load is the level of
  concurrent contracts that the job keeps on `year_round_share` of the window's days. A post of the
  base load stays with its holder until that contract ends, then passes to the contract that will
  hold it longest (the latest end, then the earliest start) among those running or starting within
  the short break: the contracts found are those that held one, and a contract of a peak over the
  base load does not take the post from the chain that holds it.

Both are plain Python over contracts sorted by job and date (one pass each), run between the SQL
stages of the rule checks so that DuckDB and Spark share them.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.branch_agreements import required_carence_days, rule_of

EXEMPT_END_MOTIFS = frozenset({"035", "037", "059"})  # ended early by the employee: no waiting period (L1244-4)


def _groups(frame: pd.DataFrame) -> Iterator[tuple[int, int]]:
    """(first, last + 1) row positions of each job (establishment, post) of a frame sorted by them."""
    keys = (frame["establishment_siret"].astype(str) + "\x00" + frame["post"].astype(str)).to_numpy()
    if len(keys) == 0:
        return
    edges = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = np.concatenate(([0], edges, [len(keys)]))
    yield from zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)


@dataclass
class _Vacancy:
    post_no: int
    holder: int  # row of its last holder


def _new_post(running: list[tuple[int, int, int]], vacant: list[_Vacancy]) -> int:
    """The number of a post the job gains: the smallest not held nor vacant (a post gone gives its number back)."""
    taken = {post_no for _, post_no, _ in running} | {v.post_no for v in vacant}
    return next(n for n in range(1, len(taken) + 2) if n not in taken)


def carence_successions(contracts: pd.DataFrame, weekmasks: dict[str, str], post_memory_days: int) -> pd.DataFrame:
    """The starts of motif-02 contracts that fill a post still within its waiting period.

    `contracts`: contract_id, establishment_siret, post, start_day, end_day (declared or inferred; for
    an unknown end, the last day of its last declared month), end_declared (an end block gave it, or it
    is the declared planned end of a contract no longer declared after that month),
    end_unknown (no longer declared, its end not known yet),
    vacant_from_day (the first day its post is vacant: the day after its end; for an unknown end the
    first day of its last declared month; None while it runs), duration_days, end_motif, and `event`:
    'ata' for these contracts, 'departure' for a CDI holder of the job gone on start_day - 1 (its post,
    free of any waiting period, joins the vacant ones), 'hire' for a CDI holder starting on start_day
    (it fills the post a departure left, if one is vacant); sorted by establishment_siret, post,
    start_day, departures first, contract_id; day numbers count from 1900-01-01; and `idcc`: the IDCC
    whose branch agreement may set the délai of the contract that starts (`features.branch_agreements`).
    `weekmasks`: NumPy busday weekmask per SIRET, '*' the default.

    A start takes, among the vacant posts, one whose waiting period is over (or cannot be known: an unknown
    end); else one whose holder's end was inferred, not declared (a finding to check on site); else the
    one whose waiting period is closest to its end (a probable finding). A post whose holder's end is
    unknown clears a start of its own month without being taken by it (the holder may still have been
    there: the start is then a new post). One row per finding:
    contract_id, previous_contract_id, post_no (the post's number in the job, from 1, a number freed
    when its post is gone for good), posts_vacant
    (vacant posts it could fill), gap_opening_days, required_opening_days, gap_days (calendar days
    between the two contracts), own_calendar (the establishment's opening days are its own, not the
    default '*'), end_declared (the previous contract's end was declared), branch_idcc (the IDCC whose
    agreement set the délai; None for the statutory one), branch_sure (False when that agreement's
    reading is to check on site), calendar_days (the délai and the gap count calendar days, as that
    agreement says, instead of opening days).
    """
    rows: list[tuple] = []
    starts = contracts["start_day"].to_numpy(dtype="int64")
    ends = contracts["end_day"].to_numpy(dtype="float64")
    vacant_from = contracts["vacant_from_day"].to_numpy(dtype="float64")
    unknown = contracts["end_unknown"].to_numpy(dtype=bool)
    durations = contracts["duration_days"].to_numpy(dtype="float64")
    motifs = contracts["end_motif"].astype(object).to_numpy()
    declared = contracts["end_declared"].to_numpy(dtype=bool)
    event = contracts["event"].astype(str).to_numpy()
    idccs = contracts["idcc"].astype(object).to_numpy()
    ids = contracts["contract_id"].astype(str).to_numpy()
    sirets = contracts["establishment_siret"].astype(str).to_numpy()
    epoch = np.datetime64("1900-01-01", "D")
    never = np.iinfo("int64").max
    for first, after in _groups(contracts):
        own_calendar = sirets[first] in weekmasks
        mask = weekmasks[sirets[first]] if own_calendar else weekmasks["*"]
        running: list[tuple[int, int, int]] = []  # (first day vacant, post_no, row)
        vacant: list[_Vacancy] = []
        level = JobLevel(post_memory_days)
        for row in range(first, after):
            start = int(starts[row])
            while running and running[0][0] <= start:
                _, post_no, holder = heapq.heappop(running)
                vacant.append(_Vacancy(post_no, holder))
            vacant = _posts_left(vacant, start, level.posts(start) - len(running), vacant_from, event,
                                 post_memory_days)
            if event[row] == "departure":
                vacant.append(_Vacancy(_new_post(running, vacant), row))
                continue
            if event[row] == "hire":
                departed = [v for v in vacant if event[v.holder] == "departure"]
                if departed:
                    vacant.remove(max(departed, key=lambda v: vacant_from[v.holder]))
                continue
            branch = rule_of(idccs[row] if isinstance(idccs[row], str) else None)
            if not vacant:
                post_no = _new_post(running, vacant)
            else:
                best, best_key, gaps = vacant[0], (3, 0, 0), (0, 0, 0)
                for vacancy in vacant:
                    holder = vacancy.holder
                    left = int(vacant_from[holder]) - 1
                    gap = (start - left - 1 if branch.calendar_days
                           else int(np.busday_count(epoch + left + 1, epoch + start, weekmask=mask)))
                    held = 0 if np.isnan(durations[holder]) else int(durations[holder])
                    exempt = event[holder] == "departure" or unknown[holder] or motifs[holder] in EXEMPT_END_MOTIFS
                    need = 0 if exempt else required_carence_days(held, branch.carence)
                    short = need - gap
                    # clean (0), an undeclared end (1), within the waiting period (2); then the smallest
                    # shortfall, the latest end
                    status = 0 if short <= 0 else (1 if not declared[holder] else 2)
                    key = (status, short, -left)
                    if key < best_key:
                        best, best_key, gaps = vacancy, key, (gap, need, start - left - 1)
                if unknown[best.holder] and start <= int(ends[best.holder]):
                    post_no = _new_post(running, vacant)
                else:
                    vacant.remove(best)
                    post_no = best.post_no
                if best_key[0] > 0:
                    rows.append((ids[row], ids[best.holder], post_no, len(vacant) + 1, *gaps, own_calendar,
                                 best_key[0] == 2, branch.idcc or None, branch.sure, branch.calendar_days))
            free = never if np.isnan(vacant_from[row]) else int(vacant_from[row])  # running: holds its post
            heapq.heappush(running, (free, post_no, row))
            # a holder whose end is not known yet may still be there until the end of its last declared month
            level.hold(start, ends[row] + 1 if unknown[row] else vacant_from[row])
    return pd.DataFrame(rows, columns=["contract_id", "previous_contract_id", "post_no", "posts_vacant",
                                       "gap_opening_days", "required_opening_days", "gap_days", "own_calendar",
                                       "end_declared", "branch_idcc", "branch_sure", "calendar_days"])


class JobLevel:
    """How many contracts of one job run at once, day by day, and the posts the job has: the most contracts
    it held at once within the last `memory_days`. Contracts come in the order of their start dates."""

    def __init__(self, memory_days: int) -> None:
        self._memory_days = memory_days
        self._steps: deque[tuple[int, int]] = deque([(-(10**9), 0)])  # (day, contracts running from that day)
        self._leaving: list[int] = []  # first day vacant of each contract held (a heap)

    def hold(self, first_day: int, vacant_from: float) -> None:
        """A contract of the job held from `first_day` until the day before `vacant_from` (NaN: running)."""
        self._leave_until(first_day)
        self._steps.append((first_day, self._steps[-1][1] + 1))
        if math.isfinite(vacant_from):
            heapq.heappush(self._leaving, int(vacant_from))

    def held(self, day: int) -> int:
        """Contracts held on `day`."""
        self._leave_until(day)
        return self._steps[-1][1]

    def posts(self, day: int) -> int:
        """The most contracts held at once from the last day held of a post left `memory_days` before `day`
        (`day` - memory_days - 1) to `day`."""
        self._leave_until(day)
        while len(self._steps) > 1 and self._steps[1][0] <= day - self._memory_days - 1:
            self._steps.popleft()
        return max(held for _, held in self._steps)

    def _leave_until(self, day: int) -> None:
        while self._leaving and self._leaving[0] <= day:
            left = heapq.heappop(self._leaving)
            self._steps.append((left, self._steps[-1][1] - 1))


def _posts_left(vacant: list[_Vacancy], start: int, spare: int, vacant_from: np.ndarray, event: np.ndarray,
                memory_days: int) -> list[_Vacancy]:
    """The vacant posts that still exist on `start`: left within `memory_days`, and, among those a
    fixed-term contract or mission left, the `spare` most recently left (the job has no more posts than
    it held at once; a CDI holder's departure leaves a post of its own)."""
    alive = [v for v in vacant if start - int(vacant_from[v.holder]) <= memory_days]
    left = sorted((v for v in alive if event[v.holder] != "departure"), key=lambda v: -vacant_from[v.holder])
    gone = {id(v) for v in left[max(spare, 0):]}
    return [v for v in alive if id(v) not in gone]


def permanent_posts(contracts: pd.DataFrame, first_day: int, last_day: int, gap_days: int,
                    year_round_share: float) -> pd.DataFrame:
    """The fixed-term contracts and missions that hold the base load of their job in the window.

    `contracts`: contract_id, establishment_siret, post, start_day, end_day (the period's end for a
    running contract), sorted by establishment_siret and post; the window is [first_day, last_day]
    (day numbers). One row per contract found: contract_id, base_posts (the job's base load),
    peak_posts (its most concurrent contracts in the window), contracts_on_job (its contracts in
    the window), held_days (days the base load was held, short breaks included), window_days,
    base_days (days on which the contract held one of the base load's posts), days_in_window (the
    contract's days in the window).
    """
    rows: list[tuple] = []
    width = last_day - first_day + 1
    starts = np.clip(contracts["start_day"].to_numpy(dtype="int64") - first_day, 0, width)
    ends = np.clip(contracts["end_day"].to_numpy(dtype="int64") - first_day, -1, width - 1)
    ids = contracts["contract_id"].astype(str).to_numpy()
    for first, after in _groups(contracts):
        inside = np.flatnonzero(ends[first:after] >= starts[first:after]) + first
        if len(inside) == 0:
            continue
        level = daily_level(starts[inside], ends[inside], width)
        base, held = base_load(level, gap_days, year_round_share)
        if base == 0:
            continue
        holding = _base_holders(inside, starts, ends, ids, base, gap_days, width)
        for row in inside.tolist():
            if holding.get(row):
                rows.append((ids[row], base, int(level.max()), len(inside), held, width, holding[row],
                             int(ends[row] - starts[row] + 1)))
    return pd.DataFrame(rows, columns=["contract_id", "base_posts", "peak_posts", "contracts_on_job", "held_days",
                                       "window_days", "base_days", "days_in_window"])


def daily_level(starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """How many of the contracts (day numbers from 0, `starts` to `ends` inclusive, within `width` days) run
    on each day."""
    change = np.zeros(width + 1, dtype="int64")
    np.add.at(change, starts, 1)
    np.add.at(change, ends + 1, -1)
    return np.cumsum(change[:-1])


def base_load(level: np.ndarray, gap_days: int, year_round_share: float) -> tuple[int, int]:
    """The base load of a job (the largest k whose level >= k is held on `year_round_share` of the days,
    breaks of at most `gap_days` counting as held) and the days that level was held; (0, 0) when none."""
    base, held = 0, 0
    for k in range(1, int(level.max(initial=0)) + 1):
        days = _held_days(level >= k, gap_days)
        if days < year_round_share * len(level):
            break
        base, held = k, days
    return base, held


def _base_holders(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, ids: np.ndarray, base: int,
                  gap_days: int, width: int) -> dict[int, int]:
    """Days on which each contract of one job (`rows`, window day numbers in `starts`/`ends`) held one of
    the `base` posts of its base load: a holder keeps its post until its end; a free post goes to the
    contract running or starting within `gap_days` that ends latest (then starts first)."""
    by_start: dict[int, list[int]] = {}
    for row in rows.tolist():
        by_start.setdefault(int(starts[row]), []).append(row)

    def claim(row: int) -> tuple[int, int, str]:
        return -int(ends[row]), int(starts[row]), str(ids[row])

    running: set[int] = set()
    holders: set[int] = set()
    reserved: set[int] = set()  # holders from their start, a few days ahead
    days: dict[int, int] = {}
    for day in range(width):
        running.update(by_start.get(day, ()))
        running = {row for row in running if ends[row] >= day}
        holders = {row for row in holders if ends[row] >= day}
        holders |= {row for row in reserved if starts[row] <= day}
        reserved -= holders
        free = base - len(holders) - len(reserved)
        if free > 0:
            coming = [row for later in range(day + 1, min(day + gap_days, width - 1) + 1)
                      for row in by_start.get(later, ())]
            candidates = sorted((running - holders) | (set(coming) - reserved), key=claim)[:free]
            holders |= {row for row in candidates if starts[row] <= day}
            reserved |= {row for row in candidates if starts[row] > day}
        for row in holders:
            days[row] = days.get(row, 0) + 1
    return days


def _held_days(held: np.ndarray, gap_days: int) -> int:
    """Days held, counting as held the breaks of at most `gap_days` days between two held days."""
    days = np.flatnonzero(held)
    if len(days) == 0:
        return 0
    breaks = np.diff(days) - 1
    return int(len(days) + breaks[(breaks > 0) & (breaks <= gap_days)].sum())
