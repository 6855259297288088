"""The evidence of a region's page as data its script shows when a line is opened.

A national month lists 13,343 establishments in Île-de-France with 134,082 contracts of evidence under them; as HTML
tables their page weighed 132 MB and took Chromium 57 s and 1.2 GB to open. The page now holds each line's groups
(their sentences) as HTML and the contracts under them as one JSON document, which its script turns into the same
tables when a line is opened (or the page printed).

Within a group (one rule, one post, one establishment) the contracts' values repeat: the rule, the post, often the
declarant, and most of each finding's sentence (only the contract number and dates change). Each column of a group
is written as a start and an end, then what is left of each of its values: a value the whole group holds is its
start; a long value (`FACTORED_LENGTH`) starts and ends with what the group's values share (`shared_ends`); others
are written whole. The script puts them back together, value for value (`tests/test_page_evidence.py`).

The data (`page_evidence`), column by column so that it is made and written in bulk:
- `columns`: the titles; `numeric`: the indexes of the columns aligned right; `sentence`: the index of the finding's
  sentence, which the page's filter does not read (-1: none);
- `lines`: SIRET -> its groups, in reading order;
- `groups`: the first contract of each group, then the number of contracts (group g: groups[g] to groups[g + 1]);
- `starts`, `ends`: per column, the start and end of each group; `cells`: per column, the rest of each contract's value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

PageEvidence = dict[str, Any]
# Below this length a value that differs within its group is written whole: looking for what such values share costs
# more time than it saves room (dates, numbers, contract numbers).
FACTORED_LENGTH = 40


def _common_start(low: str, high: str) -> str:
    """The longest start `low` and `high` share, found by halves (of every value between them in order too)."""
    short, long = (low, high) if len(low) <= len(high) else (high, low)
    found, above = 0, len(short) + 1
    while above - found > 1:  # long starts with short[:found], not with short[:above]
        middle = (found + above) // 2
        found, above = (middle, above) if long.startswith(short[:middle]) else (found, middle)
    return short[:found]


def shared_ends(values: Sequence[str]) -> tuple[str, str]:
    """The longest start and the longest end every one of `values` has, not overlapping in any of them (one value,
    or values all equal: the value and nothing)."""
    if not values:
        return "", ""
    low, high = min(values), max(values)
    if low == high:
        return low, ""
    start = _common_start(low, high)  # the start the first and last in order share, all values between share
    room = min(map(len, values)) - len(start)
    if not room:
        return start, ""
    backwards = [value[::-1] for value in values]
    return start, _common_start(min(backwards), max(backwards))[:room][::-1]


def page_evidence(titles: list[str], numeric: list[int], sentence: int, columns: Sequence[Sequence[str]],
                  bounds: np.ndarray, sirets: Sequence[str]) -> PageEvidence:
    """The page's data (see the module docstring) of contracts whose shown values are `columns` (one sequence per
    title, in reading order), in groups whose first contracts are `bounds` (then the number of contracts), the group
    g of line `sirets[g]`."""
    bounds = np.asarray(bounds, dtype=np.int64)
    first, sizes = bounds[:-1], np.diff(bounds)
    lines: dict[str, list[int]] = {}
    for group, siret in enumerate(sirets):
        lines.setdefault(siret, []).append(group)
    starts: list[list[str]] = []
    ends: list[list[str]] = []
    cells: list[list[str]] = []
    for values in columns:
        shown = np.asarray(values, dtype=object)
        if not len(first):
            starts.append([])
            ends.append([])
            cells.append([])
            continue
        # A group holds one value when none of its contracts after the first differs from the one before.
        changes = np.concatenate([[0], np.cumsum(shown[1:] != shown[:-1])])
        one_value = changes[bounds[1:] - 1] == changes[first]
        group_start = np.where(one_value, shown[first], "").astype(object)
        group_end = np.full(len(first), "", dtype=object)
        rests = np.where(np.repeat(one_value, sizes), "", shown).astype(object)
        long = np.fromiter(map(len, shown[first]), np.int64, len(first)) >= FACTORED_LENGTH
        for factored in np.flatnonzero(~one_value & long).tolist():
            low, high = int(bounds[factored]), int(bounds[factored + 1])
            start, end = shared_ends(shown[low:high].tolist())
            group_start[factored], group_end[factored] = start, end
            rests[low:high] = [value[len(start):len(value) - len(end)] for value in shown[low:high]]
        starts.append(group_start.tolist())
        ends.append(group_end.tolist())
        cells.append(rests.tolist())
    return {"columns": titles, "numeric": numeric, "sentence": sentence, "lines": lines,
            "groups": bounds.tolist(), "starts": starts, "ends": ends, "cells": cells}


def shown_values(data: PageEvidence, group: int) -> list[list[str]]:
    """The contracts of `group` in `data`, value by value, as the page's script puts them back together."""
    return [[data["starts"][c][group] + data["cells"][c][row] + data["ends"][c][group] for c in range(len(data["cells"]))]
            for row in range(data["groups"][group], data["groups"][group + 1])]


def line_values(data: PageEvidence, siret: str) -> list[list[list[str]]]:
    """The contracts of each group of the line of `siret` (`shown_values`), in reading order; none for a line with no
    evidence."""
    return [shown_values(data, group) for group in data["lines"].get(siret, [])]


def script_json(data: PageEvidence) -> str:
    """`data` as JSON to sit inside a `<script>` element: `<`, `>` and `&` (only ever in strings) written as
    escapes, so that no text of a value can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
