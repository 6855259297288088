"""`warehouse.arrivals.decide`: which declarations of an establishment's history came after a list, and whether the
contracts the list knew can be rebuilt without them (the whole path, with real files: tests/test_explain.py)."""

from __future__ import annotations

from collections import namedtuple
from datetime import date

from warehouse.arrivals import Arrivals, decide

Row = namedtuple("Row", "declaration_key siret month status declaration_id arrived")
SHOP, AGENCY, JUNE, JULY = "11111111100011", "55555555500019", date(2025, 6, 1), date(2025, 7, 1)


def row(key: str, status: str, identifier: str | None, arrived: bool, month: date = JUNE, siret: str = SHOP) -> Row:
    return Row(key, siret, month, status, identifier, arrived)


def test_a_later_month_or_fraction_is_late_and_displaces_nothing():
    rows = [row("a:0", "kept", "1", False), row("b:0", "kept", "2", True, JULY),
            row("c:0", "superseded", "0", False)]  # set aside before the list, in a month none came since
    assert decide(rows) == Arrivals(("b:0",), 0) and decide(rows).known_then


def test_a_replacement_displaces_the_declaration_it_replaces():
    rows = [row("a:0", "replaced", "1", False), row("b:0", "kept", "2", True)]
    assert decide(rows) == Arrivals(("b:0",), 1) and not decide(rows).known_then


def test_a_cancellation_displaces_though_nothing_is_read_in_its_place():
    assert decide([row("a:0", "cancelled", "1", False), row("b:0", "cancellation", None, True)]) == Arrivals((), 1)


def test_a_copy_of_a_declaration_the_list_read_stands_for_it_whichever_is_read():
    assert decide([row("a:0", "duplicate", "1", False), row("b:0", "kept", "1", True)]) == Arrivals()
    assert decide([row("a:0", "kept", "1", False), row("b:0", "duplicate", "1", True)]) == Arrivals()


def test_a_copy_stands_only_for_its_own_declaration():
    """A copy of fraction 1 read in its place, and fraction 2 sent late: fraction 2 is late, nothing displaced."""
    rows = [row("a:0", "duplicate", "1", False), row("b:0", "kept", "1", True), row("c:0", "kept", "2", True)]
    assert decide(rows) == Arrivals(("c:0",), 0)


def test_a_copy_read_in_place_of_one_the_list_read_then_replaced_displaces_it():
    """The copy was read, then replaced, superseded or cancelled: nothing read now stands for what the list read."""
    for status, replacement in (("replaced", "kept"), ("superseded", "kept"), ("cancelled", "cancellation")):
        rows = [row("a:0", "duplicate", "1", False), row("b:0", status, "1", True), row("c:0", replacement, "2", True)]
        assert decide(rows).displaced == 1 and not decide(rows).known_then, status


def test_a_later_declaration_that_is_not_read_changes_nothing():
    """An older version sent late, a copy with other contents set aside, a set of fractions not chosen: the month
    reads what the list read, a declaration set aside before the list included."""
    for status in ("superseded", "id_conflict", "fraction_conflict", "duplicate"):
        rows = [row("a:0", "kept", "1", False), row("b:0", "superseded", "0", False), row("c:0", status, "2", True)]
        assert decide(rows) == Arrivals(), status


def test_any_change_of_an_agency_displaces_its_declaration_whoever_its_missions_are_at():
    """Its correction may have taken its missions elsewhere, or its cancellation declared none: the rows of the one
    the list read are gone, so which users they named is not known."""
    rows = [row("a:0", "replaced", "1", False, siret=AGENCY), row("b:0", "kept", "2", True, siret=AGENCY)]
    assert decide(rows) == Arrivals(("b:0",), 1)
    cancelled = [row("a:0", "cancelled", "1", False, siret=AGENCY), row("b:0", "cancellation", None, True, siret=AGENCY)]
    assert decide(cancelled) == Arrivals((), 1)
