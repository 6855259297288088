"""One month end to end, as a regional office would get it: features of every establishment, their scores,
and the lists with their reasons (SHAP, in French), timed stage by stage.

Two measured stages, each in a fresh process (`core.benchmarks.measure_in_process`), so that each one's
wall time and peak memory are its own:

1. features as of the month, computed by the SQL engine and stored (what `champollion features` does);
2. the monthly run on them (what `champollion score` does: `scoring.monthly.score_month`): model loaded,
   stored features read back, every establishment scored and ranked, each region's list drawn up, the listed
   establishments' rule evidence read, SHAP reasons for the listed lines, `lists/YYYY-MM/` written (CSV, one Excel
   workbook and one HTML page per region).

Each stage and step is printed with its share of the whole run and its ratio to the features stage, both
measured in the same run, so that a slower shared machine does not hide where the time goes. The model is
the registered one of the home, or of another home (`model_home`: e.g. a home whose champion was trained on
a simulated DSN population, when the measured home, like the national preset, has no inspections).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.benchmarks import load_average, measure_in_process, peak_rss_mb
from core.config import Config
from core.home import Home
from features.build import compute_features, store_features
from scoring.monthly import score_month
from warehouse.bench import write_bench_json
from warehouse.inspections import load_inspections
from warehouse.sql_engine import open_engine

log = logging.getLogger("champollion.bench")
TARGET_SECONDS = 300.0  # features, scores and lists with reasons of one national month, on 2 cores


@dataclass(frozen=True)
class MonthStage:
    """One measured stage (a fresh process) or one of its steps (timed inside it: no peak of its own)."""

    stage: str
    step: str
    seconds: float
    peak_rss_mb: float | None


@dataclass(frozen=True)
class MonthBenchReport:
    """A whole run: the month, what it produced, each stage and step, the model, the machine's load."""

    month: date
    engine: str
    establishments: int
    findings: int
    listed: int
    model: str
    stages: list[MonthStage]
    load_before: str
    load_after: str

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages if s.step == "")


def _run_features(root: Path, config: Config, month: date, engine: str, extra_path: Path, queue: Any) -> None:
    home = Home(root)
    started = time.perf_counter()
    with open_engine(engine, config, home.duckdb_tmp) as sql_engine:
        table = compute_features(sql_engine, home.warehouse, month, config, load_inspections(home.warehouse))
        store_features(table, home.data, config)
    seconds = time.perf_counter() - started
    extra_path.write_text(json.dumps({"stages": table.stage_seconds, "establishments": len(table.features),
                                      "findings": table.findings}), encoding="utf-8")
    queue.put((seconds, peak_rss_mb()))


def _run_lists(root: Path, config: Config, month: date, model: str | None, model_root: Path | None,
               extra_path: Path, queue: Any) -> None:
    started = time.perf_counter()
    result = score_month(Home(root), config, month, model, model_home=Home(model_root) if model_root else None)
    seconds = time.perf_counter() - started
    extra_path.write_text(json.dumps({
        "stages": result.stages, "version": result.model_version, "scored": len(result.ranked),
        "listed": int(result.ranked["in_list"].sum()), "files": len(result.files),
    }), encoding="utf-8")
    queue.put((seconds, peak_rss_mb()))


def bench_month(home: Home, config: Config, month: date, engine: str = "duckdb", model: str | None = None,
                model_home: Home | None = None, progress: Any = None) -> MonthBenchReport:
    """Measure the two stages of the module docstring for `month` of `home` (writes its features and lists)."""
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="champollion-bench-month-") as scratch:
        features_extra, lists_extra = Path(scratch) / "features.json", Path(scratch) / "lists.json"
        if progress:
            progress(f"features as of {month:%Y-%m} on {engine}")
        features_seconds, features_peak = measure_in_process(
            _run_features, (home.root, config, month, engine, features_extra))
        features = json.loads(features_extra.read_text(encoding="utf-8"))
        if progress:
            progress("scores, lists and reasons")
        lists_seconds, lists_peak = measure_in_process(
            _run_lists, (home.root, config, month, model, model_home.root if model_home else None, lists_extra))
        lists = json.loads(lists_extra.read_text(encoding="utf-8"))
    stages = [MonthStage("features", "", features_seconds, features_peak)]
    stages += [MonthStage("features", step, seconds, None) for step, seconds in features["stages"].items()]
    stages.append(MonthStage("scores, lists and reasons", "", lists_seconds, lists_peak))
    stages += [MonthStage("scores, lists and reasons", step, seconds, None) for step, seconds in lists["stages"].items()]
    origin = (f"{config.training.registered_model} version {lists['version']}"
              + (f" from the registry of {model_home.root}" if model_home else ""))
    return MonthBenchReport(month, engine, features["establishments"], features["findings"], lists["listed"], origin,
                            stages, load_before, load_average())


def month_frame(report: MonthBenchReport) -> pd.DataFrame:
    """The stages and steps as printed: seconds, share of the whole run, ratio to the features stage, peak
    memory of each stage, and the whole run against the 5-minute target."""
    total = report.total_seconds
    features = next(s.seconds for s in report.stages if s.stage == "features" and s.step == "")
    records = [{
        "stage": s.stage if s.step == "" else f"  {s.step}",
        "seconds": round(s.seconds, 1),
        "share of the run": f"{s.seconds / total:.0%}",
        "x features": f"{s.seconds / features:.2f}",
        "peak RSS (GB)": f"{s.peak_rss_mb / 1024:.1f}" if s.peak_rss_mb is not None else "",
        "per 1,000 establishments (s)": f"{1000 * s.seconds / report.establishments:.3f}" if report.establishments else "",
    } for s in report.stages]
    peak = max(s.peak_rss_mb or 0.0 for s in report.stages)
    records.append({
        "stage": f"month end to end (target {TARGET_SECONDS:.0f} s: {'met' if total <= TARGET_SECONDS else 'MISSED'})",
        "seconds": round(total, 1), "share of the run": "100%", "x features": f"{total / features:.2f}",
        "peak RSS (GB)": f"{peak / 1024:.1f}",
        "per 1,000 establishments (s)": f"{1000 * total / report.establishments:.3f}" if report.establishments else "",
    })
    return pd.DataFrame(records)


def write_month_json(report: MonthBenchReport, folder: Path) -> Path:
    """The report as JSON under `folder` (data/bench/), to compare across commits."""
    return write_bench_json([], folder / f"month-{datetime.now():%Y%m%dT%H%M%S}.json", {
        **{k: v for k, v in asdict(report).items() if k != "stages"},
        "month": f"{report.month:%Y-%m}", "total_seconds": report.total_seconds, "target_seconds": TARGET_SECONDS,
        "stages": [asdict(s) for s in report.stages],
    })
