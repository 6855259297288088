"""The audit's measures on small hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.metrics import (
    additivity_gaps,
    group_disparities,
    list_overlap,
    population_stability_index,
    rank_correlation,
    top_reason_agreement,
)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    base = pd.Series(rng.normal(size=5000))
    assert population_stability_index(base, base) == pytest.approx(0.0)
    small = population_stability_index(base, pd.Series(rng.normal(0.1, 1, 5000)))
    large = population_stability_index(base, pd.Series(rng.normal(1.0, 1, 5000)))
    assert small < 0.1 < 0.25 < large


def test_psi_by_hand_on_two_categories_and_missing_values():
    expected = pd.Series(["a"] * 50 + ["b"] * 50, dtype="string")
    actual = pd.Series(["a"] * 25 + ["b"] * 75, dtype="string")
    by_hand = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert population_stability_index(expected, actual) == pytest.approx(by_hand)
    numbers = pd.Series([1.0] * 50 + [np.nan] * 50)
    assert population_stability_index(numbers, pd.Series([1.0] * 100)) > 1  # the missing half vanished


def test_overlap_and_rank_correlation_of_consecutive_lists():
    assert list_overlap({"a", "b", "c", "d"}, {"c", "d", "e"}) == 0.5
    assert np.isnan(list_overlap(set(), {"a"}))
    now = pd.Series([0.9, 0.8, 0.7, 0.1], index=["a", "b", "c", "d"])
    assert rank_correlation(now, now * 0.5) == pytest.approx(1.0)
    assert rank_correlation(now, pd.Series([0.1, 0.7, 0.8, 0.9], index=["a", "b", "c", "d"])) == pytest.approx(-1.0)
    # Only establishments scored both months count; fewer than three give no correlation.
    assert rank_correlation(now, pd.Series([0.5, 0.2, 0.3, 0.0], index=["a", "b", "c", "x"])) == pytest.approx(0.5)
    assert np.isnan(rank_correlation(now, pd.Series([0.5, 0.2], index=["a", "x"])))


def test_disparity_against_the_largest_group_with_tau():
    frame = pd.DataFrame({
        "region": ["A"] * 100 + ["B"] * 50 + ["C"] * 50,
        "in_list": [True] * 10 + [False] * 90 + [True] * 5 + [False] * 45 + [True] * 10 + [False] * 40,
        "found": [1] * 8 + [0] * 2 + [np.nan] * 90 + [1] * 4 + [0] * 1 + [np.nan] * 45 + [1] * 5 + [0] * 5 + [np.nan] * 40,
    })
    table = group_disparities(frame, "region", label="found").set_index("group")
    assert table.loc["A", "reference"] and not table.loc["A", "flagged"]
    assert table.loc["A", "share_listed"] == pytest.approx(0.10)
    assert table.loc["A", "fdr"] == pytest.approx(0.2)
    # B: same share listed (10%), same FDR (1 of 5): within tau.
    assert table.loc["B", "share_listed_disparity"] == pytest.approx(1.0)
    assert table.loc["B", "fdr_disparity"] == pytest.approx(1.0) and not table.loc["B", "flagged"]
    # C: twice the share listed and FDR 0.5 (2.5 x the reference): flagged.
    assert table.loc["C", "share_listed_disparity"] == pytest.approx(2.0)
    assert table.loc["C", "fdr_disparity"] == pytest.approx(2.5) and table.loc["C", "flagged"]


def test_tau_bounds_are_inclusive_at_exactly_tau():
    frame = pd.DataFrame({"g": ["A"] * 100 + ["B"] * 50, "in_list": [True] * 10 + [False] * 90 + [True] * 4 + [False] * 46})
    table = group_disparities(frame, "g", tau=0.8).set_index("group")
    assert table.loc["B", "share_listed_disparity"] == pytest.approx(0.8)
    assert not table.loc["B", "flagged"]


def test_top_reason_agreement_and_additivity():
    first = pd.Series(["rules", "share", "rules"], index=["a", "b", "c"])
    second = pd.Series(["rules", "rules", "rules", "x"], index=["a", "b", "c", "d"])
    assert top_reason_agreement(first, second) == pytest.approx(2 / 3)
    contributions = pd.DataFrame({"f1": [0.5, 1.0], "bias": [-1.0, -1.0]})
    np.testing.assert_allclose(additivity_gaps(contributions, np.array([-0.5, 0.5])), [0.0, 0.5])


def test_importance_check_fails_in_words_when_the_correlation_is_undefined():
    """A model that reads no feature: every permutation importance is zero, the correlation undefined. The check
    fails, and says so in French instead of printing « nan »."""
    from audit.checks import importance_check
    from audit.verdict import Status
    from core.scoring_config import AuditConfig

    shap = pd.DataFrame({"feature": ["a", "b", "c", "d"], "mean_abs_shap": [0.0, 0.0, 0.0, 0.0]})
    check = importance_check(shap, pd.Series({"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}), AuditConfig())
    assert check.status == Status.FAILED and "non calculable sur 4 variables" in check.detail
    assert "nan" not in check.detail.lower()
    ranked = importance_check(shap.assign(mean_abs_shap=[4.0, 3.0, 2.0, 1.0]),
                              pd.Series({"a": 0.4, "b": 0.3, "c": 0.1, "d": 0.2}), AuditConfig())
    assert ranked.status == Status.PASSED and ranked.detail == "corrélation de Spearman 0,80 sur 4 variables"
