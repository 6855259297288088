"""Feature tables for the months training needs: read from `data/features/as_of=YYYY-MM/` when they are
current, else computed from the warehouse and stored there.

A stored table is current when its catalog and its file agree with this code's feature schema version and
fingerprint (feature definitions, settings and the declarations read) and its features of past inspections (count,
months since the last, its outcome) agree with the inspections given. Without inspections, a stored table is kept.
A table whose past-inspection features alone disagree (computed before inspections were imported, or with other
inspections or outcomes) is brought up to date rather than computed again: nothing else in it depends on them.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import suppress
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic_files import replaced_when_written, write_text_whole
from core.config import Config
from core.home import Home
from core.months import month_end
from features.build import (
    EVIDENCE_FILE,
    compute_feature_months,
    declaration_digests,
    feature_dir,
    fingerprint_of,
    identity_agrees,
    month_lock,
    read_evidence,
    read_features_file,
    store_features,
)
from features.catalog import FEATURES_SCHEMA_VERSION
from warehouse.arrivals import FilesKnown, files_known
from warehouse.engine import published_version
from warehouse.inspections import outcome_known_on, typed_inspections

log = logging.getLogger("champollion.training")


def declared_months(warehouse: Path) -> list[date]:
    """Months with declarations in the warehouse (first days, sorted)."""
    folder = warehouse / "declarations"
    months = []
    for path in folder.glob("declared_month=*"):
        try:
            year, month = path.name.split("=", 1)[1].split("-")
            months.append(date(int(year), int(month), 1))
        except ValueError:
            continue
    return sorted(months)


INSPECTION_FEATURES = ("past_inspections", "months_since_last_inspection", "last_inspection_found_abuse")
# The Arrow types a computation stores them with (`features.build.INSPECTIONS_SQL` on DuckDB): a stored table holding
# them with other types (older code, another engine) is computed again rather than brought up to date.
INSPECTION_TYPES = (pa.int64(), pa.int64(), pa.float64())


def expected_inspection_features(inspections: pd.DataFrame | None, as_of: date, outcome_after_days: int) -> pd.DataFrame:
    """Per SIRET inspected up to the end of the month `as_of`, the three features `features.build.INSPECTIONS_SQL`
    gives: how many inspections, months from the last one to the month (calendar months), and whether the last one
    whose outcome was known by then (`outcome_after_days` after its day) found abuse (of two on that day, if either
    did; missing when no outcome was known)."""
    if inspections is None or inspections.empty:
        return pd.DataFrame(columns=list(INSPECTION_FEATURES), dtype="float64")
    end = pd.Timestamp(month_end(as_of))
    days = pd.to_datetime(inspections["inspection_date"]).dt.normalize()  # the day, as the SQL casts it to a DATE
    visits = pd.DataFrame({"siret": inspections["siret"].astype(str), "day": days,
                           "found": inspections["abuse_found"].astype("int64"),
                           "outcome_known": outcome_known_on(days, outcome_after_days) <= end})[days <= end]
    last = visits.groupby("siret")["day"].max()
    outcomes = visits[visits["outcome_known"]].sort_values(["siret", "day", "found"]).groupby("siret")["found"].last()
    return pd.DataFrame({
        "past_inspections": visits.groupby("siret").size().astype("float64"),
        "months_since_last_inspection": (end.year * 12 + end.month - (last.dt.year * 12 + last.dt.month)).astype("float64"),
        "last_inspection_found_abuse": outcomes.reindex(last.index).astype("float64"),
    })


def is_current(
    table: pd.DataFrame, catalog: dict, inspections: pd.DataFrame | None, as_of: date, fingerprint: str,
    outcome_after_days: int,
) -> bool:
    """Whether a stored feature table can be reused: same definitions and declarations (fingerprint),
    and the same inspection history when the inspections are given: counts, months since the last one and its
    outcome (a corrected outcome makes the table stale). When they are not given, the stored history is kept
    rather than erased."""
    return made_from(catalog, fingerprint) and inspections_agree(table, inspections, as_of, outcome_after_days)


def made_from(catalog: dict, fingerprint: str) -> bool:
    """Whether a stored month's catalog names this code's feature schema version and `fingerprint`."""
    return bool(catalog.get("schema_version") == FEATURES_SCHEMA_VERSION and catalog.get("fingerprint") == fingerprint)


def inspections_agree(table: pd.DataFrame, inspections: pd.DataFrame | None, as_of: date,
                       outcome_after_days: int) -> bool:
    """Whether the past-inspection features of `table` (its SIRETs and `INSPECTION_FEATURES`) are those of
    `inspections` as of the month; always, when the inspections are not given."""
    if inspections is None:
        return True
    return _same_inspection_features(table, inspection_features_of(table["siret"].astype(str), inspections, as_of,
                                                                   outcome_after_days))


def _same_inspection_features(table: pd.DataFrame, expected: pd.DataFrame) -> bool:
    return all(np.array_equal(table[name].to_numpy(dtype="float64", na_value=np.nan),
                              expected[name].to_numpy(dtype="float64"), equal_nan=True)
               for name in INSPECTION_FEATURES)


def inspection_features_of(sirets: pd.Series, inspections: pd.DataFrame | None, as_of: date,
                           outcome_after_days: int) -> pd.DataFrame:
    """`expected_inspection_features` of each of `sirets`, in their order (no inspection: 0 inspections, the other
    two missing), as floats."""
    expected = expected_inspection_features(inspections, as_of, outcome_after_days).reindex(sirets)
    expected["past_inspections"] = expected["past_inspections"].fillna(0.0)
    return expected


class StoredFeatures(Mapping[date, pd.DataFrame]):
    """The current feature tables of some months, each read from its file when asked for, in the order of the months,
    with the rule evidence computed with each (`evidence`).

    A national month's table holds 1.8 M establishments (1.16 GB in pandas): a caller going through the 24 months
    of a retraining holds one month at a time, never all of them. Each month's two files read are the ones found
    current (or just computed) together, kept open from that moment (closed with this object): another run storing
    the month again meanwhile, with other inspections or settings, changes neither what is read nor the run, and a
    month's evidence is always that of its features.
    """

    def __init__(self, months: list[date], declared: Collection[date] = (), files: FilesKnown | None = None):
        self._months = list(months)
        # The months the published version of the warehouse they were checked against (or computed from) declares,
        # and its files (`warehouse.arrivals.files_known`; None: not known).
        self.declared = tuple(sorted(declared))
        self.files = files
        self._files: dict[date, tuple[int, int]] = {}
        weakref.finalize(self, _close_all, self._files)

    def hold(self, month: date, features: int, evidence: int) -> None:
        """Keep the open files (descriptors) of a month's table and evidence: this object closes them."""
        if month in self._files:
            _close(self._files.pop(month))
        self._files[month] = (features, evidence)

    def open(self, month: date, features: Path, evidence: Path) -> None:
        """Open the files at `features` and `evidence` as the month's table and evidence, and keep them (`hold`)."""
        held = os.open(features, os.O_RDONLY)
        try:
            self.hold(month, held, os.open(evidence, os.O_RDONLY))
        except BaseException:
            os.close(held)
            raise

    def _source(self, month: date, which: int = 0) -> str:
        if month not in self._files:
            raise KeyError(month)
        return f"/proc/self/fd/{self._files[month][which]}"  # the file held open (Linux), whatever its path holds now

    def rows(self, month: date) -> int:
        """How many establishments the month's table holds, read from its file's metadata."""
        return pq.ParquetFile(self._source(month)).metadata.num_rows

    def sirets(self, month: date) -> pd.Series:
        """The SIRETs of the month's table, in its order (text; its one column read)."""
        return pq.read_table(self._source(month), columns=["siret"]).column("siret").to_pandas().astype(str)

    def take(self, month: date, rows: np.ndarray) -> pd.DataFrame:
        """The rows at positions `rows` of the month's table: `self[month].iloc[rows]`, indexed from 0. The others stay
        in Arrow, never made pandas (a national month read whole took 3.8-4.1 s, a thousandth of it 0.9-1.2 s)."""
        return pq.read_table(self._source(month)).take(pa.array(rows, pa.int64())).to_pandas(date_as_object=False)

    def evidence(self, month: date, among: Collection[str] | None = None, siret: str | None = None) -> pd.DataFrame:
        """The rule evidence computed with the month's table (`features.build.read_evidence`), of the establishments
        `among`, or of the one `siret`, if given."""
        return read_evidence(Path(self._source(month, 1)), siret, among)

    def __getitem__(self, month: date) -> pd.DataFrame:
        return read_features_file(Path(self._source(month)))

    def __contains__(self, month: object) -> bool:
        return month in self._files

    def __iter__(self) -> Iterator[date]:
        return (month for month in self._months if month in self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __reduce__(self) -> str | tuple:
        raise TypeError("StoredFeatures holds open files: it cannot be copied or pickled")


def _close(files: tuple[int, ...]) -> None:
    for file in files:
        with suppress(OSError):
            os.close(file)


def _close_all(files: dict[date, tuple[int, int]]) -> None:
    for pair in files.values():
        _close(pair)
    files.clear()


def stored_as_they_are(data: Path, month: date) -> StoredFeatures:
    """The month's stored features and evidence as they are, without checking them current (what the web
    application shows), opened together under the month's shared lock (`features.build.month_lock`): never one
    store's features beside another's evidence. FileNotFoundError when the month is not stored, or a store is under
    way (its catalog removed)."""
    folder = feature_dir(data, month)
    tables = StoredFeatures([month])
    with month_lock(folder, shared=True):
        if not (folder / "feature_catalog.json").exists():
            raise FileNotFoundError(f"{folder}: no features stored for {month:%Y-%m} (or being stored); run "
                                    f"`champollion features --as-of {month:%Y-%m}`")
        tables.open(month, folder / "features.parquet", folder / EVIDENCE_FILE)
    return tables


def _open_if_current(home: Home, month: date, inspections: pd.DataFrame | None, fingerprint: str,
                     outcome_after_days: int) -> tuple[int, int] | Literal["inspections"] | None:
    """The month's stored feature file and rule evidence, opened, if they are current (`is_current`); "inspections"
    when only their past-inspection features disagree with `inspections` (`_refresh_inspection_features` brings
    them up to date); else None. Its catalog is read and the files opened under the month's shared lock
    (`features.build.month_lock`): a store under way, or killed, has removed the catalog, and the two files opened are
    those one store put in place. The feature file must agree with the fingerprint (`features.build.identity_agrees`),
    and its inspection features with `inspections`, both read from the file opened; the evidence must be readable. A
    file missing, unreadable, or of another schema, is computed again. `fingerprint`: the month's
    `features.build.fingerprint_of`, from the published version read."""
    folder = feature_dir(home.data, month)
    path, evidence = folder / "features.parquet", folder / EVIDENCE_FILE
    if not path.exists():
        return None
    files: list[int] = []
    reading = folder / "feature_catalog.json"
    found: Literal["inspections"] | None = None
    try:
        with month_lock(folder, shared=True):
            catalog = json.loads(reading.read_text(encoding="utf-8"))
            if not isinstance(catalog, dict):
                raise ValueError("not a JSON object")
            reading = path
            files.append(os.open(path, os.O_RDONLY))
            reading = evidence
            files.append(os.open(evidence, os.O_RDONLY))
        pq.read_schema(f"/proc/self/fd/{files[1]}")  # the evidence whole: its footer read
        reading = path
        source, columns = f"/proc/self/fd/{files[0]}", ["siret", *INSPECTION_FEATURES]
        schema = pq.read_schema(source)
        if identity_agrees(schema, fingerprint) and set(columns) <= set(schema.names) and made_from(catalog, fingerprint):
            if inspections_agree(pq.read_table(source, columns=columns).to_pandas(), inspections, month,
                                 outcome_after_days):
                return files[0], files[1]
            found = "inspections"
        else:
            log.info("features as of %s are stale (definitions or declarations changed): recomputing", f"{month:%Y-%m}")
    except FileNotFoundError:
        log.info("features as of %s are incomplete (%s missing: a store under way, or killed): recomputing",
                 f"{month:%Y-%m}", reading)
    except (OSError, ValueError, pa.ArrowException) as error:
        log.warning("%s cannot be read (%s): computing the month again", reading, str(error))
    except BaseException:
        _close(tuple(files))
        raise
    _close(tuple(files))
    return found


def _refresh_inspection_features(home: Home, month: date, inspections: pd.DataFrame, fingerprint: str,
                                 tables: StoredFeatures, outcome_after_days: int) -> bool:
    """Put in place of the month's stored table the same table with its past-inspection features
    (`INSPECTION_FEATURES`) those of `inspections`, and open it with the stored evidence as the month's (`tables`);
    False, with nothing changed, when the stored month no longer agrees with the definitions and declarations (another
    run stored it meanwhile) or cannot be read: it is then computed. A table another run brought up to date meanwhile
    is opened as it is.

    Nothing else in a table depends on the inspections (its fingerprint reads the definitions and the declarations),
    so the table is the one a computation would store (tests/test_feature_store.py): the inspections imported since a
    month was stored cost a read and a write of its table, where computing a national month takes minutes. The
    table is replaced whole under the month's lock, its evidence kept, then its catalog written again with the time of
    the refresh."""
    folder = feature_dir(home.data, month)
    path, evidence = folder / "features.parquet", folder / EVIDENCE_FILE
    with month_lock(folder):
        try:
            catalog = json.loads((folder / "feature_catalog.json").read_text(encoding="utf-8"))
            stored = pq.read_table(path)
            pq.read_schema(evidence)
        except (OSError, ValueError, pa.ArrowException) as error:
            log.info("features as of %s cannot be brought up to date (%s): recomputing", f"{month:%Y-%m}", error)
            return False
        if not (isinstance(catalog, dict) and made_from(catalog, fingerprint)
                and identity_agrees(stored.schema, fingerprint)
                and [stored.schema.field(name).type if name in stored.schema.names else None
                     for name in INSPECTION_FEATURES] == list(INSPECTION_TYPES)):
            return False
        expected = inspection_features_of(stored.column("siret").to_pandas().astype(str), inspections, month,
                                          outcome_after_days)
        if _same_inspection_features(stored.select(list(INSPECTION_FEATURES)).to_pandas(), expected):
            tables.open(month, path, evidence)  # another run brought them up to date meanwhile
            return True
        for name, kind in zip(INSPECTION_FEATURES, INSPECTION_TYPES, strict=True):
            index = stored.schema.get_field_index(name)
            stored = stored.set_column(index, stored.schema.field(index),
                                       pa.array(expected[name].to_numpy(), from_pandas=True).cast(kind))
        with replaced_when_written(path) as temp:
            pq.write_table(stored, temp, compression="zstd")
            tables.open(month, temp, evidence)
        # The catalog written again, last: what the web application watches to read a month again (`web.data`).
        catalog["inspection_features_refreshed_at"] = datetime.now().isoformat(timespec="seconds")
        write_text_whole(folder / "feature_catalog.json", json.dumps(catalog, ensure_ascii=False, indent=2))
    log.info("features as of %s: past inspections brought up to date (%d establishments inspected by then)",
             f"{month:%Y-%m}", int((expected["past_inspections"] > 0).sum()))
    return True


def feature_tables(
    home: Home,
    config: Config,
    months: list[date],
    inspections: pd.DataFrame | None,
    on_month: Callable[[date, str], None] | None = None,
) -> StoredFeatures:
    """The feature table of each month (as-of first days), reused or computed and stored; read when asked for,
    in the order of the months.

    Months not in the warehouse are skipped (the caller reports the rows that needed them). `inspections` are typed
    first (`warehouse.inspections.typed_inspections`: a ValueError names a row that cannot be).
    `on_month(month, 'cached'|'refreshed'|'computed')` is called as each month is ready ('refreshed': its
    past-inspection features brought up to date, `_refresh_inspection_features`).
    """
    from warehouse.sql_engine import open_engine

    if inspections is not None:
        inspections = typed_inspections(inspections)
    outcome_after_days = config.features.outcome_known_after_days
    # One published version of the warehouse for the whole call: the months checked and those computed are
    # fingerprinted from the declarations they are computed from, whatever an ingestion publishes meanwhile.
    version = published_version(home.warehouse)
    available = set(declared_months(version))
    wanted = [month for month in dict.fromkeys(months) if month in available]
    tables = StoredFeatures(wanted, declared=available, files=files_known(version))
    stale: list[date] = []
    if not wanted:
        return tables
    with open_engine("duckdb", config, home.duckdb_tmp) as engine:
        # The declarations read once for every month's fingerprint: checking 11 stored national months took 30.9 s with
        # a scan for each, 12.0 s with one.
        digests = declaration_digests(engine, version, max(wanted))
        for month in wanted:
            fingerprint = fingerprint_of(month, config, digests)
            files = _open_if_current(home, month, inspections, fingerprint, outcome_after_days)
            if files == "inspections" and inspections is not None:
                if _refresh_inspection_features(home, month, inspections, fingerprint, tables, outcome_after_days):
                    if on_month:
                        on_month(month, "refreshed")
                    continue
                files = None
            if not isinstance(files, tuple):
                stale.append(month)
                continue
            tables.hold(month, *files)
            if on_month:
                on_month(month, "cached")
        # The months to compute in one pass (features.build.compute_feature_months), each stored as it comes.
        for computed in compute_feature_months(engine, version, stale, config, inspections, digests=digests):
            store_features(computed, home.data, config, on_written=partial(tables.open, computed.as_of,
                                                                          evidence=computed.evidence_file))
            if on_month:
                on_month(computed.as_of, "computed")
            del computed  # not held while the next month is computed
    return tables
