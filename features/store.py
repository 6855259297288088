"""Feature tables for the months training needs: read from `data/features/as_of=YYYY-MM/` when they are
current, else computed from the warehouse and stored there.

A stored table is current when its catalog has this code's feature schema version and fingerprint
(feature definitions, settings and the declarations read) and its features of past inspections (count,
months since the last, its outcome) agree with the inspections given (a table computed before the inspections
were imported, or with other inspections or outcomes, is recomputed). Without inspections, a stored table is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.config import Config
from core.home import Home
from core.months import month_end
from features.build import compute_feature_months, feature_dir, features_fingerprint, load_features, store_features
from features.catalog import FEATURES_SCHEMA_VERSION

if TYPE_CHECKING:
    from warehouse.sql_engine import SqlEngine

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


def expected_inspection_features(inspections: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    """Per SIRET inspected up to the end of the month `as_of`, the three features `features.build.INSPECTIONS_SQL`
    gives: how many inspections, months from the last one to the month (calendar months), and whether the last one
    found abuse (of two on the last day, if either did)."""
    if inspections is None or inspections.empty:
        return pd.DataFrame(columns=list(INSPECTION_FEATURES), dtype="float64")
    end = pd.Timestamp(month_end(as_of))
    days = pd.to_datetime(inspections["inspection_date"])
    known = pd.DataFrame({"siret": inspections["siret"].astype(str), "day": days,
                          "found": inspections["abuse_found"].astype("int64")})[days <= end]
    last = known.sort_values(["siret", "day", "found"]).groupby("siret").last()
    return pd.DataFrame({
        "past_inspections": known.groupby("siret").size().astype("float64"),
        "months_since_last_inspection": (end.year * 12 + end.month
                                         - (last["day"].dt.year * 12 + last["day"].dt.month)).astype("float64"),
        "last_inspection_found_abuse": last["found"].astype("float64"),
    })


def is_current(
    table: pd.DataFrame, catalog: dict, inspections: pd.DataFrame | None, as_of: date, fingerprint: str
) -> bool:
    """Whether a stored feature table can be reused: same definitions and declarations (fingerprint),
    and the same inspection history when the inspections are given: counts, months since the last one and its
    outcome (a corrected outcome makes the table stale). When they are not given, the stored history is kept
    rather than erased."""
    if catalog.get("schema_version") != FEATURES_SCHEMA_VERSION or catalog.get("fingerprint") != fingerprint:
        return False
    if inspections is None:
        return True
    sirets = table["siret"].astype(str)
    expected = expected_inspection_features(inspections, as_of).reindex(sirets)
    expected["past_inspections"] = expected["past_inspections"].fillna(0.0)
    return all(np.array_equal(table[name].to_numpy(dtype="float64", na_value=np.nan),
                              expected[name].to_numpy(dtype="float64"), equal_nan=True)
               for name in INSPECTION_FEATURES)


def _file_identity(path: Path) -> tuple[int, int, int]:
    """What changes when a file is replaced or rewritten: its inode, size and modification time."""
    found = path.stat()
    return found.st_ino, found.st_size, found.st_mtime_ns


class StoredFeatures(Mapping[date, pd.DataFrame]):
    """The current feature tables of some months, each read from its file when asked for.

    A national month's table holds 1.8 M establishments (1.16 GB in pandas): a caller going through the 24 months
    of a retraining holds one month at a time, never all of them. Each file must still be the one found current:
    one replaced meanwhile (another run, with other inspections) is refused rather than mixed in.
    """

    def __init__(self, data: Path, files: Mapping[date, tuple[int, int, int]]):
        self._data = data
        self._files = dict(sorted(files.items()))

    def __getitem__(self, month: date) -> pd.DataFrame:
        if month not in self._files:
            raise KeyError(month)
        path = feature_dir(self._data, month) / "features.parquet"
        table = load_features(self._data, month)
        if not path.exists() or _file_identity(path) != self._files[month]:
            raise RuntimeError(f"{path}: replaced by another run since it was found current; run again")
        return table

    def __contains__(self, month: object) -> bool:
        return month in self._files

    def __iter__(self) -> Iterator[date]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def _current_file(engine: SqlEngine, home: Home, config: Config, month: date,
                  inspections: pd.DataFrame | None) -> tuple[int, int, int] | None:
    """The identity of the month's stored feature file if it is current (`is_current`, read on the SIRETs and the
    inspection features only), else None."""
    folder = feature_dir(home.data, month)
    path, catalog_path = folder / "features.parquet", folder / "feature_catalog.json"
    if not (path.exists() and catalog_path.exists()):
        return None
    identity = _file_identity(path)
    table = pq.read_table(path, columns=["siret", *INSPECTION_FEATURES]).to_pandas()
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
    if is_current(table, catalog, inspections, month, features_fingerprint(engine, home.warehouse, month, config)):
        return identity
    log.info("features as of %s are stale (definitions, declarations or inspections changed): recomputing",
             f"{month:%Y-%m}")
    return None


def feature_tables(
    home: Home,
    config: Config,
    months: list[date],
    inspections: pd.DataFrame | None,
    on_month: Callable[[date, str], None] | None = None,
) -> StoredFeatures:
    """The feature table of each month (as-of first days), reused or computed and stored; read when asked for,
    in the order of the months.

    Months not in the warehouse are skipped (the caller reports the rows that needed them).
    `on_month(month, 'cached'|'computed')` is called as each month is ready.
    """
    from warehouse.sql_engine import open_engine

    available = set(declared_months(home.warehouse))
    files: dict[date, tuple[int, int, int]] = {}
    stale: list[date] = []
    with open_engine("duckdb", config, home.duckdb_tmp) as engine:
        for month in months:
            if month not in available:
                continue
            identity = _current_file(engine, home, config, month, inspections)
            if identity is not None:
                files[month] = identity
                if on_month:
                    on_month(month, "cached")
                continue
            stale.append(month)
        # The months to compute in one pass (features.build.compute_feature_months), each stored as it comes.
        for computed in compute_feature_months(engine, home.warehouse, stale, config, inspections):
            folder = store_features(computed, home.data, config)
            files[computed.as_of] = _file_identity(folder / "features.parquet")  # read in its stored form, as scoring
            if on_month:
                on_month(computed.as_of, "computed")
            del computed  # not held while the next month is computed
    return StoredFeatures(home.data, {month: files[month] for month in months if month in files})
