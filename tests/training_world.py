"""A small synthetic world for the training tests: feature tables stored as the feature stage stores
them, inspections that depend on a hidden risk, and the hidden truth; plus a template MLflow store.

Feature values are random but every column of the catalog is present with the stored types, and the
past-inspection counts agree with the inspections, so training reuses the stored tables as it would
reuse real ones. The fixture `training_world` (conftest.py) gives each test a fresh one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.config import Config
from core.home import Home
from core.months import add_months, months_between
from features.build import (
    EVIDENCE_FILE,
    EVIDENCE_ROW_GROUP_ROWS,
    declaration_digests,
    feature_dir,
    fingerprint_of,
    identity_metadata,
)
from features.catalog import CATEGORICAL, FEATURES, FEATURES_SCHEMA_VERSION, IDENTIFIERS, feature_names
from features.rules import EVIDENCE_COLUMNS
from features.store import inspection_features_of
from warehouse.sql_engine import DuckDBEngine

REGIONS = ("11", "84", "93", "44")
NAFS = ("5610A", "8710A", "4711D", "4120A", "8121Z")


@dataclass(frozen=True)
class World:
    home: Home
    inspections_csv: Path
    truth: Path
    months: list[date]
    inspections: pd.DataFrame


def features_fingerprint(engine: DuckDBEngine, warehouse: Path, as_of: date, config: Config) -> str:
    """The fingerprint of the feature table as of `as_of` from the declarations of `warehouse`, as the feature store
    computes it."""
    return fingerprint_of(as_of, config, declaration_digests(engine, warehouse, as_of))


def _feature_table(rng: np.random.Generator, sirets: np.ndarray, regions: np.ndarray, nafs: np.ndarray,
                   risk: np.ndarray, month: date, inspections: pd.DataFrame, outcome_after_days: int) -> pd.DataFrame:
    n = len(sirets)
    columns: dict[str, object] = {
        "siret": pd.array(sirets, dtype="str"),
        "as_of": pd.Series([pd.Timestamp(month)] * n, dtype="datetime64[us]"),
        "street": pd.array([f"{i + 1} RUE DE RIVOLI" for i in range(n)], dtype="str"),
        "postal_code": pd.array(["75001"] * n, dtype="str"),
        "city": pd.array(["PARIS"] * n, dtype="str"),
        "departement": pd.array(["75"] * n, dtype="str"),
        "declares": np.ones(n, dtype=bool),
        "first_declared_month": pd.Series([pd.NaT] * n, dtype="datetime64[us]"),  # before the warehouse: not known
        "declared_window_bits": np.full(n, 2**12 - 1, dtype="int64"),  # every month of the window declared
        "benchmark_level": pd.array(["naf_region"] * n, dtype="str"),
    }
    for feature in FEATURES:
        if feature.name in CATEGORICAL:
            values = {"naf": nafs, "region_code": regions, "idcc": np.where(nafs == "5610A", "1979", "0843")}[feature.name]
            columns[feature.name] = pd.array(values, dtype="str")
        elif feature.unit in ("count", "months", "days"):
            columns[feature.name] = rng.poisson(2 + 3 * risk).astype("int64")
        else:
            columns[feature.name] = np.round(rng.random(n) * 0.5 + 0.4 * risk, 6)
    columns["n_rule_hits_total"] = rng.poisson(0.3 + 4 * risk).astype("int64")
    columns["precarity_rate_12m_excess"] = np.round(0.5 * risk - 0.2 + 0.2 * rng.standard_normal(n), 6)
    past = inspection_features_of(pd.Series(sirets), inspections, month, outcome_after_days)
    columns["past_inspections"] = past["past_inspections"].astype("int64").to_numpy()
    columns["months_since_last_inspection"] = pd.array(past["months_since_last_inspection"], dtype="Int64")
    columns["last_inspection_found_abuse"] = past["last_inspection_found_abuse"].to_numpy()
    frame = pd.DataFrame(columns)
    return frame[list(IDENTIFIERS) + feature_names()]


def build_world(root: Path, n_establishments: int = 240, first: date = date(2024, 1, 1), n_months: int = 18,
                seed: int = 3, declared_before: int = 0) -> World:
    """Write the world under `root`: home/data/features/as_of=*/ (features, and evidence with no finding), an empty
    warehouse month per month (and per each of the `declared_before` months before `first`), inspections.csv (with two
    bad rows) and truth/establishment_months.parquet. The tables are current for `Config()`."""
    config = Config()
    rng = np.random.default_rng(seed)
    home = Home(root / "home")
    sirets = np.array([f"{10000000000000 + 97 * i:014d}" for i in range(n_establishments)])
    regions = rng.choice(REGIONS, n_establishments, p=[0.4, 0.3, 0.2, 0.1])
    nafs = rng.choice(NAFS, n_establishments)
    base_risk = rng.beta(1, 5, n_establishments)
    months = months_between(first, add_months(first, n_months - 1))
    risks = {m: np.clip(base_risk + 0.05 * rng.standard_normal(n_establishments), 0, 1) for m in months}
    visits = []
    for month in months[1:]:
        risk = risks[add_months(month, -1)]
        chosen = np.flatnonzero(rng.random(n_establishments) < 0.02 + 0.15 * risk)
        for i in chosen:
            day = int(rng.integers(1, 28))
            found = int(rng.random() < 0.05 + 0.9 * risk[i])
            visits.append((sirets[i], pd.Timestamp(month.year, month.month, day), found))
    inspections = pd.DataFrame(visits, columns=["siret", "inspection_date", "abuse_found"])
    engine = DuckDBEngine()
    for month in months_between(add_months(first, -declared_before), add_months(first, -1)):
        (home.warehouse / "declarations" / f"declared_month={month:%Y-%m}").mkdir(parents=True)
    for month in months:
        (home.warehouse / "declarations" / f"declared_month={month:%Y-%m}").mkdir(parents=True, exist_ok=True)
        folder = feature_dir(home.data, month)
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(_feature_table(rng, sirets, regions, nafs, risks[month], month, inspections,
                                                    config.features.outcome_known_after_days), preserve_index=False)
        # The fingerprint the feature store expects for this (empty) warehouse: the tables are current.
        fingerprint = features_fingerprint(engine, home.warehouse, month, config)
        pq.write_table(table.replace_schema_metadata({**table.schema.metadata, **identity_metadata(fingerprint)}),
                       folder / "features.parquet")
        # No finding: the evidence file with its columns, as a month with no potential infraction stores it.
        columns = ", ".join(f"CAST(NULL AS {sql_type}) AS {name}" for name, sql_type in EVIDENCE_COLUMNS)
        engine.write_parquet(f"SELECT {columns}, DATE '{month.isoformat()}' AS as_of LIMIT 0", folder / EVIDENCE_FILE,
                             EVIDENCE_ROW_GROUP_ROWS)
        catalog = {"schema_version": FEATURES_SCHEMA_VERSION, "fingerprint": fingerprint}
        (folder / "feature_catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    engine.close()
    csv = root / "inspections.csv"
    lines = ["siret,inspection_date,abuse_found,inspector"]
    lines += [f"{s},{d:%Y-%m-%d},{a},x" for s, d, a in inspections.itertuples(index=False)]
    lines.insert(3, "1234,2024-03-02,1,x")  # bad SIRET: line 4
    lines.insert(6, f"{sirets[0]},2024-13-01,0,x")  # bad date: line 7
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    truth = root / "truth"
    truth.mkdir()
    records = []
    for month in months:
        latent = risks[month]
        abusing = rng.random(n_establishments) < 0.8 * latent
        records.append(pd.DataFrame({"siret": sirets, "month": pd.Timestamp(month), "abusing": abusing,
                                     "latent_abuse_probability": latent}))
    pd.concat(records).to_parquet(truth / "establishment_months.parquet", index=False)
    return World(home, csv, truth, months, inspections)
