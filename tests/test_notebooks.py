"""The notebooks run top to bottom, in a fresh `python3` kernel, on the small simulated population: the
evaluators' audit walkthrough of the champion, and the feature trial that logs two MLflow runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from core.home import Home

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 300  # seconds per cell; a whole notebook takes well under a minute on the small preset
TRIAL_EXPERIMENT = "champollion-notebook-feature-trial"


def executed(name: str, cwd: Path) -> tuple[str, list[dict]]:
    """Run a notebook (the kernel inherits this process's environment); return its text and all outputs.
    A cell that raises fails the test with the cell and its traceback."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(cwd)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    text = "\n".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
                     for o in outputs)
    return text, outputs


@pytest.fixture(scope="module")
def notebook_home(small_pipeline, tmp_path_factory) -> tuple[Path, Home]:
    """A copy of the small pipeline's home, so that the notebooks' report, tags and trial runs stay out of the
    home other tests read. The registry's artifact URIs are absolute: the champion is still read from the
    original home, and the audit report is logged to its run there, as `champollion audit` does."""
    population, home, _ = small_pipeline
    copy = Home(tmp_path_factory.mktemp("notebooks") / "home")
    shutil.copytree(home.root, copy.root)
    return population, copy


@pytest.fixture
def notebook_env(notebook_home, monkeypatch) -> tuple[Path, Home]:
    population, home = notebook_home
    monkeypatch.setenv("CHAMPOLLION_HOME", str(home.root))
    monkeypatch.setenv("CHAMPOLLION_CONFIG", str(home.root / "champollion.yaml"))
    monkeypatch.setenv("CHAMPOLLION_TRUTH", str(population / "truth"))
    return population, home


def test_the_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
def test_the_audit_walkthrough_runs_the_audit_writes_the_report_and_explains_the_top_listed_establishment(
        notebook_env, tmp_path):
    _, home = notebook_env
    text, outputs = executed("audit_walkthrough.ipynb", tmp_path)

    verdict = r"audit of version \d+ as of \d{4}-\d{2}\nVerdict : (réussi|réussi avec alertes|échec) — \d+ contrôles"
    assert re.search(verdict, text), text
    report = Path(re.search(r"^report: (\S+\.html)$", text, re.MULTILINE).group(1))
    assert report.parent == home.reports and report.stat().st_size > 0
    for section in ("list/region", "inspections/size_band", "last month's list", "propensity model"):
        assert section in text
    siret = re.search(r"top listed establishment: (\d{14})", text).group(1)
    ranked = pd.read_csv(sorted(home.lists.glob("*/ranked.csv"))[-1], dtype={"siret": str})
    line = ranked.set_index("siret").loc[siret]
    assert line["in_list"] and not line["exploration"]
    assert "Données utilisées" in text
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3  # importance, dependence, the establishment's contract timeline


@pytest.mark.slow
def test_the_feature_notebook_logs_both_models_in_their_own_experiment_and_compares_them(notebook_env, tmp_path):
    from mlflow.tracking import MlflowClient

    _, home = notebook_env
    text, _ = executed("add_a_feature.ipynb", tmp_path)

    comparison = text[text.index("tags.mlflow.runName"):]
    assert "lightgbm_with_candidate" in comparison and re.search(r"^\s*lightgbm\s", comparison, re.MULTILINE)
    assert "with hiring_acceleration: precision@5pct" in text
    # a client on the copy's store, leaving mlflow's global tracking URI to the other tests
    client = MlflowClient(tracking_uri=f"sqlite:///{home.mlruns / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(TRIAL_EXPERIMENT)
    assert experiment.artifact_location == (home.mlruns / "artifacts").resolve().as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.data.params["candidate_feature"] for run in runs) == ["hiring_acceleration", "none"]
    assert all("precision_at_5pct" in run.data.metrics and "average_precision" in run.data.metrics for run in runs)
    assert len({run.data.tags["trial"] for run in runs}) == 1
