"""DuckDB SQL to Spark SQL: feature definitions are written once, in DuckDB's dialect.

sqlglot does the translation; where its Spark SQL would mean something else, a rule below rewrites
the tree first (one small function per DuckDB construct, its reason on its first line). A
definition that cannot be translated faithfully should be rewritten in the portable subset both
engines share (see features/rules.py), not special-cased here.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

# DuckDB aggregate -> Spark aggregate with the same meaning (NULL values kept, unlike arg_max).
_RENAMED_FUNCTIONS = {"ARG_MAX_NULL": "MAX_BY", "ARG_MIN_NULL": "MIN_BY"}


def _rename(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.upper() in _RENAMED_FUNCTIONS:
        return exp.Anonymous(this=_RENAMED_FUNCTIONS[node.name.upper()], expressions=node.expressions)
    return node


def _arg_max_skipping_nulls(node: exp.Expression) -> exp.Expression:
    """DuckDB's arg_max/arg_min skip rows whose value is NULL; Spark's max_by/min_by return it."""
    if not isinstance(node, (exp.ArgMax, exp.ArgMin)):
        return node
    value, order = node.this, node.expression
    known_order = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                                       true=order)])
    return exp.Anonymous(this="MAX_BY" if isinstance(node, exp.ArgMax) else "MIN_BY", expressions=[value, known_order])


def _year_month_index(date: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Add(
        this=exp.Mul(this=exp.Year(this=date.copy()), expression=exp.Literal.number(12)),
        expression=exp.Month(this=date.copy()),
    ))


def _date_difference(node: exp.Expression) -> exp.Expression:
    """DuckDB's date_diff counts unit boundaries crossed, as a BIGINT; Spark's counts whole units, as an INT."""
    if not isinstance(node, exp.DateDiff):
        return node
    unit = node.unit.name.upper() if node.unit else "DAY"
    if unit == "MONTH":  # 31 January -> 1 February is one month in DuckDB, none in Spark
        difference: exp.Expression = exp.Paren(
            this=exp.Sub(this=_year_month_index(node.this), expression=_year_month_index(node.expression))
        )
    elif unit == "DAY":  # the same number of days on dates
        difference = exp.DateDiff(this=node.this, expression=node.expression, unit=exp.var("DAY"))
    else:
        raise ValueError(f"date_diff by {unit.lower()} has no Spark translation: {node.sql('duckdb')}")
    return exp.cast(difference, exp.DataType.Type.BIGINT)


def _full_match(node: exp.Expression) -> exp.Expression:
    """DuckDB's regexp_full_match matches the whole string; Spark's RLIKE matches anywhere in it."""
    if not isinstance(node, exp.RegexpFullMatch):
        return node
    anchored: exp.Expression = exp.Concat(expressions=[exp.Literal.string("^(?:"), node.expression, exp.Literal.string(")$")])
    if isinstance(node.expression, exp.Literal):
        anchored = exp.Literal.string(f"^(?:{node.expression.this})$")
    return exp.RegexpLike(this=node.this, expression=anchored)


def _double_average(node: exp.Expression) -> exp.Expression:
    """DuckDB averages decimals (CASE ... THEN 1.0 ELSE 0.0) as doubles; Spark keeps a decimal of 4 more places."""
    if not isinstance(node, exp.Avg) or isinstance(node.this, exp.Cast):
        return node
    return exp.Avg(this=exp.cast(node.this, exp.DataType.Type.DOUBLE))


def _signed_bit_masks(node: exp.Expression) -> exp.Expression:
    """Spark has no UBIGINT; the only ones here are 64-bit masks, whose bits and bit_count are the same signed."""
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.UBIGINT:
        return exp.DataType.build("BIGINT")
    return node


def _star_replace(node: exp.Expression) -> exp.Expression:
    """Spark has no `* REPLACE (e AS c)`: `* EXCEPT (c), e AS c` instead (c moves last; views are read by name)."""
    if not isinstance(node, exp.Select):
        return node
    expressions: list[exp.Expression] = []
    for projection in node.expressions:
        star = projection.this if isinstance(projection, exp.Column) else projection
        if not isinstance(star, exp.Star) or not star.args.get("replace"):
            expressions.append(projection)
            continue
        replaced = star.args["replace"]
        kept = exp.Star(except_=[*(star.args.get("except_") or []), *(exp.column(r.alias) for r in replaced)])
        expressions.append(exp.Column(this=kept, table=projection.args["table"]) if star is not projection else kept)
        expressions.extend(replaced)
    node.set("expressions", expressions)
    return node


def _string_keys(node: exp.Expression) -> exp.Expression:
    """DuckDB groups by integers standing for SIRETs and pseudonyms (warehouse.engine.KEY_MACROS); Spark by the
    strings themselves."""
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("SIRET_NUMBER", "PERSON_NUMBER"):
        return node.expressions[0]
    return node


def _planner_chooses_materialization(node: exp.Expression) -> exp.Expression:
    """DuckDB's `AS [NOT] MATERIALIZED` hint on a CTE is not Spark SQL; Spark's planner decides alone."""
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


# Applied in this order, each over the whole tree.
_RULES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _rename,
    _arg_max_skipping_nulls,
    _date_difference,
    _full_match,
    _double_average,
    _signed_bit_masks,
    _star_replace,
    _string_keys,
    _planner_chooses_materialization,
)


def spark_sql(duckdb_sql: str) -> str:
    """The Spark SQL text of one DuckDB statement."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    for rule in _RULES:
        tree = tree.transform(rule)
    return tree.sql(dialect="spark")
