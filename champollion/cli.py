"""The `champollion` command: a thin layer that parses arguments and calls the stages' functions.

Heavy libraries are imported inside the commands, so that `champollion --help` stays instant.
"""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from champollion.cli_support import (
    BUSY_EXIT,
    MODEL_HOME_HELP,
    declared_of,
    disk_full,
    fail,
    import_summary,
    model_home_of,
    resolve_month,
    resolve_months,
)
from core.benchmarks import load_average
from core.config import Config, ConfigError, load_config, pseudonym_key
from core.home import Home

app = typer.Typer(
    help="Champollion: monthly ranked control lists of establishments likely to misuse CDD and temp work, from DSN.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class SqlEngineName(StrEnum):
    """The engines of `ingest --engine` and `features --engine` (warehouse.sql_engine.ENGINES)."""

    duckdb = "duckdb"
    spark = "spark"


@dataclass(frozen=True)
class Context:
    """What every command receives: where the state lives and the validated settings."""

    unchecked_home: Home
    config: Config

    @property
    def home(self) -> Home:
        """The home, once its warehouse's links are checked: a link to a version that is missing stops the command
        ("home error", exit 2), since every reader would see an empty warehouse. Checked when a command runs, not
        before: `COMMAND --help` works on any home."""
        from warehouse.versions import MissingVersion, check_version_links

        try:
            check_version_links(self.unchecked_home.data)
        except MissingVersion as exc:
            typer.secho(f"home error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        return self.unchecked_home


def _context(ctx: typer.Context) -> Context:
    return ctx.obj


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(
            help="Home directory for data/, mlruns/ and lists/ (default: $CHAMPOLLION_HOME or the repository).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Settings file (default: $CHAMPOLLION_CONFIG or configs/champollion.yaml).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    """Validate the settings and set up logging before any command runs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_config(config)
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    try:
        ctx.obj = Context(Home.resolve(home), settings)
    except ValueError as exc:
        typer.secho(f"home error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


@app.command("init-key")
def init_key(ctx: typer.Context) -> None:
    """Write a new random pseudonymisation key in the home directory (if none exists)."""
    context = _context(ctx)
    relative = context.config.pseudonymisation.key_file
    if not relative:
        raise fail("pseudonymisation.key_file is not set in the configuration")
    path = context.home.root / relative
    if path.exists():
        typer.echo(f"key already present: {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    typer.echo(f"new key written to {path}")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="DSN files or folders (read recursively; plain or gzip).")],
    workers: Annotated[
        int | None, typer.Option(help="Parser processes of the duckdb engine (default from the configuration).")
    ] = None,
    engine: Annotated[
        SqlEngineName,
        typer.Option(help="duckdb: local processes and DuckDB; spark: Spark tasks and Spark SQL (configuration: spark)."),
    ] = SqlEngineName.duckdb,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the warehouse from its files (those still there) and PATHS, "
                                              "under the current pseudonymisation key.")
    ] = False,
) -> None:
    """Read DSN files into the contract warehouse (idempotent; bad input is reported and quarantined)."""
    from champollion.reporting import byte_progress, print_ingest_summary
    from warehouse.ingest import ingest as run_ingest
    from warehouse.versions import ForeignLayout, KeyMismatch, WarehouseBusy

    context = _context(ctx)
    config = context.config
    if workers is not None:
        config = config.with_ingest_workers(workers)
    try:
        key = pseudonym_key(config, context.home)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    ingest_engine = None
    if engine is SqlEngineName.spark:
        from warehouse.spark.ingest import SparkIngest

        ingest_engine = SparkIngest.from_config(config.spark)
    try:
        with byte_progress("parsing DSN") as progress:
            summary = run_ingest(paths, context.home, config, key, progress, ingest_engine, rebuild)
    except WarehouseBusy as exc:
        raise fail(str(exc), BUSY_EXIT) from exc
    except (FileNotFoundError, KeyMismatch, ForeignLayout) as exc:
        raise fail(str(exc)) from exc
    print_ingest_summary(summary)


@app.command("import-inspections")
def import_inspections(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV with columns siret,inspection_date,abuse_found (extra columns ignored), "
                                              "separated by commas, semicolons or tabs.")],
    append: Annotated[bool, typer.Option(
        "--append", help="Add the file's controls to those imported before, instead of replacing them with it.")] = False,
) -> None:
    """Store past inspections in the warehouse (bad rows are reported with their line and left out): the file is
    the whole history, or, with --append, controls to add to it."""
    from warehouse.inspections import STORED_NAME, import_inspections
    from warehouse.versions import WarehouseBusy

    context = _context(ctx)
    try:
        loaded = import_inspections(path, context.home, append)
    except WarehouseBusy as exc:
        raise fail(str(exc), BUSY_EXIT) from exc
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    for issue in loaded.issues:
        typer.secho(f"{issue.file}:{issue.line}: {issue.reason}", fg=typer.colors.YELLOW, err=True)
    typer.echo(import_summary(loaded, context.home.warehouse / STORED_NAME, append))


@app.command()
def features(
    ctx: typer.Context,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Month YYYY-MM (or 'latest'): use declarations up to and including it; "
                                          "or months FIRST..LAST (e.g. 2024-01..2025-12), computed in one pass.")
    ],
    out: Annotated[Path | None, typer.Option(help="Also write the feature table to this Parquet file (one month only).")] = None,
    engine: Annotated[
        SqlEngineName,
        typer.Option(help="Where the feature SQL runs: DuckDB (embedded) or Spark (master and settings: `spark` in the config)."),
    ] = SqlEngineName.duckdb,
) -> None:
    """Compute the features of every establishment active in the 12 months up to a month (or each month of a range)."""
    import time

    from features.build import compute_feature_months, store_features
    from warehouse.inspections import load_inspections
    from warehouse.sql_engine import open_engine

    context = _context(ctx)
    if out is not None and out.is_dir():
        raise fail(f"--out {out} is a folder: give the path of a Parquet file to write (e.g. {out / 'features.parquet'})")
    months = declared_of(context.home.warehouse, resolve_months(context.home.warehouse, as_of))
    if out is not None and len(months) > 1:
        raise fail(f"--out writes one month's table: {len(months)} months asked ({as_of}); they are stored under data/features/")
    started = time.perf_counter()
    with open_engine(engine.value, context.config, context.home.duckdb_tmp) as sql_engine:
        for table in compute_feature_months(sql_engine, context.home.warehouse, months, context.config,
                                            load_inspections(context.home.warehouse)):
            folder = store_features(table, context.home.data, context.config, out)
            typer.echo(
                f"features as of {table.as_of:%Y-%m}: {len(table.features)} establishments, "
                f"{len(table.features.columns)} columns, {table.findings} rule findings, on {engine.value}, "
                f"{time.perf_counter() - started:.1f} s since the start\n"
                f"stored in {folder}" + (f"\nalso written to {out}" if out else "")
            )
            del table  # not held while the next month is computed


@app.command("check-rules")
def check_rules(
    ctx: typer.Context,
    truth: Annotated[Path, typer.Option(help="A simulated population's truth/ folder (evaluation only).")],
    as_of: Annotated[str, typer.Option("--as-of", help="Month YYYY-MM of stored features (or 'latest').")] = "latest",
) -> None:
    """Each legal-rule check against the hidden truth of a simulated population: findings, precision and
    recall at contract and at establishment level, by confidence level."""
    from champollion.reporting import print_frame
    from features.build import load_evidence
    from features.validation import rules_against_truth

    context = _context(ctx)
    month = resolve_month(context.home.warehouse, as_of)
    try:
        table = rules_against_truth(load_evidence(context.home.data, month), truth, month,
                                    context.config.features.window_months)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    shown = table.rename(columns={
        "contract_precision": "precision", "contract_recall": "recall", "abusive_contracts": "to find",
        "establishments_flagged": "estab. flagged", "establishment_precision": "estab. precision",
        "establishment_recall": "estab. recall",
    })
    print_frame(
        f"Legal-rule checks against the truth, as of {month:%Y-%m}: precision and recall at contract level (the "
        f"finding's contract broke the rule), then at establishment level",
        shown,
    )


@app.command()
def simulate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write into (dsn/, inspections.csv, truth/; or data/warehouse/).")],
    preset: Annotated[str, typer.Option(help="small | default | large (DSN files) | national (Parquet warehouse)")] = "default",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 0,
    format: Annotated[
        str, typer.Option("--format", help="dsn: real DSN files; parquet: the warehouse tables directly (national preset).")
    ] = "dsn",
    scale: Annotated[float, typer.Option(help="parquet only: share of the national volume (1.0 = 1.8 M establishments).")] = 1.0,
    months: Annotated[int, typer.Option(help="parquet only: months simulated, from 2025-01.")] = 12,
    workers: Annotated[int, typer.Option(help="parquet only: processes writing chunks in parallel.")] = 2,
    known_inspection_months: Annotated[
        int | None,
        typer.Option(help="dsn only: inspections.csv holds the first N months of inspections, inspections-all.csv "
                          "all of them (import it later to retrain on new data).", min=1),
    ] = None,
) -> None:
    """Write a simulated population: DSN files with past inspections and the hidden truth, or (national
    preset, --format parquet) the warehouse tables ingestion would produce, at national volume."""
    import simulation

    if format not in ("dsn", "parquet"):
        raise fail(f"unknown format {format!r}: choose dsn or parquet")
    if preset == "national" or format == "parquet":
        if format != "parquet":
            raise fail("the national preset is written only as Parquet warehouse tables (--format parquet): "
                       "national DSN text would be terabytes")
        if preset != "national":
            raise fail(f"--format parquet is for the national preset; preset {preset!r} writes DSN files")
        if known_inspection_months is not None:
            raise fail("--known-inspection-months is for DSN presets: the national warehouse has no inspections")
        _simulate_national(out, seed, scale, months, workers)
        return
    from champollion.reporting import print_calibration, stage_progress

    if preset not in simulation.PRESETS:
        raise fail(f"unknown preset {preset!r}: choose among {', '.join([*simulation.PRESETS, 'national'])}")
    with stage_progress() as progress:
        summary = simulation.simulate(out, preset=preset, seed=seed, progress=progress,
                                      known_inspection_months=known_inspection_months)
    typer.echo(
        f"simulated {summary.n_establishments} establishments over {summary.n_months} months "
        f"({summary.first_month} to {summary.last_month}): {summary.n_files} DSN files, "
        f"{summary.n_declarations} declarations, {summary.dsn_bytes / 1e6:.0f} MB, "
        f"{summary.n_contracts} contracts, {summary.n_inspections} inspections in {summary.seconds:.0f} s"
    )
    print_calibration(simulation.calibration_table(out))
    typer.echo(f"DSN files: {out / 'dsn'}\ninspections: {out / 'inspections.csv'}\ntruth (evaluation only): {out / 'truth'}")
    if (out / "inspections-all.csv").exists():
        known = known_inspection_months or simulation.get_preset(preset).known_inspection_months
        typer.echo(f"inspections.csv holds the first {known}"
                   f" months of inspections; all of them (to import later): {out / 'inspections-all.csv'}")


def _simulate_national(out: Path, seed: int, scale: float, months: int, workers: int) -> None:
    from simulation.national import NationalSpec, simulate_national
    from warehouse.versions import MissingVersion

    if not 0 < scale <= 2:
        raise fail(f"--scale {scale} must be in (0, 2]")
    spec = NationalSpec(scale=scale, n_months=months, seed=seed)
    typer.echo(f"load average before: {load_average()}")
    try:
        summary = simulate_national(out, spec, progress=lambda line: typer.echo(line, err=True), workers=workers)
    except (FileExistsError, MissingVersion) as exc:  # an --out folder that holds a warehouse, or a missing disk
        raise fail(str(exc)) from exc
    typer.echo(
        f"simulated {summary.establishments:,} establishments, {summary.persons:,} people, {summary.contracts:,} "
        f"contracts ({summary.contract_months:,} contract-months, {summary.declarations:,} declarations) over "
        f"{months} months in {summary.seconds:.0f} s; {summary.bytes_on_disk / 1e9:.2f} GB in {summary.warehouse}; "
        f"load average after: {load_average()}"
    )
    typer.echo(f"features: champollion --home {out} features --as-of {spec.months()[-1]:%Y-%m}")


from champollion.training_commands import commands as training_commands  # noqa: E402  (train, evaluate, promote, models)

app.add_typer(training_commands)

from champollion.scoring_commands import commands as scoring_commands  # noqa: E402  (score, explain)

app.add_typer(scoring_commands)

from champollion.audit_commands import commands as audit_commands  # noqa: E402  (audit)

app.add_typer(audit_commands)

from champollion import web_commands  # noqa: E402  (serve, users, bench page)

app.add_typer(web_commands.commands)
app.add_typer(web_commands.users, name="users")

bench_app = typer.Typer(help="Measure each stage against a simple reference, in one run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("features")
def bench_features(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Month YYYY-MM (or 'latest').")] = "latest",
    sample: Annotated[float, typer.Option(help="Share of establishments the pandas reference computes.")] = 0.01,
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory_limit, e.g. 14GB (default: the configuration's duckdb.memory_limit).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: the configuration's duckdb.threads).")] = None,
    months: Annotated[int, typer.Option(help="Months up to --as-of computed in one pass (training needs one per "
                                             "month holding inspections, e.g. 24).")] = 1,
    rebuild_reference: Annotated[bool, typer.Option(
        help="Also time one month with the contracts rebuilt from the monthly snapshots (the path before the "
             "versioned contracts: ~10 min on the national preset).")] = False,
) -> None:
    """Features of every establishment for one month, or for several months in one pass (time, peak memory),
    next to a plain pandas implementation of a few of them on a sample, extrapolated, with their agreement."""
    from champollion.reporting import print_frame
    from features.bench import bench_features as run_bench
    from warehouse.bench import write_bench_json

    context = _context(ctx)
    month = resolve_month(context.home.warehouse, as_of)
    memory_limit = memory_limit or context.config.duckdb.memory_limit
    threads = threads or context.config.duckdb.threads
    report = run_bench(context.home, context.config, month, sample, memory_limit=memory_limit, threads=threads,
                       months=months, rebuild_reference=rebuild_reference)
    print_frame(f"Features benchmark, as of {month:%Y-%m}, {months} month(s) (load average before {report.load_before}, "
                f"after {report.load_after})", report.results)
    print_frame(f"pandas reference vs DuckDB on the {report.sample_size:,} sampled establishments", report.agreement)
    print_frame("Where the engine's time went (all months)", report.stages)
    if months > 1:
        print_frame("Each month of the pass", report.months)
    path = write_bench_json([], context.home.data / "bench" / f"features-{datetime.now():%Y%m%dT%H%M%S}.json", {
        "as_of": f"{month:%Y-%m}", "months": report.months.to_dict(orient="records"),
        "load_before": report.load_before, "load_after": report.load_after,
        "sample_size": report.sample_size, "memory_limit": memory_limit, "threads": threads,
        "results": report.results.astype(object).where(report.results.notna(), None).to_dict(orient="records"),
        "agreement": report.agreement.to_dict(orient="records"),
        "stages": report.stages.to_dict(orient="records"),
    })
    typer.echo(f"results: {path}")


@bench_app.command("rules")
def bench_rules(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Month YYYY-MM (or 'latest').")] = "latest",
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory_limit, e.g. 14GB (default: the configuration's duckdb.memory_limit).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: the configuration's duckdb.threads).")] = None,
) -> None:
    """The rule checks' Python passes (posts of a job, lasting jobs, replacements) on one month's inputs: as
    installed (compiled with Cython when it could be) next to their pure-Python source, and by ranges of
    establishments in one process per CPU (features.pass_processes) with their inputs read range by range, as the
    rule checks run them, with their agreement; then each rule's query next to its reference (the query before
    it was made faster), on the same tables, with their agreement."""
    from champollion.reporting import print_frame
    from features.bench_rules import bench_rule_passes
    from warehouse.bench import write_bench_json

    context = _context(ctx)
    month = resolve_month(context.home.warehouse, as_of)
    memory_limit = memory_limit or context.config.duckdb.memory_limit
    threads = threads or context.config.duckdb.threads
    report = bench_rule_passes(context.home, context.config, month, memory_limit=memory_limit, threads=threads)
    installed = "compiled with Cython" if report.compiled else "not compiled: pure Python"
    print_frame(f"Rule passes as of {month:%Y-%m} (as-of tables {report.as_of_seconds:.1f} s; installed: {installed}; "
                f"load average before {report.load_before}, after {report.load_after})", report.results)
    print_frame(f"Rule queries as of {month:%Y-%m}, each next to its reference (features.bench_rules_reference)",
                report.queries)
    path = write_bench_json([], context.home.data / "bench" / f"rules-{datetime.now():%Y%m%dT%H%M%S}.json", {
        "as_of": f"{month:%Y-%m}", "compiled": report.compiled, "as_of_seconds": report.as_of_seconds,
        "load_before": report.load_before, "load_after": report.load_after,
        "results": report.results.to_dict(orient="records"), "queries": report.queries.to_dict(orient="records"),
    })
    typer.echo(f"results: {path}")
    if not report.results["identical"].all():
        raise fail("the passes disagree (installed, pure-Python source, by parts): run `make install` again")
    if not report.queries["identical"].all():
        raise fail("rule queries and their references disagree: "
                   + ", ".join(report.queries.loc[~report.queries["identical"], "rule"]))


@bench_app.command("ingest")
def bench_ingest(
    ctx: typer.Context,
    dsn: Annotated[Path, typer.Option(help="Folder of DSN files (e.g. a simulated population's dsn/).")],
    workers: Annotated[int, typer.Option(help="Worker processes for the parallel run.")] = 2,
) -> None:
    """Ingestion MB/s and peak memory: plain line reader, one worker, all workers, half the input."""
    from champollion.reporting import print_bench
    from warehouse.bench import bench_ingest as run_bench
    from warehouse.bench import write_bench_json

    context = _context(ctx)
    try:
        key = pseudonym_key(context.config, context.home)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    report = run_bench(dsn, key, context.home.data / "bench" / "scratch", workers, context.config)
    print_bench(f"Ingestion benchmark (load average before {report.load_before}, after {report.load_after})",
                report.rows)
    typer.echo(f"peak memory, all the files / half of them ({workers} workers): {report.memory_all_over_half:.2f}")
    path = write_bench_json(report.rows, context.home.data / "bench" / f"ingest-{datetime.now():%Y%m%dT%H%M%S}.json", {
        "dsn": str(dsn), "load_before": report.load_before, "load_after": report.load_after,
        "memory_all_over_half": report.memory_all_over_half,
    })
    typer.echo(f"results: {path}")


@bench_app.command("scoring")
def bench_scoring(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option(help="Synthetic establishments scored.")] = 1_000_000,
    trees: Annotated[
        int | None, typer.Option(help="Train a synthetic-label LightGBM of this many trees instead of using the champion.")
    ] = None,
    depth: Annotated[
        int | None, typer.Option(help="Its largest tree depth (with --trees; default 6, the search space's).")
    ] = None,
    leaves: Annotated[int, typer.Option(help="Its most leaves per tree (with --trees).")] = 31,
    shap_sample: Annotated[int, typer.Option(help="Rows shap.TreeExplainer is timed on (then extrapolated).")] = 20_000,
    contrib_rows: Annotated[
        int | None, typer.Option(help="Rows pred_contrib is timed on (default: all; else extrapolated).")
    ] = None,
    threads: Annotated[int, typer.Option(help="LightGBM/OpenMP threads.")] = 2,
    model: Annotated[str | None, typer.Option(help="Registry alias or version (default: scoring.model).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic rows and labels.")] = 0,
) -> None:
    """Scores for every row, the monthly pipeline with SHAP reasons, and SHAP for every row next to shap,
    on synthetic establishments drawn from the stored features: time and peak memory."""
    from champollion.reporting import console, print_frame
    from scoring.bench import bench_frame, run_scoring_bench

    context = _context(ctx)
    home = context.home  # its own error, before the benchmark's
    try:
        report = run_scoring_bench(home, context.config, rows, trees, depth, leaves, shap_sample, contrib_rows,
                                   threads, model, seed)
    except (LookupError, RuntimeError) as exc:
        raise fail(f"{exc}; or pass --trees/--depth to bench a synthetic model") from exc
    console.print(report.model_line)
    print_frame(f"Scoring benchmark: {rows:,} establishments, {threads} threads (load average before "
                f"{report.load_before}, after {report.load_after})", bench_frame(report.results))
    for row in report.results:
        if row.note:
            console.print(f"- {row.variant}: {row.note}")
    typer.echo(f"results: {report.path}")


bench_app.command("page")(web_commands.bench_page)


@bench_app.command("month")
def bench_month(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Month YYYY-MM (or 'latest').")] = "latest",
    engine: Annotated[SqlEngineName, typer.Option(help="Where the feature SQL runs.")] = SqlEngineName.duckdb,
    model: Annotated[str | None, typer.Option(help="Registry alias or version (default: scoring.model).")] = None,
    model_home: Annotated[Path | None, typer.Option(help=MODEL_HOME_HELP)] = None,
) -> None:
    """One month end to end: features, scores, and lists with SHAP reasons in French; each stage's time and
    peak memory, its share of the run and its ratio to the features stage. Writes the month's features and lists."""
    from champollion.reporting import print_frame
    from scoring.bench_month import bench_month as run_bench
    from scoring.bench_month import month_frame, write_month_json

    context = _context(ctx)
    chosen = resolve_month(context.home.warehouse, month)
    registry_home = model_home_of(model_home)
    try:
        report = run_bench(context.home, context.config, chosen, engine.value, model, registry_home,
                           progress=lambda stage: logging.getLogger("champollion.bench").info("measuring: %s", stage))
    except (LookupError, RuntimeError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"model: {report.model}")
    print_frame(
        f"One month end to end, as of {chosen:%Y-%m}: {report.establishments:,} establishments, {report.findings:,} "
        f"rule findings, {report.listed:,} listed, features on {report.engine} (load average before "
        f"{report.load_before}, after {report.load_after})", month_frame(report))
    typer.echo(f"results: {write_month_json(report, context.home.data / 'bench')}")


def run() -> None:
    """The `champollion` command: `app`, a disk found full said in one line (which disk, what to do) instead of a
    traceback."""
    try:
        app()
    except Exception as exc:
        full = disk_full(exc)
        if full is None:
            raise
        where = f" of {full}" if full else " (the home's data folder, where the engines spill too, or the output named)"
        typer.secho(f"no space left on the disk{where}: the command stopped before its end. The warehouse, the stored "
                    "features and the lists are put in place only once whole: nothing half written there (a simulation's "
                    "output folder or a training's MLflow run may be: delete them). Free space and run the command again.",
                    fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
