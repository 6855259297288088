"""The official NEODeS tables shipped with the package: block parents and known rubrics."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

ENVELOPE_PREFIXES = ("S05.", "S06.", "S95.", "S96.")


@dataclass(frozen=True)
class Norm:
    """Block parents (None for a root block) and the set of rubric codes the norm defines."""

    parents: dict[str, str | None]
    rubrics: frozenset[str]
    labels: dict[str, dict[str, str]]

    def label(self, rubric: str, code: str | None) -> str | None:
        """The official French label of an enumerated code, e.g. ('S21.G00.40.007', '02')."""
        if code is None:
            return None
        return self.labels.get(rubric, {}).get(code)


def _read_reference(name: str) -> list[dict[str, str]]:
    text = resources.files("features.reference").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def load_norm() -> Norm:
    """Load the CT2024 block and rubric tables (cached: read once per process)."""
    parents = {row["block"]: (row["parent"] or None) for row in _read_reference("ct2024_blocks.csv")}
    rubrics = set()
    labels: dict[str, dict[str, str]] = {}
    for row in _read_reference("ct2024_fields.csv"):
        rubrics.add(row["rubric"])
        if row["values"]:
            codes = {}
            for item in row["values"].split(";"):
                code, _, label = item.partition("=")
                codes[code.strip()] = label.strip()
            labels[row["rubric"]] = codes
    return Norm(parents=parents, rubrics=frozenset(rubrics), labels=labels)
