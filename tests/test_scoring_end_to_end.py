"""The monthly lists of the small simulated population, from real DSN files to the regional files."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import replace
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import scoring.monthly
from core.french import of_month_fr
from features.asof import add_months
from features.build import EVIDENCE_FILE, feature_dir, load_features
from features.store import INSPECTION_FEATURES, declared_months
from scoring.explain import audit_paragraph, explain_establishment, explain_month, explanation_text, month_contracts
from scoring.monthly import (
    EXPLORATION_REASON,
    RANKED_COLUMNS,
    load_model,
    month_features,
    previous_ranking,
    read_ranking,
    score_month,
    score_stored,
    score_table,
)
from scoring.reasons import evidence_posts
from simulation.geography import CHEF_LIEU, STREETS, city_of
from warehouse.inspections import load_inspections

pytestmark = pytest.mark.slow


def test_every_establishment_is_ranked_and_each_region_gets_its_files(small_pipeline):
    _, home, _ = small_pipeline
    month = declared_months(home.warehouse)[-1]
    folder = home.lists / f"{month:%Y-%m}"
    ranked = pd.read_csv(folder / "ranked.csv", dtype={"siret": "string", "region_code": "string"})
    features = load_features(home.data, month)
    assert sorted(ranked["siret"]) == sorted(features["siret"].astype(str))
    assert {*RANKED_COLUMNS, "reason_1", "reason_2", "reason_3", "model_version"} <= set(ranked.columns)
    assert ranked["rank_national"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked["score"].is_monotonic_decreasing and ranked["score"].between(0, 1).all()
    listed = ranked[ranked["in_list"]]
    assert not listed["recently_inspected"].any()
    assert listed[["street", "postal_code", "city"]].notna().all().all(), "every listed line says where to go"
    assert (listed["reason_1"].fillna("") != "").all(), "every listed line says why it is there"
    assert (listed.loc[listed["exploration"] & listed["reason_1_feature"].isna(), "reason_1"] == EXPLORATION_REASON).all()
    assert ranked.loc[~ranked["in_list"], "reason_1"].isna().all()
    for region_code in listed["region_code"].unique():
        assert len(list(folder.glob(f"{region_code}-*.xlsx"))) == 1
        assert len(list(folder.glob(f"{region_code}-*.html"))) == 1
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["month"] == f"{month:%Y-%m}" and summary["scored"] == len(ranked)
    assert summary["listed"] == len(listed) and summary["model_version"] == "1"
    evidence = pd.read_csv(folder / "evidence.csv", dtype={"siret": "string"})
    assert set(evidence["siret"]) <= set(listed["siret"]) and evidence["street"].notna().all()
    assert "person_key" not in evidence.columns and evidence["person_ref"].str.len().eq(8).all()


def test_a_month_is_compared_with_the_list_of_the_month_before(small_pipeline, tmp_path):
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    shutil.rmtree(home.lists)
    month = declared_months(home.warehouse)[-1]
    before = score_month(home, config, add_months(month, -1))
    after = score_month(home, config, month)
    assert (before.ranked.loc[before.ranked["in_list"], "change"] == "first").all()  # no list the month before
    was = set(before.ranked.loc[before.ranked["in_list"], "siret"])
    now = after.ranked.set_index("siret")
    for siret in was:
        if siret in now.index:
            assert now.at[siret, "change"] == ("still" if now.at[siret, "in_list"] else "left")
    assert set(now.index[now["change"] == "new"]).isdisjoint(was)
    assert after.summary["previous_list"] is True


def test_the_listed_evidence_is_the_one_computed_with_the_features_scored(small_pipeline, tmp_path, monkeypatch):
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    month = declared_months(home.warehouse)[-1]
    published = pd.read_csv(home.lists / f"{month:%Y-%m}" / "evidence.csv", dtype=str)
    assert len(published) > 0
    found = scoring.monthly.month_features

    def found_then_another_run_stores_the_month(*args, **kwargs):
        stored = found(*args, **kwargs)
        path = feature_dir(home.data, month) / EVIDENCE_FILE  # another run's evidence, with no finding
        pq.write_table(pq.read_table(path).slice(0, 0), path.with_name("other.parquet"))
        path.with_name("other.parquet").replace(path)
        return stored

    monkeypatch.setattr(scoring.monthly, "month_features", found_then_another_run_stores_the_month)
    score_month(home, config, month)
    pd.testing.assert_frame_equal(pd.read_csv(home.lists / f"{month:%Y-%m}" / "evidence.csv", dtype=str), published)


def test_a_stored_month_is_scored_as_with_its_whole_evidence(small_pipeline, monkeypatch):
    _, home, config = small_pipeline
    month = declared_months(home.warehouse)[-1]
    model, _ = load_model(home, config)
    inspections = load_inspections(home.warehouse)
    stored = month_features(home, config, month, inspections)
    asked: list = []
    evidence, read = stored.evidence, scoring.monthly.StoredMonth.evidence
    monkeypatch.setattr(scoring.monthly.StoredMonth, "evidence",
                        lambda self, among=None: asked.append(among) or read(self, among))
    scored = score_stored(model, stored, config, inspections, None)
    pd.testing.assert_frame_equal(scored,
                                  score_table(model, stored.table, evidence(), month, config, inspections, None))
    listed = set(scored.loc[scored["in_list"], "siret"])
    assert asked[0] == listed and 0 < len(evidence(listed)) < len(evidence())  # the listed lines' evidence, read alone
    posts = evidence_posts(evidence(listed), among=listed)
    assert posts and posts == evidence_posts(evidence(), among=listed)  # what their reasons read of it


def test_a_month_where_every_establishment_was_inspected_recently_lists_none(small_pipeline, tmp_path, monkeypatch):
    """Nothing to explain is no reason to fail: every file is written, with no line."""
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    shutil.rmtree(home.lists)
    monkeypatch.setattr("scoring.monthly.recently_inspected", lambda sirets, *_: pd.Series(True, index=sirets.index))
    result = score_month(home, config, declared_months(home.warehouse)[-1])
    assert len(result.ranked) > 0 and not result.ranked["in_list"].any() and result.evidence.empty
    assert (result.ranked["reason_1"] == "").all() and result.summary["listed"] == 0
    assert all(path.exists() for path in result.files)


def test_explain_says_what_the_published_list_says(small_pipeline, monkeypatch):
    """Inspections imported after the list (here: everyone inspected recently) do not make `explain` contradict the
    list an inspector holds; naming a model scores the month again, with what is known now."""
    _, home, config = small_pipeline
    month = declared_months(home.warehouse)[-1]
    ranked = read_ranking(home.lists / f"{month:%Y-%m}" / "ranked.csv")
    first = ranked[ranked["in_list"]].sort_values("list_position").iloc[0]
    monkeypatch.setattr("scoring.monthly.recently_inspected", lambda sirets, *_: pd.Series(True, index=sirets.index))
    published = explain_month(home, config, first["siret"], month)
    line = published.establishment
    assert line["in_list"] and not line["recently_inspected"] and line["list_position"] == first["list_position"]
    assert line["score"] == first["score"] and published.model_version == first["model_version"]
    assert published.shap_gap < config.audit.shap_tolerance
    assert published.notice == ""
    again = explain_month(home, config, first["siret"], month, model_reference=config.scoring.model)
    assert not again.establishment["in_list"] and again.establishment["recently_inspected"]
    assert f"place l'établissement en ligne {int(first['list_position'])}" in again.notice
    assert "hors liste (contrôlé récemment)" in again.notice
    assert "Attention : la liste publiée" in explanation_text(again)


def test_explain_scores_again_and_says_so_when_the_list_cannot_be_reproduced(small_pipeline, tmp_path):
    """A published score the model no longer gives (features computed again since), or a version gone from the
    registry: the month is scored again with what is known now, and the text says how the list's line differs."""
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    month = declared_months(home.warehouse)[-1]
    path = home.lists / f"{month:%Y-%m}" / "ranked.csv"
    ranked = read_ranking(path)
    first = ranked[ranked["in_list"]].sort_values("list_position").iloc[0]
    changed = ranked.assign(score=ranked["score"].where(ranked["siret"] != first["siret"], 0.001))
    changed.to_csv(path, index=False)
    explanation = explain_month(home, config, first["siret"], month)
    assert explanation.establishment["score"] == pytest.approx(first["score"])  # the model's score now
    assert "probabilité de 0,1\u202f%" in explanation.notice and "ont changé depuis" in explanation.notice
    ranked.assign(model_version="9").to_csv(path, index=False)
    gone = explain_month(home, config, first["siret"], month)
    assert "la version 9 du modèle, qui a établi la liste, n'est plus disponible" in gone.notice
    assert gone.model_version == "1"


def test_an_establishment_scored_again_is_explained_as_in_the_whole_month_scored(small_pipeline):
    """Scored again (no published line to follow), the month is ranked whole and the establishment's line alone
    explained, from its own evidence: what the whole month scored and explained with all the evidence says of it."""
    _, home, config = small_pipeline
    month = declared_months(home.warehouse)[-1]
    model, version = load_model(home, config)
    inspections = load_inspections(home.warehouse)
    stored = month_features(home, config, month, inspections)
    previous = previous_ranking(home, month)
    whole = score_table(model, stored.table, stored.evidence(), month, config, inspections, previous)
    listed = whole.loc[whole["in_list"] & (whole["reason_1_feature"].fillna("") != ""), "siret"].iloc[0]
    reasons_listed = []
    for siret in (listed, whole.loc[~whole["in_list"], "siret"].iloc[0]):
        contracts = month_contracts(home, config, month, siret).contracts
        declared = declared_months(home.warehouse)
        alone = explain_establishment(model, version, stored.table, stored.evidence({siret}), contracts, siret, month,
                                      config, inspections, previous, declared=declared)
        expected = explain_establishment(model, version, stored.table, stored.evidence(), contracts, siret, month,
                                         config, published=whole, declared=declared)
        pd.testing.assert_series_equal(alone.establishment, expected.establishment)
        pd.testing.assert_frame_equal(alone.reasons, expected.reasons)
        assert (alone.scored_in_region, alone.scored_national) == (expected.scored_in_region, expected.scored_national)
        reasons_listed.append(bool(alone.reasons["listed_reason"].any()))
    assert reasons_listed == [True, False]  # the listed line's reasons, as the list gave them; none for the other


def test_a_listed_line_is_explained_from_what_the_list_kept(small_pipeline, tmp_path):
    """Features computed again after the list (here: the establishment's figures changed in the stored table) do not
    change the explanation of its line: the list kept the row it was scored on, its evidence and the sector medians.
    Without them, the month is scored again and the text says the list cannot be reproduced."""
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    month = declared_months(home.warehouse)[-1]
    first = read_ranking(home.lists / f"{month:%Y-%m}" / "ranked.csv").query("in_list").sort_values("list_position").iloc[0]
    before = explain_month(home, config, first["siret"], month)
    stored = feature_dir(home.data, month) / "features.parquet"
    features = pd.read_parquet(stored)
    # Not the inspection features: a stored table whose inspection features disagree with the inspections has them
    # brought up to date (features.store.is_current), which would undo the change.
    numeric = [c for c in before.contributions["feature"]
               if pd.api.types.is_float_dtype(features[c]) and c not in INSPECTION_FEATURES]
    features.loc[features["siret"].astype(str) == first["siret"], numeric] = 0.0
    changed = pa.Table.from_pandas(features, preserve_index=False)  # still carrying the stored table's identity
    pq.write_table(changed.replace_schema_metadata(pq.read_schema(stored).metadata), stored)

    kept = explain_month(home, config, first["siret"], month)
    assert kept.notice == "" and kept.establishment["score"] == first["score"]
    assert kept.contributions.equals(before.contributions) and kept.reasons.equals(before.reasons)
    assert kept.evidence.equals(before.evidence)
    shutil.rmtree(home.data / "list-inputs")
    again = explain_month(home, config, first["siret"], month)
    assert "ont changé depuis" in again.notice and again.establishment["score"] != first["score"]


_WORD = "[0-9A-Za-z]+"


def _whole(value: str) -> str:
    """A regular expression of `value` as a whole word."""
    return rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])"


def _found_whole(values: set[str], text: str) -> set[str]:
    """The `values` found in `text` as whole words, in one pass over the text: one search per value took minutes over
    the lists' files. Each run of letters and digits of a value found whole is a whole run of the text; a value of one
    run is found where it is one, others are searched for only when all their runs are there (« Jean-François »)."""
    words = set(re.findall(_WORD, text))
    return {v for v in values if all(run in words for run in re.findall(_WORD, v))
            and (re.fullmatch(_WORD, v) or re.search(_whole(v), text))}


def _personal_values(population, files: int = 20) -> set[str]:
    """NIRs, names and birth dates (S21.G00.30.001/002/004/006) of some of the population's DSN files; not
    those that are also a word of an address the simulator writes for an establishment, which the lists
    show (a first name Etienne and the city of Saint-Etienne)."""
    values = set()
    for path in sorted((population / "dsn").rglob("*.dsn"))[:files]:
        for line in path.read_text(encoding="latin-1").splitlines():
            rubric, _, value = line.partition(",")
            if rubric in ("S21.G00.30.001", "S21.G00.30.002", "S21.G00.30.004", "S21.G00.30.006"):
                value = value.strip("'")
                if len(value) >= 6:  # long enough not to match by chance
                    values.add(value)
    addresses = "\n".join([*STREETS, *(city_of(departement) for departement in CHEF_LIEU)])
    return values - _found_whole(values, addresses)


def test_lists_hold_no_personal_data(small_pipeline):
    population, home, _ = small_pipeline
    month = declared_months(home.warehouse)[-1]
    folder = home.lists / f"{month:%Y-%m}"
    texts = [p.read_text(encoding="utf-8") for p in [*folder.glob("*.csv"), *folder.glob("*.html"), *folder.glob("*.json")]]
    for workbook in folder.glob("*.xlsx"):
        with zipfile.ZipFile(workbook) as archive:
            texts += [archive.read(name).decode("utf-8") for name in archive.namelist() if name.endswith(".xml")]
    text = "\n".join(texts)
    personal = _personal_values(population)
    assert personal, "the sample of DSN files holds persons"
    # Whole values only: a birth date 09122000 must not match inside a score such as 0.4091220003.
    found = _found_whole(personal, text)
    assert not found
    assert "person_key" not in text


def test_an_explanation_says_when_no_list_was_drawn_up_and_when_its_model_learned_from_later_inspections(
        small_pipeline, tmp_path):
    """Without a list for the month, the place on it is what the model gives today, and the text says so; a model that
    learned from inspections after the month explained is not the one of the time, and the text says so too."""
    _, shared, config = small_pipeline
    home = type(shared)(tmp_path / "home")
    shutil.copytree(shared.root, home.root)
    month = declared_months(home.warehouse)[-1]
    path = home.lists / f"{month:%Y-%m}" / "ranked.csv"
    first = read_ranking(path).query("in_list").sort_values("list_position").iloc[0]
    path.unlink()
    explanation = explain_month(home, config, first["siret"], month)
    assert explanation.notice.startswith(f"la liste {of_month_fr(month)} n'a pas été établie")
    assert f"Attention : la liste {of_month_fr(month)} n'a pas été établie" in explanation_text(explanation)
    trained_on = explanation.model_facts["data_months"]
    assert trained_on[-1] < f"{month:%Y-%m}" and "postérieurs" not in audit_paragraph(explanation)
    earlier = add_months(date.fromisoformat(trained_on[-1] + "-01"), -1)
    assert (f"il a donc appris de contrôles postérieurs au mois {of_month_fr(earlier)}"
            in audit_paragraph(replace(explanation, month=earlier)))


def test_a_model_of_another_feature_schema_is_refused_before_scoring(small_pipeline, monkeypatch):
    """After an upgrade that changes the features, the champion is refused with the reason `promote` and `models`
    give too (`features.build.scoring_refusal`), checked settings or not."""
    from features.catalog import FEATURES_SCHEMA_VERSION

    _, home, config = small_pipeline
    monkeypatch.setattr("features.build.FEATURES_SCHEMA_VERSION", FEATURES_SCHEMA_VERSION + 1)
    for checked in (True, False):
        with pytest.raises(RuntimeError, match=rf"^model version \d+ was trained on feature schema {FEATURES_SCHEMA_VERSION}, "
                                               rf"this code computes schema {FEATURES_SCHEMA_VERSION + 1}: retrain before "
                                               "scoring$"):
            load_model(home, config, settings_checked=checked)
