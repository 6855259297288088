"""One establishment's contracts rebuilt from its own declarations and its temp-work agencies' equal its rows of
the whole month's rebuild (what `explain` and the web page read)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import Config
from features.asof import placing_agencies, prepare_as_of, prepare_establishment_contracts
from features.build import latest_month
from scoring.explain import establishment_contracts
from warehouse.contracts import has_contract_states
from warehouse.sql_engine import DuckDBEngine

pytestmark = pytest.mark.slow


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["contract_id", "start_date"], ignore_index=True)


def test_narrowed_rebuild_equals_the_whole_month(small_warehouse):
    _, home = small_warehouse
    config = Config()
    with DuckDBEngine() as engine:
        month = latest_month(engine, home.warehouse)
        engine.attach_warehouse(home.warehouse)
        prepare_as_of(engine, month, config.features)
        users = engine.fetch("SELECT DISTINCT establishment_siret AS siret FROM contracts_asof WHERE kind = 'mission' "
                             "ORDER BY 1 LIMIT 5")["siret"].tolist()
        others = engine.fetch("SELECT DISTINCT establishment_siret AS siret FROM contracts_asof "
                              "ORDER BY hash(establishment_siret) LIMIT 5")["siret"].tolist()
        chosen = sorted(set(users + others))
        whole = {siret: establishment_contracts(engine.con, siret) for siret in chosen}
    assert users, "the small population has temp-work missions"
    assert has_contract_states(home.warehouse)
    with DuckDBEngine() as engine:
        engine.attach_warehouse(home.warehouse)
        agencies = placing_agencies(engine, month, config.features)  # what a web process reads once
    assert set(users) <= set(agencies["user_siret"])
    for siret in chosen:
        # from the monthly snapshots, from the versioned contracts, and with the month's agencies read once
        for from_states, month_agencies in ((False, None), (True, None), (True, agencies)):
            with DuckDBEngine() as engine:
                engine.attach_warehouse(home.warehouse)
                prepare_establishment_contracts(engine, month, config.features, siret, from_states=from_states,
                                                agencies=month_agencies)
                narrowed = establishment_contracts(engine.con, siret)
            assert len(narrowed) > 0
            pd.testing.assert_frame_equal(_sorted(narrowed), _sorted(whole[siret]))
