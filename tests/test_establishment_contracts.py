"""One establishment's contracts rebuilt from its own declarations and its temp-work agencies' equal its rows of
the whole month's rebuild (what `explain` and the web page read)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import Config
from features.asof import prepare_as_of, prepare_establishment_contracts
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
    for siret in chosen:
        for from_states in (False, True):  # from the monthly snapshots, and from the versioned contracts
            with DuckDBEngine() as engine:
                engine.attach_warehouse(home.warehouse)
                prepare_establishment_contracts(engine, month, config.features, siret, from_states=from_states)
                narrowed = establishment_contracts(engine.con, siret)
            assert len(narrowed) > 0
            pd.testing.assert_frame_equal(_sorted(narrowed), _sorted(whole[siret]))
