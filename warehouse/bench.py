"""Ingestion benchmark: throughput and peak memory, next to a plain line reader measured in the same run.

Each variant runs in a fresh process so that its peak memory (with its worker processes) is its
own. Flat memory is checked by ingesting half of the files and all of them: the peaks should match.
The machine's load average is taken before and after: on a shared machine, read the ratios.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.benchmarks import children_cpu_seconds, load_average, measure_in_process, peak_rss_mb
from core.config import Config
from core.home import Home
from warehouse.dsn.reader import CHUNK_BYTES, open_binary
from warehouse.ingest import discover
from warehouse.spill import SpillFolder


@dataclass(frozen=True)
class BenchRow:
    """One measured variant."""

    variant: str
    workers: int
    megabytes: float
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # of the variant's process and its workers: what other sessions' load does not change

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds else 0.0

    @property
    def mb_per_cpu_s(self) -> float:
        """Megabytes per CPU second: the throughput of one core that is kept busy, whatever the load."""
        return self.megabytes / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def mb_per_s_per_core(self) -> float:
        return self.mb_per_s / self.workers


@dataclass(frozen=True)
class IngestBench:
    """The measured variants (the reference first), and the load average before and after."""

    rows: list[BenchRow]
    load_before: str
    load_after: str

    @property
    def memory_all_over_half(self) -> float:
        """Peak memory ingesting all the files over ingesting half of them (1.0: flat)."""
        half, whole = self.rows[-2], self.rows[-1]
        return whole.peak_rss_mb / half.peak_rss_mb if half.peak_rss_mb else 0.0


def plain_line_reader(paths: list[Path]) -> int:
    """The reference: read, decode and split each line at its first comma, nothing more."""
    lines = 0
    for path in paths:
        with open_binary(path) as stream:
            pending = b""
            while block := stream.read(CHUNK_BYTES):
                data = pending + block
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                for line in data[:cut].decode("latin-1").split("\n"):
                    line.partition(",")
                    lines += 1
    return lines


def _run_plain(paths: list[Path], queue: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    plain_line_reader(paths)
    queue.put((time.perf_counter() - started, peak_rss_mb()))


def _run_ingest(paths: list[Path], workers: int, key: bytes, config: Config, scratch_root: Path,
                queue: multiprocessing.Queue) -> None:
    from warehouse.ingest import ingest

    config = config.with_ingest_workers(workers)
    # A folder of this process's own, reclaimed by the next benchmark if this one is killed.
    with SpillFolder.claim(scratch_root) as scratch:
        started = time.perf_counter()
        ingest(paths, Home(scratch.path / "home"), config, key)
        queue.put((time.perf_counter() - started, peak_rss_mb()))


def bench_ingest(dsn: Path, key: bytes, scratch_root: Path, workers: int = 2, config: Config | None = None) -> IngestBench:
    """Measure the plain reader, ingestion on one core and on `workers` cores, and on half the files,
    with the settings of `config` (DuckDB's memory limit for consolidation) but the number of workers.

    Each run ingests into a scratch home of its own under `scratch_root` (a home's folder, whose path was checked:
    the system's temporary folder may hold characters a home refuses, `core.home.PATTERN_CHARACTERS`)."""
    config = config or Config()
    paths = discover([dsn]).files
    if not paths:
        raise FileNotFoundError(f"{dsn}: no DSN files to benchmark")
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    half = paths[: max(1, len(paths) // 2)]
    half_mb = sum(p.stat().st_size for p in half) / 1e6
    load_before = load_average()
    variants: list[tuple[str, int, float, Callable[..., None], tuple]] = [
        ("plain line reader (reference)", 1, megabytes, _run_plain, (paths,)),
        ("champollion ingest, 1 worker", 1, megabytes, _run_ingest, (paths, 1, key, config, scratch_root)),
        (f"champollion ingest, {workers} workers, half the files", workers, half_mb, _run_ingest,
         (half, workers, key, config, scratch_root)),
        (f"champollion ingest, {workers} workers", workers, megabytes, _run_ingest, (paths, workers, key, config, scratch_root)),
    ]
    rows = []
    for variant, n_workers, size, target, args in variants:
        cpu_before = children_cpu_seconds()
        seconds, peak = measure_in_process(target, args)
        rows.append(BenchRow(variant, n_workers, size, seconds, peak, children_cpu_seconds() - cpu_before))
    return IngestBench(rows, load_before, load_average())


def write_bench_json(rows: list[BenchRow], path: Path, extra: dict | None = None) -> Path:
    """Results as JSON, for comparison across commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(extra or {}),
        "rows": [
            asdict(r) | {"mb_per_s": r.mb_per_s, "mb_per_s_per_core": r.mb_per_s_per_core, "mb_per_cpu_s": r.mb_per_cpu_s,
                         "per_core_vs_reference": r.mb_per_s_per_core / rows[0].mb_per_s if rows[0].mb_per_s else None,
                         "per_cpu_s_vs_reference": r.mb_per_cpu_s / rows[0].mb_per_cpu_s if rows[0].mb_per_cpu_s else None}
            for r in rows
        ],
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path
