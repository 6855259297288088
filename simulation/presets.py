"""The three population presets (small, default, large) as typed, frozen settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Size and period of a simulated population.

    `size_scale` multiplies every establishment's CDI headcount (before rounding), which is how the
    large preset reaches several GB of DSN without changing the sector mix.

    `known_inspection_months` models an inspectorate that knows only the first N months of inspections
    (a region or a use case starting with a year of outcomes): `inspections.csv` holds those, and
    `inspections-all.csv` every inspection up to the last month, as known later (importing it replaces
    the stored inspections: a retraining on new data). The simulated world is the same whatever N: only
    what the files tell the inspectorate changes.
    """

    name: str
    n_establishments: int
    first_month: str  # "YYYY-MM", first declared month
    n_months: int
    size_scale: float = 0.3
    size_spread: float = 0.3  # added to every sector's log-size spread: a heavier tail of large establishments
    max_size: int = 400  # CDI headcount cap of one establishment
    establishments_per_emitter: int = 60
    max_declarations_per_file: int = 400
    known_inspection_months: int | None = None  # None: every inspection is in inspections.csv

    @property
    def last_month(self) -> str:
        """The last declared month, "YYYY-MM"."""
        year, month = (int(part) for part in self.first_month.split("-"))
        index = year * 12 + month - 1 + self.n_months - 1
        return f"{index // 12:04d}-{index % 12 + 1:02d}"


SMALL = Preset(name="small", n_establishments=600, first_month="2024-11", n_months=24, max_size=120)
DEFAULT = Preset(name="default", n_establishments=3000, first_month="2023-11", n_months=36)
LARGE = Preset(
    name="large", n_establishments=10000, first_month="2023-11", n_months=36, size_scale=0.9, max_size=1500
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (SMALL, DEFAULT, LARGE)}


def get_preset(name: str) -> Preset:
    """The preset called `name`; raises ValueError naming the known presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
