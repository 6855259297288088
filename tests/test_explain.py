"""`champollion explain`: one establishment of the tiny hand-made world scored by a small booster wrapped as
the saved model is, with its SHAP breakdown, evidence, contract timeline, text and picture."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.config import Config
from core.home import Home
from core.scoring_config import ScoringConfig
from features.asof import prepare_as_of
from features.build import compute_features
from features.catalog import CATEGORICAL, FEATURES_SCHEMA_VERSION, feature_names
from scoring.explain import (
    Explanation,
    audit_paragraph,
    contract_timeline,
    establishment_contracts,
    explain_establishment,
    explain_month,
    explanation_text,
    month_contracts,
    person_labels,
    timeline_figure,
    write_explanation,
)
from scoring.list_inputs import list_inputs_folder
from scoring.monthly import score_month
from scoring.reasons import WHOLE_WINDOWS, CoveredWindows, covered_windows
from tests.dsn_builder import envoi, write_dsn
from tests.feature_results import read_whole
from tests.mini_world import AGENCY, CARE_HOME, MONTHS, RESTAURANT, SHOP, declarations_for, write_months
from warehouse.engine import published_version
from warehouse.ingest import ingest
from warehouse.sql_engine import DuckDBEngine

AS_OF = date(2025, 8, 1)


@pytest.fixture(scope="module")
def home(tmp_path_factory, test_key) -> Home:
    """The mini world ingested: its declarations begin in 2024-07."""
    root = tmp_path_factory.mktemp("explain")
    home = Home(root / "home")
    ingest(write_months(root / "dsn", MONTHS), home, Config(), test_key)
    return home


def month_of(home: Home, as_of: date):
    """The features and evidence as of `as_of`, and every establishment's contracts."""
    with DuckDBEngine() as engine:
        table = read_whole(compute_features(engine, home.warehouse, as_of, Config()))
    with DuckDBEngine() as engine:  # compute_features drops its working tables: prepare them again
        engine.attach_warehouse(home.warehouse)
        prepare_as_of(engine, as_of, Config().features)
        contracts = {siret: establishment_contracts(engine.con, siret) for siret in table.features["siret"]}
    return table, contracts


@pytest.fixture(scope="module")
def month(home):
    """The mini world's features, evidence and every establishment's contracts as of 2025-08."""
    return month_of(home, AS_OF)


def small_model(table: pd.DataFrame, seed: int = 0):
    """A 30-tree booster trained on noisy copies of the table's rows, wrapped like the registered model."""
    import lightgbm as lgb

    from training.calibration import ScoreCalibrator
    from training.scoring_model import ScoringModel

    rng = np.random.default_rng(seed)
    rows = table.sample(400, replace=True, random_state=seed).reset_index(drop=True)
    for name in feature_names():
        if name not in CATEGORICAL:
            values = pd.to_numeric(rows[name], errors="coerce").astype("float64")
            rows[name] = values * rng.lognormal(0, 0.3, len(rows)) + rng.normal(0, 0.05, len(rows))
    label = (rows["n_rule_hits_total"] + rng.normal(0, 1, len(rows)) > 1).astype(int).to_numpy()
    categories = {c: sorted(table[c].dropna().astype(str).unique()) for c in CATEGORICAL}
    model = ScoringModel(None, None, feature_names(), categories, FEATURES_SCHEMA_VERSION, ["2025-01"], {}, {}, 0.05, "none")
    params = {"objective": "binary", "num_leaves": 7, "max_depth": 3, "min_data_in_leaf": 5, "verbosity": -1,
              "num_threads": 1, "seed": seed, "min_data_per_group": 5}
    model.booster = lgb.train(params, lgb.Dataset(model.inputs(rows), label), num_boost_round=30)
    model.calibrator = ScoreCalibrator("platt").fit(model.raw_scores(rows), label)
    return model


@pytest.fixture(scope="module")
def explained(month):
    table, contracts = month
    model = small_model(table.features)
    return explain_establishment(model, "7", table.features, table.evidence, contracts[RESTAURANT], RESTAURANT,
                                 AS_OF, Config(), declared=MONTHS)


def test_shap_adds_up_to_the_raw_score_and_covers_every_feature(explained):
    assert explained.shap_gap < 1e-9
    assert sorted(explained.contributions["feature"]) == sorted(feature_names())
    magnitudes = explained.contributions["contribution"].abs().to_numpy()
    assert (np.diff(magnitudes) <= 1e-15).all()  # by |contribution|
    assert np.isclose(explained.reasons["contribution"].sum(), explained.contributions["contribution"].sum())
    assert explained.establishment["siret"] == RESTAURANT and explained.scored_national == 4
    assert 1 <= explained.establishment["rank_national"] <= 4 and 0 < explained.establishment["score"] < 1


def test_persons_are_numbered_by_first_start_and_evidence_is_linked(explained):
    contracts = explained.contracts
    assert "person_key" not in contracts.columns and "contract_id" not in contracts.columns
    firsts = contracts.groupby("person")["start_date"].min().sort_values()
    assert list(firsts.index) == [f"salarié {n}" for n in range(1, len(firsts) + 1)]
    assert firsts.iloc[0] == pd.Timestamp("2020-01-01")  # the cook's CDI, the oldest contract
    # Rotating ATA CDDs on 'serveur' (persons 2, 3, 2): the carence checks point at known contracts.
    carence = explained.evidence[explained.evidence["rule"] == "carence"]
    assert len(carence) >= 1 and carence["contract_no"].notna().all()
    assert set(carence["person"]) <= set(contracts["person"])
    assert int(contracts["n_evidence"].sum()) == len(explained.evidence)


def test_text_names_the_evidence_and_no_person_identifier(explained, month):
    table, contracts = month
    text = explanation_text(explained)
    assert "Délai de carence non respecté (L1244-3" in text and "Infraction potentielle au délai de carence" in text
    assert "salarié 1" in text and "salarié 2" in text
    # The header says where to go: the address as last declared (the restaurant moved in June 2025).
    assert re.search(r"Adresse\W+25 BOULEVARD VOLTAIRE, 75011 PARIS", text)
    assert "Données utilisées" in text and "Opérations effectuées" in text and "valeur de base" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    keys = set(contracts[RESTAURANT]["person_key"]) | set(table.evidence["person_key"])
    ids = set(contracts[RESTAURANT]["contract_id"])
    assert not any(key in text for key in keys | ids)
    assert not re.search(r"\b[12]\d{12}\b", text)  # no NIR-like number
    assert not re.search(r"\b[0-9a-f]{16,}\b", text)  # no pseudonym or hash


def test_the_star_is_explained_only_when_a_reason_bears_it(explained):
    first_only = [True] + [False] * (len(explained.reasons) - 1)  # the largest contribution
    starred = replace(explained, reasons=explained.reasons.assign(listed_reason=first_only))
    assert "* raison imprimée sur la liste régionale." in explanation_text(starred)
    unstarred = replace(explained, reasons=explained.reasons.assign(listed_reason=False))
    assert "raison imprimée" not in explanation_text(unstarred)
    assert "Une contribution positive augmente le score" in explanation_text(unstarred)


def test_the_months_read_are_those_declared(explained):
    """As of 2025-08 the indicators' window (from 2024-09) is whole but the 24 months of contracts are not: the
    warehouse's declarations begin in 2024-07. A month it does not declare is named."""
    paragraph = audit_paragraph(explained)
    assert ("Les contrats sont reconstitués sur 14 mois au lieu de 24 (depuis le 01/07/2024, premier mois de DSN "
            "disponible : historique incomplet, les contrats terminés avant ce mois ne sont pas connus) et les "
            "indicateurs calculés sur les 12 derniers mois (depuis le 01/09/2024).") in paragraph
    assert "Aucune DSN" not in paragraph and explained.examined == "sur les 12 derniers mois"
    gap = replace(explained, gaps=(date(2025, 3, 1),))
    assert "Aucune DSN n'est disponible pour mars 2025 : ces mois manquent aux contrats et aux indicateurs." in (
        audit_paragraph(gap))
    assert gap.examined == "sur les 12 derniers mois, sans DSN pour mars 2025"


def test_the_paragraph_gives_the_list_size_of_the_establishments_region(explained):
    facts = explained.model_facts
    assert ("la liste d'une région en retient 5,0\u202f% (au plus 500), dont 10,0\u202f% tirés au hasard"
            in audit_paragraph(explained))
    unlimited = replace(explained, model_facts={**facts, "max_list_lines": None})
    assert "la liste d'une région en retient 5,0\u202f%, dont 10,0\u202f%" in audit_paragraph(unlimited)
    region = str(explained.establishment["region_code"])
    fixed = replace(explained, model_facts={**facts, "list_size_by_region": {region: 40}})
    assert ("la liste d'une région en retient au plus 40 (nombre fixé pour la région de l'établissement), dont"
            in audit_paragraph(fixed))


def test_a_window_that_begins_before_the_first_declared_month_is_said_and_warned(home, caplog):
    """As of 2024-12 the window would begin in 2024-01, six months before the first declaration: computing the
    features warns, naming the month, and the explanation states the months really read, not twelve."""
    early = date(2024, 12, 1)
    with caplog.at_level(logging.WARNING, logger="champollion.features"):
        table, contracts = month_of(home, early)
    assert ("features as of 2024-12 count their 12-month window, or the month before it, over part of it (the "
            "warehouse's declarations begin in 2024-07)") in caplog.text
    explanation = explain_establishment(small_model(table.features), "7", table.features, table.evidence,
                                        contracts[RESTAURANT], RESTAURANT, early, Config(), declared=MONTHS)
    paragraph = audit_paragraph(explanation)
    assert ("Les contrats sont reconstitués sur 6 mois au lieu de 24 (depuis le 01/07/2024, premier mois de DSN "
            "disponible : historique incomplet, les contrats terminés avant ce mois ne sont pas connus) et les "
            "indicateurs calculés sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024) : ceux dits « sur 12 "
            "mois » portent sur une période plus courte.") in paragraph
    assert "derniers mois (depuis le 01/01/2024)" not in paragraph
    # The restaurant's own declarations, from 2024-07 too: its facts « sur 12 mois » say so; its 3 months are whole.
    assert explanation.covered == CoveredWindows("sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024)")
    assert ("Les DSN de l'établissement ne couvrent pas toute cette période : ses indicateurs « sur 12 mois » portent "
            "sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024).") in paragraph
    labels = explanation.contributions.set_index("feature")["label_fr"]
    assert labels["hires_12m"] == "embauches (CDI, CDD, missions) sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024)"
    assert labels["hires_3m"] == "embauches sur 3 mois"
    # No finding is claimed over more months than the establishment declared, as its reasons say.
    assert explanation.examined == "sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024)"
    without = replace(explanation, evidence=explanation.evidence.iloc[:0])
    assert ("Infractions potentielles relevées : aucune sur 6 mois au lieu des 12 derniers (depuis le 01/07/2024)."
            ) in " ".join(explanation_text(without).split())  # lines wrapped at 100
    assert replace(explanation, covered=WHOLE_WINDOWS).examined == (
        "depuis le 01/07/2024, premier mois de DSN disponible (historique incomplet)")


@pytest.mark.parametrize(("as_of", "covered"), [
    (date(2025, 6, 1), WHOLE_WINDOWS),  # 2024-07 to 2025-06: exactly the 12 months of the window declared
    (date(2025, 5, 1), CoveredWindows("sur 11 mois au lieu des 12 derniers (depuis le 01/07/2024)")),
])
def test_the_months_an_establishment_declared_are_kept_with_its_features(home, as_of, covered):
    """Each row of the feature table keeps the months of its window its establishment declared, as of its month: with
    the declarations beginning in 2024-07, twelve as of 2025-06 (none of the later months read), eleven as of 2025-05;
    its reasons and explanation state them (`covered_windows`)."""
    with DuckDBEngine() as engine:
        table = read_whole(compute_features(engine, home.warehouse, as_of, Config())).features
    row = table.set_index("siret").loc[RESTAURANT].to_dict() | {"siret": RESTAURANT}
    assert row["first_declared_month"] == pd.Timestamp("2024-07-01")
    assert covered_windows(row, Config().features) == covered


def test_files_are_written(explained, tmp_path):
    text_path, picture_path = write_explanation(explained, tmp_path / "explain")
    assert text_path.name == f"{RESTAURANT}.txt" and picture_path.name == f"{RESTAURANT}.png"
    data = picture_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 800 <= width <= 3000 and 200 <= height <= 4000 and 10_000 < len(data) < 2_000_000


def test_usage_and_missions_at_the_shop(month):
    table, contracts = month
    model = small_model(table.features, seed=1)
    shop = explain_establishment(model, "7", table.features, table.evidence, contracts[SHOP], SHOP, AS_OF, Config(),
                                 declared=MONTHS)
    assert {"usage", "mission", "cdi"} <= set(shop.contracts["kind"])
    assert {"usage_hors_secteur"} <= set(shop.evidence["rule"])
    assert "CDD d'usage" in explanation_text(shop)


def test_unknown_siret_is_refused(month):
    table, contracts = month
    with pytest.raises(LookupError, match="99999999999999"):
        explain_establishment(small_model(table.features), "7", table.features, table.evidence,
                              contracts[RESTAURANT].iloc[:0], "99999999999999", AS_OF, Config(), declared=MONTHS)


def test_command_is_registered():
    from champollion.cli import app

    result = CliRunner().invoke(app, ["explain", "--help"])
    assert result.exit_code == 0 and "SIRET" in result.output


def test_evidence_stored_with_ids_made_another_way_still_points_at_its_contracts(month, explained):
    """Evidence kept with a list, or stored, before contract ids were made as they are now: matched by declarant,
    person, number and start, each row still finds its contract in the timeline."""
    table, contracts = month
    model = small_model(table.features)
    renamed = table.evidence.assign(contract_id="old-" + table.evidence["contract_id"].astype(str))
    again = explain_establishment(model, "7", table.features, renamed, contracts[RESTAURANT], RESTAURANT, AS_OF, Config(),
                                  declared=MONTHS)
    pd.testing.assert_frame_equal(again.contracts, explained.contracts)
    pd.testing.assert_frame_equal(again.evidence, explained.evidence)


def test_persons_starting_on_one_day_are_numbered_whatever_their_keys():
    """Two people whose first contracts start on one day: the numbers follow the contracts (their ids' order is
    not the pseudonyms'), the same under other keys; « salarié 10 » comes after « salarié 2 »."""
    people = [f"p{n:02d}" for n in range(11)]
    contracts = pd.DataFrame({
        "person_key": people,
        "contract_id": [f"{n:02d}-id" for n in range(11)],
        "start_date": pd.to_datetime(["2025-01-06"] * 2 + [f"2025-02-{d:02d}" for d in range(1, 10)]),
    })
    labels = person_labels(contracts)
    rekeyed = contracts.assign(person_key=[f"z{99 - n}" for n in range(11)])  # the keys' order reversed
    assert list(person_labels(rekeyed).values()) == list(labels.values())
    assert [labels[p] for p in people[:2]] == ["salarié 1", "salarié 2"]
    timeline = pd.DataFrame({**contracts, "post": "serveur", "job_label": "serveur", "kind": "cdd", "motif": "02",
                             "renewals": 0, "end_date": pd.NaT,
                             "period_end": pd.Timestamp("2025-08-31")})
    timeline["start_date"] = pd.Timestamp("2025-01-06")
    shown = contract_timeline(timeline, pd.DataFrame(), labels, date(2025, 8, 31))
    assert list(shown["person"]) == [f"salarié {n}" for n in range(1, 12)]
    picture = timeline_figure(SimpleNamespace(
        contracts=shown.drop(columns=["contract_id"]), evidence=pd.DataFrame(columns=["rule", "event_date", "post_shown",
                                                                                      "person"]),
        window={"history_start": date(2024, 1, 1), "window_start": date(2024, 9, 1), "window_from": date(2024, 9, 1),
                "as_of_end": date(2025, 8, 31)},
        establishment=pd.Series({"siret": RESTAURANT, "naf": "5610A", "region": "Île-de-France"}), month=AS_OF,
        examined="sur les 12 derniers mois"))
    rows = [label.get_text().split(" — ")[-1] for label in picture.axes[0].get_yticklabels()]
    assert rows == [f"salarié {n}" for n in range(1, 12)]


MARCH = date(2025, 3, 1)


def without_march(_siret: str, month: date) -> bool:
    return month != MARCH


def listed_home(tmp_path, test_key, monkeypatch, declares: Callable[[str, date], bool] = lambda *_: True,
                all_reasons: bool = False) -> tuple[Home, Config]:
    """The mini world's months ingested (the declarations `declares` keeps), a small model served as the registered
    one, and the list of 2025-08 drawn up with it (every line explained with `all_reasons`)."""
    home = Home(tmp_path / "home")
    config = Config(scoring=ScoringConfig(file_workers=1))
    ingest(write_months(tmp_path / "dsn", MONTHS, declares), home, config, test_key)
    with DuckDBEngine() as engine:
        model = small_model(read_whole(compute_features(engine, home.warehouse, AS_OF, config)).features)
    monkeypatch.setattr("scoring.monthly.load_model", lambda *_, **__: (model, "7"))
    monkeypatch.setattr("web.data.load_model", lambda *_, **__: (model, "7"))
    score_month(home, config, AS_OF, all_reasons=all_reasons)
    return home, config


def test_an_old_list_is_explained_as_known_when_it_was_drawn_up(tmp_path, test_key, monkeypatch):
    """The list of 2025-08 was drawn up while the warehouse held nothing for March 2025; a declaration of that month
    received afterwards (the care home's, late) does not change how its lines are explained: their months without
    DSN are judged from what the list read, not from the warehouse as it is today."""
    home, config = listed_home(tmp_path, test_key, monkeypatch, without_march)
    before = explain_month(home, config, RESTAURANT, AS_OF)
    assert before.gaps == (MARCH,) and before.establishment["in_list"]
    assert "Aucune DSN n'est disponible pour mars 2025" in audit_paragraph(before)
    assert before.covered == CoveredWindows("sur les 12 derniers mois, sans DSN pour mars 2025")

    ingest(write_months(tmp_path / "late", [MARCH], declares=lambda siret, _: siret == CARE_HOME), home, config,
           test_key)
    # The lists' settings changed since: the list is described as it was drawn up (5 %, at most 500 lines).
    config = Config(scoring=ScoringConfig(file_workers=1, list_share=0.2, max_list_lines=None, exploration_share=0.3))
    after = explain_month(home, config, RESTAURANT, AS_OF)
    assert after.gaps == (MARCH,) and after.notice == ""
    assert explanation_text(after) == explanation_text(before)
    assert "en retient 5,0\u202f% (au plus 500), dont 10,0\u202f% tirés au hasard" in audit_paragraph(after)
    # The web page explaining the line shares the rule.
    from web.data import HomeData

    pages = HomeData(home, config)
    try:
        page = pages.establishment(AS_OF, RESTAURANT).explanation
    finally:
        pages.engines.close()
    assert page.gaps == (MARCH,) and explanation_text(page) == explanation_text(before)



def test_an_old_lists_contracts_are_those_it_knew(tmp_path, test_key, monkeypatch):
    """The list of 2025-08 was drawn up while the warehouse held nothing for March 2025. The care home's declaration
    of March, received afterwards, changes its contracts as of 2025-08, but not those its line of the list shows
    (the evidence and reasons were computed without it): the page says it is left out, also once the warehouse is
    rebuilt from its files, and once a declaration the list read comes again as an identical copy. Once one is
    replaced, a file it read is gone, or the manifest of files is lost, its contracts as the list knew them can no
    longer be rebuilt: today's are shown, and said so."""
    from web.data import HomeData

    # every line explained: the care home's kept with the list
    home, config = listed_home(tmp_path, test_key, monkeypatch, without_march, all_reasons=True)
    before = explain_month(home, config, CARE_HOME, AS_OF)
    assert before.timeline_note == "" and len(before.contracts)
    pages = HomeData(home, config)  # one application, open while versions are published

    def both() -> list[Explanation]:
        """The line explained by `explain` and by the web page."""
        return [explain_month(home, config, CARE_HOME, AS_OF), pages.establishment(AS_OF, CARE_HOME).explanation]

    def today() -> list[tuple[str, str, str, int]]:
        return _spans(month_contracts(home, config, AS_OF, CARE_HOME).contracts)

    late = ("Contrats tels qu'ils étaient connus lorsque la liste d'août 2025 a été établie : une déclaration reçue "
            "depuis, pour août 2025 ou un mois antérieur, de l'établissement ou d'une agence d'intérim qui y place des "
            "salariés, n'y figure pas.")
    try:
        ingest(write_months(tmp_path / "late", [MARCH], declares=lambda siret, _: siret == CARE_HOME), home, config,
               test_key)
        assert today() != _spans(before.contracts)  # the late month changes them
        for after in both():
            pd.testing.assert_frame_equal(after.contracts, before.contracts)
            assert after.timeline_note == late and late in explanation_text(after).replace("\n", " ")
            assert not after.timeline_today

        # Rebuilt from its files, the warehouse keeps when each came.
        ingest([], home, config, test_key, rebuild=True)
        for after in both():
            pd.testing.assert_frame_equal(after.contracts, before.contracts)
            assert after.timeline_note == late

        # June's declaration of the care home sent again as it was, in another file: whichever copy is read, it is
        # the one the list read.
        june = date(2025, 6, 1)
        original = next(d for d in declarations_for(june, (june.year * 12 + june.month) * 10) if d.siret == CARE_HOME)
        ingest([write_dsn(tmp_path / "copy" / "2025-06.dsn", envoi([original]), newline="\n")], home, config, test_key)
        for after in both():
            pd.testing.assert_frame_equal(after.contracts, before.contracts)
            assert after.timeline_note == late

        # June's declaration replaced, the same contents sent again: the list read the one replaced.
        again = replace(original, type="03", replaces=original.identifier(), order="999", created="2025-09-20")
        ingest([write_dsn(tmp_path / "again" / "2025-06.dsn", envoi([again]))], home, config, test_key)
        for after in both():
            assert after.timeline_note.startswith("Contrats tels que déclarés aujourd'hui : depuis que la liste d'août "
                                                  "2025 a été établie, des déclarations de l'établissement")
            assert _spans(after.contracts) == today() and after.timeline_today

        # A file the list read gone, and the warehouse rebuilt without it; then the manifest of files lost: what
        # arrived after the list is not known (a page of the same version is kept: another application reads it).
        (tmp_path / "dsn" / "2025-01.dsn").unlink()
        ingest([], home, config, test_key, rebuild=True)
        for lost in ("file", "manifest"):
            if lost == "manifest":
                (published_version(home.warehouse).parent / "staging" / "files.parquet").unlink()
                pages.engines.close()
                pages = HomeData(home, config)
            for after in both():
                assert after.timeline_note.startswith("Contrats tels que déclarés aujourd'hui : des fichiers DSN lus pour "
                                                      "la liste d'août 2025 ne sont plus inventoriés"), lost
                assert _spans(after.contracts) == today() and after.timeline_today

        # A list drawn up before lists kept their files: what arrived since is not known either.
        facts = list_inputs_folder(home, AS_OF) / "inputs.json"
        facts.write_text(json.dumps({k: v for k, v in json.loads(facts.read_text()).items() if k != "files_known"}))
        for after in both():
            assert after.timeline_note.startswith("Contrats tels que déclarés aujourd'hui : la liste d'août 2025 a été "
                                                  "établie par une version antérieure de l'application")
            assert after.timeline_today
    finally:
        pages.engines.close()


def test_an_agency_that_no_longer_places_workers_is_still_looked_at(tmp_path, test_key, monkeypatch):
    """The temp-work agency's declarations, whose missions at the shop the list's evidence names, are replaced since,
    each mission now at the care home: the agency places no one at the shop today, yet the shop's line of the old
    list says that its contracts are today's, not those the list knew."""
    home, config = listed_home(tmp_path, test_key, monkeypatch, all_reasons=True)
    before = explain_month(home, config, SHOP, AS_OF)
    assert before.timeline_note == "" and AGENCY in set(before.evidence["declaring_siret"])
    moved = [replace(d, type="03", replaces=d.identifier(), order=str(int(d.order) + 5000), created="2025-09-20",
                     individuals=[replace(person, contracts=[replace(c, user_siret=CARE_HOME) for c in person.contracts])
                                  for person in d.individuals],
                     workplaces=[(CARE_HOME, "8710A", "69003")])
             for month in MONTHS for d in declarations_for(month, (month.year * 12 + month.month) * 10)
             if d.siret == AGENCY and d.individuals]
    ingest([write_dsn(tmp_path / "moved" / "agency.dsn", envoi(moved))], home, config, test_key)
    after = explain_month(home, config, SHOP, AS_OF)
    assert after.timeline_note.startswith("Contrats tels que déclarés aujourd'hui : depuis que la liste d'août 2025")
    assert _spans(after.contracts) == _spans(month_contracts(home, config, AS_OF, SHOP).contracts) != _spans(
        before.contracts)


def test_an_agencys_late_months_are_left_out_though_they_hold_no_mission_there(tmp_path, test_key, monkeypatch):
    """The temp-work agency's declarations of June and July 2025 came after the list, with nobody in them: the months
    it declared after its mission at the shop still decide whether that mission's end is inferred, so they are left
    out, and the shop's contracts are those the list knew."""
    summer = (date(2025, 6, 1), date(2025, 7, 1))
    home, config = listed_home(tmp_path, test_key, monkeypatch,
                               lambda siret, month: siret != AGENCY or month not in summer, all_reasons=True)
    before = explain_month(home, config, SHOP, AS_OF)
    empty = [replace(d, individuals=[]) for month in summer
             for d in declarations_for(month, (month.year * 12 + month.month) * 10) if d.siret == AGENCY]
    ingest([write_dsn(tmp_path / "late" / "agency.dsn", envoi(empty))], home, config, test_key)
    assert _spans(month_contracts(home, config, AS_OF, SHOP).contracts) != _spans(before.contracts)
    after = explain_month(home, config, SHOP, AS_OF)
    pd.testing.assert_frame_equal(after.contracts, before.contracts)
    assert after.timeline_note.startswith("Contrats tels qu'ils étaient connus lorsque la liste d'août 2025 a été "
                                          "établie : 2 déclarations reçues depuis") and not after.timeline_today


def _spans(contracts: pd.DataFrame) -> list[tuple[str, str, str, int]]:
    """Each contract's start, end, kind and renewals, in order: what a timeline draws of it."""
    return sorted(zip(contracts["start_date"].astype(str), contracts["end_date"].astype(str), contracts["kind"],
                      contracts["renewals"].astype(int), strict=True))
