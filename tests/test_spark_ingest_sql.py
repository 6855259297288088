"""The ingestion SQL, written once for DuckDB, translates to Spark SQL (text only: no Spark session)."""

from __future__ import annotations

import pytest

from warehouse.consolidate import (
    COPIES_SQL,
    DECLARATION_STATUS_SQL,
    ESTABLISHMENTS_SQL,
    PERSONS_SQL,
    STATUS_ISSUES_SQL,
    STATUS_SQL,
)
from warehouse.contracts import CONTRACT_STATES_SQL, RENAMED_SNAPSHOTS_SQL, rebuild_contracts_sql
from warehouse.spark.dialect import spark_sql

INGEST_SQL = {
    "copies": COPIES_SQL,
    "status": STATUS_SQL,
    "declaration_status": DECLARATION_STATUS_SQL,
    "status_issues": STATUS_ISSUES_SQL,
    "establishments": ESTABLISHMENTS_SQL,
    "persons": PERSONS_SQL,
    "contracts": rebuild_contracts_sql(None, 3),
    "contract_states": CONTRACT_STATES_SQL,
    "renamed_snapshots": RENAMED_SNAPSHOTS_SQL,
}
# DuckDB-only constructs that Spark SQL would reject or read otherwise.
DUCKDB_ONLY = ("ASOF", "REPLACE (", "INT128", "HUGEINT", "BY NAME", "REGEXP_FULL_MATCH", "ARG_MAX(", "ARG_MIN(", "STRFTIME",
               ")[:")


@pytest.mark.parametrize("name", INGEST_SQL)
def test_ingest_sql_has_no_duckdb_only_construct_in_spark(name):
    translated = spark_sql(INGEST_SQL[name]).upper()
    assert [c for c in DUCKDB_ONLY if c in translated] == []

