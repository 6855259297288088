"""The models page in French: titles, decimal commas, and the verdict on the simpler models computed from the values."""

from __future__ import annotations

import pandas as pd

from web.models_page import verdict_fr, versions_fr


def _version(**values: str) -> dict[str, object]:
    row: dict[str, object] = {"version": 2, "aliases": "champion", "created": "2026-12-07 01:00",
                              "data_months": "2025-01..2026-09", "labelled_rows": "363", "trials": "40", "ipw": "off",
                              "objective": "mean_precision_at_shares",
                              "latest_fold": "2026-05-01..2026-10-31", "promotion": "0.4163", "promotion_low": "0.33",
                              "promotion_high": "0.50", "logistic": "0.4160", "campaign_rule": "0.2960",
                              "rule_violations": "0.3010", "random": "0.1330", "verdict": "the simpler model does as well",
                              "run_id": "abc"}
    return {**row, **values}


def test_the_models_page_is_in_french_with_decimal_commas():
    shown = versions_fr(pd.DataFrame([_version()]))
    row = shown.iloc[0]
    assert row["Métrique de promotion [intervalle à 95 %]"] == "0,416 [0,33 ; 0,50]"
    assert row["Régression logistique"] == "0,416" and row["Pondération par la propension"] == "non"
    assert row["Enregistrée le (heure de Paris)"] == "07/12/2026 02:00"  # 01:00 UTC in the registry
    assert row["Face aux méthodes simples"] == ("une méthode simple fait aussi bien : régression logistique 0,416, "
                                                 "dans l'intervalle de LightGBM 0,416 [0,33 ; 0,50]")
    assert not any(title in shown.columns for title in ("promotion", "verdict", "promotion_low", "trials_in_study"))
    # A version chosen in a resumed study says among how many trials; this run's alone said 2 of 8.
    assert row["Essais de réglage"] == "40"
    resumed = versions_fr(pd.DataFrame([_version(trials="2", trials_in_study="8")])).iloc[0]
    assert resumed["Essais de réglage"] == "2 sur 8"
    # Values measured with another capacity than the configuration's say so, as `champollion models` does.
    other = versions_fr(pd.DataFrame([_version(other_metric=True)])).iloc[0]
    assert other["Métrique de promotion [intervalle à 95 %]"] == (
        "0,416 [0,33 ; 0,50] (mesurée avec l'objectif, la capacité ou les parts de son apprentissage, autres que ceux de "
        "la configuration)")


def test_the_verdict_says_when_a_simpler_model_does_better_or_when_every_one_is_below():
    assert verdict_fr(_version(random="0.55")).startswith("une méthode simple fait mieux : tirage au hasard 0,550")
    below = _version(logistic="0.20")
    assert verdict_fr(below) == ("LightGBM 0,416 [0,33 ; 0,50] fait mieux que chaque méthode simple : "
                                 "toutes sont sous son intervalle")
    assert verdict_fr(_version(promotion="")) == ""  # a version registered before its values were kept


def test_the_page_says_whether_the_lists_can_be_scored_with_each_version_and_why_not():
    """What `score` would say of each version with this code and configuration (`training.workflow.list_models`)."""
    from features.build import ScoringRefusal

    refusals = [None, ScoringRefusal(settings=(("outcome_known_after_days", 0, 90),)),
                ScoringRefusal(schema=(4, 5)), ScoringRefusal(unloadable="UnpicklingError: invalid load key")]
    shown = versions_fr(pd.DataFrame([_version(version=n, refusal=r, refused=str(r or ""))
                                      for n, r in enumerate(refusals, 1)]))
    assert shown["Accepté par la notation des listes"].tolist() == [
        "oui",
        "non : appris sur des indicateurs calculés avec d'autres réglages (outcome_known_after_days : 0 à "
        "l'apprentissage, 90 dans la configuration)",
        "non : appris sur le schéma d'indicateurs 4, ce code calcule le schéma 5 ; à réentraîner",
        "non : le modèle ne peut pas être chargé (UnpicklingError)",
    ]
    assert not {"refusal", "refused"} & set(shown.columns)
    # Values in French: no True, None or decimal point in the page.
    from web.models_page import refusal_fr

    assert refusal_fr(ScoringRefusal(settings=(("year_round_share", 0.9, 0.85), ("opening_days", ["mon", "tue"], None),
                                               ("flag", True, False)))) == (
        "non : appris sur des indicateurs calculés avec d'autres réglages (year_round_share : 0,9 à l'apprentissage, "
        "0,85 dans la configuration ; opening_days : mon, tue à l'apprentissage, aucun dans la configuration ; flag : "
        "oui à l'apprentissage, non dans la configuration)")
    assert str(refusals[1]) == ("was trained on features computed with other settings than the configured ones "
                                "(outcome_known_after_days: 0 then, 90 now)")
