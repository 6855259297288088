"""The input frames of a rule check's Python pass, kept in the engine and read by ranges of SIRET.

Each frame's query runs once into a temp table sorted by establishment, then in the pass's order (DuckDB skips the
row groups of other ranges by their SIRETs); `features.pass_parts.run_by_ranges` then reads it range by range, so
that only one range's rows per process are ever in Python at a time (`EngineSource` is a
`features.pass_parts.PassSource`). An engine that returns a table's rows in the order they were inserted
(`keeps_table_order`) reads each range as stored when the pass's order begins with the establishment; otherwise
each range is sorted as it is read. `read_frames` reads each frame whole, sorted as it is read, without storing it (a
range of a month's establishments, its passes' inputs read at once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.asof import siret_range
from features.pass_parts import SIRET
from warehouse.sql_engine import SqlEngine


@dataclass(frozen=True)
class InputFrame:
    """One frame of a pass: the temp table that holds it, the query that fills it (with an establishment_siret
    column), and the ORDER BY the pass reads its rows in ("" when the pass orders them itself)."""

    table: str
    query: str
    order: str = ""

    def definition(self) -> str:
        """The query and its order, for the fingerprints of stored results."""
        return f"{self.query}\nORDER BY {self.order}" if self.order else self.query


class EngineSource:
    """The frames of a pass in the engine's temp tables (created by `engine_source`), and its other arguments."""

    def __init__(self, engine: SqlEngine, frames: Sequence[InputFrame], constants: tuple = ()) -> None:
        self.engine, self.frames, self.constants = engine, tuple(frames), constants

    def rows_by_siret(self) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
        every = " UNION ALL ".join(f"SELECT {SIRET} FROM {frame.table}" for frame in self.frames)
        counts = self.engine.fetch(f"SELECT {SIRET}, count(*) AS n FROM ({every}) "
                                   f"WHERE {SIRET} IS NOT NULL GROUP BY {SIRET} ORDER BY {SIRET}")
        return counts[SIRET].to_numpy(dtype=object), counts["n"].to_numpy(dtype=np.int64)

    def arguments(self, low: str | None, high: str | None) -> tuple:
        where = _in_range(low, high)
        return (*(self.engine.fetch(f"SELECT * FROM {frame.table}{where}"
                                    + ("" if self._read_as_stored(frame) else f" ORDER BY {frame.order}"))
                  for frame in self.frames), *self.constants)

    def _read_as_stored(self, frame: InputFrame) -> bool:
        """Whether a range of `frame` read as stored comes in the pass's order: it has none, or the engine keeps
        a table's order and the table is stored in exactly that order (it begins with the establishment)."""
        # Sorting each range again cost 5 to 10 s of the three passes' 86 to 92 s on a national month.
        return not frame.order or (self.engine.keeps_table_order and _stored_order(frame) == frame.order)


@contextmanager
def engine_source(engine: SqlEngine, frames: Sequence[InputFrame], constants: tuple = ()) -> Iterator[EngineSource]:
    """The frames' queries run into their temp tables, sorted by establishment then in the pass's order, for the time
    of the block."""
    created = []
    try:
        for frame in frames:
            engine.create_table(frame.table, f"SELECT * FROM ({frame.query}) ORDER BY {_stored_order(frame)}")
            created.append(frame.table)
        yield EngineSource(engine, frames, constants)
    finally:
        for table in created:
            engine.drop_table(table)


def read_frames(engine: SqlEngine, frames: Sequence[InputFrame]) -> tuple[pd.DataFrame, ...]:
    """Each frame's rows whole, in the order `engine_source` stores them, read without storing them first (a range
    of a month's passes, read at once: writing its tables and reading them back cost more than sorting as it is read)."""
    return tuple(engine.fetch(f"SELECT * FROM ({frame.query}) ORDER BY {_stored_order(frame)}") for frame in frames)


def _stored_order(frame: InputFrame) -> str:
    """The ORDER BY of a frame's table: by establishment (what its ranges are cut on), then in the pass's order."""
    return frame.order if frame.order.split(",")[0].strip() == SIRET else ", ".join(filter(None, (SIRET, frame.order)))


def _in_range(low: str | None, high: str | None) -> str:
    """The WHERE clause of [low, high) (None: unbounded); a missing SIRET goes with the last range."""
    return "" if low is None and high is None else f" WHERE {siret_range(SIRET, low, high)}"
