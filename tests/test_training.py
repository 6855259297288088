"""Training stage, unit level: label months, fold boundaries, precision@k, promotion gate, bad input rows,
the estimator contract and reproducibility. Tiny hand-made tables, expected values written out."""

from __future__ import annotations

import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest

from champollion.training_report import trial_line, trials_summary
from core.capacity import select_top, siret_key, top_share_mask
from core.home import Home
from core.months import months_between
from core.scoring_config import ScoringConfig
from core.training_config import TrainingConfig
from features.catalog import feature_names
from scoring.selection import rank_and_select
from training.evaluation import selected_text
from training.labels import LABEL, build_labelled_set, label_as_of, needed_months
from training.metrics import Interval, precision_recall_at_share
from training.promotion import promotion_decision, simpler_model_verdict
from training.report_files import _markdown
from training.splitter import TemporalSplitter, choose_folds, configured_problem, folds_problem
from training.tuning import TrialReport, study_to_run, trials_table

A, B, C = "11111111100011", "22222222200012", "33333333300013"


def _inspections(*rows: tuple[str, str, int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["siret", "inspection_date", "abuse_found"])
    frame["inspection_date"] = pd.to_datetime(frame["inspection_date"]).astype("datetime64[s]")
    return frame


def _features(month: date, sirets: list[str], **values: list) -> pd.DataFrame:
    frame = pd.DataFrame({"siret": sirets, "as_of": pd.Timestamp(month)})
    for name in feature_names():
        frame[name] = values.get(name, [0.0] * len(sirets))
    return frame


# --- labels -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("inspected", "as_of"),
    [
        (date(2025, 6, 15), date(2025, 5, 1)),
        (date(2025, 6, 1), date(2025, 5, 1)),  # first day of the month: still the month before
        (date(2025, 6, 30), date(2025, 5, 1)),
        (date(2025, 1, 10), date(2024, 12, 1)),  # across the year
    ],
)
def test_label_uses_the_last_month_fully_known_before_the_inspection(inspected, as_of):
    assert label_as_of(inspected) == as_of


def test_each_inspection_is_one_row_with_the_features_of_the_month_before():
    may, june = date(2025, 5, 1), date(2025, 6, 1)
    tables = {
        may: _features(may, [A, B], n_rule_hits_total=[3, 0]),
        june: _features(june, [A, B], n_rule_hits_total=[7, 1]),
    }
    inspections = _inspections((A, "2025-06-15", 1), (A, "2025-07-01", 0), (B, "2025-06-02", 0))
    labelled = build_labelled_set(inspections, tables)
    rows = labelled.rows[["siret", "inspection_date", "as_of", "abuse_found", "n_rule_hits_total"]]
    expected = pd.DataFrame(
        {
            "siret": [B, A, A],
            "inspection_date": pd.to_datetime(["2025-06-02", "2025-06-15", "2025-07-01"]).astype("datetime64[s]"),
            "as_of": pd.to_datetime(["2025-05-01", "2025-05-01", "2025-06-01"]).astype("datetime64[s]"),
            "abuse_found": [0, 1, 0],
            "n_rule_hits_total": [0, 3, 7],
        }
    )
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), expected, check_dtype=False)
    assert labelled.left_out.empty
    assert labelled.months == ["2025-05", "2025-06"]


def test_inspections_that_cannot_be_labelled_are_reported_not_dropped_silently():
    may = date(2025, 5, 1)
    tables = {may: _features(may, [A])}
    inspections = _inspections((A, "2025-06-15", 1), (C, "2025-06-20", 1), (A, "2025-09-03", 0))
    labelled = build_labelled_set(inspections, tables)
    assert labelled.rows["siret"].tolist() == [A]
    left = labelled.left_out.set_index("siret")["reason"]
    assert "absent from the features as of 2025-05" in left[C]
    assert "no feature table as of 2025-08" in left[A]


def test_needed_months_are_contiguous_from_first_to_last_label_month():
    inspections = _inspections((A, "2025-02-10", 1), (B, "2025-05-31", 0))
    assert needed_months(inspections) == [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1)]


def test_inspections_whose_window_begins_before_the_warehouse_can_be_left_out_with_why():
    """Declarations from January 2024, a three-month window: the features as of April 2024 are the first to read their
    window and the month before it (the headcount growth's start); those as of March would read three of those four
    months, rows unlike any month scored later. Before January, there is no feature table at all."""
    months = [date(2024, m, 1) for m in (1, 2, 3, 4)]
    tables = {month: _features(month, [A, B]) for month in months}
    inspections = _inspections((A, "2024-03-10", 1), (B, "2024-04-05", 0), (A, "2024-05-01", 0), (B, "2024-01-20", 1))
    labelled = build_labelled_set(inspections, tables, declared=months, window_months=3)
    assert labelled.rows[["siret", "as_of"]].astype(str).values.tolist() == [[A, "2024-04-01"]]
    reasons = labelled.left_out.set_index(labelled.left_out["as_of"].astype(str))["reason"]
    assert reasons["2024-02-01"] == ("features as of 2024-02 would read 2 of the 4 months of their window and the month "
                                     "before it (the warehouse's declarations begin in 2024-01)")
    assert "would read 3 of the 4 months" in reasons["2024-03-01"]
    assert reasons["2023-12-01"] == "no feature table as of 2023-12 (month not in the warehouse)"
    assert len(labelled.rows) + len(labelled.left_out) == len(inspections)
    assert len(build_labelled_set(inspections, tables).rows) == 3  # without a first month, only December is left out


def test_inspections_whose_window_holds_a_month_the_warehouse_never_declared_are_left_out_with_why():
    """Declarations of 2024 but for May (never ingested), a three-month window: the features as of June to August
    count May as a month without contracts; as of September they read their window and the month before it whole.
    A month before the gap whose window is whole is kept; May itself has no feature table."""
    declared = [date(2024, m, 1) for m in range(1, 13) if m != 5]
    tables = {month: _features(month, [A, B]) for month in declared}
    inspections = _inspections((A, "2024-05-10", 1), (B, "2024-06-05", 0), (A, "2024-07-01", 0), (B, "2024-09-20", 1),
                               (A, "2024-10-02", 1))
    labelled = build_labelled_set(inspections, tables, declared=declared, window_months=3)
    assert labelled.rows["as_of"].astype(str).tolist() == ["2024-04-01", "2024-09-01"]
    reasons = labelled.left_out.set_index(labelled.left_out["as_of"].astype(str))["reason"]
    assert reasons["2024-05-01"] == "no feature table as of 2024-05 (month not in the warehouse)"
    assert reasons["2024-06-01"] == ("features as of 2024-06 would read 3 of the 4 months of their window and the month "
                                     "before it (the warehouse's declarations begin in 2024-01 and hold none for 2024-05)")
    assert len(labelled.rows) + len(labelled.left_out) == len(inspections)


def test_training_leaves_out_the_months_after_a_gap_in_the_warehouse_when_the_others_fill_the_folds():
    """Declarations of 2020-2024 but for June 2022: the features as of 2022-06 do not exist, those as of 2022-07 to
    2023-06 count June over their 12-month window and the month before it. Their inspections, a quarter of all, are
    left out when the others fill the folds; the choice names the months left out and the gap."""
    from core.config import Config
    from training.pipeline import _months_to_train

    declared = [date(year, month, 1) for year in range(2020, 2025) for month in range(1, 13) if (year, month) != (2022, 6)]
    dates = [f"{year}-{month:02d}-10" for year in range(2021, 2026) for month in range(1, 13) for _ in range(2)
             if date(2021, 2, 1) <= date(year, month, 1) <= date(2025, 1, 1)]
    inspections = _inspections(*((A, day, 1) for day in dates))
    inspections["inspection_date"] = pd.to_datetime(inspections["inspection_date"])
    config = Config(training=TrainingConfig(validation_months=3, min_train_rows=10))
    months, left_for_window, choice = _months_to_train(inspections, declared, config)
    assert left_for_window == months_between(date(2022, 7, 1), date(2023, 6, 1))
    assert date(2022, 7, 1) not in months and date(2023, 6, 1) not in months
    assert {date(2022, 5, 1), date(2022, 6, 1), date(2023, 7, 1)} <= set(months)
    assert choice == ("without 2022-07..2023-06: those of 2022-07..2023-06 count their 12-month window or the month "
                      "before it over part of it (the warehouse's declarations begin in 2020-01 and hold none for "
                      "2022-06), and the other ones fill the configured number of folds")


def _months_choice(dates: list[str], declared: list[date]) -> tuple[list[date], list[date] | None, str]:
    from core.config import Config
    from training.pipeline import _months_to_train

    inspections = _inspections(*((A, day, 1) for day in dates))
    inspections["inspection_date"] = pd.to_datetime(inspections["inspection_date"])
    return _months_to_train(inspections, declared, Config(training=TrainingConfig(validation_months=3, min_train_rows=10)))


def test_a_gap_never_brings_back_the_first_months_of_the_warehouse():
    """Declarations of 2023-11..2026-10 but for June 2025, three inspections a month from January 2024: leaving out
    every partial month would leave out 69 of the 99 it can label, more than a third; the months before 2024-11,
    whose window begins before the warehouse, are still left out, and those after the gap are kept, with why."""
    declared = [month for month in months_between(date(2023, 11, 1), date(2026, 10, 1)) if month != date(2025, 6, 1)]
    dates = [f"{month:%Y-%m}-10" for month in months_between(date(2024, 1, 1), date(2026, 10, 1)) for _ in range(3)]
    months, left, choice = _months_choice(dates, declared)
    assert left == months_between(date(2023, 12, 1), date(2024, 10, 1)) and months[0] == date(2024, 11, 1)
    assert choice == ("from 2024-11: those before 2024-11 count their 12-month window or the month before it over part "
                      "of it (the warehouse's declarations begin in 2023-11 and hold none for 2025-06), and the later "
                      "ones fill the configured number of folds; those of 2025-07..2026-06 are kept though they count it over "
                      "part of it too: leaving out every such month, 69 of the 99 inspections of months the warehouse "
                      "declares would be left out, more than a third")


def test_partial_months_without_inspections_are_left_out_without_blaming_them():
    """A gap in March 2024 makes 2024-04..2025-03 partial, but no inspection falls in them: they are not computed, and
    the choice does not blame them for folds the other inspections cannot fill either way."""
    declared = [month for month in months_between(date(2022, 1, 1), date(2026, 12, 1)) if month != date(2024, 3, 1)]
    months, left, choice = _months_choice(["2023-03-10"] * 3 + ["2025-06-10"] * 3, declared)
    assert left == months_between(date(2024, 4, 1), date(2025, 3, 1))
    assert date(2024, 4, 1) not in months and date(2025, 5, 1) in months
    assert choice == ("without 2024-04..2025-03: those of 2024-04..2025-03 count their 12-month window or the month "
                      "before it over part of it (the warehouse's declarations begin in 2022-01 and hold none for "
                      "2024-03), and they hold no inspection")


def test_the_third_counts_only_the_inspections_the_warehouse_can_label():
    """60 inspections before the warehouse (no feature table either way), 30 in its first months, 46 later: the 30
    are more than a third of the 76 that can be labelled, so every month is kept (counted over all 136, as before,
    they would be left out)."""
    declared = months_between(date(2024, 1, 1), date(2026, 12, 1))
    dates = (["2023-06-10"] * 60 + [f"2024-{month:02d}-10" for month in range(2, 12) for _ in range(3)]
             + [f"{month:%Y-%m}-10" for month in months_between(date(2025, 2, 1), date(2026, 12, 1)) for _ in range(2)])
    _, left, choice = _months_choice(dates, declared)
    assert left is None
    assert choice.endswith("without them 30 of the 76 inspections of months the warehouse declares would be left out, "
                           "more than a third")


def test_a_stray_old_month_is_read_as_a_gap_named_as_one():
    from features.asof import declared_span

    declared = [date(2015, 6, 1), *months_between(date(2023, 11, 1), date(2026, 10, 1))]
    assert declared_span(declared) == "the warehouse's declarations begin in 2015-06 and hold none for 2015-07..2023-10"
    four_gaps = [month for month in months_between(date(2024, 1, 1), date(2024, 12, 1)) if month.month not in (2, 4, 6, 8)]
    assert declared_span(four_gaps).endswith("hold none for 2024-02, 2024-04, 2024-06 and 1 more gap")


def test_when_every_month_is_kept_the_choice_names_only_the_partial_months_holding_inspections():
    """A gap in June 2025 makes 2025-07..2026-06 partial too, but only the first months hold inspections: they are
    the ones the choice says would be left out."""
    declared = [month for month in months_between(date(2023, 11, 1), date(2026, 10, 1)) if month != date(2025, 6, 1)]
    dates = ([f"2024-{month:02d}-10" for month in range(1, 12) for _ in range(6)]
             + [f"2026-{month:02d}-10" for month in range(8, 11) for _ in range(3)])
    months, left, choice = _months_choice(dates, declared)
    assert left is None and months[0] == date(2023, 12, 1)
    assert choice.startswith("all, though those before 2024-11 count their 12-month window")
    assert "without them 66 of the 75 inspections of months the warehouse declares would be left out" in choice


def test_inspections_after_the_warehouse_do_not_count_as_filling_the_folds():
    """Declarations of 2022-2023; ten inspections in June 2022 whose window is partial, two a month from February 2023
    to December 2024. Those of 2024 have no feature table: without the June ones, only the 22 of 2023 would be
    labelled, too few for three folds even of one month (ten known before the first, outcomes known 90 days after a
    control: 12 needed), so every month is kept."""
    from core.config import Config
    from training.pipeline import _months_to_train

    dates = ["2022-06-10"] * 10 + [f"{year}-{month:02d}-10" for year in (2023, 2024) for month in range(2, 13)
                                   for _ in range(2)]
    inspections = _inspections(*((A, day, 1) for day in dates))
    inspections["inspection_date"] = pd.to_datetime(inspections["inspection_date"])
    declared = [date(year, month, 1) for year in (2022, 2023) for month in range(1, 13)]
    config = Config(training=TrainingConfig(validation_months=3, min_train_rows=12))
    months, left_for_window, choice = _months_to_train(inspections, declared, config)
    assert left_for_window is None and months[0] == date(2022, 5, 1)
    assert choice.startswith("all, though those before 2023-01 count their 12-month window")
    assert "without them fold 1 (validation 2023-04-01 to 2023-06-30) has 0 training" in choice


# --- folds ------------------------------------------------------------------------------------------

def _dated(dates: list[str], outcomes: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "inspection_date": pd.to_datetime(dates),
        "abuse_found": outcomes if outcomes is not None else [0] * len(dates),
    })


def test_folds_are_expanding_windows_ending_with_the_last_inspection_month():
    rows = _dated(["2024-01-15", "2024-02-10", "2024-03-01", "2024-04-30", "2024-05-02", "2024-06-30"],
                  [1, 0, 1, 0, 1, 1])
    folds = TemporalSplitter(n_folds=3, validation_months=1, outcome_after_days=0).folds(rows)
    expected = pd.DataFrame({
        "fold": [1, 2, 3],
        "train_until": [date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)],
        "valid_from": [date(2024, 4, 1), date(2024, 5, 1), date(2024, 6, 1)],
        "valid_until": [date(2024, 4, 30), date(2024, 5, 31), date(2024, 6, 30)],
        "n_train": [3, 4, 5],
        "n_valid": [1, 1, 1],
        "positives": [0, 1, 1],
    })
    pd.testing.assert_frame_equal(folds, expected)


def test_an_inspection_on_the_first_day_of_a_validation_window_is_validated_not_trained_on():
    rows = _dated(["2024-01-10", "2024-04-30", "2024-05-01", "2024-06-30", "2024-07-01", "2024-10-05"])
    splitter = TemporalSplitter(n_folds=3, validation_months=2, outcome_after_days=0)
    assert splitter.folds(rows)["valid_from"].tolist() == [date(2024, 5, 1), date(2024, 7, 1), date(2024, 9, 1)]
    splits = {fold: (train.tolist(), valid.tolist()) for fold, train, valid in splitter.split(rows)}
    assert splits[1] == ([0, 1], [2, 3])  # 2024-05-01 opens fold 1's window: validation
    assert splits[2] == ([0, 1, 2, 3], [4])  # 2024-07-01 opens fold 2's window
    assert splits[3] == ([0, 1, 2, 3, 4], [5])


def test_a_fold_trains_only_on_outcomes_known_before_its_window():
    """A control of the weeks before a validation window, whose outcome the ministry did not know yet when the window
    starts, taught the fold what no one knew then: with outcomes known 60 days after the control, a fold validating from
    2024-05-01 trains on controls up to 2024-03-01 (known by 2024-04-30), not on those of 2024-03-02 and later."""
    rows = _dated(["2024-01-10", "2024-03-01", "2024-03-02", "2024-04-30", "2024-05-01", "2024-06-30", "2024-07-01",
                   "2024-08-15"])
    splitter = TemporalSplitter(n_folds=2, validation_months=2, outcome_after_days=60)
    folds = splitter.folds(rows)
    assert folds["valid_from"].tolist() == [date(2024, 5, 1), date(2024, 7, 1)]
    assert folds["train_until"].tolist() == [date(2024, 3, 1), date(2024, 5, 1)]
    splits = {fold: (train.tolist(), valid.tolist()) for fold, train, valid in splitter.split(rows)}
    assert splits[1] == ([0, 1], [4, 5])  # 03-02 and 04-30: before the window, outcomes unknown at its start
    assert splits[2] == ([0, 1, 2, 3, 4], [6, 7])  # 05-01: known on 06-30, the day before the window
    assert folds["n_train"].tolist() == [2, 5]
    # Outcomes known on the day: every control before the window trains it.
    assert [t.tolist() for _, t, _ in TemporalSplitter(n_folds=2, validation_months=2, outcome_after_days=0).split(rows)] == [
        [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    # Folds are chosen on what they can train on.
    choice = choose_folds(_monthly("2025-01", 12, 25), n_folds=3, validation_months=3, min_train_rows=50,
                          outcome_after_days=31)
    assert (choice.splitter.outcome_after_days, choice.folds["n_train"].tolist()) == (31, [50, 125, 200])


def test_a_fold_without_enough_training_rows_is_refused_with_its_dates():
    rows = _dated(["2024-05-10", "2024-06-10", "2024-07-10"])
    with pytest.raises(ValueError, match=r"fold 1 .* 0 training"):
        TemporalSplitter(n_folds=3, validation_months=1, min_train_rows=1, outcome_after_days=0).folds(rows)


def _monthly(first: str, months: int, per_month: int) -> pd.DataFrame:
    """`per_month` inspections on the 10th of each of `months` months from `first` (YYYY-MM)."""
    days = pd.date_range(f"{first}-01", periods=months, freq="MS") + pd.Timedelta(days=9)
    return _dated([d.strftime("%Y-%m-%d") for d in days for _ in range(per_month)])


def test_twelve_months_of_inspections_get_shorter_windows_and_say_why():
    rows = _monthly("2025-01", 12, 25)  # 300 inspections, January to December 2025
    choice = choose_folds(rows, n_folds=3, validation_months=6, min_train_rows=50, outcome_after_days=0)
    assert not choice.as_configured
    assert (choice.splitter.n_folds, choice.splitter.validation_months) == (3, 3)
    assert choice.folds["valid_from"].tolist() == [date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1)]
    assert choice.folds["n_train"].tolist() == [75, 150, 225]
    assert "instead of the configured 3 of 6 months" in choice.reason
    assert "fold 1 (validation 2024-07-01 to 2024-12-31) has 0 training" in choice.reason


def test_the_configured_folds_are_kept_when_the_history_allows_them():
    choice = choose_folds(_monthly("2023-01", 30, 25), n_folds=3, validation_months=6, min_train_rows=50,
                          outcome_after_days=0)
    assert choice.as_configured and (choice.splitter.n_folds, choice.splitter.validation_months) == (3, 6)
    assert choice.reason == "3 validation windows of 6 months, as configured"
    assert configured_problem(_monthly("2023-01", 30, 25), n_folds=3, validation_months=6, min_train_rows=50,
                              outcome_after_days=0) is None
    assert configured_problem(_monthly("2023-01", 0, 25), 3, 6, 50, outcome_after_days=0) == "there is no inspection"


def test_the_configured_number_of_folds_is_filled_when_shorter_windows_fit():
    """What leaving out the as-of months of partial windows asks of the other inspections: the configured number of
    folds, windows down to half as long if need be; the configured windows' problem when those do not fit."""
    rows = _monthly("2025-01", 12, 25)
    assert folds_problem(rows, 3, 6, 50, outcome_after_days=90) is not None  # three windows of two months only
    configured = configured_problem(rows, 3, 6, 50, outcome_after_days=31)
    assert configured == ("fold 1 (validation 2024-07-01 to 2024-12-31) has 0 training and 0 validation rows: need at "
                          "least 50 and 1 (it trains on the controls up to 2024-05-30, whose outcomes were known before "
                          "it: 31 days after the control, `features.outcome_known_after_days`)")
    assert folds_problem(rows, 3, 6, 50, outcome_after_days=31) is None  # three windows of three months fit
    assert folds_problem(rows, 3, 6, 10_000, outcome_after_days=31) == configured.replace("50", "10000")
    assert folds_problem(rows.iloc[0:0], 3, 6, 50, outcome_after_days=0) == "there is no inspection"


def test_folds_are_dropped_after_windows_are_shortened_to_one_month():
    # 4 months of 20: three one-month windows would leave 20 training rows; two leave 40.
    choice = choose_folds(_monthly("2025-01", 4, 20), n_folds=3, validation_months=6, min_train_rows=40,
                          outcome_after_days=0)
    assert (choice.splitter.n_folds, choice.splitter.validation_months) == (2, 1)
    with pytest.raises(ValueError, match="even two one-month windows do not fit"):
        choose_folds(_monthly("2025-01", 2, 20), n_folds=3, validation_months=6, min_train_rows=40, outcome_after_days=0)


# --- precision at k ---------------------------------------------------------------------------------

def test_precision_at_k_takes_the_top_ceil_share_of_each_region_and_pools_them():
    # region 0: 10 rows, 20% -> top 2; region 1: 3 rows, 20% -> ceil(0.6) = 1
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 5, 9, 1], dtype=float)
    groups = np.array([0] * 10 + [1] * 3)
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0])
    tiebreak = siret_key([f"{i:014d}" for i in range(len(y))])
    mask = top_share_mask(scores, groups, 0.2, tiebreak)
    assert np.flatnonzero(mask).tolist() == [0, 1, 11]
    precision, recall, selected = precision_recall_at_share(y, scores, groups, 0.2, tiebreak)
    assert (precision, recall, selected) == (2 / 3, 2 / 4, 3)


def test_ties_are_broken_by_siret_as_the_lists_do_not_by_row_order():
    scores = np.zeros(4)
    groups = np.zeros(4, dtype=int)
    tiebreak = siret_key(np.array(["30000000000003", "10000000000001", "20000000000002", "40000000000004"]))
    assert np.flatnonzero(top_share_mask(scores, groups, 0.5, tiebreak)).tolist() == [1, 2]


def test_select_top_skips_ineligible_rows_but_keeps_them_in_the_group():
    scores = np.array([9, 8, 7, 6, 5, 1, 2], dtype=float)
    groups = np.array([0, 0, 0, 0, 0, 1, 1])
    eligible = np.array([False, True, True, True, True, True, False])
    mask = select_top(scores, groups, siret_key(np.arange(7)), np.array([2, 1]), eligible)
    assert np.flatnonzero(mask).tolist() == [1, 2, 5]


def test_training_precision_at_capacity_selects_exactly_the_list_of_a_month():
    """One rule: with no exclusion and no exploration, the rows training counts as selected at 5% are
    the establishments on the lists `rank_and_select` draws up from the same scores."""
    rng = np.random.default_rng(3)
    n = 400
    scored = pd.DataFrame({"siret": [f"{s:014d}" for s in rng.choice(10**12, n, replace=False)],
                           "region_code": rng.choice(["11", "84", "93"], n),
                           "score": np.round(rng.random(n), 2),  # many ties
                           "recently_inspected": False})
    lists = rank_and_select(scored, date(2026, 1, 1), ScoringConfig(list_share=0.05, exploration_share=0))
    _, groups = np.unique(scored["region_code"], return_inverse=True)
    mask = top_share_mask(scored["score"].to_numpy(), groups, 0.05, siret_key(scored["siret"]))
    assert set(scored.loc[mask, "siret"]) == set(lists.loc[lists["in_list"], "siret"])


# --- promotion gate ---------------------------------------------------------------------------------

def test_first_model_becomes_champion():
    decision = promotion_decision(0.2, None)
    assert decision.promote and "first" in decision.reason


def test_the_simpler_models_verdict_says_which_do_better_as_well_as_which_do_as_well():
    interval = Interval(0.333, 0.33, 0.42)
    assert simpler_model_verdict({"random": 0.5, "logistic": 0.4, "campaign_rule": 0.1}, interval) == (
        "a simpler model does better: random ranking 0.500, above the interval of LightGBM 0.333 [0.33, 0.42]; "
        "as good: logistic regression 0.400")
    assert simpler_model_verdict({"logistic": 0.35, "random": 0.2}, interval).startswith(
        "the simpler model does as well: logistic regression 0.350, within the interval")
    assert "beats every simpler model" in simpler_model_verdict({"random": 0.2}, interval)


def test_better_or_equal_challenger_is_promoted():
    assert promotion_decision(0.40, 0.35).promote
    assert promotion_decision(0.35, 0.35).promote


def test_worse_challenger_is_not_promoted_unless_forced():
    decision = promotion_decision(0.30, 0.35)
    assert not decision.promote and "--force" in decision.reason
    assert promotion_decision(0.30, 0.35, force=True).promote


def test_the_gate_compares_only_inspections_the_champion_never_saw():
    from training.promotion import comparable_fold_key, fold_key, unseen_by

    fold = pd.DataFrame({
        "siret": [A, B, C],
        "inspection_date": pd.to_datetime(["2025-05-03", "2025-06-10", "2025-07-01"]),
        "as_of": pd.to_datetime(["2025-04-01", "2025-05-01", "2025-06-01"]),
        "abuse_found": [1, 0, 1],
    })
    assert unseen_by(fold, ["2025-03", "2025-04"])["siret"].tolist() == [B, C]
    assert unseen_by(fold, ["2025-06"]).empty
    assert fold_key(fold, 90) == fold_key(fold.iloc[::-1], 90)
    assert fold_key(fold, 90) != fold_key(fold.assign(abuse_found=[1, 1, 1]), 90)
    # Measured with outcomes known on the day of the control, the same rows are not the same measure; a tag written
    # before keys named the delay was measured so.
    assert fold_key(fold, 90) != fold_key(fold, 0)
    assert comparable_fold_key(fold_key(fold, 90)) == fold_key(fold, 90)
    # A tag written before keys said the fold was held out of tuning was measured on a fold Optuna tuned on: its value
    # is not the same measure as a held-out one's, on the same rows (compared by re-scoring, or not at all).
    tuned = fold_key(fold, 90).removesuffix(":held-out")
    assert comparable_fold_key(tuned) == f"{tuned}:tuned-on" != fold_key(fold, 90)
    # One written before keys named the delay was measured with outcomes read on the day, and tuned on too.
    oldest = fold_key(fold, 0).removesuffix(":outcomes+0d:held-out")
    assert comparable_fold_key(oldest) == f"{oldest}:outcomes+0d:tuned-on"
    assert comparable_fold_key(None) is None


# --- one control, one label ----------------------------------------------------------------------------

def test_a_visit_imported_and_recorded_is_one_label_with_the_imported_outcome_from_its_own_month(tmp_path):
    """The same visit entered in the web application on the day and in the ministry's export gave two labelled rows,
    of opposite labels when the outcomes differed; training now reads one, the imported outcome, reported."""
    from features.store import expected_inspection_features
    from training.workflow import inspection_source
    from warehouse.inspections import import_inspections, store_recorded_inspections

    home = Home(tmp_path / "home")
    path = tmp_path / "export.csv"
    path.write_text(f"siret,inspection_date,abuse_found\n{A},2025-06-15,1\n{B},2025-06-02,0\n", encoding="utf-8")
    import_inspections(path, home)
    store_recorded_inspections(_inspections((A, "2025-06-15", 0), (B, "2025-06-02", 0), (B, "2025-06-03", 1)), home)
    source = inspection_source(home, None)
    may = date(2025, 5, 1)
    labelled = build_labelled_set(source.rows, {may: _features(may, [A, B])})
    assert labelled.rows[["siret", "inspection_date", "abuse_found"]].astype(str).values.tolist() == [
        [B, "2025-06-02", "0"], [B, "2025-06-03", "1"], [A, "2025-06-15", "1"]]
    assert [(issue.kind, issue.reason.split(":")[0]) for issue in source.issues] == [
        ("inspection_recorded_otherwise", f"SIRET {A} inspected on 2025-06-15 is recorded in the web application with "
                                          "abuse_found 0, imported with 1")]
    # Known from its own day on, as it was before either source gave it: not in the month before the visit.
    assert expected_inspection_features(source.rows, may, 0)["past_inspections"].sum() == 0
    june = expected_inspection_features(source.rows, date(2025, 6, 1), 0)  # outcomes read from the day
    assert june.loc[A, ["past_inspections", "last_inspection_found_abuse"]].tolist() == [1, 1]
    assert june.loc[B, ["past_inspections", "last_inspection_found_abuse"]].tolist() == [2, 1]


# --- bad rows in the inspections file ---------------------------------------------------------------

def test_bad_rows_of_the_inspections_file_are_reported_with_line_and_reason(tmp_path):
    from core.home import Home
    from training.workflow import inspection_source

    path = tmp_path / "inspections.csv"
    path.write_text(
        "siret,inspection_date,abuse_found,inspector\n"
        f"{A},2025-06-15,1,Dupont\n"
        "1234,2025-06-16,0,Martin\n"
        f"{B},15.06.2025,0,Martin\n"
        f"{C},2025-06-17,yes,Durand\n"
        f"{C},2025-06-18,0,Durand\n",
        encoding="utf-8",
    )
    source = inspection_source(Home(tmp_path / "home"), path)
    assert source.rows["siret"].tolist() == [A, C]
    assert [(issue.line, issue.kind) for issue in source.issues] == [
        (3, "bad_inspection_row"), (4, "bad_inspection_row"), (5, "bad_inspection_row")
    ]
    reasons = [issue.reason for issue in source.issues]
    assert "siret is not 14 digits (4 characters)" in reasons[0]
    assert "inspection_date is not a date written YYYY-MM-DD or DD/MM/YYYY" in reasons[1]
    assert "abuse_found is not 0 or 1" in reasons[2]
    assert not any(value in reason for reason in reasons for value in ("1234", "15.06.2025", "yes")), reasons


def test_train_command_prints_bad_rows_and_fails_clearly_without_features(tmp_path):
    from typer.testing import CliRunner

    from champollion.cli import app

    path = tmp_path / "inspections.csv"
    path.write_text(f"siret,inspection_date,abuse_found\n{A},2025-06-15,1\n12,2025-06-16,0\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "train", "--inspections", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: siret is not 14 digits (2 characters); row left out" in result.output
    assert "no labelled rows" in result.output


# --- models -----------------------------------------------------------------------------------------

def _synthetic_rows(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.random(n) for name in feature_names()})
    frame["naf"] = rng.choice(["5610A", "8710A"], n)
    frame["region_code"] = rng.choice(["11", "84"], n)
    frame["idcc"] = "1979"
    frame["n_rule_hits_total"] = rng.poisson(2, n)
    frame["abuse_found"] = (rng.random(n) < 0.1 + 0.1 * frame["n_rule_hits_total"]).astype(int)
    return frame


def test_models_follow_the_estimator_contract():
    from sklearn.base import clone

    from training.models import comparison_models

    rows = _synthetic_rows()
    for name, model in comparison_models({"n_estimators": 20}, 0.1, 1, 0).items():
        assert clone(model).get_params() == model.get_params()
        assert not [a for a in vars(model) if a.endswith("_")], name
        assert model.fit(rows, rows["abuse_found"].to_numpy()) is model
        assert model.decision_function(rows).shape == (len(rows),)


def test_the_logistic_baseline_prepares_the_real_nomenclatures_sparse_and_scores_as_dense(monkeypatch):
    """With the real NAF's hundreds of codes the one-hot columns are mostly zeros: the prepared rows are a sparse
    matrix, and the model scores as the dense one does. With a few levels (the simulated sectors) they stay dense."""
    from scipy import sparse

    import training.models
    from training.models import LogisticBaseline

    rows = _synthetic_rows(n=6000)
    rng = np.random.default_rng(1)
    rows["naf"] = rng.choice([f"{code:04d}Z" for code in range(600)], len(rows))
    y = rows["abuse_found"].to_numpy()

    def prepared(model: LogisticBaseline):
        return model.pipeline_[:-1].transform(LogisticBaseline._inputs(rows))

    many = LogisticBaseline().fit(rows, y)
    assert sparse.issparse(prepared(many))
    few = LogisticBaseline().fit(_synthetic_rows(n=6000), y)
    assert not sparse.issparse(few.pipeline_[:-1].transform(LogisticBaseline._inputs(_synthetic_rows(n=6000))))
    monkeypatch.setattr(training.models, "SPARSE_BELOW", 0.0)  # always dense
    dense = LogisticBaseline().fit(rows, y)
    assert not sparse.issparse(prepared(dense))
    assert np.allclose(many.predict_proba(rows), dense.predict_proba(rows), rtol=0, atol=1e-9)


def test_lightgbm_freezes_training_categories():
    from training.models import LightGBMModel

    rows = _synthetic_rows()
    model = LightGBMModel(n_estimators=10).fit(rows, rows["abuse_found"].to_numpy())
    assert model.categories_["naf"] == ["5610A", "8710A"]
    unseen = rows.head(3).assign(naf="0111Z")
    assert model.inputs(unseen)["naf"].isna().all()
    assert np.isfinite(model.decision_function(unseen)).all()


def test_lightgbm_learns_from_rows_with_a_missing_category():
    from training.models import LightGBMModel

    rows = _synthetic_rows()
    rows["idcc"] = rows["idcc"].astype("str").where(rows.index % 7 != 0, None)  # a temp-work user declares none
    model = LightGBMModel(n_estimators=10).fit(rows, rows["abuse_found"].to_numpy())
    assert None not in model.categories_["idcc"] and model.inputs(rows)["idcc"].isna().sum() == (rows.index % 7 == 0).sum()


@pytest.mark.parametrize("dtype", ["str", "string", object, "category"])
def test_categories_are_the_values_present_as_text_whatever_the_column_holds(dtype):
    from training.models import categorical_frame

    raw = ["5610A", None, "8710A", "5610A", None] if dtype is not object else ["5610A", None, 4120, 3.5, "5610A"]
    frame = pd.DataFrame({"naf": pd.Series(raw, dtype=dtype)})
    learned = categorical_frame(frame, ["naf"], None)["naf"]
    expected = ["5610A", "8710A"] if dtype is not object else ["3.5", "4120", "5610A"]
    assert list(learned.cat.categories) == expected
    assert learned.isna().tolist() == [value is None for value in raw]
    frozen = categorical_frame(frame, ["naf"], {"naf": ["5610A"]})["naf"]
    assert frozen.astype(object).where(frozen.notna(), None).tolist() == [v if v == "5610A" else None for v in raw]


def test_config_rejects_unknown_settings_and_keeps_the_capacity_first():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TrainingConfig(trails=3)
    assert TrainingConfig(capacity_share=0.1, report_shares=[0.2, 0.05]).shares == [0.1, 0.05, 0.2]
    # A seed scikit-learn or numpy would refuse after minutes of work is refused before any.
    from core.scoring_config import ScoringConfig

    for bad in (-1, 2**32):
        with pytest.raises(ValidationError, match="seed"):
            TrainingConfig(seed=bad)
    with pytest.raises(ValidationError, match="seed"):
        ScoringConfig(seed=-1)


# --- tuning ---------------------------------------------------------------------------------------

def test_a_pruned_trial_is_logged_with_the_fold_it_stopped_at_and_a_partial_value():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")

    def objective(trial):
        trial.report(0.63, 0)
        if trial.number == 1:
            raise optuna.TrialPruned()
        trial.report(0.5, 1)
        trial.report(0.5, 2)
        return 0.5

    study.optimize(objective, n_trials=2)
    table = trials_table(study, n_folds=3)
    assert table[["number", "state", "folds_evaluated"]].values.tolist() == [[0, "complete", 3], [1, "pruned", 1]]
    assert table["objective"].tolist()[0] == 0.5 and np.isnan(table["objective"].tolist()[1])
    assert np.isnan(table["partial_objective"].tolist()[0]) and table["partial_objective"].tolist()[1] == 0.63
    line = trial_line(TrialReport(1, "pruned", 0.63, 1, 3))
    assert line == ("trial 1: pruned after fold 1 of 3, partial objective 0.6300 over fold 1 only "
                    "(not comparable with complete trials)")
    assert trial_line(TrialReport(0, "complete", 0.5, 3, 3)) == "trial 0: complete, objective 0.5000 (mean over 3 folds)"
    assert trials_summary(table, 2, 0) == "2 trials in this run: 1 complete, 1 pruned (1 after fold 1)"
    # An interrupted run left a failed trial: resumed, the counts add up (« 2 + 6 » over nine trials before).
    interrupted = pd.concat([table, table.head(1).assign(number=2, state="fail")], ignore_index=True)
    assert trials_summary(interrupted, 1, 1) == ("1 trials in this run and 1 from an earlier run (resumed) and 1 that did "
                                                 "not finish: 1 complete, 1 pruned (1 after fold 1), 1 failed")


def test_each_training_starts_a_new_study_and_resume_continues_the_last(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(ValueError, match="no earlier study on this data"):
        study_to_run(storage, "lightgbm-2025-01..2025-12-abc", resume=True)
    assert study_to_run(storage, "lightgbm-2025-01..2025-12-abc", resume=False) == "lightgbm-2025-01..2025-12-abc"
    for name in ("lightgbm-2025-01..2025-12-abc", "lightgbm-2025-01..2025-12-abc-2", "lightgbm-2025-01..2025-12-abcd"):
        optuna.create_study(study_name=name, storage=storage)
    assert study_to_run(storage, "lightgbm-2025-01..2025-12-abc", resume=False) == "lightgbm-2025-01..2025-12-abc-3"
    assert study_to_run(storage, "lightgbm-2025-01..2025-12-abc", resume=True) == "lightgbm-2025-01..2025-12-abc-2"


def test_propensity_rows_names_the_study_and_the_model_only_when_the_propensity_model_was_fitted_on_a_sample():
    """Under the budget nothing is sampled: the names stay those of the trainings before the setting existed (a
    retrained demo finds its registered twin and its study to resume)."""
    from training.pipeline import model_fingerprint
    from training.tuning import study_name

    rows = _synthetic_rows().assign(siret=A, inspection_date=pd.Timestamp("2024-06-03"))
    folds = pd.DataFrame({"fold": [0], "valid_from": [date(2025, 1, 1)], "valid_until": [date(2025, 7, 1)]})
    small, large = TrainingConfig(propensity_rows=1_000), TrainingConfig(propensity_rows=5_000)
    for sampled in (False, True):
        names = {study_name(rows, folds, c, "on", ["2024-01", "2024-12"], sampled) for c in (small, large)}
        prints = {model_fingerprint("data", folds, {"n_estimators": 20}, "on", c, sampled) for c in (small, large)}
        assert (len(names), len(prints)) == ((2, 2) if sampled else (1, 1))
    assert study_name(rows, folds, small, "on", ["2024-01", "2024-12"]) == study_name(
        rows, folds, small, "on", ["2024-01", "2024-12"], False)


def test_the_model_card_says_na_where_a_metric_is_not_defined():
    table = pd.DataFrame({"group": ["04", "11"], "n": [2, 86], "roc_auc": [float("nan"), 0.7449]})
    assert _markdown(table).splitlines()[2:] == ["| 04 | 2 | n/a |", "| 11 | 86 | 0.745 |"]


def test_a_training_waits_for_another_registering_its_model(tmp_path):
    """Two trainings at once of the same model: the second looks for it among the versions once the first registered
    it (both registered it before)."""
    import threading

    from training.registry import registry_lock

    home = Home(tmp_path / "home")
    entered = threading.Event()

    def second() -> None:
        with registry_lock(home):
            entered.set()

    with registry_lock(home):
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not entered.wait(0.5)
    assert entered.wait(30)
    waiting.join()


def test_a_copied_home_does_not_write_its_runs_into_the_home_it_came_from(tmp_path):
    from training.registry import connect, experiment_id

    settings = TrainingConfig()
    first = Home(tmp_path / "first")
    experiment_id(connect(first, settings), first, settings)
    copied = Home(tmp_path / "copied")
    shutil.copytree(first.mlruns, copied.mlruns)
    with pytest.raises(ValueError, match=r"keeps its artifacts in .*first/mlruns/artifacts, not in this home's"):
        experiment_id(connect(copied, settings), copied, settings)
    renamed = settings.model_copy(update={"experiment": "champollion (copied home)"})
    assert experiment_id(connect(copied, renamed), copied, renamed)


def test_the_comparison_says_what_each_share_selected() -> None:
    """A region's list holds at least one establishment: where regions have few inspected establishments, "5%"
    selects more of them, and the comparison says how many (it printed "precision@5%" over 14% of a fold)."""
    overall = pd.DataFrame({
        "model": ["random", "random", "lightgbm", "lightgbm"], "share": [0.05, 0.10, 0.05, 0.10],
        "selected": [44, 50, 44, 50], "n": [320, 320, 320, 320],
    })
    assert selected_text(overall, [0.05, 0.10]) == "5%: 44 of 320 (13.8%); 10%: 50 of 320 (15.6%)"


def test_promotion_compares_two_versions_only_on_inspections_that_can_tell_them_apart():
    """Two inspections, or any number of one outcome, give every ranking the same precision: a tie, which promoted the
    candidate (`promote` found 0.000 >= 0.000 on two controls)."""
    from training.promotion import too_few_to_compare

    rows = pd.DataFrame({LABEL: [1, 0] * 10})
    assert too_few_to_compare(rows, 20) == ""
    assert too_few_to_compare(rows.head(2), 20) == ("are fewer than the 20 a comparison needs "
                                                    "(`training.min_promotion_rows`)")
    assert too_few_to_compare(rows.assign(**{LABEL: 0}), 20) == (
        "all have one outcome (abuse found in 0 of them): every ranking scores the same on them")
    assert too_few_to_compare(rows.assign(**{LABEL: 1}), 5).startswith("all have one outcome (abuse found in 20 of them)")
