"""The columns of features.asof's tables, for the hand-made as-of tables of the rule tests (test_rules.py);
a test row gives the ones a rule reads, the rest stay NULL; the contracts' integer keys are computed from their
strings as features.asof computes them (`keyed_contracts`). test_features.py checks them against the real tables."""

from __future__ import annotations

import pyarrow as pa


def _schema(strings: str, dates: str = "", ints: str = "", floats: str = "", bools: str = "") -> pa.Schema:
    fields = []
    for names, kind in ((strings, pa.string()), (dates, pa.date32()), (ints, pa.int64()), (floats, pa.float64()),
                        (bools, pa.bool_())):
        fields += [(name, kind) for name in names.split()]
    return pa.schema(fields)


CONTRACTS = _schema(
    "contract_id siret person_key contract_number motif post post_label end_motif time_mode establishment_siret kind idcc",
    dates="start_date end_date first_month last_month period_end planned_end_last",
    ints="renewals duration_days",
    floats="contract_hours hours_worked_in_window",
    bools="end_inferred end_at_planned",
)
# The contracts' integer keys (warehouse.engine.KEY_MACROS), added to the rows of CONTRACTS when they become a table.
CONTRACT_KEYS = ("establishment_number", "person_number")


def keyed_contracts(rows: str) -> str:
    """SQL: the contracts of table `rows` (shaped as CONTRACTS) with their integer keys, as features.asof adds them."""
    return (f"SELECT *, siret_number(establishment_siret) AS {CONTRACT_KEYS[0]}, "
            f"person_number(person_key) AS {CONTRACT_KEYS[1]} FROM {rows}")


ESTABLISHMENTS = _schema(
    "siret siren naf idcc street postal_code city departement departement_name region_code region",
    dates="first_month last_month", ints="months_declared_in_window declared_window_bits",
    bools="declares declares_since_first_month",
)
ABSENCES = _schema(
    "siret person_key contract_number kind reason post establishment_siret contract_id",
    dates="start_date absence_start absence_end",
)
CLOSED_WEEKDAYS = pa.schema([("siret", pa.string()), ("isodow", pa.int32())])
