"""The feature tables training reads: kept open from the moment they are found current (or computed), so that
another run storing a month again meanwhile, with other inspections or settings, changes nothing of what training
reads, and the evidence read is always that of the features read; a stored table known by the identity its own file
carries; tables of another schema, or unreadable, computed again rather than a crash; two runs storing one month one
after the other; the files closed with the mapping; tables whose past-inspection features alone disagree with the
inspections brought up to date, equal to a computation."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import pickle
import shutil
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import features.build
import features.store
from core.config import Config
from core.home import Home
from features.build import EVIDENCE_FILE, FINGERPRINT_KEY, compute_features, feature_dir
from features.store import feature_tables, stored_as_they_are
from tests.mini_world import CARE_HOME, MONTHS, RESTAURANT, SHOP, write_months
from tests.training_world import features_fingerprint
from warehouse.ingest import ingest
from warehouse.sql_engine import DuckDBEngine
from web.data import file_stamp

MONTH = date(2025, 6, 1)


@pytest.fixture
def home(tmp_path, test_key) -> Home:
    home = Home(tmp_path / "home")
    ingest(write_months(tmp_path / "dsn", MONTHS), home, Config(), test_key)
    return home


def _inspections() -> pd.DataFrame:
    return pd.DataFrame({"siret": [RESTAURANT], "inspection_date": pd.to_datetime(["2025-03-10"]).astype("datetime64[s]"),
                         "abuse_found": [1]})


def _store_again(path: Path, fingerprint: bytes | None = None) -> None:
    """What another run does to the month's file: the table with another inspection history (and another fingerprint
    if given, as with other settings), put in place at once."""
    stored = pq.read_table(path)
    table = stored.to_pandas()
    table["past_inspections"] = table["past_inspections"] + 100
    metadata = {**stored.schema.metadata, **({FINGERPRINT_KEY: fingerprint} if fingerprint else {})}
    temp = path.with_name("other-run.parquet")
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(metadata), temp)
    os.replace(temp, path)


def _states(home: Home, inspections: pd.DataFrame | None = None) -> list[str]:
    states: list[str] = []
    feature_tables(home, Config(), [MONTH], inspections, lambda month, state: states.append(state))
    return states


def test_a_month_stored_again_by_another_run_changes_nothing_of_what_is_read(home, monkeypatch):
    path = feature_dir(home.data, MONTH) / "features.parquet"
    store = features.store.store_features

    stored_evidence = []

    def store_then_another_run(*args, **kwargs):
        folder = store(*args, **kwargs)
        stored_evidence.append(features.build.load_evidence(home.data, MONTH))
        _store_again(path)  # right after this run put its table and evidence in place
        _evidence_of_another_run(folder)
        return folder

    monkeypatch.setattr(features.store, "store_features", store_then_another_run)
    computed = feature_tables(home, Config(), [MONTH], _inspections())
    assert computed[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 1
    assert len(stored_evidence[0]) > 0
    pd.testing.assert_frame_equal(computed.evidence(MONTH), stored_evidence[0])
    monkeypatch.undo()

    states: list[str] = []
    found = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["refreshed"]  # the other run's table is not current for these inspections
    again = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["refreshed", "cached"]
    _store_again(path, b"another fingerprint")  # after the table was found current
    for tables in (found, again):
        assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 1
        assert tables.rows(MONTH) == len(computed[MONTH])
    pd.testing.assert_frame_equal(found[MONTH], computed[MONTH])


def _evidence_of_another_run(folder: Path) -> None:
    """What another run storing the month again puts in place of its evidence: other findings (here, none)."""
    path = folder / EVIDENCE_FILE
    temp = path.with_name("other-run-evidence.parquet")
    pq.write_table(pq.read_table(path).slice(0, 0), temp)
    os.replace(temp, path)


@pytest.mark.parametrize("stored_first", [False, True], ids=["computed", "cached"])
def test_the_evidence_read_is_the_one_computed_with_the_features_read(home, stored_first):
    if stored_first:
        feature_tables(home, Config(), [MONTH], _inspections())
    folder = feature_dir(home.data, MONTH)
    tables = feature_tables(home, Config(), [MONTH], _inspections())
    expected = features.build.load_evidence(home.data, MONTH)
    assert len(expected) > 0
    _evidence_of_another_run(folder)  # after this run found (or stored) the month
    _store_again(folder / "features.parquet", b"another fingerprint")
    pd.testing.assert_frame_equal(tables.evidence(MONTH), expected)
    listed = sorted(set(expected["establishment_siret"]))[:1]
    pd.testing.assert_frame_equal(tables.evidence(MONTH, listed).reset_index(drop=True),
                                  expected[expected["establishment_siret"].isin(listed)].reset_index(drop=True))


def test_a_month_shown_as_stored_holds_its_features_and_their_evidence(home):
    feature_tables(home, Config(), [MONTH], _inspections())
    folder = feature_dir(home.data, MONTH)
    shown = stored_as_they_are(home.data, MONTH)  # what the web application reads
    features_then = features.build.read_features_file(folder / "features.parquet")
    evidence_then = features.build.load_evidence(home.data, MONTH)
    siret = evidence_then["establishment_siret"].iloc[0]
    _evidence_of_another_run(folder)
    _store_again(folder / "features.parquet")  # another run's month, stored after this one was opened
    pd.testing.assert_frame_equal(shown[MONTH], features_then)
    pd.testing.assert_frame_equal(shown.evidence(MONTH, siret=siret).reset_index(drop=True),
                                  evidence_then[evidence_then["establishment_siret"] == siret].reset_index(drop=True))
    (folder / "feature_catalog.json").unlink()  # a store under way
    with pytest.raises(FileNotFoundError, match="being stored"):
        stored_as_they_are(home.data, MONTH)


def test_a_month_found_current_holds_the_evidence_it_found_under_the_lock(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], _inspections())
    folder = feature_dir(home.data, MONTH)
    expected = features.build.load_evidence(home.data, MONTH)
    lock = features.store.month_lock

    @contextmanager
    def another_run_stores_once_the_lock_is_released(*args, **kwargs):
        with lock(*args, **kwargs):
            yield
        _evidence_of_another_run(folder)

    monkeypatch.setattr(features.store, "month_lock", another_run_stores_once_the_lock_is_released)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["cached"]
    pd.testing.assert_frame_equal(tables.evidence(MONTH), expected)


def test_a_stored_month_without_its_evidence_is_computed_again(home):
    assert _states(home) == ["computed"]
    (feature_dir(home.data, MONTH) / EVIDENCE_FILE).unlink()  # removed by hand, or never written
    assert _states(home) == ["computed"]
    assert _states(home) == ["cached"]


def test_the_declarations_are_read_once_for_the_fingerprints_of_every_month(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], None)
    scans: list[date] = []
    scan = features.build._declaration_digests

    def counted(engine, last):
        scans.append(last)
        return scan(engine, last)

    monkeypatch.setattr(features.build, "_declaration_digests", counted)
    states: list[str] = []
    later = date(2025, 8, 1)
    feature_tables(home, Config(), [later, MONTH], None, lambda month, state: states.append(state))  # out of order
    assert states == ["cached", "computed"] and scans == [later]
    monkeypatch.undo()
    with DuckDBEngine() as engine:
        for month in (MONTH, later):  # each stored under the fingerprint its own month's declarations give
            catalog = json.loads((feature_dir(home.data, month) / "feature_catalog.json").read_text(encoding="utf-8"))
            assert catalog["fingerprint"] == features_fingerprint(engine, home.warehouse, month, Config())


def test_a_month_computed_while_an_ingestion_publishes_is_stored_under_the_version_it_read(tmp_path, test_key,
                                                                                          monkeypatch):
    home = Home(tmp_path / "home")
    files = write_months(tmp_path / "dsn", MONTHS)
    late = next(path for path in files if path.name == "2025-03.dsn")  # a month declared late, ingested meanwhile
    ingest([path for path in files if path != late], home, Config(), test_key)
    with DuckDBEngine() as engine:
        before = features_fingerprint(engine, home.warehouse, MONTH, Config())
        expected = compute_features(engine, home.warehouse, MONTH, Config()).features
    compute = features.store.compute_feature_months

    def an_ingestion_publishes_first(*args, **kwargs):
        ingest([late], home, Config(), test_key)
        return compute(*args, **kwargs)

    monkeypatch.setattr(features.store, "compute_feature_months", an_ingestion_publishes_first)
    tables = feature_tables(home, Config(), [MONTH], None)
    catalog = json.loads((feature_dir(home.data, MONTH) / "feature_catalog.json").read_text(encoding="utf-8"))
    assert catalog["fingerprint"] == before  # computed from the version read when the call began, and said so
    pd.testing.assert_frame_equal(tables[MONTH], expected)
    with DuckDBEngine() as engine:
        assert not compute_features(engine, home.warehouse, MONTH, Config()).features.equals(expected)  # it matters
    monkeypatch.undo()
    assert _states(home) == ["computed"]  # the version published since declares more: computed again
    assert _states(home) == ["cached"]


def test_a_stored_table_is_current_when_its_catalog_and_its_own_identity_agree(home):
    assert _states(home) == ["computed"]
    assert _states(home) == ["cached"]
    path = feature_dir(home.data, MONTH) / "features.parquet"
    stored = pq.read_table(path)
    # Another run's table with other settings, next to this run's catalog (two stores interleaved, or a catalog left).
    pq.write_table(stored.replace_schema_metadata({**stored.schema.metadata, FINGERPRINT_KEY: b"other settings"}), path)
    assert _states(home) == ["computed"]
    # A table stored before tables carried their identity is judged by its catalog: not computed again on upgrade.
    pq.write_table(stored.replace_schema_metadata({}), path)
    assert _states(home) == ["cached"]
    (feature_dir(home.data, MONTH) / "feature_catalog.json").unlink()  # a store under way, or killed on the way
    assert _states(home) == ["computed"]


def test_a_store_killed_on_the_way_leaves_a_month_computed_again(home, monkeypatch):
    assert _states(home) == ["computed"]
    place = features.build._place

    def fail_on_evidence(source, path):
        if path.name == "rule_evidence.parquet":
            raise OSError("disk full")
        place(source, path)

    monkeypatch.setattr(features.build, "_place", fail_on_evidence)
    _store_again(feature_dir(home.data, MONTH) / "features.parquet", b"other settings")
    with pytest.raises(OSError, match="disk full"):
        feature_tables(home, Config(), [MONTH], _inspections())  # stale: computed, then stored up to the evidence
    monkeypatch.undo()
    assert _states(home, _inspections()) == ["computed"]  # new features beside old evidence: not taken as current


def test_the_check_reads_the_file_it_holds_and_only_what_it_needs(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], _inspections())
    path = feature_dir(home.data, MONTH) / "features.parquet"
    read_schema, read_table, replaced, columns = features.store.pq.read_schema, features.store.pq.read_table, [], []

    def replaced_once_opened(source):
        if not replaced:
            _store_again(path)  # another run, between the opening of the file and its check
            replaced.append(True)
        return read_schema(source)

    def read_held(source, **kwargs):
        if str(source).startswith("/proc/self/fd/"):  # not the other run's reads
            columns.append(kwargs.get("columns"))
        return read_table(source, **kwargs)

    monkeypatch.setattr(features.store.pq, "read_schema", replaced_once_opened)
    monkeypatch.setattr(features.store.pq, "read_table", read_held)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _inspections(), lambda month, state: states.append(state))
    assert states == ["cached"] and columns == [["siret", *features.store.INSPECTION_FEATURES]]
    monkeypatch.undo()
    assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 1


def test_a_stored_table_of_another_schema_or_unreadable_is_computed_again(home, caplog):
    feature_tables(home, Config(), [MONTH], _inspections())
    path = feature_dir(home.data, MONTH) / "features.parquet"
    stored = pq.read_table(path)
    pq.write_table(stored.drop_columns(["last_inspection_found_abuse"]), path)  # a column named otherwise before
    assert _states(home, _inspections()) == ["computed"]
    path.write_bytes(path.read_bytes()[: 1000])  # cut short by a disk that filled
    assert _states(home, _inspections()) == ["computed"]
    assert "cannot be read" in caplog.text and str(path) in caplog.text
    assert _states(home, _inspections()) == ["cached"]
    evidence = feature_dir(home.data, MONTH) / EVIDENCE_FILE
    evidence.write_bytes(evidence.read_bytes()[:500])
    caplog.clear()
    assert _states(home, _inspections()) == ["computed"]
    assert "cannot be read" in caplog.text and str(evidence) in caplog.text
    assert _states(home, _inspections()) == ["cached"]


def test_two_runs_storing_one_month_store_one_after_the_other(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], None)
    lock = feature_dir(home.data, MONTH) / ".store.lock"
    (lock.parent / "feature_catalog.json").unlink()  # a store killed on the way: the month is computed again
    place, busy = features.build._place, []

    def place_while_another_run_tries(source, path):
        other = os.open(lock, os.O_RDWR)  # another run's own open of the lock
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy.append(path.name)
        finally:
            os.close(other)
        place(source, path)

    monkeypatch.setattr(features.build, "_place", place_while_another_run_tries)
    feature_tables(home, Config(), [MONTH], _inspections())
    assert busy == ["rule_evidence.parquet"]


def _open_files() -> int:
    """The descriptors this process holds, once garbage is collected: a mapping an earlier test left in a reference
    cycle closes its files when collected, not during the count."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def test_the_files_held_are_closed_with_the_mapping(home):
    before = _open_files()
    tables = feature_tables(home, Config(), [MONTH, date(2025, 7, 1)], None)
    assert _open_files() == before + 4 and len(tables[MONTH]) > 0  # each month's features and evidence
    with pytest.raises(TypeError, match="holds open files"):
        pickle.dumps(tables)
    del tables
    gc.collect()
    assert _open_files() == before


def test_no_file_is_left_open_by_a_check_interrupted_between_its_two_files(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], _inspections())
    opened = os.open

    def interrupted_at_the_evidence(path, *args, **kwargs):
        if Path(path).name == EVIDENCE_FILE:
            raise KeyboardInterrupt
        return opened(path, *args, **kwargs)

    before = _open_files()
    monkeypatch.setattr(features.store.os, "open", interrupted_at_the_evidence)
    with pytest.raises(KeyboardInterrupt):
        feature_tables(home, Config(), [MONTH], _inspections())
    monkeypatch.undo()
    gc.collect()
    assert _open_files() == before


def test_no_file_is_left_open_by_a_stale_or_unreadable_month(home):
    feature_tables(home, Config(), [MONTH], _inspections())
    path = feature_dir(home.data, MONTH) / "features.parquet"
    for spoil in (_store_again, lambda path: path.write_bytes(path.read_bytes()[:1000])):
        spoil(path)
        before = _open_files()
        tables = feature_tables(home, Config(), [MONTH], _inspections())
        assert _open_files() == before + 2  # the month computed again, its features and evidence held
        del tables
        gc.collect()
        assert _open_files() == before


def _later_inspections() -> pd.DataFrame:
    """Inspections imported after the months were stored: on the edges of June (the 30th in the afternoon, and July
    1st), and two on one day, the one at 9 finding abuse (an inspection's day counts, not its time)."""
    return pd.DataFrame({
        "siret": [RESTAURANT, RESTAURANT, SHOP, CARE_HOME, CARE_HOME],
        "inspection_date": pd.to_datetime(["2025-03-10 00:00", "2025-06-30 14:00", "2025-07-01 00:00", "2025-05-31 09:00",
                                           "2025-05-31 15:00"]).astype("datetime64[s]"),
        "abuse_found": [1, 0, 1, 1, 0],
    })


def test_months_stored_before_inspections_were_imported_are_brought_up_to_date_as_if_computed(home):
    """Only the past-inspection features depend on the inspections: a retraining after new outcomes were imported
    brings them up to date in the stored tables instead of computing every month again, and gets the tables and
    files a computation gives, the evidence kept."""
    months = [date(2025, 5, 1), MONTH, date(2025, 7, 1), date(2025, 8, 1)]
    feature_tables(home, Config(), months, None)  # stored by monthly runs, before the inspections were imported
    evidence = {month: features.build.load_evidence(home.data, month) for month in months}
    catalogs = {month: file_stamp(feature_dir(home.data, month) / "feature_catalog.json") for month in months}
    states: list[str] = []
    refreshed = feature_tables(home, Config(), months, _later_inspections(), lambda month, state: states.append(state))
    assert states == ["refreshed"] * 4
    june, august = (refreshed[month].set_index("siret")[list(features.store.INSPECTION_FEATURES)].fillna(-1)
                    for month in (MONTH, date(2025, 8, 1)))
    # June 30 counts; its outcome is not known yet (90 days later), March's is (known on June 8).
    assert june.loc[RESTAURANT].tolist() == [2, 0, 1] and august.loc[RESTAURANT].tolist() == [2, 2, 1]
    assert june.loc[SHOP, "past_inspections"] == 0 and june.loc[SHOP, "months_since_last_inspection"] == -1
    # Two on May 31, one finding abuse: known on August 29, as abuse found (either found it).
    assert june.loc[CARE_HOME].tolist() == [2, 1, -1] and august.loc[CARE_HOME].tolist() == [2, 3, 1]
    for month in months:  # written again: the web application reads the month again, with no restart
        catalog = feature_dir(home.data, month) / "feature_catalog.json"
        assert file_stamp(catalog) != catalogs[month]
        assert "inspection_features_refreshed_at" in json.loads(catalog.read_text(encoding="utf-8"))
    files = {month: pq.read_table(feature_dir(home.data, month) / "features.parquet") for month in months}
    assert _states(home, _later_inspections()) == ["cached"]

    shutil.rmtree(home.data / "features")
    computed = feature_tables(home, Config(), months, _later_inspections(), lambda month, state: states.append(state))
    assert states[4:] == ["computed"] * 4
    for month in months:
        pd.testing.assert_frame_equal(refreshed[month], computed[month])
        pd.testing.assert_frame_equal(refreshed.evidence(month), evidence[month])
        assert files[month].equals(pq.read_table(feature_dir(home.data, month) / "features.parquet"), check_metadata=True)


def test_a_month_stored_again_before_it_is_brought_up_to_date_is_computed(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], None)
    path = feature_dir(home.data, MONTH) / "features.parquet"
    refresh = features.store._refresh_inspection_features

    def another_run_first(*args, **kwargs):
        _store_again(path, b"other settings")  # between the check and the refresh
        return refresh(*args, **kwargs)

    monkeypatch.setattr(features.store, "_refresh_inspection_features", another_run_first)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _later_inspections(), lambda month, state: states.append(state))
    assert states == ["computed"]
    assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 2


def test_a_refresh_that_fails_leaves_the_stored_month_as_it_was(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], None)
    folder = feature_dir(home.data, MONTH)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    lock, busy = folder / ".store.lock", []

    def write_while_another_run_tries(table, where, **kwargs):
        other = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a reader of the month waits for the refresh
        except BlockingIOError:
            busy.append(True)
        finally:
            os.close(other)
        raise OSError("disk full")

    monkeypatch.setattr(features.store.pq, "write_table", write_while_another_run_tries)
    with pytest.raises(OSError, match="disk full"):
        feature_tables(home, Config(), [MONTH], _later_inspections())
    monkeypatch.undo()
    assert busy == [True]
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert _states(home, _later_inspections()) == ["refreshed"]


@pytest.mark.parametrize("column, kind", [("past_inspections", pa.float64()), ("months_since_last_inspection", pa.null())],
                         ids=["float-count", "null-months"])
def test_a_stored_month_holding_the_inspection_features_with_other_types_is_computed(home, column, kind):
    feature_tables(home, Config(), [MONTH], None)
    path = feature_dir(home.data, MONTH) / "features.parquet"
    stored = pq.read_table(path)  # as older code, or another engine, may have stored it
    index = stored.schema.get_field_index(column)
    other = pa.nulls(stored.num_rows, kind) if kind == pa.null() else stored.column(column).cast(kind)
    pq.write_table(stored.set_column(index, pa.field(column, kind), other), path)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _later_inspections(), lambda month, state: states.append(state))
    assert states == ["computed"]
    assert pq.read_schema(path).field(column).type == features.store.INSPECTION_TYPES[
        features.store.INSPECTION_FEATURES.index(column)]
    assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 2


def test_a_month_another_run_brought_up_to_date_meanwhile_is_not_written_again(home, monkeypatch):
    feature_tables(home, Config(), [MONTH], None)
    path = feature_dir(home.data, MONTH) / "features.parquet"
    refresh, write, written = features.store._refresh_inspection_features, features.store.pq.write_table, []
    monkeypatch.setattr(features.store.pq, "write_table", lambda *args, **kwargs: written.append(1) or write(*args, **kwargs))

    def another_run_first(home, month, inspections, fingerprint, tables, after_days):
        other = features.store.StoredFeatures([month])  # another training, between this run's check and its refresh
        assert refresh(home, month, inspections, fingerprint, other, after_days)
        return refresh(home, month, inspections, fingerprint, tables, after_days)

    monkeypatch.setattr(features.store, "_refresh_inspection_features", another_run_first)
    states: list[str] = []
    tables = feature_tables(home, Config(), [MONTH], _later_inspections(), lambda month, state: states.append(state))
    assert states == ["refreshed"] and written == [1]  # the other run's writing only
    assert os.fstat(tables._files[MONTH][0]).st_ino == path.stat().st_ino
    assert tables[MONTH].set_index("siret").loc[RESTAURANT, "past_inspections"] == 2


def test_inspections_given_with_a_time_zone_count_on_their_day_in_france(home):
    """A Python caller's dates may carry a time zone: each inspection counts on its day in France, whether the month is
    computed, found current or brought up to date (the 30th of June at 23:30 in Paris is the 30th, though it is June
    30th 21:30 in UTC, and July 1st at 00:30 in Paris is July, though UTC still says June)."""
    naive = _later_inspections()
    paris = naive.assign(inspection_date=naive["inspection_date"].dt.tz_localize("Europe/Paris"))
    late = pd.DataFrame({"siret": [SHOP, SHOP], "abuse_found": [1, 0],
                         "inspection_date": pd.to_datetime(["2025-06-30 23:30", "2025-07-01 00:30"])})
    utc = pd.concat([paris, late.assign(inspection_date=late["inspection_date"].dt.tz_localize("Europe/Paris"))])
    utc["inspection_date"] = utc["inspection_date"].dt.tz_convert("UTC")
    assert _states(home, paris) == ["computed"]
    assert _states(home, naive) == ["cached"]
    assert _states(home, utc) == ["refreshed"]
    june = feature_tables(home, Config(), [MONTH], utc)[MONTH].set_index("siret")
    # June 30th, in Paris; its outcome known 90 days later.
    assert june.loc[SHOP, list(features.store.INSPECTION_FEATURES)].fillna(-1).tolist() == [1, 0, -1]


@pytest.mark.parametrize("column, value, reason", [
    ("abuse_found", pd.NA, "abuse_found is not 0 or 1 in 1 of 5 rows (the first at position 2)"),
    ("abuse_found", 2, "abuse_found is not 0 or 1 in 1 of 5 rows"),
    ("inspection_date", pd.NaT, "inspection_date is not a date between 1950 and 2099 in 1 of 5 rows"),
    ("siret", pd.NA, "siret is not 14 digits in 1 of 5 rows"),
])
def test_inspections_a_caller_gives_with_a_missing_or_bad_value_are_refused_by_row(home, column, value, reason):
    """Before, a missing outcome made every run compute the month again, with a warning that the stored file could
    not be read."""
    stored = _states(home, _later_inspections())
    bad = _later_inspections().astype({"abuse_found": "object", "siret": "object"})
    bad.loc[2, column] = value
    with pytest.raises(ValueError, match=r"^inspections: " + reason.replace("(", r"\(").replace(")", r"\)")):
        feature_tables(home, Config(), [MONTH], bad)
    assert stored == ["computed"] and _states(home, _later_inspections()) == ["cached"]
