"""Ingestion as a transaction: a killed run changes nothing, a second writer is refused, another
pseudonymisation key is refused unless the warehouse is rebuilt."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

import warehouse.ingest as ingestion
from champollion.cli_support import BUSY_EXIT
from core.config import Config
from core.home import Home
from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn
from tests.test_ingest import FRACTION_CASES
from warehouse.ingest import ingest
from warehouse.inspections import import_inspections
from warehouse.tables import MONTHLY_TABLES
from warehouse.versions import (
    PUBLISHED_MARK,
    ForeignLayout,
    KeyMismatch,
    MissingVersion,
    WarehouseBusy,
    WarehouseState,
    writer_lock,
)

REPOSITORY = Path(__file__).resolve().parents[1]
SINGLE_FILES = ("declaration_status", "establishments", "persons", "contracts")
# Where a run is killed: the first log message of each stage (warehouse.ingest, warehouse.consolidate).
STAGES = (
    "ingest: parsing",
    "ingest: file list written",
    "consolidate: declaration_status.parquet written",
    "consolidate: months of contract_months written",
    "consolidate: establishments.parquet written",
    "consolidate: contracts.parquet written",
    "ingest: publishing version",
    "published version",
)


def one_worker() -> Config:
    config = Config()
    return config.model_copy(update={"ingest": config.ingest.model_copy(update={"workers": 1})})


def _declaration(siret: str, month: str, order: str, person: str = "1800175123456") -> Declaration:
    contract = Contract("C1", "2025-01-06", planned_end="2025-06-30")
    return Declaration(siret, month, [Individual(nir=person, contracts=[contract])], order=order)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders: a first delivery, and a second one (a later month, another establishment)."""
    root = tmp_path_factory.mktemp("inputs")
    first = root / "first"
    second = root / "second"
    write_dsn(first / "jan.dsn", envoi([_declaration("12345678900011", "2025-01", "1"),
                                        _declaration("98765432100017", "2025-01", "2", "2800175123456")]))
    write_dsn(second / "feb.dsn", envoi([_declaration("12345678900011", "2025-02", "3"),
                                         _declaration("11122233300014", "2025-02", "4", "1750275123456")]))
    return first, second


def warehouse_content(home: Home) -> dict[str, list[tuple]]:
    """Every published table's rows, sorted (the file list and the declarations' statuses without their files'
    ingestion times)."""
    content: dict[str, list[tuple]] = {}
    con = duckdb.connect()
    warehouse = home.warehouse
    for table in MONTHLY_TABLES:
        parts = sorted(str(p) for p in warehouse.glob(f"{table}/*/*.parquet"))
        content[table] = con.execute("SELECT * FROM read_parquet(?, hive_partitioning = true) ORDER BY ALL",
                                     [parts]).fetchall() if parts else []
    for name in SINGLE_FILES:
        path = warehouse / f"{name}.parquet"
        columns = "* EXCLUDE (ingested_at)" if name == "declaration_status" else "*"
        content[name] = con.execute(f"SELECT {columns} FROM read_parquet(?) ORDER BY ALL", [str(path)]).fetchall() \
            if path.exists() else []
    files = home.staging / "files.parquet"
    content["files"] = con.execute("SELECT * EXCLUDE (ingested_at) FROM read_parquet(?) ORDER BY ALL",
                                   [str(files)]).fetchall() if files.exists() else []
    con.close()
    return content


@pytest.fixture(scope="module")
def clean_state(inputs, tmp_path_factory, test_key) -> dict[str, list[tuple]]:
    """The warehouse of both deliveries ingested by runs that were not interrupted."""
    home = Home(tmp_path_factory.mktemp("clean"))
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)
    return warehouse_content(home)


KILLED_RUN = textwrap.dedent(
    """
    import logging, os, signal, sys
    from pathlib import Path

    from core.config import Config
    from core.home import Home
    from warehouse.ingest import ingest

    stage, key, home, *paths = sys.argv[1:]


    class KillAt(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith(stage):
                os.kill(os.getpid(), signal.SIGKILL)


    logger = logging.getLogger("champollion")
    logger.setLevel(logging.INFO)
    logger.addHandler(KillAt())
    config = Config()
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"workers": 1})})
    ingest([Path(p) for p in paths], Home(Path(home)), config, key.encode())
    """
)


@pytest.mark.parametrize("stage", STAGES)
def test_a_run_killed_at_any_stage_leaves_the_warehouse_as_it_was_and_the_rerun_completes_it(
    tmp_path, inputs, clean_state, stage, test_key
):
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    before = warehouse_content(home)
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, stage, test_key.decode(), str(home.root), str(inputs[1])],
                            cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after_kill = warehouse_content(home)
    assert after_kill == (clean_state if stage == "published version" else before)
    if stage in ("ingest: publishing version", "published version"):  # its report is written before its version
        assert len(list(home.ingest_reports.glob("issues-*.csv"))) == 2, stage

    ingest([inputs[1]], home, one_worker(), test_key)
    assert warehouse_content(home) == clean_state
    versions = sorted(p.name for p in (home.data / "versions").iterdir())
    assert len(versions) <= 2  # the published version and the one before it: no draft left behind


def quarantine_content(home: Home) -> dict[str, str]:
    """The quarantine's files, name -> SHA-256 of the bytes (raw DSN, never printed by a failing assertion)."""
    files = sorted(home.quarantine.iterdir()) if home.quarantine.is_dir() else []
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def conflicting(tmp_path_factory) -> tuple[Path, Path]:
    """Two deliveries of one establishment's month: the whole declaration (11) and its fraction 12, then fraction 22,
    sent last. The first run sets aside fraction 12 (its set incomplete), the second the whole declaration instead."""
    root = tmp_path_factory.mktemp("conflicting")
    declarations, _ = FRACTION_CASES["fractions_sent_last"]
    for n, (name, people, fraction, created) in enumerate(declarations, start=1):
        write_dsn(root / ("second" if fraction == "22" else "first") / name,
                  envoi([Declaration("12345678900011", "2025-01", people, order=str(n), fraction=fraction, created=created)]))
    return root / "first", root / "second"


@pytest.fixture(scope="module")
def clean_conflicts(conflicting, tmp_path_factory, test_key) -> tuple[dict[str, list[tuple]], dict[str, str]]:
    """The warehouse and the quarantine of both conflicting deliveries ingested by runs that were not interrupted."""
    home = Home(tmp_path_factory.mktemp("clean-conflicts"))
    ingest([conflicting[0]], home, one_worker(), test_key)
    ingest([conflicting[1]], home, one_worker(), test_key)
    return warehouse_content(home), quarantine_content(home)


def test_a_run_that_fails_before_publishing_leaves_the_quarantine_as_the_warehouse(
    tmp_path, conflicting, clean_conflicts, monkeypatch, test_key
):
    """The copies a run sets aside reach the quarantine with its version: a run failing before it publishes leaves the
    quarantine holding what the published version sets aside (before, it held the whole declaration, kept by the
    warehouse, and had lost fraction 12, set aside by it), and running it again gives what one clean run gives."""
    home = Home(tmp_path / "home")
    ingest([conflicting[0]], home, one_worker(), test_key)
    before = warehouse_content(home), quarantine_content(home)
    assert [name for name in before[1] if name.endswith(".dsn")] != []

    def no_space(self: WarehouseState, draft: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(WarehouseState, "publish", no_space)
        with pytest.raises(OSError, match="No space left"):
            ingest([conflicting[1]], home, one_worker(), test_key)
    assert (warehouse_content(home), quarantine_content(home)) == before
    ingest([conflicting[1]], home, one_worker(), test_key)
    assert (warehouse_content(home), quarantine_content(home)) == clean_conflicts


@pytest.mark.parametrize("stage", ["ingest: publishing version", "published version"])
def test_a_run_killed_around_its_publication_leaves_the_quarantine_as_the_warehouse(
    tmp_path, conflicting, clean_conflicts, stage, test_key
):
    """Killed just before its version is published, a run leaves the quarantine as it was; killed just after, the next
    run, even one with nothing new, brings the quarantine to the published version."""
    home = Home(tmp_path / "home")
    ingest([conflicting[0]], home, one_worker(), test_key)
    before = warehouse_content(home), quarantine_content(home)
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, stage, test_key.decode(), str(home.root),
                             str(conflicting[1])], cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if stage == "ingest: publishing version":
        assert (warehouse_content(home), quarantine_content(home)) == before
    ingest([conflicting[1]], home, one_worker(), test_key)
    assert (warehouse_content(home), quarantine_content(home)) == clean_conflicts


def test_the_set_aside_copies_an_earlier_release_quarantined_are_kept(tmp_path, conflicting, test_key):
    """A home an earlier release wrote has its set-aside copies in the quarantine only: the next run takes them into
    its version, though the files they were read from are gone, rather than losing them."""
    first = tmp_path / "first"
    shutil.copytree(conflicting[0], first)
    home = Home(tmp_path / "home")
    ingest([first], home, one_worker(), test_key)
    shown = quarantine_content(home)
    shutil.rmtree(home.data / "current" / "set-aside")  # as an earlier release left the version
    shutil.rmtree(first)  # the delivery archived elsewhere
    later = write_dsn(tmp_path / "later" / "mar.dsn", envoi([_declaration("98765432100017", "2025-03", "5")]))
    summary = ingest([later], home, one_worker(), test_key)
    assert (summary.issue_kinds["not_quarantined"], quarantine_content(home)) == (0, shown)
    assert sorted(p.name for p in (home.data / "current" / "set-aside").iterdir()) == sorted(shown)


def test_a_second_writer_is_refused_and_changes_nothing(tmp_path, inputs, test_key):
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    before = warehouse_content(home)
    with writer_lock(home.data):
        with pytest.raises(WarehouseBusy, match=rf"another run \(pid {os.getpid()}\) is writing this warehouse"):
            ingest([inputs[1]], home, one_worker(), test_key)
        with pytest.raises(WarehouseBusy):
            import_inspections(write_inspections(tmp_path), home)
        # From the command line: "try again later" (EX_TEMPFAIL), which a scheduler retries, not a wrong command (2).
        env = {**os.environ, "CHAMPOLLION_PSEUDONYM_KEY": test_key.decode()}
        for arguments in (["ingest", "--workers", "1", str(inputs[1])], ["import-inspections", str(write_inspections(tmp_path))]):
            refused = subprocess.run([sys.executable, "-m", "champollion.cli", "--home", str(home.root), *arguments],
                                     cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=120)
            assert refused.returncode == BUSY_EXIT, refused.stderr
            assert "is writing this warehouse" in refused.stderr
    assert warehouse_content(home) == before


def write_inspections(folder: Path) -> Path:
    path = folder / "inspections.csv"
    path.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-03-10,1\n", encoding="utf-8")
    return path


def test_two_runs_at_once_one_is_refused_or_both_pass_and_nothing_is_lost(tmp_path, inputs, clean_state, test_key):
    home = tmp_path / "home"
    env = {**os.environ, "CHAMPOLLION_PSEUDONYM_KEY": test_key.decode()}
    command = [sys.executable, "-m", "champollion.cli", "--home", str(home), "ingest", "--workers", "1"]
    runs = [subprocess.Popen([*command, str(folder)], cwd=REPOSITORY, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for folder in inputs]
    outcomes = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for (code, stderr), folder in zip(outcomes, inputs, strict=True):
        assert code in (0, BUSY_EXIT), stderr
        if code == BUSY_EXIT:  # refused, "try again later": it says why, and running it again completes the warehouse
            assert "another run" in stderr and "is writing this warehouse" in stderr
            again = subprocess.run([*command, str(folder)], cwd=REPOSITORY, env=env, capture_output=True, text=True)
            assert again.returncode == 0, again.stderr
    assert {row[0] for row in warehouse_content(Home(home))["files"]} == {row[0] for row in clean_state["files"]}
    assert len(warehouse_content(Home(home))["declarations"]) == len(clean_state["declarations"])


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path, inputs, caplog, test_key):
    home = Home(tmp_path / "home")
    home.data.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (home.data / "ingest.lock").write_text(dead.stdout)
    with caplog.at_level(logging.WARNING, logger="champollion"):
        ingest([inputs[0]], home, one_worker(), test_key)
    assert f"the lock of an interrupted run (pid {dead.stdout.strip()}) was taken over" in caplog.text
    assert len(warehouse_content(home)["declarations"]) == 2


def test_another_key_is_refused_unless_the_warehouse_is_rebuilt(tmp_path, inputs, test_key):
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    before = warehouse_content(home)
    with pytest.raises(KeyMismatch, match=r"another pseudonymisation key .*--rebuild"):
        ingest([inputs[1]], home, one_worker(), b"another key")
    assert warehouse_content(home) == before

    import_inspections(write_inspections(tmp_path), home)
    ingest([inputs[1]], home, one_worker(), b"another key", rebuild=True)
    assert (home.warehouse / "inspections.parquet").exists()  # not rebuilt from the DSN: kept
    reference = Home(tmp_path / "reference")
    ingest([inputs[0], inputs[1]], reference, one_worker(), b"another key")
    assert warehouse_content(home)["persons"] == warehouse_content(reference)["persons"]
    assert len(warehouse_content(home)["persons"]) == 3


def test_a_warehouse_written_before_versions_is_adopted(tmp_path, inputs, test_key):
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    legacy = Home(tmp_path / "legacy")
    legacy.data.mkdir(parents=True)
    for name in ("warehouse", "staging"):  # plain folders, as an earlier release wrote them
        subprocess.run(["cp", "-r", str(getattr(home, name)) + "/.", str(legacy.data / name)], check=True)
    ingest([inputs[1]], legacy, one_worker(), test_key)
    assert legacy.warehouse.is_symlink()
    assert len(warehouse_content(legacy)["files"]) == 2
    assert len(warehouse_content(legacy)["declarations"]) == 4


def test_a_file_that_cannot_be_read_is_its_own_issue(tmp_path, inputs, monkeypatch, test_key):
    unreadable = inputs[1] / "feb.dsn"
    real = ingestion.file_sha256

    def failing(path: Path) -> str:
        if path == unreadable:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(ingestion, "file_sha256", failing)
    home = Home(tmp_path / "home")
    summary = ingest([inputs[0], inputs[1]], home, one_worker(), test_key)
    assert summary.issue_kinds["unreadable_file"] == 1 and summary.files_new == 1
    assert f"{unreadable},,error,unreadable_file,file not read: Permission denied" in summary.issues_report.read_text()
    assert len(warehouse_content(home)["declarations"]) == 2


@pytest.mark.parametrize(("configured", "inside"), [("10GB", "953.6 MiB"), ("512MB", "488.2 MiB")])
def test_the_months_are_sorted_within_their_own_memory_unless_less_is_configured(configured, inside):
    from warehouse.consolidate import MONTHS_MEMORY_LIMIT, _memory_limit

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{configured}'")
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    with _memory_limit(con, MONTHS_MEMORY_LIMIT):
        assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == inside
    after = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert after.split()[1] == before.split()[1] and abs(float(after.split()[0]) - float(before.split()[0])) < 0.11


def test_each_month_is_written_once_sorted_by_siret_and_its_scratch_is_removed(tmp_path, test_key):
    """What the two passes of the months (streamed in no order to a scratch partition, then each month sorted on its
    own) must keep of the single sort they replace: every table's month is one file in SIRET order, and nothing of
    the scratch is left."""
    sirets = ["99999999900018", "55555555500012", "33333333300010", "11111111100015"]  # staged in descending order
    months = ["2025-01", "2025-02", "2025-03"]
    for number, month in enumerate(months):
        write_dsn(tmp_path / "in" / f"{month}.dsn", envoi([
            _declaration(siret, month, f"{number}{rank}", f"1800175{rank:06d}") for rank, siret in enumerate(sirets)]))
    home = Home(tmp_path / "home")
    ingest([tmp_path / "in"], home, one_worker(), test_key)
    con = duckdb.connect()
    for table in ("declarations", "person_months", "contract_months"):
        for month in months:
            files = list((home.warehouse / table).glob(f"declared_month={month}/*.parquet"))
            assert len(files) == 1, (table, month)
            written = [row[0] for row in con.execute("SELECT siret FROM read_parquet(?)", [str(files[0])]).fetchall()]
            assert written == sorted(sirets), (table, month)
    assert not [p for p in home.data.rglob("months-*")]


def test_a_home_whose_path_holds_pattern_characters_is_refused(tmp_path, inputs, test_key):
    """DuckDB reads '*', '?', '[' and ']' in a file's path as a pattern, even in a list of paths, and reads what
    matches: a home named `h[1]?` read the staged batches of a neighbouring home `h1x` (the same names: batches are
    named by their files' hashes), with its pseudonyms. Such a home is refused before anything is written."""
    for name in ("h[1]", "h?", "h*", "h]"):
        with pytest.raises(ValueError, match="refused: DuckDB reads these characters"):
            ingest(list(inputs), Home(tmp_path / name / "home"), one_worker(), test_key)
    assert not list(tmp_path.iterdir())


def test_attached_views_keep_reading_the_version_published_when_they_were_attached(tmp_path, inputs, test_key):
    """A features pass attaches the warehouse once, then reads it month after month: a version published meanwhile
    by another run is not mixed into it (the views followed the `data/warehouse` link at each query); once that
    version is being deleted (a second run published), a query fails rather than reads part of it."""
    from warehouse.engine import attach_warehouse, connect

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    con = connect()
    attach_warehouse(con, home.warehouse)
    declared = "SELECT count(*), count(DISTINCT month) FROM declarations"
    assert con.execute(declared).fetchall() == [(2, 1)]
    ingest([inputs[1]], home, one_worker(), test_key)
    assert con.execute(declared).fetchall() == [(2, 1)]
    attach_warehouse(con, home.warehouse)
    assert con.execute(declared).fetchall() == [(4, 2)]
    version = home.data / os.readlink(home.data / "current") / "warehouse" / "declarations"
    shutil.rmtree(next(version.iterdir()))  # as a publish deletes it, one month after the other
    with pytest.raises(duckdb.IOException):
        con.execute(declared).fetchall()


def test_a_home_whose_data_links_to_a_path_with_pattern_characters_reads_its_own_files(tmp_path, inputs, test_key):
    """Only the home's own path is checked for pattern characters: the version is found by following the links of
    the warehouse's folder, not those above it (resolving `data` -> `disk[1]/data` read the neighbouring `disk1`,
    another home, and consolidated its rows into this one)."""
    from warehouse.engine import attach_warehouse, connect

    ingest(list(inputs), Home(tmp_path / "disk1"), one_worker(), test_key)
    (tmp_path / "disk[1]" / "data").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "data").symlink_to(tmp_path / "disk[1]" / "data")
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    con = connect()
    attach_warehouse(con, home.warehouse)
    assert con.execute("SELECT count(*), count(DISTINCT month) FROM declarations").fetchall() == [(2, 1)]
    assert con.execute("SELECT count(*) FROM establishments").fetchall() == [(2,)]  # a file name disk1 has too
    assert sorted(row[0] for row in warehouse_content(home)["establishments"]) == ["12345678900011", "98765432100017"]


def test_the_published_version_is_found_through_the_homes_own_links_only(tmp_path, inputs, test_key):
    """`data/warehouse` -> `current/warehouse` -> `versions/NNNNNN/warehouse` are followed; a link above them (here
    `data` itself, to another disk) is not, so the path keeps the home's checked characters."""
    from warehouse.engine import published_version

    (tmp_path / "disk[1]" / "data" / "warehouse").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "data").symlink_to(tmp_path / "disk[1]" / "data")
    home = Home(tmp_path / "home")
    assert published_version(home.warehouse) == home.warehouse  # a warehouse of plain folders (an earlier release)
    shutil.rmtree(tmp_path / "disk[1]" / "data" / "warehouse")
    ingest([inputs[0]], home, one_worker(), test_key)
    assert published_version(home.warehouse) == home.data / "versions" / "000001" / "warehouse"


def test_a_published_version_removed_by_hand_is_an_error_not_an_empty_warehouse(tmp_path, inputs, test_key):
    """`data/current` names a version deleted outside Champollion: readers got empty views (every establishment
    gone, silently) and a writer failed half-way. Both now stop, change nothing, and name the versions still there;
    doing what the message says publishes one of them again."""
    from warehouse.engine import attach_warehouse, connect

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)  # version 2; version 1 is kept one run longer
    shutil.rmtree(home.data / "versions" / "000002")
    (home.data / "versions" / "000003" / "warehouse").mkdir(parents=True)  # a draft a killed run left half-written
    advice = f"ln -sfn versions/000001 {home.data / 'current'}"  # the version published before, never the draft
    with pytest.raises(MissingVersion, match=re.escape(advice)):
        attach_warehouse(connect(), home.warehouse)
    with pytest.raises(MissingVersion, match="links to versions/000002, which is missing"):
        ingest([inputs[1]], home, one_worker(), test_key)
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000001", "000003"]
    assert (home.data / "ingest.lock").read_text() == ""  # a refusal is not an interrupted run
    subprocess.run(advice, shell=True, check=True)
    assert len(warehouse_content(home)["declarations"]) == 2
    ingest([inputs[1]], home, one_worker(), test_key)
    assert len(warehouse_content(home)["declarations"]) == 4


def test_the_advice_for_links_left_dangling_mends_them_without_losing_a_version(tmp_path, inputs, test_key):
    from warehouse.versions import check_version_links

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    (home.data / "warehouse").unlink()  # a link made by hand (or an absolute one of a home since moved)
    (home.data / "warehouse").symlink_to(tmp_path / "moved" / "data" / "current" / "warehouse")
    advice = f"ln -sfn current/warehouse {home.data / 'warehouse'}"
    with pytest.raises(MissingVersion, match=re.escape(advice)):
        check_version_links(home.data)
    subprocess.run(advice, shell=True, check=True)
    assert len(warehouse_content(home)["declarations"]) == 2
    shutil.rmtree(home.data / "versions")  # nothing left to publish again: start again from the DSN files
    with pytest.raises(MissingVersion, match="with no earlier version left, remove the links current, warehouse and "
                                             "staging"):
        check_version_links(home.data)
    for name in ("current", "warehouse", "staging"):
        (home.data / name).unlink()
    ingest(list(inputs), home, one_worker(), test_key)
    assert len(warehouse_content(home)["declarations"]) == 4


def test_a_moved_home_or_a_lost_current_link_never_gets_its_versions_deleted(tmp_path, inputs, test_key):
    """Versions that are there are never offered for replacement nor taken for drafts: a home moved with its own
    absolute `current` link is told to relink the same version; with `current` gone, a writer refuses instead of
    deleting every version as a killed run's drafts; a `data` link to a disk not mounted is no empty warehouse."""
    from warehouse.versions import check_version_links

    before = Home(tmp_path / "before")
    ingest([inputs[0]], before, one_worker(), test_key)
    ingest([inputs[1]], before, one_worker(), test_key)
    (before.data / "current").unlink()
    (before.data / "current").symlink_to(before.data / "versions" / "000002")  # absolute, into the home itself
    before.root.rename(tmp_path / "moved")
    home = Home(tmp_path / "moved")
    advice = f"ln -sfn versions/000002 {home.data / 'current'}"
    with pytest.raises(MissingVersion, match=re.escape(advice)):
        check_version_links(home.data)
    subprocess.run(advice, shell=True, check=True)
    assert len(warehouse_content(home)["declarations"]) == 4
    (home.data / "current").unlink()
    with pytest.raises(MissingVersion, match=re.escape("holds versions that were published (000001, 000002)")):
        ingest([inputs[1]], home, one_worker(), test_key)
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000001", "000002"]
    (home.data / "current").symlink_to("versions/000002")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "data").symlink_to(tmp_path / "unmounted" / "data")
    with pytest.raises(MissingVersion, match="a disk not mounted"):
        check_version_links(tmp_path / "link" / "data")


def test_a_current_link_to_no_version_number_is_offered_only_versions_that_were_published(tmp_path, inputs, test_key):
    from warehouse.versions import check_version_links

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)
    (home.data / "versions" / "000003" / "warehouse").mkdir(parents=True)  # a killed run's draft, never published
    (home.data / "current").unlink()
    (home.data / "current").symlink_to("versions/latest")  # made by hand
    with pytest.raises(MissingVersion, match=re.escape(f"ln -sfn versions/000002 {home.data / 'current'}")):
        check_version_links(home.data)


def test_a_version_without_its_staging_is_still_read(tmp_path, inputs, test_key):
    """Readers never read `staging` (a warehouse may be copied without it): its absence is no error for them."""
    from warehouse.engine import attach_warehouse, connect

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    shutil.rmtree(home.data / "versions" / "000001" / "staging")
    con = connect()
    attach_warehouse(con, home.warehouse)
    assert con.execute("SELECT count(*) FROM declarations").fetchall() == [(2,)]


def test_a_warehouse_linked_by_hand_elsewhere_is_refused_by_writers(tmp_path, inputs, test_key):
    """`data/warehouse` made a link to another disk: readers kept reading it, so what a writer then published under
    `versions/` was never seen. The writer refuses, changing nothing, and says what to link instead. A link that
    names the home's own published version another way is not refused."""
    elsewhere = Home(tmp_path / "disk2")
    ingest([inputs[0]], elsewhere, one_worker(), test_key)
    home = Home(tmp_path / "home")
    home.data.mkdir(parents=True)
    (home.data / "warehouse").symlink_to(elsewhere.data / "versions" / "000001" / "warehouse")
    (home.data / "staging").mkdir()  # a plain folder, as an earlier release wrote it: not moved either
    (home.data / "staging" / "files.parquet").write_bytes(b"kept")
    with pytest.raises(ForeignLayout, match="link the whole data folder"):
        ingest([inputs[1]], home, one_worker(), test_key)
    assert sorted(str(p.relative_to(home.data)) for p in home.data.rglob("*")) == [
        "ingest.lock", "staging", "staging/files.parquet", "warehouse"]
    (elsewhere.data / "staging").unlink()
    (elsewhere.data / "staging").symlink_to(tmp_path / "gone" / "staging")  # left dangling: told how to relink it
    with pytest.raises(ForeignLayout, match=re.escape(f"ln -sfn current/staging {elsewhere.data / 'staging'}")):
        ingest([inputs[1]], elsewhere, one_worker(), test_key)
    (elsewhere.data / "staging").unlink()
    (elsewhere.data / "staging").symlink_to("current/staging")
    (elsewhere.data / "warehouse").unlink()
    (elsewhere.data / "warehouse").symlink_to(elsewhere.data / "current" / "warehouse")  # absolute, but its own
    ingest([inputs[1]], elsewhere, one_worker(), test_key)
    assert len(warehouse_content(elsewhere)["declarations"]) == 4


def test_a_home_copied_with_its_links_followed_is_refused_before_anything_moves(tmp_path, inputs, test_key):
    """`cp -rL` turns `data/current` into a folder: the writer crashed after moving the warehouse away, and the
    home then read as empty. It now refuses first."""
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    copy = Home(tmp_path / "copy")
    subprocess.run(["cp", "-rL", str(home.root), str(copy.root)], check=True)
    before = sorted(str(p.relative_to(copy.root)) for p in copy.root.rglob("*"))
    with pytest.raises(ForeignLayout, match="cp -a"):
        ingest([inputs[1]], copy, one_worker(), test_key)
    assert sorted(str(p.relative_to(copy.root)) for p in copy.root.rglob("*")) == before


def test_a_version_published_by_an_earlier_release_is_marked_by_the_next_writer(tmp_path, inputs, test_key):
    """Versions published before the marks existed carry none: the next writer marks the published one, even when it
    publishes nothing, so that losing `current` is then refused rather than read as drafts to delete."""
    from warehouse.versions import PUBLISHED_MARK, check_version_links

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    mark = home.data / "versions" / "000001" / PUBLISHED_MARK
    mark.unlink()  # as an earlier release left it
    ingest([inputs[0]], home, one_worker(), test_key)  # nothing new: nothing published
    assert mark.exists() and not (home.data / "versions" / "000002").exists()
    (home.data / "current").unlink()
    with pytest.raises(MissingVersion, match=re.escape("ln -sfn versions/000001")):
        check_version_links(home.data)


def test_versions_an_earlier_release_published_are_never_taken_for_drafts_when_current_is_lost(tmp_path, inputs,
                                                                                                test_key):
    """An earlier release marked nothing: with `current` gone, its versions read as a killed run's drafts and the next
    writer deleted them all. A run leaves at most one draft, so of several unmarked versions all but the last were
    published: the writer refuses and offers the last of those, never the last one, which may be a draft (publishing
    it would corrupt the warehouse silently). A single unmarked version is still taken for a killed run's draft, even
    with a link left dangling beside it."""
    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)
    versions = home.data / "versions"
    for version in ("000001", "000002"):
        (versions / version / PUBLISHED_MARK).unlink()  # as an earlier release left them
    (home.data / "current").unlink()
    advice = f"ln -sfn versions/000001 {home.data / 'current'}"
    for links_left in (True, False):
        if not links_left:
            for name in ("warehouse", "staging"):
                (home.data / name).unlink()
        with pytest.raises(MissingVersion, match=re.escape("published (000001) and 000002, which carries no mark")) as caught:
            ingest([inputs[1]], home, one_worker(), test_key)
        assert str(caught.value).endswith(advice if links_left else
                                          f"{advice}; then ln -sfn current/warehouse {home.data / 'warehouse'}; "
                                          f"then ln -sfn current/staging {home.data / 'staging'}")
    assert sorted(p.name for p in versions.iterdir()) == ["000001", "000002"]
    subprocess.run(str(caught.value).split("last one published: ")[1].replace("; then", " &&"), shell=True, check=True)
    assert len(warehouse_content(home)["declarations"]) == 2  # readers read it, the links mended by the advice alone
    ingest([inputs[1]], home, one_worker(), test_key)  # what version 2 added is done again
    assert len(warehouse_content(home)["declarations"]) == 4
    (versions / "000002" / PUBLISHED_MARK).unlink()  # one unmarked version, its warehouse link left dangling
    shutil.rmtree(versions / "000001")
    (home.data / "current").unlink()
    with pytest.raises(MissingVersion, match=re.escape(f"if it was published, ln -sfn versions/000002 "
                                                       f"{home.data / 'current'}")):
        ingest([inputs[1]], home, one_worker(), test_key)
    fresh = Home(tmp_path / "fresh")  # a first run killed before publishing, a staging link left dangling beside it
    (fresh.data / "versions" / "000001" / "warehouse").mkdir(parents=True)
    (fresh.data / "staging").symlink_to("current/staging")
    ingest([inputs[0]], fresh, one_worker(), test_key)
    assert len(warehouse_content(fresh)["declarations"]) == 2
    assert (fresh.data / "versions" / "000001" / PUBLISHED_MARK).exists()


@pytest.mark.parametrize("in_place", ["file", "empty folder"])
def test_a_file_or_an_empty_folder_in_place_of_current_names_the_version_to_link(tmp_path, inputs, test_key, in_place):
    from warehouse.engine import attach_warehouse, connect

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    current = home.data / "current"
    current.unlink()
    current.write_text("") if in_place == "file" else current.mkdir()
    message = f"is {'a file' if in_place == 'file' else 'a folder with no warehouse'} (move it away first)"
    with pytest.raises(MissingVersion, match=re.escape(message)):
        attach_warehouse(connect(), home.warehouse)
    with pytest.raises(MissingVersion, match=re.escape(f"ln -sfn versions/000001 {current}")):
        ingest([inputs[1]], home, one_worker(), test_key)
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000001"]
    current.unlink() if in_place == "file" else current.rmdir()
    with pytest.raises(MissingVersion, match=re.escape(f"is missing while {home.data / 'versions'}")):
        ingest([inputs[1]], home, one_worker(), test_key)


def test_a_writer_on_a_data_link_to_a_missing_disk_is_told_so(tmp_path, inputs, test_key):
    """`writer_lock` made the data folder and failed with FileExistsError on a dangling link, outside the CLI's check."""
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.data.symlink_to(tmp_path / "unmounted" / "data")
    with pytest.raises(MissingVersion, match="a disk not mounted"), writer_lock(home.data):
        pass
    with pytest.raises(MissingVersion, match="a disk not mounted"):
        ingest([inputs[0]], home, one_worker(), test_key)
    assert not (tmp_path / "unmounted").exists()


def test_a_replaced_version_that_cannot_be_deleted_does_not_undo_a_publication(tmp_path, inputs, monkeypatch, caplog,
                                                                               test_key):
    """Deleting the versions a publication replaces comes after the switch: failing there is logged, the run succeeds,
    and the next publication deletes them."""
    import warehouse.versions

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)
    kept = shutil.rmtree

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(warehouse.versions.shutil, "rmtree", refused)
    controls = home.root / "inspections.csv"
    controls.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-02-10,1\n")
    import_inspections(controls, home)  # version 3: version 1 is to go
    assert "version 000001, replaced, could not be deleted yet" in caplog.text
    assert os.readlink(home.data / "current") == "versions/000003"
    monkeypatch.setattr(warehouse.versions.shutil, "rmtree", kept)
    ingest([inputs[0]], home, one_worker(), test_key)  # nothing new: nothing published, nothing deleted
    import_inspections(controls, home)
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000003", "000004"]


def test_a_version_an_engine_reads_is_not_deleted_under_it_by_later_publications(tmp_path, inputs, test_key):
    """A features run reading version 1 while two ingestions publish versions 2 and 3: version 1 was deleted under it
    and the run failed (« No files found »). Held by the engine that attached it, it is left by the writers, read to
    the end, and deleted by the first publication after the engine closed."""
    from warehouse.sql_engine import DuckDBEngine

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    declared = "SELECT count(*), count(DISTINCT month) FROM declarations"
    with DuckDBEngine() as engine:
        engine.attach_warehouse(home.warehouse)
        ingest([inputs[1]], home, one_worker(), test_key)  # version 2
        controls = home.root / "inspections.csv"
        controls.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-02-10,1\n")
        import_inspections(controls, home)  # version 3: version 1 would go
        assert (home.data / "versions" / "000001").is_dir()
        assert engine.fetch_row(declared) == (2, 1)
    controls.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-02-11,1\n")
    import_inspections(controls, home)  # version 4: nobody reads 1 or 2 any more
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000003", "000004"]


def test_a_reader_waiting_for_a_version_being_deleted_reads_the_version_published_now(tmp_path, inputs, test_key,
                                                                                      monkeypatch):
    """A reader looked up version 1, then two publications deleted it before it took its lock: it held nothing and
    failed later on files gone (or created its lock file again inside the folder being deleted). It now finds the
    version gone once it has its lock, and an engine reads the version published now."""
    import fcntl
    import threading

    import warehouse.sql_engine as sql_engine
    from warehouse.engine import published_version
    from warehouse.sql_engine import DuckDBEngine
    from warehouse.versions import DELETING_PREFIX, READERS_LOCK, hold_for_reading

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)  # version 2: version 1 is kept until the next publication
    first = home.data / "versions" / "000001"
    # The steps of a writer deleting version 1 (`WarehouseState._delete_unread`), a reader waiting for its lock meanwhile.
    writer = os.open(first / READERS_LOCK, os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(writer, fcntl.LOCK_EX)
    held: list[int | None] = []
    reader = threading.Thread(target=lambda: held.append(hold_for_reading(first)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()
    doomed = first.with_name(DELETING_PREFIX + first.name)
    first.rename(doomed)
    shutil.rmtree(doomed)
    os.close(writer)
    reader.join(5)
    assert held == [None] and not first.exists() and not doomed.exists()

    looked_up = [first / "warehouse"]  # what the engine found published before version 1 was deleted
    monkeypatch.setattr(sql_engine, "published_version",
                        lambda warehouse: looked_up.pop() if looked_up else published_version(warehouse))
    with DuckDBEngine() as engine:
        assert engine.attach_warehouse(home.warehouse) == home.data / "versions" / "000002" / "warehouse"
        assert engine.fetch_row("SELECT count(*) FROM declarations") == (4,)
        assert list(engine.held_versions) == [home.data / "versions" / "000002"]
    assert not first.exists()
    # A caller that named the deleted version itself (the version an old list was drawn from) is told so
    monkeypatch.undo()
    with DuckDBEngine() as engine, pytest.raises(MissingVersion, match="000001: this version of the warehouse was deleted"):
        engine.attach_warehouse(first / "warehouse")


def test_a_replaced_version_is_renamed_before_it_is_deleted(tmp_path, inputs, test_key, monkeypatch):
    """A replaced version is renamed before it is deleted, under the writer's lock: a reader then finds nothing where it
    was, not a folder half deleted in which it would create its lock file again; a writer killed meanwhile leaves the
    renamed folder, which the next publication deletes."""
    import warehouse.versions

    home = Home(tmp_path / "home")
    ingest([inputs[0]], home, one_worker(), test_key)
    ingest([inputs[1]], home, one_worker(), test_key)
    deleted: list[tuple[str, bool]] = []
    rmtree = shutil.rmtree

    def seen(path, *args, **kwargs):
        deleted.append((Path(path).name, (home.data / "versions" / "000001").exists()))
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(warehouse.versions.shutil, "rmtree", seen)
    controls = home.root / "inspections.csv"
    controls.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-02-10,1\n")
    import_inspections(controls, home)  # version 3: version 1 goes
    assert deleted == [(".deleting-000001", False)]
    monkeypatch.undo()
    left = home.data / "versions" / ".deleting-000000"
    (left / "warehouse").mkdir(parents=True)
    controls.write_text("siret,inspection_date,abuse_found\n12345678900011,2025-02-11,1\n")
    import_inspections(controls, home)  # version 4
    assert not left.exists()
    assert sorted(p.name for p in (home.data / "versions").iterdir()) == ["000003", "000004"]
