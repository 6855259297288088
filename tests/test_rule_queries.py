"""The rule queries give the rows of their reference (`features.bench_rules_reference`: the queries as written before
they were made faster) on randomised as-of tables with the hard cases: chains of one person on one post across the
window's start, breaks around chain_gap_days, overlapping contracts, ends not known yet or inferred, missions with
and without a known user, replacements around absences on their post and elsewhere and around departures of
open-ended contracts; with the default settings and others. And the bound duree_max leaves person-posts out by."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from core.config import FeaturesConfig
from features.bench_rules import run_queries
from features.rules import _add_months, _day_number, _shortest_limit_days, compute_rule_evidence
from tests.test_rules import AS_OF, AS_OF_END, absence, as_of_tables, contract
from warehouse.engine import connect
from warehouse.sql_engine import DuckDBEngine

FIRST_DAY = date(2022, 1, 1)
SETTINGS = (
    FeaturesConfig(),
    FeaturesConfig(max_fixed_term_months=6, chain_gap_days=0, replacement_margin_days=0),
    FeaturesConfig(max_fixed_term_months=9, chain_gap_days=10, replacement_margin_days=3),
)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _contract_row(rng: np.random.Generator, cid: str, start: date, length: int, siret: str, post: str,
                  person: str) -> dict:
    """A contracts_asof row: its kind, motif, end (declared, inferred or not known yet) drawn at random."""
    kind = str(rng.choice(["cdd", "cdd", "cdd", "mission", "cdi", "usage"]))
    motif = rng.choice(["02", "02", "01", "01", "03", None])
    end = start + timedelta(days=length - 1)
    known = end <= AS_OF_END and rng.random() < 0.8
    last_month = _month_start(end) if known else _month_start(
        start + timedelta(days=int(rng.integers(0, max((AS_OF - start).days, 0) + 1))))
    return contract(
        cid, start.isoformat(), end.isoformat() if known else None, post=post, kind=kind, motif=motif, siret=siret,
        user=siret if kind == "mission" and rng.random() < 0.8 else None, person=person,
        last_month=min(last_month, AS_OF), end_inferred=bool(known and rng.random() < 0.3),
        end_at_planned=bool(known and rng.random() < 0.3),
    )


def random_world(rng: np.random.Generator, gap: int) -> tuple[list[dict], list[dict]]:
    """Contracts in chains of one person on one post (breaks around `gap` days, overlaps) at three establishments,
    and absences starting around the contracts' starts, on their post or another."""
    contracts, absences = [], []
    for e in range(3):
        siret = f"9000000000{e:04d}"
        for post in ("soudeur", "cariste"):
            for p in range(4):
                day = FIRST_DAY + timedelta(days=int(rng.integers(0, 1000)))
                for k in range(int(rng.integers(1, 6))):
                    if day > AS_OF_END:
                        break
                    length = int(rng.choice([int(rng.integers(1, 60)), int(rng.integers(60, 700))]))
                    contracts.append(_contract_row(rng, f"c{e}{post}{p}{k}", day, length, siret, post, f"p{e}{p}"))
                    day += timedelta(days=length + int(rng.choice([-40, -1, 0, gap - 1, gap, gap + 1, gap + 2, 90])))
        for _ in range(12):
            near = contracts[int(rng.integers(0, len(contracts)))]["start_date"]
            start = near + timedelta(days=int(rng.integers(-10, 11)))
            end = start + timedelta(days=int(rng.integers(0, 90))) if rng.random() < 0.7 else None
            absences.append(absence(f"p{e}{int(rng.integers(0, 6))}", str(rng.choice(["soudeur", "cariste"])),
                                    start.isoformat(), end.isoformat() if end else None, siret=siret))
    return contracts, absences


@pytest.mark.parametrize("seed", range(12))
def test_rule_queries_give_the_rows_of_their_reference(seed):
    rng = np.random.default_rng(seed)
    settings = SETTINGS[seed % len(SETTINGS)]
    contracts, absences = random_world(rng, settings.chain_gap_days)
    engine = DuckDBEngine(as_of_tables(contracts, absences=absences))
    compute_rule_evidence(engine, settings)
    queries = run_queries(engine, settings).set_index("rule")
    assert queries["identical"].all()
    assert queries.loc[["duree_max", "remplacement_sans_absence"], "rows"].gt(0).all()  # something to compare


def test_no_months_span_fewer_days_than_the_shortest_limit():
    # Every start day of 2000-2040, and the day counts the duree_max query reads from it: never fewer than
    # _shortest_limit_days, the bound it leaves person-posts out by.
    for months in (1, 2, 6, 12, 18, 24, 36):
        limit = f"{_day_number(_add_months('day', months))} - {_day_number('day')}"
        (fewest,) = connect().execute(
            f"SELECT min({limit}) FROM (SELECT CAST(day AS DATE) AS day "
            f"FROM range(DATE '2000-01-01', DATE '2041-01-01', INTERVAL 1 DAY) AS t(day))").fetchone()
        assert fewest >= _shortest_limit_days(months), months
