"""Commands of the scoring stage: score (the monthly lists) and explain (one establishment).

The main `champollion` command registers `commands`; each command receives the shared
`champollion.cli.Context` in `ctx.obj` and imports the heavy libraries only when it runs.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from champollion.cli_support import fail, resolve_month

commands = typer.Typer(help="Scoring: monthly ranked lists per region, explained line by line.")
log = logging.getLogger("champollion.scoring")


@commands.command()
def score(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Month YYYY-MM whose declarations are scored, or 'latest'.")] = "latest",
    model: Annotated[
        str | None, typer.Option(help="Registry alias or version (default: scoring.model, the champion).")
    ] = None,
    all_reasons: Annotated[
        bool, typer.Option("--all-reasons", help="Explain every scored establishment, not only the listed ones.")
    ] = False,
) -> None:
    """Score every establishment and write each region's ranked, explained list under lists/YYYY-MM/."""
    from champollion.reporting import print_frame
    from scoring.monthly import score_month

    context = ctx.obj
    chosen = resolve_month(ctx.obj.home.warehouse, month)
    try:
        result = score_month(context.home, context.config, chosen, model, all_reasons)
    except (OSError, LookupError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    import pandas as pd

    regions = pd.DataFrame(result.summary["regions"])[
        ["region_code", "region", "scored", "recently_inspected", "listed", "exploration", "new", "still", "left"]
    ]
    print_frame(f"Lists of {chosen:%Y-%m}, model version {result.model_version}", regions)
    typer.echo(
        f"{result.summary['scored']} establishments scored, {result.summary['listed']} listed "
        f"({result.summary['exploration']} drawn for exploration) in {result.summary['seconds']} s"
    )
    typer.echo(f"lists: {result.folder}")


@commands.command()
def explain(
    ctx: typer.Context,
    siret: Annotated[str, typer.Argument(help="SIRET (14 digits) of the establishment to explain.")],
    month: Annotated[str, typer.Option(help="Month YYYY-MM of the list, or 'latest'.")] = "latest",
    model: Annotated[
        str | None, typer.Option(help="Registry alias or version: score the month again with it (default: the line "
                                      "of the month's list and the version that scored it, else scoring.model).")
    ] = None,
) -> None:
    """Explain one establishment's score: SHAP breakdown, reasons, evidence and contract timeline
    (terminal, plus lists/YYYY-MM/explain/SIRET.txt and .png)."""
    from champollion.reporting import console
    from scoring.explain import explain_folder, explain_month, renderables, write_explanation

    siret = siret.strip().replace(" ", "")
    if len(siret) != 14 or not (siret.isascii() and siret.isdigit()):
        raise typer.BadParameter(f"{siret!r} is not a SIRET of 14 digits")
    context = ctx.obj
    chosen = resolve_month(ctx.obj.home.warehouse, month)
    try:
        explanation = explain_month(context.home, context.config, siret, chosen, model)
    except (FileNotFoundError, LookupError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    for item in renderables(explanation):
        console.print(item)
        console.print()
    text_path, picture_path = write_explanation(explanation, explain_folder(context.home, chosen))
    log.info("explained %s for %s: SHAP sum gap %.1e", siret, f"{chosen:%Y-%m}", explanation.shap_gap)
    typer.echo(f"text: {text_path}\npicture: {picture_path}")
