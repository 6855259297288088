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


def _run_features(home: Home, config: Config, as_of, sample: list[str], memory_limit: str | None, threads: int | None,
                  queue: multiprocessing.Queue) -> None:
    from features.bench_reference import REFERENCE_FEATURES
    from features.build import compute_features
    from features.engine import connect
    from features.inspections import load_inspections
    from features.sql_engine import DuckDBEngine

    engine = DuckDBEngine(connect(memory_limit=memory_limit, threads=threads, temp_directory=home.duckdb_tmp))
    started = time.perf_counter()
    table = compute_features(engine, home.warehouse, as_of, config, load_inspections(home.warehouse))
    seconds = time.perf_counter() - started
    engine.close()
    sampled = table.features.loc[table.features["siret"].isin(sample), ["siret", *REFERENCE_FEATURES]]
    queue.put((seconds, peak_rss_mb(), len(table.features), table.contracts, len(table.evidence), sampled,
               table.stage_seconds))


def _run_reference(home: Home, config: Config, as_of, sample: list[str], queue: multiprocessing.Queue) -> None:
    from features.bench_reference import read_sample, reference_features

    started = time.perf_counter()
    tables = read_sample(home.warehouse, sample, as_of, config.features)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reference = reference_features(tables, sample, as_of, config.features, config.ingest.inferred_end_after_months)
    queue.put((read_seconds, time.perf_counter() - started, peak_rss_mb(), reference))


@dataclass(frozen=True)
class FeaturesBench:
    """The engine on every establishment next to the pandas reference on a sample, and their agreement."""

    results: "pd.DataFrame"
    agreement: "pd.DataFrame"
    stages: "pd.DataFrame"  # stage, seconds, share of the engine's time (features.build.compute_features)
    sample_size: int
    establishments: int
    load_before: str
    load_after: str


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_features(home: Home, config: Config, as_of, sample_share: float = 0.01, seed: int = 0,
                   memory_limit: str | None = None, threads: int | None = None) -> FeaturesBench:
    """Features of every establishment for one month (DuckDB, fresh process) next to the pandas reference
    (features.bench_reference) on a random `sample_share` of the establishments, extrapolated linearly.

    The reference's time is its read of the sample's rows (a scan of the month's tables, counted once)
    plus its computation times the number of establishments over the sample size.
    """
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from features.bench_reference import compare

    path = home.warehouse / "establishments.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no warehouse; ingest DSN files or run `champollion simulate --preset national --format parquet`")
    known = pq.read_table(path, columns=["siret", "declares"]).to_pandas()
    candidates = np.sort(known.loc[known["declares"].astype(bool), "siret"].to_numpy())
    size = max(1, round(len(candidates) * sample_share))
    sample = sorted(np.random.default_rng(seed).choice(candidates, size, replace=False).tolist())
    load_before = _load()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_reference, args=(home, config, as_of, sample, queue))
    process.start()
    read_seconds, compute_seconds, reference_peak, reference = queue.get()
    process.join()
    process = context.Process(target=_run_features, args=(home, config, as_of, sample, memory_limit, threads, queue))
    process.start()
    seconds, peak, establishments, contracts, findings, sampled, stage_seconds = queue.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"features benchmark failed with exit code {process.exitcode}")
    extrapolated = read_seconds + compute_seconds * establishments / len(sample)
    results = pd.DataFrame(
        [
            {"variant": f"pandas reference on {len(sample):,} establishments (read {read_seconds:.1f} s + "
                        f"compute {compute_seconds:.1f} s)", "establishments": len(sample), "contracts_read": None,
             "seconds": read_seconds + compute_seconds, "peak_rss_mb": reference_peak},
            {"variant": f"pandas reference extrapolated to {establishments:,}", "establishments": establishments,
             "contracts_read": None, "seconds": extrapolated, "peak_rss_mb": None},
            {"variant": f"champollion features (DuckDB, all {establishments:,} establishments; "
                        f"{findings:,} rule findings)", "establishments": establishments, "contracts_read": contracts,
             "seconds": seconds, "peak_rss_mb": peak},
        ]
    )
    results["establishments_per_s"] = results["establishments"] / results["seconds"]
    results["x_reference"] = extrapolated / results["seconds"]
    results.loc[0, "x_reference"] = None
    stages = pd.DataFrame({"stage": list(stage_seconds), "seconds": list(stage_seconds.values())})
    stages["share"] = stages["seconds"] / seconds
    return FeaturesBench(results, compare(reference, sampled), stages, len(sample), establishments, load_before, _load())
