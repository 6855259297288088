"""A benchmark variant runs in a fresh process: its report comes back, and a variant that dies raises at once."""

import os
import re
import shutil
import signal

import pytest

from core.benchmarks import measure_in_process
from warehouse.bench import bench_ingest


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


def test_the_ingestion_benchmark_runs_in_the_home_whatever_the_system_temporary_folder_is_called(
        tmp_path, monkeypatch, public_sample, test_key, config):
    # A temporary folder whose name a home refuses (DuckDB would read it as a pattern): the scratch homes are the
    # home's own, not the system's.
    odd_temporary = tmp_path / "tmp[1]"
    odd_temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(odd_temporary))
    dsn = tmp_path / "dsn"
    dsn.mkdir()
    shutil.copy(public_sample, dsn)
    scratch = tmp_path / "home" / "data" / "bench" / "scratch"

    report = bench_ingest(dsn, test_key, scratch, workers=2, config=config)

    assert [row.variant for row in report.rows] == [
        "plain line reader (reference)", "champollion ingest, 1 worker",
        "champollion ingest, 2 workers, half the files", "champollion ingest, 2 workers"]
    assert all(row.seconds > 0 and row.megabytes > 0 for row in report.rows)
    assert list(scratch.iterdir()) == []  # each run's scratch home is removed
