"""The indicators by ranges of establishments (features.indicators.compute_indicators) against one query."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pytest

import features.indicators
from core.config import FeaturesConfig
from features.indicators import compute_indicators
from tests.asof_tables import CONTRACTS, ESTABLISHMENTS
from warehouse.sql_engine import DuckDBEngine

AS_OF_END = date(2025, 6, 30)
KINDS = ("cdi", "cdd", "usage", "mission", "other")


def _tables(seed: int) -> tuple[list[dict], list[dict]]:
    """Random contracts of a few establishments (some with no SIRET, some contracts counted nowhere)."""
    draw = random.Random(seed)
    sirets = [f"{draw.randrange(10**13, 10**14)}" for _ in range(9)]
    establishments = [{"siret": siret, "naf": "5610A", "declares": True, "first_month": date(2024, 1, 1)}
                      for siret in sirets] + [{"siret": None, "naf": "5610A", "declares": True}]
    contracts = []
    for number in range(400):
        start = date(2023, 7, 1) + timedelta(days=draw.randrange(720))
        end = start + timedelta(days=draw.choice((0, 1, 6, 20, 90, 400))) if draw.random() < 0.8 else None
        where = draw.choice([*sirets, None, "99999999999999"])
        contracts.append({
            "contract_id": f"c{number:04d}", "siret": where, "person_key": f"p{draw.randrange(40)}",
            "start_date": start, "end_date": end, "kind": draw.choice(KINDS), "post": draw.choice(("pcs 1", "pcs 2", None)),
            "establishment_siret": where, "period_end": min(end or AS_OF_END, AS_OF_END),
            "duration_days": (end - start).days + 1 if end else None,
            "first_month": start.replace(day=1), "last_month": min(end or AS_OF_END, AS_OF_END).replace(day=1),
            "hours_worked_in_window": float(draw.randrange(200)), "contract_hours": 151.67, "time_mode": "10",
        })
    return contracts, establishments


def _indicators(contracts: list[dict], establishments: list[dict]) -> pd.DataFrame:
    with DuckDBEngine() as engine:
        engine.con.execute(
            "CREATE TEMP TABLE asof_params AS SELECT DATE '2025-06-01' AS as_of, DATE '2025-06-30' AS as_of_end, "
            "DATE '2024-07-01' AS window_start, DATE '2025-04-01' AS short_window_start, "
            "DATE '2023-07-01' AS history_start")
        for name, schema, rows in (("contracts_asof", CONTRACTS, contracts),
                                   ("establishments_asof", ESTABLISHMENTS, establishments)):
            engine.register(f"{name}_rows", pa.Table.from_pylist(rows, schema=schema))
            engine.create_table(name, f"SELECT * FROM {name}_rows")
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
