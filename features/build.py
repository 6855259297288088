"""The feature table as of a month: indicators, legal-rule counts, benchmarks and past inspections.

`compute_features` is a function from the warehouse (and the inspections known then) to two
tables: the features (one row per establishment active in the window, in memory) and the contract-level
evidence of each legal-rule check (a Parquet file the engine writes without passing it through Python: at
national scale it is millions of French sentences). `store_features` writes them, with the catalog, under
`data/features/as_of=YYYY-MM/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.atomic_files import replaced_when_written, write_text_whole
from core.config import Config, FeaturesConfig
from core.months import month_start, runs_text
from features.asof import (
    ABSENCES_ASOF_SQL,
    ESTABLISHMENTS_ASOF_SQL,
    MONTH_DECLARANTS,
    PART_TABLES,
    AsOfWindow,
    declared_span,
    prepare_as_of,
    prepare_month,
    prepare_part,
    promote_part,
    undeclared_in_window,
)
from features.catalog import BENCHMARKED, FEATURES, FEATURES_SCHEMA_VERSION, IDENTIFIERS, feature_names
from features.indicators import compute_indicators, indicators_sql
from features.rules import (
    RULES,
    compute_rule_evidence,
    finish_rule_evidence,
    read_pass_work,
    rule_counts_sql,
    rule_definitions_text,
    run_pass_work,
)
from warehouse.contracts import STATES_FILE, has_contract_states, rebuild_contracts_sql
from warehouse.engine import KEY_MACROS
from warehouse.inspections import no_inspections, outcome_known_on, typed_inspections
from warehouse.sql_engine import SqlEngine, fetch_aggregate, pandas_frame

log = logging.getLogger("champollion.features")

# Rule evidence is stored sorted by establishment in row groups this small, so that one establishment's
# page reads a few thousand rows of a national month's millions (the reader skips groups by their SIRETs).
EVIDENCE_ROW_GROUP_ROWS = 16_384
# The file of a stored month's rule evidence, beside its features (`feature_dir`).
EVIDENCE_FILE = "rule_evidence.parquet"


@dataclass(frozen=True)
class FeatureTable:
    """Features of every active establishment as of a month, and the evidence behind the rule counts.

    The evidence is the Parquet file `evidence_file` (`findings` rows, sorted by establishment), in the scratch
    folder of the engine that computed it: it is there until that engine closes. `fingerprint` identifies what the
    table was computed from: the feature definitions and settings, and the declarations of the months read (not the
    engine). A stored table with another fingerprint is stale.
    """

    as_of: date
    features: pd.DataFrame
    evidence_file: Path
    findings: int
    window: AsOfWindow
    fingerprint: str
    contracts: int  # contracts rebuilt as of the month (rows of `contracts_asof`)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage, in order

    def evidence(self) -> pd.DataFrame:
        """The whole evidence as pandas (`read_evidence`); at national scale, gigabytes."""
        return read_evidence(self.evidence_file)


# What the code did before a setting existed, as that setting's value: a model trained then is compared with it, not
# taken as trained with today's default (the outcome of a control was read from its day).
SETTINGS_BEFORE_THEY_EXISTED: dict[str, Any] = {"outcome_known_after_days": 0}


def settings_of(config: Config) -> dict[str, Any]:
    """The settings every feature table's values follow (`features`, but how many processes compute them, and
    ingestion's inferred contract ends), as plain values: what a model trained on them must be scored with."""
    return {**config.features.model_dump(mode="json", exclude={"pass_processes"}),
            "ingest.inferred_end_after_months": config.ingest.inferred_end_after_months}


def settings_differences(trained_with: dict[str, Any] | None, config: Config) -> list[tuple[str, Any, Any]]:
    """(setting, value then, value now) of each feature setting a model was trained with (`features.build.settings_of`)
    that differs from `config`'s, by name. Only the settings both know are compared: one added since the model was
    trained did not exist then (its default keeps what the code did, or the code then is compared as its value:
    `SETTINGS_BEFORE_THEY_EXISTED`), one removed no longer applies. A model trained before the settings were kept
    (`trained_with` None) is compared on `SETTINGS_BEFORE_THEY_EXISTED` alone."""
    now = settings_of(config)
    trained_with = {**SETTINGS_BEFORE_THEY_EXISTED, **(trained_with or {})}
    return [(key, trained_with[key], now[key]) for key in sorted(trained_with.keys() & now.keys())
            if trained_with[key] != now[key]]


def settings_skew(trained_with: dict[str, Any] | None, config: Config) -> str:
    """How the feature settings a model was trained with differ from `config`'s (`settings_differences`), in words
    ('' when they do not, or were not recorded)."""
    return _differences_text(settings_differences(trained_with, config))


def _differences_text(differ: list[tuple[str, Any, Any]]) -> str:
    shown = "; ".join(f"{key}: {then!r} then, {now!r} now" for key, then, now in differ[:4])
    return shown + (f"; and {len(differ) - 4} more" if len(differ) > 4 else "")


class SettingsSkew(RuntimeError):
    """A model trained on features computed with other settings than the configured ones (`refuse_other_settings`)."""


def refuse_other_settings(model: object, version: str, config: Config, then: str = "") -> None:
    """Raise `SettingsSkew`, saying how (`settings_skew`) and `then` what to do, when model `version` was trained on
    features computed with other settings than `config`'s: whatever it scored with them, it never learned from."""
    skew = settings_skew(getattr(model, "features_settings", None), config)  # None: trained before they were kept
    if skew:
        raise SettingsSkew(f"model version {version} was trained on features computed with other settings ({skew}): "
                           "its scores would read other figures than it learned from; score with the settings it was "
                           f"trained with, or train a model with these settings and promote it{then}")


@dataclass(frozen=True)
class ScoringRefusal:
    """Why `champollion score` refuses a model (`scoring_refusal`): trained on another feature schema than this code
    computes (`schema`: then, now), or on features computed with other settings (`settings`: `settings_differences`),
    or its model cannot be loaded (`unloadable`: the error). In words (`str`), what follows the version's number."""

    schema: tuple[Any, int] | None = None
    settings: tuple[tuple[str, Any, Any], ...] = ()
    unloadable: str = ""

    def __str__(self) -> str:
        if self.unloadable:
            return f"cannot be loaded ({self.unloadable})"
        if self.schema is not None:
            return f"was trained on feature schema {self.schema[0]}, this code computes schema {self.schema[1]}"
        return (f"was trained on features computed with other settings than the configured ones "
                f"({_differences_text(list(self.settings))})")


def scoring_refusal(model: object, config: Config) -> ScoringRefusal | None:
    """Why `champollion score` refuses a loaded model with this code and `config` (None when it scores it)."""
    schema = getattr(model, "schema_version", None)
    if schema != FEATURES_SCHEMA_VERSION:
        return ScoringRefusal(schema=(schema, FEATURES_SCHEMA_VERSION))
    differ = settings_differences(getattr(model, "features_settings", None), config)
    return ScoringRefusal(settings=tuple(differ)) if differ else None


# Feature settings the fingerprint leaves out: when outcomes are known changes only the past-inspection features, which
# a stored month brings up to date with the inspections (`features.store`), never a recomputation of the month.
NOT_FINGERPRINTED = ("outcome_known_after_days",)


def fingerprint_of(as_of: date, config: Config, digests: dict[date, str]) -> str:
    """SHA-256 of the feature definitions (SQL and settings) and of the surviving declarations of the months a feature
    table as of `as_of` reads, from `digests`: `declaration_digests` of the warehouse version the table is computed
    from (or read against), up to `as_of` or a later month; no declaration is read."""
    window = AsOfWindow.of(as_of, config.features)
    declarations = ";".join(f"{month:%Y-%m}={digests[month]}" for month in sorted(digests) if month <= window.as_of)
    digest = hashlib.sha256()
    for part in (
        str(FEATURES_SCHEMA_VERSION), config.features.model_dump_json(exclude=set(NOT_FINGERPRINTED)),
        str(config.ingest.inferred_end_after_months),
        indicators_sql(config.features), rule_definitions_text(config.features),
        _benchmarks_sql(config.features.benchmark_min_group),
        INSPECTIONS_SQL, ESTABLISHMENTS_ASOF_SQL, ABSENCES_ASOF_SQL, *KEY_MACROS,
        rebuild_contracts_sql(window.as_of, config.ingest.inferred_end_after_months, window.history_start,
                              window_start=window.window_start, features_only=True),
        declarations,
    ):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def declaration_digests(engine: SqlEngine, warehouse: Path, last: date) -> dict[date, str]:
    """For each month of `warehouse` up to `last`: how many declarations it kept and the MD5 of their sorted keys (what
    the fingerprints of the months up to `last` read of the declarations: one scan for them all)."""
    engine.attach_warehouse(warehouse)
    return _declaration_digests(engine, last)


def _warn_partial_windows(months: list[date], declared: Collection[date], window_months: int) -> None:
    """Warn, naming them, about the `months` whose window (or the month before it) holds months the warehouse does not
    declare (`undeclared_in_window`, the test training leaves such months out by): their features count the window
    over part of it."""
    partial = [month for month in months if undeclared_in_window(month, declared, window_months)]
    if partial and declared:
        log.warning("features as of %s count their %d-month window, or the month before it, over part of it (%s): their "
                    "counts, shares and growth cover fewer months than they say; training leaves such months out when "
                    "it can", runs_text(partial), window_months, declared_span(sorted(declared)))


def _declaration_digests(engine: SqlEngine, last: date) -> dict[date, str]:
    """`declaration_digests` of the warehouse attached to `engine`."""
    rows = engine.fetch(
        "SELECT month, count(*) AS kept, md5(string_agg(declaration_key, ',' ORDER BY declaration_key)) AS digest "
        f"FROM declarations WHERE month <= DATE '{last.isoformat()}' GROUP BY month"
    )
    return {pd.Timestamp(month).date(): f"{kept}:{digest}"
            for month, kept, digest in zip(rows["month"], rows["kept"], rows["digest"], strict=True)}


def _benchmarks_sql(min_group: int) -> str:
    """Median of each benchmarked share by NAF x region (groups of at least `min_group`),
    else by NAF in France, else over France; computed in their own aggregates."""
    medians = ", ".join(f"median({k}) AS {k}_med, count({k}) AS {k}_n" for k in BENCHMARKED)
    pick = []
    for k in BENCHMARKED:
        pick.append(
            f"CASE WHEN r.{k}_n >= {min_group} THEN r.{k}_med WHEN n.{k}_n >= {min_group} THEN n.{k}_med "
            f"ELSE a.{k}_med END AS {k}_benchmark"
        )
    level = (
        f"CASE WHEN r.precarity_rate_12m_n >= {min_group} THEN 'naf_region' "
        f"WHEN n.precarity_rate_12m_n >= {min_group} THEN 'naf_france' ELSE 'france' END AS benchmark_level"
    )
    return f"""
WITH by_region AS (SELECT naf, region_code, {medians} FROM establishment_indicators WHERE declares GROUP BY naf, region_code),
by_naf AS (SELECT naf, {medians} FROM establishment_indicators WHERE declares GROUP BY naf),
overall AS (SELECT {medians} FROM establishment_indicators WHERE declares)
SELECT i.siret, {", ".join(pick)}, {level}
FROM establishment_indicators i
LEFT JOIN by_region r ON r.naf IS NOT DISTINCT FROM i.naf AND r.region_code IS NOT DISTINCT FROM i.region_code
LEFT JOIN by_naf n ON n.naf IS NOT DISTINCT FROM i.naf
CROSS JOIN overall a
"""


# A control counts from its day; its outcome only from the day it is known (`outcome_known_on`: the control's day plus
# `features.outcome_known_after_days`), so the last outcome is that of the last control whose outcome was known by the
# end of the month, NULL when none was.
INSPECTIONS_SQL = """
SELECT e.siret,
       count(i.inspection_date) AS past_inspections,
       datediff('month', max(i.inspection_date), p.as_of_end) AS months_since_last_inspection,
       -- two inspections on the last day: abuse found if either found it
       CAST(arg_max(i.abuse_found, CASE WHEN i.outcome_known_on <= p.as_of_end
                                        THEN struct_pack(day := i.inspection_date, found := i.abuse_found) END) AS DOUBLE)
           AS last_inspection_found_abuse
FROM establishments_asof e
CROSS JOIN asof_params p
LEFT JOIN inspections_known i ON i.siret = e.siret AND i.inspection_date <= p.as_of_end
GROUP BY e.siret, p.as_of_end
"""


def compute_features(
    engine: SqlEngine,
    warehouse: Path,
    as_of: date,
    config: Config,
    inspections: pd.DataFrame | None = None,
) -> FeatureTable:
    """Features as of month `as_of` from the warehouse, using only what was declared up to it, computed
    by `engine` (DuckDB or Spark: the same definitions and results).

    `inspections` (siret, inspection_date, abuse_found) may hold later inspections: only those
    dated up to the end of the month are used.

    The working tables (`contracts_asof`, `absences_asof`, `establishments_asof`,
    `establishment_indicators`, `rule_evidence`) are dropped once their results are fetched or written, so that
    at national scale the engine's memory goes to the results; `asof_params` stays.
    """
    return next(compute_feature_months(engine, warehouse, [as_of], config, inspections))


def compute_feature_months(
    engine: SqlEngine,
    warehouse: Path,
    months: list[date],
    config: Config,
    inspections: pd.DataFrame | None = None,
    from_states: bool | None = None,
    digests: dict[date, str] | None = None,
) -> Iterator[FeatureTable]:
    """The feature table as of each of `months` (`compute_features`), in one pass: the warehouse is
    attached, the declarations fingerprinted and the contracts read from their versioned table
    (`contract_states`, when the warehouse has it) once for all the months, then each month's tables
    are computed and yielded in turn (one month's features in memory at a time; each month's evidence file stays
    in the engine's scratch folder until it closes).

    `from_states=False` rebuilds the contracts from the monthly snapshots even when the versioned table
    is there (the reference the benchmark compares with); None: from the versioned table when it is there.
    `digests` (`declaration_digests` of the same published version of the warehouse, up to the last of `months` or
    later: pass the version's folder, `warehouse.engine.published_version`, as `warehouse`) saves reading the
    declarations to fingerprint the months."""
    if not months:
        return
    if inspections is not None:
        inspections = typed_inspections(inspections)
    settings = config.features
    ordered = sorted({month_start(m) for m in months})
    stages: dict[str, float] = {}
    engine.attach_warehouse(warehouse)
    available = has_contract_states(warehouse)
    from_states = available if from_states is None else from_states and available
    if not available:
        log.warning("%s has no versioned contracts as this version reads them (%s, written by ingestion): contracts "
                    "are rebuilt from the monthly snapshots, which is slower; `champollion ingest --rebuild` writes them",
                    warehouse, STATES_FILE)
    if digests is None:
        with _stage(stages, "declarations fingerprinted", ordered[-1]):
            digests = _declaration_digests(engine, ordered[-1])
    _warn_partial_windows(ordered, digests, settings.window_months)
    shared = dict(stages)
    for as_of in ordered:
        stages = dict(shared) if as_of == ordered[0] else {}
        with _stage(stages, "fingerprint", as_of):
            fingerprint = fingerprint_of(as_of, config, digests)
        if engine.splits_large_aggregates:
            window, contracts = _by_parts(engine, as_of, config, from_states, stages)
        else:
            with _stage(stages, "as-of tables", as_of):
                window = prepare_as_of(engine, as_of, settings, config.ingest.inferred_end_after_months, from_states)
            with _stage(stages, "indicators", as_of):
                compute_indicators(engine, settings)
            with _stage(stages, "rule checks", as_of):
                compute_rule_evidence(engine, settings)
            contracts = fetch_aggregate(engine, "SELECT count(*) FROM contracts_asof")[0]
            for name in ("contracts_asof", "absences_asof"):
                engine.drop_table(name)
        with _stage(stages, "results fetched", as_of):
            # The evidence first, while Python holds nothing large (the engine sorts it in its memory limit); a name
            # of its own: a file once written is never written again (a stored month may be a hard link to it).
            evidence_file = engine.scratch() / f"rule_evidence-{as_of:%Y-%m}-{secrets.token_hex(4)}.parquet"
            findings = engine.write_parquet(EVIDENCE_SQL, evidence_file, EVIDENCE_ROW_GROUP_ROWS)
            features = _fetch_features(engine, as_of, settings, inspections)
            engine.drop_table("rule_evidence")
        yield FeatureTable(window.as_of, features, evidence_file, findings, window, fingerprint, contracts, stages)
        del features  # the caller holds the month's table (1.16 GB at national scale), not this frame during the next


def _by_parts(engine: SqlEngine, as_of: date, config: Config, from_states: bool,
              stages: dict[str, float]) -> tuple[AsOfWindow, int]:
    """The month's `establishment_indicators` and `rule_evidence`, computed by ranges of establishments
    (`features.asof.prepare_month`), each stage's time summed over the ranges into `stages`; returns the window and
    how many contracts counted as of the month. The same rows as the path of an engine that does not split
    (`tests/test_features.py`, `tests/test_month_by_ranges.py`): the fingerprint of stored tables does not depend
    on the path.

    While a range's rule passes run (Python, in a thread of this process), the engine prepares the next range's tables
    and computes its indicators: the engine's statements leave the interpreter to the thread while they run, so the
    two share the machine's cores, where the passes alone would leave one idle (in processes forked from this one,
    they took as long at national scale: a fork copies the pages the engine writes meanwhile; with DuckDB on one
    thread, its statements wait for the interpreter and the two take turns). Those statements' time counts in the
    as-of tables and indicators; the rule checks count reading the passes' inputs, waiting for the passes once the
    next range is ready, and the rule queries. A failure stops the passes after their current range of rows."""
    settings = config.features
    with _stage(stages, "as-of tables", as_of):
        for name in PART_TABLES:  # a next range a failed month left in this engine
            engine.drop_table(f"{name}{NEXT_RANGE}", missing_ok=True)
        month = prepare_month(engine, as_of, settings, config.ingest.inferred_end_after_months, from_states)
        prepare_part(engine, month, *month.ranges[0])
    with _stage(stages, "indicators", as_of):
        compute_indicators(engine, settings, "part_establishments")
    contracts = 0
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rule-passes") as passes:
        try:
            for part in range(len(month.ranges)):
                following = month.ranges[part + 1] if part + 1 < len(month.ranges) else None
                contracts += fetch_aggregate(engine, "SELECT count(*) FROM contracts_asof")[0]
                with _stage(stages, "rule checks", as_of, add=part > 0):
                    work = read_pass_work(engine, settings)
                    running = passes.submit(run_pass_work, work, stop.is_set)
                if following is not None:
                    with _stage(stages, "as-of tables", as_of, add=True):
                        prepare_part(engine, month, *following, suffix=NEXT_RANGE)
                    with _stage(stages, "indicators", as_of, add=True):
                        compute_indicators(engine, settings, f"part_establishments{NEXT_RANGE}", append=True,
                                           contracts=f"contracts_asof{NEXT_RANGE}")
                with _stage(stages, "rule checks", as_of, add=True):
                    finish_rule_evidence(engine, settings, work, running.result(), append=part > 0)
                    del work
                if following is not None:
                    with _stage(stages, "as-of tables", as_of, add=True):
                        promote_part(engine, NEXT_RANGE)
        except BaseException:
            stop.set()  # the passes still running end after their current range of rows, not the whole range's
            raise
    for name in (*PART_TABLES, "agency_contracts_asof", "declared_absences", "temp_agencies", MONTH_DECLARANTS):
        engine.drop_table(name)
    return month.window, contracts


@contextmanager
def _stage(stages: dict[str, float], name: str, as_of: date, add: bool = False) -> Iterator[None]:
    """Time one stage of `compute_features` into `stages` (with `add`, added to the time it has), and log it (debug:
    `champollion -v`)."""
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    stages[name] = stages.get(name, 0.0) + seconds if add else seconds
    log.debug("features as of %s: %s in %.1f s", f"{as_of:%Y-%m}", name, seconds)


# The suffix of the tables of the next range of establishments, prepared beside the rule passes of the range before
# (`_by_parts`).
NEXT_RANGE = "_next"

# The evidence of the rule checks in the window, in the order it is stored (by establishment).
EVIDENCE_SQL = """
SELECT e.*, p.as_of FROM rule_evidence e, asof_params p
WHERE e.event_date BETWEEN p.window_start AND p.as_of_end
ORDER BY e.establishment_siret, e.rule, e.event_date, e.contract_id
"""


def _fetch_features(engine: SqlEngine, as_of: date, settings: FeaturesConfig,
                    inspections: pd.DataFrame | None) -> pd.DataFrame:
    """The feature table: indicators, rule counts, benchmarks, past inspections."""
    known = inspections if inspections is not None else no_inspections()
    engine.register("inspections_known_df", known[["siret", "inspection_date", "abuse_found"]].assign(
        outcome_known_on=outcome_known_on(known["inspection_date"], settings.outcome_known_after_days)))
    engine.create_table(
        "inspections_known",
        "SELECT CAST(siret AS VARCHAR) AS siret, CAST(inspection_date AS DATE) AS inspection_date, "
        "CAST(abuse_found AS INTEGER) AS abuse_found, CAST(outcome_known_on AS DATE) AS outcome_known_on "
        "FROM inspections_known_df",
    )
    engine.unregister("inspections_known_df")
    excess = ", ".join(f"i.{k} - b.{k}_benchmark AS {k}_excess" for k in BENCHMARKED)
    benchmark_columns = ", ".join(f"b.{k}_benchmark" for k in BENCHMARKED)
    rule_columns = ", ".join(f"coalesce(r.n_{rule.id}, 0) AS n_{rule.id}" for rule in RULES)
    table = engine.fetch(
        f"""
        WITH benchmarks AS ({_benchmarks_sql(settings.benchmark_min_group)}),
             rule_counts AS ({rule_counts_sql()}),
             inspected AS ({INSPECTIONS_SQL})
        SELECT i.*, {rule_columns}, coalesce(r.n_rule_hits_total, 0) AS n_rule_hits_total,
               {benchmark_columns}, {excess}, b.benchmark_level,
               s.past_inspections, s.months_since_last_inspection, s.last_inspection_found_abuse
        FROM establishment_indicators i
        LEFT JOIN benchmarks b USING (siret)
        LEFT JOIN rule_counts r ON r.establishment_siret = i.siret
        LEFT JOIN inspected s USING (siret)
        ORDER BY i.siret
        """
    )
    columns = list(IDENTIFIERS) + feature_names()
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise RuntimeError(f"feature table as of {as_of:%Y-%m} lacks columns {missing}")
    features = table[columns]
    del table
    if features["siret"].duplicated().any():
        raise RuntimeError(f"feature table as of {as_of:%Y-%m} has duplicate SIRETs")
    for name in ("establishment_indicators", "establishments_asof", "inspections_known"):
        engine.drop_table(name)
    return features


def latest_month(engine: SqlEngine, warehouse: Path) -> date:
    """The last month any establishment declared, in the warehouse."""
    engine.attach_warehouse(warehouse)
    month = fetch_aggregate(engine, "SELECT max(month) FROM declarations")[0]
    if month is None:
        raise FileNotFoundError(f"{warehouse}: no monthly declaration ingested yet; run `champollion ingest` first")
    return month


def feature_dir(data: Path, as_of: date) -> Path:
    """Where the features as of a month are stored: `data/features/as_of=YYYY-MM/`."""
    return data / "features" / f"as_of={as_of:%Y-%m}"


def store_features(table: FeatureTable, data: Path, config: Config, out: Path | None = None,
                   on_written: Callable[[Path], None] | None = None) -> Path:
    """Write features, evidence and catalog for the month; also the features to `out` if given. Each file is
    written whole or not at all, and the catalog is removed first and written last: a run killed on the way leaves a
    month that is computed again, never a mix. Two runs storing one month store one after the other (a lock in the
    month's folder).

    The features file carries its schema version and fingerprint in its Parquet metadata (`identity_agrees`): a
    table read is known for what it is. `on_written(path)` is called with the features file once written, before it
    is put in place (`features.store` opens it there: what another run stores afterwards does not change what it
    reads). A stored file is never written over, only replaced."""
    folder = feature_dir(data, table.as_of)
    folder.mkdir(parents=True, exist_ok=True)
    with month_lock(folder):
        (folder / "feature_catalog.json").unlink(missing_ok=True)
        _write(table.features, folder / "features.parquet", identity_metadata(table.fingerprint), on_written)
        _place(table.evidence_file, folder / EVIDENCE_FILE)
        catalog = {
            "schema_version": FEATURES_SCHEMA_VERSION,
            "fingerprint": table.fingerprint,
            "as_of": f"{table.as_of:%Y-%m}",
            "window_start": table.window.window_start.isoformat(),
            "history_start": table.window.history_start.isoformat(),
            "computed_at": datetime.now().isoformat(timespec="seconds"),
            "rows": len(table.features),
            "settings": config.features.model_dump(),
            "features": [f.as_dict() for f in FEATURES],
            "rules": [{"id": r.id, "label_fr": r.label_fr, "article": r.article} for r in RULES],
        }
        write_text_whole(folder / "feature_catalog.json", json.dumps(catalog, ensure_ascii=False, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(table.features, out, identity_metadata(table.fingerprint))
    return folder


SCHEMA_KEY, FINGERPRINT_KEY = b"champollion.features_schema_version", b"champollion.features_fingerprint"


def identity_metadata(fingerprint: str) -> dict[bytes, bytes]:
    """The Parquet metadata a stored feature table carries: this code's feature schema version and its fingerprint."""
    return {SCHEMA_KEY: str(FEATURES_SCHEMA_VERSION).encode(), FINGERPRINT_KEY: fingerprint.encode()}


def identity_agrees(schema: pa.Schema, fingerprint: str) -> bool:
    """Whether a stored table's Parquet schema agrees with this code's feature schema version and `fingerprint`: it
    carries both, or neither (a table stored before tables carried them, judged by its catalog alone)."""
    metadata = schema.metadata or {}
    if SCHEMA_KEY not in metadata and FINGERPRINT_KEY not in metadata:
        return True
    return metadata.items() >= identity_metadata(fingerprint).items()


@contextmanager
def month_lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """The lock of a month's stored files (`.store.lock` in its folder): held alone while they are stored (a second
    run storing the same month waits), shared while they are read together; the kernel drops a dead process's."""
    lock = os.open(folder / ".store.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def load_features(data: Path, as_of: date) -> pd.DataFrame:
    """The stored feature table of a month (SIRETs as strings, dates as datetimes)."""
    path = feature_dir(data, as_of) / "features.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no features stored for {as_of:%Y-%m}; run `champollion features --as-of {as_of:%Y-%m}`")
    return read_features_file(path)


def read_features_file(path: Path) -> pd.DataFrame:
    """A stored feature table (SIRETs as strings, dates as datetimes)."""
    return pq.read_table(path).to_pandas(date_as_object=False)


def load_evidence(data: Path, as_of: date, among: Collection[str] | None = None) -> pd.DataFrame:
    """The stored rule evidence of a month (one row per potential infraction, `features.rules.EVIDENCE_COLUMNS`),
    of the establishments `among` if given (`read_evidence`)."""
    path = feature_dir(data, as_of) / EVIDENCE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no rule evidence stored for {as_of:%Y-%m}; run `champollion features --as-of {as_of:%Y-%m}`"
        )
    return read_evidence(path, among=among)


def read_evidence(path: Path, siret: str | None = None, among: Collection[str] | None = None) -> pd.DataFrame:
    """A rule evidence file, with the dtypes the engine's `fetch` gives (dates as datetime64, integers with a missing
    value as pandas' masked types), whichever engine or version of this code wrote it. Of one establishment when
    `siret` is given (only its row groups are read), of the establishments `among` when given: the other rows are
    left in Arrow, never made Python strings (a national month's listed establishments hold a fifth of its rows)."""
    wanted = None if among is None else sorted({s for s in among if isinstance(s, str)})  # NULL matches no row
    filters = (pc.field("establishment_siret") == siret if siret is not None else
               pc.field("establishment_siret").isin(pa.array(wanted, pa.string())) if wanted is not None else None)
    table = _text_in_one_chunk(pq.read_table(path, filters=filters))
    if table.num_rows or filters is None:
        return pandas_frame(table)
    # No row kept: the columns with the dtypes the file's rows give, not those of a table with no rows.
    file = pq.ParquetFile(path)
    return pandas_frame(file.read_row_group(0) if file.metadata.num_row_groups else table).iloc[:0]


def _text_in_one_chunk(table: pa.Table) -> pa.Table:
    """`table` with each text column in one chunk, as `large_string` (which pandas' `str` holds anyway: no amount of
    text overflows its offsets). A `str` column keeps the chunks it is made from, one per row group read, and pandas
    selects rows of a column in many chunks slowly: a boolean filter of a national month's listed evidence, read from
    260 row groups, took 2.6 and 6.2 s, against 0.20-0.31 s in one chunk (README, "The monthly run's selections of
    text")."""
    return pa.table([
        pa.chunked_array([column.cast(pa.large_string()).combine_chunks()])
        if column.num_chunks > 1 and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type))
        else column
        for column in table.columns
    ], names=table.column_names)


def _write(frame: pd.DataFrame, path: Path, metadata: dict[bytes, bytes],
           on_written: Callable[[Path], None] | None = None) -> None:
    """`frame` at `path` with `metadata` added to its schema's, whole or not at all; `on_written(temp)` before it is
    put in place."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with replaced_when_written(path) as temp:
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata}), temp,
                       compression="zstd")
        if on_written is not None:
            on_written(temp)


def _place(source: Path, path: Path) -> None:
    """`source` at `path`, whole or not at all: a hard link when both are on one file system, else a copy."""
    with replaced_when_written(path) as temp:
        try:
            os.link(source, temp)
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(source, temp)
