"""A month computed by ranges of establishments (`features.asof.prepare_month`, `prepare_part`) equals the month
computed in one pass (the path of an engine that does not split), on a world of temp-work agencies where it could
differ: missions counted at users in other ranges than their agency, a declarant that becomes an agency or stops
being one, missions whose user is another agency, does not declare itself or has no valid SIRET, a mission renamed
by a change block, replacements of temp workers whose absences the agency declares, an establishment with no
contract (an empty range)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import features.asof
import features.build
import features.indicators
from core.config import Config
from core.home import Home
from features.build import compute_feature_months
from features.rules import PassesStopped, PassWork, rule_passes
from tests.dsn_builder import Contract, Declaration, Individual, Workplace, envoi, write_dsn
from tests.feature_results import FeatureResults, read_whole
from warehouse.contracts import rebuild_contracts_sql
from warehouse.ingest import ingest
from warehouse.sql_engine import DuckDBEngine, SqlEngine

USER_LOW = "10000000000010"  # declares; its SIRET sorts below the agency's
AGENCY = "20000000000020"  # 7820Z throughout
UNDECLARED_USER = "25000000000025"  # known only from the agency's S21.G00.85
FORMER_AGENCY = "30000000000030"  # 7820Z until 2025-02, then 7830Z
LATER_AGENCY = "40000000000040"  # 5610A until 2025-02, then 7820Z
EMPTY = "50000000000050"  # declares nobody
SHOP = "60000000000060"  # 4711D: declares contracts of nature 03 with a user, never an agency
USER_HIGH = "90000000000090"  # declares; its SIRET sorts above the agency's
DECLARANTS = (USER_LOW, AGENCY, FORMER_AGENCY, LATER_AGENCY, EMPTY, SHOP, USER_HIGH)
MONTHS = [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
# (declarant, person, contract, first month declared, last month declared, end declared in the last month)
Spell = tuple[str, int, Contract, str, str, tuple[str, str] | None]


def _naf(siret: str, month: str) -> str:
    if siret == FORMER_AGENCY:
        return "7820Z" if month < "2025-03" else "7830Z"
    if siret == LATER_AGENCY:
        return "5610A" if month < "2025-03" else "7820Z"
    return {AGENCY: "7820Z", SHOP: "4711D", USER_HIGH: "8710A"}.get(siret, "5610A")


def _mission(number: str, start: str, user: str | None, title: str = "Manutentionnaire", motif: str = "02",
             planned_end: str | None = None, absence: tuple[str, str, str] | None = None) -> Contract:
    return Contract(number, start, nature="03", motif=motif, title=title, planned_end=planned_end, user_siret=user,
                    absence=absence)


def _spells() -> Iterator[Spell]:
    people = iter(range(1, 10_000))
    for user in (USER_LOW, USER_HIGH, UNDECLARED_USER, FORMER_AGENCY, LATER_AGENCY, SHOP, "123", None, "ABCDEFGHIJKLMN"):
        # three missions for a temporary increase of activity on one post: délai de carence at the user
        yield (AGENCY, next(people), _mission(f"M-{user}", "2024-08-05", user, planned_end="2024-10-31"),
               "2024-08", "2024-10", ("2024-10-31", "059"))
        yield (AGENCY, next(people), _mission(f"N-{user}", "2024-11-03", user, planned_end="2024-11-30"),
               "2024-11", "2024-11", ("2024-11-30", "059"))
        yield (AGENCY, next(people), _mission(f"O-{user}", "2024-12-02", user, planned_end="2025-12-31"),
               "2024-12", "2025-06", None)
    renewed = next(people)
    for month, planned_end in (("2024-09", "2024-09-30"), ("2024-10", "2024-10-31"), ("2024-11", "2024-11-30"),
                               ("2024-12", "2024-12-31"), ("2025-01", "2025-01-31")):
        yield (AGENCY, renewed, _mission("R-1", "2024-09-02", USER_HIGH, planned_end=planned_end), month, month,
               ("2025-01-31", "059") if month == "2025-01" else None)
    # replacements at the users: of an absent CDI holder, of a temp worker whose absence the agency declares, of
    # nobody away
    yield (AGENCY, next(people), _mission("REPL-1", "2025-02-03", USER_HIGH, motif="01", title="Infirmier"),
           "2025-02", "2025-06", None)
    yield (USER_HIGH, next(people), Contract("CDI-1", "2020-01-01", nature="01", motif=None, title="Infirmier",
                                             absence=("01", "2025-02-01", "2025-04-30")), "2024-07", "2025-06", None)
    yield (AGENCY, next(people), _mission("PLONGE-1", "2025-01-06", USER_LOW, title="Plongeur", planned_end="2025-12-31",
                                          absence=("01", "2025-04-04", "2025-04-30")), "2025-01", "2025-06", None)
    yield (AGENCY, next(people), _mission("REPL-B", "2025-04-07", USER_LOW, motif="01", title="Plongeur"),
           "2025-04", "2025-06", None)
    yield (USER_LOW, next(people), Contract("REPL-C", "2025-03-03", motif="01", title="Barman"), "2025-03", "2025-06", None)
    yield (USER_LOW, next(people), Contract("C1", "2024-08-01", planned_end="2024-08-31"), "2024-08", "2024-08",
           ("2024-08-31", "031"))
    yield (USER_LOW, next(people), Contract("C2", "2024-09-02", planned_end="2024-12-31"), "2024-09", "2024-12",
           ("2024-12-31", "031"))
    for user in (USER_LOW, USER_HIGH):
        yield (FORMER_AGENCY, next(people), _mission(f"F-{user}", "2024-10-01", user, planned_end="2025-12-31"),
               "2024-10", "2025-06", None)
    yield (FORMER_AGENCY, next(people), Contract("F-STAFF", "2018-01-01", nature="01", motif=None, title="Commercial"),
           "2024-07", "2025-06", None)
    for user in (USER_LOW, USER_HIGH, UNDECLARED_USER):
        yield (LATER_AGENCY, next(people), _mission(f"L-{user}", "2024-10-01", user, planned_end="2025-12-31",
                                                    absence=("01", "2025-04-01", "2025-04-10")), "2024-10", "2025-06", None)
    yield (SHOP, next(people), _mission("S-1", "2024-10-01", USER_LOW, planned_end="2025-12-31"), "2024-10", "2025-06", None)
    # a mission renamed by a change block (S21.G00.41), with absences under both numbers
    renamed = next(people)
    old = _mission("OLDNUM", "2024-09-02", USER_HIGH, planned_end="2025-12-31", absence=("01", "2024-10-01", "2024-10-15"))
    new = replace(old, number="NEWNUM", absence=None)
    changed = replace(new, change={"001": "01122024", "014": "OLDNUM"}, absence=("01", "2024-12-01", "2025-01-15"))
    for month in MONTHS[2:]:
        declared = old if month < "2024-12" else changed if month == "2024-12" else new
        yield AGENCY, renamed, declared, month, month, None


@pytest.fixture(scope="module")
def agencies_world(tmp_path_factory: pytest.TempPathFactory, test_key: bytes) -> Home:
    """The spells declared month by month, 2024-07 to 2025-06, and ingested."""
    root = tmp_path_factory.mktemp("agencies")
    contracts: dict[tuple[str, str], dict[int, list[Contract]]] = {}
    for siret, person, contract, first, last, end in _spells():
        for month in MONTHS:
            if first <= month <= last:
                declared = replace(contract, end=end) if month == last and end else contract
                contracts.setdefault((month, siret), {}).setdefault(person, []).append(declared)
    files = []
    for order, month in enumerate(MONTHS, start=1):
        declarations = [Declaration(siret, month, [
            Individual(nir=f"1800175{person:06d}", surname=f"P{person}", contracts=held)
            for person, held in sorted(contracts.get((month, siret), {}).items())
        ], naf=_naf(siret, month), order=str(order), workplaces=[
            Workplace(UNDECLARED_USER, "2511Z", "13001"), Workplace(USER_HIGH, "8710A", "69003"),
            Workplace("123", "2511Z", "13002")] if siret == AGENCY else []) for siret in DECLARANTS]
        files.append(write_dsn(root / "dsn" / f"{month}.dsn", envoi(declarations)))
    home = Home(root / "home")
    ingest(files, home, Config(), test_key)
    return home


def _month(home: Home, as_of: date, from_states: bool) -> FeatureResults:
    with DuckDBEngine() as engine:
        return read_whole(next(compute_feature_months(engine, home.warehouse, [as_of], Config(), None, from_states)))


def _both_ways(home: Home, as_of: date, from_states: bool,
               monkeypatch: pytest.MonkeyPatch) -> tuple[FeatureResults, FeatureResults, int]:
    """The month in one pass, then by ranges of one establishment (indicators by ranges of two contracts), and the
    number of ranges."""
    with monkeypatch.context() as whole_month:
        whole_month.setattr(DuckDBEngine, "splits_large_aggregates", False)
        whole = _month(home, as_of, from_states)
    cuts: list[list[str]] = []

    def siret_cuts(engine: SqlEngine, sirets: str, parts: int) -> list[str]:
        cuts.append(cut(engine, sirets, parts))
        return cuts[-1]

    cut = features.asof.siret_cuts
    with monkeypatch.context() as by_ranges:
        by_ranges.setattr(features.asof, "STATES_PER_PART", 1)
        by_ranges.setattr(features.indicators, "CONTRACTS_PER_PART", 2)
        by_ranges.setattr(features.asof, "siret_cuts", siret_cuts)
        parts = _month(home, as_of, from_states)
    return whole, parts, len(cuts[0]) + 1


def _assert_same(whole: FeatureResults, parts: FeatureResults) -> None:
    assert parts.contracts == whole.contracts
    assert list(parts.stage_seconds) == list(whole.stage_seconds)
    pd.testing.assert_frame_equal(whole.features, parts.features)
    pd.testing.assert_frame_equal(whole.evidence, parts.evidence)


@pytest.mark.parametrize("from_states", [False, True])
@pytest.mark.parametrize("as_of", [date(2024, 11, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 6, 1)])
def test_a_month_by_ranges_equals_one_pass(agencies_world, as_of, from_states, monkeypatch):
    whole, parts, ranges = _both_ways(agencies_world, as_of, from_states, monkeypatch)
    assert ranges >= 5
    # the agencies' missions count at users in other ranges than theirs
    assert (whole.features.set_index("siret").loc[[USER_LOW, USER_HIGH], "share_hires_mission_12m"] > 0).all()
    _assert_same(whole, parts)


def test_a_month_with_more_agencies_than_named_joins_their_table(agencies_world, monkeypatch):
    """Beyond `MAX_NAMED_AGENCIES`, the agencies' contracts are rebuilt joined to the table of their SIRETs: the same
    month."""
    monkeypatch.setattr(features.asof, "MAX_NAMED_AGENCIES", 0)
    whole, parts, _ = _both_ways(agencies_world, date(2025, 6, 1), True, monkeypatch)
    _assert_same(whole, parts)


def test_a_contract_declared_without_siret_goes_with_the_last_range(agencies_world, monkeypatch):
    """Ingestion quarantines a declaration without a valid SIRET; a warehouse written otherwise may hold snapshots
    without one: both paths keep them (with the last range), though no establishment counts them."""
    attach = DuckDBEngine.attach_warehouse

    def with_unsigned_snapshots(self: DuckDBEngine, warehouse: Path) -> None:
        attach(self, warehouse)
        for view in ("contract_months", "contract_ends"):
            definition = str(self.fetch(f"SELECT sql FROM duckdb_views() WHERE view_name = '{view}'")["sql"].iloc[0])
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view}_read AS {definition.split(' AS ', 1)[1].rstrip(';')}")
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_read UNION ALL "
                             f"SELECT * REPLACE (NULL::VARCHAR AS siret) FROM {view}_read WHERE contract_number = 'C2'")

    signed = _month(agencies_world, date(2025, 6, 1), False)
    monkeypatch.setattr(DuckDBEngine, "attach_warehouse", with_unsigned_snapshots)
    whole, parts, _ = _both_ways(agencies_world, date(2025, 6, 1), False, monkeypatch)
    assert whole.contracts == signed.contracts + 1
    _assert_same(whole, parts)


def _failing_at_call(function: object, at: int) -> object:
    """`function` wrapped to raise RuntimeError on its `at`-th call (from 1)."""
    calls = []

    def wrapped(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == at:
            raise RuntimeError(f"{getattr(function, '__name__', function)} failed in call {at}")
        return function(*args, **kwargs)  # type: ignore[operator]
    return wrapped


@pytest.mark.parametrize("failing", ["run_pass_work", "prepare_part"])
def test_a_range_that_fails_beside_the_rule_passes_fails_the_month(agencies_world, failing, monkeypatch):
    """A range's rule passes run in a thread while the engine prepares the next range: a failure on either side is
    the month's error (no month is yielded), once the thread has ended, and the engine is left usable."""
    monkeypatch.setattr(features.asof, "STATES_PER_PART", 1)
    # the third call: the third range's passes, or the third range prepared beside the second's passes
    monkeypatch.setattr(features.build, failing, _failing_at_call(getattr(features.build, failing), 3))
    with DuckDBEngine() as engine:
        with pytest.raises(RuntimeError, match=f"{failing} failed in call 3"):
            next(compute_feature_months(engine, agencies_world.warehouse, [date(2025, 6, 1)], Config()))
        assert engine.fetch_row("SELECT 42") == (42,)
        monkeypatch.undo()
        again = read_whole(next(compute_feature_months(engine, agencies_world.warehouse, [date(2025, 6, 1)], Config())))
    assert again.features.equals(_month(agencies_world, date(2025, 6, 1), True).features)


def test_a_failed_month_leaves_no_next_range_behind(agencies_world, monkeypatch):
    """The tables of a next range prepared before a month failed are dropped by the next month the engine computes,
    though it has a single range and prepares none."""
    with DuckDBEngine() as engine:
        with monkeypatch.context() as failing:
            failing.setattr(features.asof, "STATES_PER_PART", 1)
            failing.setattr(features.build, "finish_rule_evidence", _failing_at_call(features.build.finish_rule_evidence, 1))
            with pytest.raises(RuntimeError, match="failed in call 1"):
                next(compute_feature_months(engine, agencies_world.warehouse, [date(2025, 6, 1)], Config()))
        assert set(engine.fetch("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%_next'")["table_name"]) == {
            "contracts_asof_next", "absences_asof_next", "part_establishments_next"}
        next(compute_feature_months(engine, agencies_world.warehouse, [date(2025, 6, 1)], Config()))
        assert engine.fetch("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%_next'").empty


def test_the_rule_passes_stop_when_the_month_fails_beside_them(agencies_world, monkeypatch):
    """A failure while a range's passes run stops them after their current range of rows (PassesStopped), so that the
    error reaches the caller without waiting for every pass of the range."""
    run_pass_work = features.build.run_pass_work
    saw_stop: list[bool] = []

    def waiting_for_the_stop(work: PassWork, stopped: Callable[[], bool]) -> object:
        for _ in range(200):  # at most 10 s
            if stopped():
                break
            time.sleep(0.05)
        saw_stop.append(stopped())
        return run_pass_work(work, stopped)

    monkeypatch.setattr(features.asof, "STATES_PER_PART", 1)
    monkeypatch.setattr(features.build, "run_pass_work", waiting_for_the_stop)
    monkeypatch.setattr(features.build, "prepare_part", _failing_at_call(features.build.prepare_part, 2))
    with DuckDBEngine() as engine, pytest.raises(RuntimeError, match="prepare_part failed in call 2"):
        next(compute_feature_months(engine, agencies_world.warehouse, [date(2025, 6, 1)], Config()))
    assert saw_stop == [True]
    with pytest.raises(PassesStopped, match="not started"):
        run_pass_work(PassWork(((rule_passes()[0], ()),)), lambda: True)


@pytest.mark.parametrize("from_states", [False, True])
def test_an_empty_list_of_declarants_rebuilds_no_contract(agencies_world, from_states):
    """A month's agencies are named in the query that rebuilds their contracts: a month without any rebuilds none
    (a query naming no declarant rebuilds everyone's)."""
    june, history = date(2025, 6, 1), date(2024, 7, 1)
    with DuckDBEngine() as engine:
        engine.attach_warehouse(agencies_world.warehouse)
        counts = [engine.fetch_row(f"""SELECT count(*) FROM ({rebuild_contracts_sql(
            june, 3, history, features_only=True, declarants=declarants, from_states=from_states)})""")[0]
                  for declarants in ([], [AGENCY], None)]
    assert counts[0] == 0 < counts[1] < counts[2]
