"""The `champollion audit` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from champollion.cli_support import fail, parse_month

commands = typer.Typer(help="The evaluators' audit of a registered model.")


@commands.command()
def audit(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="champion, challenger or a version number.")] = "champion",
    month: Annotated[Optional[str], typer.Option(help="Month YYYY-MM audited (default: the last declared).")] = None,
    truth: Annotated[
        Optional[Path], typer.Option(help="Simulated population's truth/ folder: targeting measured against the truth.")
    ] = None,
) -> None:
    """Audit a model: drivers, faithfulness of explanations, whom it targets, stability, drift, selection bias."""
    from scoring.audit.run import run_audit, write_audit

    context = ctx.obj
    chosen = parse_month(month) if month is not None else None
    try:
        result = run_audit(context.home, context.config, model, chosen, truth)
    except (FileNotFoundError, LookupError) as exc:
        raise fail(str(exc)) from exc
    path = write_audit(result, context.home, context.config)
    for check in result.checks:
        mark = "pass" if check.passed else "FAIL"
        typer.echo(f"[{mark}] {check.name}: {check.detail}")
    typer.echo(f"audit of version {result.version} as of {result.month:%Y-%m}: {'PASSED' if result.passed else 'FAILED'}")
    typer.echo(f"report: {path} (also logged to MLflow run {result.run_id}, under audit/)")
    if not result.passed:
        raise typer.Exit(1)
