"""Feature tables for the months training needs: read from `data/features/as_of=YYYY-MM/` when they are
current, else computed from the warehouse and stored there.

A stored table is current when its catalog has this code's feature schema version and fingerprint
(feature definitions, settings and the declarations read) and its counts of past inspections agree
with the inspections given (a table computed before the inspections were imported, or with other
inspections, is recomputed). Without inspections, a stored table is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from core.config import Config
from core.home import Home
from core.months import month_end
from features.build import compute_feature_months, feature_dir, features_fingerprint, load_features, store_features
from features.catalog import FEATURES_SCHEMA_VERSION

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


def expected_past_inspections(inspections: pd.DataFrame | None, as_of: date) -> pd.Series:
    """Inspections per SIRET dated up to the end of the month `as_of` (what the feature counts)."""
    if inspections is None or inspections.empty:
        return pd.Series(dtype="int64")
    known = inspections[pd.to_datetime(inspections["inspection_date"]) <= pd.Timestamp(month_end(as_of))]
    return known.groupby(known["siret"].astype(str)).size()


def is_current(
    table: pd.DataFrame, catalog: dict, inspections: pd.DataFrame | None, as_of: date, fingerprint: str
) -> bool:
    """Whether a stored feature table can be reused: same definitions and declarations (fingerprint),
    and the same inspection history when the inspections are given (when they are not, the stored
    history is kept rather than erased)."""
    if catalog.get("schema_version") != FEATURES_SCHEMA_VERSION or catalog.get("fingerprint") != fingerprint:
        return False
    if inspections is None:
        return True
    expected = expected_past_inspections(inspections, as_of)
    stored = table.set_index(table["siret"].astype(str))["past_inspections"].astype("int64")
    aligned = expected.reindex(stored.index, fill_value=0).astype("int64")
    return bool((aligned == stored).all())


def feature_tables(
    home: Home,
    config: Config,
    months: list[date],
    inspections: pd.DataFrame | None,
    on_month: Callable[[date, str], None] | None = None,
) -> dict[date, pd.DataFrame]:
    """The feature table of each month (as-of first days), reused or computed and stored.

    Months not in the warehouse are skipped (the caller reports the rows that needed them).
    `on_month(month, 'cached'|'computed')` is called as each month is ready.
    """
    from warehouse.sql_engine import open_engine

    available = set(declared_months(home.warehouse))
    tables: dict[date, pd.DataFrame] = {}
    stale: list[date] = []
    with open_engine("duckdb", config, home.duckdb_tmp) as engine:
        for month in months:
            if month not in available:
                continue
            folder = feature_dir(home.data, month)
            catalog_path = folder / "feature_catalog.json"
            if (folder / "features.parquet").exists() and catalog_path.exists():
                table = load_features(home.data, month)
                catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
                fingerprint = features_fingerprint(engine, home.warehouse, month, config)
                if is_current(table, catalog, inspections, month, fingerprint):
                    tables[month] = table
                    if on_month:
                        on_month(month, "cached")
                    continue
                log.info("features as of %s are stale (definitions, declarations or inspections changed): "
                         "recomputing", f"{month:%Y-%m}")
            stale.append(month)
        # The months to compute in one pass (features.build.compute_feature_months), each stored as it comes.
        for computed in compute_feature_months(engine, home.warehouse, stale, config, inspections):
            store_features(computed, home.data, config)
            tables[computed.as_of] = load_features(home.data, computed.as_of)  # the stored form, as scoring will read it
            if on_month:
                on_month(computed.as_of, "computed")
    return {month: tables[month] for month in months if month in tables}
