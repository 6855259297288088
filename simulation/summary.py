"""What `simulate` returns (kept apart so that importing the package stays instant)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[str, int, int], None]  # progress(stage, done, total)


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote and how long it took."""

    out: Path
    preset: str
    seed: int
    n_establishments: int
    n_months: int
    first_month: str  # "YYYY-MM"
    last_month: str
    n_files: int
    n_declarations: int
    dsn_bytes: int
    n_contracts: int
    n_inspections: int
    seconds: float
