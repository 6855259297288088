"""The columns of features.asof's tables, for the hand-made as-of tables of the rule tests (test_rules.py);
a test row gives the ones a rule reads, the rest stay NULL. test_features.py checks them against the real tables."""

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
    dates="start_date end_date first_month last_month period_end",
    ints="renewals duration_days",
    floats="contract_hours hours_worked_in_window",
    bools="end_inferred end_at_planned",
)
ESTABLISHMENTS = _schema(
    "siret siren naf idcc street postal_code city departement departement_name region_code region",
    dates="first_month last_month", ints="months_declared_in_window", bools="declares",
)
ABSENCES = _schema(
    "siret person_key contract_number kind reason post establishment_siret contract_id",
    dates="start_date absence_start absence_end",
)
CLOSED_WEEKDAYS = pa.schema([("siret", pa.string()), ("isodow", pa.int32())])
