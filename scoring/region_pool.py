"""The regions' files of a month written side by side, one region per worker process.

Each worker receives one region's list (`RegionList`: its lines, evidence and departures, not the national
tables) and writes its workbook and page with `write_region_files`, so memory stays that of a region per
worker and the files are the bytes a serial run writes. Workers are started with 'spawn': the parent holds
DuckDB and LightGBM thread pools, which a forked child must not inherit. The largest regions go first, so
that the last to finish is a small one; the paths come back in the order of `listings`.

A region that fails raises `RegionFilesError` naming it (the regions still queued are cancelled); a worker
killed (out of memory) raises too, naming the regions left unwritten, instead of waiting for it. The workers end
with the run: killed, it takes them along (`core.machine.end_with_parent`), instead of leaving them idle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

from core.machine import end_with_parent
from scoring.region_files import RegionList, write_region_files


class RegionFilesError(RuntimeError):
    """A region's files could not be written."""


def _named(listing: RegionList) -> str:
    return f"{listing.stem} ({listing.region})"


def write_regions(folder: Path, listings: list[RegionList], created: datetime, workers: int,
                  meanwhile: Callable[[], None] | None = None) -> list[Path]:
    """Write every region's workbook and page into `folder` with up to `workers` processes (in this process when
    `workers` is 1 or there is one region); return the paths, region by region in the order of `listings`.
    `created`: the workbooks' creation time (UTC). `meanwhile` runs in this process while the workers write (first,
    when there are none); if it fails, its error is raised once the regions the workers already took are written
    (the others are cancelled)."""
    if workers <= 1 or len(listings) <= 1:
        if meanwhile is not None:
            meanwhile()
        paths: list[Path] = []
        for listing in listings:
            try:
                paths += write_region_files(folder, listing, created)
            except Exception as error:
                raise RegionFilesError(f"files of region {_named(listing)} not written: {error}") from error
        return paths
    largest_first = sorted(range(len(listings)), key=lambda i: -(len(listings[i].lines) + len(listings[i].evidence)))
    written: dict[int, list[Path]] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(listings)), mp_context=get_context("spawn"),
                             initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
        futures: dict[Future[list[Path]], int] = {
            pool.submit(write_region_files, folder, listings[i], created): i for i in largest_first
        }
        if meanwhile is not None:
            try:
                meanwhile()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in done if future.exception() is not None]
        if failed:
            pool.shutdown(wait=True, cancel_futures=True)
            first = min(failed, key=lambda future: futures[future])
            failure = first.exception()
            if isinstance(failure, BrokenProcessPool):
                unwritten = ", ".join(_named(listings[i]) for f, i in sorted(futures.items(), key=lambda item: item[1])
                                      if not f.done() or f.cancelled() or f.exception() is not None)
                raise RegionFilesError(
                    f"a worker process writing the regions' files died (killed? out of memory?): not written: {unwritten}"
                ) from failure
            raise RegionFilesError(f"files of region {_named(listings[futures[first]])} not written: {failure}") from failure
        for future, i in futures.items():
            written[i] = future.result()
    return [path for i in range(len(listings)) for path in written[i]]
