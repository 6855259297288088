"""The rule checks' Python passes run by ranges of establishments, one range per CPU at a time.

Each pass (`features.job_posts`, `features.replacements`) reads its frames job by job (establishment,
post), and a job's result depends on its own rows only. So the establishments are cut into ranges of
SIRET holding about as many rows each, run one per process at a time (the first of each wave in this
process, the others forked), and the results are put back together in SIRET order: the rows and their
order are those of one pass over everything. At national scale there are more ranges than processes,
so that a pass's Python objects are those of one range at a time, not of every contract of France.

The pass holds the GIL (it is Python compiled by Cython), so processes, not threads; forked, so that a
part's frames are read from the parent's memory, not copied through a pipe. A forked process only runs
the pass, Python and NumPy on pandas frames (no SQL engine, no Spark, no OpenMP: the thread pools the parent
may hold are never entered), and leaves with `os._exit`: nothing of the parent's is closed twice.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pandas as pd

from core.machine import exit_reason

SIRET = "establishment_siret"
CUT_SAMPLE = 100_000  # SIRET values sampled to place the cuts
# Fewer rows than this per part are run in one pass: a fork costs more than it saves.
MIN_PART_ROWS = 200_000
# More rows than this are cut into more parts than processes, run in waves: a pass holds several Python objects
# per row of its part (about 1.5 GB for 2 million rows), so the memory it needs stays that of one part per process.
MAX_PART_ROWS = 2_000_000
Pass = Callable[..., pd.DataFrame]


def siret_cuts(sirets: pd.Series, parts: int) -> list[str]:
    """At most `parts` - 1 SIRET values that cut `sirets` into ranges of about as many rows each
    (part k: cuts[k - 1] <= SIRET < cuts[k]), placed on a sample; none when there is nothing to cut."""
    if parts < 2 or sirets.isna().all():
        return []
    sample = np.sort(sirets.iloc[::max(1, len(sirets) // CUT_SAMPLE)].dropna().astype(str).to_numpy(dtype=object))
    quantiles = {str(sample[len(sample) * k // parts]) for k in range(1, parts)}
    return sorted(cut for cut in quantiles if cut > sample[0])


def part_of(frame: pd.DataFrame, low: str | None, high: str | None) -> pd.DataFrame:
    """The rows of `frame` whose establishment_siret is in [low, high) (None: unbounded), in their order; a
    missing SIRET goes with the last part (SQL orders it last)."""
    sirets = frame[SIRET].astype("string")
    keep = np.ones(len(frame), dtype=bool)
    if low is not None:
        keep &= (sirets >= low).fillna(high is None).to_numpy(dtype=bool)
    if high is not None:
        keep &= (sirets < high).fillna(False).to_numpy(dtype=bool)
    return frame[keep]


def run_by_establishments(run: Pass, arguments: tuple, frames: int, processes: int,
                          min_rows: int | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """`run(*arguments)`, whose first `frames` arguments are frames with an establishment_siret column, computed
    by ranges of establishments, `processes` at a time (module docstring): the same rows in the same order.

    The ranges hold at least `min_rows` (default MIN_PART_ROWS) and at most about `max_rows` (MAX_PART_ROWS)
    rows of the first frame. A part that fails raises RuntimeError naming the pass, the part and why (its
    traceback, or the signal that killed it: the kernel's when memory runs out)."""
    rows = len(arguments[0])
    least, most = max(min_rows or MIN_PART_ROWS, 1), max(max_rows or MAX_PART_ROWS, 1)
    wanted = max(processes, -(-rows // most)) if processes > 1 or rows > most else 1
    cuts = siret_cuts(arguments[0][SIRET], min(wanted, rows // least))
    if not cuts:
        return run(*arguments)
    bounds = list(zip([None, *cuts], [*cuts, None], strict=True))
    results: list[pd.DataFrame] = []
    for wave in range(0, len(bounds), max(processes, 1)):
        results += _run_wave(run, arguments, frames, bounds, wave, max(processes, 1))
    found = [result for result in results if len(result)] or results[:1]
    if len(found) == 1:
        return found[0].reset_index(drop=True)
    # A column all missing in one part has no type of its own there (object): typed again as the rows of one
    # pass would be.
    return pd.concat(found, ignore_index=True).infer_objects()


def _run_wave(run: Pass, arguments: tuple, frames: int, bounds: list[tuple[str | None, str | None]], first: int,
              processes: int) -> list[pd.DataFrame]:
    """Parts `first` to `first + processes - 1` of `bounds`: the first here, the others in forked processes."""
    context = multiprocessing.get_context("fork")
    children: list[tuple[int, Any, Connection]] = []
    try:
        for number in range(first + 1, min(first + processes, len(bounds))):
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_run_part, args=(run, arguments, frames, *bounds[number], sender, receiver),
                                    daemon=True)
            child.start()
            sender.close()
            children.append((number, child, receiver))
        results = [_run_part_here(run, arguments, frames, *bounds[first])]
        for number, child, receiver in children:
            results.append(_received(run, number + 1, len(bounds), child, receiver))
    finally:
        for _, child, receiver in children:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join()
    return results


def _run_part_here(run: Pass, arguments: tuple, frames: int, low: str | None, high: str | None) -> pd.DataFrame:
    return run(*(part_of(a, low, high) for a in arguments[:frames]), *arguments[frames:])


def _run_part(run: Pass, arguments: tuple, frames: int, low: str | None, high: str | None, sender: Connection,
              receiver: Connection) -> None:
    """In the forked process: the part's result, or its error's traceback, sent to the parent. The fork's copy of
    the parent's end of the pipe is closed first: when the parent is gone (killed), sending fails and this
    process ends, instead of waiting for ever for a reader that is itself."""
    receiver.close()
    try:
        sender.send(("result", _run_part_here(run, arguments, frames, low, high)))
    except BaseException:  # whatever it is, the parent reports it
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def _received(run: Pass, number: int, parts: int, child: Any, receiver: Connection) -> pd.DataFrame:
    """A forked part's result; RuntimeError when it failed or died without one."""
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
