"""The rule checks' Python passes run by ranges of establishments, one range per CPU at a time.

Each pass (`features.job_posts`, `features.replacements`) reads its frames job by job (establishment,
post), and a job's result depends on its own rows only. So the establishments are cut into ranges of
SIRET holding about as many rows each, each run in a process forked from this one, one per CPU at a time,
and the results are handed on in SIRET order: the rows and their order are those of one pass over
everything. This process reads the next range's inputs while the others run (one range, or one process:
everything runs here). At national scale there are many more ranges than processes, and a pass's inputs are
read range by range from where they are (`PassSource`: the engine's temp tables, `features.pass_inputs`, or
frames already in memory), so that the memory a pass needs is that of one range per process, not of every
contract of France.

The pass holds the GIL (it is Python compiled by Cython), so processes, not threads; forked, so that a
part's frames are read from the parent's memory, not copied through a pipe. A forked process only runs
the pass, Python and NumPy on pandas frames (no SQL engine, no Spark, no OpenMP: the thread pools the parent
may hold are never entered), and leaves with `os._exit`: nothing of the parent's is closed twice. The cycle
collector is paused while a part runs (`core.cycles`): a pass makes millions of tuples, none of them in a cycle.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.cycles import cycle_collection_paused
from core.machine import end_with_parent, exit_reason

SIRET = "establishment_siret"
# Fewer rows than this per part are run in one pass: a fork costs more than it saves.
MIN_PART_ROWS = 200_000
# More rows than this are cut into more parts than processes, each run in a process of its own: a pass holds several
# Python objects per row of its part (about 1.5 GB for 2 million rows), so the memory it needs stays that of one part
# per process.
MAX_PART_ROWS = 1_000_000
Pass = Callable[..., pd.DataFrame]
Bounds = tuple[str | None, str | None]


class PassSource(Protocol):
    """Where a pass's arguments are read from, by range of SIRET."""

    def rows_by_siret(self) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
        """The SIRETs of the pass's frames, sorted, and the rows each has in them all (rows with no SIRET left out)."""
        ...

    def arguments(self, low: str | None, high: str | None) -> tuple:
        """The pass's arguments, their frames holding the rows whose establishment_siret is in [low, high) (None:
        unbounded; a missing SIRET goes with the last range, as SQL orders it last), in their order."""
        ...


class FrameSource:
    """A pass's arguments already in memory: the first `frames` are frames with an establishment_siret column."""

    def __init__(self, arguments: tuple, frames: int) -> None:
        self.frames, self.constants = arguments[:frames], arguments[frames:]

    def rows_by_siret(self) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
        sirets = pd.concat([frame[SIRET].dropna().astype(str) for frame in self.frames], ignore_index=True)
        counts = sirets.value_counts().sort_index()
        return counts.index.to_numpy(dtype=object), counts.to_numpy(dtype=np.int64)

    def arguments(self, low: str | None, high: str | None) -> tuple:
        return (*(part_of(frame, low, high) for frame in self.frames), *self.constants)


def cuts_from_counts(sirets: npt.NDArray[np.object_], counts: npt.NDArray[np.int64], parts: int) -> list[str]:
    """At most `parts` - 1 SIRETs that cut the rows counted by SIRET (`sirets` sorted) into ranges of about as many
    rows each (part k: cuts[k - 1] <= SIRET < cuts[k]); none when there is nothing to cut."""
    if parts < 2 or len(sirets) < 2:
        return []
    starts = np.cumsum(counts) - counts  # rows before each SIRET
    cuts = set()
    for target in counts.sum() * np.arange(1, parts) / parts:  # rows before each cut, ideally
        after = min(int(np.searchsorted(starts, target)), len(starts) - 1)  # the first SIRET starting at or after it
        nearest = after - 1 if after > 1 and target - starts[after - 1] < starts[after] - target else after
        cuts.add(str(sirets[max(nearest, 1)]))
    return sorted(cuts)


def part_of(frame: pd.DataFrame, low: str | None, high: str | None) -> pd.DataFrame:
    """The rows of `frame` whose establishment_siret is in [low, high) (None: unbounded), in their order; a
    missing SIRET goes with the last part (SQL orders it last)."""
    if low is None and high is None:
        return frame
    sirets = frame[SIRET].astype("string")
    keep = np.ones(len(frame), dtype=bool)
    if low is not None:
        keep &= (sirets >= low).fillna(high is None).to_numpy(dtype=bool)
    if high is not None:
        keep &= (sirets < high).fillna(False).to_numpy(dtype=bool)
    return frame[keep]


def run_by_ranges(run: Pass, source: PassSource, processes: int, deliver: Callable[[pd.DataFrame], None],
                  min_rows: int | None = None, max_rows: int | None = None) -> int:
    """`run` on the arguments of `source`, computed by ranges of establishments, `processes` at a time (module
    docstring), each range's result handed to `deliver` in SIRET order; returns how many ranges.

    The ranges hold at least `min_rows` (default MIN_PART_ROWS) and at most about `max_rows` (MAX_PART_ROWS)
    rows of the pass's frames. A part that fails raises RuntimeError naming the pass, the part and why (its
    traceback, or the signal that killed it: the kernel's when memory runs out)."""
    sirets, counts = source.rows_by_siret()
    rows = int(counts.sum())
    least, most = max(min_rows or MIN_PART_ROWS, 1), max(max_rows or MAX_PART_ROWS, 1)
    wanted = max(processes, -(-rows // most)) if processes > 1 or rows > most else 1
    cuts = cuts_from_counts(sirets, counts, min(wanted, rows // least))
    bounds: list[Bounds] = list(zip([None, *cuts], [*cuts, None], strict=True))
    if processes < 2 or len(bounds) < 2:
        for low, high in bounds:
            with cycle_collection_paused():
                deliver(run(*source.arguments(low, high)))
        return len(bounds)
    _run_forked(run, source, bounds, processes, deliver)
    return len(bounds)


def run_by_establishments(run: Pass, arguments: tuple, frames: int, processes: int,
                          min_rows: int | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """`run(*arguments)`, whose first `frames` arguments are frames with an establishment_siret column, computed
    by ranges of establishments (`run_by_ranges`): the same rows in the same order, as one frame."""
    results: list[pd.DataFrame] = []
    run_by_ranges(run, FrameSource(arguments, frames), processes, results.append, min_rows, max_rows)
    return joined(results)


def joined(results: list[pd.DataFrame]) -> pd.DataFrame:
    """The results of the ranges of one pass (at least one) as one frame, typed as the rows of one pass would be."""
    found = [result for result in results if len(result)] or results[:1]
    if len(found) == 1:
        return found[0].reset_index(drop=True)
    # A column all missing in one part has no type of its own there (object): typed again.
    return pd.concat(found, ignore_index=True).infer_objects()


def _run_forked(run: Pass, source: PassSource, bounds: list[Bounds], processes: int,
                deliver: Callable[[pd.DataFrame], None]) -> None:
    """Every part of `bounds` in a forked process, `processes` running at a time: this process reads each part's
    arguments and forks it as soon as a process is free (while the others run), then hands the results on in
    order (the fork's copy of the arguments is its own: this process lets go of them). Reading a range of the
    national carence input takes a third of the time of running it: read while the other ranges run rather than
    between waves of ranges, the three passes of a national month took 94.9 and 94.5 s instead of 105.3 and 97.2
    (alternated on the same tables)."""
    context = multiprocessing.get_context("fork")
    running: deque[tuple[int, Any, Connection]] = deque()
    try:
        for number, (low, high) in enumerate(bounds):
            while len(running) >= processes:
                _hand_on(running, run, len(bounds), deliver)
            arguments = source.arguments(low, high)
            receiver, sender = context.Pipe(duplex=False)
            receivers = [receiver, *(other for _, _, other in running)]
            child = context.Process(target=_run_part, args=(run, arguments, sender, receivers, os.getpid()), daemon=True)
            child.start()
            del arguments
            sender.close()
            running.append((number + 1, child, receiver))
        while running:
            _hand_on(running, run, len(bounds), deliver)
    finally:
        for _, child, receiver in running:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join()


def _run_part(run: Pass, arguments: tuple, sender: Connection, receivers: list[Connection], parent: int) -> None:
    """In the forked process: the part's result, or its error's traceback, sent to the parent. The process is
    killed when the parent is (`core.machine.end_with_parent`: a dead run's parts do not go on computing, holding
    its spill folder's lock), and the fork's copies of the parent's ends of every running part's pipe (`receivers`)
    are closed first: where the parent's death kills no child, sending fails once it is gone and this process
    ends, instead of waiting for ever for a reader that is itself or another part."""
    end_with_parent(parent)
    for receiver in receivers:
        receiver.close()
    try:
        with cycle_collection_paused():
            result = run(*arguments)
        sender.send(("result", result))
    except BaseException:  # whatever it is, the parent reports it
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def _hand_on(running: deque[tuple[int, Any, Connection]], run: Pass, parts: int,
             deliver: Callable[[pd.DataFrame], None]) -> None:
    """The result of the first of the `running` parts handed to `deliver`, once its process is gone."""
    number, child, receiver = running[0]
    result = _received(run, number, child, receiver, parts)
    running.popleft()
    receiver.close()
    child.join()
    deliver(result)


def _received(run: Pass, number: int, child: Any, receiver: Connection, parts: int) -> pd.DataFrame:
    """Part `number`'s result (from 1, of `parts`), once its process has sent it; RuntimeError when it failed or
    died without one."""
    name = getattr(run, "__name__", repr(run))
    try:
        kind, payload = receiver.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"{name}: part {number} of {parts} ended without its result "
                           f"({exit_reason(child.exitcode)})") from None
    if kind == "error":
        raise RuntimeError(f"{name}: part {number} of {parts} failed:\n{payload}")
    return payload
