"""Training end to end: the commands on a synthetic world with a temporary MLflow store (train, models,
evaluate, promote, loading the champion as scoring does), reproducibility, and one run on the small
simulated population."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from champollion.cli import Context
from core.config import Config
from core.home import Home
from features.catalog import FEATURES_SCHEMA_VERSION
from tests.test_training_world import mlflow_template, world  # noqa: F401 - fixtures
from champollion.training_commands import commands
from core.training_config import TrainingConfig

runner = CliRunner()


SMALL_DATA = TrainingConfig(validation_months=3, min_train_rows=20, bootstrap_resamples=100, trials=2)


def _app(home: Home, config: Config) -> typer.Typer:
    """The training commands behind a callback that sets `ctx.obj` as the main command does."""
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = Context(home, config)

    app.registered_commands.extend(commands.registered_commands)
    return app


def test_train_evaluate_register_and_promote(world, tmp_path):  # noqa: F811
    import mlflow

    config = Config(training=SMALL_DATA)
    app = _app(world.home, config)
    earlier = tmp_path / "earlier.csv"  # the inspections known three months before the others
    lines = world.inspections_csv.read_text(encoding="utf-8").splitlines()
    earlier.write_text("\n".join(line for line in lines if not line.split(",")[1].startswith("2025-0")) + "\n",
                       encoding="utf-8")

    first = runner.invoke(app, ["train", "--inspections", str(earlier), "--truth", str(world.truth)])
    assert first.exit_code == 0, first.output
    assert "earlier.csv:4: SIRET '1234' is not 14 digits" in first.output
    assert "earlier.csv:7: inspection_date '2024-13-01'" in first.output
    assert "Temporal validation" in first.output and "validate from" in first.output
    assert "Models compared at inspection capacity" in first.output
    for model in ("random ranking", "2025 campaign rule", "count of legal-rule", "logistic regression", "LightGBM"):
        assert model in first.output
    assert "version 1 with alias(es) challenger, champion" in first.output

    # `train --inspections` stored the earlier inspections; the world's feature tables count them all.
    evaluated = runner.invoke(app, ["evaluate", "--truth", str(world.truth), "--inspections", str(world.inspections_csv)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "Hidden truth" in evaluated.output and "oracle" in evaluated.output and "gap to oracle" in evaluated.output

    # Scoring's contract: the champion by alias, unwrapped, gives calibrated probabilities and SHAP values.
    from features.build import load_features

    champion = mlflow.pyfunc.load_model("models:/champollion-precarite@champion").unwrap_python_model()
    table = load_features(world.home.data, world.months[-1])
    probabilities = champion.predict_proba(table)
    assert probabilities.shape == (len(table),) and ((probabilities > 0) & (probabilities < 1)).all()
    contributions = champion.contributions(table.head(5))
    assert list(contributions.columns) == [*champion.features, "bias"]
    np.testing.assert_allclose(contributions.sum(axis=1), champion.raw_scores(table.head(5)), atol=1e-9)
    assert champion.data_months[0] == f"{world.months[0]:%Y-%m}" and champion.schema_version == FEATURES_SCHEMA_VERSION

    # Newer inspections: the champion is re-scored on the challenger's latest-fold inspections it never saw.
    second = runner.invoke(app, ["train", "--inspections", str(world.inspections_csv), "--truth", str(world.truth)])
    assert second.exit_code == 0, second.output
    assert re.search(r"version 2 with alias\(es\) challenger\n", second.output), second.output
    gated = runner.invoke(app, ["promote"])
    assert gated.exit_code == 0, gated.output
    assert re.search(r"champion v1 re-scored on the \d+ inspections of the challenger's latest fold it was not trained on",
                     gated.output), gated.output
    client = mlflow.tracking.MlflowClient()
    if "not promoted" in gated.output:
        assert str(client.get_model_version_by_alias("champollion-precarite", "champion").version) == "1"
        forced = runner.invoke(app, ["promote", "--force"])
        assert forced.exit_code == 0 and "forced" in forced.output
    assert str(client.get_model_version_by_alias("champollion-precarite", "champion").version) == "2"
    assert "already champion" in runner.invoke(app, ["promote"]).output

    # Same data, same settings: the study resumes; same model, same metrics; the gate compares the same fold.
    third = runner.invoke(app, ["train", "--inspections", str(world.inspections_csv), "--truth", str(world.truth)])
    assert third.exit_code == 0, third.output
    assert "2 of them from an earlier run (resumed)" in third.output
    v2, v3 = (client.get_model_version("champollion-precarite", v) for v in ("2", "3"))
    m2, m3 = client.get_run(v2.run_id).data.metrics, client.get_run(v3.run_id).data.metrics
    shared = {k for k in m2 if "/" in k and not k.startswith(("truth", "propensity"))}
    assert shared and {k: m2[k] for k in shared} == {k: m3[k] for k in shared}
    same = runner.invoke(app, ["promote"])
    assert "same latest fold as champion v2" in same.output and "promoted" in same.output, same.output

    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"\b3 .*challenger, champion", listed.output) and re.search(r"\b1 .*2024-", listed.output)


def test_same_data_same_seed_same_model_and_metrics(world):  # noqa: F811
    from training.pipeline import fit_and_evaluate, load_training_data
    from training.workflow import inspection_source

    config = Config(training=SMALL_DATA)
    data = load_training_data(world.home, config, inspection_source(world.home, world.inspections_csv).rows)
    runs = [fit_and_evaluate(data, SMALL_DATA, 3, None) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].comparison, runs[1].comparison)
    pd.testing.assert_frame_equal(runs[0].oof, runs[1].oof)
    assert runs[0].params == runs[1].params
    rows = data.labelled.rows
    np.testing.assert_array_equal(runs[0].scoring_model.predict_proba(rows), runs[1].scoring_model.predict_proba(rows))
    assert runs[0].scoring_model.booster.model_to_string() == runs[1].scoring_model.booster.model_to_string()


@pytest.mark.slow
def test_train_on_the_small_simulated_population(small_warehouse, tmp_path, mlflow_template):  # noqa: F811
    from warehouse.inspections import read_inspections
    from training.pipeline import fit_and_evaluate, load_training_data

    population, shared_home = small_warehouse
    home = Home(tmp_path / "home")
    shutil.copytree(shared_home.warehouse, home.warehouse)
    settings = TrainingConfig(validation_months=3, min_train_rows=10, bootstrap_resamples=100, trials=2)
    inspections = read_inspections(population / "inspections.csv").rows
    data = load_training_data(home, Config(training=settings), inspections)
    assert len(data.labelled.rows) + len(data.labelled.left_out) == len(inspections)
    assert (data.labelled.rows["as_of"].dt.to_period("M") < data.labelled.rows["inspection_date"].dt.to_period("M")).all()
    result = fit_and_evaluate(data, settings, settings.trials, None)
    overall = result.comparison[result.comparison["fold"] == "all"]
    assert set(overall["model"]) == {"random", "campaign_rule", "rule_violations", "logistic", "lightgbm"}
    assert len(result.folds) == 3 and (result.folds["n_valid"] > 0).all()
