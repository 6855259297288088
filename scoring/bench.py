"""Scoring benchmark: a month of many establishments scored, listed and explained, with SHAP next to `shap`.

On `rows` synthetic establishments (stored feature rows resampled with noise and fresh SIRETs, see
`synthetic_features`) and a model (the home's champion, or a LightGBM of a chosen size trained on
synthetic labels), each variant runs in a fresh process (`core.benchmarks.measure_in_process`) so that its
wall time and peak memory are its own; reading the table and the model is not timed:

- scores of every row (`ScoringModel.predict_proba`);
- the monthly pipeline `scoring.monthly.score_table` (empty evidence): lists of 5 % per region with
  the SHAP reasons of the listed, and the same with lists (hence reasons) of 10 %, neither cut at
  `scoring.max_list_lines`;
- SHAP of every row with LightGBM's `pred_contrib` (in row chunks), and `shap.TreeExplainer` on a
  sample of the same rows, extrapolated, with the largest difference between the two.

Tree SHAP costs about trees x leaves x depth² per row: the model's size is reported with the times.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.benchmarks import load_average, measure_in_process, peak_rss_mb
from core.config import Config
from core.home import Home
from core.months import add_months
from features.catalog import BENCHMARKED, CATEGORICAL, FEATURES, FEATURES_SCHEMA_VERSION, IDENTIFIERS, feature_names
from training.saved_model import SavedModel

log = logging.getLogger("champollion.bench")
TARGET_SECONDS = 180.0  # scores for all and reasons for the listed, on 2 cores
SHAP_CHUNK_ROWS = 100_000  # pred_contrib output is (features + 1) doubles per row: ~50 MB per chunk
RULE_COUNTS = [f.name for f in FEATURES if f.family == "rules" and f.name != "n_rule_hits_total"]


@dataclass(frozen=True)
class ScoringBenchRow:
    """One measured variant. `seconds` is measured on `explained` (or `rows`) rows; `seconds_all_rows`
    is the time for every row (measured, or extrapolated when only a sample was timed)."""

    variant: str
    rows: int
    explained: int
    seconds: float
    seconds_all_rows: float
    extrapolated: bool
    peak_rss_mb: float
    cpu_per_wall: float
    load_seconds: float
    note: str = ""


# --- Synthetic establishments ------------------------------------------------------------------------

def synthetic_features(n: int, as_of: date, source: pd.DataFrame | None, seed: int = 0) -> pd.DataFrame:
    """`n` establishments with every column of the catalog (IDENTIFIERS + feature_names()).

    From `source` (a stored feature table): whole rows drawn with replacement, so that NAF, region,
    département and IDCC stay together as they really occur and missing values stay where they are;
    each numeric feature then gets noise (shares ± 0.03 within [0, 1], counts, days and sizes
    multiplied by a log-normal factor of sd 0.15 and rounded), excesses are recomputed from their
    share and benchmark, the rule total from the rule counts, and SIRETs are fresh (99 followed by
    twelve digits, which no real SIREN starts with). Without a source, `generated_features`.
    """
    rng = np.random.default_rng(seed)
    if source is None or source.empty:
        return generated_features(n, as_of, rng)
    frame = source.iloc[rng.integers(0, len(source), n)].reset_index(drop=True)
    kinds = {f.name: f.unit for f in FEATURES}
    out: dict[str, Any] = {
        "siret": pd.array([f"99{i:012d}" for i in range(n)], dtype="str"),
        "as_of": pd.Series(pd.Timestamp(as_of), index=frame.index).astype("datetime64[us]"),
    }
    for column in IDENTIFIERS[2:]:
        out[column] = frame[column]
    for name in feature_names():
        values = frame[name]
        unit = kinds[name]
        if name in CATEGORICAL or name == "last_inspection_found_abuse":
            out[name] = values
            continue
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if unit == "share":
            numbers = np.clip(numbers + rng.normal(0, 0.03, n), 0, 1)
        elif unit == "ratio":
            numbers = numbers + rng.normal(0, 0.05, n)
        else:
            numbers = np.maximum(numbers * rng.lognormal(0, 0.15, n), 0)
        out[name] = _as_dtype(numbers, values.dtype)
    for share in BENCHMARKED:
        out[f"{share}_excess"] = out[share] - out[f"{share}_benchmark"]
    out["n_rule_hits_total"] = sum(out[c] for c in RULE_COUNTS)
    return pd.DataFrame(out)[list(IDENTIFIERS) + feature_names()]


def _as_dtype(numbers: np.ndarray, dtype: Any) -> Any:
    text = str(dtype)
    if text == "int64":
        return np.rint(np.nan_to_num(numbers)).astype("int64")
    if text == "Int64":
        return pd.array(np.where(np.isnan(numbers), np.nan, np.rint(numbers)), dtype="Int64")
    return numbers


def generated_features(n: int, as_of: date, rng: np.random.Generator) -> pd.DataFrame:
    """When no feature table is stored: independent draws per column. Regions and départements from the
    reference places (uniform over départements, the département's name as the city), NAF among eight
    common codes of CDD users, counts Poisson(2), days and months Poisson(60), shares Beta(0.5, 2),
    benchmarks Beta(2, 5), one
    establishment in five inspected before. Cruder than resampling: use it only to time the code."""
    from core.geography import places_table

    places = places_table()
    where = rng.integers(0, len(places), n)
    nafs = np.array(["5610A", "5610C", "4711D", "8121Z", "8710A", "4941A", "5510Z", "2562B"])
    naf = nafs[rng.integers(0, len(nafs), n)]
    out: dict[str, Any] = {
        "siret": pd.array([f"99{i:012d}" for i in range(n)], dtype="str"),
        "as_of": pd.Series(pd.Timestamp(as_of), index=range(n)).astype("datetime64[us]"),
        "street": pd.array([f"{1 + i % 180} RUE DE LA REPUBLIQUE" for i in range(n)], dtype="str"),
        "postal_code": pd.array([f"{places[i].departement}000"[:5] for i in where], dtype="str"),
        "city": pd.array([places[i].departement_name.upper() for i in where], dtype="str"),
        "departement": pd.array([places[i].departement for i in where], dtype="str"),
        "declares": np.ones(n, dtype=bool),
        # declaring since before the window, every month of it (as most establishments of a month's table)
        "first_declared_month": pd.Series(pd.Timestamp(add_months(as_of, -24)), index=range(n)).astype("datetime64[us]"),
        "declared_window_bits": np.full(n, (1 << Config().features.window_months) - 1, dtype="int64"),
        "benchmark_level": pd.array(["naf_region"] * n, dtype="str"),
        "naf": pd.array(naf, dtype="str"),
        "region_code": pd.array([places[i].region_code for i in where], dtype="str"),
        "idcc": pd.array(np.where(np.char.startswith(naf, "56"), "1979", "3248"), dtype="str"),
    }
    inspected = rng.random(n) < 0.2
    for feature in FEATURES:
        name = feature.name
        if name in out:
            continue
        if feature.family == "benchmarks":
            out[name] = rng.beta(2, 5, n)
        elif feature.unit == "share":
            out[name] = rng.beta(0.5, 2, n)
        elif feature.unit in ("days", "months"):
            out[name] = rng.poisson(60, n).astype("int64") if name != "median_fixed_term_days_12m" else rng.poisson(20, n) * 1.0
        elif feature.unit == "fte":
            out[name] = rng.gamma(1.5, 3, n)
        elif feature.unit == "ratio":
            out[name] = rng.normal(0, 0.3, n)
        else:
            out[name] = rng.poisson(2, n).astype("int64")
    out["past_inspections"] = np.where(inspected, 1, 0).astype("int64")
    out["months_since_last_inspection"] = pd.array(np.where(inspected, rng.integers(1, 60, n), np.nan), dtype="Int64")
    out["last_inspection_found_abuse"] = np.where(inspected, (rng.random(n) < 0.3).astype(float), np.nan)
    for share in BENCHMARKED:
        out[f"{share}_excess"] = out[share] - out[f"{share}_benchmark"]
    out["n_rule_hits_total"] = sum(out[c] for c in RULE_COUNTS)
    return pd.DataFrame(out)[list(IDENTIFIERS) + feature_names()]


def stored_features(data: Path) -> pd.DataFrame | None:
    """The latest stored feature table of the home (`data/features/as_of=*/features.parquet`), if any."""
    from features.build import load_features

    months = sorted(data.glob("features/as_of=*/features.parquet"))
    if not months:
        return None
    month = pd.Timestamp(months[-1].parent.name.removeprefix("as_of=") + "-01").date()
    return load_features(data, month)


# --- Models ------------------------------------------------------------------------------------------

def model_size(booster: Any) -> dict[str, float]:
    """Trees, leaves (max, mean) and depth (max, mean) of a LightGBM booster: what tree SHAP's cost grows with."""
    trees = booster.dump_model()["tree_info"]

    def depth(node: dict[str, Any]) -> int:
        return 0 if "split_index" not in node else 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    depths = [depth(t["tree_structure"]) for t in trees]
    leaves = [t["num_leaves"] for t in trees]
    return {
        "trees": len(trees),
        "max_leaves": max(leaves, default=0),
        "mean_leaves": float(np.mean(leaves)) if leaves else 0.0,
        "max_depth": max(depths, default=0),
        "mean_depth": float(np.mean(depths)) if depths else 0.0,
        # Sum over trees of leaves x depth²: proportional to the tree-SHAP work per row.
        "shap_work_per_row": float(sum(n * d * d for n, d in zip(leaves, depths, strict=True))),
    }


def synthetic_labels(table: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """0/1 outcomes that depend on rule counts, precarity excess and very short contracts, plus noise."""
    rng = np.random.default_rng(seed)

    def column(name: str) -> np.ndarray:
        return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype="float64", na_value=0.0)

    logit = (-2.0 + 0.8 * np.log1p(column("n_rule_hits_total")) + 2.0 * column("precarity_rate_12m_excess")
             + 1.0 * column("share_fixed_term_one_day_12m") + 0.5 * rng.standard_normal(len(table)))
    return (rng.random(len(table)) < 1 / (1 + np.exp(-logit))).astype(int)


def synthetic_model(table: pd.DataFrame, trees: int, depth: int, leaves: int = 31, train_rows: int = 100_000,
                    threads: int = 2, seed: int = 0) -> SavedModel:
    """A LightGBM of `trees` trees of depth at most `depth` (`leaves` leaves at most: the largest size the
    Optuna search space allows is 400 x depth 6 x 31 leaves), fitted on `train_rows` of `table` with
    `synthetic_labels`, wrapped as the registered model is (`training.scoring_model.ScoringModel`, Platt
    calibration). Only the cost of scoring and explaining it means anything."""
    import lightgbm as lgb

    from training.calibration import ScoreCalibrator  # the calibrator a saved model carries
    from training.scoring_model import ScoringModel, model_matrix

    rows = table.sample(min(train_rows, len(table)), random_state=seed)
    labels = synthetic_labels(rows, seed)
    categories = {c: sorted(table[c].dropna().astype(str).unique()) for c in CATEGORICAL}
    matrix = model_matrix(rows, feature_names(), categories)
    params = {"objective": "binary", "num_leaves": leaves, "max_depth": depth, "learning_rate": 0.05,
              "min_data_in_leaf": 20, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
              "lambda_l2": 1.0, "min_data_per_group": 10, "max_cat_to_onehot": 8, "num_threads": threads,
              "seed": seed, "deterministic": True, "force_col_wise": True, "verbosity": -1}
    booster = lgb.train(params, lgb.Dataset(matrix, labels), num_boost_round=trees)
    calibrator = ScoreCalibrator("platt").fit(np.asarray(booster.predict(matrix, raw_score=True)), labels)
    return ScoringModel(booster, calibrator, feature_names(), categories, FEATURES_SCHEMA_VERSION, [], {},
                        {"n_estimators": trees, "max_depth": depth, "num_leaves": leaves}, 0.05, "none")


# --- Measured variants (each in a fresh process) ------------------------------------------------------

def _setup(threads: int) -> None:
    # Before lightgbm is imported (unpickling the model imports it): OpenMP reads this once.
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _load(table_path: Path, model_path: Path) -> tuple[pd.DataFrame, SavedModel, float]:
    import pyarrow.parquet as pq

    started = time.perf_counter()
    table = pq.read_table(table_path).to_pandas(date_as_object=False)
    with open(model_path, "rb") as stream:
        model = pickle.load(stream)
    return table, model, time.perf_counter() - started


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _report(extra_path: Path, queue: Any, seconds: float, cpu: float, **extra: Any) -> None:
    extra_path.write_text(json.dumps({"cpu_per_wall": cpu / seconds if seconds else 0.0, **extra}), encoding="utf-8")
    queue.put((seconds, peak_rss_mb()))


def _run_scores(table_path: Path, model_path: Path, threads: int, extra_path: Path, queue: Any) -> None:
    _setup(threads)
    table, model, load = _load(table_path, model_path)
    cpu, started = _cpu(), time.perf_counter()
    scores = model.predict_proba(table)
    seconds = time.perf_counter() - started
    _report(extra_path, queue, seconds, _cpu() - cpu, load_seconds=load, mean_score=float(np.mean(scores)))


def _run_pipeline(table_path: Path, model_path: Path, threads: int, config: Config, extra_path: Path, queue: Any) -> None:
    _setup(threads)
    from scoring.monthly import score_table

    table, model, load = _load(table_path, model_path)
    evidence = pd.DataFrame({"establishment_siret": pd.Series(dtype="str"), "rule": pd.Series(dtype="str"),
                             "post": pd.Series(dtype="str")})
    month = pd.Timestamp(table["as_of"].iloc[0]).date()
    cpu, started = _cpu(), time.perf_counter()
    ranked = score_table(model, table, evidence, month, config, None, None)
    seconds = time.perf_counter() - started
    listed = int(ranked["in_list"].sum())
    with_reason = int((ranked.loc[ranked["in_list"], "reason_1"] != "").sum())
    _report(extra_path, queue, seconds, _cpu() - cpu, load_seconds=load, listed=listed, with_reason=with_reason)


def _run_pred_contrib(table_path: Path, model_path: Path, threads: int, limit: int, extra_path: Path,
                      queue: Any) -> None:
    """Times `booster.predict(pred_contrib=True)` alone, chunk by chunk, as shap is timed; building the
    model matrix and the check that contributions add up to the raw score are timed apart."""
    _setup(threads)
    table, model, load = _load(table_path, model_path)
    table = table.iloc[:limit]
    seconds = cpu = inputs_seconds = 0.0
    worst = 0.0
    for begin in range(0, len(table), SHAP_CHUNK_ROWS):
        started = time.perf_counter()
        inputs = model.inputs(table.iloc[begin: begin + SHAP_CHUNK_ROWS])
        inputs_seconds += time.perf_counter() - started
        before, started = _cpu(), time.perf_counter()
        values = np.asarray(model.booster.predict(inputs, pred_contrib=True))
        seconds += time.perf_counter() - started
        cpu += _cpu() - before
        worst = max(worst, float(np.abs(values.sum(axis=1) - model.booster.predict(inputs, raw_score=True)).max()))
    extra_path.write_text(json.dumps({"cpu_per_wall": cpu / seconds if seconds else 0.0, "load_seconds": load,
                                      "max_sum_gap": worst, "inputs_seconds": inputs_seconds}), encoding="utf-8")
    queue.put((seconds, peak_rss_mb()))


def _run_shap_sample(table_path: Path, model_path: Path, threads: int, sample: int, extra_path: Path,
                     queue: Any) -> None:
    _setup(threads)
    import shap

    table, model, load = _load(table_path, model_path)
    rows = table.sample(min(sample, len(table)), random_state=0)
    inputs = model.inputs(rows)
    started = time.perf_counter()
    ours = np.asarray(model.booster.predict(inputs, pred_contrib=True))
    ours_seconds = time.perf_counter() - started
    cpu, started = _cpu(), time.perf_counter()
    explainer = shap.TreeExplainer(model.booster)
    theirs = np.asarray(explainer.shap_values(inputs))
    seconds = time.perf_counter() - started
    if theirs.ndim == 3:  # older shap: one array per class
        theirs = theirs[..., -1]
    diff = float(np.abs(theirs - ours[:, :-1]).max())
    bias_diff = float(np.abs(np.ravel(explainer.expected_value)[-1] - ours[0, -1]))
    _report(extra_path, queue, seconds, _cpu() - cpu, load_seconds=load, max_abs_diff=diff, bias_diff=bias_diff,
            pred_contrib_seconds_same_rows=ours_seconds, shap_version=shap.__version__)


def bench_scoring(table: pd.DataFrame, model: SavedModel, config: Config, shap_sample: int = 20_000, threads: int = 2,
                  scratch: Path | None = None, progress: Any = None, contrib_rows: int | None = None) -> list[ScoringBenchRow]:
    """Measure every variant of the module docstring on `table` with `model`; each in a fresh process.
    `contrib_rows` times pred_contrib on the first rows only and extrapolates (None: every row: with a
    large model, SHAP of a million rows takes tens of minutes on 2 cores)."""
    n = len(table)
    contrib_rows = n if contrib_rows is None else min(contrib_rows, n)
    with tempfile.TemporaryDirectory(prefix="champollion-bench-scoring-", dir=scratch) as scratch_dir:
        folder = Path(scratch_dir)
        table_path, model_path = folder / "features.parquet", folder / "model.pkl"
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), table_path)
        model_path.write_bytes(pickle.dumps(model))
        rows: list[ScoringBenchRow] = []

        def run(variant: str, target: Any, args: tuple, explained: int, sample_of: int | None = None,
                note: str = "") -> dict[str, Any]:
            extra_path = folder / f"{len(rows)}.json"
            if progress:
                progress(variant)
            seconds, peak = measure_in_process(target, (table_path, model_path, threads, *args, extra_path))
            extra = json.loads(extra_path.read_text(encoding="utf-8"))
            scale = n / sample_of if sample_of else 1.0
            rows.append(ScoringBenchRow(variant, n, explained, seconds, seconds * scale, sample_of is not None, peak,
                                        extra["cpu_per_wall"], extra["load_seconds"], note))
            log.info("%s: %.1f s (all rows %.1f s), peak RSS %.0f MB", variant, seconds, seconds * scale, peak)
            return extra

        run("scores of every row (predict_proba)", _run_scores, (), 0)
        for share in (config.scoring.list_share, 0.10):
            uncut = {"list_share": share, "max_list_lines": None}  # the work of lists that long, whatever the cap
            settings = config.model_copy(update={"scoring": config.scoring.model_copy(update=uncut)})
            extra = run(f"monthly pipeline, lists {share:.0%} (not cut at max_list_lines) + their SHAP reasons",
                        _run_pipeline, (settings,), 0)
            rows[-1] = _replace(rows[-1], explained=extra["listed"],
                                note=f"{extra['listed']} listed, {extra['with_reason']} with a reason")
        timed_on = f" (timed on {contrib_rows:,} rows)" if contrib_rows < n else ""
        extra = run("SHAP of every row: LightGBM pred_contrib" + timed_on,
                    _run_pred_contrib, (contrib_rows,), contrib_rows, sample_of=contrib_rows if contrib_rows < n else None)
        rows[-1] = _replace(rows[-1], note=(f"contributions add up to the raw score within {extra['max_sum_gap']:.1e}; "
                                            f"building the model matrix: {extra['inputs_seconds']:.1f} s more"))
        sample = min(shap_sample, n)
        extra = run(f"SHAP of every row: shap.TreeExplainer (timed on {sample:,} rows)", _run_shap_sample, (sample,),
                    sample, sample_of=sample)
        rows[-1] = _replace(rows[-1], note=(
            f"shap {extra['shap_version']}; max |shap - pred_contrib| = {extra['max_abs_diff']:.1e} "
            f"(base value {extra['bias_diff']:.1e}); "
            f"pred_contrib on the same rows {extra['pred_contrib_seconds_same_rows']:.2f} s"))
        return rows


def _replace(row: ScoringBenchRow, **changes: Any) -> ScoringBenchRow:
    return ScoringBenchRow(**{**asdict(row), **changes})


def bench_frame(rows: list[ScoringBenchRow]) -> pd.DataFrame:
    """The rows as printed: times, time for every row, ratio to shap, and the 3-minute target for the
    pipeline variants."""
    shap_row = next((r for r in rows if "TreeExplainer" in r.variant), None)
    records = []
    for r in rows:
        pipeline = r.variant.startswith("monthly pipeline")
        is_shap = "SHAP of every row" in r.variant
        records.append({
            "variant": r.variant,
            "rows": r.rows,
            "explained": r.explained,
            "seconds": round(r.seconds, 2),
            "all rows (s)": f"{r.seconds_all_rows:.1f}" + (" (extrap.)" if r.extrapolated else ""),
            "x shap": f"{r.seconds_all_rows / shap_row.seconds_all_rows:.2f}" if is_shap and shap_row else "",
            "peak RSS (MB)": round(r.peak_rss_mb),
            "CPU/wall": round(r.cpu_per_wall, 2),
            "target 180 s": ("met" if r.seconds <= TARGET_SECONDS else "MISSED") if pipeline else "",
        })
    return pd.DataFrame(records)


@dataclass(frozen=True)
class ScoringBenchReport:
    """A whole benchmark run: the model measured, the variants, the machine's load, the JSON written."""

    model_line: str
    results: list[ScoringBenchRow]
    load_before: str
    load_after: str
    path: Path


def run_scoring_bench(
    home: Home, config: Config, rows: int = 1_000_000, trees: int | None = None, depth: int | None = None,
    leaves: int = 31, shap_sample: int = 20_000, contrib_rows: int | None = None, threads: int = 2,
    model: str | None = None, seed: int = 0,
) -> ScoringBenchReport:
    """Draw `rows` synthetic establishments, pick the model (the registered one, or a synthetic-label
    LightGBM of `trees` x `depth`), measure every variant and write the results as JSON under data/bench/."""
    from warehouse.bench import write_bench_json

    load_before = load_average()
    started = time.perf_counter()
    source = stored_features(home.data)
    as_of = date.today().replace(day=1) if source is None else source["as_of"].iloc[0].date()
    table = synthetic_features(rows, as_of, source, seed)
    log.info("%s synthetic establishments drawn from %s in %.1f s", f"{rows:,}",
             "the generator (no stored features)" if source is None else f"{len(source):,} stored rows as of {as_of:%Y-%m}",
             time.perf_counter() - started)
    if trees is not None or depth is not None:
        started = time.perf_counter()
        scorer = synthetic_model(table, trees or 400, depth or 6, leaves, threads=threads, seed=seed)
        origin = f"synthetic-label LightGBM trained in {time.perf_counter() - started:.0f} s"
    else:
        from scoring.monthly import load_model

        scorer, version = load_model(home, config, model)
        origin = f"{config.training.registered_model} version {version}"
    size = model_size(scorer.booster)
    model_line = (
        f"model: {origin}: {size['trees']} trees, at most {size['max_leaves']} leaves (mean {size['mean_leaves']:.1f}), "
        f"depth at most {size['max_depth']} (mean {size['mean_depth']:.1f}); tree-SHAP work per row "
        f"(sum of leaves x depth^2) {size['shap_work_per_row']:,.0f}"
    )
    results = bench_scoring(table, scorer, config, shap_sample, threads,
                            progress=lambda variant: log.info("measuring: %s", variant), contrib_rows=contrib_rows)
    load_after = load_average()
    path = write_bench_json([], home.data / "bench" / f"scoring-{datetime.now():%Y%m%dT%H%M%S}.json", {
        "establishments": rows, "threads": threads, "model": origin, "model_size": size, "shap_sample": shap_sample,
        "contrib_rows": contrib_rows or rows, "load_average_before": load_before, "load_average_after": load_after,
        "feature_source": "generator" if source is None else f"stored features as of {as_of:%Y-%m}",
        "results": [asdict(r) for r in results],
    })
    return ScoringBenchReport(model_line, results, load_before, load_after, path)
