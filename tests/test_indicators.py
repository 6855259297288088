"""The indicators by ranges of establishments (features.indicators.compute_indicators) against one query."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import features.indicators
from core.config import FeaturesConfig
from features.indicators import compute_indicators
from tests.asof_tables import CONTRACTS, ESTABLISHMENTS, keyed_contracts
from warehouse.contracts import hours_sum
from warehouse.engine import connect
from warehouse.sql_engine import DuckDBEngine

AS_OF_END = date(2025, 6, 30)
KINDS = ("cdi", "cdd", "usage", "mission", "other")


# SIRETs a cast to a number could confuse (leading zeros, signs, exponents, other digits): each its own establishment.
ODD_SIRETS = ("00000000012345", "12345", "-0000000012345", "0000000001e+04", "00000000012345 ", "１２３４５６７８９０１２３４",
              "1234567890123²", "")


def _tables(seed: int, odd: bool = False) -> tuple[list[dict], list[dict]]:
    """Random contracts of a few establishments (some with no SIRET, some contracts counted nowhere; with `odd`,
    `ODD_SIRETS` too, and pseudonyms as the warehouse writes them)."""
    draw = random.Random(seed)
    sirets = [f"{draw.randrange(10**13, 10**14)}" for _ in range(9)] + (list(ODD_SIRETS) if odd else [])
    establishments = [{"siret": siret, "naf": "5610A", "declares": True, "first_month": date(2024, 1, 1)}
                      for siret in sirets] + [{"siret": None, "naf": "5610A", "declares": True}]
    contracts = []
    for number in range(800 if odd else 400):
        start = date(2023, 7, 1) + timedelta(days=draw.randrange(720))
        end = start + timedelta(days=draw.choice((0, 1, 6, 20, 90, 400))) if draw.random() < 0.8 else None
        where = draw.choice([*sirets, None, "99999999999999"])
        contracts.append({
            "contract_id": f"c{number:04d}", "siret": where,
            "person_key": f"{draw.randrange(40):032x}" if odd else f"p{draw.randrange(40)}",
            "start_date": start, "end_date": end, "kind": draw.choice(KINDS), "post": draw.choice(("pcs 1", "pcs 2", None)),
            "establishment_siret": where, "period_end": min(end or AS_OF_END, AS_OF_END),
            "duration_days": (end - start).days + 1 if end else None,
            "first_month": start.replace(day=1), "last_month": min(end or AS_OF_END, AS_OF_END).replace(day=1),
            "hours_worked_in_window": float(draw.randrange(200)), "contract_hours": 151.67, "time_mode": "10",
        })
    return contracts, establishments


def _indicators(contracts: list[dict], establishments: list[dict], by_strings: bool = False) -> pd.DataFrame:
    """The indicators of these rows; `by_strings`: grouped by the SIRETs and pseudonyms themselves (the key macros
    made identities, as on Spark), the reference of the integers that stand for them."""
    with DuckDBEngine() as engine:
        if by_strings:
            engine.con.execute("CREATE OR REPLACE TEMP MACRO siret_number(siret) AS siret")
            engine.con.execute("CREATE OR REPLACE TEMP MACRO person_number(person_key) AS person_key")
        engine.con.execute(
            "CREATE TEMP TABLE asof_params AS SELECT DATE '2025-06-01' AS as_of, DATE '2025-06-30' AS as_of_end, "
            "DATE '2024-07-01' AS window_start, DATE '2025-04-01' AS short_window_start, "
            "DATE '2023-07-01' AS history_start")
        for name, schema, rows in (("contracts_asof", CONTRACTS, contracts),
                                   ("establishments_asof", ESTABLISHMENTS, establishments)):
            engine.register(f"{name}_rows", pa.Table.from_pylist(rows, schema=schema))
            engine.create_table(name, keyed_contracts(f"{name}_rows") if name == "contracts_asof"
                                else f"SELECT * FROM {name}_rows")
        compute_indicators(engine, FeaturesConfig())
        return engine.fetch("SELECT * FROM establishment_indicators ORDER BY siret NULLS LAST")


@pytest.mark.parametrize("seed", range(5))
def test_indicators_by_ranges_equal_one_query(seed, monkeypatch):
    """Down to one range per establishment, the ranges give the rows of one query: an establishment with no SIRET
    comes last, contracts with none or counted at an establishment not listed count nowhere."""
    contracts, establishments = _tables(seed)
    monkeypatch.setattr(features.indicators, "CONTRACTS_PER_PART", len(contracts) + 1)
    whole = _indicators(contracts, establishments)
    monkeypatch.setattr(features.indicators, "CONTRACTS_PER_PART", 1)
    by_ranges = _indicators(contracts, establishments)
    assert len(whole) == len(establishments) and whole["siret"].isna().sum() == 1
    assert whole["hires_12m"].sum() > 0 and whole["longest_chain_contracts"].max() > 1
    pd.testing.assert_frame_equal(whole, by_ranges)


@pytest.mark.parametrize("seed", range(4))
def test_indicators_by_integer_keys_equal_them_by_strings(seed):
    """The integers that stand for SIRETs and pseudonyms group as the strings do, odd SIRETs included."""
    contracts, establishments = _tables(seed, odd=True)
    by_numbers = _indicators(contracts, establishments)
    assert len(by_numbers) == len(establishments) and by_numbers["hires_12m"].gt(0).sum() > len(ODD_SIRETS)
    pd.testing.assert_frame_equal(by_numbers, _indicators(contracts, establishments, by_strings=True))


def test_sums_of_hours_do_not_depend_on_the_order_of_the_rows():
    """Hours declared in hundredths, summed in any order (threads, engines), give the same bits: the month computed
    twice gives the same features, and the sums are the exact decimal ones."""
    contracts, establishments = _tables(7)
    draw = random.Random(7)
    for contract in contracts:
        contract["hours_worked_in_window"] = draw.randrange(20_000) / 100
        contract["contract_hours"], contract["time_mode"] = draw.randrange(1, 20_000) / 100, "20"
        contract["end_date"], contract["last_month"] = None, date(2025, 6, 1)  # in force: counted in `fte`
    forward = _indicators(contracts, establishments)
    backward = _indicators(contracts[::-1], establishments)
    pd.testing.assert_frame_equal(forward, backward, check_exact=True)
    siret = forward["siret"].iloc[0]
    counted = [c for c in contracts if c["establishment_siret"] == siret and c["kind"] in ("cdi", "cdd", "usage", "mission")]
    row = forward.iloc[0]
    hours = sum(Decimal(str(c["hours_worked_in_window"])) for c in counted)
    fixed_term = sum(Decimal(str(c["hours_worked_in_window"])) for c in counted if c["kind"] != "cdi")
    assert row["share_hours_fixed_term_12m"] == float(fixed_term) / float(hours)
    in_force = [c for c in contracts if c["establishment_siret"] == siret and c["kind"] != "mission"]
    assert row["fte"] == float(sum(min(Decimal(str(c["contract_hours"])), Decimal("151.67")) for c in in_force)
                               * 10_000) / 1_516_700


def test_hours_are_summed_exactly_whatever_the_order():
    """`warehouse.contracts.hours_sum`, which the contracts rebuilt and their states use, gives the exact decimal sum
    of hours declared in hundredths, whatever order the rows come in (a sum of doubles gives other last bits)."""
    draw = random.Random(3)
    hours = [draw.randrange(-5_000, 100_000) / 100 for _ in range(50_000)]
    exact = float(sum(Decimal(str(h)) for h in hours))
    sums = set()
    with DuckDBEngine() as engine:
        for rows in (hours, hours[::-1], sorted(hours)):
            engine.register("declared", pa.table({"hours_worked": rows}))
            sums.add(engine.fetch_row(f"SELECT {hours_sum('hours_worked')} FROM declared")[0])
    assert sums == {exact}


def test_integer_keys_stand_for_one_string_each():
    """Two SIRETs never share a number, whatever else a text holds that a cast would read as the same number, and
    other texts take negative ones; NULL stays NULL (a contract counted nowhere); pseudonyms get numbers of their own."""
    texts = ["01234567890123", "1234567890123", " 1234567890123", "+1234567890123", "-1234567890123", "00000001234567",
             "0000000001e+06", "00000001000000", "0x000000000001", "00000000000001", "1234567890123²", "99999999999999",
             "123456789012345", "abc", ""]
    con = connect()
    try:
        numbers = dict(con.execute("SELECT t, siret_number(t) FROM unnest(?) u(t)", [texts]).fetchall())
        assert len(set(numbers.values())) == len(texts) and numbers["01234567890123"] == 1234567890123
        assert all((n >= 0) == (len(t) == 14 and t.isascii() and t.isdigit()) for t, n in numbers.items())
        assert con.execute("SELECT siret_number(NULL), person_number(NULL)").fetchone() == (None, None)
        pseudonyms = [f"{random.Random(0).getrandbits(128) + k:032x}" for k in range(100_000)] + ["p1", "p10", "p01"]
        distinct = con.execute("SELECT count(DISTINCT person_number(p)), count(*) FROM unnest(?) u(p)", [pseudonyms])
        assert distinct.fetchone() == (len(pseudonyms), len(pseudonyms))
    finally:
        con.close()
