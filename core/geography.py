"""Postal code -> département -> INSEE region, from tables shipped with the package."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Place:
    """Where an establishment is, as the regional offices (DREETS/DEETS) split the territory."""

    departement: str
    departement_name: str
    region_code: str
    region: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("core.reference").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def _places() -> dict[str, Place]:
    regions = {row["region_code"]: row["region"] for row in _rows("regions.csv")}
    return {
        row["departement"]: Place(row["departement"], row["departement_name"], row["region_code"], regions[row["region_code"]])
        for row in _rows("departements.csv")
    }


def departement_of(postal_code: str | None) -> str | None:
    """The département of a French postal code ('75011' -> '75', '20090' -> '2A', '97411' -> '974').

    Corsica: 200xx-201xx are Corse-du-Sud (2A), 202xx-206xx Haute-Corse (2B). Overseas codes use
    three digits. Monaco (980xx), the Pacific (986xx-988xx) and malformed codes give None.
    """
    if not postal_code or len(postal_code) != 5 or not postal_code.isdigit():
        return None
    if postal_code.startswith("20"):
        return "2A" if postal_code[2] in "01" else "2B"
    code = postal_code[:3] if postal_code.startswith("97") else postal_code[:2]
    return code if code in _places() else None


def departement_sql(postal_code: str) -> str:
    """The rule of `departement_of` as a SQL expression over the column `postal_code`."""
    return f"""CASE
        WHEN NOT regexp_full_match(coalesce({postal_code}, ''), '[0-9]{{5}}') THEN NULL
        WHEN {postal_code} LIKE '20%' THEN CASE WHEN substr({postal_code}, 3, 1) IN ('0', '1') THEN '2A' ELSE '2B' END
        WHEN {postal_code} LIKE '97%' THEN substr({postal_code}, 1, 3)
        ELSE substr({postal_code}, 1, 2) END"""


def place_of(postal_code: str | None) -> Place | None:
    """Département and region of a postal code, or None when it is not in France's regions."""
    departement = departement_of(postal_code)
    return _places()[departement] if departement else None


def places_table() -> list[Place]:
    """Every département with its region (for joins in SQL)."""
    return list(_places().values())
