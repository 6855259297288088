"""The evidence data of a region's page: each value written as its group's start and end, then its rest, put back
together value for value."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from scoring.page_evidence import line_values, page_evidence, script_json, shared_ends, shown_values


@pytest.mark.parametrize("values, ends", [
    ([], ("", "")),
    (["seul"], ("seul", "")),
    (["", "a"], ("", "")),
    (["aa", "aaa"], ("aa", "")),  # the end does not overlap the start in the shorter value
    (["abab", "ab"], ("ab", "")),
    (["CT000018 commencé le 28/12/2024", "CT000011 commencé le 02/02/2025"], ("CT00001", "")),
    (["10/02/2025", "16/02/2025"], ("1", "/02/2025")),
    (["même", "même"], ("même", "")),
])
def test_shared_ends(values, ends):
    assert shared_ends(values) == ends


def _data(columns: list[list[str]], sizes: list[int]) -> dict:
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sirets = [f"{group // 2:014d}" for group in range(len(sizes))]  # two groups a line
    return page_evidence([f"c{c}" for c in range(len(columns))], [], -1, columns, bounds, sirets)


def test_every_group_of_values_is_given_back_value_for_value():
    draw = random.Random(20251206)
    for _ in range(2_000):
        sizes = [draw.randint(1, 4) for _ in range(draw.randint(1, 5))]
        pool = ["", "a", "«b»", "\u2028<&", "x" * 45, "x" * 41 + "yz", "y" + "x" * 44]
        columns = [[draw.choice(pool) + draw.choice(pool) for _ in range(sum(sizes))] for _ in range(draw.randint(1, 3))]
        data = _data(columns, sizes)
        rows = [row for group in range(len(sizes)) for row in shown_values(data, group)]
        assert rows == [list(row) for row in zip(*columns, strict=True)]
        assert [len(groups) for groups in (line_values(data, siret) for siret in data["lines"])] == [
            len(sizes[i:i + 2]) for i in range(0, len(sizes), 2)]


def test_a_group_of_findings_writes_their_shared_sentence_once_and_its_constant_values_once():
    sentences = [f"Infraction potentielle de recours à des contrats courts pour un emploi durable : 1 poste de « serveur » "
                 f"est tenu 365 jours sur 365 ; le contrat n° CT0000{n} en a tenu un {days} jours dans cette période."
                 for n, days in ((18, 32), (11, 36), (10, 37))]
    data = _data([[*sentences, "seul"], [*["probable"] * 3, "établie"], ["10/02/2025", "16/02/2025", "1/2", "3/4"]],
                 [3, 1])
    assert data["starts"][0] == [sentences[0][:sentences[0].index("CT0000") + 7], "seul"]
    assert data["ends"][0] == [" jours dans cette période.", ""]
    assert data["cells"][0] == ["8 en a tenu un 32", "1 en a tenu un 36", "0 en a tenu un 37", ""]
    assert (data["starts"][1], data["cells"][1]) == (["probable", "établie"], ["", "", "", ""])
    assert (data["starts"][2], data["cells"][2]) == (["", "3/4"], ["10/02/2025", "16/02/2025", "1/2", ""])  # short
    assert data["lines"] == {"00000000000000": [0, 1]} and data["groups"] == [0, 3, 4]
    assert line_values(data, "00000000000001") == []


def test_the_groups_of_a_siret_are_its_own_wherever_they_come():
    data = page_evidence(["c"], [], -1, [["a1", "b1", "a2"]], np.array([0, 1, 2, 3]), ["A", "B", "A"])
    assert data["lines"] == {"A": [0, 2], "B": [1]}
    assert line_values(data, "A") == [[["a1"]], [["a2"]]] and line_values(data, "B") == [[["b1"]]]


def test_the_data_cannot_close_its_script_element():
    data = {"lines": {"1": [[[["</script><!--", "&"]], [[""]]]]}}
    text = script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data
