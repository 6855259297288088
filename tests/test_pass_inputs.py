"""A pass's input frames kept in the engine and read by ranges of SIRET (`features.pass_inputs`): every row once,
in the pass's order, a missing SIRET in the last range; the tables gone afterwards, also when a query fails."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from features.pass_inputs import InputFrame, engine_source
from features.pass_parts import cuts_from_counts, run_by_ranges
from warehouse.sql_engine import DuckDBEngine

ROWS = """
SELECT * FROM (VALUES ('33', 'b', 2), ('11', 'a', 3), (NULL, 'z', 1), ('22', 'a', 1), ('11', 'a', 1), ('33', 'a', 5))
    AS t(establishment_siret, post, day)
"""


def _engine() -> DuckDBEngine:
    return DuckDBEngine(duckdb.connect())


def test_ranges_read_every_row_once_in_the_pass_order():
    engine = _engine()
    frames = [InputFrame("rows_input", ROWS, "establishment_siret, post, day"), InputFrame("others_input", ROWS)]
    with engine_source(engine, frames, (7,)) as source:
        sirets, counts = source.rows_by_siret()
        assert sirets.tolist() == ["11", "22", "33"] and counts.tolist() == [4, 2, 4]  # both frames; no SIRET: not counted
        whole, others, constant = source.arguments(None, None)
        assert constant == 7 and len(others) == 6
        assert whole["day"].tolist() == [1, 3, 1, 5, 2, 1]  # the pass's order, a missing SIRET last
        parts = [source.arguments(low, high)[0] for low, high in [(None, "22"), ("22", "33"), ("33", None)]]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert parts[-1]["establishment_siret"].isna().iloc[-1]
    assert engine.fetch("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE '%_input'")["n"][0] == 0


# Rows in no order over several of DuckDB's row groups (122,880 rows each), read by parallel threads.
MANY_ROWS = """
SELECT lpad(CAST(hash(i) % 5000 AS VARCHAR), 5, '0') AS establishment_siret, CAST(hash(i + 1) % 7 AS VARCHAR) AS post,
       CAST(hash(i + 2) % 1000 AS INTEGER) AS day, i AS contract
FROM range(400000) t(i)
"""


@pytest.mark.parametrize("insertion_order", [True, False])
def test_ranges_come_in_the_pass_order_whether_the_engine_keeps_a_table_order_or_not(insertion_order):
    """Stored in the pass's order, a range is read as stored where the engine keeps a table's order (DuckDB's default),
    and sorted as it is read where it does not."""
    engine = _engine()
    engine.con.execute(f"SET threads = 2; SET preserve_insertion_order = {str(insertion_order).lower()}")
    assert engine.keeps_table_order is insertion_order
    order = "establishment_siret, post, day, contract"
    with engine_source(engine, [InputFrame("many_input", MANY_ROWS, order)]) as source:
        for low, high in [(None, "01000"), ("01000", "03500"), ("03500", None)]:
            rows = source.arguments(low, high)[0]
            expected = engine.fetch(f"SELECT * FROM ({MANY_ROWS}) WHERE establishment_siret >= '{low or ''}' "
                                    f"AND establishment_siret < '{high or '99999'}' ORDER BY {order}")
            assert len(rows) > 50_000
            pd.testing.assert_frame_equal(rows, expected)


@pytest.mark.parametrize("order, days", [("post, day", [1, 1, 3, 5, 2, 1]),
                                         ("establishment_siret DESC, day", [2, 5, 1, 1, 3, 1])])
def test_an_order_that_does_not_begin_with_the_establishment_is_sorted_as_it_is_read(order, days):
    """The table is stored by establishment first: read as stored, it would not come in such an order."""
    with engine_source(_engine(), [InputFrame("rows_input", ROWS, order)]) as source:
        assert source.arguments(None, None)[0]["day"].tolist() == days


def test_a_pass_by_ranges_of_the_engine_gives_the_rows_of_one_pass():
    engine = _engine()
    results: list[pd.DataFrame] = []
    with engine_source(engine, [InputFrame("rows_input", ROWS, "establishment_siret, post, day")]) as source:
        whole = source.arguments(None, None)[0]
        parts = run_by_ranges(lambda frame: frame.assign(n=len(frame)), source, 2, results.append, min_rows=1,
                              max_rows=2)
    assert parts == 3  # at most 2 rows a range: 3 ranges, 2 processes at a time
    found = pd.concat(results, ignore_index=True)
    pd.testing.assert_frame_equal(found.drop(columns="n"), whole)
    assert found["n"].tolist() == [2, 2, 1, 3, 3, 3]  # each range ran alone, the last with the missing SIRET


def test_the_tables_made_are_dropped_when_a_query_fails():
    engine = _engine()
    with pytest.raises(duckdb.Error), engine_source(engine, [InputFrame("rows_input", ROWS),
                                                             InputFrame("bad_input", "SELECT * FROM missing")]):
        pass
    assert engine.fetch("SELECT count(*) AS n FROM duckdb_tables()")["n"][0] == 0


def test_cuts_fall_between_establishments_with_as_many_rows_on_each_side():
    sirets = pd.Series([f"{k:02d}" for k in range(10)]).to_numpy(dtype=object)
    assert cuts_from_counts(sirets, pd.Series([1] * 10).to_numpy(), 2) == ["05"]
    assert cuts_from_counts(sirets, pd.Series([9] + [1] * 9).to_numpy(), 2) == ["01"]  # one large establishment
    assert cuts_from_counts(sirets, pd.Series([1] * 10).to_numpy(), 1) == []
