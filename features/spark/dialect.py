"""DuckDB SQL to Spark SQL: feature definitions are written once, in DuckDB's dialect.

sqlglot does the translation; the few DuckDB functions it leaves as they are get their Spark
equivalent here. A definition that cannot be translated faithfully should be rewritten in the
portable subset both engines share (see features/rules.py), not special-cased here.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

# DuckDB aggregate -> Spark aggregate with the same meaning (NULL values kept, unlike arg_max).
_RENAMED_FUNCTIONS = {"ARG_MAX_NULL": "MAX_BY", "ARG_MIN_NULL": "MIN_BY"}


def _rename(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.upper() in _RENAMED_FUNCTIONS:
        return exp.Anonymous(this=_RENAMED_FUNCTIONS[node.name.upper()], expressions=node.expressions)
    return node


def spark_sql(duckdb_sql: str) -> str:
    """The Spark SQL text of one DuckDB statement."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    return tree.transform(_rename).sql(dialect="spark")
