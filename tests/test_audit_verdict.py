"""The audit's checks and verdict on hand-made tables: statuses at the thresholds, counts, groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.drift import TRAINING, drift_check
from audit.fairness import fairness_check, unflag_small, with_groups
from audit.legal_rules import rule_checks
from audit.metrics import group_disparities, rate_ratio_interval
from audit.selection_bias import selection_bias_check
from audit.verdict import Check, Status, verdict_lines, verdict_of
from core.scoring_config import AuditConfig
from features.validation import SCORED

SETTINGS = AuditConfig()


def _check(group: str, status: Status) -> Check:
    return Check(group, f"{group} {status.value}", status, 0.0, "", "")


def test_the_verdict_counts_every_status_and_takes_the_worst():
    checks = [_check("explanations", Status.PASSED), _check("fairness", Status.WARNING),
              _check("fairness", Status.WARNING), _check("drift", Status.PASSED)]
    verdict = verdict_of(checks)
    assert verdict.status is Status.WARNING and verdict.total == 4
    assert verdict.counts == {Status.PASSED: 2, Status.WARNING: 2, Status.FAILED: 0}
    assert verdict.headline == "Verdict : réussi avec alertes — 4 contrôles : 2 réussis, 2 alertes, 0 échec"
    assert verdict_of([*checks, _check("rules", Status.FAILED)]).headline.startswith("Verdict : échec — 5 contrôles")
    lines = verdict_lines(checks)
    assert lines[1] == "Explications (1 réussi)" and lines[3] == "Équité (2 alertes)"
    assert "  [alerte] fairness alerte — " in lines


def test_katz_interval_of_a_rate_ratio():
    # 20/100 against 10/100: ratio 2, log standard error sqrt(1/20 - 1/100 + 1/10 - 1/100).
    low, high = rate_ratio_interval(20, 100, 10, 100)
    spread = 1.959964 * np.sqrt(0.13)
    assert (low, high) == pytest.approx((2 * np.exp(-spread), 2 * np.exp(spread)), rel=1e-5)
    low, high = rate_ratio_interval(0, 50, 10, 100)  # a zero count: Haldane's 0.5, the interval held from 0
    assert low == 0 and (0.5 / 50.5) / (10.5 / 101) < high < np.inf
    # Every count its total: the corrected interval is widened to hold the ratio the report shows beside it.
    for counts in [(6, 6, 50, 100), (0, 3, 1, 1000), (3, 3, 1, 2), (40, 50, 1, 1)]:
        observed = (counts[0] / counts[1]) / (counts[2] / counts[3])
        low, high = rate_ratio_interval(*counts)
        assert low <= observed <= high, counts
    assert all(np.isnan(rate_ratio_interval(1, 0, 10, 100)))


def _groups(sizes: dict[str, tuple[int, int, int, int]]) -> pd.DataFrame:
    """Rows per group: (establishments, listed, listed with a label, of which abusive)."""
    rows = []
    for name, (n, listed, labelled, abusive) in sizes.items():
        for i in range(n):
            label = (1.0 if i < abusive else 0.0) if i < labelled else np.nan
            rows.append({"g": name, "in_list": i < listed, "found": label})
    return pd.DataFrame(rows)


def _table(sizes, label="found"):
    return unflag_small(group_disparities(_groups(sizes), "g", "in_list", label, SETTINGS.tau), SETTINGS)


def test_fairness_passes_inside_the_band_and_alerts_outside_it():
    passed = fairness_check("list", "region", _table({"A": (1000, 50, 50, 40), "B": (500, 26, 26, 21)}), SETTINGS)
    assert passed.status is Status.PASSED and passed.group == "fairness"
    # B listed at 1.6x A's share, its FDR the same: an alert, not a failure.
    warned = fairness_check("list", "region", _table({"A": (1000, 50, 50, 40), "B": (500, 40, 40, 32)}), SETTINGS)
    assert warned.status is Status.WARNING and "B (part listée ×1,60)" in warned.detail
    # Its value, one ratio outside the band, is a count: « 1 », not « 1,000 » beside a band of ratios.
    from audit.report import checks_table

    (_, _, table), = checks_table([warned])
    assert table.rows[0][2] == "1" and warned.value == 1


def test_the_share_listed_by_region_is_shown_but_not_compared():
    """Each region's list holds what the settings give it (a share, at most max_list_lines): a large region capped at
    500 lines has a quarter of a small one's share, which says nothing of the model. Its FDR is still compared."""
    from audit.fairness import targeting_tables

    sirets = [f"{n:014d}" for n in range(6000)]
    region = ["11"] * 4000 + ["84"] * 2000
    ranked = pd.DataFrame({"siret": sirets, "region_code": region, "naf": "5610A", "headcount": 12,
                           "in_list": [i < 100 for i in range(4000)] + [i < 100 for i in range(2000)]})
    tables = targeting_tables(ranked, None, None, SETTINGS)
    by_region = tables[("list", "region")]
    assert by_region["share_set"].all() and not by_region["flagged"].any()
    assert set(by_region["share_listed_disparity"].round(2)) == {1.0, 2.0}  # shown as it is
    check = fairness_check("list", "region", by_region, SETTINGS)
    assert check.status is Status.WARNING and "aucun rapport à comparer" in check.detail  # no outcome known yet
    truth = pd.Series([1.0] * len(sirets), index=sirets)  # every listed establishment abusive: FDR 0 in both
    with_truth = targeting_tables(ranked, None, truth, SETTINGS)[("list", "region")]
    assert fairness_check("list", "region", with_truth, SETTINGS).status is Status.PASSED
    assert not tables[("list", "naf_section")]["share_set"].any()
    few = with_truth.assign(listed_with_label=SETTINGS.min_outcomes - 1)  # no region with enough known outcomes
    assert "aucune région de 10 issues connues" in fairness_check("list", "region", few, SETTINGS).detail
    # A region whose FDR interval lies wholly outside the band on too few outcomes is named, not judged, there too
    outside = few.assign(unjudged=~few["reference"], fdr_disparity=3.0, fdr_disparity_low=1.5, fdr_disparity_high=6.0)
    detail = fairness_check("list", "region", outside, SETTINGS).detail
    assert "aucune région de 10 issues connues" in detail and "non jugé : " in detail and "[1,50 ; 6,00]" in detail


def test_fairness_fails_when_the_false_discovery_ratio_is_out_of_the_band_beyond_chance():
    # B: FDR 0.8 against A's 0.2 on 200 labelled rows each: the whole interval is above 1.25.
    failed = fairness_check("inspections", "size_band",
                            _table({"A": (1000, 200, 200, 160), "B": (1000, 200, 200, 40)}), SETTINGS)
    assert failed.status is Status.FAILED and "B" in failed.detail
    # Twice A's FDR on 12 labelled rows is too uncertain to fail: an alert.
    unsure = fairness_check("inspections", "size_band",
                            _table({"A": (1000, 200, 200, 160), "B": (1000, 200, 12, 7)}), SETTINGS)
    assert unsure.status is Status.WARNING
    # On fewer than `min_outcomes` (10) known outcomes the FDR is not compared; whole interval outside the band, it is
    # said, not judged: an alert, not a silent pass.
    few = _table({"A": (1000, 200, 200, 160), "B": (1000, 200, 5, 0)})
    unjudged = fairness_check("inspections", "size_band", few, SETTINGS)
    assert unjudged.status is Status.WARNING and unjudged.value == 0
    assert unjudged.detail == (
        "tous les rapports comparés dans la bande ; 1 groupe comparé à « A » ; taux de fausses découvertes comparés : "
        "ceux d'au moins 10 issues connues (0 sur 1 groupe assez grand) ; taux de fausses découvertes dont tout "
        "l'intervalle à 95 % est hors de la bande, mais sur moins de 10 issues connues, non jugé : B (×5,00 [3,16 ; 6,56] "
        "sur 5 issues connues)")
    assert not few.set_index("group").loc["B", "flagged"] and few.set_index("group").loc["B", "unjudged"]
    from audit.report import disparity_table

    assert disparity_table(few, "size_band").rows[1][-1] == ("hors de la bande même à 95 %, sur trop peu d'issues "
                                                             "connues : non jugé")
    # Within the band's reach on few outcomes: neither compared nor said
    close = _table({"A": (1000, 200, 200, 160), "B": (1000, 200, 5, 4)})
    assert fairness_check("inspections", "size_band", close, SETTINGS).status is Status.PASSED


def test_small_groups_are_shown_but_never_flagged():
    table = _table({"A": (1000, 50, 50, 40), "B": (500, 26, 26, 21), "tiny": (10, 9, 9, 0)})
    check = fairness_check("list", "naf_section", table, SETTINGS)
    assert check.status is Status.PASSED and "1 petit groupe (moins de 20 établissements)" in check.detail
    assert table.set_index("group").loc["tiny", "small"] and not table.set_index("group").loc["tiny", "flagged"]


def test_groups_compared_are_counted_without_the_reference_even_when_it_is_small():
    # Past controls: the reference (the largest group) has 12 establishments, under the 20 of a group compared.
    check = fairness_check("inspections", "size_band", _table({"A": (12, 6, 6, 3), "B": (8, 4, 4, 2)}), SETTINGS)
    assert check.status is Status.WARNING, "nothing compared is not a pass"
    assert check.detail == ("aucun rapport à comparer : aucun groupe assez grand à comparer à « A » (groupe de référence "
                            "de moins de 20 établissements : rapports peu sûrs), 1 petit groupe (moins de 20 "
                            "établissements) montré sans être signalé")
    both = fairness_check("list", "region", _table({"A": (1000, 50, 50, 40), "B": (500, 26, 26, 21),
                                                    "tiny": (10, 9, 9, 0), "wee": (5, 1, 1, 0)}), SETTINGS)
    assert both.detail.endswith("1 groupe comparé à « A », 2 petits groupes (moins de 20 établissements) montrés "
                                "sans être signalés")


def test_groups_are_named_as_evaluators_read_them():
    frame = pd.DataFrame({"region_code": ["11", "84", None], "naf": ["5610A", "8810A", None], "headcount": [5, 300, np.nan]})
    named = with_groups(frame)
    assert named["region"].tolist() == ["Île-de-France", "Auvergne-Rhône-Alpes", "région inconnue"]
    assert named["naf_section"].tolist() == ["I — Hébergement et restauration", "Q — Santé humaine et action sociale",
                                             "section inconnue"]
    assert named["size_band"].tolist() == ["0 à 9 salariés", "250 salariés et plus", "effectif inconnu"]


@pytest.mark.parametrize(("psi", "status"), [(0.05, Status.PASSED), (0.1, Status.PASSED), (0.15, Status.WARNING),
                                             (0.25, Status.WARNING), (0.3, Status.FAILED)])
def test_drift_statuses_at_the_thresholds(psi, status):
    table = pd.DataFrame({"feature": ["a", "b"], "label_fr": ["variable a", "variable b"], "reference": TRAINING,
                          "psi": [0.01, psi]})
    assert drift_check(table, "Dérive", SETTINGS).status is status


def test_rule_checks_by_precision_of_the_established_and_probable_findings():
    accuracy = pd.DataFrame({
        "rule": ["carence", "carence", "duree_max", "renouvellements", "usage_hors_secteur"],
        "confidence": ["à vérifier", SCORED, SCORED, SCORED, SCORED],
        "findings": [10, 100, 100, 100, 0], "contract_precision": [0.1, 0.97, 0.9, 0.5, np.nan],
        "contract_recall": [0.5, 0.6, 0.7, 0.8, 0.0], "abusive_contracts": [50, 50, 50, 50, 3],
    })
    statuses = {c.name.split("« ")[1].split(" »")[0]: c.status for c in rule_checks(accuracy, SETTINGS)}
    assert list(statuses.values()) == [Status.PASSED, Status.WARNING, Status.FAILED, Status.WARNING]
    assert all(c.group == "rules" for c in rule_checks(accuracy, SETTINGS))
    details = [c.detail for c in rule_checks(accuracy, SETTINGS)]
    assert details[0] == "97,0\u202f% justes sur 100 constats, rappel 60,0\u202f% sur 50 contrats abusifs"
    # 284 of 299, 94.98 %: below the 95 % of the alert, its percentage does not round onto it.
    close = accuracy.assign(findings=299, contract_precision=284 / 299).iloc[[1]]
    assert rule_checks(close, SETTINGS)[0].status is Status.WARNING
    assert rule_checks(close, SETTINGS)[0].detail.startswith("94,98\u202f% justes sur 299 constats")
    one = accuracy.assign(findings=1, abusive_contracts=1).iloc[[1]]
    assert rule_checks(one, SETTINGS)[0].detail.endswith("justes sur 1 constat, rappel 60,0\u202f% sur 1 contrat abusif")


def test_selection_bias_alerts_and_never_fails():
    assert selection_bias_check(0.6, "off", SETTINGS).status is Status.PASSED
    assert selection_bias_check(0.95, "on", SETTINGS).status is Status.WARNING
    assert "avec pondération" in selection_bias_check(0.95, "on", SETTINGS).detail
    assert selection_bias_check(None, "off", SETTINGS).status is Status.WARNING


def _comparison(**precisions: tuple[float, float, float]) -> pd.DataFrame:
    """The training's comparison at 5 % over all folds: model -> (precision, low, high); other shares and folds beside."""
    rows = [{"model": model, "fold": fold, "share": share, "precision": p if fold == "all" and share == 0.05 else 0.99,
             "precision_low": low, "precision_high": high}
            for model, (p, low, high) in precisions.items() for fold in ("1", "all") for share in (0.05, 0.1)]
    return pd.DataFrame(rows)


def test_the_verdict_counts_whether_the_model_does_better_than_the_simple_methods():
    from audit.baselines import baselines_check

    clear = baselines_check(_comparison(lightgbm=(0.5, 0.35, 0.65), logistic=(0.3, 0.2, 0.4), random=(0.2, 0.1, 0.3)), 0.05)
    assert clear.status is Status.PASSED and clear.value == 0.5
    assert "Chaque méthode simple est sous l'intervalle de LightGBM." in clear.detail
    as_good = baselines_check(_comparison(lightgbm=(0.5, 0.35, 0.65), logistic=(0.48, 0.3, 0.6),
                                          rule_violations=(0.43, 0.3, 0.6), random=(0.2, 0.1, 0.3)), 0.05)
    assert as_good.status is Status.WARNING
    assert ("LightGBM 0,50 [0,35 ; 0,65] ; régression logistique 0,48 ; nombre d'infractions aux règles 0,43 ; "
            "tirage au hasard 0,20" in as_good.detail)
    assert "Régression logistique et nombre d'infractions aux règles font aussi bien" in as_good.detail
    worse = baselines_check(_comparison(lightgbm=(0.3, 0.2, 0.4), logistic=(0.5, 0.4, 0.6)), 0.05)
    assert worse.status is Status.FAILED and "Régression logistique fait mieux que le modèle" in worse.detail
    assert baselines_check(None, 0.05).status is Status.WARNING
    assert verdict_of([clear, worse]).headline.startswith("Verdict : échec")
    # Over all folds, every one of which Optuna tuned on (a version trained before the latest fold was held out)
    assert "tous plis temporels confondus ; Optuna a choisi les paramètres sur ces plis (valeurs optimistes)" in clear.detail


def test_the_model_is_judged_on_the_fold_optuna_did_not_tune_on():
    """With `folds_tuned_on`, the latest fold is judged (LightGBM best of its trials on the others); all folds are said
    beside it as holding the tuning's, with how many inspections each value counts."""
    from audit.baselines import baselines_check

    rows = []
    for model, by_fold in {"lightgbm": {"1": 0.83, "2": 0.6, "10": 0.33, "all": 0.49},
                           "random": {"1": 0.17, "2": 0.1, "10": 0.33, "all": 0.18}}.items():
        for fold, precision in by_fold.items():
            selected, n = {"1": (12, 58), "2": (15, 138), "10": (12, 79), "all": (39, 275)}[fold]
            rows.append({"model": model, "fold": fold, "share": 0.05, "precision": precision,
                         "precision_low": precision - 0.2, "precision_high": precision + 0.2, "selected": selected, "n": n})
    comparison = pd.DataFrame(rows)
    held_out = baselines_check(comparison, 0.05, tuned_on=2)
    assert held_out.status is Status.WARNING and held_out.value == 0.33  # the latest fold: « 10 » after « 2 »
    assert held_out.detail == (
        "Précision des 5\u202f% premiers de chaque région sur le dernier pli temporel (pli 10), resté hors du réglage "
        "d'Optuna (12 sélectionnés sur 79 contrôles) : LightGBM 0,33 [0,13 ; 0,53] ; tirage au hasard 0,33. Tirage au "
        "hasard fait aussi bien, à l'incertitude près : dans l'intervalle de LightGBM. Sur les 3 plis (39 sélectionnés "
        "sur 275 contrôles), dont 2 plis où Optuna a choisi les paramètres (valeurs optimistes) : LightGBM 0,49 "
        "[0,29 ; 0,69] ; tirage au hasard 0,18.")
    # Without it, every fold was tuned on: all folds are judged, and said optimistic
    pooled = baselines_check(comparison, 0.05)
    assert pooled.status is Status.PASSED and pooled.value == 0.49 and "(39 sélectionnés sur 275 contrôles)" in pooled.detail


def test_every_group_of_checks_says_what_to_do_when_one_does_not_pass():
    from audit.report import NEXT_STEPS
    from audit.verdict import GROUPS

    assert set(NEXT_STEPS) == set(GROUPS)


def test_the_lines_led_by_a_reason_no_better_than_chance_are_named():
    from audit.reasons_truth import precision_by_reason, reason_truth_check

    growth, rules = "headcount_growth_12m", "legal_rules"
    ranked = pd.DataFrame({
        "siret": [f"{i:014d}" for i in range(40)],
        "in_list": [True] * 36 + [False] * 4,
        "exploration": [False] * 34 + [True] * 2 + [False] * 4,
        "reason_1_feature": [rules] * 20 + [growth] * 12 + [""] * 4 + [""] * 4,
    })
    truth = pd.Series([1] * 12 + [0] * 8 + [1] + [0] * 11 + [0] * 8, index=ranked["siret"])
    table = precision_by_reason(ranked, truth)
    assert table[["reason", "lines", "abusing"]].values.tolist() == [[rules, 20, 12], [growth, 12, 1], ["(aucune raison)", 2, 0]]
    check = reason_truth_check(table, base_rate=0.1, settings=AuditConfig(min_outcomes=10))
    assert check.status is Status.WARNING and check.value == pytest.approx(12 / 34)
    assert "Les lignes menées par « évolution de l'effectif sur 12 mois »" in check.detail
    # The list as a whole first: 13 of its 34 lines scored (exploration left out) abuse
    assert check.detail.startswith("Les 34 lignes de la liste classées par le score (hors tirage d'exploration) : "
                                   "38,2\u202f% en abus [")
    assert "« infractions potentielles (règles du Code du travail) » : 20 lignes, 60,0" in check.detail
    assert reason_truth_check(table[table["reason"] == rules], 0.1, AuditConfig(min_outcomes=10)).status is Status.PASSED


def test_the_model_is_compared_with_the_simple_methods_on_the_simulated_truth_month_by_month():
    """The training's truth over its validation months: a simple method better on average and most months fails the
    check; better on average only, an alert; the ceilings that know the truth are not simple methods."""
    from audit.baselines import truth_baselines_check

    months = [f"2025-{m:02d}" for m in range(7, 12)]

    def over_folds(**by_model: list[float]) -> pd.DataFrame:
        return pd.DataFrame([{"fold": 1, "as_of": month, "model": model, "share": share, "precision": values[i]}
                             for model, values in by_model.items() for i, month in enumerate(months)
                             for share in (0.05, 0.1)])

    beaten = truth_baselines_check(over_folds(lightgbm=[0.25, 0.25, 0.23, 0.23, 0.22],
                                              rule_violations=[0.34, 0.33, 0.35, 0.33, 0.32],
                                              random=[0.04] * 5, oracle=[0.9] * 5), 0.05)
    assert beaten.status is Status.FAILED and beaten.value == pytest.approx(0.236)
    assert beaten.detail == (
        "Précision moyenne des 5\u202f% premiers de chaque région face à la vérité de la population simulée, sur les "
        "5 mois des plis de validation (2025-07 à 2025-11) : LightGBM 0,24 ; nombre d'infractions aux règles 0,33 "
        "(au-dessus de LightGBM 5 mois sur 5) ; tirage au hasard 0,04 (au-dessus de LightGBM 0 mois sur 5). Nombre "
        "d'infractions aux règles fait mieux que le modèle, en moyenne et la plupart des mois.")
    once = truth_baselines_check(over_folds(lightgbm=[0.3, 0.3, 0.3, 0.2, 0.2], logistic=[0.1, 0.1, 0.29, 0.5, 0.5]), 0.05)
    assert once.status is Status.WARNING and "en moyenne, mais pas la plupart des mois" in once.detail
    clear = truth_baselines_check(over_folds(lightgbm=[0.3] * 5, logistic=[0.2] * 5, perfect_list=[1.0] * 5), 0.05)
    assert clear.status is Status.PASSED and "perfect" not in clear.detail and "liste parfaite" not in clear.detail
