"""Ingestion into the warehouse: contracts rebuilt, cancel-and-replace, temp missions, bad input."""

from __future__ import annotations

import csv
import gzip
import itertools
import os
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import Config
from core.home import Home
from features.bench_reference import declared_ends, read_sample
from features.build import compute_features
from tests.dsn_builder import Contract, Declaration, Individual, Workplace, envoi, render, write_dsn
from tests.old_batches import as_written_before_addresses
from warehouse.contracts import rebuild_contracts_sql
from warehouse.engine import attach_warehouse, connect
from warehouse.ingest import IngestSummary, ingest
from warehouse.sql_engine import DuckDBEngine
from warehouse.tables import MONTHLY_TABLES

RESTAURANT = "12345678900011"
AGENCY = "55555555500019"
USER = "77777777700015"


@pytest.fixture
def run(test_key: bytes) -> Callable[..., IngestSummary]:
    """Ingest files into a home with the tests' pseudonymisation key: run(home, config, *paths)."""

    def ingest_files(home: Home, config: Config, *paths: Path) -> IngestSummary:
        return ingest(list(paths), home, config, test_key)

    return ingest_files


def contracts(home) -> list[dict]:
    rel = duckdb.sql(f"SELECT * FROM '{home.warehouse / 'contracts.parquet'}' ORDER BY start_date, contract_number")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def table(home, name: str) -> list[dict]:
    rel = duckdb.sql(
        f"SELECT * EXCLUDE (declared_month) FROM read_parquet('{home.warehouse / name}/*/*.parquet', hive_partitioning=true)"
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def monthly(siret: str, month: str, contracts_: list[Contract], order: str, **kwargs) -> Declaration:
    return Declaration(siret, month, [Individual(contracts=contracts_)], order=order, **kwargs)


def test_renewals_are_pushes_of_the_planned_end(tmp_path, home, config, run):
    months = [("2025-01", "2025-01-31"), ("2025-02", "2025-02-28"), ("2025-03", "2025-04-30"), ("2025-04", "2025-04-30")]
    decls = [
        monthly(RESTAURANT, m, [Contract("C1", "2025-01-06", planned_end=end,
                                         end=("2025-04-30", "031") if m == "2025-04" else None)], str(i))
        for i, (m, end) in enumerate(months, 1)
    ]
    run(home, config, write_dsn(tmp_path / "in" / "a.dsn", envoi(decls)))
    [contract] = contracts(home)
    assert contract["renewals"] == 2
    assert contract["planned_end_first"] == date(2025, 1, 31)
    assert contract["planned_end_last"] == date(2025, 4, 30)
    assert (contract["end_date"], contract["end_declared"], contract["end_motif"]) == (date(2025, 4, 30), True, "031")


def test_a_month_without_planned_end_neither_counts_nor_hides_a_renewal(tmp_path, home, config, run):
    months = [("2025-01", "2025-02-28"), ("2025-02", None), ("2025-03", "2025-05-31"), ("2025-04", "2025-05-31")]
    decls = [
        monthly(RESTAURANT, m, [Contract("C1", "2025-01-06", planned_end=end)], str(i))
        for i, (m, end) in enumerate(months, 1)
    ]
    run(home, config, write_dsn(tmp_path / "in" / "a.dsn", envoi(decls)))
    [contract] = contracts(home)
    assert contract["renewals"] == 1
    assert contract["planned_end_last"] == date(2025, 5, 31)


@pytest.mark.parametrize(
    ("months_after", "planned_end", "expected_end"),
    [
        (3, "2025-01-20", date(2025, 1, 20)),  # planned end inside the last declared month
        (3, "2025-03-15", date(2025, 1, 31)),  # planned end elsewhere: end of the last declared month
        (2, "2025-01-20", None),  # not yet three months without it: still open
    ],
)
def test_end_is_inferred_after_three_more_months(tmp_path, home, config, months_after, planned_end, expected_end, run):
    other = Contract("CDI1", "2020-01-01", nature="01", motif=None)
    decls = [monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", planned_end=planned_end), other], "1")]
    for i in range(months_after):
        decls.append(monthly(RESTAURANT, f"2025-{i + 2:02d}", [other], str(i + 2)))
    run(home, config, write_dsn(tmp_path / "in" / "a.dsn", envoi(decls)))
    short = next(c for c in contracts(home) if c["contract_number"] == "C1")
    assert short["end_date"] == expected_end
    assert short["end_inferred"] is (expected_end is not None)
    assert short["end_declared"] is False


def _original_and_replacement():
    original = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", title="Servur")], "100")
    replacement = monthly(
        RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", title="Serveur")], "200",
        type="03", replaces=original.identifier(), created="2025-02-20",
    )
    return original, replacement


@pytest.mark.parametrize("replacement_first", [False, True])
def test_cancel_and_replace_in_either_order(tmp_path, home, config, replacement_first, run):
    original, replacement = _original_and_replacement()
    a = write_dsn(tmp_path / "a.dsn", envoi([original]))
    b = write_dsn(tmp_path / "b.dsn", envoi([replacement]))
    for path in ([b, a] if replacement_first else [a, b]):
        run(home, config, path)
    [contract] = contracts(home)
    assert contract["job_title"] == "Serveur"
    rows = table(home, "contract_months")
    assert len(rows) == 1
    statuses = duckdb.sql(f"SELECT type, status FROM '{home.warehouse / 'declaration_status.parquet'}' ORDER BY type").fetchall()
    assert statuses == [("01", "replaced"), ("03", "kept")]


def test_cancellation_then_new_declaration(tmp_path, home, config, run):
    original = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", title="Faux")], "100")
    cancel = Declaration(RESTAURANT, "2025-01", [], order="101", type="04", replaces=original.identifier(), created="2025-02-10")
    fresh = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", title="Vrai")], "102", created="2025-02-11")
    run(home, config, write_dsn(tmp_path / "c.dsn", envoi([cancel, fresh])))
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([original])))
    assert [c["job_title"] for c in contracts(home)] == ["Vrai"]
    statuses = dict(duckdb.sql(f"SELECT order_number, status FROM '{home.warehouse / 'declaration_status.parquet'}' s "
                               "JOIN (SELECT declaration_key, order_number "
                               f"FROM read_parquet('{home.staging}/declarations/*.parquet')) USING (declaration_key)").fetchall())
    assert statuses == {"100": "cancelled", "101": "cancellation", "102": "kept"}


def test_replacement_that_replaces_nothing_is_reported(tmp_path, home, config, run):
    orphan = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "7", type="03", replaces="0502202599")
    summary = run(home, config, write_dsn(tmp_path / "a.dsn", envoi([orphan])))
    assert summary.issue_kinds["replaces_nothing"] == 1
    assert len(contracts(home)) == 1  # a full replacement still carries the month's data


def statuses_by_file(home: Home) -> dict[str, str]:
    """File name -> status of the monthly declarations read from it (one a file)."""
    rows = duckdb.sql(f"SELECT source_file, status FROM '{home.warehouse / 'declaration_status.parquet'}'").fetchall()
    return {Path(file).name: status for file, status in rows}


def report(summary: IngestSummary) -> list[dict]:
    """The rows of a run's issues report."""
    assert summary.issues_report is not None
    with summary.issues_report.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# Two contents under one declaration identifier (constitution date and order number 100).
COPIES = {
    # the second copy declares one more contract: it holds more lines, and is the one read
    "more_lines": ([Contract("C1", "2025-01-06")], [Contract("C1", "2025-01-06"), Contract("C2", "2025-01-13")]),
    # as many lines, a job title differs: one of them is read, the same whatever the files and their order
    "same_size": ([Contract("C1", "2025-01-06", title="Serveur")], [Contract("C1", "2025-01-06", title="Plongeur")]),
}


@pytest.mark.parametrize("case", COPIES)
def test_copies_of_one_identifier_declaring_other_content_are_a_conflict(tmp_path, config, run, case):
    """Two files carry one declaration identifier with different content: whatever the files' names, whether they
    arrive in one run or two and in which order, the same copy is read; the other is an id_conflict error naming both
    files, its month counts once, and its lines are in the quarantine."""
    first, second = (monthly(RESTAURANT, "2025-01", contracts_, "100") for contracts_ in COPIES[case])
    read = set()
    arrangements = itertools.product([("a.dsn", "b.dsn"), ("b.dsn", "a.dsn")], ["together", "first", "second"])
    for i, (names, runs) in enumerate(arrangements):
        folder = tmp_path / f"in-{i}"
        paths = [write_dsn(folder / names[0], envoi([first])), write_dsn(folder / names[1], envoi([second]))]
        home = Home(tmp_path / f"home-{i}")
        for batch in {"together": [paths], "first": [paths[:1], paths[1:]], "second": [paths[1:], paths[:1]]}[runs]:
            summary = run(home, config, *batch)
        statuses = statuses_by_file(home)
        assert sorted(statuses.values()) == ["id_conflict", "kept"]
        kept = next(name for name, status in statuses.items() if status == "kept")
        [conflict] = [row for row in report(summary) if row["kind"] == "id_conflict"]
        set_aside = next(name for name in statuses if name != kept)
        assert (Path(conflict["file"]).name, conflict["severity"]) == (set_aside, "error")
        assert str(folder / kept) in conflict["reason"] and "set aside and quarantined" in conflict["reason"]
        rows = table(home, "contract_months")
        read.add(tuple(sorted((row["contract_number"], row["job_title"]) for row in rows)))
        [quarantined] = home.quarantine.glob("*-00000-set-aside.dsn")
        set_aside_lines = (first if set_aside == names[0] else second).lines()
        assert quarantined.read_text(encoding="utf-8") == "".join(line + "\n" for line in render(set_aside_lines))
        assert (summary.set_aside, summary.issue_kinds["duplicate_declaration"]) == (1, 0)
    assert len(read) == 1
    if case == "more_lines":
        assert [number for number, _ in read.pop()] == ["C1", "C2"]


def test_identical_copies_stay_duplicates_in_any_run_and_after_a_rebuild(tmp_path, home, config, run, test_key):
    """The same declaration in two files (other line ends; one staged by a release that kept no street) is a duplicate,
    counted once; another content under its identifier, arriving in a later run, is a conflict; a rebuild finds the
    same."""
    one, more = (Declaration(RESTAURANT, "2025-01", [Individual(contracts=contracts_)], order="100", street="1 RUE VOLTAIRE")
                 for contracts_ in COPIES["more_lines"])
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([more])))
    as_written_before_addresses(home)
    summary = run(home, config, write_dsn(tmp_path / "b.dsn", envoi([more]), newline="\n"))
    assert (summary.set_aside, summary.issue_kinds["duplicate_declaration"]) == (0, 1)
    summary = run(home, config, write_dsn(tmp_path / "c.dsn", envoi([one])))
    statuses = statuses_by_file(home)
    assert (summary.set_aside, statuses["c.dsn"], sorted([statuses["a.dsn"], statuses["b.dsn"]])) == (
        1, "id_conflict", ["duplicate", "kept"])
    rebuilt = ingest([], home, config, test_key, rebuild=True)
    assert (rebuilt.set_aside, statuses_by_file(home)) == (1, statuses)
    assert sorted(row["contract_number"] for row in table(home, "contract_months")) == ["C1", "C2"]


WAITER = Individual(contracts=[Contract("C1", "2025-01-06")])
COOK = Individual(nir="2800175123456", surname="DURAND", contracts=[Contract("C2", "2025-01-13", title="Cuisinier")])
# A month declared whole (fraction 11) and in fractions (12, 22), each declaration in its own file:
# (file, individuals, fraction, constitution date), and the files whose declarations are kept.
FRACTION_CASES = {
    # the fractions are complete and sent after the whole declaration: they are kept
    "fractions_sent_last": ([("whole.dsn", [WAITER, COOK], "11", "2025-02-05"), ("one.dsn", [WAITER], "12", "2025-02-10"),
                             ("two.dsn", [COOK], "22", "2025-02-11")], {"one.dsn", "two.dsn"}),
    # the whole declaration is sent after the fractions: it is kept
    "whole_sent_last": ([("whole.dsn", [WAITER, COOK], "11", "2025-02-12"), ("one.dsn", [WAITER], "12", "2025-02-10"),
                         ("two.dsn", [COOK], "22", "2025-02-11")], {"whole.dsn"}),
    # the fractions sent last lack their second: the whole declaration, complete, is kept
    "fractions_incomplete": ([("whole.dsn", [WAITER, COOK], "11", "2025-02-05"), ("one.dsn", [WAITER], "12", "2025-02-10")],
                             {"whole.dsn"}),
}


@pytest.mark.parametrize("case", FRACTION_CASES)
def test_a_month_declared_whole_and_in_fractions_counts_once(tmp_path, config, run, test_key, case):
    """An establishment's month declared both whole (11) and in fractions (12, 22): one set is kept (the complete one,
    then the one sent last), whatever the order the files arrive in, in one run or several, and after a rebuild; each
    declaration of the other set is a fraction_conflict error naming the files kept, and is quarantined."""
    declarations, expected = FRACTION_CASES[case]
    for i, runs in enumerate(["together", "in_order", "reversed"]):
        folder, home = tmp_path / f"in-{i}", Home(tmp_path / f"home-{i}")
        paths = [write_dsn(folder / name, envoi([Declaration(RESTAURANT, "2025-01", people, order=str(n), fraction=fraction,
                                                             created=created)]))
                 for n, (name, people, fraction, created) in enumerate(declarations, start=1)]
        summaries = [run(home, config, *batch) for batch in
                     {"together": [paths], "in_order": [[p] for p in paths], "reversed": [[p] for p in paths[::-1]]}[runs]]
        if runs == "reversed":
            summaries.append(ingest([], home, config, test_key, rebuild=True))
        statuses = statuses_by_file(home)
        assert {name for name, status in statuses.items() if status == "kept"} == expected
        assert {name for name, status in statuses.items() if status != "kept"} == set(statuses) - expected
        assert set(statuses.values()) == {"kept", "fraction_conflict"}
        assert sorted((row["contract_number"], row["person_key"] is not None) for row in table(home, "contract_months")) == [
            ("C1", True), ("C2", True)]
        assert len(table(home, "person_months")) == 2
        # Each declaration set aside is reported by the run that set it aside (by a rebuild again), naming the files kept.
        conflicts = {Path(row["file"]).name: row for summary in summaries for row in report(summary)
                     if row["kind"] == "fraction_conflict"}
        for name in set(statuses) - expected:
            assert all(str(folder / kept) in conflicts[name]["reason"] for kept in expected), conflicts[name]["reason"]
        assert summaries[-1].set_aside == len(statuses) - len(expected)
        assert len(list(home.quarantine.glob("*-00000-set-aside.dsn"))) == summaries[-1].set_aside


STATUS_KINDS = ("id_conflict", "fraction_conflict", "duplicate_declaration", "superseded", "replaces_nothing")


def test_a_later_run_reports_only_what_it_found(tmp_path, home, config, run):
    """What cancel-and-replace finds (conflicts, duplicates, superseded declarations, replacements of nothing) is in
    the report of the run that found it, not again in those of later runs bringing other files (each listed them all,
    ever more of them); the statuses still say them all. A later run setting aside a declaration read before reports
    that one only."""
    whole, one, _two = FRACTION_CASES["fractions_sent_last"][0]
    first, second = (monthly(RESTAURANT, "2025-01", contracts_, "100") for contracts_ in COPIES["more_lines"])
    earlier = monthly(USER, "2025-01", [Contract("C1", "2025-01-06")], "1", created="2025-02-05")
    orphan = monthly(AGENCY, "2025-01", [Contract("C1", "2025-01-06")], "7", type="03", replaces="0502202599")
    fractions = [Declaration(RESTAURANT, "2025-02", people, order=str(n), fraction=fraction,
                             created=created.replace("-02-", "-03-"))
                 for n, (_, people, fraction, created) in enumerate((whole, one), start=1)]
    found = run(home, config,
                write_dsn(tmp_path / "a.dsn", envoi([first, fractions[0]])), write_dsn(tmp_path / "b.dsn", envoi([second])),
                write_dsn(tmp_path / "c.dsn", envoi([second]), newline="\n"),
                write_dsn(tmp_path / "d.dsn", envoi([earlier, orphan, fractions[1]])),
                write_dsn(tmp_path / "e.dsn", envoi([monthly(USER, "2025-01", [Contract("C1", "2025-01-06")], "2",
                                                             created="2025-02-07")])))
    found_kinds = sorted((row["kind"], Path(row["file"]).name) for row in report(found) if row["kind"] in STATUS_KINDS)
    duplicate = next(name for kind, name in found_kinds if kind == "duplicate_declaration")  # b.dsn or c.dsn, the same
    assert found_kinds == [("duplicate_declaration", duplicate), ("fraction_conflict", "d.dsn"), ("id_conflict", "a.dsn"),
                           ("replaces_nothing", "d.dsn"), ("superseded", "d.dsn")]
    statuses = duckdb.sql(f"SELECT declaration_key, status, targets_nothing "
                          f"FROM '{home.warehouse / 'declaration_status.parquet'}' ORDER BY ALL").fetchall()

    march = monthly(RESTAURANT, "2025-03", [WAITER.contracts[0]], "9")
    later = run(home, config, write_dsn(tmp_path / "march.dsn", envoi([march])))
    assert [row for row in report(later) if row["kind"] in STATUS_KINDS] == []
    assert (later.errors, later.set_aside, later.status_counts["id_conflict"]) == (0, 2, 1)
    assert duckdb.sql(f"SELECT declaration_key, status, targets_nothing FROM '{home.warehouse / 'declaration_status.parquet'}' "
                      "WHERE month < DATE '2025-03-01' ORDER BY ALL").fetchall() == statuses

    # Fraction 22, sent last, completes the set: the whole declaration, kept until now, is set aside, and that only is new.
    completing = Declaration(RESTAURANT, "2025-02", _two[1], order="3", fraction="22", created="2025-03-11")
    settled = run(home, config, write_dsn(tmp_path / "two.dsn", envoi([completing])))
    assert [(Path(row["file"]).name, row["kind"]) for row in report(settled) if row["kind"] in STATUS_KINDS] == [
        ("a.dsn", "fraction_conflict")]


def test_a_warehouse_written_before_fractions_were_told_apart_is_mended_at_the_next_run(
        tmp_path, home, config, run, monkeypatch):
    """A warehouse whose month kept a whole declaration and its fractions (the rules before `fraction_conflict`) has
    that month rewritten by the next run, even when it brings only another month, and even when a run in between
    wrote the statuses right but not the month: its rows follow the statuses written beside them."""
    declarations, expected = FRACTION_CASES["fractions_sent_last"]
    paths = [write_dsn(tmp_path / name, envoi([Declaration(RESTAURANT, "2025-01", people, order=str(n), fraction=fraction,
                                                           created=created)]))
             for n, (name, people, fraction, created) in enumerate(declarations, start=1)]
    import warehouse.consolidate as consolidation

    before = consolidation.STATUS_SQL.replace("WHEN f.status = 'candidate' AND c.set_rank > 1 THEN 'fraction_conflict'", "")
    assert before != consolidation.STATUS_SQL
    with monkeypatch.context() as patched:
        patched.setattr(consolidation, "STATUS_SQL", before)
        run(home, config, *paths)
    assert len(table(home, "contract_months")) == 4  # counted twice: the whole declaration and its fractions
    # A release that settled fractions but rewrote only the months of new files: statuses right, the month not.
    with monkeypatch.context() as patched:
        patched.setattr(consolidation, "stored_months", lambda _warehouse: False)
        run(home, config, write_dsn(tmp_path / "december.dsn", envoi([
            Declaration(RESTAURANT, "2024-12", [WAITER], order="8", created="2025-01-05")])))
    assert {name for name, status in statuses_by_file(home).items() if status == "kept"} == expected | {"december.dsn"}
    assert len([row for row in table(home, "contract_months") if str(row["month"]).startswith("2025-01")]) == 4
    february = Declaration(RESTAURANT, "2025-02", [WAITER], order="9", created="2025-03-05")
    run(home, config, write_dsn(tmp_path / "february.dsn", envoi([february])))
    assert {name for name, status in statuses_by_file(home).items() if status == "kept"} == (
        expected | {"december.dsn", "february.dsn"})
    january = [row for row in table(home, "contract_months") if str(row["month"]).startswith("2025-01")]
    assert sorted(row["contract_number"] for row in january) == ["C1", "C2"]  # once


def test_temp_mission_is_attributed_to_the_user_establishment(tmp_path, home, config, run):
    mission = Contract("M1", "2025-01-06", nature="03", motif="02", planned_end="2025-01-10", user_siret=USER,
                       title="Manutentionnaire")
    agency = Declaration(AGENCY, "2025-01", [Individual(contracts=[mission])], order="1", naf="7820Z", idcc="2378",
                         workplaces=[(USER, "5210B", "69007")])
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([agency])))
    [contract] = contracts(home)
    assert (contract["siret"], contract["is_temp_mission"], contract["attributed_siret"]) == (AGENCY, True, USER)
    establishments = {row[0]: row[1:] for row in duckdb.sql(
        f"SELECT siret, naf, departement, region_code, declares FROM '{home.warehouse / 'establishments.parquet'}'").fetchall()}
    assert establishments[USER] == ("5210B", "69", "84", False)
    assert establishments[AGENCY][3] is True


def test_addresses_are_kept_from_the_establishment_and_the_user_blocks(tmp_path, home, config, run):
    """S21.G00.11.003-005 of the establishment, S21.G00.85.003-005 of a user establishment; of a private
    employer's workplace (85.010 = 05), a person's home, only the postal code, and never its name."""
    mission = Contract("M1", "2025-01-06", nature="03", motif="02", planned_end="2025-01-10", user_siret=USER)
    agency = Declaration(AGENCY, "2025-01", [Individual(contracts=[mission])], order="1", naf="7820Z", idcc="2378",
                         street="3 QUAI DU PORT", postal_code="13002", city="MARSEILLE",
                         workplaces=[Workplace(USER, "5210B", "69007", "40 AVENUE JEAN JAURES", "LYON", "01"),
                                     Workplace("98765432100017", "9700Z", "75011", "8 RUE SECRETE", "PARIS", "05",
                                               private_name="DURANDEAU")])
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([agency])))
    [declared] = table(home, "declarations")
    assert (declared["street"], declared["postal_code"], declared["city"]) == ("3 QUAI DU PORT", "13002", "MARSEILLE")
    places = {row["workplace_siret"]: (row["street"], row["postal_code"], row["city"]) for row in table(home, "workplaces")}
    assert places == {USER: ("40 AVENUE JEAN JAURES", "69007", "LYON"), "98765432100017": (None, "75011", None)}
    establishments = {row[0]: row[1:] for row in duckdb.sql(
        f"SELECT siret, street, postal_code, city FROM '{home.warehouse / 'establishments.parquet'}'").fetchall()}
    assert establishments[AGENCY] == ("3 QUAI DU PORT", "13002", "MARSEILLE")
    assert establishments[USER] == ("40 AVENUE JEAN JAURES", "69007", "LYON")
    written = [p for p in [*home.warehouse.rglob("*.parquet"), *home.staging.rglob("*.parquet")]]
    assert not any(b"SECRETE" in p.read_bytes() or b"DURANDEAU" in p.read_bytes() for p in written)


def test_batches_staged_before_addresses_are_read_with_none(tmp_path, home, config, run):
    """A warehouse whose batches have no street nor city: a later ingestion keeps their months (address
    NULL), adds the new month's address, and the features read both without error."""
    january = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", planned_end="2025-03-31")], "1")
    run(home, config, write_dsn(tmp_path / "jan.dsn", envoi([january])))
    as_written_before_addresses(home)
    february = monthly(RESTAURANT, "2025-02", [Contract("C1", "2025-01-06", planned_end="2025-03-31")], "2",
                       street="25 BOULEVARD VOLTAIRE", city="PARIS")
    summary = run(home, config, write_dsn(tmp_path / "feb.dsn", envoi([february])))
    assert summary.errors == 0
    con = connect()
    attach_warehouse(con, home.warehouse)
    by_month = con.execute("SELECT month, street, city, postal_code FROM declarations ORDER BY month").fetchall()
    assert by_month == [(date(2025, 1, 1), None, None, "75011"), (date(2025, 2, 1), "25 BOULEVARD VOLTAIRE", "PARIS", "75011")]
    assert len(contracts(home)) == 1
    with DuckDBEngine() as engine:
        for as_of, street in ((date(2025, 1, 1), None), (date(2025, 2, 1), "25 BOULEVARD VOLTAIRE")):
            features = compute_features(engine, home.warehouse, as_of, config).features
            assert features.loc[0, "siret"] == RESTAURANT and features.loc[0, "street"] == street
            assert features.loc[0, "postal_code"] == "75011"


def test_nature_03_outside_a_temp_agency_is_not_attributed(tmp_path, home, config, run):
    mission = Contract("M1", "2025-01-06", nature="03", motif="02", user_siret=USER)
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [mission], "1")])))
    [contract] = contracts(home)
    assert (contract["is_temp_mission"], contract["attributed_siret"]) == (False, RESTAURANT)


def test_change_block_gives_the_initial_nature(tmp_path, home, config, run):
    january = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", nature="02", motif="02")], "1")
    converted = Contract("C1", "2025-01-06", nature="01", motif=None,
                         change={"001": "01022025", "004": "02", "016": "02"})
    february = monthly(RESTAURANT, "2025-02", [converted], "2")
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([january, february])))
    [contract] = contracts(home)
    assert (contract["nature"], contract["nature_initial"], contract["nature_change_date"]) == ("01", "02", date(2025, 2, 1))
    assert contract["motif_initial"] == "02"


def test_ingesting_twice_changes_nothing(tmp_path, home, config, run):
    path = write_dsn(tmp_path / "in" / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    run(home, config, path)
    before = contracts(home)
    second = run(home, config, tmp_path / "in")
    assert (second.files_new, second.files_already_ingested) == (0, 1)
    assert contracts(home) == before
    assert len(table(home, "contract_months")) == 1


def test_runs_within_one_second_each_keep_their_report(tmp_path, home, config, run, monkeypatch):
    import warehouse.ingest

    moment = datetime(2026, 12, 6, 22, 13, 33)
    monkeypatch.setattr(warehouse.ingest, "datetime", type("Frozen", (datetime,), {"now": classmethod(lambda cls: moment)}))
    bad = tmp_path / "bad.dsn"
    bad.write_bytes(b"")
    first = run(home, config, bad)
    good = write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    second = run(home, config, good)
    assert first.issues_report != second.issues_report
    assert "no_declaration" in first.issues_report.read_text(encoding="utf-8")


def test_gzip_files_and_folders_are_read(tmp_path, home, config, run):
    text = "\r\n".join(render(envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))) + "\r\n"
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    (folder / "a.dsn.gz").write_bytes(gzip.compress(text.encode("latin-1")))
    (folder / "notes.txt").write_text("not a DSN file")
    summary = run(home, config, tmp_path / "in")
    assert (summary.files_new, summary.files_skipped_not_dsn) == (1, 1)
    assert len(contracts(home)) == 1


def test_bad_declarations_are_quarantined_and_the_rest_kept(tmp_path, home, config, run):
    good = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")
    no_month = monthly("98765432100017", "2025-01", [Contract("C2", "2025-01-06")], "2")
    lines = render(envoi([good, no_month]))
    second_month_line = [i for i, line in enumerate(lines) if line.startswith("S20.G00.05.005")][1]
    del lines[second_month_line]
    path = write_dsn(tmp_path / "a.dsn", lines)
    summary = run(home, config, path)
    assert summary.quarantined == 1 and summary.monthly_declarations == 1
    assert [c["siret"] for c in contracts(home)] == [RESTAURANT]
    reason = next(home.quarantine.glob("*.reason.txt")).read_text()
    assert "declared month S20.G00.05.005 missing or invalid" in reason
    raw = next(home.quarantine.glob("*.dsn")).read_text(encoding="latin-1")
    assert "S21.G00.40.009,'C2'" in raw and "C1" not in raw
    # Raw DSN (NIRs, names): readable by the warehouse's owner only.
    assert home.quarantine.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in home.quarantine.glob("*.dsn")} == {0o600}
    with open(summary.issues_report, encoding="utf-8") as handle:
        issues = list(csv.DictReader(handle))
    quarantined = [i for i in issues if i["kind"] == "quarantined"]
    assert quarantined and quarantined[0]["file"] == str(path) and quarantined[0]["line"]


def test_a_line_too_long_to_be_a_dsn_line_is_not_gathered_in_memory_and_its_declaration_is_quarantined(
        tmp_path, home, config, run):
    """17 MiB of NUL bytes where a line should be (a copy that failed part-way): the reader drops them as it reads,
    a line saying so stands in their place, its declaration is quarantined and the file's other declaration kept."""
    from warehouse.dsn.reader import MAX_LINE_BYTES

    good = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")
    broken = monthly("98765432100017", "2025-01", [Contract("C2", "2025-01-06")], "2")
    lines = render(envoi([good, broken]))
    at = next(i for i, line in enumerate(lines) if line.startswith("S21.G00.40.009,'C2'"))
    text = "\n".join(lines[:at]) + "\n" + "\0" * (MAX_LINE_BYTES + 1024 * 1024) + "\n" + "\n".join(lines[at:]) + "\n"
    path = tmp_path / "a.dsn"
    path.write_bytes(text.encode("latin-1"))
    summary = run(home, config, path)
    assert summary.quarantined == 1 and summary.monthly_declarations == 1
    assert [c["siret"] for c in contracts(home)] == [RESTAURANT]
    raw = next(home.quarantine.glob("*.dsn")).read_text(encoding="latin-1")
    assert f"[line not read: {MAX_LINE_BYTES + 1024 * 1024} bytes, longer than the {MAX_LINE_BYTES}" in raw
    assert "\0" not in raw and "S21.G00.40.009,'C2'" in raw
    with open(summary.issues_report, encoding="utf-8") as handle:
        issues = {i["kind"]: i for i in csv.DictReader(handle)}
    assert "1 line(s) longer than 16777216 bytes not read" in issues["overlong_line"]["reason"]
    assert issues["malformed_line"]["line"] == str(at + 1) and issues["quarantined"]["file"] == str(path)


def test_unreadable_gzip_is_reported_not_fatal(tmp_path, home, config, run):
    text = "\n".join(render(envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))) + "\n"
    compressed = gzip.compress(text.encode("latin-1"))
    (tmp_path / "cut.dsn.gz").write_bytes(compressed[: len(compressed) // 2])
    good = write_dsn(tmp_path / "good.dsn", envoi([monthly(AGENCY, "2025-01", [Contract("C9", "2025-01-06")], "5", naf="7820Z")]))
    summary = run(home, config, tmp_path / "cut.dsn.gz", good)
    assert summary.errors >= 1
    assert [c["contract_number"] for c in contracts(home)] == ["C9"]


def test_public_fctu_sample_feeds_no_monthly_history(home, config, run, public_sample):
    summary = run(home, config, public_sample)
    assert (summary.declarations_read, summary.event_signals, summary.monthly_declarations) == (3, 3, 0)
    assert summary.errors == 0 and summary.quarantined == 0
    assert contracts(home) == []


def test_a_person_lists_the_establishments_and_months_that_declared_them(tmp_path, home, config, run):
    decls = [
        monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1"),
        monthly(RESTAURANT, "2025-02", [Contract("C1", "2025-01-06", end=("2025-02-14", "031"))], "2"),
        monthly(USER, "2025-03", [Contract("C7", "2025-03-03")], "1"),
        Declaration(USER, "2025-04", [Individual(contracts=[Contract("C7", "2025-03-03")]),
                                      Individual(nir=None, surname="ROUX", contracts=[Contract("C8", "2025-04-01")])],
                    order="2"),
    ]
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi(decls)))
    persons = duckdb.sql(
        f"SELECT identified_by, first_month, last_month, establishments FROM '{home.warehouse / 'persons.parquet'}' "
        "ORDER BY identified_by"
    ).fetchall()
    assert persons == [("identity", date(2025, 4, 1), date(2025, 4, 1), 1), ("nir", date(2025, 1, 1), date(2025, 4, 1), 2)]


def test_no_personal_data_in_the_warehouse_or_reports(tmp_path, home, config, run):
    person = Individual(nir="2850375123456", surname="DUPONT", first_names="Léa", birth="14031985",
                        contracts=[Contract("C1", "2025-01-06")])
    no_nir = Individual(nir=None, surname="D'ANGELO", first_names="Marc", birth="02021990",
                        contracts=[Contract("C2", "2025-01-06")])
    lines = render(envoi([Declaration(RESTAURANT, "2025-01", [person, no_nir], order="1")]))
    lines.insert(3, "S21.G00.30.999,'2850375123456'")  # noise so that the report has lines to write
    run(home, config, write_dsn(tmp_path / "a.dsn", lines))
    secrets = ["2850375123456", "DUPONT", "ANGELO", "14031985", "02021990", "Léa", "1985-03-14"]
    written = [p for p in [*home.warehouse.rglob("*"), *home.staging.rglob("*"), *home.ingest_reports.rglob("*")] if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.suffix == ".csv" for p in written)
    for path in written:
        # Parquet pages are compressed: compare the decoded values, not the bytes.
        content = str(pq.read_table(path).to_pylist()) if path.suffix == ".parquet" else path.read_text()
        assert not any(secret in content for secret in secrets), path
    persons = duckdb.sql(f"SELECT identified_by FROM '{home.warehouse / 'persons.parquet'}' ORDER BY 1").fetchall()
    assert persons == [("identity",), ("nir",)]


def test_end_block_with_motif_099_withdraws_the_end(tmp_path, home, config, run):
    january = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", end=("2025-01-31", "031"))], "1")
    february = monthly(RESTAURANT, "2025-02", [Contract("C1", "2025-01-06", end=("2025-01-31", "099"))], "2")
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([january, february])))
    [contract] = contracts(home)
    assert (contract["end_date"], contract["end_declared"]) == (None, False)


WRONG_END, RIGHT_END, WITHDRAWAL = ("2025-01-31", "031"), ("2025-01-20", "031"), ("2025-01-31", "099")
# (what each month declares of contract C1: its end blocks, or fractions of blocks; the end as of the last month)
ANNULATIONS = {
    # January's wrong end withdrawn and the right one declared in February, in either order
    "withdrawal_then_right_end": ({"2025-01": [WRONG_END], "2025-02": [WITHDRAWAL, RIGHT_END]}, ("2025-01-20", "031")),
    "right_end_then_withdrawal": ({"2025-01": [WRONG_END], "2025-02": [RIGHT_END, WITHDRAWAL]}, ("2025-01-20", "031")),
    # ... or in two fractions of February's declaration, in either order
    "fractions_withdrawal_first": ({"2025-01": [WRONG_END], "2025-02": [[WITHDRAWAL], [RIGHT_END]]}, ("2025-01-20", "031")),
    "fractions_right_end_first": ({"2025-01": [WRONG_END], "2025-02": [[RIGHT_END], [WITHDRAWAL]]}, ("2025-01-20", "031")),
    # an annulation withdraws the end of its own date only: the true end declared in between stands
    "withdrawal_two_months_later": ({"2025-01": [WRONG_END], "2025-02": [("2025-02-14", "031")], "2025-03": [WITHDRAWAL]},
                                    ("2025-02-14", "031")),
    "withdrawal_naming_no_end": ({"2025-01": [RIGHT_END], "2025-02": [("2025-02-28", "099")]}, ("2025-01-20", "031")),
    # the same date declared again with its right motif, in one declaration or two fractions, in either order
    "motif_corrected": ({"2025-01": [WRONG_END], "2025-02": [WITHDRAWAL, ("2025-01-31", "059")]}, ("2025-01-31", "059")),
    "fractions_motif_corrected": ({"2025-01": [WRONG_END], "2025-02": [[("2025-01-31", "059")], [WITHDRAWAL]]},
                                  ("2025-01-31", "059")),
    "fractions_motif_corrected_withdrawal_first": ({"2025-01": [WRONG_END], "2025-02": [[WITHDRAWAL], [("2025-01-31", "059")]]},
                                                   ("2025-01-31", "059")),
    # an annulation withdraws nothing of its own month: what a month declares does not depend on the months before it
    "end_and_annulation_in_one_month": ({"2025-01": [WRONG_END, WITHDRAWAL], "2025-02": [], "2025-03": []},
                                        ("2025-01-31", "031")),
    "end_and_annulation_in_two_months": ({"2025-01": [WRONG_END, WITHDRAWAL], "2025-02": [WRONG_END, WITHDRAWAL]},
                                         ("2025-01-31", "031")),
    # an end withdrawn, then declared again
    "declared_again": ({"2025-01": [WRONG_END], "2025-02": [WITHDRAWAL], "2025-03": [WRONG_END]}, ("2025-01-31", "031")),
    "withdrawn": ({"2025-01": [WRONG_END], "2025-02": [WITHDRAWAL]}, None),
}


def month_fractions(blocks: list) -> list[list]:
    """A month of an `ANNULATIONS` case as the end blocks of each fraction (one fraction when not split)."""
    return blocks if blocks and isinstance(blocks[0], list) else [blocks]


def annulation_declarations(siret: str, months: dict) -> list[Declaration]:
    """The declarations of an `ANNULATIONS` case: contract C1 of `siret` with each month's end blocks."""
    declarations = []
    for order, (month, blocks) in enumerate(months.items(), start=1):
        fractions = month_fractions(blocks)
        for part, ends in enumerate(fractions, start=1):
            contract = Contract("C1", "2025-01-06", end=ends[0] if ends else None, more_ends=tuple(ends[1:]))
            declarations.append(monthly(siret, month, [contract], f"{order}{part}", fraction=f"{part}{len(fractions)}"))
    return declarations


def annulation_end(expected: tuple[str, str] | None) -> tuple[date | None, str | None]:
    """(end_date, end_motif) of an `ANNULATIONS` case's expected end."""
    return (date.fromisoformat(expected[0]), expected[1]) if expected else (None, None)


@pytest.mark.parametrize("case", ANNULATIONS)
def test_an_annulation_withdraws_the_end_of_its_date_declared_before(tmp_path, home, config, run, case):
    """Motif 099 (annulation) withdraws the end of its own date declared in an earlier month, whatever the order of
    blocks and fractions; of the ends left, the latest declared counts. An end declared in the last month is the same
    when the history read starts with that month."""
    months, expected = ANNULATIONS[case]
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi(annulation_declarations(RESTAURANT, months))))
    [contract] = contracts(home)
    end = annulation_end(expected)
    assert (contract["end_date"], contract["end_motif"]) == end
    last_month, last_blocks = list(months.items())[-1]
    last = date.fromisoformat(f"{last_month}-01")
    if expected in [block for part in month_fractions(last_blocks) for block in part]:
        # the same end when the history read starts with the month that declares it
        con = connect()
        attach_warehouse(con, home.warehouse)
        assert con.execute(f"SELECT end_date, end_motif FROM ({rebuild_contracts_sql(last, 3, last)})").fetchall() == [end]
        con.close()
    # The benchmark's pandas reference reads the same end
    reference = declared_ends(read_sample(home.warehouse, [RESTAURANT], last, config.features)["ends"])
    assert [(pd.Timestamp(e).date(), m) for e, m in zip(reference["end_date"], reference["end_motif"], strict=True)] == (
        [end] if expected else [])


@pytest.mark.parametrize("ends", [[("2025-01-20", "031"), ("2025-01-31", "059")],
                                  [("2025-01-31", "059"), ("2025-01-20", "031")]])
def test_two_end_blocks_of_one_declaration_give_the_later_end(tmp_path, home, config, run, ends):
    """One declaration with two end blocks for a contract (a payroll software's error): the later end counts, in
    whichever order the blocks come, the same on every engine and thread (the rows tie on month and declaration)."""
    first, second = ends
    contract = Contract("C1", "2025-01-06", end=first, more_ends=(second,))
    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [contract], "1")])))
    [contract] = contracts(home)
    assert (contract["end_date"], contract["end_motif"]) == (date(2025, 1, 31), "059")


def test_absences_and_suspensions_give_the_period_away(tmp_path, home, config, run):
    sick = Contract("C1", "2020-01-01", nature="01", motif=None, absence=("01", "2025-01-09", "2025-01-20"))
    lines = render(envoi([monthly(RESTAURANT, "2025-01", [sick], "1")]))
    at = lines.index("S21.G00.60.003,'20012025'") + 1
    lines[at:at] = ["S21.G00.65.001,'301'", "S21.G00.65.002,'22012025'", "S21.G00.65.003,'31012025'"]
    run(home, config, write_dsn(tmp_path / "a.dsn", lines))
    rows = sorted(table(home, "absences"), key=lambda r: r["kind"])
    assert [(r["kind"], r["reason"], r["absence_start"], r["absence_end"]) for r in rows] == [
        ("arret", "01", date(2025, 1, 10), date(2025, 1, 20)),
        ("suspension", "301", date(2025, 1, 22), date(2025, 1, 31)),
    ]


def test_a_file_failing_unexpectedly_is_quarantined_whole(tmp_path, home, config, monkeypatch, run, test_key):
    from warehouse.dsn.records import RecordBuilder

    original = RecordBuilder.monthly_rows

    def failing(self, declaration):
        if self.file.endswith("bad.dsn") and declaration.index == 1:
            raise RuntimeError("simulated bug")
        return original(self, declaration)

    monkeypatch.setattr(RecordBuilder, "monthly_rows", failing)
    first = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")
    second = monthly(AGENCY, "2025-01", [Contract("C2", "2025-01-06")], "2", naf="7820Z")
    bad = write_dsn(tmp_path / "bad.dsn", envoi([first, second]))
    good = write_dsn(tmp_path / "good.dsn", envoi([monthly(USER, "2025-01", [Contract("C3", "2025-01-06")], "3")]))
    in_process = config.model_copy(update={"ingest": config.ingest.model_copy(update={"workers": 1})})
    summary = run(home, in_process, bad, good)  # one worker: the patched builder runs in this process
    assert summary.issue_kinds["unreadable_file"] == 1
    assert [c["contract_number"] for c in contracts(home)] == ["C3"]  # nothing half-kept from bad.dsn
    assert "simulated bug" in next(home.quarantine.glob("*-file.reason.txt")).read_text()
    assert "once the cause is mended, `champollion ingest --rebuild` reads it again" in summary.issues_report.read_text()
    # Once the bug is gone, a rebuild reads it again, into a fresh staging: what it staged before failing is not
    # counted twice (read again in another batch, its first declaration's rows would be).
    monkeypatch.setattr(RecordBuilder, "monthly_rows", original)
    again = ingest([bad, good], home, in_process, test_key, rebuild=True)
    assert again.errors == 0
    assert sorted(c["contract_number"] for c in contracts(home)) == ["C1", "C2", "C3"]
    assert sorted(row["contract_number"] for row in table(home, "contract_months")) == ["C1", "C2", "C3"]


def test_a_file_holding_no_declaration_is_an_error_and_quarantined(tmp_path, home, config, run):
    empty, binary = tmp_path / "empty.dsn", tmp_path / "binary.dsn"
    empty.write_bytes(b"")
    binary.write_bytes(bytes(range(256)) * 4)
    summary = run(home, config, empty, binary)
    assert summary.issue_kinds["no_declaration"] == 2 and summary.errors >= 2 and summary.quarantined == 2
    assert len(list(home.quarantine.glob("*-file.dsn"))) == 2
    assert {path.stat().st_mode & 0o777 for path in home.quarantine.glob("*-file.dsn")} == {0o600}


# A DSN file saved again in UTF-16 (by Notepad, say), in each form, and the codec it is read with.
UTF16_COPIES = {
    "le_with_mark": (lambda text: b"\xff\xfe" + text.encode("utf-16-le"), "utf-16"),
    "be_with_mark": (lambda text: b"\xfe\xff" + text.encode("utf-16-be"), "utf-16"),
    "le_without_mark": (lambda text: text.encode("utf-16-le"), "utf-16-le"),
    "be_without_mark": (lambda text: text.encode("utf-16-be"), "utf-16-be"),
    "le_with_mark_gzip": (lambda text: gzip.compress(b"\xff\xfe" + text.encode("utf-16-le")), "utf-16"),
}


def monthly_rows(home: Home) -> dict[str, list[str]]:
    """The rows of every monthly table, without the columns that name the file they were read from."""
    rows = {}
    for name in MONTHLY_TABLES:
        found = table(home, name) if list((home.warehouse / name).glob("*/*.parquet")) else []
        rows[name] = sorted(repr({k: v for k, v in row.items() if k not in ("declaration_key", "source_sha256",
                                                                             "source_file")}) for row in found)
    return rows


@pytest.mark.parametrize("form", UTF16_COPIES)
def test_a_utf16_copy_of_a_simulated_file_gives_the_same_rows(small_population, tmp_path, config, run, form):
    """A simulated DSN file with accented letters, saved again in UTF-16 and named .txt in a folder: it is found, and
    read to the same rows, counts and issues as the original, with one utf16_file warning."""
    month = small_population / "dsn" / "2025-01"
    original = min((p for p in month.iterdir() if max(p.read_bytes()) > 0x7F), key=lambda p: p.stat().st_size)
    raw = original.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    encode, codec = UTF16_COPIES[form]
    copy = tmp_path / "notepad" / "declarations.txt"
    copy.parent.mkdir()
    copy.write_bytes(encode(text))
    plain_home, utf16_home = Home(tmp_path / "plain"), Home(tmp_path / "utf16")
    plain, utf16 = run(plain_home, config, original), run(utf16_home, config, copy.parent)
    assert utf16.files_seen == 1 and monthly_rows(utf16_home) == monthly_rows(plain_home)
    assert plain.monthly_declarations > 0 and len(monthly_rows(plain_home)["contract_months"]) > 0
    assert (utf16.lines, utf16.declarations_read, utf16.quarantined, utf16.errors, utf16.warnings) == (
        plain.lines, plain.declarations_read, plain.quarantined, plain.errors, plain.warnings + 1)
    assert utf16.issue_kinds == plain.issue_kinds + Counter({"utf16_file": 1})
    assert pq.read_table(utf16_home.staging / "files.parquet").column("encoding").to_pylist() == [codec]


def test_the_report_lists_every_quarantined_declaration_however_many_issues_a_file_has():
    from warehouse.dsn.parser import Issue
    from warehouse.parse_worker import capped_issues

    issues = [Issue("f", line, "warning", "unquoted_value", "w") for line in range(1, 30)]
    issues += [Issue("f", 40, "error", "malformed_line", "e"), Issue("f", 50, "error", "malformed_line", "e")]
    issues += [Issue("f", line, "error", "quarantined", "q") for line in (60, 70, 80)]
    listed, dropped, errors_dropped = capped_issues(issues, most=4)
    assert [(i.line, i.kind) for i in listed] == [(40, "malformed_line"), (60, "quarantined"), (70, "quarantined"),
                                                  (80, "quarantined")]
    assert (dropped, errors_dropped) == (30, 1)
    assert capped_issues(issues, most=100) == (issues, 0, 0)


@pytest.mark.parametrize("nic", [None, "0001²", "¹²³00"])
def test_declaration_without_siret_is_quarantined(tmp_path, home, config, run, nic):
    """No NIC, or one whose characters are digits of other scripts (Python's isdigit accepts them), is no SIRET."""
    lines = render(envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    lines = [line if not line.startswith("S21.G00.11.001") else f"S21.G00.11.001,'{nic}'"
             for line in lines if nic is not None or not line.startswith("S21.G00.11.001")]
    summary = run(home, config, write_dsn(tmp_path / "a.dsn", lines))
    assert (summary.quarantined, summary.monthly_declarations) == (1, 0)
    assert "SIRET missing or invalid" in next(home.quarantine.glob("*.reason.txt")).read_text()


def test_a_parse_task_never_shows_the_pseudonymisation_key(tmp_path, test_key):
    from warehouse.parse_worker import BatchTask, SourceFile

    task = BatchTask("b1", (SourceFile(tmp_path / "a.dsn", "0" * 64, 1),), tmp_path, tmp_path, test_key)
    assert test_key.decode() not in repr(task) and test_key.decode() not in str(task)


def test_a_declaration_row_that_does_not_fit_its_table_fails_that_file_only(tmp_path, home, config, monkeypatch, run):
    from warehouse.dsn.records import RecordBuilder

    original = RecordBuilder.header_row

    def overflowing(self, declaration, n_individuals, n_contracts):
        row = original(self, declaration, n_individuals, n_contracts)
        return (*row[:-1], 2**31) if self.file.endswith("bad.dsn") else row  # n_contracts beyond int32

    monkeypatch.setattr(RecordBuilder, "header_row", overflowing)
    bad = write_dsn(tmp_path / "bad.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    good = write_dsn(tmp_path / "good.dsn", envoi([monthly(USER, "2025-01", [Contract("C3", "2025-01-06")], "3")]))
    in_process = config.model_copy(update={"ingest": config.ingest.model_copy(update={"workers": 1})})
    summary = run(home, in_process, bad, good)
    assert summary.issue_kinds["unreadable_file"] == 1
    assert [c["contract_number"] for c in contracts(home)] == ["C3"]
    reason = next(home.quarantine.glob("*-file.reason.txt")).read_text()
    assert "column n_contracts (int32)" in reason and str(2**31) not in reason


VALUES = [None, "", "1234567890123", "caf\udce9.dsn", date(2025, 1, 1), datetime(2025, 1, 1, 12), 0, -(2**31), 2**31 - 1, 2**31,
          -(2**31) - 1, 2**53, 2**53 + 1, 2**63, 1.5, float("nan"), True, b"x", Decimal("1")]


@pytest.mark.parametrize("kind", [pa.string(), pa.date32(), pa.int32(), pa.int64(), pa.float64()])
def test_a_value_said_to_fit_its_column_converts_to_arrow(kind):
    from warehouse.tables import misfit

    schema = pa.schema([("value", kind)])
    fitting = [value for value in VALUES if misfit(schema, [(value,)]) is None]
    assert pa.array(fitting, type=kind).to_pylist()[0] is None  # every value said to fit converts, as a whole
    for value in VALUES:
        if misfit(schema, [(value,)]) is None:
            continue
        problem = misfit(schema, [(value,)])
        assert problem.startswith(f"column value ({kind})") and repr(value) not in problem
    assert misfit(schema, [(None, None)]) == "a row of 2 values for 1 columns"


def test_a_file_named_in_bytes_that_are_not_utf8_is_ingested_and_found_again(tmp_path, home, config, run, test_key):
    folder = tmp_path / "in"
    named = folder / os.fsdecode(b"caf\xe9.dsn")  # a latin-1 name: Python reads it with a lone surrogate
    write_dsn(named, envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    write_dsn(folder / "good.dsn", envoi([monthly(USER, "2025-01", [Contract("C3", "2025-01-06")], "3")]))
    summary = run(home, config, folder)
    assert summary.files_new == 2 and [c["contract_number"] for c in contracts(home)] == ["C1", "C3"]
    listed = duckdb.sql(f"SELECT source_file FROM '{home.staging / 'files.parquet'}' ORDER BY 1").fetchall()
    assert [Path(name).name for (name,) in listed] == ["caf\\xe9.dsn", "good.dsn"]
    rebuilt = ingest([], home, config, test_key, rebuild=True)  # reads every listed file again, by its label
    assert rebuilt.files_new == 2 and [c["contract_number"] for c in contracts(home)] == ["C1", "C3"]


def test_a_month_folder_linked_from_an_archive_is_read_and_a_loop_of_links_ends(tmp_path):
    from warehouse.ingest import discover

    archive = tmp_path / "archive" / "2025-01"
    archive.mkdir(parents=True)
    (archive / "a.dsn").write_bytes(b"S10.G00.00.001,'x'\n")
    (archive / "notes.txt").write_bytes(b"DSN de janvier\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "2025-01").symlink_to(archive)
    (archive / "back").symlink_to(inbox)  # a loop
    found = discover([inbox])
    assert found.files == [(archive / "a.dsn").resolve()] and found.not_dsn == [(archive / "notes.txt").resolve()]
    assert found.unreadable == []


def test_what_a_folder_holds_that_cannot_be_read_is_reported_not_skipped(tmp_path, home, config, run, monkeypatch):
    """A broken link, a FIFO, an unreadable file not named .dsn, a folder that cannot be listed: each an error with
    its reason (they were skipped without a word, or called « not DSN »); the readable DSN file is read. The rights
    are refused by stand-ins for the system's calls: the tests run as root, who reads whatever the rights say."""
    import warehouse.ingest

    inbox = tmp_path / "inbox"
    (inbox / "locked").mkdir(parents=True)
    write_dsn(inbox / "good.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    write_dsn(inbox / "locked" / "b.dsn", envoi([monthly(AGENCY, "2025-01", [Contract("C2", "2025-01-06")], "2", naf="7820Z")]))
    (inbox / "gone.dsn").symlink_to(tmp_path / "nowhere.dsn")
    os.mkfifo(inbox / "pipe.dsn")
    (inbox / "export.txt").write_bytes(b"S10.G00.00.001,'x'\n")
    walk, open_binary = os.walk, warehouse.ingest.open_binary

    def refused(error_path: Path):
        return PermissionError(13, "Permission denied", str(error_path))

    def walk_refusing(top, onerror=None, **options):
        for root, folders, files in walk(top, onerror=onerror, **options):
            if Path(root).name == "locked":
                onerror(refused(Path(root)))
                continue
            yield root, folders, files

    def open_refusing(path: Path):
        if path.name == "export.txt":
            raise refused(path)
        return open_binary(path)

    monkeypatch.setattr(warehouse.ingest.os, "walk", walk_refusing)
    monkeypatch.setattr(warehouse.ingest, "open_binary", open_refusing)
    summary = run(home, config, inbox)
    with open(summary.issues_report, encoding="utf-8") as handle:
        reasons = {Path(i["file"]).name: i["reason"] for i in csv.DictReader(handle) if i["kind"] == "unreadable_file"}
    assert reasons == {
        "gone.dsn": "not read: neither a file nor a folder (a broken link, a FIFO, a device)",
        "pipe.dsn": "not read: neither a file nor a folder (a broken link, a FIFO, a device)",
        "export.txt": "file not read: Permission denied",
        "locked": "folder not read: Permission denied",
    }
    assert summary.errors == 4 and [c["contract_number"] for c in contracts(home)] == ["C1"]


def test_files_are_stamped_later_than_every_file_before_and_a_rebuild_keeps_their_stamps(tmp_path, run, test_key):
    """What a list knew is told by the stamps of the files (warehouse.arrivals): two runs within one second, or a
    clock set back, still stamp the second run's files later; a rebuild reads every file again under its stamp."""
    home, config = Home(tmp_path / "home"), Config()

    def stamps() -> dict[str, datetime]:
        manifest = pq.read_table(home.data / "staging" / "files.parquet").to_pylist()
        return {Path(row["source_file"]).name: row["ingested_at"] for row in manifest}

    run(home, config, write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")],
                                                                  "1")])))
    first = stamps()["a.dsn"]
    later = first + pd.Timedelta(hours=1).to_pytimedelta()  # a file listed as ingested in an hour: the clock is behind
    manifest = pq.read_table(home.data / "staging" / "files.parquet")
    column = manifest.schema.get_field_index("ingested_at")
    pq.write_table(manifest.set_column(column, "ingested_at", pa.array([later], type=pa.timestamp("s"))),
                   home.data / "staging" / "files.parquet")
    run(home, config, write_dsn(tmp_path / "b.dsn", envoi([monthly(RESTAURANT, "2025-02", [Contract("C1", "2025-01-06")],
                                                                  "2")])))
    assert stamps() == {"a.dsn": later, "b.dsn": later + pd.Timedelta(seconds=1).to_pytimedelta()}
    before = stamps()
    ingest([], home, config, test_key, rebuild=True)
    assert stamps() == before


@pytest.mark.parametrize("nature", ["01 ", "02", "09"])
def test_a_declaration_of_a_nature_read_neither_as_monthly_nor_as_a_signal_is_quarantined_with_its_reason(
        tmp_path, home, config, run, nature):
    """'01 ' (a space inside the quotes), a code outside the norm's list, a substitution DSN: taken for an event signal,
    a monthly declaration was dropped with no issue; it is quarantined, its reason in the report, the other kept."""
    good = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")
    odd = monthly("98765432100017", "2025-01", [Contract("C2", "2025-01-06")], "2")
    lines = render(envoi([good, odd]))
    at = [i for i, line in enumerate(lines) if line == "S20.G00.05.001,'01'"][1]
    lines[at] = f"S20.G00.05.001,'{nature}'"
    summary = run(home, config, write_dsn(tmp_path / "a.dsn", lines))
    assert (summary.monthly_declarations, summary.event_signals, summary.quarantined) == (1, 0, 1)
    assert [c["siret"] for c in contracts(home)] == [RESTAURANT]
    with open(summary.issues_report, encoding="utf-8") as handle:
        reasons = [i["reason"] for i in csv.DictReader(handle) if i["kind"] == "quarantined"]
    assert any(f"line {at + 1}: declaration nature S20.G00.05.001 '{nature}' is neither monthly" in r for r in reasons), reasons


def test_a_file_that_cannot_be_opened_once_hashed_is_read_by_the_next_run(tmp_path, home, config, run, monkeypatch):
    """Moved or deleted between its hash and its parse: nothing of it was read, so it is not listed as ingested (it was,
    and the same bytes found again were skipped as « already ingested »); the error says so, nothing is quarantined."""
    import warehouse.parse_worker

    path = write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    opened = warehouse.parse_worker.open_binary

    def moved(source: Path):
        raise FileNotFoundError(2, "No such file or directory", str(source))

    monkeypatch.setattr(warehouse.parse_worker, "open_binary", moved)
    summary = run(home, config, path)
    assert (summary.errors, summary.quarantined, summary.monthly_declarations) == (1, 0, 0)
    with open(summary.issues_report, encoding="utf-8") as handle:
        (issue,) = [i for i in csv.DictReader(handle) if i["kind"] == "unreadable_file"]
    assert "it could not be opened once hashed (No such file or directory); not listed as ingested" in issue["reason"]
    monkeypatch.setattr(warehouse.parse_worker, "open_binary", opened)
    again = run(home, config, path)
    assert (again.files_already_ingested, again.monthly_declarations, again.errors) == (0, 1, 0)
    assert [c["contract_number"] for c in contracts(home)] == ["C1"]


def test_a_file_that_changed_while_it_was_read_is_not_kept_and_is_read_by_the_next_run(tmp_path, home, config, run,
                                                                                       monkeypatch):
    """A file still being written by a transfer when it was read: its rows were kept under the hash of the bytes read
    before (a file rewritten meanwhile was listed as those bytes). Nothing of it is kept, the error says why, and the
    next run reads what it holds then."""
    import warehouse.parse_worker

    path = write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    parse_file = warehouse.parse_worker._parse_file

    def written_meanwhile(source, *args, **kwargs):
        result = parse_file(source, *args, **kwargs)
        with open(source.path, "ab") as handle:
            handle.write(b"\n")
        return result

    monkeypatch.setattr(warehouse.parse_worker, "_parse_file", written_meanwhile)
    summary = run(home, config, path)
    assert (summary.errors, summary.monthly_declarations) == (1, 0)
    with open(summary.issues_report, encoding="utf-8") as handle:
        (issue,) = [i for i in csv.DictReader(handle) if i["kind"] == "unreadable_file"]
    assert "it changed while it was read" in issue["reason"] and "not listed as ingested" in issue["reason"]
    assert not (home.warehouse / "contracts.parquet").exists()  # no contract kept
    monkeypatch.setattr(warehouse.parse_worker, "_parse_file", parse_file)
    again = run(home, config, path)
    assert (again.files_already_ingested, again.monthly_declarations, again.errors) == (0, 1, 0)
    assert [c["contract_number"] for c in contracts(home)] == ["C1"]


def test_a_file_read_but_not_opened_again_for_its_issues_is_listed_and_counted_once(tmp_path, home, config, run,
                                                                                     monkeypatch):
    """A file whose first reading staged its rows is read again for its whole list of issues (a misplaced block):
    when that second opening failed, it was not listed, the next run read it into another batch and each contract
    month counted twice. It is listed, with a warning, and counted once."""
    import warehouse.parse_worker

    path = write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06")], "1")]))
    opened = warehouse.parse_worker.open_binary
    openings: list[Path] = []

    def once(source: Path):
        openings.append(source)
        if len(openings) > 1:
            raise FileNotFoundError(2, "No such file or directory", str(source))
        return opened(source)

    monkeypatch.setattr(warehouse.parse_worker, "open_binary", once)
    monkeypatch.setattr(warehouse.parse_worker, "has_misplaced_block", lambda issues: True)
    summary = run(home, config, path)
    assert len(openings) == 2 and (summary.errors, summary.monthly_declarations) == (0, 1)
    with open(summary.issues_report, encoding="utf-8") as handle:
        (issue,) = [i for i in csv.DictReader(handle) if i["kind"] == "unreadable_file"]
    assert issue["severity"] == "warning" and "could not be opened a second time" in issue["reason"]
    monkeypatch.setattr(warehouse.parse_worker, "open_binary", opened)
    again = run(home, config, path)
    assert (again.files_already_ingested, again.monthly_declarations) == (1, 0)
    assert [c["contract_number"] for c in contracts(home)] == ["C1"]


def test_a_code_outside_the_norms_enumeration_is_kept_with_a_warning(tmp_path, home, config, run):
    """A nature « 99 » or an end motif « 997 » the norm does not define were stored without a word: the contract then
    counted as no CDD and its end exempted nothing, in silence. Kept as declared (a later norm may define it), each is
    reported on its line with what it does."""
    contract = Contract("C1", "2025-01-06", nature="99", motif="02", end=("2025-01-20", "997"))
    path = write_dsn(tmp_path / "a.dsn", envoi([monthly(RESTAURANT, "2025-01", [contract], "1")]))
    lines = path.read_text(encoding="utf-8").splitlines()
    summary = run(home, config, path)
    with open(summary.issues_report, encoding="utf-8") as handle:
        found = [i for i in csv.DictReader(handle) if i["kind"] == "implausible_value"]
    assert [(int(i["line"]), i["severity"]) for i in found] == [
        (lines.index("S21.G00.40.001,'06012025'") + 1, "warning"), (lines.index("S21.G00.62.001,'20012025'") + 1, "warning")]
    assert found[0]["reason"] == ("S21.G00.40.007: « 99 » is not a code of the norm (CT2024) for this rubric; kept as "
                                  "declared, read as none of the codes the features know (the contract counts as none "
                                  "of CDI, CDD or mission)")
    assert found[1]["reason"].startswith("S21.G00.62.002: « 997 » is not a code of the norm")
    (stored,) = contracts(home)
    assert stored["nature"] == "99"
    # A value that could be personal (a NIR in the wrong field) is described, not shown
    misplaced = Contract("C2", "2025-01-06", nature="1800175123456")
    path = write_dsn(tmp_path / "b.dsn", envoi([monthly(RESTAURANT, "2025-02", [misplaced], "2")]))
    with open(run(home, config, path).issues_report, encoding="utf-8") as handle:
        (issue,) = [i for i in csv.DictReader(handle) if i["kind"] == "implausible_value"]
    assert issue["reason"].startswith("S21.G00.40.007: a value of 13 characters, digits is not a code of the norm")
    assert "1800175123456" not in issue["reason"]


def test_a_job_title_holding_a_nir_or_a_date_is_stored_masked(tmp_path, home, config, run):
    """Free text is not screened by the parser: a NIR and a birth date typed into a job title reached the warehouse,
    the contracts and the lists' posts. Each run of six digits or more is masked, with a warning on its line."""
    title = "Remplacement de DUPONT 2710783592327 ne le 01/02/1971, poste 2"
    declared = monthly(RESTAURANT, "2025-01", [Contract("C1", "2025-01-06", title=title)], "1")
    path = write_dsn(tmp_path / "a.dsn", envoi([declared]))
    summary = run(home, config, path)
    (contract,) = contracts(home)
    assert contract["job_title"] == "Remplacement de DUPONT [masqué] ne le [masqué], poste 2"
    assert contract["post"] == "remplacement dupont masque ne masque poste 2"
    for table in home.warehouse.rglob("*.parquet"):
        assert b"2710783592327" not in table.read_bytes(), table
    with open(summary.issues_report, encoding="utf-8") as handle:
        (issue,) = [i for i in csv.DictReader(handle) if "job title holding digits" in i["reason"]]
    assert issue["kind"] == "implausible_value" and issue["line"] and "2710783592327" not in issue["reason"]
