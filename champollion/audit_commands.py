"""The `champollion audit` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from champollion.cli_support import fail, parse_month

commands = typer.Typer(help="The evaluators' audit of a registered model.")


@commands.command()
def audit(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="champion, challenger or a version number.")] = "champion",
    month: Annotated[str | None, typer.Option(help="Month YYYY-MM audited (default: the last declared).")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Simulated population's truth/ folder: targeting measured against the truth.")
    ] = None,
) -> None:
    """Audit a model: explanations, fairness, drift, selection bias and (with --truth) the legal rules' precision.

    Prints the verdict (each check réussi, alerte or échec) and writes the French HTML report; exits 1
    when a check failed."""
    from audit.report import figure_count
    from audit.run import run_audit, write_audit
    from audit.verdict import verdict_lines
    from features.build import SettingsSkew

    context = ctx.obj
    chosen = parse_month(month) if month is not None else None
    try:
        result = run_audit(context.home, context.config, model, chosen, truth)
    except (FileNotFoundError, LookupError, SettingsSkew) as exc:
        raise fail(str(exc)) from exc
    path = write_audit(result, context.home, context.config)
    typer.echo(f"audit of version {result.version} as of {result.month:%Y-%m}")
    for line in verdict_lines(result.checks):
        typer.echo(line)
    figures = figure_count(path.read_text(encoding="utf-8"))
    typer.echo(f"report: {path} ({figures} figures; also logged to MLflow run {result.run_id}, under audit/)")
    if not result.passed:
        raise typer.Exit(1)
