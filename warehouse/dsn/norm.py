"""The official NEODeS tables shipped with the package: block parents and known rubrics."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

ENVELOPE_PREFIXES = ("S05.", "S06.", "S95.", "S96.")


@dataclass(frozen=True)
class Norm:
    """Block parents (None for a root block), the set of rubric codes the norm defines, and the codes of each of its
    enumerated rubrics (a contract's nature, motif, end motif...)."""

    parents: dict[str, str | None]
    rubrics: frozenset[str]
    codes: dict[str, frozenset[str]] = field(default_factory=dict)


def _read_reference(name: str) -> list[dict[str, str]]:
    text = resources.files("warehouse.reference").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def load_norm() -> Norm:
    """Load the CT2024 block and rubric tables (cached: read once per process)."""
    parents = {row["block"]: (row["parent"] or None) for row in _read_reference("ct2024_blocks.csv")}
    fields = _read_reference("ct2024_fields.csv")
    rubrics = frozenset(row["rubric"] for row in fields)
    # `values`: "01=Contrat de travail à durée indéterminée;02=..."
    codes = {row["rubric"]: frozenset(code.split("=", 1)[0].strip() for code in row["values"].split(";") if "=" in code)
             for row in fields if row["nature"] == "Enumeration" and row["values"]}
    return Norm(parents=parents, rubrics=rubrics, codes=codes)
