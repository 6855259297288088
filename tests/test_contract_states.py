"""The versioned contracts (`contract_states`) give, as of every month, the contracts the rebuild from
the monthly snapshots gives, and so does either read with the month's table of declarants (`declarants_sql`): the
`small` population month by month, and hand-made edge cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import Config
from core.home import Home
from core.months import months_between
from features.asof import AsOfWindow
from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn
from warehouse.contracts import STATES_FILE, declarants_sql, has_contract_states, rebuild_contracts_sql
from warehouse.engine import attach_warehouse, connect
from warehouse.ingest import ingest

KEY = ["siret", "person_key", "contract_number", "start_date"]


def _contracts(warehouse, as_of: date, history_months: int, from_states: bool,
               declarants: bool = False) -> pd.DataFrame:
    """The contracts as of `as_of` as the features read them, by either path, sorted by contract; with `declarants`,
    each declarant's NAF and months declared read from the month's table of declarants (`declarants_sql`), as a month
    by ranges of establishments reads them."""
    window = AsOfWindow.of(as_of, Config().features.model_copy(update={"history_months": history_months}))
    con = connect()
    attach_warehouse(con, warehouse)
    if declarants:
        con.execute(f"CREATE TEMP TABLE asof_params AS SELECT DATE '{window.as_of}' AS as_of")
        con.execute(f"CREATE TEMP TABLE month_declarants AS {declarants_sql(3)}")
    sql = rebuild_contracts_sql(window.as_of, 3, window.history_start, window_start=window.window_start,
                                features_only=True, from_states=from_states,
                                declarants_of="month_declarants" if declarants else None)
    frame = con.sql(sql).df().sort_values(KEY, kind="stable").reset_index(drop=True)
    con.close()
    return frame


def _assert_same_every_month(warehouse, history_months: int) -> int:
    con = connect()
    attach_warehouse(con, warehouse)
    declared = {month for (month,) in con.execute("SELECT DISTINCT month FROM declarations").fetchall()}
    con.close()
    compared = 0
    for as_of in months_between(min(declared), max(declared)):
        expected = _contracts(warehouse, as_of, history_months, from_states=False)
        assert len(expected) > 0 or as_of not in declared  # a month nobody declared, with a history of one month
        for from_states, declarants in ((True, False), (True, True), (False, True)):
            actual = _contracts(warehouse, as_of, history_months, from_states, declarants)
            # Bit for bit: hours are summed as integers (`warehouse.contracts.hours_sum`), in any order.
            pd.testing.assert_frame_equal(
                actual, expected, check_exact=True,
                obj=f"contracts as of {as_of:%Y-%m} (history of {history_months} months, from states: {from_states}, "
                    f"declarants' table: {declarants})")
        compared += 1
    return compared


@pytest.mark.slow
@pytest.mark.parametrize("history_months", [24, 7])
def test_states_give_the_rebuild_of_every_month(small_warehouse, history_months):
    """Every month of the small population's 24, with the default history (never cut: the population
    starts within it) and with a short one (cut: first months, renewals and hours leave the window)."""
    _, home = small_warehouse
    assert has_contract_states(home.warehouse)
    assert _assert_same_every_month(home.warehouse, history_months) == 24


SHOP = "12345678900011"


def test_states_follow_gaps_renewals_renames_and_ends(tmp_path, test_key):
    """A CDD renewed twice and omitted one month; a CDI whose paid hours change one month; a contract
    renamed by a change block (S21.G00.41.014); an end declared then withdrawn (099), another left to
    be inferred, with a month the establishment did not declare among those that infer it; read as of every month
    with histories that cut them."""
    cdd = Contract(number="C1", start="2025-01-06", nature="02", motif="01", planned_end="2025-02-28")
    cdi = Contract(number="C2", start="2025-01-13", nature="01", motif=None)
    old = Contract(number="C3OLD", start="2025-01-20", nature="02", motif="02", planned_end="2025-12-31")
    new = replace(old, number="C3")
    renamed = replace(new, change={"001": "01042025", "014": "C3OLD"})
    months: dict[str, list[Contract]] = {
        "2025-01": [cdd, cdi, old],
        "2025-02": [cdd, cdi, old],
        "2025-03": [replace(cdd, planned_end="2025-04-30"), cdi, old],
        "2025-04": [cdi, renamed],  # C1 omitted this month
        "2025-05": [replace(cdd, planned_end="2025-08-31"), cdi, new],
        "2025-06": [replace(cdd, planned_end="2025-08-31"), replace(cdi, end=("2025-06-30", "059")), new],
        "2025-07": [replace(cdd, planned_end="2025-08-31"), replace(cdi, hours="100.00", end=("2025-06-30", "099")), new],
        "2025-08": [replace(cdd, planned_end="2025-08-31"), cdi, new],
        "2025-09": [cdi],  # the shop declares nothing for 2025-10: C1's end is inferred as of 2025-12, not 2025-11
        "2025-11": [cdi],
        "2025-12": [cdi],
    }
    files = [
        write_dsn(tmp_path / "dsn" / f"{month}.dsn",
                  envoi([Declaration(SHOP, month, [Individual(contracts=contracts)], order=str(i + 1))]))
        for i, (month, contracts) in enumerate(months.items())
    ]
    home = Home(tmp_path / "home")
    ingest(files, home, Config(), test_key)
    con = connect()
    attach_warehouse(con, home.warehouse)
    assert con.execute("SELECT count(*) FROM renamed_snapshots").fetchone() == (8,)  # C3OLD's 3, C3's 5
    # C1's states: January-February, March (renewed), May-August (renewed again, after a month's omission).
    assert con.execute("SELECT count(*) FROM contract_states WHERE contract_number = 'C1'").fetchone() == (3,)
    # Each state bounded by its neighbours: what tells a contract with one state over a history from the others.
    bounds = con.execute("SELECT run_from, previous_run_to, next_run_from FROM contract_states "
                         "WHERE contract_number = 'C1' ORDER BY run_from").fetchall()
    assert bounds == [(date(2025, 1, 1), None, date(2025, 3, 1)), (date(2025, 3, 1), date(2025, 2, 1), date(2025, 5, 1)),
                      (date(2025, 5, 1), date(2025, 3, 1), None)]
    con.close()
    inferred = _contracts(home.warehouse, date(2025, 12, 1), 24, from_states=True, declarants=True)
    assert inferred.set_index("contract_number").loc["C1", "end_inferred"]
    assert not _contracts(home.warehouse, date(2025, 11, 1), 24, from_states=True, declarants=True).set_index(
        "contract_number").loc["C1", "end_inferred"]
    for history in (24, 3, 2, 1):
        assert _assert_same_every_month(home.warehouse, history) == len(months) + 1  # 2025-10 too


def test_states_written_before_their_bounds_or_ids_are_not_read(tmp_path):
    """A versioned contracts file without the bounds of each state, or without the contracts' ids (written before
    them), is not read: the contracts are rebuilt from the snapshots until ingestion writes it again."""
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    assert not has_contract_states(warehouse)
    columns = {"siret": ["1"], "run_from": [date(2025, 1, 1)], "run_to": [date(2025, 1, 1)]}
    pq.write_table(pa.table(columns), warehouse / STATES_FILE)
    assert not has_contract_states(warehouse)
    bounded = {**columns, "previous_run_to": pa.nulls(1, pa.date32()), "next_run_from": pa.nulls(1, pa.date32())}
    pq.write_table(pa.table(bounded), warehouse / STATES_FILE)
    assert not has_contract_states(warehouse)
    pq.write_table(pa.table({**bounded, "contract_id": ["0123456789abcdef0123"]}), warehouse / STATES_FILE)
    assert has_contract_states(warehouse)
