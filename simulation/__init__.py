"""A simulated population of establishments, people and contracts, written as real DSN files, with the
hidden truth (who abused, how, when) and a history of past inspections. See simulation/README.md.

Importing the package is instant: the heavy modules load when `simulate` or `calibration_table` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulation import presets
from simulation.presets import PRESETS, Preset, get_preset
from simulation.summary import Progress, SimulationSummary

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PRESETS", "Preset", "Progress", "SimulationSummary", "calibration_table", "get_preset", "presets", "simulate",
]


def simulate(out: Path, preset: str = "default", seed: int = 0, progress: Progress | None = None,
             known_inspection_months: int | None = None) -> SimulationSummary:
    """Simulate a population and write dsn/, inspections.csv and truth/ under `out` (see simulation.run)."""
    from simulation.run import simulate as run

    return run(out, preset=preset, seed=seed, progress=progress, known_inspection_months=known_inspection_months)


def calibration_table(out: Path) -> pandas.DataFrame:
    """The simulated orders of magnitude next to the public figures they aim at (see simulation.calibration)."""
    from simulation.calibration import calibration_table as table

    return table(out)
