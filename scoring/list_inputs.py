"""What a month's list was explained from, kept with it: so that its lines are explained later as they were then.

The monthly run writes, next to the month's features, `data/list-inputs/YYYY-MM/`: the feature rows of the
establishments it explained (the listed ones, or every one with `--all-reasons`), their rule evidence, the sector
medians its sentences compared them with, the model version that scored them, the months up to the list's the
warehouse declared when the features were read, the warehouse's files then (their latest stamp and number), and the
settings it was drawn up with (its length, exploration and exclusions, which an explanation states). When controls
are imported afterwards, the features are computed again with other definitions, or a declaration of a past month
arrives late, the month's stored feature table and the warehouse change; these do not. `explain` and the web page
explain a list's line from them, so that the contributions shown are those behind the list's score and reasons, its
months without DSN and its contracts those the list knew (the declarations of files stamped later left out,
`warehouse.arrivals`). They stay inside the home: the evidence names persons by their keyed pseudonym, which the
lists shorten.

The folder is written whole or not at all (`core.atomic_files.folder_replaced_when_written`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic_files import folder_replaced_when_written
from core.config import Config
from core.home import Home
from core.scoring_config import ScoringConfig
from features.build import read_evidence
from scoring.reasons import SectorBenchmarks
from warehouse.arrivals import FilesKnown

FILES = ("features.parquet", "evidence.parquet", "benchmarks.parquet", "inputs.json")
# The scoring settings a list is drawn up with that its explanations state (`scoring.explain.audit_paragraph`).
LIST_SETTINGS = ("list_share", "max_list_lines", "list_size_by_region", "exploration_share", "exclude_inspected_months")
EVIDENCE_ROW_GROUP = 50_000  # evidence rows by establishment, in row groups an establishment's read picks out


@dataclass(frozen=True, eq=False)  # frames: no equality nor hash
class ListInputs:
    """What a list kept: the explained establishments' feature rows (`features`, one per SIRET), the month's sector
    medians, the version of the model that scored the list, the folder holding their rule evidence, and the months up
    to the list's the warehouse declared when it was drawn up (`declared`, first days; None for a list kept before
    they were), the scoring settings that drew it up (`list_settings`, `LIST_SETTINGS`; None: kept before they
    were), and the warehouse's files then (`files`, `warehouse.arrivals.files_known`: their latest ingestion stamp and
    number; None: kept before they were)."""

    month: date
    model_version: str
    features: pd.DataFrame
    benchmarks: SectorBenchmarks
    folder: Path
    declared: tuple[date, ...] | None = None
    list_settings: dict[str, Any] | None = None
    files: FilesKnown | None = None

    @cached_property
    def positions(self) -> dict[str, int]:
        """SIRET -> its row in `features`."""
        return {siret: i for i, siret in enumerate(self.features["siret"].astype(str))}

    def evidence_of(self, siret: str) -> pd.DataFrame:
        """The rule evidence of one establishment, as the list kept it (only its row groups are read)."""
        return read_evidence(self.folder / "evidence.parquet", siret)


def list_inputs_folder(home: Home, month: date) -> Path:
    """`data/list-inputs/YYYY-MM/` under the home."""
    return home.data / "list-inputs" / f"{month:%Y-%m}"


def write_list_inputs(inputs: ListInputs, evidence: pd.DataFrame) -> None:
    """Write `inputs` and the explained establishments' `evidence` into `inputs.folder` (see the module docstring):
    whole, in place of what was there."""
    by_establishment = evidence.sort_values("establishment_siret", kind="stable") if len(evidence) else evidence
    with folder_replaced_when_written(inputs.folder) as part:
        for name, frame in (("features", inputs.features), ("evidence", by_establishment),
                            ("benchmarks", inputs.benchmarks.to_frame())):
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), part / f"{name}.parquet",
                           compression="zstd", row_group_size=EVIDENCE_ROW_GROUP if name == "evidence" else None)
        facts: dict[str, object] = {"month": f"{inputs.month:%Y-%m}", "model_version": inputs.model_version}
        if inputs.declared is not None:
            facts["declared_months"] = [f"{month:%Y-%m}" for month in inputs.declared]
        if inputs.list_settings is not None:
            facts["list_settings"] = inputs.list_settings
        if inputs.files is not None:
            facts["files_known"] = {"until": inputs.files.until, "count": inputs.files.count}
        (part / "inputs.json").write_text(json.dumps(facts), encoding="utf-8")


def read_list_inputs(home: Home, month: date) -> ListInputs | None:
    """The inputs kept with the month's list; None when there are none (a list written before they were kept, or
    being written again)."""
    folder = list_inputs_folder(home, month)
    if not all((folder / name).exists() for name in FILES):
        return None
    facts = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    declared = facts.get("declared_months")
    files = facts.get("files_known")
    return ListInputs(
        month, str(facts["model_version"]), pq.read_table(folder / "features.parquet").to_pandas(date_as_object=False),
        SectorBenchmarks.from_frame(pq.read_table(folder / "benchmarks.parquet").to_pandas()), folder,
        None if declared is None else tuple(date.fromisoformat(f"{month}-01") for month in declared),
        facts.get("list_settings"), None if files is None else FilesKnown(str(files["until"]), int(files["count"])),
    )


def list_settings(settings: ScoringConfig) -> dict[str, Any]:
    """The settings of `LIST_SETTINGS` a list drawn up with `settings` keeps."""
    return {name: getattr(settings, name) for name in LIST_SETTINGS}


def as_drawn_up(config: Config, kept: ListInputs | None) -> Config:
    """`config` with the scoring settings the list kept (`kept`), those it was drawn up with; `config` itself for a
    list kept before they were, or nothing kept."""
    if kept is None or not kept.list_settings:
        return config
    scoring = ScoringConfig.model_validate({**config.scoring.model_dump(), **kept.list_settings})
    return config.model_copy(update={"scoring": scoring})
