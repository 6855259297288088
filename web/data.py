"""What the pages show, read from the home: the month's lists and, for one establishment, its explanation.

A page never computes features or scores: the list's line (score, ranks, reasons) is read from
`lists/YYYY-MM/ranked.csv` as the monthly run wrote it, the SHAP breakdown comes from the same model
version on the stored feature table, and the contracts are rebuilt for this establishment only
(`month_contracts`), by engines that keep the warehouse attached (`AttachedEngines`). The month's ranked
lines, feature table and sector medians are kept for the files they were read from (a month scored or its
features computed again is read again, with no restart: `FileStamp`), the models by version; the temp-work
agencies by user establishment are kept for the warehouse version they were read from, and read again after a
publish.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from web.project import (
    FEATURES,
    Config,
    DuckDBEngine,
    Explanation,
    Home,
    ListInputs,
    SectorBenchmarks,
    StoredFeatures,
    as_drawn_up,
    declared_months,
    explain_line,
    feature_dir,
    format_value,
    group_evidence,
    kept_explains,
    list_declared,
    list_inputs_folder,
    list_knowledge,
    lists_folder,
    load_inspections,
    load_model,
    month_contracts,
    placing_agencies,
    published_version,
    read_list_inputs,
    read_ranking,
    refuse_other_settings,
    stale_notice,
    stored_as_they_are,
    timeline_png,
)

SORTS = {
    "position": (["list_position"], [True]),
    "score": (["score", "list_position"], [False, True]),
    "departement": (["departement", "list_position"], [True, True]),
    "naf": (["naf", "list_position"], [True, True]),
}
# Explanations kept for the page's picture and printable text (and a page opened again).
EXPLAINED_KEPT = 32
# Features shown in the sector comparison, by weight in the establishment's score.
COMPARED_FEATURES = 10
# Those that are comparisons with the sector already (its median, the gap to it): beside their own median they would
# read « 73 % / 73 % ».
_SECTOR_COMPARISONS = frozenset(f.name for f in FEATURES if f.family == "benchmarks")
# What identifies one writing of a file: its modification time (ns) and size; None when it is absent.
FileStamp = tuple[int, int] | None
# A stored month's catalog's and feature table's (`HomeData._features_stamp`).
FeaturesStamp = tuple[FileStamp, FileStamp]


def file_stamp(path: Path) -> FileStamp:
    """`path`'s modification time and size (the files the pages read are replaced whole:
    `core.atomic_files`), None when it does not exist."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


def list_months(home: Home) -> list[date]:
    """Months with a drawn-up list (lists/YYYY-MM/ranked.csv), latest first."""
    months = []
    for folder in home.lists.glob("*-*"):
        try:
            month = datetime.strptime(folder.name, "%Y-%m").date()
        except ValueError:
            continue
        if (folder / "ranked.csv").exists():
            months.append(month)
    return sorted(months, reverse=True)


@dataclass(frozen=True)
class MonthFeatures:
    """A month's stored feature table, the position of each SIRET in it and the sector medians; `files` holds the
    stored table and its rule evidence open (None: what a list kept of the lines it explained)."""

    table: pd.DataFrame
    positions: dict[str, int]
    benchmarks: SectorBenchmarks
    files: StoredFeatures | None = None


@dataclass(frozen=True)
class ListFilters:
    """The filters and order of a list page (empty: no filter)."""

    departement: str = ""
    naf: str = ""
    reason: str = ""
    exploration: str = ""  # "", "oui", "non"
    sort: str = "position"


@dataclass(frozen=True)
class EstablishmentView:
    """Everything an establishment's page shows (no person key: persons are « salarié N »)."""

    explanation: Explanation
    groups: list[Any]  # scoring.evidence_groups.EvidenceGroup, each with its contracts (« contracts » below)
    group_contracts: list[pd.DataFrame]
    comparison: pd.DataFrame  # label_fr, shown, benchmark_shown, level_fr, contribution
    inspections: pd.DataFrame  # siret, inspection_date, abuse_found: what training reads


class AttachedEngines:
    """DuckDB engines with the published version of a warehouse attached, kept from one page to the next:
    attaching the national warehouse (a view per table over thousands of Parquet files) costs more than
    reading one establishment's contracts. An engine serves one request at a time; engines of a version
    no longer published (a recorded control publishes a new one) are closed. Each spills to a folder of its
    own under `spill_root`."""

    def __init__(self, warehouse: Path, spill_root: Path) -> None:
        self.warehouse = warehouse
        self.spill_root = spill_root
        self._lock = threading.Lock()
        self._idle: list[tuple[Path, DuckDBEngine]] = []

    @contextmanager
    def engine(self) -> Iterator[tuple[Path, DuckDBEngine]]:
        """The version published now and an engine attached to it (its files stay while an engine holds it: idle engines
        of a version no longer published are closed here, by the next page)."""
        version = published_version(self.warehouse)
        with self._lock:
            stale = [engine for attached, engine in self._idle if attached != version]
            self._idle = [(attached, engine) for attached, engine in self._idle if attached == version]
            engine = self._idle.pop()[1] if self._idle else None
        for old in stale:
            old.close()
        try:
            if engine is None:
                engine = DuckDBEngine.spilling_to(self.spill_root)
                engine.con.execute("SET parquet_metadata_cache = true")
                # The version published now, held: a later one than looked up above if two publications deleted it
                version = engine.attach_warehouse(self.warehouse)
            yield version, engine
        except BaseException:
            if engine is not None:
                engine.close()
            raise
        with self._lock:
            self._idle.append((version, engine))

    def close(self) -> None:
        """Close the idle engines."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, engine in idle:
            engine.close()


class HomeData:
    """The home's lists, feature tables and models, loaded on first use and kept (thread-safe)."""

    def __init__(self, home: Home, config: Config, model_home: Home | None = None) -> None:
        self.home = home
        self.config = config
        self.model_home = model_home or home  # whose registry holds the models
        self._lock = threading.Lock()
        self._ranked: dict[date, tuple[FileStamp, pd.DataFrame]] = {}  # month -> (ranked.csv's stamp, lines)
        self._features: dict[date, tuple[FeaturesStamp, MonthFeatures]] = {}  # month -> (files' stamps, table)
        self._inputs: dict[date, tuple[FileStamp, ListInputs | None]] = {}  # month -> (stamp, what its list kept)
        self._models: dict[str, Any] = {}
        self._agencies: dict[date, tuple[Path, pd.DataFrame]] = {}  # month -> (warehouse version, agencies)
        # (month, SIRET, stamps of the list, feature table and kept inputs it was explained from, warehouse version its
        # contracts were read from) -> explanation
        self._explained: OrderedDict[tuple[date, str, FileStamp, FeaturesStamp, FileStamp, Path],
                                     tuple[Explanation, MonthFeatures]] = OrderedDict()
        self.engines = AttachedEngines(home.warehouse, home.duckdb_tmp)

    def ranked(self, month: date) -> pd.DataFrame:
        """The month's ranked.csv, one row per scored establishment, indexed by SIRET (read again when the month
        was scored again)."""
        path = lists_folder(self.home, month) / "ranked.csv"
        with self._lock:
            stamp = file_stamp(path)
            kept = self._ranked.get(month)
            if kept is None or kept[0] != stamp:
                if stamp is None:
                    raise FileNotFoundError(f"no list for {month:%Y-%m}: {path}")
                kept = self._ranked[month] = (stamp, read_ranking(path).set_index("siret", drop=False))
            return kept[1]

    def features(self, month: date, model_features: list[str]) -> MonthFeatures:
        """The month's stored feature table and sector medians (read again when they were computed again, or their
        past-inspection features brought up to date: `_features_stamp`)."""
        with self._lock:
            stamp = self._features_stamp(month)
            kept = self._features.get(month)
            if kept is None or kept[0] != stamp:
                files = stored_as_they_are(self.home.data, month)
                table = files[month].reset_index(drop=True)
                positions = {s: i for i, s in enumerate(table["siret"].astype(str))}
                benchmarks = SectorBenchmarks.of(table, model_features, self.config.features.benchmark_min_group)
                kept = self._features[month] = (stamp, MonthFeatures(table, positions, benchmarks, files))
            return kept[1]

    def list_inputs(self, month: date) -> ListInputs | None:
        """What the month's list kept of the establishments it explained (`scoring.list_inputs`), None when it kept
        nothing (read again when the list was drawn up again)."""
        with self._lock:
            stamp = file_stamp(list_inputs_folder(self.home, month) / "inputs.json")
            kept = self._inputs.get(month)
            if kept is None or kept[0] != stamp:
                kept = self._inputs[month] = (stamp, read_list_inputs(self.home, month) if stamp is not None else None)
            return kept[1]

    def _features_stamp(self, month: date) -> FeaturesStamp:
        """The stamps of the month's catalog and feature table: a computation writes the catalog last, a refresh of
        the past-inspection features (`features.store`) the table first (a run killed between the two leaves the
        catalog as it was)."""
        folder = feature_dir(self.home.data, month)
        return file_stamp(folder / "feature_catalog.json"), file_stamp(folder / "features.parquet")

    def model(self, version: str) -> Any:
        with self._lock:
            if version not in self._models:
                # Not refused for other settings here: a line its list explained reads only what the list kept.
                self._models[version] = load_model(self.model_home, self.config, version, settings_checked=False)[0]
            return self._models[version]

    def agencies(self, month: date, version: Path, engine: DuckDBEngine) -> pd.DataFrame:
        """The month's temp-work agencies by user establishment (`placing_agencies`) in the warehouse `version`
        that `engine` has attached: kept until another version is published."""
        with self._lock:
            kept = self._agencies.get(month)
            if kept is None or kept[0] != version:
                kept = self._agencies[month] = (version, placing_agencies(engine, month, self.config.features))
            return kept[1]

    def warm(self, month: date) -> None:
        """Load the month's ranked lines, what its list kept of the lines it explained (else the month's feature
        table and sector medians), model and temp-work agencies, attach an engine to the warehouse, and open the
        first listed establishment (its explanation and timeline picture: the first use of SHAP and of the
        picture's fonts), ahead of the first page."""
        ranked = self.ranked(month)
        if len(ranked) and self.list_inputs(month) is None:
            self.features(month, self.model(str(ranked["model_version"].iloc[0])).features)
        with self.engines.engine() as (version, engine):
            self.agencies(month, version, engine)
        listed = ranked.index[ranked["in_list"]]
        if len(listed):
            timeline_png(self.establishment(month, str(listed[0])).explanation)

    def region_lines(self, month: date, region_code: str, filters: ListFilters) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The region's listed lines with the filters and order applied, and the lines that left the list."""
        ranked = self.ranked(month)
        region = ranked[ranked["region_code"] == region_code]
        lines = region[region["in_list"]]
        if filters.departement:
            lines = lines[lines["departement"] == filters.departement]
        if filters.naf:
            lines = lines[lines["naf"].str.upper().str.startswith(filters.naf.strip().upper())]
        if filters.reason:
            features = lines[[c for c in lines.columns if c.endswith("_feature")]]
            lines = lines[(features == filters.reason).any(axis=1)]
        if filters.exploration in ("oui", "non"):
            lines = lines[lines["exploration"] == (filters.exploration == "oui")]
        by, ascending = SORTS.get(filters.sort, SORTS["position"])
        return lines.sort_values(by, ascending=ascending, kind="mergesort"), region[region["change"] == "left"]

    def establishment(self, month: date, siret: str) -> EstablishmentView:
        """Explain one establishment of the month's ranked lines (the last EXPLAINED_KEPT explanations are kept:
        the page's picture and printable text reuse its explanation). Raises LookupError when it was not scored."""
        key = (month, siret, file_stamp(lists_folder(self.home, month) / "ranked.csv"), self._features_stamp(month),
               file_stamp(list_inputs_folder(self.home, month) / "inputs.json"), published_version(self.home.warehouse))
        with self._lock:
            kept = self._explained.get(key)
        explanation, features = kept if kept is not None else self._explain(month, siret)
        with self._lock:
            self._explained[key] = (explanation, features)
            self._explained.move_to_end(key)
            while len(self._explained) > EXPLAINED_KEPT:
                self._explained.popitem(last=False)
        groups = group_evidence(explanation.evidence) if not explanation.evidence.empty else []
        timeline = explanation.contracts
        group_contracts = [timeline[timeline["contract_no"].isin(g.rows["contract_no"].dropna().astype(int))]
                           for g in groups]
        row = features.table.iloc[features.positions[siret]]
        return EstablishmentView(explanation, groups, group_contracts, _comparison(explanation, row, features.benchmarks),
                                 self.inspections(siret))

    def _explain(self, month: date, siret: str) -> tuple[Explanation, MonthFeatures]:
        ranked = self.ranked(month)
        if siret not in ranked.index:
            raise LookupError(f"SIRET {siret} was not scored in {month:%Y-%m}")
        line = ranked.loc[siret]
        model = self.model(str(line["model_version"]))
        kept = self.list_inputs(month)
        as_listed = kept is not None and kept_explains(kept, model, str(line["model_version"]), siret, line)
        if as_listed:
            # A line the list explained: from what the list kept of it, whatever was computed since.
            assert kept is not None
            features = MonthFeatures(kept.features, kept.positions, kept.benchmarks)
            evidence = kept.evidence_of(siret)
        else:
            # Today's features: computed with other settings than it learned from, they are refused.
            refuse_other_settings(model, str(line["model_version"]), self.config)
            features = self.features(month, model.features)
            if siret not in features.positions:
                raise LookupError(f"SIRET {siret} is not in the stored feature table of {month:%Y-%m}")
            assert features.files is not None  # a table read from the store holds its files
            evidence = features.files.evidence(month, siret=siret)
        with self.engines.engine() as (version, engine):
            agencies = self.agencies(month, version, engine)
            # A line the list explained: its contracts as the list knew them (`scoring.explain.month_contracts`).
            knew = list_knowledge(kept, siret, evidence) if as_listed and kept is not None else None
            known = month_contracts(self.home, self.config, month, siret, engine, agencies, knew, version)
            # The months without DSN as the list knew them, when it explained the line from what it kept.
            declared = list_declared(kept if as_listed else None, declared_months(version))
        region_count = int((ranked["region_code"] == line["region_code"]).sum())
        explanation = explain_line(model, str(line["model_version"]), features.table, features.positions[siret], line,
                                   evidence, known.contracts, month, as_drawn_up(self.config, kept), features.benchmarks,
                                   region_count, len(ranked), declared)
        notice = stale_notice(model, features.table, siret, line, month)  # the list's line, other contributions
        return replace(explanation, notice=notice, timeline_note=known.note, timeline_today=known.today), features

    def inspections(self, siret: str) -> pd.DataFrame:
        """The establishment's controls in the inspections store (imported and recorded), latest first."""
        stored = load_inspections(self.home.warehouse)
        if stored is None:
            return pd.DataFrame(columns=["siret", "inspection_date", "abuse_found"])
        own = stored[stored["siret"] == siret]
        return own.sort_values("inspection_date", ascending=False, ignore_index=True)


def _comparison(explanation: Explanation, row: pd.Series, benchmarks: SectorBenchmarks) -> pd.DataFrame:
    """The numeric features weighing most in the score, next to their sector median."""
    e = explanation.establishment
    levels = {"region": "même secteur (NAF), même région", "france_naf": "même secteur (NAF), France",
              "france": "France, tous secteurs"}
    rows = []
    for c in explanation.contributions.itertuples(index=False):
        if c.feature in _SECTOR_COMPARISONS:
            continue
        median, level = benchmarks.lookup(e["naf"], e["region_code"], c.feature)
        if np.isnan(median):
            continue
        rows.append({"label_fr": c.label_fr, "shown": c.shown, "benchmark_shown": format_value(c.feature, median),
                     "level_fr": levels[level], "contribution": c.contribution})
        if len(rows) == COMPARED_FEATURES:
            break
    return pd.DataFrame(rows, columns=["label_fr", "shown", "benchmark_shown", "level_fr", "contribution"])


def audit_reports(home: Home) -> list[Path]:
    """The audit reports written under reports/, latest first."""
    return sorted(home.reports.glob("audit-*.html"), reverse=True)
