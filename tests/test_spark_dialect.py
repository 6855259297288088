"""The DuckDB-to-Spark translation rules of warehouse/spark/dialect.py, one construct at a time."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.spark.dialect import spark_sql


def test_arg_max_skips_null_values_as_duckdb_does():
    assert spark_sql("SELECT arg_max(naf, month), arg_min_null(motif, month) FROM d") == (
        "SELECT MAX_BY(naf, CASE WHEN NOT naf IS NULL THEN month END), MIN_BY(motif, month) FROM d"
    )


def test_date_differences_count_boundaries_as_bigint():
    assert spark_sql("SELECT datediff('month', a, b), date_diff('day', a, b) FROM t") == (
        "SELECT CAST(((YEAR(b) * 12 + MONTH(b)) - (YEAR(a) * 12 + MONTH(a))) AS BIGINT), "
        "CAST(DATEDIFF(DAY, a, b) AS BIGINT) FROM t"
    )
    with pytest.raises(ValueError, match="date_diff by year"):
        spark_sql("SELECT datediff('year', a, b) FROM t")


@pytest.mark.parametrize(("start", "end", "months"), [
    ("2025-01-31", "2025-02-01", 1),  # one boundary crossed, no whole month
    ("2025-03-31", "2025-04-30", 1),
    ("2024-12-01", "2025-12-31", 12),
    ("2025-05-01", "2025-05-31", 0),
])
def test_month_difference_is_duckdbs_on_month_boundaries(start, end, months):
    duckdb_sql = f"SELECT datediff('month', DATE '{start}', DATE '{end}')"
    translated = spark_sql(duckdb_sql)  # year/month arithmetic, which DuckDB runs as well
    assert duckdb.sql(duckdb_sql).fetchone()[0] == duckdb.sql(translated).fetchone()[0] == months


def test_full_match_is_anchored():
    assert spark_sql("SELECT regexp_full_match(coalesce(s, ''), '[0-9]{14}') FROM t") == (
        "SELECT COALESCE(s, '') RLIKE '^(?:[0-9]{14})$' FROM t"
    )


def test_averages_are_doubles():
    assert spark_sql("SELECT avg(CASE WHEN d <= 7 THEN 1.0 ELSE 0.0 END) FROM t") == (
        "SELECT AVG(CAST(CASE WHEN d <= 7 THEN 1.0 ELSE 0.0 END AS DOUBLE)) FROM t"
    )


def test_unsigned_bit_masks_become_signed():
    assert spark_sql("SELECT bit_count(bit_or(CAST(1 AS UBIGINT) << CAST(n AS UBIGINT))) FROM t") == (
        "SELECT BIT_COUNT(BIT_OR(SHIFTLEFT(CAST(1 AS BIGINT), CAST(n AS BIGINT)))) FROM t"
    )


def test_star_replace_becomes_star_except():
    assert spark_sql("SELECT c.* REPLACE (upper(c.post) AS post), c.post AS post_label FROM c") == (
        "SELECT c.* EXCEPT (post), UPPER(c.post) AS post, c.post AS post_label FROM c"
    )
    assert spark_sql("SELECT c.* FROM c") == "SELECT c.* FROM c"


def test_materialization_hints_are_left_to_spark():
    assert spark_sql("WITH s AS NOT MATERIALIZED (SELECT a FROM t), m AS MATERIALIZED (SELECT a FROM s) "
                     "SELECT * FROM s, m") == (
        "WITH s AS (SELECT a FROM t), m AS (SELECT a FROM s) SELECT * FROM s, m"
    )


def test_spark_groups_by_the_strings_duckdb_numbers():
    assert spark_sql("SELECT siret_number(c.attributed_siret) AS e, person_number(c.person_key) AS p FROM t c") == (
        "SELECT c.attributed_siret AS e, c.person_key AS p FROM t AS c"
    )
