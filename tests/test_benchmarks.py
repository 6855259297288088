"""A benchmark variant runs in a fresh process: its report comes back, and a variant that dies raises at once."""

import os
import re
import signal

import pytest

from core.benchmarks import measure_in_process


def _reports(seconds: float, queue) -> None:
    queue.put((seconds, 12.5))


def _killed(queue) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel kills the largest process when memory runs out


def _fails(queue) -> None:
    raise ValueError("a variant's bug")


def test_a_variant_reports_its_time_and_peak_memory():
    assert measure_in_process(_reports, (1.5,)) == (1.5, 12.5)


@pytest.mark.parametrize(("target", "reason"), [(_killed, "killed by signal 9: out of memory?"),
                                                (_fails, "exit code 1")])
def test_a_variant_that_dies_raises_instead_of_leaving_the_benchmark_waiting(target, reason):
    with pytest.raises(RuntimeError, match=re.escape(f"benchmark variant {target.__name__} failed ({reason})")):
        measure_in_process(target, ())
