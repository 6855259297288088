"""Where a run keeps its state: one home directory holding data/, mlruns/ and lists/.

Two runs with different homes never touch each other's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
HOME_ENV = "CHAMPOLLION_HOME"
# What DuckDB reads as a pattern in a file's path, even in a list of paths (it then reads the files that match).
PATTERN_CHARACTERS = ("*", "?", "[", "]")


@dataclass(frozen=True)
class Home:
    """The directory tree of one Champollion installation or run."""

    root: Path

    def __post_init__(self) -> None:
        pattern = sorted(set(PATTERN_CHARACTERS) & set(str(self.root)))
        if pattern:
            raise ValueError(
                f"{self.root}: a home folder whose path holds {' '.join(pattern)} is refused: DuckDB reads these "
                "characters in a file's path as a pattern, and could read another folder's files; choose a folder "
                f"whose path has none of {' '.join(PATTERN_CHARACTERS)} (--home DIR or ${HOME_ENV}; the repository "
                "is the home by default)")

    @classmethod
    def resolve(cls, explicit: Path | None = None) -> Home:
        """Home from `--home`, else `$CHAMPOLLION_HOME`, else the repository root."""
        if explicit is not None:
            return cls(Path(explicit).resolve())
        from_env = os.environ.get(HOME_ENV)
        return cls(Path(from_env).resolve() if from_env else REPOSITORY_ROOT)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def warehouse(self) -> Path:
        """Parquet tables rebuilt from the DSN files (partitioned by declared month)."""
        return self.data / "warehouse"

    @property
    def staging(self) -> Path:
        """Per-file parse results, before cancel-and-replace is resolved."""
        return self.data / "staging"

    @property
    def quarantine(self) -> Path:
        """Raw text of declarations that could not be read whole, with the reason."""
        return self.data / "quarantine"

    @property
    def ingest_reports(self) -> Path:
        return self.data / "ingest-reports"

    @property
    def duckdb_tmp(self) -> Path:
        """Where DuckDB spills what does not fit in `duckdb.memory_limit`."""
        return self.data / "duckdb-tmp"

    @property
    def mlruns(self) -> Path:
        return self.root / "mlruns"

    @property
    def lists(self) -> Path:
        return self.root / "lists"

    @property
    def reports(self) -> Path:
        """Evaluators' audit reports."""
        return self.root / "reports"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"
