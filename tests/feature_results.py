"""A feature table with its evidence read whole while the engine that wrote the evidence file was open (the file
is removed when that engine closes), for tests that compare or inspect it afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.build import FeatureTable


@dataclass(frozen=True)
class FeatureResults:
    """`table`'s fields (`results.features`, `results.fingerprint`...) and its `evidence` as pandas."""

    table: FeatureTable
    evidence: pd.DataFrame

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)


def read_whole(table: FeatureTable) -> FeatureResults:
    """`table` with its evidence as pandas; call it before the engine that computed `table` closes."""
    return FeatureResults(table, table.evidence())
