"""The rule checks' Python passes run by ranges of establishments in forked processes (`features.pass_parts`)
give the rows and the order of one pass over everything, on the randomised job histories of
`tests/test_rule_passes.py` and on the rule checks as a whole; a part that fails or is killed is reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features.pass_parts as pass_parts
from core.config import Config, FeaturesConfig
from features import job_posts, replacements
from features.pass_parts import FrameSource, cuts_from_counts, part_of, run_by_establishments
from features.rules import compute_rule_evidence
from tests.test_rule_passes import DAY, carence_history, lasting_history, replacement_history
from tests.test_rules import NURSING_HOME, absence, as_of_tables, contract
from warehouse.sql_engine import DuckDBEngine

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("processes", "max_rows"), [(2, None), (3, None), (2, 25), (1, 25)])
def test_carence_successions_by_parts_as_in_one_pass(seed, processes, max_rows):
    """In one wave of 2 or 3 processes, in waves of more parts than processes (as at national scale), or part
    after part in this process."""
    rng = np.random.default_rng(seed)
    contracts = carence_history(rng)
    masks = {"*": "1111110", "11111111100001": "0111110"}
    whole = job_posts.carence_successions(contracts, masks, 60)
    by_parts = run_by_establishments(job_posts.carence_successions, (contracts, masks, 60), 1, processes,
                                     min_rows=1, max_rows=max_rows)
    pd.testing.assert_frame_equal(by_parts, whole, check_exact=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_permanent_posts_by_parts_as_in_one_pass(seed):
    rng = np.random.default_rng(seed)
    contracts = lasting_history(rng, 365)
    arguments = (contracts, DAY, DAY + 364, 3, 0.5)
    whole = job_posts.permanent_posts(*arguments)
    pd.testing.assert_frame_equal(run_by_establishments(job_posts.permanent_posts, arguments, 1, 2, min_rows=1),
                                  whole, check_exact=True)
    assert not whole.empty


@pytest.mark.parametrize("seed", SEEDS)
def test_covered_replacements_by_parts_as_in_one_pass(seed):
    """The replacements come unsorted and the absences are cut by the same ranges as the replacements."""
    rng = np.random.default_rng(seed)
    contracts, absences = replacement_history(rng)
    whole = replacements.covered_replacements(contracts, absences, 7)
    by_parts = run_by_establishments(replacements.covered_replacements, (contracts, absences, 7), 2, 3, min_rows=1)
    pd.testing.assert_frame_equal(by_parts, whole, check_exact=True)


def test_cuts_share_the_rows_and_keep_every_row_once():
    sirets = pd.Series([f"{k:014d}" for k in np.repeat(np.arange(40), np.arange(1, 41))], dtype="str")
    frame = pd.DataFrame({"establishment_siret": pd.concat([sirets, pd.Series([None], dtype="str")],
                                                           ignore_index=True)})
    cuts = cuts_from_counts(*FrameSource((frame,), 1).rows_by_siret(), 4)
    assert len(cuts) == 3 and cuts == sorted(cuts)
    parts = [part_of(frame, low, high) for low, high in zip([None, *cuts], [*cuts, None], strict=True)]
    assert sum(len(p) for p in parts) == len(frame)
    assert pd.concat(parts).index.tolist() == frame.index.tolist()  # each row once, in order
    assert parts[-1]["establishment_siret"].isna().iloc[-1]  # a missing SIRET goes last, as SQL orders it
    assert max(len(p) for p in parts) < len(frame) / 2
    one = pd.DataFrame({"establishment_siret": ["11111111100001"] * 50})
    assert cuts_from_counts(*FrameSource((one,), 1).rows_by_siret(), 2) == []  # one establishment: nothing to cut


def _fails_on_second_part(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    if (frame["establishment_siret"] >= "2").any():
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError("a pass that fails")
    return frame


@pytest.mark.parametrize(("how", "message"), [("raise", "part 2 of 2 failed:.*ValueError: a pass that fails"),
                                              ("kill", "part 2 of 2 ended without its result \\(killed by signal 9")])
def test_a_part_that_fails_or_is_killed_is_reported(how, message):
    frame = pd.DataFrame({"establishment_siret": ["1"] * 5 + ["2"] * 5})
    with pytest.raises(RuntimeError, match=f"(?s)_fails_on_second_part: {message}"):
        run_by_establishments(_fails_on_second_part, (frame, how), 1, 2, min_rows=1)


def test_rule_checks_find_the_same_with_their_passes_by_parts(monkeypatch):
    """The whole rule checks, their passes in one process and by parts of establishments: the same evidence."""
    other = "66666666600011"
    tables = [
        contract("a", "2025-02-27", "2025-03-12"), contract("b", "2025-03-14", "2025-03-31"),  # carence
        contract("c", "2025-02-27", "2025-03-12", siret=other), contract("d", "2025-03-14", "2025-03-31", siret=other),
        *[contract(f"x{k}", f"2024-{k:02d}-01", f"2024-{k:02d}-28", motif=None) for k in range(7, 13)],  # lasting
        *[contract(f"y{k}", f"2025-{k:02d}-01", f"2025-{k:02d}-28", motif=None) for k in range(1, 7)],
        contract("r", "2025-05-05", "2025-05-20", motif="01", siret=NURSING_HOME, post="aide-soignant"),
        contract("s", "2025-04-01", "2025-04-20", motif="01", siret=NURSING_HOME, post="aide-soignant"),
    ]
    absences = [absence("p-away", "aide-soignant", "2025-05-04", "2025-05-30")]
    monkeypatch.setattr(pass_parts, "MIN_PART_ROWS", 1)
    cuts: list[list[str]] = []
    monkeypatch.setattr(pass_parts, "cuts_from_counts", lambda *args: cuts.append(cuts_from_counts(*args)) or cuts[-1])
    found = {}
    for processes in (1, 3):
        engine = DuckDBEngine(as_of_tables(tables, absences=absences))
        compute_rule_evidence(engine, FeaturesConfig(pass_processes=processes))
        found[processes] = engine.fetch("SELECT * FROM rule_evidence ORDER BY ALL")
    assert set(found[1]["rule"]) >= {"carence", "poste_permanent", "remplacement_sans_absence"}
    assert cuts[:3] == [[], [], []]  # one process: nothing cut
    assert cuts[3] == [other]  # three: the shop's and `other`'s carence contracts are two parts
    pd.testing.assert_frame_equal(found[3], found[1], check_exact=True)
    assert Config().features.pass_processes is None


ORPHANED_PART = """
import os, sys, time
import pandas as pd
from features.pass_parts import run_by_establishments

def stuck_pass(frame):
    first = not (frame["establishment_siret"] >= "2").any()
    with open(sys.argv[1] + (".first" if first else ".second"), "w") as pid:
        pid.write(str(os.getpid()))
    if first:
        time.sleep(600)  # still computing when the process that forked it is killed
        return frame
    return pd.DataFrame({"x": range(200_000)})  # done: a result larger than a pipe holds, never read

run_by_establishments(stuck_pass, (pd.DataFrame({"establishment_siret": ["1"] * 5 + ["2"] * 5}),), 1, 2, min_rows=1)
"""


def _ended(pid: int) -> bool:
    """Whether process `pid` has ended (gone, or a zombie nobody has reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def test_parts_end_when_the_process_that_forked_them_is_killed(tmp_path):
    """Forked parts whose parent is killed (out of memory, kill -9) end with it, rather than computing on or waiting
    for ever to send a result (and holding the parent's spill folder's lock): the one still computing and the one
    whose result is larger than a pipe holds."""
    started = tmp_path / "part"
    pid_files = [tmp_path / "part.first", tmp_path / "part.second"]
    parent = subprocess.Popen([sys.executable, "-c", ORPHANED_PART, str(started)], cwd=Path(__file__).parents[1])
    try:
        deadline = time.monotonic() + 120
        while not all(path.exists() and path.read_text() for path in pid_files):
            assert time.monotonic() < deadline and parent.poll() is None, "the forked parts never started"
            time.sleep(0.1)
        parts = [int(path.read_text()) for path in pid_files]
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while not all(_ended(part) for part in parts) and time.monotonic() < deadline:
        time.sleep(0.1)
    outliving = [part for part in parts if not _ended(part)]
    for part in outliving:
        os.kill(part, signal.SIGKILL)
    assert not outliving, "a forked part outlived the process that forked it"
