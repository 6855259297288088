"""National-scale population written straight into the warehouse (no DSN text), for benchmarks.

`simulate_national(out, scale=1.0)` writes under `out/data/warehouse/`, published as the first version of
the warehouse (warehouse.versions), the tables ingestion would produce (same schemas as
warehouse.tables.STAGED_SCHEMAS, Hive-partitioned by declared month, plus establishments, persons and
declaration_status), so that `champollion --home OUT features` runs on it unchanged. At scale 1: ~1.8 M
establishments, ~18 M people in force, 12 months. It works by chunks of establishments, each written as one
row group per month, so memory stays bounded.

It writes the versioned contracts the features read (`contract_states.parquet`, warehouse.contracts.
CONTRACT_STATES_SQL over each chunk's snapshots: a contract's snapshots all fall in its chunk) and an
empty `renamed_snapshots.parquet` (nothing is renamed). What it does not write: `contracts.parquet`
(ingestion's rebuild as of the last month, which the features do not read; `champollion ingest` is not
run), `contract_changes` rows (empty partitions),
staging/ and quarantine/. Every declaration is a kept type 01 (02 when nobody is in force).
Person keys are 32 hex characters as random-looking as ingestion's HMAC pseudonyms (`hex32`), so that the warehouse
holds the bytes a real one does.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.geography import places_table
from simulation.geography import STREETS, city_of
from simulation.national_arrays import day_number, days_to_date32, digits, hex32, pick
from simulation.national_model import NO_END, Chunk, Period, draw_establishments, generate_chunk
from simulation.national_sectors import ABUSE_TYPES, END_MOTIFS, MISSION, MOTIFS, NATURES, POSTS, SECTORS, TEMP_AGENCY
from warehouse.contracts import CONTRACT_STATES_SQL, STATES_FILE, STATES_ROW_GROUP_ROWS
from warehouse.tables import MONTHLY_TABLES, STAGED_SCHEMAS, month_partition
from warehouse.versions import WarehouseState, check_data_link, writer_lock

NATIONAL_ESTABLISHMENTS = 1_800_000
CHUNK_ESTABLISHMENTS = 20_000
BUSY_DEPARTEMENTS = {"75": 5.0, "92": 3.0, "69": 3.0, "13": 3.0, "59": 2.5, "33": 2.0, "31": 2.0, "44": 2.0, "94": 2.0,
                     "93": 2.0, "06": 2.0, "67": 1.5, "34": 1.5, "35": 1.5, "78": 1.5, "91": 1.5, "77": 1.5, "95": 1.5}

ESTABLISHMENTS_SCHEMA = pa.schema(
    [("siret", pa.string()), ("siren", pa.string()), ("naf", pa.string()), ("naf_enterprise", pa.string()),
     ("idcc", pa.string()), ("street", pa.string()), ("postal_code", pa.string()), ("city", pa.string()),
     ("departement", pa.string()),
     ("departement_name", pa.string()), ("region_code", pa.string()), ("region", pa.string()),
     ("first_month", pa.date32()), ("last_month", pa.date32()), ("months_declared", pa.int64()),
     ("declares", pa.bool_())]
)
PERSONS_SCHEMA = pa.schema(
    [("person_key", pa.string()), ("identified_by", pa.string()), ("first_month", pa.date32()),
     ("last_month", pa.date32()), ("establishments", pa.int64())]
)
STATUS_SCHEMA = pa.schema(
    [("declaration_key", pa.string()), ("siret", pa.string()), ("month", pa.date32()), ("type", pa.string()),
     ("status", pa.string()), ("targets_nothing", pa.bool_()), ("source_file", pa.string()), ("line_start", pa.int64())]
)
# Columns with (nearly) one value per row: a dictionary only costs time.
UNIQUE_COLUMNS = frozenset({"person_key", "line", "contract_number", "declaration_id", "order_number", "hours_worked"})
TRUTH_SCHEMA = pa.schema([("siret", pa.string()), ("naf", pa.string()), ("abusive", pa.bool_()), ("abuse_type", pa.string())])


@dataclass(frozen=True)
class NationalSpec:
    """What to generate: `scale` is the share of the national volume (1.0: 1.8 M establishments)."""

    scale: float = 1.0
    first_month: str = "2025-01"
    n_months: int = 12
    seed: int = 0
    chunk_establishments: int = CHUNK_ESTABLISHMENTS
    # Mixed into every person key (`hex32`, with the seed): another salt gives the same population under other
    # pseudonyms, as another pseudonymisation key gives ingestion.
    pseudonym_salt: int = 0x5EED0000

    @property
    def n_establishments(self) -> int:
        return max(1, round(NATIONAL_ESTABLISHMENTS * self.scale))

    def months(self) -> list[date]:
        year, month = (int(x) for x in self.first_month.split("-"))
        return [date(year + (month - 1 + k) // 12, (month - 1 + k) % 12 + 1, 1) for k in range(self.n_months)]


@dataclass(frozen=True)
class NationalSummary:
    """Counts of what was written, the time it took and the bytes on disk."""

    establishments: int
    persons: int
    contracts: int
    contract_months: int
    declarations: int
    seconds: float
    bytes_on_disk: int
    warehouse: str


class _MonthlyWriters:
    """One Parquet file per monthly table and declared month, one row group per chunk."""

    def __init__(self, warehouse: Path, months: list[date], name: str) -> None:
        self.writers: dict[tuple[str, int], pq.ParquetWriter] = {}
        for table in MONTHLY_TABLES:
            for m, month in enumerate(months):
                folder = warehouse / table / month_partition(f"{month:%Y-%m}")
                folder.mkdir(parents=True, exist_ok=True)
                self.writers[table, m] = pq.ParquetWriter(
                    folder / f"part-{name}.parquet", STAGED_SCHEMAS[table], compression="zstd",
                    use_dictionary=[f for f in STAGED_SCHEMAS[table].names if f not in UNIQUE_COLUMNS])

    def write(self, table: str, month_index: np.ndarray, columns: dict[str, pa.Array]) -> None:
        """Rows of `table` (already in month order) split by `month_index` into their partitions."""
        batch = pa.table(columns, schema=STAGED_SCHEMAS[table])
        bounds = np.searchsorted(month_index, np.arange(len(self.writers) // len(MONTHLY_TABLES) + 1))
        for m in range(len(bounds) - 1):
            if bounds[m + 1] > bounds[m]:
                self.writers[table, m].write_table(batch.slice(bounds[m], bounds[m + 1] - bounds[m]))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _departement_weights(places: list) -> np.ndarray:
    weights = np.array([BUSY_DEPARTEMENTS.get(p.departement, 1.0) for p in places])
    return weights / weights.sum()


def _postal_codes(departements: list[str], suffix: np.ndarray) -> pa.Array:
    """Postal codes that core.geography maps back to the département."""
    codes = []
    for d, s in zip(departements, suffix.tolist(), strict=True):
        if d == "2A":
            codes.append(f"20{s % 200:03d}")
        elif d == "2B":
            codes.append(f"20{200 + s % 700:03d}")
        elif len(d) == 3:
            codes.append(f"{d}{s % 100:02d}")
        else:
            codes.append(f"{d}{s:03d}")
    return pa.array(codes, pa.string())


def _addresses(siren_numbers: np.ndarray, departements: list[str]) -> tuple[pa.Array, pa.Array]:
    """Street (S21.G00.11.003) and city (.005) of each establishment: a number and a street name derived
    from the SIREN (no random draw, so the rest of a seed's population is unchanged), the département's
    chef-lieu as the city."""
    numbers = 1 + (siren_numbers * 7919) % 180
    names = pick(list(STREETS), siren_numbers % len(STREETS))
    street = pc.binary_join_element_wise(pa.array(numbers.astype(str)), names, " ")
    return street, pa.array([city_of(d) for d in departements], pa.string())


class _ChunkWriter:
    """Turns one chunk's arrays into the rows of every warehouse table."""

    def __init__(self, spec: NationalSpec, period: Period, months: list[date], places: list) -> None:
        self.spec, self.period, self.months, self.places = spec, period, months, places
        self.n_months = len(months)
        self.month_days = days_to_date32(period.starts)

    def tables(self, index: int, chunk: Chunk) -> dict[str, tuple[np.ndarray | None, dict[str, pa.Array]]]:
        est, c = chunk.establishments, chunk.contracts
        period, n_months = self.period, self.n_months
        n_est = len(est)
        siren_numbers = 100_000_000 + index * 100_000 + np.arange(n_est)
        siren = digits(siren_numbers, 9)
        siret = digits(siren_numbers * 100_000 + 12, 14)
        nic = pa.array(["00012"] * n_est, pa.string())
        sector_naf = [s.naf for s in SECTORS] + [TEMP_AGENCY.naf]
        sector_idcc = [s.idcc for s in SECTORS] + [TEMP_AGENCY.idcc]
        sector = np.where(est.sector < 0, len(SECTORS), est.sector)
        naf = pick(sector_naf, sector)
        idcc = pick(sector_idcc, sector)
        deps = [self.places[d].departement for d in est.departement.tolist()]
        postal = _postal_codes(deps, est.postal_suffix)
        street, city = _addresses(siren_numbers, deps)
        person_key = hex32(index * 1_000_000_000 + np.arange(chunk.n_persons),
                           self.spec.pseudonym_salt + self.spec.seed)

        # Contract numbers run per declaring establishment (contracts are sorted by declarant).
        group_start = np.searchsorted(c.decl, c.decl, side="left")
        number = digits(np.arange(len(c)) - group_start + 1, 6, prefix="CT")

        # One row per contract and month it runs in the period, in month order.
        m0 = np.maximum(period.month_of(c.start), 0)
        m1 = period.month_of(np.minimum(c.end, period.last_day))
        n_rows = m1 - m0 + 1
        row_contract = np.repeat(np.arange(len(c)), n_rows)
        row_month = m0[row_contract] + np.arange(len(row_contract)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        order = np.argsort(row_month, kind="stable")
        rc, rm = row_contract[order], row_month[order]
        decl_month = c.decl[rc] * n_months + rm
        keys = digits(index * 10_000_000 + np.arange(n_est * n_months), 14, prefix="nat")
        decl_keys = keys.take(pa.array(decl_month))

        month_end = period.ends[rm]
        fixed = c.nature[rc] != 0
        planned = self._planned_end(c.start[rc], c.end[rc], c.renewals[rc], month_end)
        overlap = np.minimum(c.end[rc], month_end) - np.maximum(c.start[rc], period.starts[rm]) + 1
        days_in_month = month_end - period.starts[rm] + 1
        mission = c.nature[rc] == MISSION
        contract_months = {
            "declaration_key": decl_keys, "month": self.month_days.take(pa.array(rm)),
            "siret": siret.take(pa.array(c.decl[rc])), "person_key": person_key.take(pa.array(c.person[rc])),
            "contract_number": number.take(pa.array(rc)), "start_date": days_to_date32(c.start[rc]),
            "nature": pick(list(NATURES), c.nature[rc]), "motif": pick(list(MOTIFS), c.motif[rc]),
            "job_title": pick([p[0] for p in POSTS], c.post[rc]), "post": pick([p[1] for p in POSTS], c.post[rc]),
            "pcs": pick([p[2] for p in POSTS], c.post[rc]), "planned_end": days_to_date32(planned, fixed),
            "hours_unit": pa.array(np.full(len(rc), "10"), pa.string()),
            "reference_hours": pa.array(np.full(len(rc), 151.67)), "contract_hours": pa.array(c.contract_hours[rc]),
            "time_mode": pick(["20", "10"], c.full_time[rc].astype(np.int64)),
            "idcc": idcc.take(pa.array(c.decl[rc])), "workplace": pa.nulls(len(rc), pa.string()),
            "user_siret": _masked_take(siret, c.est[rc], mission),
            "hours_worked": pa.array(np.round(c.contract_hours[rc] * overlap / days_in_month, 2)),
            "line": pa.array(index * 1_000_000_000 + np.arange(len(rc), dtype=np.int64)),
        }

        # Declarations: every establishment, every month; type 02 when nobody is in force.
        all_decl = np.arange(n_est * n_months)
        d_est, d_month = all_decl // n_months, all_decl % n_months
        d_order = np.lexsort((d_est, d_month))
        d_est, d_month, all_decl = d_est[d_order], d_month[d_order], all_decl[d_order]
        rows_per_decl = np.bincount(decl_month, minlength=n_est * n_months)
        # Rows are in (month, declarant, person) order already: a person-month is a change of that key.
        person_month = rm.astype(np.int64) << 56 | c.decl[rc].astype(np.int64) << 32 | c.person[rc]
        person_month = person_month[np.concatenate([[True], person_month[1:] != person_month[:-1]])]
        pm_month = (person_month >> 56).astype(np.int64)
        pm_decl = ((person_month >> 32) & 0xFFFFFF).astype(np.int64)
        pm_person = (person_month & 0xFFFFFFFF).astype(np.int64)
        persons_per_decl = np.bincount(pm_decl * n_months + pm_month, minlength=n_est * n_months)
        n_contracts = rows_per_decl[all_decl]
        month_first = self.month_days.take(pa.array(d_month))
        declarations = {
            "declaration_key": keys.take(pa.array(all_decl)), "source_sha256": pa.nulls(len(all_decl), pa.string()),
            "source_file": pa.array(np.full(len(all_decl), "national-simulation"), pa.string()),
            "decl_index": pa.array(np.zeros(len(all_decl), np.int32)),
            "line_start": pa.array(np.zeros(len(all_decl), np.int64)), "line_end": pa.array(np.zeros(len(all_decl), np.int64)),
            "declaration_id": digits(index * 10_000_000 + all_decl, 12), "nature": pick(["01"], np.zeros(len(all_decl))),
            "type": pick(["02", "01"], (n_contracts > 0).astype(np.int64)), "fraction": pick(["11"], np.zeros(len(all_decl))),
            "order_number": digits(index * 10_000_000 + all_decl, 12), "month": month_first,
            "replaces_id": pa.nulls(len(all_decl), pa.string()),
            "created_date": days_to_date32(period.ends[d_month] + 5),
            "siren": siren.take(pa.array(d_est)), "nic": nic.take(pa.array(d_est)), "siret": siret.take(pa.array(d_est)),
            "naf": naf.take(pa.array(d_est)), "naf_enterprise": naf.take(pa.array(d_est)),
            "street": street.take(pa.array(d_est)), "postal_code": postal.take(pa.array(d_est)),
            "city": city.take(pa.array(d_est)), "idcc": idcc.take(pa.array(d_est)),
            "headcount_declared": pa.array(persons_per_decl[all_decl].astype(np.int32)),
            "norm_version": pick(["P25V01"], np.zeros(len(all_decl))), "software": pick(["SIMNAT"], np.zeros(len(all_decl))),
            "emitter_siret": siret.take(pa.array(d_est)),
            "n_individuals": pa.array(persons_per_decl[all_decl].astype(np.int32)),
            "n_contracts": pa.array(n_contracts.astype(np.int32)),
        }
        person_months = {
            "declaration_key": keys.take(pa.array(pm_decl * n_months + pm_month)),
            "month": self.month_days.take(pa.array(pm_month)), "siret": siret.take(pa.array(pm_decl)),
            "person_key": person_key.take(pa.array(pm_person)), "identified_by": pick(["nir"], np.zeros(len(pm_person))),
        }

        # Ends declared in the month of the end (most of them; the others are inferred later).
        ended = np.flatnonzero((c.end >= period.first_day) & (c.end <= period.last_day) & c.end_declared)
        e_month = period.month_of(c.end[ended])
        e_order = np.argsort(e_month, kind="stable")
        ended, e_month = ended[e_order], e_month[e_order]
        contract_ends = {
            "declaration_key": keys.take(pa.array(c.decl[ended] * n_months + e_month)),
            "month": self.month_days.take(pa.array(e_month)), "siret": siret.take(pa.array(c.decl[ended])),
            "person_key": person_key.take(pa.array(c.person[ended])), "contract_number": number.take(pa.array(ended)),
            "start_date": days_to_date32(c.start[ended]), "end_date": days_to_date32(c.end[ended]),
            "end_motif": pick(list(END_MOTIFS), c.end_motif[ended]),
        }

        # Absences, declared in every month they overlap with the holder's contract.
        a = chunk.absences
        a0, a1 = period.month_of(a.start), period.month_of(a.end)
        a_rows = np.repeat(np.arange(len(a.start)), a1 - a0 + 1)
        a_month = a0[a_rows] + np.arange(len(a_rows)) - np.repeat(np.cumsum(a1 - a0 + 1) - (a1 - a0 + 1), a1 - a0 + 1)
        a_order = np.argsort(a_month, kind="stable")
        a_rows, a_month = a_rows[a_order], a_month[a_order]
        holder = a.contract[a_rows]
        absences = {
            "declaration_key": keys.take(pa.array(c.decl[holder] * n_months + a_month)),
            "month": self.month_days.take(pa.array(a_month)), "siret": siret.take(pa.array(c.decl[holder])),
            "person_key": person_key.take(pa.array(c.person[holder])), "contract_number": number.take(pa.array(holder)),
            "start_date": days_to_date32(c.start[holder]), "kind": pick(["arret"], np.zeros(len(holder))),
            "reason": pick(["01"], np.zeros(len(holder))), "absence_start": days_to_date32(a.start[a_rows]),
            "absence_end": days_to_date32(a.end[a_rows]), "last_day_worked": days_to_date32(a.start[a_rows] - 1),
            "planned_end": days_to_date32(a.end[a_rows]), "return_date": days_to_date32(a.end[a_rows] + 1),
        }

        # S21.G00.85: each agency declares its user establishments of the month.
        missions = np.flatnonzero(c.nature[rc] == MISSION)
        pairs = np.unique(rm[missions].astype(np.int64) << 48 | c.decl[rc[missions]].astype(np.int64) << 24 | c.est[rc[missions]])
        w_month, w_decl, w_user = pairs >> 48, (pairs >> 24) & 0xFFFFFF, pairs & 0xFFFFFF
        workplaces = {
            "declaration_key": keys.take(pa.array(w_decl * n_months + w_month)),
            "month": self.month_days.take(pa.array(w_month)), "siret": siret.take(pa.array(w_decl)),
            "workplace_siret": siret.take(pa.array(w_user)), "naf": naf.take(pa.array(w_user)),
            "street": street.take(pa.array(w_user)), "postal_code": postal.take(pa.array(w_user)),
            "city": city.take(pa.array(w_user)),
        }

        establishments = {
            "siret": siret, "siren": siren, "naf": naf, "naf_enterprise": naf, "idcc": idcc, "street": street,
            "postal_code": postal, "city": city,
            "departement": pa.array(deps, pa.string()),
            "departement_name": pa.array([self.places[d].departement_name for d in est.departement.tolist()], pa.string()),
            "region_code": pa.array([self.places[d].region_code for d in est.departement.tolist()], pa.string()),
            "region": pa.array([self.places[d].region for d in est.departement.tolist()], pa.string()),
            "first_month": self.month_days.take(pa.array(np.zeros(n_est, np.int64))),
            "last_month": self.month_days.take(pa.array(np.full(n_est, n_months - 1))),
            "months_declared": pa.array(np.full(n_est, n_months, np.int64)), "declares": pa.array(np.ones(n_est, bool)),
        }
        frame = pd.DataFrame({"person": pm_person, "month": pm_month, "decl": pm_decl})
        per_person = frame.groupby("person").agg(first=("month", "min"), last=("month", "max"), n=("decl", "nunique"))
        persons = {
            "person_key": person_key.take(pa.array(per_person.index.to_numpy())),
            "identified_by": pick(["nir"], np.zeros(len(per_person))),
            "first_month": self.month_days.take(pa.array(per_person["first"].to_numpy())),
            "last_month": self.month_days.take(pa.array(per_person["last"].to_numpy())),
            "establishments": pa.array(per_person["n"].to_numpy().astype(np.int64)),
        }
        status = {
            "declaration_key": declarations["declaration_key"], "siret": declarations["siret"], "month": month_first,
            "type": declarations["type"], "status": pick(["kept"], np.zeros(len(all_decl))),
            "targets_nothing": pa.array(np.zeros(len(all_decl), bool)), "source_file": declarations["source_file"],
            "line_start": declarations["line_start"],
        }
        truth = {
            "siret": siret, "naf": naf, "abusive": pa.array(est.abuse > 0),
            "abuse_type": pick(list(ABUSE_TYPES), est.abuse),
        }
        return {
            "contract_months": (rm, contract_months), "declarations": (d_month, declarations),
            "person_months": (pm_month, person_months), "contract_ends": (e_month, contract_ends),
            "absences": (a_month, absences), "workplaces": (w_month, workplaces),
            "establishments": (None, establishments), "persons": (None, persons),
            "declaration_status": (None, status), "truth": (None, truth),
        }

    @staticmethod
    def _planned_end(start: np.ndarray, end: np.ndarray, renewals: np.ndarray, month_end: np.ndarray) -> np.ndarray:
        """The planned end as declared in a month: the first of the successive terms (the initial one,
        then one per renewal, the last being the true end) not yet passed at the month's end."""
        length = end - start + 1
        threshold = np.minimum(month_end, end)
        shown = end.copy()
        for j in range(int(renewals.max(initial=0)) - 1, -1, -1):
            term = start + (length * (j + 1)) // (renewals + 1) - 1
            shown = np.where((j < renewals) & (term >= threshold), term, shown)
        return np.where(end >= NO_END, 0, shown)


def _masked_take(values: pa.Array, index: np.ndarray, valid: np.ndarray) -> pa.Array:
    """values[index] where `valid`, else null."""
    return values.take(pa.array(np.where(valid, index, 0), mask=~valid))


def _period(months: list[date]) -> Period:
    starts = np.array([day_number(m) for m in months], dtype=np.int64)
    following = [date(m.year + m.month // 12, m.month % 12 + 1, 1) for m in months]
    return Period(starts, np.array([day_number(m) - 1 for m in following], dtype=np.int64))


def _single_paths(home: Path, worker: int) -> dict[str, tuple[Path, pa.Schema]]:
    """Where a worker writes its part of the one-file tables (merged at the end)."""
    parts = home / "data" / "national-parts"
    return {
        "establishments": (parts / f"establishments-{worker}.parquet", ESTABLISHMENTS_SCHEMA),
        "persons": (parts / f"persons-{worker}.parquet", PERSONS_SCHEMA),
        "declaration_status": (parts / f"declaration_status-{worker}.parquet", STATUS_SCHEMA),
        "truth": (parts / f"truth-{worker}.parquet", TRUTH_SCHEMA),
        "contract_states": (parts / f"contract_states-{worker}.parquet", _states_schema()),
    }


def _final_paths(home: Path) -> dict[str, Path]:
    warehouse = home / "data" / "warehouse"
    return {"establishments": warehouse / "establishments.parquet", "persons": warehouse / "persons.parquet",
            "declaration_status": warehouse / "declaration_status.parquet",
            "truth": home / "truth" / "establishments.parquet", "contract_states": warehouse / STATES_FILE}


def _generate_chunks(home: Path, spec: NationalSpec, worker: int, workers: int, queue=None) -> dict[str, int]:
    """Generate and write the chunks worker, worker + workers, ...; returns the row counts written."""
    started = time.perf_counter()
    warehouse = home / "data" / "warehouse"
    months = spec.months()
    period = _period(months)
    places = places_table()
    weights = _departement_weights(places)
    writers = _MonthlyWriters(warehouse, months, f"national-{worker}")
    singles = _single_paths(home, worker)
    single_writers = {name: pq.ParquetWriter(path, schema, compression="zstd") for name, (path, schema) in singles.items()}
    chunk_writer = _ChunkWriter(spec, period, months, places)
    states_con = duckdb.connect(config={"threads": 1})  # one per worker: the workers are the parallelism
    counts = {"establishments": 0, "persons": 0, "contracts": 0, "contract_months": 0, "declarations": 0}
    n_total = spec.n_establishments
    n_chunks = -(-n_total // spec.chunk_establishments)
    try:
        for index in range(worker, n_chunks, workers):
            size = min(spec.chunk_establishments, n_total - index * spec.chunk_establishments)
            rng = np.random.default_rng([spec.seed, index])
            est = draw_establishments(rng, size, weights)
            chunk = generate_chunk(rng, period, est)
            tables = chunk_writer.tables(index, chunk)
            single_writers["contract_states"].write_table(
                _contract_states(states_con, tables["contract_months"][1]).cast(singles["contract_states"][1]),
                row_group_size=STATES_ROW_GROUP_ROWS)
            for name, (month_index, columns) in tables.items():
                if month_index is None:
                    single_writers[name].write_table(pa.table(columns, schema=singles[name][1]))
                else:
                    writers.write(name, month_index, columns)
            counts["establishments"] += len(est)
            counts["persons"] += len(tables["persons"][1]["person_key"])
            counts["contracts"] += len(chunk.contracts)
            contract_months, declarations = tables["contract_months"][0], tables["declarations"][0]
            assert contract_months is not None and declarations is not None  # monthly tables: a month per row
            counts["contract_months"] += len(contract_months)
            counts["declarations"] += len(declarations)
            message = (f"worker {worker}: chunk {index + 1}/{n_chunks}, {counts['contract_months']:,} contract-months, "
                       f"{time.perf_counter() - started:.0f} s")
            if queue is not None:
                queue.put(message)
    finally:
        writers.close()
        for writer in single_writers.values():
            writer.close()
        states_con.close()
    return counts


def _contract_states(con: duckdb.DuckDBPyConnection, contract_months: dict[str, pa.Array]) -> pa.Table:
    """The versioned contracts (warehouse.contracts.CONTRACT_STATES_SQL) of one chunk's snapshots."""
    con.register("contract_months", pa.table(contract_months, schema=STAGED_SCHEMAS["contract_months"]))
    con.register("contract_changes", STAGED_SCHEMAS["contract_changes"].empty_table())
    result = con.execute(CONTRACT_STATES_SQL + " ORDER BY siret, person_key, start_date, contract_number, run_from").arrow()
    states = result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    con.unregister("contract_months")
    con.unregister("contract_changes")
    return states


def _states_schema() -> pa.Schema:
    """The schema of the versioned contracts, as DuckDB writes them."""
    with duckdb.connect() as con:
        return _contract_states(con, {name: pa.nulls(0, field.type) for name, field in
                                      zip(STAGED_SCHEMAS["contract_months"].names, STAGED_SCHEMAS["contract_months"],
                                          strict=True)}).schema


def _worker_main(home: Path, spec: NationalSpec, worker: int, workers: int, queue) -> None:
    counts = _generate_chunks(home, spec, worker, workers, queue)
    queue.put(counts)


def _merge_singles(home: Path, workers: int) -> None:
    """Concatenate the workers' parts of each one-file table, row group by row group."""
    for name, final in _final_paths(home).items():
        parts = [_single_paths(home, w)[name][0] for w in range(workers)]
        with pq.ParquetWriter(final, _single_paths(home, 0)[name][1], compression="zstd") as writer:
            for part in parts:
                source = pq.ParquetFile(part)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group))
                part.unlink()
    (home / "data" / "national-parts").rmdir()


def simulate_national(
    home: Path, spec: NationalSpec = NationalSpec(), progress: Callable[[str], None] | None = None, workers: int = 1
) -> NationalSummary:
    """Write the national-scale warehouse under `home/data/warehouse/` (and `home/truth/`), with
    `workers` processes each writing its own file per partition; see the module docstring."""
    started = time.perf_counter()
    warehouse = home / "data" / "warehouse"
    for path in (home, home / "data"):  # a disk not mounted: nothing is written in its place
        check_data_link(path)
    if warehouse.is_symlink():  # published by a run before, or a link of the user's: what is written would not be read
        raise FileExistsError(f"{warehouse} is a link: choose an --out folder without a warehouse")
    if warehouse.exists() and any(warehouse.iterdir()):
        raise FileExistsError(f"{warehouse} is not empty: choose an empty --out folder")
    warehouse.mkdir(parents=True, exist_ok=True)
    (home / "truth").mkdir(parents=True, exist_ok=True)
    (home / "data" / "national-parts").mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers, -(-spec.n_establishments // spec.chunk_establishments)))
    totals: dict[str, int] = {}
    if workers == 1:
        totals = _generate_chunks(home, spec, 0, 1, _Printer(progress))
    else:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        processes = [context.Process(target=_worker_main, args=(home, spec, w, workers, queue)) for w in range(workers)]
        for process in processes:
            process.start()
        finished = 0
        while finished < workers:
            message = queue.get()
            if isinstance(message, dict):
                finished += 1
                totals = {k: totals.get(k, 0) + v for k, v in message.items()}
            elif progress:
                progress(message)
        for process in processes:
            process.join()
            if process.exitcode != 0:
                raise RuntimeError(f"national generator worker failed with exit code {process.exitcode}")
    _merge_singles(home, workers)
    pq.write_table(STAGED_SCHEMAS["contract_months"].empty_table(), warehouse / "renamed_snapshots.parquet")
    size = sum(p.stat().st_size for p in warehouse.rglob("*.parquet"))
    # Published as the first version, as a writer would take it in: a reader attached to it then never sees the
    # files of a version a later run publishes (warehouse.versions).
    with writer_lock(home / "data"):
        WarehouseState(home / "data").adopt_legacy()
    summary = NationalSummary(**totals, seconds=time.perf_counter() - started, bytes_on_disk=size, warehouse=str(warehouse))
    months = spec.months()
    manifest = {"preset": "national", **asdict(spec), **asdict(summary), "workers": workers,
                "last_month": f"{months[-1]:%Y-%m}"}
    (home / "truth" / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return summary


class _Printer:
    """A queue-like sink that passes progress lines to a callback (single-process runs)."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress = progress

    def put(self, message: str) -> None:
        if self.progress:
            self.progress(message)
