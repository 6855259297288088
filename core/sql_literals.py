"""Values and paths written into SQL text, when the statement cannot take parameters (views, COPY).

The only place SQL text gets a value: each is quoted as a string literal with its quotes doubled,
so that a path or a value holding a quote stays one literal.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike


def sql_string(value: str | PathLike[str]) -> str:
    """`value` as a SQL string literal: "it's" -> 'it''s'."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_string_list(values: Iterable[str | PathLike[str]]) -> str:
    """Comma-separated string literals, e.g. for `IN (...)` or a DuckDB list `[...]`."""
    return ", ".join(sql_string(v) for v in values)
