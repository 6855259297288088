# cython: annotation_typing=False
# (setup.py compiles this module with Cython: its type hints stay hints, so that it accepts what the source accepts;
# the C types of its loops are declared in job_posts.pxd)
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
stages of the rule checks so that DuckDB and Spark share them; setup.py compiles this module with Cython
(`tests/test_rule_passes.py` checks that the compiled and the pure-Python module agree).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.branch_agreements import BranchRule, required_carence_days, rule_of

EXEMPT_END_MOTIFS = frozenset({"035", "037", "059"})  # ended early by the employee: no waiting period (L1244-4)
PERMANENT_COLUMNS = ["contract_id", "base_posts", "peak_posts", "contracts_on_job", "held_days", "window_days", "base_days",
                     "days_in_window"]


def _groups(frame: pd.DataFrame) -> np.ndarray:
    """Where each job (establishment, post) of a frame sorted by them starts, then the row count: job k holds
    rows bounds[k] to bounds[k + 1] - 1 (an empty frame: [0]); a row with no SIRET or post is a job of its own."""
    if frame.empty:
        return np.zeros(1, dtype="int64")
    sirets, posts = (pa.array(frame[column].astype(str), type=pa.large_string()) for column in ("establishment_siret", "post"))
    keys = pc.binary_join_element_wise(sirets, posts, pa.scalar("\x00", pa.large_string()))
    changed = pc.fill_null(pc.not_equal(keys[1:], keys[:-1]), True).to_numpy(zero_copy_only=False)
    return np.concatenate(([0], np.flatnonzero(changed) + 1, [len(frame)]))


def _new_post(running: list[tuple[int, int, int]], vacant: list[tuple[int, int]]) -> int:
    """The number of a post the job gains: the smallest not held nor vacant (a post gone gives its number back)."""
    taken = set()
    for held in running:
        taken.add(held[1])
    for vacancy in vacant:
        taken.add(vacancy[0])
    number = 1
    while number in taken:
        number += 1
    return number


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
    `weekmasks`: NumPy busday weekmask per SIRET ('1111100': Monday first, '1' open), '*' the default.

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
    # Plain Python values: read one at a time, NumPy scalars cost more than they save.
    starts: list[int] = contracts["start_day"].to_numpy(dtype="int64").tolist()
    ends: list[float] = contracts["end_day"].to_numpy(dtype="float64").tolist()
    vacant_from: list[float] = contracts["vacant_from_day"].to_numpy(dtype="float64").tolist()
    unknown: list[bool] = contracts["end_unknown"].to_numpy(dtype=bool).tolist()
    durations: list[float] = contracts["duration_days"].to_numpy(dtype="float64").tolist()
    motifs: list = contracts["end_motif"].astype(object).to_numpy().tolist()
    declared: list[bool] = contracts["end_declared"].to_numpy(dtype=bool).tolist()
    departure: list[bool] = (contracts["event"].astype(str) == "departure").to_numpy(dtype=bool).tolist()
    hire: list[bool] = (contracts["event"].astype(str) == "hire").to_numpy(dtype=bool).tolist()
    idccs: list = contracts["idcc"].astype(object).to_numpy().tolist()
    ids: list[str] = contracts["contract_id"].astype(str).to_numpy().tolist()
    sirets: list[str] = contracts["establishment_siret"].astype(str).to_numpy().tolist()
    never = np.iinfo("int64").max
    branches: dict[str | None, BranchRule] = {}
    weeks: dict[str, tuple[int, ...]] = {}
    bounds = _groups(contracts).tolist()
    for first, after in itertools.pairwise(bounds):
        own_calendar = sirets[first] in weekmasks
        mask = weekmasks[sirets[first]] if own_calendar else weekmasks["*"]
        week = weeks.get(mask) or weeks.setdefault(mask, _opening_days_before(mask))
        running: list[tuple[int, int, int]] = []  # (first day vacant, post_no, row)
        vacant: list[tuple[int, int]] = []  # (post_no, row of its last holder)
        level = JobLevel(post_memory_days)
        for row in range(first, after):
            start = starts[row]
            while running and running[0][0] <= start:
                _, post_no, holder = heapq.heappop(running)
                vacant.append((post_no, holder))
            if vacant:
                vacant = _posts_left(vacant, start, level.posts(start) - len(running), vacant_from, departure,
                                     post_memory_days)
            if departure[row]:
                vacant.append((_new_post(running, vacant), row))
                continue
            if hire[row]:
                latest = None  # the post a departure left last
                for vacancy in vacant:
                    if departure[vacancy[1]] and (latest is None or vacant_from[vacancy[1]] > vacant_from[latest[1]]):
                        latest = vacancy
                if latest is not None:
                    vacant.remove(latest)
                continue
            idcc = idccs[row] if isinstance(idccs[row], str) else None
            branch = branches.get(idcc) or branches.setdefault(idcc, rule_of(idcc))
            calendar_days, carence = branch.calendar_days, branch.carence
            if not vacant:
                post_no = _new_post(running, vacant)
            else:
                best, best_status, best_short, best_left, gaps = vacant[0], 3, 0, 0, (0, 0, 0)
                for vacancy in vacant:
                    holder = vacancy[1]
                    left = int(vacant_from[holder]) - 1
                    gap = start - left - 1 if calendar_days else _opening_days(week, left + 1, start)
                    duration = durations[holder]
                    held = 0 if math.isnan(duration) else int(duration)
                    exempt = departure[holder] or unknown[holder] or motifs[holder] in EXEMPT_END_MOTIFS
                    need = 0 if exempt else required_carence_days(held, carence)
                    short = need - gap
                    # clean (0), an undeclared end (1), within the waiting period (2); then the smallest
                    # shortfall, the latest end
                    status = 0 if short <= 0 else (1 if not declared[holder] else 2)
                    if status < best_status or (status == best_status and (
                            short < best_short or (short == best_short and left > best_left))):
                        best, best_status, best_short, best_left = vacancy, status, short, left
                        gaps = (gap, need, start - left - 1)
                if unknown[best[1]] and start <= int(ends[best[1]]):
                    post_no = _new_post(running, vacant)
                else:
                    vacant.remove(best)
                    post_no = best[0]
                if best_status > 0:
                    rows.append((ids[row], ids[best[1]], post_no, len(vacant) + 1, *gaps, own_calendar,
                                 best_status == 2, branch.idcc or None, branch.sure, calendar_days))
            free = never if math.isnan(vacant_from[row]) else int(vacant_from[row])  # running: holds its post
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
        self._dropped = 0  # steps dropped from the front, older than the memory
        # (step number, contracts running) of the steps that are the most held of those after them: the first is
        # the most held of all (a sliding-window maximum)
        self._peaks: deque[tuple[int, int]] = deque([(0, 0)])
        self._leaving: list[int] = []  # first day vacant of each contract held (a heap)

    def hold(self, first_day: int, vacant_from: float) -> None:
        """A contract of the job held from `first_day` until the day before `vacant_from` (NaN: running)."""
        self._leave_until(first_day)
        self._step(first_day, self._steps[-1][1] + 1)
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
            self._dropped += 1
        while self._peaks[0][0] < self._dropped:
            self._peaks.popleft()
        return self._peaks[0][1]

    def _step(self, day: int, held: int) -> None:
        number = self._dropped + len(self._steps)
        self._steps.append((day, held))
        while self._peaks and self._peaks[-1][1] <= held:
            self._peaks.pop()
        self._peaks.append((number, held))

    def _leave_until(self, day: int) -> None:
        while self._leaving and self._leaving[0] <= day:
            left = heapq.heappop(self._leaving)
            self._step(left, self._steps[-1][1] - 1)


def _posts_left(vacant: list[tuple[int, int]], start: int, spare: int, vacant_from: list[float],
                departure: list[bool], memory_days: int) -> list[tuple[int, int]]:
    """The vacant posts (post_no, row of its last holder) that still exist on `start`: left within
    `memory_days`, and, among those a fixed-term contract or mission left, the `spare` most recently left (the
    job has no more posts than it held at once; a CDI holder's departure leaves a post of its own)."""
    alive = [v for v in vacant if start - int(vacant_from[v[1]]) <= memory_days]
    left = [v for v in alive if not departure[v[1]]]
    if len(left) <= spare:
        return alive
    by_departure = sorted([(-vacant_from[v[1]], order, v[1]) for order, v in enumerate(left)])  # latest first
    gone = {holder for _, _, holder in by_departure[max(spare, 0):]}  # one vacancy per holder
    return [v for v in alive if v[1] not in gone]


def _opening_days_before(weekmask: str) -> tuple[int, ...]:
    """For each d from 0 to 7, the opening days among the first d days of a week (Monday first) of a NumPy
    busday weekmask ('1111100'), for `_opening_days`."""
    return tuple(itertools.accumulate((int(day) for day in weekmask), initial=0))


def _opening_days(week: tuple[int, ...], begin: int, end: int) -> int:
    """Opening days from `begin` to the day before `end` (day numbers from 1900-01-01, a Monday), as
    `numpy.busday_count` counts them (negative, from the day after `end` to `begin`, when `end` comes
    first); `week`: `_opening_days_before` of the weekmask."""
    if end < begin:
        return -_opening_days(week, end + 1, begin + 1)
    return end // 7 * week[7] + week[end % 7] - (begin // 7 * week[7] + week[begin % 7])


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
    bounds = _groups(contracts)
    if len(bounds) == 1:
        return pd.DataFrame(rows, columns=PERMANENT_COLUMNS)
    # The level >= 1 is held at most from the first start to the last end of the job's contracts in the window:
    # a job that spans less than `year_round_share` of it has no base load.
    in_window = ends >= starts
    first_start = np.minimum.reduceat(np.where(in_window, starts, width), bounds[:-1])
    last_end = np.maximum.reduceat(np.where(in_window, ends, -1), bounds[:-1])
    spanning = np.flatnonzero(last_end - first_start + 1 >= year_round_share * width)
    for first, after in zip(bounds[spanning].tolist(), bounds[spanning + 1].tolist(), strict=True):
        inside = np.flatnonzero(in_window[first:after]) + first
        level = daily_level(starts[inside], ends[inside], width)
        base, held = base_load(level, gap_days, year_round_share)
        if base == 0:
            continue
        holding = base_holders(inside, starts, ends, ids, base, gap_days, width)
        peak = int(level.max())
        for row in inside.tolist():
            if holding.get(row):
                rows.append((ids[row], base, peak, len(inside), held, width, holding[row],
                             int(ends[row] - starts[row] + 1)))
    return pd.DataFrame(rows, columns=PERMANENT_COLUMNS)


def daily_level(starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """How many of the contracts (day numbers from 0, `starts` to `ends` inclusive, within `width` days) run
    on each day."""
    level = np.zeros(width + 1, dtype=np.int64)
    _count_running(np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), level)
    return level[:-1]


def _count_running(starts: np.ndarray, ends: np.ndarray, level: np.ndarray) -> None:
    """Fill `level` (zeros, a day more than the window) with the contracts running each day."""
    for contract in range(len(starts)):
        level[starts[contract]] += 1
        level[ends[contract] + 1] -= 1
    running = 0
    for day in range(len(level)):
        running += level[day]
        level[day] = running


def base_load(level: np.ndarray, gap_days: int, year_round_share: float) -> tuple[int, int]:
    """The base load of a job (the largest k whose level >= k is held on `year_round_share` of the days,
    breaks of at most `gap_days` counting as held) and the days that level was held; (0, 0) when none."""
    base, held = 0, 0
    highest = 0
    for day in range(len(level)):
        highest = max(highest, level[day])
    for k in range(1, highest + 1):
        days = _held_days(level, k, gap_days)
        if days < year_round_share * len(level):
            break
        base, held = k, days
    return base, held


def base_holders(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, ids: np.ndarray, base: int,
                 gap_days: int, width: int) -> dict[int, int]:
    """Days on which each contract of one job (`rows`, window day numbers in `starts`/`ends`) held one of
    the `base` posts of its base load: a holder keeps its post until its end; a free post goes to the
    contract running or starting within `gap_days` that ends latest (then starts first).

    Read day by day, the holders change only on a start, the day after an end, or when a start comes within
    `gap_days` (`gap_days` before it): on any other day the posts stay as they were (a post left free the day
    before had no candidate, and none has come), so only those days are visited and each holder is credited
    the days up to the next one."""
    members = rows.tolist()
    start_of = dict(zip(members, starts[rows].tolist(), strict=True))
    end_of = dict(zip(members, ends[rows].tolist(), strict=True))
    claim = {row: (-end_of[row], start_of[row], str(ids[row])) for row in members}
    by_start: dict[int, list[int]] = {}
    for row in members:
        by_start.setdefault(start_of[row], []).append(row)
    changes = {0}
    for row in members:
        changes.update((start_of[row], end_of[row] + 1, start_of[row] - gap_days))
    visited = sorted([day for day in changes if 0 <= day < width])
    running: set[int] = set()
    holders: set[int] = set()
    reserved: set[int] = set()  # holders from their start, a few days ahead
    days: dict[int, int] = {}
    for day, following in zip(visited, [*visited[1:], width], strict=True):
        running.update(by_start.get(day, ()))
        running = {row for row in running if end_of[row] >= day}
        holders = {row for row in holders if end_of[row] >= day}
        holders |= {row for row in reserved if start_of[row] <= day}
        reserved -= holders
        free = base - len(holders) - len(reserved)
        if free > 0:
            coming = [row for later in range(day + 1, min(day + gap_days, width - 1) + 1)
                      for row in by_start.get(later, ())]
            candidates = sorted((running - holders) | (set(coming) - reserved), key=claim.__getitem__)[:free]
            holders |= {row for row in candidates if start_of[row] <= day}
            reserved |= {row for row in candidates if start_of[row] > day}
        for row in holders:
            days[row] = days.get(row, 0) + following - day
    return days


def _held_days(level: np.ndarray, k: int, gap_days: int) -> int:
    """Days on which `level` is at least `k`, counting as held the breaks of at most `gap_days` days between two
    such days."""
    days, last = 0, -1
    for day in range(len(level)):
        if level[day] >= k:
            if last >= 0 and day - last - 1 <= gap_days:
                days += day - last - 1
            days += 1
            last = day
    return days
