"""The rule checks' Python passes over jobs (`features.job_posts`, `features.replacements`): setup.py compiles
them with Cython when it can, and the compiled modules must give what their pure-Python source gives, row for
row, on randomised job histories with the hard cases (parallel posts on one job, seasonal chains, departures
and hires of CDI holders, ends not known yet or inferred, early ends by the employee, several branch
agreements, replacement chains of one person, absences overlapping). The shortcuts the passes take (opening
days counted by arithmetic, the base load's holders read only on the days they can change) are checked
against the plain definitions they replace."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

import features.job_posts as job_posts
import features.replacements as replacements
from core.config import Config
from features.bench_rules import pure_python_module, run_passes, run_queries
from features.rules import RULES
from tests.test_rules import NURSING_HOME, absence, as_of_tables, contract
from warehouse.sql_engine import DuckDBEngine

DAY = 45_000  # 2023-03-17
SEEDS = range(40)


@pytest.fixture(scope="module")
def pure_job_posts() -> ModuleType:
    return pure_python_module(job_posts)


@pytest.fixture(scope="module")
def pure_replacements() -> ModuleType:
    return pure_python_module(replacements)


def test_compiled_passes_are_built_from_the_current_source():
    """A compiled module older than its source runs old code: `make install` compiles it again."""
    for module in (job_posts, replacements):
        loaded = Path(module.__file__)
        if loaded.suffix == ".so":
            for suffix in (".py", ".pxd"):  # the source and its C types
                source = loaded.with_name(loaded.name.split(".")[0] + suffix)
                assert loaded.stat().st_mtime >= source.stat().st_mtime, (
                    f"{loaded.name} is older than {source.name}: run `make install` to compile it again"
                )


def carence_history(rng: np.random.Generator) -> pd.DataFrame:
    """Motif-02 contracts, departures and hires of CDI holders of a few jobs, as `carence_successions` reads them."""
    rows = []
    for establishment in range(3):
        siret = f"111111111{establishment:05d}"
        own_idcc = [None, "1979", "3248", "0176"][establishment % 4]
        for post in ("serveur", "plongeur", "commis"):
            for k in range(int(rng.integers(1, 30))):
                cid = f"{siret}-{post}-{k:02d}"
                start = DAY + int(rng.integers(0, 240))
                event = rng.choice(["ata"] * 6 + ["departure", "hire"])
                if event == "departure":
                    rows.append({"contract_id": cid, "establishment_siret": siret, "post": post, "start_day": start,
                                 "end_day": start - 1, "end_declared": True, "end_unknown": False,
                                 "vacant_from_day": start, "duration_days": None, "end_motif": None, "event": event,
                                 "idcc": None})
                    continue
                if event == "hire":
                    rows.append({"contract_id": cid, "establishment_siret": siret, "post": post, "start_day": start,
                                 "end_day": None, "end_declared": True, "end_unknown": False, "vacant_from_day": None,
                                 "duration_days": None, "end_motif": None, "event": event, "idcc": None})
                    continue
                days = int(rng.choice([1, 2, 5, 13, 14, 15, 30, 61, 92, 120]))  # one day to a season
                end = start + days - 1
                state = rng.choice(["declared", "declared", "inferred", "unknown", "running"])
                unknown = state == "unknown"
                rows.append({
                    "contract_id": cid, "establishment_siret": siret, "post": post, "start_day": start,
                    "end_day": None if state == "running" else end,
                    "end_declared": state == "declared", "end_unknown": unknown,
                    "vacant_from_day": (None if state == "running"
                                        else max(start + 1, end - int(rng.integers(0, 28))) if unknown else end + 1),
                    "duration_days": None if state == "running" else days,
                    "end_motif": rng.choice([None, "031", "035", "037", "059", "034"]), "event": "ata",
                    "idcc": rng.choice([own_idcc, own_idcc, "3248", "3043", "1979", None]),
                })
    frame = pd.DataFrame(rows).assign(first=lambda f: f["event"] != "departure")
    ordered = frame.sort_values(["establishment_siret", "post", "start_day", "first", "contract_id"])
    return ordered.drop(columns="first").reset_index(drop=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_carence_successions_compiled_and_pure_python_agree(seed, pure_job_posts):
    rng = np.random.default_rng(seed)
    contracts = carence_history(rng)
    masks = {"*": rng.choice(["1111111", "1111110", "1111100"]), "11111111100001": "0111110"}
    memory = int(rng.choice([30, 60, 120]))
    compiled = job_posts.carence_successions(contracts, masks, memory)
    expected = pure_job_posts.carence_successions(contracts, masks, memory)
    pd.testing.assert_frame_equal(compiled, expected, check_exact=True)
    assert seed > 3 or not expected.empty  # the histories hold findings


def test_opening_days_count_as_numpy_busday_count():
    rng = np.random.default_rng(0)
    epoch = np.datetime64("1900-01-01", "D")
    for mask in ("1111111", "1111110", "1111100", "0111110", "1000000"):
        week = job_posts._opening_days_before(mask)
        for begin, end in rng.integers(DAY - 30, DAY + 30, size=(300, 2)).tolist():  # either way round
            assert job_posts._opening_days(week, begin, end) == int(
                np.busday_count(epoch + begin, epoch + end, weekmask=mask)), (mask, begin, end)


def test_jobs_are_cut_where_the_establishment_or_the_post_changes():
    frame = pd.DataFrame({"establishment_siret": ["a", "a", "a", "b", None, None, "c"],
                          "post": ["x", "x", "y", "y", "y", "y", None]})
    assert job_posts._groups(frame).tolist() == [0, 2, 3, 4, 5, 6, 7]  # a row with no SIRET or post: a job of its own
    assert job_posts._groups(frame.iloc[:0]).tolist() == [0]


@pytest.mark.parametrize("seed", range(10))
def test_daily_level_and_base_load_count_as_numpy_does(seed, pure_job_posts):
    """The loops of `daily_level` and `base_load` against their definition in NumPy: contracts running each day,
    and the largest k whose days at level >= k, with breaks of at most `gap_days` between them, reach the share."""
    rng = np.random.default_rng(seed)
    width, gap_days, share = int(rng.integers(1, 400)), int(rng.integers(0, 6)), float(rng.choice([0.5, 0.9, 1.0]))
    starts = rng.integers(0, width, size=int(rng.integers(0, 40)))
    ends = np.minimum(starts + rng.integers(0, 200, size=len(starts)), width - 1)
    expected_level = np.array([((starts <= day) & (ends >= day)).sum() for day in range(width)])
    expected = (0, 0)
    for k in range(1, int(expected_level.max(initial=0)) + 1):
        days = np.flatnonzero(expected_level >= k)
        breaks = np.diff(days) - 1
        held = len(days) + int(breaks[(breaks > 0) & (breaks <= gap_days)].sum())
        if held < share * width:
            break
        expected = (k, held)
    for module in (job_posts, pure_job_posts):
        level = module.daily_level(starts, ends, width)
        assert level.tolist() == expected_level.tolist()
        assert module.base_load(level, gap_days, share) == expected


def lasting_history(rng: np.random.Generator, width: int) -> pd.DataFrame:
    """Fixed-term contracts of a few jobs over a window: chains that hold a post all year with short breaks,
    peaks over them, seasons, contracts from before the window and running at its end."""
    rows = []
    for job in range(6):
        siret, post = f"2222222220{job % 2:04d}", f"poste-{job}"
        for chain in range(int(rng.integers(1, 4))):
            day = -int(rng.integers(0, 40))
            while day < width:
                days = int(rng.integers(3, 80))
                rows.append((f"{job}-{chain}-{day}", siret, post, DAY + day, DAY + min(day + days - 1, width + 30)))
                day += days + int(rng.integers(0, 6))  # breaks of up to 5 days (3 count as held)
        for peak in range(int(rng.integers(0, 12))):
            start = int(rng.integers(-20, width))
            rows.append((f"{job}-peak-{peak}", siret, post, DAY + start, DAY + start + int(rng.integers(0, 90))))
    frame = pd.DataFrame(rows, columns=["contract_id", "establishment_siret", "post", "start_day", "end_day"])
    return frame.sort_values(["establishment_siret", "post", "start_day", "contract_id"]).reset_index(drop=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_permanent_posts_compiled_and_pure_python_agree(seed, pure_job_posts):
    rng = np.random.default_rng(seed)
    width = 365
    contracts = lasting_history(rng, width)
    share = float(rng.choice([0.5, 0.9]))
    compiled = job_posts.permanent_posts(contracts, DAY, DAY + width - 1, 3, share)
    expected = pure_job_posts.permanent_posts(contracts, DAY, DAY + width - 1, 3, share)
    pd.testing.assert_frame_equal(compiled, expected, check_exact=True)
    assert not expected.empty


def base_holders_day_by_day(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, ids: np.ndarray, base: int,
                            gap_days: int, width: int) -> dict[int, int]:
    """The definition `job_posts.base_holders` follows, read on every day of the window."""
    by_start: dict[int, list[int]] = {}
    for row in rows.tolist():
        by_start.setdefault(int(starts[row]), []).append(row)
    running: set[int] = set()
    holders: set[int] = set()
    reserved: set[int] = set()
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
            candidates = sorted((running - holders) | (set(coming) - reserved),
                                key=lambda row: (-int(ends[row]), int(starts[row]), str(ids[row])))[:free]
            holders |= {row for row in candidates if starts[row] <= day}
            reserved |= {row for row in candidates if starts[row] > day}
        for row in holders:
            days[row] = days.get(row, 0) + 1
    return days


@pytest.mark.parametrize("seed", SEEDS)
def test_base_holders_read_on_the_days_they_change_as_on_every_day(seed, pure_job_posts):
    rng = np.random.default_rng(seed)
    width = 365
    contracts = lasting_history(rng, width)
    one_job = contracts[contracts["post"] == contracts["post"].iloc[0]]
    starts = np.clip(one_job["start_day"].to_numpy(dtype="int64") - DAY, 0, width)
    ends = np.clip(one_job["end_day"].to_numpy(dtype="int64") - DAY, -1, width - 1)
    ids = one_job["contract_id"].to_numpy()
    rows = np.flatnonzero(ends >= starts)
    for base in (1, 2, 4):
        for gap_days in (0, 3, 10):
            expected = base_holders_day_by_day(rows, starts, ends, ids, base, gap_days, width)
            assert job_posts.base_holders(rows, starts, ends, ids, base, gap_days, width) == expected
            assert pure_job_posts.base_holders(rows, starts, ends, ids, base, gap_days, width) == expected


def replacement_history(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replacement contracts (chains of one person, several at once on one job) and the absences of the jobs."""
    contracts, absences = [], []
    for job in range(8):
        siret, post = f"3333333330{job % 3:04d}", ("aide-soignant", "infirmier")[job % 2]
        for _ in range(int(rng.integers(0, 20))):
            first = DAY + int(rng.integers(0, 200))
            end = first + int(rng.integers(0, 120))
            absences.append((siret, post, f"p{int(rng.integers(0, 6))}", f"a{len(absences)}", first,
                             None if rng.random() < 0.15 else end))
        for person in range(int(rng.integers(1, 6))):
            day = DAY + int(rng.integers(0, 200))
            for k in range(int(rng.integers(1, 5))):  # a chain of contracts of one person
                days = int(rng.integers(1, 60))
                contracts.append((f"{job}-{person}-{k}", siret, post, f"r{person}" if rng.random() < 0.9 else "p1",
                                  day, day + days - 1 - int(rng.integers(0, 3) == 0) * days // 2))
                day += days + int(rng.integers(0, 4))
    replacements_frame = pd.DataFrame(contracts, columns=["contract_id", "establishment_siret", "post", "person_key",
                                                          "start_day", "held_until_day"])
    absences_frame = pd.DataFrame(absences, columns=["establishment_siret", "post", "person_key", "contract_id",
                                                     "start_day", "end_day"])
    return replacements_frame.sample(frac=1, random_state=int(rng.integers(0, 1000))), absences_frame


@pytest.mark.parametrize("seed", SEEDS)
def test_covered_replacements_compiled_and_pure_python_agree(seed, pure_replacements):
    rng = np.random.default_rng(seed)
    contracts, absences = replacement_history(rng)
    margin = int(rng.choice([0, 3, 7]))
    compiled = replacements.covered_replacements(contracts, absences, margin)
    expected = pure_replacements.covered_replacements(contracts, absences, margin)
    pd.testing.assert_frame_equal(compiled, expected, check_exact=True)
    assert seed > 3 or not expected.empty


class JobLevelByScan(job_posts.JobLevel):
    """The definition `JobLevel.posts` follows: the most contracts held at once over the steps kept, scanned."""

    def posts(self, day: int) -> int:
        self._leave_until(day)
        while len(self._steps) > 1 and self._steps[1][0] <= day - self._memory_days - 1:
            self._steps.popleft()
            self._dropped += 1
        return max(held for _, held in self._steps)


@pytest.mark.parametrize("seed", range(10))
def test_job_level_keeps_the_most_held_as_a_scan_finds_it(seed):
    rng = np.random.default_rng(seed)
    memory = int(rng.choice([0, 30, 60]))
    level, scanned = job_posts.JobLevel(memory), JobLevelByScan(memory)
    day = DAY
    for _ in range(400):
        day += int(rng.choice([0, 0, 1, 2, 5, 40]))
        if rng.random() < 0.6:
            vacant_from = float("nan") if rng.random() < 0.1 else float(day + int(rng.integers(0, 90)))
            level.hold(day, vacant_from)
            scanned.hold(day, vacant_from)
        else:
            assert level.posts(day) == scanned.posts(day)
            assert level.held(day) == scanned.held(day)


def test_the_rule_passes_bench_runs_each_pass_both_ways_on_the_as_of_tables():
    con = as_of_tables([
        contract("a", "2025-02-27", "2025-03-12"), contract("b", "2025-03-14", "2025-03-31"),  # carence
        *[contract(f"x{k}", f"2024-{k:02d}-01", f"2024-{k:02d}-28", motif=None) for k in range(7, 13)],  # lasting
        *[contract(f"y{k}", f"2025-{k:02d}-01", f"2025-{k:02d}-28", motif=None) for k in range(1, 7)],
        contract("r", "2025-05-05", "2025-05-20", motif="01", siret=NURSING_HOME, post="aide-soignant"),
    ], absences=[absence("p-away", "aide-soignant", "2025-05-04", "2025-05-30")])
    results = run_passes(DuckDBEngine(con), Config())
    assert results["pass"].str.split().str[0].tolist() == ["carence_successions", "permanent_posts",
                                                            "covered_replacements"]
    assert results["output_rows"].tolist() == [1, 12, 1]
    assert results["identical"].all() and (results["x_pure_python"] > 0).all()
    # The passes' rows are left for the rule queries, timed next to their reference on them.
    queries = run_queries(DuckDBEngine(con), Config().features)
    assert queries["rule"].tolist() == [rule.id for rule in RULES]
    assert queries.set_index("rule")["rows"].to_dict() == {
        "carence": 1, "renouvellements": 0, "duree_max": 0, "remplacement_sans_absence": 0, "usage_hors_secteur": 0,
        "poste_permanent": 12}
    assert queries["identical"].all() and (queries["x_reference"] > 0).all()
