"""Scoring: who is listed, how reasons are worded, and that explanations are the model's own."""

from __future__ import annotations

import json
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from core.home import Home
from core.scoring_config import ScoringConfig
from features.asof import declared_in_window
from scoring.evidence_groups import group_evidence, rule_labels
from scoring.list_inputs import ListInputs, list_inputs_folder, read_list_inputs, write_list_inputs
from scoring.monthly import keep_list_inputs, read_ranking
from scoring.reasons import (
    LEGAL_RULES,
    RULE_PHRASES,
    WHOLE_WINDOWS,
    CoveredWindows,
    SectorBenchmarks,
    benchmark_label,
    covered_windows,
    evidence_posts,
    format_value,
    grouped_contributions,
    reason_group,
    repeats,
    rule_sentence,
    rules_sentence,
    sentence,
    top_reasons,
    windowed_label,
    within_noise,
)
from scoring.selection import FIRST, LEFT, NEW, STILL, compare_with_previous, rank_and_select, recently_inspected

OCTOBER = date(2026, 10, 1)


def _scored(n_by_region: dict[str, int], inspected: set[str] = frozenset()) -> pd.DataFrame:
    rows = []
    for region, n in n_by_region.items():
        for i in range(n):
            siret = f"{region}{i:012d}"
            rows.append({"siret": siret, "region_code": region, "score": 1 - i / n, "recently_inspected": siret in inspected})
    return pd.DataFrame(rows)


# --- selection ---------------------------------------------------------------------------------------

def test_each_region_lists_the_ceiling_of_its_share_with_a_seeded_exploration_draw():
    settings = ScoringConfig(list_share=0.1, exploration_share=0.2)
    ranked = rank_and_select(_scored({"11": 200, "84": 31}), OCTOBER, settings)
    listed = ranked[ranked["in_list"]]
    assert listed.groupby("region_code").size().to_dict() == {"11": 20, "84": 4}
    explored = listed[listed["exploration"]]
    assert explored.groupby("region_code").size().to_dict() == {"11": 4, "84": 1}
    # Score lines are the region's best; exploration lines come from below them.
    top_11 = listed[(listed["region_code"] == "11") & ~listed["exploration"]]
    assert sorted(top_11["rank_in_region"]) == list(range(1, 17))
    assert (explored[explored["region_code"] == "11"]["rank_in_region"] > 16).all()
    # List positions: score lines first, then exploration lines.
    assert list(listed[listed["region_code"] == "11"].sort_values("list_position")["exploration"]) == [False] * 16 + [True] * 4
    # Reproducible from the month and the seed; another month draws again.
    again = rank_and_select(_scored({"11": 200, "84": 31}), OCTOBER, settings)
    pd.testing.assert_frame_equal(ranked, again)
    draws = {
        tuple(rank_and_select(_scored({"11": 200}), date(2026, m, 1), settings).query("exploration")["siret"])
        for m in range(1, 7)
    }
    assert len(draws) > 1


def test_recently_inspected_establishments_are_not_listed_but_are_ranked():
    scored = _scored({"11": 50}, inspected={"11000000000000", "11000000000001"})
    ranked = rank_and_select(scored, OCTOBER, ScoringConfig(list_share=0.1, exploration_share=0))
    listed = ranked[ranked["in_list"]]
    assert len(listed) == 5
    assert set(listed["rank_in_region"]) == {3, 4, 5, 6, 7}
    assert ranked.set_index("siret").loc["11000000000000", "rank_in_region"] == 1


def test_a_region_with_a_fixed_list_size_gets_it():
    settings = ScoringConfig(list_share=0.1, list_size_by_region={"84": 7}, exploration_share=0)
    ranked = rank_and_select(_scored({"11": 30, "84": 30}), OCTOBER, settings)
    assert ranked[ranked["in_list"]].groupby("region_code").size().to_dict() == {"11": 3, "84": 7}


def test_a_share_longer_than_the_most_lines_a_region_can_work_through_is_cut_there():
    settings = ScoringConfig(list_share=0.1, max_list_lines=12, list_size_by_region={"84": 40}, exploration_share=0.25)
    ranked = rank_and_select(_scored({"11": 300, "84": 300, "93": 50}), OCTOBER, settings)
    listed = ranked[ranked["in_list"]]
    # 30 lines from the share in 11, cut at 12 (3 of them drawn); the fixed 40 of 84 is not cut; 93's 5 are under it.
    assert listed.groupby("region_code").size().to_dict() == {"11": 12, "84": 40, "93": 5}
    assert listed[listed["exploration"]].groupby("region_code").size().to_dict() == {"11": 3, "84": 10, "93": 1}
    assert sorted(listed.loc[(listed["region_code"] == "11") & ~listed["exploration"], "rank_in_region"]) == list(range(1, 10))
    unlimited = rank_and_select(_scored({"11": 300}), OCTOBER, settings.model_copy(update={"max_list_lines": None}))
    assert int(unlimited["in_list"].sum()) == 30
    with pytest.raises(ValueError, match="max_list_lines"):
        ScoringConfig(max_list_lines=0)


@pytest.mark.parametrize(
    ("inspection_date", "excluded"),
    [
        ("2026-10-31", True),   # last day of the scored month: known
        ("2026-11-01", False),  # after the month: not known when the list is drawn up
        ("2025-11-01", True),   # first day of the 12 months up to October 2026
        ("2025-10-31", False),  # the day before
    ],
)
def test_recent_inspection_window_boundaries(inspection_date, excluded):
    inspections = pd.DataFrame({"siret": ["11000000000000"], "inspection_date": [pd.Timestamp(inspection_date)],
                                "abuse_found": [0]})
    flags = recently_inspected(pd.Series(["11000000000000", "11000000000001"]), inspections, OCTOBER, 12)
    assert list(flags) == [excluded, False]


def test_each_line_says_whether_it_is_new_still_there_or_left():
    current = pd.DataFrame({"siret": ["a", "b", "c", "d"], "in_list": [True, True, False, False]})
    previous = pd.DataFrame({"siret": ["b", "c", "d"], "in_list": [True, True, False]})
    assert list(compare_with_previous(current, previous)) == [NEW, STILL, LEFT, ""]
    assert list(compare_with_previous(current, None)) == [FIRST, FIRST, "", ""]  # no list the month before


# --- reasons ----------------------------------------------------------------------------------------

def test_benchmark_and_excess_columns_speak_of_their_share_and_rule_counts_are_one_reason():
    assert reason_group("precarity_rate_12m_excess") == "precarity_rate_12m"
    assert reason_group("precarity_rate_12m_benchmark") == "precarity_rate_12m"
    assert reason_group("n_carence") == LEGAL_RULES
    assert reason_group("n_rule_hits_total") == LEGAL_RULES
    assert reason_group("headcount") == "headcount"
    contributions = pd.DataFrame({"precarity_rate_12m": [0.5], "precarity_rate_12m_excess": [0.25],
                                  "n_carence": [0.1], "n_rule_hits_total": [0.2], "headcount": [-0.3]})
    grouped = grouped_contributions(contributions, list(contributions.columns))
    assert grouped.iloc[0].to_dict() == pytest.approx({"precarity_rate_12m": 0.75, LEGAL_RULES: 0.3, "headcount": -0.3})


def test_values_are_written_as_inspectors_read_them():
    assert format_value("share_fixed_term_under_1_month_12m", 0.384) == "38 %"
    assert format_value("median_fixed_term_days_12m", 12.0) == "12 jours"
    assert format_value("fte", 12.5) == "12,5 ETP"
    assert format_value("headcount_growth_12m", 0.35) == "+35 %"
    assert format_value("hires_12m", 1234) == "1\u202f234"
    assert format_value("share_hires_cdd_12m", float("nan")) == "non renseigné"


def _table() -> pd.DataFrame:
    rows = [{"siret": f"{i:014d}", "naf": "5610A", "region_code": "11", "declares": True,
             "share_fixed_term_under_1_month_12m": 0.1 if i else 0.38, "ended_fixed_term_12m": 50,
             "n_carence": 4 if i == 0 else 0, "n_rule_hits_total": 4 if i == 0 else 0}
            for i in range(9)]
    rows.append({"siret": "99999999999999", "naf": "4120A", "region_code": "84", "declares": True,
                 "share_fixed_term_under_1_month_12m": 0.5, "ended_fixed_term_12m": 50, "n_carence": 0,
                 "n_rule_hits_total": 0})
    return pd.DataFrame(rows)


def _posts():
    evidence = pd.DataFrame({"rule": ["carence"] * 5, "post": ["serveur", "serveur", "serveur", "plongeur", "serveur"],
                             "establishment_siret": ["00000000000000"] * 5,
                             "article": ["L1244-3", "L1244-3", "L1251-36", "L1244-3", "L1244-3"],
                             "confidence": ["probable"] * 4 + ["à vérifier sur place"]})
    return evidence_posts(evidence)["00000000000000"]


def test_a_share_reason_gives_the_value_and_the_sector_median_in_the_region():
    table = _table()
    features = ["share_fixed_term_under_1_month_12m", "n_carence", "n_rule_hits_total"]
    benchmarks = SectorBenchmarks.of(table, features, min_group=5)
    text = sentence("share_fixed_term_under_1_month_12m", table.iloc[0], benchmarks, None)
    assert text == ("Part des CDD et missions de moins d'un mois : 38 % (médiane du secteur en région : 10 %)")
    # A NAF x region group smaller than the minimum falls back to France.
    lone = sentence("share_fixed_term_under_1_month_12m", table.iloc[9], benchmarks, None)
    assert lone.endswith("(médiane en France : 10 %)")


def test_a_sector_median_column_is_named_by_the_median_it_holds_for_the_establishment():
    # The feature table's benchmark columns fall back to France as the reasons do: their label for one
    # establishment says so, where « médiane du secteur en région » beside « médiane en France » contradicted it.
    table = _table()
    benchmarks = SectorBenchmarks.of(table, ["share_fixed_term_under_1_month_12m"], min_group=5)
    share = "part des CDD et missions de moins d'un mois"
    assert benchmark_label("share_fixed_term_under_1_month_12m_benchmark", table.iloc[0], benchmarks) == (
        f"médiane du secteur en région : {share}")
    assert benchmark_label("share_fixed_term_under_1_month_12m_excess", table.iloc[9], benchmarks) == (
        f"écart à la médiane en France : {share}")
    assert benchmark_label("share_fixed_term_under_1_month_12m", table.iloc[0], benchmarks) is None


AUGUST = date(2025, 8, 1)  # its 12-month window: 2024-09 to 2025-08; the short one: 2025-06 to 2025-08


def _bits(months: list[date]) -> int:
    """`declared_window_bits` of an establishment declaring `months` as of AUGUST (bit i: month i of its window)."""
    return sum(1 << ((m.year - 2024) * 12 + m.month - 9) for m in months)


WINDOW = [date(2024, m, 1) for m in range(9, 13)] + [date(2025, m, 1) for m in range(1, 9)]


@pytest.mark.parametrize(("declared", "long", "short"), [
    (WINDOW, None, None),  # exactly the 12 months of the window: whole, the sentences as they were
    (WINDOW[1:], "sur 11 mois au lieu des 12 derniers (depuis le 01/10/2024)", None),  # 11, the first one missing
    ([m for m in WINDOW if m != date(2025, 3, 1)], "sur les 12 derniers mois, sans DSN pour mars 2025", None),
    (WINDOW[:-1], "sur les 12 derniers mois, sans DSN pour août 2025", "sur les 3 derniers mois, sans DSN pour août 2025"),
    (WINDOW[8:], "sur 4 mois au lieu des 12 derniers (depuis le 01/05/2025)", None),
    (WINDOW[10:], "sur 2 mois au lieu des 12 derniers (depuis le 01/07/2025)",
     "sur 2 mois au lieu des 3 derniers (depuis le 01/07/2025)"),
    ([date(2025, 1, 1), date(2025, 2, 1), date(2025, 4, 1), date(2025, 8, 1)],
     "sur 8 mois au lieu des 12 derniers (depuis le 01/01/2025), sans DSN pour mars 2025, mai 2025, juin 2025, juillet "
     "2025", "sur les 3 derniers mois, sans DSN pour juin 2025, juillet 2025"),
])
def test_a_window_the_declarations_do_not_cover_whole_is_said_as_it_was_read(declared, long, short):
    """A late start counts from its first month (nothing was declared before it); a month missing after it is named,
    the window still running over it (the contracts declared before and after such a month run through it)."""
    row = {"as_of": pd.Timestamp(AUGUST), "declared_window_bits": _bits(declared),
           "first_declared_month": pd.Timestamp(declared[0])}
    assert declared_in_window(AUGUST, _bits(declared), 12) == declared
    assert covered_windows(row, Config().features) == CoveredWindows(long, short)


def test_months_missing_at_the_start_of_the_window_of_an_establishment_declaring_before_it_are_gaps():
    """Declaring since 2023, it sent nothing for September and October 2024: not a late start, two months missing."""
    row = {"as_of": pd.Timestamp(AUGUST), "declared_window_bits": _bits(WINDOW[2:]),
           "first_declared_month": pd.Timestamp("2023-01-01")}
    assert covered_windows(row, Config().features) == CoveredWindows(
        "sur les 12 derniers mois, sans DSN pour septembre 2024, octobre 2024")
    # A temp-work user that does not declare: the months its agencies' declarations cover (the warehouse's) decide.
    user = {"as_of": pd.Timestamp(AUGUST), "declared_window_bits": _bits(WINDOW[6:]), "first_declared_month": pd.NaT}
    assert covered_windows(user, Config().features).long == "sur 6 mois au lieu des 12 derniers (depuis le 01/03/2025)"


def _late_starters() -> pd.DataFrame:
    """Ten restaurants of one region declaring the whole window as of AUGUST, and one declaring since May 2025 whose
    hires are all fixed-term; every one's short window whole."""
    rows = [{"siret": f"{i:014d}", "naf": "5610A", "region_code": "11", "declares": True, "as_of": pd.Timestamp(AUGUST),
             "declared_window_bits": _bits(WINDOW[8:] if i == 0 else WINDOW), "hires_12m": 10, "hires_3m": 5,
             "first_declared_month": pd.Timestamp(WINDOW[8] if i == 0 else date(2023, 1, 1)),
             "share_hires_fixed_term_12m": 0.8 if i == 0 else 0.3, "share_hires_fixed_term_3m": 1.0 if i == 0 else 0.2,
             "precarity_rate_12m": 0.7 if i == 0 else 0.2, "share_fixed_term_under_1_month_12m": 0.6 if i == 0 else 0.1,
             "ended_fixed_term_12m": 30, "headcount": 10, "headcount_growth_12m": np.nan}
            for i in range(10)]
    return pd.DataFrame(rows)


def test_the_reasons_of_a_partial_window_say_the_months_the_establishment_declared():
    """« 80 % des embauches en CDD ou intérim sur 12 mois » read of an establishment declared for 4 months misled: its
    sentences over the 12-month window say the 4 months and since when; over the 3-month one, which it declared whole,
    and for the establishments declaring the whole window, they are as they were."""
    table = _late_starters()
    features = ["share_hires_fixed_term_12m", "precarity_rate_12m", "share_fixed_term_under_1_month_12m",
                "share_hires_fixed_term_3m"]
    contributions = pd.DataFrame({f: [0.4 - 0.1 * i] * 2 for i, f in enumerate(features)}, index=table.index[:2])
    reasons = top_reasons(grouped_contributions(contributions, features), table, SectorBenchmarks.of(table, features, 5),
                          {}, n=4, settings=Config().features)
    partial = "sur 4 mois au lieu des 12 derniers (depuis le 01/05/2025)"
    assert reasons.iloc[0][[f"reason_{i}" for i in range(1, 5)]].tolist() == [
        f"Part des embauches en CDD ou intérim {partial} : 80 % (médiane du secteur en région : 30 %)",
        f"Taux de recours aux CDD et à l'intérim (jours sous contrat) {partial} : 70 % (médiane du secteur en région : "
        "20 %)",
        f"Part des CDD et missions de moins d'un mois {partial} : 60 % (médiane du secteur en région : 10 %)",
        "Part des embauches en CDD ou intérim sur 3 mois : 100 % (médiane du secteur en région : 20 %)",
    ]
    whole = table.iloc[1].to_dict() | {"share_hires_fixed_term_12m": 0.8}
    assert sentence("share_hires_fixed_term_12m", whole, SectorBenchmarks.of(table, features, 5), None,
                    covered_windows(whole, Config().features)) == (
        "Part des embauches en CDD ou intérim sur 12 mois : 80 % (médiane du secteur en région : 30 %)")
    # A row of a table stored before the months were kept: nothing known, the sentence as it was.
    assert covered_windows({"as_of": pd.Timestamp(AUGUST)}, Config().features) == WHOLE_WINDOWS
    assert windowed_label("headcount_growth_12m", "évolution de l'effectif sur 12 mois",
                          CoveredWindows(partial)) == "évolution de l'effectif sur 12 mois"


def test_a_list_keeps_its_inputs_whole_and_gives_them_back(tmp_path):
    table = _table()
    features = ["share_fixed_term_under_1_month_12m", "n_carence", "n_rule_hits_total"]
    benchmarks = SectorBenchmarks.of(table, features, min_group=5)
    assert SectorBenchmarks.from_frame(benchmarks.to_frame()).to_frame().equals(benchmarks.to_frame())
    home = Home(tmp_path / "home")
    month = date(2025, 3, 1)
    folder = list_inputs_folder(home, month)
    sirets = table["siret"].astype(str).tolist()
    evidence = pd.DataFrame({"establishment_siret": [sirets[1], sirets[0], sirets[1]], "rule": ["a", "b", "c"]})
    write_list_inputs(ListInputs(month, "3", table.iloc[:4], benchmarks, folder), evidence)
    assert read_list_inputs(home, month).declared is None  # a list that did not keep its declared months
    killed = folder.parent / f".{folder.name}.999999999-0123abcd.dir"  # a run killed while writing left its folder
    killed.mkdir()
    declared = (date(2024, 12, 1), date(2025, 1, 1), date(2025, 3, 1))  # nothing for February when drawn up
    write_list_inputs(ListInputs(month, "4", table.iloc[:2], benchmarks, folder, declared), evidence.iloc[:2])
    kept = read_list_inputs(home, month)
    assert kept is not None and kept.model_version == "4" and list(kept.positions) == sirets[:2]
    assert kept.declared == declared
    pd.testing.assert_frame_equal(kept.features, table.iloc[:2].reset_index(drop=True))
    assert kept.evidence_of(sirets[1])["rule"].tolist() == ["a"] and kept.evidence_of(sirets[2]).empty
    assert [kept.benchmarks.lookup(table["naf"].iloc[i], table["region_code"].iloc[i], features[0]) for i in range(10)
            ] == [benchmarks.lookup(table["naf"].iloc[i], table["region_code"].iloc[i], features[0]) for i in range(10)]
    assert [p.name for p in folder.parent.iterdir()] == ["2025-03"]  # nothing left aside, the killed run's removed
    (folder / "benchmarks.parquet").unlink()
    assert read_list_inputs(home, month) is None  # incomplete: nothing kept


def test_inputs_that_cannot_be_kept_fail_the_run_with_the_folder_named(tmp_path):
    table = _table()
    benchmarks = SectorBenchmarks.of(table, ["n_carence"], min_group=5)
    (tmp_path / "data").write_text("a file where the folder should be", encoding="utf-8")
    folder = tmp_path / "data" / "list-inputs" / "2025-03"
    with pytest.raises(RuntimeError, match=r"could not be kept in .*list-inputs/2025-03"):
        keep_list_inputs(ListInputs(date(2025, 3, 1), "1", table, benchmarks, folder), pd.DataFrame())


def test_a_rule_reason_counts_the_contracts_and_names_the_post():
    # The finding to check on site is not counted; the articles are those the findings cite, the most cited first.
    text = rules_sentence(_table().iloc[0], _posts())
    assert text == ("4 contrats successifs (dont 3 sur le poste « serveur ») sans respect du délai de carence "
                    "(L1244-3, L1251-36) : infraction potentielle")
    assert rules_sentence(_table().iloc[1], None) is None  # no finding, no reason


def test_a_rule_reason_cites_the_article_of_its_findings():
    after_missions = pd.DataFrame({"rule": ["carence"] * 2, "post": ["cariste"] * 2, "article": ["L1251-36"] * 2,
                                   "establishment_siret": ["00000000000000"] * 2, "confidence": ["probable"] * 2})
    text = rules_sentence(_table().iloc[0], evidence_posts(after_missions)["00000000000000"])
    assert text == ("2 contrats successifs sur le poste « cariste » sans respect du délai de carence (L1251-36) : "
                    "infraction potentielle")


def test_a_rule_reason_cites_every_article_of_its_findings():
    """A CDD and a temp mission holding one permanent post break two articles: citing only one of them (the first of a
    tie) told the inspector half the law the evidence below the line cites."""
    both = pd.DataFrame({"rule": ["poste_permanent"] * 2, "post": ["avs"] * 2, "article": ["L1251-5", "L1242-1"],
                         "establishment_siret": ["00000000000000"] * 2, "confidence": ["probable"] * 2})
    assert rule_sentence("poste_permanent", 2, {"avs": 2}, evidence_posts(both)["00000000000000"].articles["poste_permanent"]
                         ).endswith("(L1251-5, L1242-1) : infraction potentielle")


@pytest.mark.parametrize("rule", sorted(RULE_PHRASES))
def test_a_rule_reason_cites_its_article_once(rule):
    text = rule_sentence(rule, 5, {"agent": 4, "serveur": 1})
    assert len(re.findall(r"\([LD]\d{4}-\d+(?:-\d+)?\)", text)) == 1, text


def test_a_share_of_a_few_hires_is_no_reason_when_chance_alone_gives_it():
    # 2 hires of 3 in CDD against a sector median of 40 %: within two standard errors (2 x 28 points).
    assert within_noise("share_hires_cdd_12m", 2 / 3, 0.4, {"hires_12m": 3})
    # 60 of 90 against 40 %: far beyond them.
    assert not within_noise("share_hires_cdd_12m", 2 / 3, 0.4, {"hires_12m": 90})
    # One hire in CDD where the sector never hires in CDD is still chance; no hire at all says nothing.
    assert within_noise("share_hires_cdd_3m", 1.0, 0.0, {"hires_3m": 1})
    assert within_noise("share_hires_cdd_3m", 1.0, 0.0, {"hires_3m": 0})
    # Other shares are not judged here.
    assert not within_noise("precarity_rate_12m", 0.5, 0.4, {})
    # A share of short contracts is judged over the fixed-term contracts ended in the window: one CDD of one day, the
    # only one, is not a fact against a median of 33 % (a listed line read « d'un seul jour : 100 % » from it); 30 are.
    assert within_noise("share_fixed_term_one_day_12m", 1.0, 1 / 3, {"ended_fixed_term_12m": 1})
    assert not within_noise("share_fixed_term_one_day_12m", 1.0, 1 / 3, {"ended_fixed_term_12m": 30})


def test_only_what_raises_the_score_becomes_a_reason():
    table = _table().head(2)
    features = ["share_fixed_term_under_1_month_12m", "n_carence", "n_rule_hits_total"]
    contributions = pd.DataFrame({"share_fixed_term_under_1_month_12m": [0.2, -0.4], "n_carence": [0.5, -0.1],
                                  "n_rule_hits_total": [0.1, -0.2]}, index=table.index)
    grouped = grouped_contributions(contributions, features)
    reasons = top_reasons(grouped, table, SectorBenchmarks.of(table, features, 1),
                          {"00000000000000": _posts()}, n=3, settings=Config().features)
    first, second = reasons.iloc[0], reasons.iloc[1]
    assert first["reason_1_feature"] == LEGAL_RULES and "délai de carence" in first["reason_1"]
    assert first["reason_2_feature"] == "share_fixed_term_under_1_month_12m"
    assert first["reason_3"] == ""
    assert (second[["reason_1", "reason_2", "reason_3"]] == "").all()


def test_a_headcount_growth_says_from_how_many_people_to_how_many():
    """On the demo's list, 39 lines were led by « +100 % », most of them establishments of 2 people: one more person."""
    table = pd.DataFrame([{"siret": f"{i:014d}", "naf": "5610A", "region_code": "11", "declares": True,
                           "headcount": 2 if i == 0 else 10, "headcount_growth_12m": 1.0 if i == 0 else 0.0}
                          for i in range(6)])
    benchmarks = SectorBenchmarks.of(table, ["headcount_growth_12m"], min_group=5)
    assert sentence("headcount_growth_12m", table.iloc[0], benchmarks, None) == (
        "Évolution de l'effectif sur 12 mois : +100 %, de 1 à 2 salariés (médiane du secteur en région : 0 %)")
    assert sentence("headcount_growth_12m", {"headcount": 36, "headcount_growth_12m": -0.1}, benchmarks, None) == (
        "Évolution de l'effectif sur 12 mois : -10 %, de 40 à 36 salariés (médiane en France : 0 %)")


def test_a_fact_giving_the_same_figure_over_the_same_contracts_is_passed_over():
    """« Part des heures … en CDD ou intérim : 14 % » then « … en CDD (hors usage) : 14 % » said one fact twice."""
    features = ["share_hours_fixed_term_12m", "share_hours_cdd_12m", "longest_post_run_days", "longest_chain_days",
                "share_fixed_term_under_1_month_12m"]
    table = pd.DataFrame([{"siret": f"{i:014d}", "naf": "5610A", "region_code": "11", "declares": True,
                           "share_hours_fixed_term_12m": 0.14 if i < 2 else 0.05, "share_hours_cdd_12m": 0.14 if i < 2 else 0.05,
                           "longest_post_run_days": 41.0 if i < 2 else 10.0, "longest_chain_days": 41.0 if i < 2 else 10.0,
                           "share_fixed_term_under_1_month_12m": 0.5 if i < 2 else 0.1, "ended_fixed_term_12m": 40}
                          for i in range(8)])
    table.loc[1, "share_hours_cdd_12m"] = 0.10  # a different figure: another fact (some of the hours are missions)
    contributions = pd.DataFrame({"share_hours_fixed_term_12m": [0.5, 0.5], "share_hours_cdd_12m": [0.4, 0.4],
                                  "longest_post_run_days": [0.3, 0.3], "longest_chain_days": [0.2, 0.2],
                                  "share_fixed_term_under_1_month_12m": [0.1, 0.1]}, index=table.index[:2])
    reasons = top_reasons(grouped_contributions(contributions, features), table,
                          SectorBenchmarks.of(table, features, 1), {}, n=3, settings=Config().features)
    assert reasons.iloc[0][["reason_1_feature", "reason_2_feature", "reason_3_feature"]].tolist() == [
        "share_hours_fixed_term_12m", "longest_post_run_days", "share_fixed_term_under_1_month_12m"]
    assert reasons.iloc[1][["reason_1_feature", "reason_2_feature", "reason_3_feature"]].tolist() == [
        "share_hours_fixed_term_12m", "share_hours_cdd_12m", "longest_post_run_days"]
    # Facts of other contracts, windows or measures are other facts, whatever their figures: CDD and missions are
    # disjoint; 12 and 3 months, days and hours, measure other things.
    row = {"share_hires_cdd_12m": 0.5, "share_hires_mission_12m": 0.5, "share_hires_fixed_term_12m": 0.5,
           "precarity_rate_12m": 0.14, "precarity_rate_3m": 0.14, "share_hours_cdd_12m": 0.14}
    assert not repeats("share_hires_mission_12m", row, ["share_hires_cdd_12m"])
    assert repeats("share_hires_cdd_12m", row, ["share_hires_fixed_term_12m"])
    assert repeats("share_hires_fixed_term_12m", row, ["share_hires_mission_12m"])
    assert not repeats("precarity_rate_3m", row, ["precarity_rate_12m"])
    assert not repeats("share_hours_cdd_12m", row, ["precarity_rate_12m", "precarity_rate_3m"])


def test_a_ranking_reads_back_as_written(tmp_path):
    """Leading zeros kept (a SIRET, a postal code of the Ain, a département), flags as booleans, no reason as ''."""
    path = tmp_path / "ranked.csv"
    path.write_text("siret,postal_code,departement,region_code,naf,score,in_list,exploration,recently_inspected,"
                    "list_position,headcount,rank_in_region,rank_national,reason_1,model_version,month\n"
                    "01234567800019,01000,01,84,5610A,0.5,True,False,False,1,12,1,1,Une raison,7,2026-10\n"
                    "01234567800027,01000,01,84,5610A,0.2,False,False,True,,,2,2,,7,2026-10\n", encoding="utf-8")
    ranked = read_ranking(path)
    assert ranked["siret"].tolist() == ["01234567800019", "01234567800027"]
    assert ranked["postal_code"].tolist() == ["01000", "01000"] and ranked["departement"].tolist() == ["01", "01"]
    assert ranked["in_list"].tolist() == [True, False] and ranked["recently_inspected"].tolist() == [False, True]
    assert ranked["reason_1"].tolist() == ["Une raison", ""] and ranked["list_position"].isna().tolist() == [False, True]
    assert ranked["model_version"].tolist() == ["7", "7"]


# --- explanations are the model's --------------------------------------------------------------------

def _model():
    import lightgbm as lgb

    from features.catalog import feature_names
    from training.scoring_model import ScoringModel

    class Identity:
        def transform(self, raw):
            return 1 / (1 + np.exp(-raw))

    rng = np.random.default_rng(0)
    names = feature_names()
    numeric = [f for f in names if f not in ("naf", "region_code", "idcc")]
    frame = pd.DataFrame(rng.random((600, len(numeric))), columns=numeric)
    frame["naf"] = rng.choice(["5610A", "8710A", "4120A"], 600)
    frame["region_code"] = rng.choice(["11", "84"], 600)
    frame["idcc"] = rng.choice(["1979", "0843"], 600)
    frame.loc[rng.random(600) < 0.1, "share_hires_cdd_12m"] = np.nan
    label = (frame["precarity_rate_12m"] + 0.5 * frame["share_hires_cdd_12m"].fillna(0) + 0.3 * (frame["naf"] == "5610A")
             + 0.3 * rng.random(600) > 1).astype(int)
    categories = {"naf": ["4120A", "5610A", "8710A"], "region_code": ["11", "84"], "idcc": ["0843", "1979"]}
    model = ScoringModel(None, Identity(), names, categories, 1, ["2026-10"], {}, {}, 0.05, "off")
    model.booster = lgb.train({"objective": "binary", "max_depth": 4, "num_leaves": 12, "verbose": -1, "seed": 0,
                               "deterministic": True, "num_threads": 1, "min_data_per_group": 5},
                              lgb.Dataset(model.inputs(frame), label), num_boost_round=30)
    return model, frame


def test_pred_contrib_equals_the_shap_package_and_sums_to_the_raw_score():
    import shap

    from scoring.monthly import explain_rows

    model, frame = _model()
    assert '"decision_type": "=="' in json.dumps(model.booster.dump_model()), "the model splits on a category"
    rows = frame.index[:200]
    ours = explain_rows(model, frame, rows, Config().audit.shap_tolerance)
    inputs = model.inputs(frame.loc[rows])  # categories as LightGBM reads them: their codes
    codes = inputs.apply(lambda c: c.cat.codes.replace(-1, np.nan) if isinstance(c.dtype, pd.CategoricalDtype) else c)
    reference = shap.TreeExplainer(model.booster).shap_values(codes.to_numpy(dtype=np.float64))
    reference = reference[1] if isinstance(reference, list) else reference
    np.testing.assert_allclose(ours[model.features].to_numpy(), reference, atol=1e-9)
    np.testing.assert_allclose(ours.sum(axis=1).to_numpy(), model.raw_scores(frame.loc[rows]), atol=1e-9)


def test_explanations_that_do_not_add_up_are_refused():
    from scoring.monthly import explain_rows

    model, frame = _model()
    broken = model.contributions
    model.contributions = lambda table: broken(table) * 1.01
    with pytest.raises(RuntimeError, match="miss the raw score"):
        explain_rows(model, frame, frame.index[:10], Config().audit.shap_tolerance)


def test_a_fact_that_does_not_set_the_establishment_apart_is_passed_over():
    table = _table()
    benchmarks = SectorBenchmarks.of(table, ["share_fixed_term_under_1_month_12m"], min_group=5)
    assert sentence("share_fixed_term_under_1_month_12m", table.iloc[1], benchmarks, None) is None  # 10 %, median 10 %
    assert sentence("share_fixed_term_under_1_month_12m", table.iloc[0].copy().replace(0.38, np.nan), benchmarks, None) is None
    assert sentence(LEGAL_RULES, table.iloc[1], benchmarks, None) is None  # no potential infraction
    features = ["share_fixed_term_under_1_month_12m", "n_carence"]
    contributions = pd.DataFrame({"share_fixed_term_under_1_month_12m": [0.9], "n_carence": [0.1]}, index=[1])
    reasons = top_reasons(grouped_contributions(contributions, features), table, benchmarks, {}, n=2,
                          settings=Config().features)
    assert list(reasons.iloc[0][["reason_1", "reason_2"]]) == ["", ""]


def test_a_share_below_its_sector_median_is_not_a_reason_to_visit():
    table = _table()
    table.loc[2, "share_fixed_term_under_1_month_12m"] = 0.05
    benchmarks = SectorBenchmarks.of(table, ["share_fixed_term_under_1_month_12m"], min_group=5)
    assert sentence("share_fixed_term_under_1_month_12m", table.iloc[2], benchmarks, None) is None


def test_evidence_posts_orders_articles_by_citations_then_first_citation():
    # Per establishment and rule: the most cited article first, ties in order of first citation; a finding
    # citing no article counts for its post only, and a rule whose findings cite none has no article.
    a, b = "00000000000000", "11111111111111"
    evidence = pd.DataFrame({
        "establishment_siret": [a, a, a, a, a, a, b, b],
        "rule": ["carence", "carence", "carence", "carence", "carence", "duree_max", "carence", "carence"],
        "post": ["serveur", None, "serveur", "serveur", "plongeur", "serveur", "agent", "agent"],
        "article": ["L1251-36", "L1244-3", "L1244-3", "L1251-36", "D1242-1", None, "L1244-3", None],
        "confidence": ["probable", "établie", "probable", "établie", "probable", "établie", "probable",
                       "à vérifier sur place"],
    })
    found = evidence_posts(evidence)
    assert found[a].posts == {"carence": {"serveur": 3, "non renseigné": 1, "plongeur": 1}, "duree_max": {"serveur": 1}}
    assert found[a].articles == {"carence": ["L1251-36", "L1244-3", "D1242-1"], "duree_max": []}
    assert found[b].posts == {"carence": {"agent": 1}} and found[b].articles == {"carence": ["L1244-3"]}
    # Of some establishments (one with no evidence among them): the others' rows are not counted.
    only_b = evidence_posts(evidence, among={b, "22222222222222"})
    assert list(only_b) == [b] and only_b[b] == found[b]
    assert evidence_posts(evidence, among=set()) == {}


def test_an_evidence_group_counts_its_findings_in_words_that_agree():
    evidence = pd.DataFrame({
        "rule": ["renouvellements", "poste_permanent", "poste_permanent"],
        "confidence": ["établie", "probable", "probable"],
        "event_date": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-06-27"]),
        "post": ["agent", "soudeur", "soudeur"],
        "posts_concerned": [np.nan, 1, 1],
        "article": ["L1243-13", "L1242-1", "L1242-1"],
    })
    assert [group.summary_fr for group in group_evidence(evidence)] == [
        "1 contrat de « agent » renouvelé au-delà du nombre autorisé (L1243-13) : 1 établi",
        "2 contrats sur 1 poste de « soudeur » tenu toute l'année par des contrats courts (L1242-1) : 2 probables",
    ]


def test_a_succession_of_contracts_is_not_read_as_a_contract_past_the_maximum():
    """The maximum duration is that of one contract with its renewals (L1242-8): a finding over several contracts (its
    related contract the chain's first) is labelled and grouped as a succession to check, not as an infraction."""
    evidence = pd.DataFrame({
        "rule": ["duree_max"] * 3,
        "confidence": ["probable", "à vérifier sur place", "à vérifier sur place"],
        "event_date": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-03-01"]),
        "post": ["soudeur"] * 3,
        "related_contract_id": [None, "c-1", "c-7"],
        "article": ["L1242-8", "L1244-3, L1242-1", "L1244-3, L1242-1"],
    })
    assert rule_labels(evidence) == ["Durée maximale du contrat dépassée", "Succession de contrats sur un même poste",
                                     "Succession de contrats sur un même poste"]
    assert [group.summary_fr for group in group_evidence(evidence)] == [
        "1 contrat de « soudeur » au-delà de la durée maximale, renouvellements inclus, et 2 successions de contrats "
        "d'un même salarié au-delà de cette durée (L1244-3, L1242-1, L1242-8) : 1 probable, 2 à vérifier sur place"]
    assert [group.summary_fr for group in group_evidence(evidence.iloc[1:])] == [
        "2 successions de contrats d'un même salarié sur « soudeur » au-delà de la durée maximale d'un contrat "
        "(L1244-3, L1242-1) : 2 à vérifier sur place"]
    assert [group.summary_fr for group in group_evidence(evidence.iloc[:1])] == [
        "1 contrat de « soudeur » au-delà de la durée maximale, renouvellements inclus (L1242-8) : 1 probable"]
    # An explanation's rows carry no contract id: their `succession` flag says the same.
    shown = evidence.drop(columns="related_contract_id").assign(succession=[False, True, True])
    assert [group.summary_fr for group in group_evidence(shown)] == [group.summary_fr for group in group_evidence(evidence)]
    # Only a contract past the maximum is scored, and a list's reason says so.
    assert rule_sentence("duree_max", 1, {"soudeur": 1}, ["L1242-8"]) == (
        "1 contrat sur le poste « soudeur » au-delà de la durée maximale, renouvellements inclus (L1242-8) : "
        "infraction potentielle")


def test_a_model_is_scored_with_the_feature_settings_it_was_trained_with():
    from features.build import settings_of, settings_skew

    config = Config()
    trained = settings_of(config)
    assert settings_skew(trained, config) == ""
    other = Config(features=config.features.model_copy(update={"chain_gap_days": 10}))
    assert settings_skew(trained, other) == "chain_gap_days: 30 then, 10 now"
    # How many processes compute them changes no value; a setting the model did not know is not held against it.
    assert settings_skew(trained, Config(features=config.features.model_copy(update={"pass_processes": 4}))) == ""
    assert settings_skew({k: v for k, v in trained.items() if k != "benchmark_min_group"}, config) == ""
    # Unless the code then did something else than today's default: the outcome of a control was read from its day.
    before = {k: v for k, v in trained.items() if k != "outcome_known_after_days"}
    assert settings_skew(before, config) == "outcome_known_after_days: 0 then, 90 now"
    assert settings_skew(before, Config(features=config.features.model_copy(update={"outcome_known_after_days": 0}))) == ""
    # A model trained before the settings were kept read outcomes from the day of the control too.
    assert settings_skew(None, config) == "outcome_known_after_days: 0 then, 90 now"
