"""Terminal output of the commands: progress bars and closing tables (rich)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from warehouse.ingest import IngestSummary

console = Console()
if not console.is_terminal:  # logs and CI: do not fold tables to 80 columns
    console = Console(width=160)
log = logging.getLogger("champollion")


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over bytes; also logs a line every tenth, for runs without a terminal."""
    columns = [TextColumn(description), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)
        last_tenth = [-1]

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            tenth = int(10 * done / total) if total else 10
            if tenth != last_tenth[0]:
                last_tenth[0] = tenth
                log.info("%s: %.0f of %.0f MB", description, done / 1e6, total / 1e6)

        yield update


@contextmanager
def stage_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per named stage, fed with (stage, done, total)."""
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def print_ingest_summary(summary: IngestSummary) -> None:
    """The closing table of `champollion ingest`."""
    table = Table(title="DSN ingestion", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    statuses = summary.status_counts
    rows = [
        ("files found", summary.files_seen),
        ("files new", summary.files_new),
        ("files already ingested (skipped)", summary.files_already_ingested),
        ("files in folders that are not DSN (skipped)", summary.files_skipped_not_dsn),
        ("declarations read", summary.declarations_read),
        ("  monthly", summary.monthly_declarations),
        ("  event signals (not monthly, no contract history)", summary.event_signals),
        ("declarations quarantined", summary.quarantined),
        ("establishment-months kept (all runs)", statuses.get("kept", 0)),
        ("replaced (type 03/05)", statuses.get("replaced", 0)),
        ("cancelled (type 04)", statuses.get("cancelled", 0)),
        ("superseded / duplicates", statuses.get("superseded", 0) + statuses.get("duplicate", 0)),
        ("set aside in a conflict (quarantined)", summary.set_aside),
        ("warnings", summary.warnings),
        ("errors", summary.errors),
        ("lines", summary.lines),
        ("megabytes", f"{summary.bytes / 1e6:.1f}"),
        ("seconds", f"{summary.seconds:.1f}"),
        ("MB/s", f"{summary.megabytes_per_second:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    if summary.issue_kinds:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in summary.issue_kinds.most_common())
        console.print(f"issues by kind: {kinds}")
    console.print(f"warehouse: {summary.warehouse}")
    console.print(f"issues report (file, line, reason): {summary.issues_report}")


def print_calibration(table: pd.DataFrame) -> None:
    """The simulation's calibration table next to the public figures it aims at."""
    out = Table(title="Calibration against public figures")
    for column in ("metric", "simulated", "target", "tolerance", "ok", "source"):
        out.add_column(column)
    for row in table.itertuples(index=False):
        out.add_row(
            str(row.label), _fmt(row.simulated), _fmt(row.target), _fmt(row.tolerance),
            "yes" if row.ok else "NO", str(row.source),
        )
    console.print(out)


def print_frame(title: str, frame: pd.DataFrame) -> None:
    """Any small table (floats with three significant digits)."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    console.print(table)


def print_bench(title: str, rows: list) -> None:
    """A benchmark's rows, each with its ratio to the first (the reference): all cores, per core, and per
    CPU second used (on a machine shared with other work, a core is not always this run's)."""
    table = Table(title=title)
    columns = ("variant", "workers", "MB", "seconds", "MB/s", "MB/s per core", "peak RSS (MB)", "x reference",
               "per core x reference", "CPU s", "MB per CPU s", "per CPU s x reference")
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    reference = rows[0].mb_per_s
    for row in rows:
        table.add_row(
            row.variant, str(row.workers), f"{row.megabytes:.0f}", f"{row.seconds:.1f}", f"{row.mb_per_s:.1f}",
            f"{row.mb_per_s_per_core:.1f}", f"{row.peak_rss_mb:.0f}", f"{row.mb_per_s / reference:.2f}",
            f"{row.mb_per_s_per_core / reference:.2f}", f"{row.cpu_seconds:.1f}", f"{row.mb_per_cpu_s:.1f}",
            f"{row.mb_per_cpu_s / rows[0].mb_per_cpu_s:.2f}" if rows[0].mb_per_cpu_s else "",
        )
    console.print(table)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
