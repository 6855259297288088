"""Past inspections: `siret,inspection_date,abuse_found` files, checked row by row and kept in the warehouse.

Extra columns are ignored. A bad row (SIRET not 14 digits, a date that is not ISO, an outcome
other than 0/1) is reported with its line and reason and left out; the others are kept.
`import_inspections` is the one way in for files (`import-inspections` and `train --inspections`);
the outcomes of controls recorded in the web application arrive through `store_recorded_inspections`,
in a file of their own that an import never replaces. Training, scoring, exclusions and the audit all
read both through `load_inspections`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.home import Home
from warehouse.dsn.parser import Issue
from warehouse.versions import WarehouseState, fresh_file, writer_lock

REQUIRED = ("siret", "inspection_date", "abuse_found")
SCHEMA = pa.schema([("siret", pa.string()), ("inspection_date", pa.date32()), ("abuse_found", pa.int8())])
STORED_NAME = "inspections.parquet"
RECORDED_NAME = "recorded-inspections.parquet"  # outcomes recorded where controls are prepared


@dataclass(frozen=True)
class InspectionFile:
    """The valid rows of an inspections file and the problems found in the others."""

    rows: pd.DataFrame
    issues: list[Issue]


def read_inspections(path: Path) -> InspectionFile:
    """Read and check an inspections CSV (UTF-8, comma or semicolon separated)."""
    text = path.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;")
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(REQUIRED)})")
    rows, issues = [], []
    for line, record in enumerate(reader, start=2):
        siret = (record["siret"] or "").strip()
        raw_date = (record["inspection_date"] or "").strip()
        outcome = (record["abuse_found"] or "").strip()
        problem = None
        if len(siret) != 14 or not siret.isdigit():
            problem = f"SIRET {siret!r} is not 14 digits"
        else:
            try:
                when = date.fromisoformat(raw_date)
            except ValueError:
                problem = f"inspection_date {raw_date!r} is not an ISO date (YYYY-MM-DD)"
            else:
                if outcome not in ("0", "1"):
                    problem = f"abuse_found {outcome!r} is not 0 or 1"
        if problem:
            issues.append(Issue(str(path), line, "warning", "bad_inspection_row", problem + "; row left out"))
            continue
        rows.append((siret, when, int(outcome)))
    frame = pd.DataFrame(rows, columns=list(REQUIRED))
    frame["siret"] = frame["siret"].astype("string")
    frame["inspection_date"] = pd.to_datetime(frame["inspection_date"]).astype("datetime64[s]")
    frame["abuse_found"] = frame["abuse_found"].astype("int64")
    return InspectionFile(frame.drop_duplicates().sort_values(["inspection_date", "siret"], ignore_index=True), issues)


def import_inspections(path: Path, home: Home) -> InspectionFile:
    """Read and check an inspections CSV, and publish a new version of the warehouse of `home`
    holding its valid rows as the stored inspections (under the writer's lock)."""
    loaded = read_inspections(path)
    with writer_lock(home.data):
        state = WarehouseState(home.data)
        draft = state.begin()
        store_inspections(loaded.rows, draft.warehouse)
        state.publish(draft)
    return loaded


def store_recorded_inspections(inspections: pd.DataFrame, home: Home) -> None:
    """Publish a new version of the warehouse of `home` whose recorded inspections are these rows (siret,
    inspection_date, abuse_found: every recorded control's current outcome), the imported ones unchanged.
    Raises WarehouseBusy while another run writes the warehouse."""
    with writer_lock(home.data):
        state = WarehouseState(home.data)
        draft = state.begin()
        store_inspections(inspections, draft.warehouse, RECORDED_NAME)
        state.publish(draft)


def store_inspections(inspections: pd.DataFrame, warehouse: Path, name: str = STORED_NAME) -> Path:
    """Replace the inspections stored in `warehouse` (a draft) under `name` with these rows."""
    path = fresh_file(warehouse / name)
    table = pa.table(
        {
            "siret": pa.array(inspections["siret"].astype(str).tolist(), pa.string()),
            "inspection_date": pa.array(pd.to_datetime(inspections["inspection_date"]).dt.date.tolist(), pa.date32()),
            "abuse_found": pa.array(inspections["abuse_found"].astype(int).tolist(), pa.int8()),
        },
        schema=SCHEMA,
    )
    pq.write_table(table, path)
    return path


def load_inspections(warehouse: Path) -> pd.DataFrame | None:
    """The stored inspections, imported and recorded (by date then SIRET), or None when there are none.
    A control both imported and recorded with the same outcome counts once."""
    paths = [warehouse / name for name in (STORED_NAME, RECORDED_NAME) if (warehouse / name).exists()]
    if not paths:
        return None
    frame = pd.concat([pq.read_table(path).to_pandas(date_as_object=False) for path in paths], ignore_index=True)
    frame["siret"] = frame["siret"].astype("string")
    frame["abuse_found"] = frame["abuse_found"].astype("int64")
    if len(paths) == 1:
        return frame
    return frame.drop_duplicates().sort_values(["inspection_date", "siret"], ignore_index=True)
