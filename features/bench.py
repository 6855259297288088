"""Features benchmark: the engine on every establishment of a month (or of several months in one pass,
as training asks for them) next to the pandas reference (`features.bench_reference`) on a sample and,
optionally, to the contracts rebuilt from the monthly snapshots (the path before the versioned
contracts), each in a fresh process, and their agreement."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.benchmarks import load_average, peak_rss_mb
from core.config import Config
from core.home import Home
from core.months import add_months, month_start, months_between
from features.bench_reference import REFERENCE_FEATURES, compare, read_sample, reference_features
from features.build import compute_feature_months
from warehouse.inspections import load_inspections
from warehouse.sql_engine import DuckDBEngine


def _run_features(home: Home, config: Config, months: list[date], sample: list[str], memory_limit: str | None,
                  threads: int | None, from_states: bool | None, queue: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    per_month: list[dict] = []
    stage_seconds: dict[str, float] = {}
    sampled = None
    with DuckDBEngine.spilling_to(home.duckdb_tmp, memory_limit, threads) as engine:
        for table in compute_feature_months(engine, home.warehouse, months, config, load_inspections(home.warehouse),
                                            from_states=from_states):
            per_month.append({"as_of": f"{table.as_of:%Y-%m}", "establishments": len(table.features),
                              "contracts": table.contracts, "findings": table.findings,
                              "seconds": sum(table.stage_seconds.values())})
            for stage, seconds in table.stage_seconds.items():
                stage_seconds[stage] = stage_seconds.get(stage, 0.0) + seconds
            table.evidence_file.unlink()  # not stored: a month's file would otherwise stay until the last one
            sampled = table.features.loc[table.features["siret"].isin(sample), ["siret", *REFERENCE_FEATURES]]
            del table  # the last month's sample is kept, not a month's table while the next is computed
    seconds = time.perf_counter() - started
    assert sampled is not None
    queue.put((seconds, peak_rss_mb(), per_month, sampled, stage_seconds))


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
    stages: pd.DataFrame  # stage, seconds, share of the engine's time (features.build.compute_feature_months)
    months: pd.DataFrame  # as_of, establishments, contracts, findings, seconds: each month of the pass
    sample_size: int
    establishments: int
    load_before: str
    load_after: str


def _in_fresh_process(target, args: tuple) -> tuple:
    """What `target(*args, queue)` puts on its queue, run in a fresh (spawned) process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"features benchmark ({target.__name__}) failed with exit code {process.exitcode}")
    return result


def bench_features(home: Home, config: Config, as_of: date, sample_share: float = 0.01, seed: int = 0,
                   memory_limit: str | None = None, threads: int | None = None, months: int = 1,
                   rebuild_reference: bool = False) -> FeaturesBench:
    """Features of every establishment for the `months` months up to `as_of`, in one pass (DuckDB, fresh
    process), next to the pandas reference (features.bench_reference) on a random `sample_share` of the
    establishments as of `as_of`, extrapolated linearly to all of them and to every month; with
    `rebuild_reference`, also next to one month with the contracts rebuilt from the monthly snapshots
    (the path before the versioned contracts), times the months.

    The reference's time is its read of the sample's rows (a scan of the month's tables, counted once)
    plus its computation times the number of establishments over the sample size.
    """
    path = home.warehouse / "establishments.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no warehouse; ingest DSN files or run `champollion simulate --preset national --format parquet`"
        )
    if months < 1:
        raise ValueError(f"months: {months}; at least 1")
    known = pq.read_table(path, columns=["siret", "declares"]).to_pandas()
    candidates = np.sort(known.loc[known["declares"].astype(bool), "siret"].to_numpy())
    size = max(1, round(len(candidates) * sample_share))
    sample = sorted(np.random.default_rng(seed).choice(candidates, size, replace=False).tolist())
    as_of = month_start(as_of)
    pass_months = months_between(add_months(as_of, 1 - months), as_of)
    load_before = load_average()
    read_seconds, compute_seconds, reference_peak, reference = _in_fresh_process(
        _run_reference, (home, config, as_of, sample))
    rows = []
    if rebuild_reference:
        rebuild_seconds, rebuild_peak, rebuilt, _, _ = _in_fresh_process(
            _run_features, (home, config, [as_of], sample, memory_limit, threads, False))
    seconds, peak, per_month, sampled, stage_seconds = _in_fresh_process(
        _run_features, (home, config, pass_months, sample, memory_limit, threads, None))
    establishments = per_month[-1]["establishments"]
    extrapolated = read_seconds + compute_seconds * establishments / len(sample)
    span = f"{len(pass_months)} months ({pass_months[0]:%Y-%m}..{as_of:%Y-%m})" if months > 1 else f"{as_of:%Y-%m}"
    rows.append({"variant": f"pandas reference on {len(sample):,} establishments, {as_of:%Y-%m} (read {read_seconds:.1f} s + "
                            f"compute {compute_seconds:.1f} s)", "months": 1, "establishments": len(sample),
                 "seconds": read_seconds + compute_seconds, "peak_rss_mb": reference_peak, "reference_seconds": None})
    rows.append({"variant": f"pandas reference extrapolated to {establishments:,} establishments x {len(pass_months)} months",
                 "months": len(pass_months), "establishments": establishments, "seconds": extrapolated * len(pass_months),
                 "peak_rss_mb": None, "reference_seconds": extrapolated * len(pass_months)})
    if rebuild_reference:
        rows.append({"variant": f"champollion features, contracts rebuilt from the monthly snapshots, {as_of:%Y-%m} "
                                f"({rebuilt[0]['contracts']:,} contracts)", "months": 1,
                     "establishments": rebuilt[0]["establishments"], "seconds": rebuild_seconds, "peak_rss_mb": rebuild_peak,
                     "reference_seconds": extrapolated})
        if months > 1:
            rows.append({"variant": f"  the same x {len(pass_months)} months", "months": len(pass_months),
                         "establishments": establishments, "seconds": rebuild_seconds * len(pass_months),
                         "peak_rss_mb": None, "reference_seconds": extrapolated * len(pass_months)})
    rows.append({"variant": f"champollion features (DuckDB, versioned contracts), {span} in one pass "
                            f"({per_month[-1]['findings']:,} rule findings as of {as_of:%Y-%m})",
                 "months": len(pass_months), "establishments": establishments, "seconds": seconds, "peak_rss_mb": peak,
                 "reference_seconds": extrapolated * len(pass_months)})
    results = pd.DataFrame(rows)
    results["seconds_per_month"] = results["seconds"] / results["months"]
    results["x_pandas_reference"] = results["reference_seconds"] / results["seconds"]
    results.loc[0, "x_pandas_reference"] = None
    if rebuild_reference:
        results["x_rebuild"] = rebuild_seconds * results["months"] / results["seconds"]
        results.loc[[0, 1], "x_rebuild"] = None  # the pandas reference's rows
    results = results.drop(columns="reference_seconds")
    stages = pd.DataFrame({"stage": list(stage_seconds), "seconds": list(stage_seconds.values())})
    stages["share"] = stages["seconds"] / seconds
    return FeaturesBench(results, compare(reference, sampled), stages, pd.DataFrame(per_month), len(sample),
                         establishments, load_before, load_average())
