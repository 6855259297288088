"""Ingestion benchmark: throughput and peak memory, next to a plain line reader measured in the same run.

Each variant runs in a fresh process so that its peak memory (with its worker processes) is its
own. Flat memory is checked by ingesting half of the files and all of them: the peaks should match.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from champollion.config import Config
from champollion.home import Home
from features.dsn.reader import CHUNK_BYTES, open_binary
from features.ingest import discover

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class BenchRow:
    """One measured variant."""

    variant: str
    workers: int
    megabytes: float
    seconds: float
    peak_rss_mb: float

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s_per_core(self) -> float:
        return self.mb_per_s / self.workers


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


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children (worker processes), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _run_plain(paths: list[Path], queue: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    plain_line_reader(paths)
    queue.put((time.perf_counter() - started, peak_rss_mb()))


def _run_ingest(paths: list[Path], workers: int, key: bytes, queue: multiprocessing.Queue) -> None:
    from features.ingest import ingest

    config = Config()
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"workers": workers})})
    with tempfile.TemporaryDirectory(prefix="champollion-bench-") as scratch:
        started = time.perf_counter()
        ingest(paths, Home(Path(scratch)), config, key)
        queue.put((time.perf_counter() - started, peak_rss_mb()))


def measure_in_process(target, args: tuple) -> tuple[float, float]:
    """Run `target(*args, queue)` in a fresh process; (seconds, peak RSS in MB) as it reports them."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    seconds, peak = queue.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"benchmark variant {target.__name__} failed with exit code {process.exitcode}")
    return seconds, peak


def bench_ingest(dsn: Path, key: bytes, workers: int = 2) -> list[BenchRow]:
    """Measure the plain reader, ingestion on one core and on `workers` cores, and on half the files."""
    paths, _ = discover([dsn])
    if not paths:
        raise FileNotFoundError(f"{dsn}: no DSN files to benchmark")
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    half = paths[: max(1, len(paths) // 2)]
    half_mb = sum(p.stat().st_size for p in half) / 1e6
    rows = []
    seconds, peak = measure_in_process(_run_plain, (paths,))
    rows.append(BenchRow("plain line reader (reference)", 1, megabytes, seconds, peak))
    seconds, peak = measure_in_process(_run_ingest, (paths, 1, key))
    rows.append(BenchRow("champollion ingest, 1 worker", 1, megabytes, seconds, peak))
    seconds, peak = measure_in_process(_run_ingest, (half, workers, key))
    rows.append(BenchRow(f"champollion ingest, {workers} workers, half the files", workers, half_mb, seconds, peak))
    seconds, peak = measure_in_process(_run_ingest, (paths, workers, key))
    rows.append(BenchRow(f"champollion ingest, {workers} workers", workers, megabytes, seconds, peak))
    return rows


def write_bench_json(rows: list[BenchRow], path: Path, extra: dict | None = None) -> Path:
    """Results as JSON, for comparison across commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(extra or {}),
        "rows": [asdict(r) | {"mb_per_s": r.mb_per_s, "mb_per_s_per_core": r.mb_per_s_per_core} for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def _run_features(home: Home, config: Config, as_of, queue: multiprocessing.Queue) -> None:
    from features.build import compute_features
    from features.engine import connect
    from features.inspections import load_inspections

    con = connect()
    started = time.perf_counter()
    table = compute_features(con, home.warehouse, as_of, config, load_inspections(home.warehouse))
    seconds = time.perf_counter() - started
    contracts = con.execute("SELECT count(*) FROM contracts_asof").fetchone()[0]
    con.close()
    queue.put((seconds, peak_rss_mb(), len(table.features), contracts, len(table.evidence)))


def bench_features(home: Home, config: Config, as_of) -> "pd.DataFrame":
    """Features of every establishment for one month, in a fresh process: time, rows, peak memory."""
    import pandas as pd

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_features, args=(home, config, as_of, queue))
    process.start()
    seconds, peak, establishments, contracts, findings = queue.get()
    process.join()
    return pd.DataFrame(
        [
            {
                "establishments": establishments,
                "contracts_read": contracts,
                "rule_findings": findings,
                "seconds": seconds,
                "establishments_per_s": establishments / seconds if seconds else float("nan"),
                "peak_rss_mb": peak,
            }
        ]
    )
