"""The monthly run: score every establishment with the registered model, draw up each region's list,
explain each listed line and write the files regional offices open.

`lists/YYYY-MM/` receives `ranked.csv` (every scored establishment), `evidence.csv` (the contracts
behind each listed line's legal-rule checks), one Excel workbook and one HTML page per region, and
`summary.json`. Scores use the features as of the month (what was declared up to it): the list
prepares the visits of the months that follow.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.atomic_files import write_text_whole
from core.benchmarks import timed
from core.config import Config
from core.csv_files import write_frame_csv
from core.home import Home
from core.machine import usable_cpus
from core.months import add_months
from features.build import refuse_other_settings, scoring_refusal
from features.catalog import ADDRESS_COLUMNS
from features.rules import CONFIDENCE_LEVELS
from scoring.list_inputs import ListInputs, list_inputs_folder, list_settings, write_list_inputs
from scoring.reasons import (
    UNKNOWN_REGION_FR,
    SectorBenchmarks,
    evidence_posts,
    grouped_contributions,
    region_names,
    top_reasons,
)
from scoring.selection import compare_with_previous, rank_and_select, recently_inspected
from training.saved_model import SavedModel
from warehouse.arrivals import FilesKnown
from warehouse.inspections import load_inspections

if TYPE_CHECKING:
    from features.store import StoredFeatures

log = logging.getLogger("champollion.scoring")

RANKED_COLUMNS = [
    "siret", *ADDRESS_COLUMNS, "region_code", "region", "departement", "naf", "headcount", "score", "rank_in_region",
    "rank_national", "in_list", "list_position", "exploration", "recently_inspected", "change",
]
# The first reason of a listed line that no fact sets apart (see scoring.reasons.sentence).
EXPLORATION_REASON = "Ligne d'exploration : tirée au hasard parmi les établissements éligibles, et non pour son score"
NO_SALIENT_FACT = "Aucun fait ne distingue nettement l'établissement de son secteur : listé au rang de son score dans la région"


@dataclass
class MonthlyLists:
    """What a monthly run produced."""

    month: date
    model_version: str
    ranked: pd.DataFrame
    evidence: pd.DataFrame
    folder: Path
    files: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # seconds of each step of the run


def lists_folder(home: Home, month: date) -> Path:
    """`lists/YYYY-MM/` under the home."""
    return home.lists / f"{month:%Y-%m}"


def drawn_up_at(home: Home, month: date) -> datetime | None:
    """When the month's list was drawn up (its `summary.json`), in UTC, or None when the month has no summary or it
    cannot be read. A summary written before its time was kept in UTC holds a time without zone, in the scoring
    machine's own time: it is read in the reading machine's (the same one, where lists are drawn up and served)."""
    path = lists_folder(home, month) / "summary.json"
    try:
        written = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["scored_at"])
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return written.astimezone(UTC)


def slug(text: str) -> str:
    """ASCII file-name form of a region name: 'Île-de-France' -> 'ile-de-france'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text.lower()).split())


def load_model(home: Home, config: Config, reference: str | None = None,
               settings_checked: bool = True) -> tuple[SavedModel, str]:
    """The ScoringModel of a registered version (alias or number; default: the configured one). A model trained on
    features computed with other settings is refused (`features.build.SettingsSkew`) unless `settings_checked` is
    False: a caller that reads only what a list kept of its lines (features, evidence), never today's features, checks
    it itself (`refuse_other_settings`) before it reads today's."""
    from training.registry import connect, load_scoring_model, resolve_version

    client = connect(home, config.training)
    version = resolve_version(client, config.training.registered_model, reference or config.scoring.model)
    model = load_scoring_model(config.training.registered_model, version.version)
    refusal = scoring_refusal(model, config)
    if refusal is not None and refusal.schema is not None:  # other settings: refused below, unless checked by the caller
        raise RuntimeError(f"model version {version.version} {refusal}: retrain before scoring")
    if settings_checked:
        refuse_other_settings(model, str(version.version), config)
    return model, str(version.version)


@dataclass(frozen=True, eq=False)
class StoredMonth:
    """A month's feature table and the rule evidence computed with it: `files` holds both stored files open, so the
    evidence read is that of these features, whatever another run stores for the month meanwhile."""

    month: date
    table: pd.DataFrame
    files: StoredFeatures

    def evidence(self, among: Collection[str] | None = None) -> pd.DataFrame:
        """The month's rule evidence (of the establishments `among` if given)."""
        return self.files.evidence(self.month, among)

    @property
    def declared(self) -> tuple[date, ...]:
        """The months up to this one the warehouse declared when the features were read (`StoredFeatures.declared`)."""
        return tuple(month for month in self.files.declared if month <= self.month)

    @property
    def files_known(self) -> FilesKnown | None:
        """The files of the warehouse version the features were read from (`StoredFeatures.files`)."""
        return self.files.files


def month_features(home: Home, config: Config, month: date, inspections: pd.DataFrame | None) -> StoredMonth:
    """The feature table as of the month, reused when current, else computed and stored, with its evidence."""
    from features.store import feature_tables

    tables = feature_tables(home, config, [month], inspections)
    if month not in tables:
        raise FileNotFoundError(f"no declarations for {month:%Y-%m} in {home.warehouse}: ingest that month first")
    return StoredMonth(month, tables[month].reset_index(drop=True), tables)


def explain_rows(model: SavedModel, table: pd.DataFrame, rows: pd.Index, tolerance: float) -> pd.DataFrame:
    """SHAP contributions (log-odds) of the given rows, checked to add up to the model's raw score within
    `tolerance` (the audit's `shap_tolerance`). No row when none is asked (LightGBM refuses an empty table): a
    month where every establishment was inspected recently lists none."""
    if rows.empty:
        return pd.DataFrame(columns=[*model.features, "bias"], index=rows, dtype=float)
    chosen = table.loc[rows]
    contributions = model.contributions(chosen)
    raw = model.raw_scores(chosen)
    gap = np.abs(contributions.sum(axis=1).to_numpy() - raw)
    if len(gap) and gap.max() > tolerance:
        raise RuntimeError(f"SHAP contributions miss the raw score by up to {gap.max():.2e}: explanations refused")
    return contributions


def score_table(
    model: SavedModel,
    table: pd.DataFrame,
    evidence: pd.DataFrame,
    month: date,
    config: Config,
    inspections: pd.DataFrame | None,
    previous: pd.DataFrame | None,
    all_reasons: bool = False,
    stages: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Score, rank, select and explain: one row per establishment of `table`, in national rank order
    (`rank_table`, then `explain_ranked`). `stages`, when given, receives the seconds of scoring and of the SHAP
    reasons."""
    ranked = rank_table(model, table, month, config, inspections, previous, stages)
    return explain_ranked(model, table, ranked, evidence, config, all_reasons, stages)


def score_stored(model: SavedModel, stored: StoredMonth, config: Config, inspections: pd.DataFrame | None,
                 previous: pd.DataFrame | None) -> pd.DataFrame:
    """`score_table` of a stored month (the listed lines explained), reading only the evidence of the establishments it
    explains: the same rows, without a national month's whole evidence in pandas (gigabytes)."""
    ranked = rank_table(model, stored.table, stored.month, config, inspections, previous)
    evidence = stored.evidence(set(ranked.loc[explained(ranked), "siret"]))
    return explain_ranked(model, stored.table, ranked, evidence, config)


def rank_table(
    model: SavedModel,
    table: pd.DataFrame,
    month: date,
    config: Config,
    inspections: pd.DataFrame | None,
    previous: pd.DataFrame | None,
    stages: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Score, rank and select: one row per establishment of `table`, in national rank order, with its change since
    the `previous` list. `stages`, when given, receives the seconds it took ("scores and lists")."""
    settings = config.scoring
    with timed(stages, "scores and lists"):
        scored = table[["siret", *ADDRESS_COLUMNS, "region_code", "departement", "naf", "headcount"]].copy()
        scored["siret"] = scored["siret"].astype(str)
        scored["score"] = model.predict_proba(table)
        scored["recently_inspected"] = recently_inspected(
            scored["siret"], inspections, month, settings.exclude_inspected_months
        ).to_numpy()
        ranked = rank_and_select(scored, month, settings)
        ranked["region"] = ranked["region_code"].map(region_names()).fillna(UNKNOWN_REGION_FR)
        ranked["change"] = compare_with_previous(ranked, previous)
        ranked["month"] = f"{month:%Y-%m}"
    return ranked


def explained(ranked: pd.DataFrame, all_reasons: bool = False) -> pd.Index:
    """The rows of `ranked` that get reasons: the listed ones (every one with `all_reasons`)."""
    return ranked.index if all_reasons else ranked.index[ranked["in_list"].to_numpy()]


def explain_ranked(
    model: SavedModel,
    table: pd.DataFrame,
    ranked: pd.DataFrame,
    evidence: pd.DataFrame,
    config: Config,
    all_reasons: bool = False,
    stages: dict[str, float] | None = None,
    benchmarks: SectorBenchmarks | None = None,
) -> pd.DataFrame:
    """`ranked` (`rank_table` of `table`) with the reasons of its `explained` rows: SHAP contributions grouped and
    put in French next to the sector's `benchmarks` (default: those of `table`) and the `evidence` found at the
    establishment (the month's, or at least that of the explained rows). `stages`, when given, receives the seconds
    it took ("SHAP reasons")."""
    with timed(stages, "SHAP reasons"):
        rows = explained(ranked, all_reasons)
        contributions = explain_rows(model, table, rows, config.audit.shap_tolerance)
        grouped = grouped_contributions(contributions, model.features)
        if benchmarks is None:
            benchmarks = SectorBenchmarks.of(table, model.features, config.features.benchmark_min_group)
        wanted = set(ranked.loc[rows, "siret"])
        posts = evidence_posts(evidence, among=wanted)
        reasons = top_reasons(grouped, table, benchmarks, posts, config.scoring.reasons, settings=config.features)
    ranked = ranked.join(reasons)
    for column in reasons.columns:
        ranked[column] = ranked[column].fillna("")
    unexplained = ranked["in_list"] & (ranked["reason_1"] == "")
    ranked.loc[unexplained & ranked["exploration"], "reason_1"] = EXPLORATION_REASON
    ranked.loc[unexplained & ~ranked["exploration"], "reason_1"] = NO_SALIENT_FACT
    return ranked


def listed_evidence(evidence: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    """Evidence rows of the listed establishments, with their address, region and list position; the person
    is shown only as a short pseudonym (the same person keeps the same reference within the month)."""
    listed = ranked.loc[ranked["in_list"], ["siret", *ADDRESS_COLUMNS, "region_code", "list_position"]]
    rows = evidence.merge(listed, left_on="establishment_siret", right_on="siret", how="inner")
    rows["person_ref"] = rows["person_key"].astype("string").str[:8]
    rows = rows.drop(columns=["person_key", "establishment_siret", "as_of"], errors="ignore")
    # Within a line: rule by rule, the established findings first, then the probable, then those to check on site.
    rank = rows["confidence"].map({level: i for i, level in enumerate(CONFIDENCE_LEVELS)})
    order = rows.assign(_rank=rank).sort_values(["region_code", "list_position", "rule", "_rank", "post", "event_date"])
    return order.drop(columns="_rank").reset_index(drop=True)


# ranked.csv's columns read as text (a SIRET, a postal code '01000', a département '01' keep their leading zeros)
# and as flags.
RANKED_TEXT = ("siret", "postal_code", "region_code", "departement", "naf", "model_version", "month")
RANKED_FLAGS = ("in_list", "exploration", "recently_inspected")


def read_ranking(path: Path) -> pd.DataFrame:
    """A ranked.csv as the monthly run wrote it: identifiers as text, flags as booleans, reasons as text ('' when
    none), numbers with NaN where empty."""
    frame = pd.read_csv(path, dtype=dict.fromkeys(RANKED_TEXT, "string"), keep_default_na=False, na_values={
        c: [""] for c in ("score", "list_position", "headcount", "rank_in_region", "rank_national")})
    for column in RANKED_FLAGS:
        if column in frame:  # a file of an earlier version may lack one
            frame[column] = frame[column].astype(str).eq("True")
    return frame


def previous_ranking(home: Home, month: date) -> pd.DataFrame | None:
    """Last month's ranked.csv, if a list was drawn up."""
    path = lists_folder(home, add_months(month, -1)) / "ranked.csv"
    return read_ranking(path) if path.exists() else None


def write_list_files(
    folder: Path, ranked: pd.DataFrame, listed: pd.DataFrame, month: date, version: str, workers: int = 1,
    created: datetime | None = None, meanwhile: Callable[[], None] | None = None,
) -> list[Path]:
    """Write `ranked.csv`, `evidence.csv` (`listed`: `listed_evidence`) and each region's workbook and page into
    `folder`; return their paths. Each region's lines, evidence and departures come from one pass over each
    table, not from a filter of the whole table per region; the regions' files are written by up to `workers`
    processes (`scoring.region_pool`), while this process runs `meanwhile`, then writes the national files.
    `created`: the workbooks' creation time (default: now, UTC)."""
    from scoring.region_files import RegionList
    from scoring.region_pool import write_regions

    files = [folder / "ranked.csv", folder / "evidence.csv"]

    def write_national_files() -> None:
        if meanwhile is not None:
            meanwhile()
        write_frame_csv(ranked, files[0])
        write_frame_csv(listed, files[1])

    # The listed lines kept first, then split by region: split first, the 1.8 M rows of a national month were
    # copied region by region (3.6-4.2 s, against 0.09-1.19 s). A table sorted by region (`listed_evidence`) is
    # split into slices, not copies.
    lines_of = dict(iter(ranked[ranked["in_list"]].groupby("region_code", sort=False)))
    evidence_of = dict(iter(listed.groupby("region_code", sort=False)))
    left_of = dict(iter(ranked[ranked["change"] == "left"].groupby("region_code", sort=False)))
    # Each region's name as its lines give it (the first one given: the monthly run names every line's region).
    regions = ranked.dropna(subset="region_code").groupby("region_code")["region"].first()
    listings = []
    named: dict[str, str] = {}
    # Every region scored gets its files, a region with no line too: its office sees that the list is empty,
    # not that it is missing.
    for region_code, given in regions.items():
        region = UNKNOWN_REGION_FR if pd.isna(given) else str(given)
        name = f"{region_code}-{slug(region)}"
        # INSEE's codes never share a name; codes and names of another source might, or differ only by case, which
        # file systems that ignore case (Windows', macOS') read as one name.
        if name.casefold() in named:
            raise ValueError(f"regions {named[name.casefold()]!r} and {region_code!r} would both write {name}.xlsx and "
                             f"{name}.html: one office would get the other's list; nothing was written")
        named[name.casefold()] = region_code
        lines = lines_of.get(region_code, ranked.iloc[0:0])
        listings.append(RegionList(
            name, region, month, version, lines.sort_values("list_position"),
            evidence_of.get(region_code, listed.iloc[0:0]), left_of.get(region_code, ranked.iloc[0:0]),
        ))
    # The national tables are written here while the workers write the regions' files: written first, they kept
    # the workers waiting (at scale 0.2 in one process, under cProfile: 7.8 s of the 95 s the files took).
    return files + write_regions(folder, listings, created or datetime.now(UTC), workers, meanwhile=write_national_files)


def keep_list_inputs(inputs: ListInputs, evidence: pd.DataFrame) -> None:
    """`write_list_inputs`, a failure (a full disk) reported as the list's."""
    try:
        write_list_inputs(inputs, evidence)
    except OSError as exc:
        raise RuntimeError(f"what the list of {inputs.month:%Y-%m} was explained from could not be kept in "
                           f"{inputs.folder}: {exc}") from exc


def score_month(
    home: Home, config: Config, month: date, model_reference: str | None = None, all_reasons: bool = False,
    model_home: Home | None = None,
) -> MonthlyLists:
    """The whole monthly run for `month`; writes everything under `lists/YYYY-MM/`. The model comes from the
    registry of `model_home` (default: `home`'s)."""
    started = time.perf_counter()
    stages: dict[str, float] = {}
    with timed(stages, "model loaded"):
        model, version = load_model(model_home or home, config, model_reference)
    with timed(stages, "features read"):
        inspections = load_inspections(home.warehouse)
        stored = month_features(home, config, month, inspections)
        table = stored.table
        previous = previous_ranking(home, month)
    ranked = rank_table(model, table, month, config, inspections, previous, stages)
    # Only the explained establishments' evidence is read: their reasons and the files need no other.
    rows = explained(ranked, all_reasons)
    with timed(stages, "evidence read"):
        evidence = stored.evidence(set(ranked.loc[rows, "siret"]))
    with timed(stages, "SHAP reasons"):
        benchmarks = SectorBenchmarks.of(table, model.features, config.features.benchmark_min_group)
    inputs = ListInputs(month, version, table.loc[rows], benchmarks, list_inputs_folder(home, month), stored.declared,
                        list_settings(config.scoring), stored.files_known)
    ranked = explain_ranked(model, table, ranked, evidence, config, all_reasons, stages, benchmarks)
    ranked["model_version"] = version

    with timed(stages, "files written"):
        listed = listed_evidence(evidence, ranked)
        folder = lists_folder(home, month)
        folder.mkdir(parents=True, exist_ok=True)
        reason_columns = [c for c in ranked.columns if c.startswith("reason_") and not c.endswith("_feature")]
        feature_columns = [c for c in ranked.columns if c.endswith("_feature")]
        ranked = ranked[[*RANKED_COLUMNS, *reason_columns, *feature_columns, "model_version", "month"]]
        files = write_list_files(folder, ranked, listed, month, version, config.scoring.file_workers or usable_cpus(),
                                 meanwhile=lambda: keep_list_inputs(inputs, evidence))
    summary = _summary(ranked, month, config.training.registered_model, version, previous is not None,
                       time.perf_counter() - started, files, folder)
    write_text_whole(folder / "summary.json", json.dumps(summary, ensure_ascii=False, indent=2))
    files.append(folder / "summary.json")
    return MonthlyLists(month, version, ranked, listed, folder, files, summary, stages)


def _summary(
    ranked: pd.DataFrame, month: date, model_name: str, version: str, had_previous: bool, seconds: float,
    files: list[Path], folder: Path,
) -> dict[str, Any]:
    listed = ranked[ranked["in_list"]]
    per_region = []
    for region_code, group in ranked.groupby("region_code", sort=True):
        chosen = group[group["in_list"]]
        per_region.append({
            "region_code": region_code,
            "region": group["region"].iloc[0],
            "scored": len(group),
            "recently_inspected": int(group["recently_inspected"].sum()),
            "listed": len(chosen),
            "exploration": int(chosen["exploration"].sum()),
            "new": int((chosen["change"] == "new").sum()),
            "still": int((chosen["change"] == "still").sum()),
            "left": int((group["change"] == "left").sum()),
            "mean_score_listed": round(float(chosen.loc[~chosen["exploration"], "score"].mean()), 4) if len(chosen) else None,
        })
    return {
        "month": f"{month:%Y-%m}",
        "model": model_name,
        "model_version": version,
        "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "scored": len(ranked),
        "listed": len(listed),
        "exploration": int(listed["exploration"].sum()),
        "recently_inspected_left_out": int(ranked["recently_inspected"].sum()),
        "previous_list": had_previous,
        "regions": per_region,
        "files": [str(p.relative_to(folder)) for p in files],
    }
