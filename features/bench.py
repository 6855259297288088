"""Features benchmark: the engine on every establishment of a month next to the pandas reference
(`features.bench_reference`) on a sample, each in a fresh process, and their agreement."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.benchmarks import load_average, peak_rss_mb
from core.config import Config
from core.home import Home
from features.bench_reference import REFERENCE_FEATURES, compare, read_sample, reference_features
from features.build import compute_features
from warehouse.engine import connect
from warehouse.inspections import load_inspections
from warehouse.sql_engine import DuckDBEngine


def _run_features(home: Home, config: Config, as_of, sample: list[str], memory_limit: str | None, threads: int | None,
                  queue: multiprocessing.Queue) -> None:
    engine = DuckDBEngine(connect(memory_limit=memory_limit, threads=threads, temp_directory=home.duckdb_tmp))
    started = time.perf_counter()
    table = compute_features(engine, home.warehouse, as_of, config, load_inspections(home.warehouse))
    seconds = time.perf_counter() - started
    engine.close()
    sampled = table.features.loc[table.features["siret"].isin(sample), ["siret", *REFERENCE_FEATURES]]
    queue.put((seconds, peak_rss_mb(), len(table.features), table.contracts, len(table.evidence), sampled,
               table.stage_seconds))


def _run_reference(home: Home, config: Config, as_of, sample: list[str], queue: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    tables = read_sample(home.warehouse, sample, as_of, config.features)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reference = reference_features(tables, sample, as_of, config.features, config.ingest.inferred_end_after_months)
    queue.put((read_seconds, time.perf_counter() - started, peak_rss_mb(), reference))


@dataclass(frozen=True)
class FeaturesBench:
    """The engine on every establishment next to the pandas reference on a sample, and their agreement."""

    results: pd.DataFrame
    agreement: pd.DataFrame
    stages: pd.DataFrame  # stage, seconds, share of the engine's time (features.build.compute_features)
    sample_size: int
    establishments: int
    load_before: str
    load_after: str


def bench_features(home: Home, config: Config, as_of, sample_share: float = 0.01, seed: int = 0,
                   memory_limit: str | None = None, threads: int | None = None) -> FeaturesBench:
    """Features of every establishment for one month (DuckDB, fresh process) next to the pandas reference
    (features.bench_reference) on a random `sample_share` of the establishments, extrapolated linearly.

    The reference's time is its read of the sample's rows (a scan of the month's tables, counted once)
    plus its computation times the number of establishments over the sample size.
    """
    path = home.warehouse / "establishments.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no warehouse; ingest DSN files or run `champollion simulate --preset national --format parquet`"
        )
    known = pq.read_table(path, columns=["siret", "declares"]).to_pandas()
    candidates = np.sort(known.loc[known["declares"].astype(bool), "siret"].to_numpy())
    size = max(1, round(len(candidates) * sample_share))
    sample = sorted(np.random.default_rng(seed).choice(candidates, size, replace=False).tolist())
    load_before = load_average()
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
    return FeaturesBench(results, compare(reference, sampled), stages, len(sample), establishments, load_before, load_average())
