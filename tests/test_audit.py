"""The evaluators' audit of the small population's champion: the verdict, the French report in a browser
(screenshots and a PDF saved outside the repository: $CHAMPOLLION_SCREENSHOTS or a pytest temporary
folder), and a broken explainer that must fail it."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.report import SECTIONS
from audit.run import run_audit
from audit.verdict import Status
from champollion.cli import app
from tests.browser import opened, screenshot_sections

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audited(small_pipeline):
    population, home, config = small_pipeline
    config_file = home.root / "champollion.yaml"
    result = CliRunner().invoke(app, ["--home", str(home.root), "--config", str(config_file), "audit",
                                      "--truth", str(population / "truth")])
    assert result.exit_code in (0, 1), result.output
    reports = sorted(home.reports.glob("audit-v1-*.html"))
    assert len(reports) == 1, result.output
    return result.output, reports[0], home, config


def test_the_audit_prints_a_verdict_that_counts_every_check_and_logs_the_report_to_the_model_run(audited):
    import mlflow

    output, report, _, _ = audited
    headline = next(line for line in output.splitlines() if line.startswith("Verdict : "))
    statuses = [line.split("]")[0].strip(" [") for line in output.splitlines() if line.startswith("  [")]
    # The headline counts every listed check, by status.
    assert f"{len(statuses)} contrôles" in headline
    for status, words in (("réussi", ("réussi", "réussis")), ("alerte", ("alerte", "alertes")), ("échec", ("échec", "échecs"))):
        count = statuses.count(status)
        assert f"{count} {words[0] if count <= 1 else words[1]}" in headline
    # Every group is there: the model against the simple methods, explanations, fairness (3 dimensions x 2 sources),
    # drift (2), selection bias, rules.
    for group in ("Valeur du modèle", "Explications", "Équité", "Dérive des données", "Biais de sélection", "Règles de droit"):
        assert any(line.startswith(group) for line in output.splitlines()), group
    for check in ("Le modèle fait mieux que les méthodes simples", "quelle que soit leur raison principale",
                  "s'additionnent au score brut", "importance par permutation", "autre graine", "un mois de contrôles en moins",
                  "Disparités par région — liste du mois", "Disparités par taille d'établissement — contrôles passés",
                  "Dérive depuis les mois d'entraînement", "Dérive d'un mois à l'autre", "Représentativité des contrôles",
                  "Règle « Délai de carence non respecté »"):
        assert check in output, check
    assert "audit of version 1" in output and f"report: {report}" in output
    # What it audited: the warehouse's version, the controls stored, and the published list against the one it computed.
    page = html.unescape(report.read_text(encoding="utf-8"))
    data = re.search(r"Données auditées : version (\d{6}) de l'entrepôt, contrôles enregistrés : (\d+) \(empreinte "
                     r"[0-9a-f]{12}\)\. Lignes classées par le score \(hors tirage d'exploration\) de la liste publiée "
                     r"pour \d{4}-\d{2} \(lists/\d{4}-\d{2}/ranked\.csv, établie le [^)]+ UTC\) : (\d+), dont (\d+) "
                     r"dans celle que l'audit a calculée sur ces données \((\d+)\)\.", page)
    assert data, page[:3000]
    published, both, computed = (int(n) for n in data.groups()[2:])
    assert published == both == computed > 0  # the same data as the list's: the same lines
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("champollion-precarite", "champion")
    logged = [a.path for a in client.list_artifacts(version.run_id, "audit")]
    assert f"audit/{report.name}" in logged


@pytest.mark.browser
def test_the_audit_report_opens_in_a_browser_in_french_with_its_figures_and_prints_as_pdf(audited, tmp_path_factory):
    from scoring.reasons import region_names

    _, report, _, _ = audited
    folder = Path(os.environ.get("CHAMPOLLION_SCREENSHOTS") or tmp_path_factory.mktemp("audit-screenshots"))
    with opened(report) as seen:
        page = seen.page
        for anchor, title in SECTIONS:
            section = page.locator(f"section#{anchor}")
            assert section.count() == 1, anchor
            assert section.locator("h2").inner_text() == title
        images = page.locator("img")
        figures = images.count()
        assert figures >= 14  # performance, calibration, drivers, stability, fairness x3, inspected x3, drift...
        assert all(image.evaluate("i => i.complete && i.naturalWidth > 0") for image in images.all())
        assert page.locator("html").get_attribute("lang") == "fr"
        verdict = page.locator(".verdict").inner_text()
        assert "Verdict : " in verdict and "contrôles" in verdict
        # What a reader sees: no raw column names, booleans or missing values, region names not codes; the annexed
        # model card too, in French (it was the training run's own, in English).
        text = "\n".join(page.locator(f"section#{anchor}").inner_text() for anchor, _ in SECTIONS)
        for raw in ("share_listed", "fdr_disparity", "list/region", r"\bnan\b", r"\bNaN\b", r"\bTrue\b", r"\bFalse\b",
                    r"\bNone\b", r"\b<NA>"):
            assert not re.search(raw, text), raw
        assert "à hauteur de sa capacité de contrôle (5 % de ses établissements, au plus 500 lignes)" in text
        fairness = page.locator("#fairness").inner_text()
        assert any(name in fairness for name in region_names().values())
        card = page.locator("#model-card").inner_text()
        assert "Variables lues par le modèle" in card and "Usage prévu" in card and "Plis de validation" in card
        assert not re.search(r"Intended use|Model card|\bTrained\b|Selection bias|\bLimits\b", card), card
        # Given a truth, the legal-rule evidence is measured: every rule, each confidence level.
        rules = page.locator("#rules").inner_text()
        assert all(rule in rules for rule in ("Délai de carence", "Emploi durable", "établies et probables", "à vérifier"))
        shots = screenshot_sections(page, folder, [anchor for anchor, _ in SECTIONS])
        # Print style sheet: no navigation, and the page makes a multi-page A4 PDF.
        page.emulate_media(media="print")
        assert not page.locator("nav").is_visible()
        pdf = page.pdf(format="A4")
        (folder / "audit.pdf").write_bytes(pdf)
    print(f"\naudit screenshots: {[str(s) for s in shots]}; {figures} figures; PDF {folder / 'audit.pdf'}")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") > 5
    assert seen.errors == []
    assert all(url.startswith(("file://", "data:")) for url in seen.requests), seen.requests


def test_a_broken_explainer_fails_the_audit(small_pipeline):
    _, home, config = small_pipeline

    def broken(model, table):
        return model.contributions(table) * 1.01  # no longer adds up to the raw score

    result = run_audit(home, config, "champion", explainer=broken)
    assert not result.passed and result.verdict.status is Status.FAILED
    additivity = result.checks[0]
    assert "s'additionnent" in additivity.name and additivity.status is Status.FAILED
    from audit.report import render_audit

    assert "Verdict : échec" in render_audit(result, config)


def test_a_month_where_nothing_is_listed_is_audited_with_what_can_be_measured(small_pipeline, monkeypatch):
    """Every establishment inspected recently: no line to compare after retraining, an alert says so, the rest runs."""
    from audit.report import render_audit

    _, home, config = small_pipeline
    monkeypatch.setattr("scoring.monthly.recently_inspected", lambda sirets, *_: pd.Series(True, index=sirets.index))
    result = run_audit(home, config, "champion")
    stability = [c for c in result.checks if c.name.startswith("Motif principal stable")]
    assert [c.status for c in stability] == [Status.WARNING, Status.WARNING]
    assert all(c.detail == "aucun établissement listé ce mois : aucun motif à comparer" for c in stability)
    of_the_list = [c for c in result.checks if c.name.endswith("— liste du mois")]
    assert len(of_the_list) == 3 and all(c.status is Status.WARNING for c in of_the_list)
    assert all(c.detail == "aucun établissement listé : aucun rapport à comparer" for c in of_the_list)
    assert "aucun établissement listé ce mois" in render_audit(result, config)

