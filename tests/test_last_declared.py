"""Values "as last declared" do not depend on the order the engine reads rows in: a month may hold two declarations
of one establishment, two agencies' declarations of one workplace, or one absence declared twice with two ends."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from features.asof import ABSENCES_ASOF_SQL, ESTABLISHMENTS_ASOF_SQL, declared_in_window
from warehouse.engine import places_arrow
from warehouse.sql_engine import DuckDBEngine, SqlEngine, load_table

SHOP, USER = "11111111100011", "22222222200022"
OCTOBER, NOVEMBER = date(2025, 10, 1), date(2025, 11, 1)


def _rows(columns: dict[str, list], reverse: bool) -> pa.Table:
    return pa.table({name: values[::-1] if reverse else values for name, values in columns.items()})


def last_declared(engine: SqlEngine, reverse: bool) -> tuple[tuple, tuple, date]:
    """(the shop's NAF, street and declared months of the window, the user's, the absence's end) as of 2025-12, from
    rows tied on their month, read in their order or reversed."""
    engine.register("declarations", _rows({
        "declaration_key": ["k1", "k2"], "month": [OCTOBER, OCTOBER], "siret": [SHOP, SHOP],
        "siren": [SHOP[:9], SHOP[:9]], "naf": ["4711D", "4711F"], "idcc": ["2216", "2216"],
        "street": ["1 RUE DU PORT", "3 RUE DU PORT"], "postal_code": ["13002", "13002"], "city": ["MARSEILLE"] * 2,
    }, reverse))
    engine.register("workplaces", _rows({
        "declaration_key": ["k3", "k4"], "month": [NOVEMBER, NOVEMBER], "siret": ["33333333300033", "44444444400044"],
        "workplace_siret": [USER, USER], "naf": ["1011Z", "1013A"], "street": ["ZI NORD", "ZONE INDUSTRIELLE NORD"],
        "postal_code": ["35000", "35000"], "city": ["RENNES", "RENNES"],
    }, reverse))
    engine.register("absences", _rows({
        "month": [OCTOBER] * 2, "siret": [SHOP] * 2, "person_key": ["p1"] * 2, "contract_number": ["C1"] * 2,
        "start_date": [date(2021, 6, 7)] * 2, "kind": ["arret"] * 2, "reason": ["01"] * 2,
        "absence_start": [date(2025, 10, 4)] * 2, "absence_end": [date(2025, 10, 13), date(2025, 10, 31)],
    }, reverse))
    engine.register("contracts_asof", pa.table({
        "siret": [SHOP, "33333333300033"], "person_key": ["p1", "p2"], "contract_number": ["C1", "M1"],
        "start_date": [date(2021, 6, 7), date(2025, 11, 3)], "post": ["pcs 552a", "pcs 676a"],
        "establishment_siret": [SHOP, USER], "contract_id": ["c1", "m1"], "kind": ["cdi", "mission"],
        "period_end": [date(2025, 12, 31), date(2025, 11, 28)],
    }))
    engine.create_table("asof_params", "SELECT DATE '2025-12-01' AS as_of, DATE '2025-12-31' AS as_of_end, "
                                       "DATE '2025-01-01' AS window_start, DATE '2025-07-01' AS short_window_start, "
                                       "DATE '2024-01-01' AS history_start")
    load_table(engine, "places", places_arrow())
    engine.create_table("establishments_asof", ESTABLISHMENTS_ASOF_SQL)
    engine.create_table("absences_asof", ABSENCES_ASOF_SQL)
    establishments = engine.fetch("SELECT siret, naf, street, declared_window_bits FROM establishments_asof ORDER BY siret")
    shop, user = (tuple(row) for row in establishments[["naf", "street", "declared_window_bits"]].itertuples(index=False))
    end = engine.fetch_row("SELECT absence_end FROM absences_asof")
    for name in ("declarations", "workplaces", "absences", "contracts_asof"):
        engine.unregister(name)
    for name in ("asof_params", "places", "establishments_asof", "absences_asof"):
        engine.drop_table(name)
    assert end is not None
    return shop, user, end[0]


# The shop declared October, month 9 of the window; the user, which does not declare, has the warehouse's months.
EXPECTED = (("4711F", "3 RUE DU PORT", 1 << 9), ("1013A", "ZONE INDUSTRIELLE NORD", 1 << 9), date(2025, 10, 31))


@pytest.mark.parametrize("reverse", [False, True])
def test_ties_within_a_month_go_to_the_latest_declaration_and_the_later_end(reverse):
    """The latest declaration of the month (by key) gives the establishment's and the workplace's values; an absence
    declared twice in its latest month lasts until the later end. The same whichever row the engine reads first."""
    with DuckDBEngine() as engine:
        assert last_declared(engine, reverse) == EXPECTED


def test_an_establishment_counts_the_distinct_months_it_declared_in_the_window():
    """Months declared twice count once, months before the window not at all, the window's first month does; an
    establishment that declared only before the window is not active; a value declared NULL last keeps the one
    declared before it."""
    late, early = "55555555500055", "66666666600066"
    # Its declaration of 2026-01, after the month, is not read.
    months = [date(2024, 12, 1), date(2025, 1, 1), date(2025, 3, 1), date(2025, 3, 1), date(2025, 12, 1), date(2026, 1, 1)]
    rows = {
        "declaration_key": [f"k{i}" for i in range(len(months) + 1)], "month": [*months, date(2024, 12, 1)],
        "siret": [late] * len(months) + [early], "siren": [late[:9]] * len(months) + [early[:9]],
        "naf": ["5610A"] * (len(months) + 1), "idcc": ["1979", "1979", "1979", "1979", None, "4711", "1979"],
        "street": ["2 QUAI DES ORFEVRES"] * (len(months) + 1), "postal_code": ["75001"] * (len(months) + 1),
        "city": ["PARIS"] * (len(months) + 1),
    }
    with DuckDBEngine() as engine:
        engine.register("declarations", pa.table(rows))
        engine.register("workplaces", pa.table({name: pa.array([], pa.string()) for name in (
            "declaration_key", "siret", "workplace_siret", "naf", "street", "postal_code", "city")}).append_column(
            "month", pa.array([], pa.date32())))
        engine.register("contracts_asof", pa.table({"establishment_siret": pa.array([], pa.string()),
                                                    "kind": pa.array([], pa.string()),
                                                    "period_end": pa.array([], pa.date32())}))
        engine.create_table("asof_params", "SELECT DATE '2025-12-01' AS as_of, DATE '2025-12-31' AS as_of_end, "
                                           "DATE '2025-01-01' AS window_start, DATE '2025-10-01' AS short_window_start, "
                                           "DATE '2024-01-01' AS history_start")
        load_table(engine, "places", places_arrow())
        engine.create_table("establishments_asof", ESTABLISHMENTS_ASOF_SQL)
        found = engine.fetch("SELECT siret, months_declared_in_window, idcc, CAST(first_month AS VARCHAR) AS first, "
                             "CAST(last_month AS VARCHAR) AS last, declared_window_bits FROM establishments_asof")
    assert found.to_dict("records") == [
        {"siret": late, "months_declared_in_window": 3, "idcc": "1979", "first": "2024-12-01", "last": "2025-12-01",
         "declared_window_bits": 0b100000000101}]
    assert declared_in_window(date(2025, 12, 1), 0b100000000101, 12) == [date(2025, 1, 1), date(2025, 3, 1),
                                                                         date(2025, 12, 1)]
