"""Rule-checks benchmark, on the as-of tables of one real month, in one run: the Python passes of the rule checks
(`features.job_posts`, `features.replacements`) as installed (compiled with Cython by setup.py when a compiler was
there) next to the same modules run from their pure-Python source, and as the rule checks run them (installed, by
ranges of establishments in one process per CPU: `features.pass_parts`), with their agreement; then each rule's
query next to its reference (`features.bench_rules_reference`), on the passes' rows, with their agreement."""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow as pa

from core.benchmarks import load_average
from core.config import Config, FeaturesConfig
from core.home import Home
from core.machine import usable_cpus
from features import job_posts, replacements
from features.asof import prepare_as_of
from features.bench_rules_reference import reference_rule_queries
from features.pass_inputs import engine_source
from features.pass_parts import joined, run_by_ranges
from features.rules import RULES, register_rule_tables, rule_passes, rule_queries
from warehouse.contracts import has_contract_states
from warehouse.sql_engine import DuckDBEngine, SqlEngine, fetch_aggregate, load_table


def pure_python_module(module: ModuleType) -> ModuleType:
    """`module` run from its .py source (a module of its own, `<name>_pure_python`), whether or not the
    imported one is compiled."""
    short = module.__name__.rsplit(".", 1)[-1]
    source = Path(str(module.__file__)).with_name(f"{short}.py")
    name = f"{module.__name__}_pure_python"
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"{source}: no Python source to load")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses and pickling look their module up there
    spec.loader.exec_module(loaded)
    return loaded


def is_compiled(module: ModuleType) -> bool:
    """Whether `module` was loaded from a compiled extension rather than its .py source."""
    return not str(module.__file__).endswith(".py")


@dataclass(frozen=True)
class RulePassesBench:
    """Each pass as installed next to its pure-Python source, and each rule query next to its reference, on one
    month's inputs."""

    results: pd.DataFrame  # pass, input_rows, output_rows, inputs_seconds, pure_python_seconds, installed_seconds,
    #                        x_pure_python, by_parts_seconds, processes, x_installed, identical
    queries: pd.DataFrame  # rule, rows, reference_seconds, seconds, x_reference, identical
    as_of_seconds: float
    compiled: bool
    load_before: str
    load_after: str


# Each pass's name in the table, with the rule it serves.
LABELS = {
    "carence_successions": "carence_successions (carence)",
    "permanent_posts": "permanent_posts (poste_permanent)",
    "covered_replacements": "covered_replacements (remplacement_sans_absence)",
}


def _same(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(left, right, check_exact=True)
    except AssertionError:
        return False
    return True


def run_passes(engine: SqlEngine, config: Config) -> pd.DataFrame:
    """Each pass on the as-of tables already in `engine`: its inputs read whole, then the pure-Python source and
    the installed module on them, timed, and the pass as the rule checks run it (installed, its inputs read range
    by range, by parts of establishments), whose rows are left in its temp table for the rule queries; a row per
    pass (`RulePassesBench.results`)."""
    register_rule_tables(engine)
    processes = config.features.pass_processes or usable_cpus()
    rows = []
    for rule_pass in rule_passes():
        function = rule_pass.run.__name__
        module = sys.modules[rule_pass.run.__module__]
        with engine_source(engine, rule_pass.frames, rule_pass.constants(engine, config.features)) as source:
            started = time.perf_counter()
            arguments = source.arguments(None, None)
            inputs_seconds = time.perf_counter() - started
            started = time.perf_counter()
            expected = getattr(pure_python_module(module), function)(*arguments)
            pure_seconds = time.perf_counter() - started
            started = time.perf_counter()
            found = rule_pass.run(*arguments)
            installed_seconds = time.perf_counter() - started
            input_rows = len(arguments[0])
            del arguments
            started = time.perf_counter()
            results: list[pd.DataFrame] = []
            run_by_ranges(rule_pass.run, source, processes, results.append)
            by_parts = joined(results)
            by_parts_seconds = time.perf_counter() - started
        load_table(engine, rule_pass.table, pa.Table.from_pandas(by_parts, schema=rule_pass.schema, preserve_index=False))
        rows.append({"pass": LABELS.get(function, function), "input_rows": input_rows, "output_rows": len(found),
                     "inputs_seconds": inputs_seconds, "pure_python_seconds": pure_seconds,
                     "installed_seconds": installed_seconds, "x_pure_python": pure_seconds / installed_seconds,
                     "by_parts_seconds": by_parts_seconds, "processes": processes,
                     "x_installed": (inputs_seconds + installed_seconds) / by_parts_seconds,
                     "identical": _same(found, expected) and _same(by_parts, expected)})
    return pd.DataFrame(rows)


def run_queries(engine: SqlEngine, settings: FeaturesConfig) -> pd.DataFrame:
    """Each rule's query (`features.rules.rule_queries`) on the tables `run_passes` leaves in `engine`, after its
    reference (`features.bench_rules_reference`), each into a temp table, timed, and whether their rows are the same
    (every column, as many times each); a row per rule (`RulePassesBench.queries`)."""
    references = reference_rule_queries(settings)
    rows = []
    for rule, query in zip(RULES, rule_queries(settings), strict=True):
        reference_seconds = _timed_into(engine, "reference_rows", references[rule.id])
        seconds = _timed_into(engine, "rule_rows", query)
        count = fetch_aggregate(engine, "SELECT count(*) FROM rule_rows")[0]
        rows.append({"rule": rule.id, "rows": count, "reference_seconds": reference_seconds, "seconds": seconds,
                     "x_reference": reference_seconds / seconds,
                     "identical": _same_rows(engine, "reference_rows", "rule_rows")})
        for table in ("reference_rows", "rule_rows"):
            engine.drop_table(table)
    return pd.DataFrame(rows)


def _timed_into(engine: SqlEngine, table: str, query: str) -> float:
    """Seconds to create the temp table `table` from `query`."""
    started = time.perf_counter()
    engine.create_table(table, query)
    return time.perf_counter() - started


def _same_rows(engine: SqlEngine, left: str, right: str) -> bool:
    """Whether two tables hold the same rows, each as many times (EXCEPT ALL both ways)."""
    differ = (f"SELECT count(*) FROM (SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right}) "
              f"UNION ALL SELECT count(*) FROM (SELECT * FROM {right} EXCEPT ALL SELECT * FROM {left})")
    return bool(engine.fetch(differ).iloc[:, 0].eq(0).all())


def bench_rule_passes(home: Home, config: Config, as_of: date, memory_limit: str | None = None,
                      threads: int | None = None) -> RulePassesBench:
    """The rule checks' Python passes on the inputs of `as_of` (as-of tables computed by DuckDB, from the
    versioned contracts when the warehouse has them), installed next to pure Python; then the rule queries next to
    their reference, on the passes' rows."""
    path = home.warehouse / "establishments.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no warehouse; ingest DSN files or run `champollion simulate`")
    load_before = load_average()
    engine = DuckDBEngine.spilling_to(home.duckdb_tmp, memory_limit, threads)
    try:
        engine.attach_warehouse(home.warehouse)
        started = time.perf_counter()
        prepare_as_of(engine, as_of, config.features, config.ingest.inferred_end_after_months,
                      has_contract_states(home.warehouse))
        as_of_seconds = time.perf_counter() - started
        results = run_passes(engine, config)
        queries = run_queries(engine, config.features)
    finally:
        engine.close()
    return RulePassesBench(results, queries, as_of_seconds, is_compiled(job_posts) and is_compiled(replacements),
                           load_before, load_average())
