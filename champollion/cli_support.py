"""What every stage's commands share: failing with a clear message and reading a month argument.

The stages' command modules import this rather than `champollion.cli`, which imports them.
"""

from __future__ import annotations

import errno
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.home import Home
from core.months import months_between, runs_text

if TYPE_CHECKING:
    from warehouse.inspections import InspectionImport

# The exit of a run refused because another one writes the warehouse: sysexits' EX_TEMPFAIL, "try again later", so
# that a scheduler retries it rather than reporting a wrong command (exit 2).
BUSY_EXIT = 75


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` in red on stderr; the exit to raise (code 2 unless given)."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def disk_full(exc: BaseException) -> str | None:
    """Where a disk was found full, when `exc` (or an exception it was raised from) says so: the file written ("" when
    unknown); None for any other error. DuckDB reports it in its own exception, with the system's words."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return str(cause.filename or "")
        if "No space left on device" in str(cause) or "Disk quota exceeded" in str(cause):
            return ""
        cause = cause.__cause__ or cause.__context__
    return None


def counted(count: int, noun: str) -> str:
    """'1 row', '2 rows', '0 rows'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def import_summary(loaded: InspectionImport, stored: Path, append: bool) -> str:
    """What importing an inspections file did to the stored history (`import-inspections`, `train --inspections`)."""
    from warehouse.inspections import rows_left_out

    left_out = rows_left_out(loaded.issues)
    # Controls the web application recorded with another outcome: the imported one is kept (`one_per_control`).
    conflicts = (f"; {counted(loaded.conflicts, 'control')} recorded in the web application with another outcome, "
                 "the imported one kept" if loaded.conflicts else "")
    both = (f" ({counted(loaded.stored, 'row')}: a control given both outcomes counts once, as abuse found)"
            if loaded.controls != loaded.stored else "")
    if append:
        return (f"{counted(len(loaded.rows), 'inspection')} read ({counted(left_out, 'row')} left out): "
                f"{loaded.added} new, {counted(loaded.replaced, 'outcome')} replaced; "
                f"{counted(loaded.controls, 'control')} stored in {stored}{both}{conflicts}")
    return (f"{counted(loaded.controls, 'control')} stored in {stored}{both} ({counted(left_out, 'row')} left out), "
            f"replacing the {loaded.before} imported before{conflicts}")


def parse_month(value: str) -> date:
    """'YYYY-MM' to the first day of that month."""
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a month written YYYY-MM") from exc


def resolve_months(warehouse: Path, value: str) -> list[date]:
    """A month (`resolve_month`) or a range of months FIRST..LAST (each YYYY-MM or 'latest'), inclusive."""
    if ".." not in value:
        return [resolve_month(warehouse, value)]
    first, last = (resolve_month(warehouse, part.strip()) for part in value.split("..", 1))
    if first > last:
        raise typer.BadParameter(f"{value!r}: the first month comes after the last")
    return months_between(first, last)


def resolve_month(warehouse: Path, value: str) -> date:
    """A month written YYYY-MM, or 'latest': the last month declared in the warehouse (never after this month)."""
    if value != "latest":
        return parse_month(value)
    from features.build import latest_month
    from warehouse.sql_engine import DuckDBEngine

    with DuckDBEngine() as engine:
        try:
            latest = latest_month(engine, warehouse)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from exc
    this_month = date.today().replace(day=1)
    if latest > this_month:  # ingestion now quarantines such declarations; a warehouse built before may hold some
        raise fail(f"{warehouse}: the last month declared, {latest:%Y-%m}, is after this month: give the month "
                   "(YYYY-MM), or rebuild the warehouse (`champollion ingest --rebuild`), which quarantines "
                   "declarations of months to come")
    return latest


def declared_of(warehouse: Path, months: list[date]) -> list[date]:
    """The months of `months` the warehouse declares; an error naming those it does not when none is left. A month
    without declarations has no population to compute: its table would be empty, or stale establishments' only."""
    from features.store import declared_months
    from warehouse.engine import published_version

    declared = set(declared_months(published_version(warehouse)))
    kept = [month for month in months if month in declared]
    if not kept:
        raise fail(f"no declarations for {runs_text(months)} in {warehouse}: ingest that month first")
    left = [month for month in months if month not in declared]
    if left:
        typer.echo(f"left out, no declarations for them in the warehouse: {runs_text(left)}")
    return kept


MODEL_HOME_HELP = ("Home whose registry holds the model (default: this home), e.g. one trained on a simulated DSN "
                   "population when this home has no inspections.")


def model_home_of(path: Path | None) -> Home | None:
    """The home named by `--model-home` (None: this home's registry), refused when it has no registry."""
    if path is None:
        return None
    try:
        home = Home.resolve(path)
    except ValueError as exc:
        raise fail(f"--model-home {exc}") from exc
    if not home.mlruns.is_dir():
        raise fail(f"--model-home {path}: no mlruns/ there (train a model in that home first)")
    return home
