"""The contract warehouse: table schemas, where each table lives, and how to read it.

Layout under `<home>/data/`:
- `staging/<table>/<batch>.parquet`: what each ingestion batch parsed, before cancel-and-replace;
- `staging/files.parquet`: one row per ingested file (content hash, path, counts): the idempotency key;
- `warehouse/<table>/declared_month=YYYY-MM/*.parquet`: surviving declarations' rows, by declared month;
- `warehouse/declaration_status.parquet`, `establishments.parquet`, `persons.parquet`, `contracts.parquet`.

`warehouse` and `staging` are those of the published version (`warehouse.versions`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

STRING = pa.string()
DATE = pa.date32()

# Rows parsed from the DSN, written to staging by the parser workers. Every row carries its
# declaration_key so that cancel-and-replace can be applied after all files are read.
# An address is street (S21.G00.11.003 or .85.003: number, extension, nature and name of the way),
# postal_code (.004) and city (.005, localité). Batches staged before street and city were kept read
# them as NULL (`warehouse.engine.conformed_parquet_sql`).
STAGED_SCHEMAS: dict[str, pa.Schema] = {
    "declarations": pa.schema(
        [
            ("declaration_key", STRING), ("source_sha256", STRING), ("source_file", STRING),
            ("decl_index", pa.int32()), ("line_start", pa.int64()), ("line_end", pa.int64()),
            ("declaration_id", STRING), ("nature", STRING), ("type", STRING), ("fraction", STRING),
            ("order_number", STRING), ("month", DATE), ("replaces_id", STRING), ("created_date", DATE),
            ("siren", STRING), ("nic", STRING), ("siret", STRING), ("naf", STRING), ("naf_enterprise", STRING),
            ("street", STRING), ("postal_code", STRING), ("city", STRING), ("idcc", STRING), ("headcount_declared", pa.int32()),
            ("norm_version", STRING), ("software", STRING), ("emitter_siret", STRING),
            ("n_individuals", pa.int32()), ("n_contracts", pa.int32()),
        ]
    ),
    "person_months": pa.schema(
        [("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("person_key", STRING), ("identified_by", STRING)]
    ),
    "contract_months": pa.schema(
        [
            ("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("person_key", STRING),
            ("contract_number", STRING), ("start_date", DATE), ("nature", STRING), ("motif", STRING),
            ("job_title", STRING), ("post", STRING), ("pcs", STRING), ("planned_end", DATE), ("hours_unit", STRING),
            ("reference_hours", pa.float64()), ("contract_hours", pa.float64()), ("time_mode", STRING),
            ("idcc", STRING), ("workplace", STRING), ("user_siret", STRING), ("hours_worked", pa.float64()),
            ("line", pa.int64()),
        ]
    ),
    # Work stoppages (S21.G00.60, kind 'arret') and other suspensions (S21.G00.65, kind
    # 'suspension'), with the period the person is away: absence_start..absence_end inclusive.
    "absences": pa.schema(
        [
            ("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("person_key", STRING),
            ("contract_number", STRING), ("start_date", DATE), ("kind", STRING), ("reason", STRING),
            ("absence_start", DATE), ("absence_end", DATE), ("last_day_worked", DATE),
            ("planned_end", DATE), ("return_date", DATE),
        ]
    ),
    "contract_ends": pa.schema(
        [
            ("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("person_key", STRING),
            ("contract_number", STRING), ("start_date", DATE), ("end_date", DATE), ("end_motif", STRING),
        ]
    ),
    "contract_changes": pa.schema(
        [
            ("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("person_key", STRING),
            ("contract_number", STRING), ("start_date", DATE), ("change_date", DATE), ("old_nature", STRING),
            ("old_motif", STRING), ("old_contract_number", STRING), ("old_start_date", DATE), ("old_siret", STRING),
        ]
    ),
    "workplaces": pa.schema(
        [
            ("declaration_key", STRING), ("month", DATE), ("siret", STRING), ("workplace_siret", STRING),
            ("naf", STRING), ("street", STRING), ("postal_code", STRING), ("city", STRING),
        ]
    ),
}

_INTEGER_BOUNDS = {pa.int32(): (-(2**31), 2**31 - 1), pa.int64(): (-(2**63), 2**63 - 1)}
_EXACT_IN_DOUBLE = 2**53  # Arrow refuses an int a double does not hold exactly


def misfit(schema: pa.Schema, rows: list[tuple]) -> str | None:
    """Why `rows` (tuples in the order of `schema`'s fields) would not fit `schema`, or None: a row of another
    length, or a value not of its column's type (str that UTF-8 can hold; `datetime.date`; int within the column's
    bounds; float, or int that a double holds exactly). Checked in Python, without Arrow: on a file's declaration
    rows, building Arrow arrays to see whether they convert took a sixth of the parse. Names the column, never the
    value (it may be a NIR)."""
    kinds = [(f.name, f.type) for f in schema]
    for row in rows:
        if len(row) != len(kinds):
            return f"a row of {len(row)} values for {len(kinds)} columns"
        for value, (name, kind) in zip(row, kinds, strict=True):
            if value is None:
                continue
            if kind == pa.string():
                fits = type(value) is str and (value.isascii() or _utf8(value))
            elif kind == pa.date32():
                fits = isinstance(value, date)
            elif kind in _INTEGER_BOUNDS:
                low, high = _INTEGER_BOUNDS[kind]
                fits = type(value) is int and low <= value <= high
            elif kind == pa.float64():
                fits = type(value) is float or (type(value) is int and abs(value) <= _EXACT_IN_DOUBLE)
            else:
                raise TypeError(f"no check for column {name} of type {kind}")
            if not fits:
                return f"column {name} ({kind}) given a {type(value).__name__} value that does not fit"
    return None


def _utf8(text: str) -> bool:
    """Whether UTF-8 can hold `text` (a lone surrogate, as Python decodes a file name's bytes that are not UTF-8,
    cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Tables partitioned by declared month in the warehouse (all staged tables).
MONTHLY_TABLES = tuple(STAGED_SCHEMAS)

FILES_NAME = "files.parquet"  # the manifest of ingested files, in `staging/`


def manifest_of(state: Path) -> Path:
    """The manifest of the files a published state of the warehouse was read from (the folder holding its `staging/`
    and its warehouse version: `warehouse.engine.published_version(...).parent`)."""
    return state / "staging" / FILES_NAME


FILES_SCHEMA = pa.schema(
    [
        ("source_sha256", STRING), ("source_file", STRING), ("batch", STRING), ("bytes", pa.int64()),
        ("lines", pa.int64()), ("encoding", STRING), ("declarations", pa.int32()), ("quarantined", pa.int32()),
        ("warnings", pa.int32()), ("errors", pa.int32()), ("ingested_at", pa.timestamp("s")),
    ]
)


def month_partition(month: str) -> str:
    """Partition folder name of a declared month 'YYYY-MM'."""
    return f"declared_month={month}"
