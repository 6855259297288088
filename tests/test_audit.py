"""The evaluators' audit of the small population's champion: the report in a browser, and a broken
explainer that must fail it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from champollion.cli import app
from scoring.audit.report import SECTIONS
from scoring.audit.run import run_audit
from tests.browser import opened

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


def test_the_audit_reports_every_check_and_logs_the_report_to_the_model_run(audited):
    import mlflow

    output, report, home, config = audited
    for check in ("SHAP values add up", "permutation importance", "another seed", "one month less"):
        assert check in output
    assert "audit of version 1" in output and f"report: {report}" in output
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("champollion-precarite", "champion")
    logged = [a.path for a in client.list_artifacts(version.run_id, "audit")]
    assert f"audit/{report.name}" in logged


@pytest.mark.browser
def test_the_audit_report_opens_in_a_browser_with_every_section_and_its_figures(audited):
    _, report, _, _ = audited
    with opened(report) as seen:
        page = seen.page
        for anchor, title in SECTIONS:
            section = page.locator(f"section#{anchor}")
            assert section.count() == 1, anchor
            assert section.locator("h2").inner_text() == title
        images = page.locator("img")
        assert images.count() >= 3  # importance, dependence plots, drift
        assert all(image.evaluate("i => i.complete && i.naturalWidth > 0") for image in images.all())
        assert "Features read by the model" in page.locator("#model-card").inner_text()
        assert "list/region" in page.locator("#targeting").inner_text()
        # Given a truth, the legal-rule evidence is measured: every rule, each confidence level.
        rules = page.locator("#rules").inner_text()
        assert all(rule in rules for rule in ("carence", "poste_permanent", "établies et probables", "à vérifier"))
    assert seen.errors == []
    assert all(url.startswith(("file://", "data:")) for url in seen.requests), seen.requests


def test_a_broken_explainer_fails_the_audit(small_pipeline):
    _, home, config = small_pipeline

    def broken(model, table):
        return model.contributions(table) * 1.01  # no longer adds up to the raw score

    result = run_audit(home, config, "champion", explainer=broken)
    assert not result.passed
    additivity = result.checks[0]
    assert "add up" in additivity.name and not additivity.passed
    from scoring.audit.report import render_audit

    assert "FAILED" in render_audit(result, config.audit)
