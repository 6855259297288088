"""The intervals of precision@k and recall@k (`training.metrics.bootstrap_at_share`): exact values on
small cases, and their coverage on simulated draws whose true precision and recall are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.metrics import bootstrap_at_share, exact_binomial_interval, group_codes, top_share_mask


def test_exact_binomial_interval_matches_clopper_pearson_tables():
    assert exact_binomial_interval(5, 10) == pytest.approx((0.187086, 0.812914), abs=1e-6)
    assert exact_binomial_interval(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))
    assert exact_binomial_interval(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0))
    low, high = exact_binomial_interval(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_k_is_fixed_by_capacity_and_the_intervals_hold_their_estimate_at_the_top_of_a_sharp_list():
    """A nearly perfect head of the list (precision 0.98 at 5%, dropping right after), the case where
    a bootstrap that redraws k gave intervals below their own estimate."""
    rng = np.random.default_rng(3)
    n = 2000
    regions = rng.integers(0, 4, n).astype(str)
    scores = rng.random(n)
    cut = np.quantile(scores, 0.95)
    y = np.where(scores >= cut, rng.random(n) < 0.98, rng.random(n) < 0.05).astype(int)
    result = bootstrap_at_share(y, scores, regions, np.zeros(n, int), 0.05, rng.random(n), 400, 0)
    precision, recall = result["precision"]["all"], result["recall"]["all"]
    selected = top_share_mask(scores, group_codes(regions), 0.05, rng.random(n)).sum()
    assert selected == sum(int(np.ceil(0.05 * (regions == r).sum())) for r in set(regions))
    assert precision.low <= precision.value <= precision.high
    assert recall.low <= recall.value <= recall.high
    assert precision.value > 0.9 and precision.high <= 1.0


@pytest.mark.slow
def test_95_percent_intervals_cover_the_known_precision_and_recall_about_95_percent_of_draws(capsys):
    """Simulation with known truth: fixed scores, outcomes drawn again on each run from known
    probabilities; the true precision@5% of the (fixed) list is the mean probability of its rows,
    the true recall its share of the expected positives. Pooled over 3 folds x 6 regions."""
    rng = np.random.default_rng(1)
    n, share, draws = 3000, 0.05, 400
    regions = rng.integers(0, 6, n).astype(str)
    folds = rng.integers(1, 4, n)
    scores = rng.normal(size=n)
    probability = 1 / (1 + np.exp(-(-2.5 + 1.5 * scores)))
    tiebreak = rng.random(n)
    selected = top_share_mask(scores, group_codes(folds, regions), share, tiebreak)
    true_precision = probability[selected].mean()
    true_recall = probability[selected].sum() / probability.sum()
    covered = {"precision": 0, "recall": 0}
    for draw in range(draws):
        y = (rng.random(n) < probability).astype(int)
        result = bootstrap_at_share(y, scores, regions, folds, share, tiebreak, 300, draw)
        for name, truth in (("precision", true_precision), ("recall", true_recall)):
            interval = result[name]["all"]
            covered[name] += interval.low <= truth <= interval.high
    coverage = {name: count / draws for name, count in covered.items()}
    with capsys.disabled():
        print(f"\ncoverage of 95% intervals over {draws} simulated draws ({selected.sum()} of {n} selected): "
              f"precision {coverage['precision']:.3f} (true {true_precision:.3f}), "
              f"recall {coverage['recall']:.3f} (true {true_recall:.3f})")
    # Clopper-Pearson is exact or conservative; 400 draws put a 95% coverage within about +-2.2 points.
    assert 0.93 <= coverage["precision"] <= 0.995
    assert 0.92 <= coverage["recall"] <= 0.98


def test_an_establishment_with_no_region_is_a_region_of_its_own():
    """A postal code that names no département leaves the region missing: the gate groups those rows apart, as the
    lists do, instead of failing (pandas 3 keeps a missing value NaN through `astype(str)`)."""
    from core.training_config import TrainingConfig
    from training.labels import LABEL
    from training.metrics import region_keys
    from training.promotion import gate_interval, gate_value

    codes = group_codes(np.array(["11", None, "84", None], dtype=object), np.array([1, 1, 1, 1]))
    assert codes.dtype.kind == "i" and codes[1] == codes[3] and len({*codes}) == 3
    assert region_keys(pd.Series(["11", None, "84"], dtype="str")).tolist() == ["11", "", "84"]
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"siret": [f"{10**13 + i}" for i in range(90)],
                         "region_code": pd.Series(["11", "84", None] * 30, dtype="str"),
                         LABEL: rng.integers(0, 2, 90)})
    scores = rng.random(90)
    named = rows.assign(region_code=rows["region_code"].fillna(""))
    settings = TrainingConfig(bootstrap_resamples=50)
    assert gate_value(rows, scores, settings) == gate_value(named, scores, settings)
    assert gate_interval(rows, scores, settings) == gate_interval(named, scores, settings)
