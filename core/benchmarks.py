"""What every benchmark measures the same way: a variant in a fresh process, its peak memory, the machine's load."""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from queue import Empty

from core.machine import exit_reason

RESULT_POLL_SECONDS = 1.0  # how often a benchmark variant's process is checked while its result is awaited


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children (worker processes), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def children_cpu_seconds() -> float:
    """User and system CPU seconds of this process's finished children and their waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_in_process(target: Callable[..., None], args: tuple) -> tuple[float, float]:
    """Run `target(*args, queue)` in a fresh process; (seconds, peak RSS in MB) as it reports them. A process
    that ends without reporting (an exception, or killed: by the kernel when memory runs out) raises
    RuntimeError with its exit code instead of leaving the benchmark waiting."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = None
    while result is None:
        try:
            result = queue.get(timeout=RESULT_POLL_SECONDS)
        except Empty:
            if not process.is_alive():  # its last report may still be in the pipe: one more look
                try:
                    result = queue.get(timeout=RESULT_POLL_SECONDS)
                except Empty:
                    break
    process.join()
    if result is None or process.exitcode != 0:
        raise RuntimeError(f"benchmark variant {target.__name__} failed ({exit_reason(process.exitcode)})")
    seconds, peak = result
    return seconds, peak


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, to read a measure made on a shared machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextmanager
def timed(stages: dict[str, float] | None, name: str) -> Iterator[None]:
    """Add the wall time of the block, in seconds, to `stages[name]` (nothing when `stages` is None)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if stages is not None:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - started
