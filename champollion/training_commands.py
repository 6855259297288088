"""Commands of the training stage: train, evaluate, promote, models.

The main `champollion` command registers `commands`; each command receives the shared
`champollion.cli.Context` in `ctx.obj` and imports the heavy libraries only when it runs.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from champollion.cli_support import BUSY_EXIT, fail, import_summary, parse_month

if TYPE_CHECKING:
    from training.pipeline import TrainingData
    from training.splitter import FoldChoice
    from training.tuning import TrialReport

commands = typer.Typer(help="Training: labels from past inspections, tuned LightGBM, baselines, MLflow registry.")
log = logging.getLogger("champollion.training")


@commands.command()
def train(
    ctx: typer.Context,
    inspections: Annotated[
        Path | None, typer.Option(help="CSV siret,inspection_date,abuse_found: the whole history, imported first as "
                                  "`import-inspections FILE` imports it, replacing the inspections imported before "
                                  "(default: the inspections imported)."),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(help="Optuna trials to run now (default: training.trials).", min=1)
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Run the trials in the last study of the same data and settings instead "
                                            "of a new study.")
    ] = False,
    truth: Annotated[
        Path | None, typer.Option(help="Simulated population's truth/ folder: lets `ipw: auto` decide on the truth.")
    ] = None,
    ipw: Annotated[str | None, typer.Option(help="Inverse-propensity weighting: auto | on | off.")] = None,
) -> None:
    """Train LightGBM on past inspections, compare it with the baselines, log and register it in MLflow."""
    from champollion import training_report as report
    from champollion.reporting import console
    from training.workflow import inspection_source
    from training.workflow import train as run_train
    from warehouse.inspections import STORED_NAME, rows_left_out
    from warehouse.versions import WarehouseBusy

    context = ctx.obj
    if ipw is not None and ipw not in ("auto", "on", "off"):
        raise fail(f"--ipw must be auto, on or off, not {ipw!r}")

    def on_month(month: date, how: str) -> None:
        log.info("features as of %s: %s", f"{month:%Y-%m}", how)

    def on_folds(choice: FoldChoice, data: TrainingData) -> None:
        report.print_left_out(data.labelled.left_out)
        console.print(f"as-of months: {data.months_choice}")
        report.print_folds(choice, len(data.labelled.rows))

    def on_trial(trial: TrialReport) -> None:
        log.info("%s", report.trial_line(trial))

    stored = ""
    try:
        source = inspection_source(context.home, inspections)
        report.print_bad_rows(source.issues)
        if source.imported is not None:  # the file is now the stored history, whatever training makes of it
            stored = import_summary(source.imported, context.home.warehouse / STORED_NAME, append=False)
            console.print(stored, markup=False, highlight=False)
        outcome = run_train(context.home, context.config, source, trials, truth, ipw,
                            on_month=on_month, on_folds=on_folds, on_trial=on_trial,
                            on_step=lambda message: log.info("%s", message), resume=resume)
    except WarehouseBusy as exc:
        raise fail(str(exc), BUSY_EXIT) from exc
    except (FileNotFoundError, ValueError) as exc:
        kept = (f"\nThe inspections of {inspections} are stored all the same ({stored}): scoring's exclusions and the "
                "audit read them; `champollion import-inspections` the whole history to put it back") if stored else ""
        raise fail(f"{exc}{kept}") from exc
    result = outcome.result
    report.print_comparison(result.comparison, result.settings.capacity_share, result.settings.shares)
    report.print_latest_fold(result)
    report.print_selection(result)
    if result.truth_over_folds is not None:
        report.print_truth_over_folds(result.truth_over_folds, result.settings.shares)
    report.print_trained(outcome)
    console.print(f"{rows_left_out(outcome.source.issues)} bad rows in {outcome.source.label} left out")


@commands.command()
def evaluate(
    ctx: typer.Context,
    truth: Annotated[Path, typer.Option(help="The simulated population's truth/ folder.")],
    month: Annotated[str | None, typer.Option(help="Month YYYY-MM to evaluate (default: the last in the warehouse).")] = None,
    model: Annotated[str, typer.Option(help="Version number or alias (challenger, champion).")] = "challenger",
    inspections: Annotated[
        Path | None, typer.Option(help="Inspections known for the features (default: those imported).")
    ] = None,
) -> None:
    """Precision@k of every model against the hidden truth of a simulated population, with the oracle."""
    from champollion import training_report as report
    from features.build import SettingsSkew
    from training.workflow import evaluate as run_evaluate

    context = ctx.obj
    try:
        outcome = run_evaluate(context.home, context.config, truth, parse_month(month) if month else None, model, inspections)
    except (FileNotFoundError, LookupError, ValueError, SettingsSkew) as exc:
        raise fail(str(exc)) from exc
    report.print_truth(outcome)
    if outcome.truth_over_folds is not None:
        report.print_truth_over_folds(outcome.truth_over_folds, outcome.settings.shares)


@commands.command()
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Option(help="Version number or alias to promote.")] = "challenger",
    force: Annotated[bool, typer.Option("--force", help="Promote even if it does worse than the champion.")] = False,
) -> None:
    """Make a version (the challenger by default) champion if it does at least as well as the champion on its
    latest fold (or with --force); only the alias champion moves. Exits 1 when the champion is kept."""
    from champollion import training_report as report
    from training.workflow import promote as run_promote

    context = ctx.obj
    try:
        outcome = run_promote(context.home, context.config, version, force)
    except (FileNotFoundError, LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    report.print_promotion(outcome)
    if not outcome.decision.promote and outcome.champion_before != outcome.candidate:
        raise typer.Exit(1)  # refused: a script can tell it from a promotion


@commands.command()
def models(ctx: typer.Context) -> None:
    """List the registered versions: aliases, data, the promotion metric with its interval and the baselines."""
    from champollion import training_report as report
    from training.promotion import promotion_metric
    from training.workflow import list_models

    context = ctx.obj
    report.print_versions(list_models(context.home, context.config), promotion_metric(context.config.training))
