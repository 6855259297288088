"""Training end to end: the commands on a synthetic world with a temporary MLflow store (train, models,
evaluate, promote, loading the champion as scoring does), reproducibility, and one run on the small
simulated population."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from champollion.cli import Context
from champollion.training_commands import commands
from core.config import Config, FeaturesConfig
from core.home import Home
from core.training_config import TrainingConfig
from features.catalog import FEATURES_SCHEMA_VERSION
from training.registry import BASELINES
from training.workflow import list_models

runner = CliRunner()


SMALL_DATA = TrainingConfig(validation_months=3, min_train_rows=20, bootstrap_resamples=100, trials=2)


def _flat(output: str) -> str:
    """The output with its line breaks and runs of spaces made single spaces (the console wraps long lines)."""
    return " ".join(output.split())


def _app(home: Home, config: Config) -> typer.Typer:
    """The training commands behind a callback that sets `ctx.obj` as the main command does."""
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = Context(home, config)

    app.registered_commands.extend(commands.registered_commands)
    return app


def test_train_evaluate_register_and_promote(training_world, tmp_path):
    import mlflow

    config = Config(training=SMALL_DATA)
    app = _app(training_world.home, config)
    earlier = tmp_path / "earlier.csv"  # the inspections known three months before the others
    lines = training_world.inspections_csv.read_text(encoding="utf-8").splitlines()
    earlier.write_text("\n".join(line for line in lines if not line.split(",")[1].startswith("2025-0")) + "\n",
                       encoding="utf-8")

    # A file whose controls all found no abuse teaches nothing: refused before any model is fitted, saying that the
    # file is the stored history all the same (it replaced it, as `import-inspections` would have).
    none_found = tmp_path / "none-found.csv"
    none_found.write_text("\n".join([lines[0], *(",".join([*line.split(",")[:2], "0", "x"]) for line in lines[1:])]) + "\n",
                          encoding="utf-8")
    refused = runner.invoke(app, ["train", "--inspections", str(none_found)])
    said = _flat(refused.output)
    assert refused.exit_code == 2 and re.search(r"the \d+ labelled inspections all found no abuse \(abuse_found=0\): a "
                                                r"model learns to tell", said), said
    assert re.search(r"The inspections of \S+none-found.csv are stored all the same \(\d+ controls stored in \S+ "
                     r"\(\d+ rows? left out\), replacing the 0 imported before\)", said), said
    first = runner.invoke(app, ["train", "--inspections", str(earlier), "--truth", str(training_world.truth)])
    assert first.exit_code == 0, first.output
    assert re.search(r"\d+ controls stored in \S+ \(\d+ rows? left out\), replacing the \d+ imported before",
                     _flat(first.output)), first.output
    assert "earlier.csv:4: siret is not 14 digits (4 characters)" in first.output
    assert "earlier.csv:7: inspection_date does not exist (day 0 or past the end of its month, month 0 or above 12)" in _flat(
        first.output)
    assert "Temporal validation" in first.output and "validate from" in first.output
    # The world's declarations begin with its first month: its earlier inspections are all before 2025-01.
    partial = ("as-of months: all, though those before 2025-01 count their 12-month window or the month before it over "
               "part of it (the warehouse's declarations begin in 2024-01): without them ")
    assert re.search(rf"{re.escape(partial)}(\d+) of the \1 inspections of months the warehouse declares would be "
                     r"left out, more than a third",
                     _flat(first.output)), first.output
    assert "Models compared at inspection capacity" in first.output
    for model in ("random ranking", "2025 campaign rule", "count of legal-rule", "logistic regression", "LightGBM"):
        assert model in first.output
    assert "version 1 with alias(es) challenger, champion" in first.output

    # `train --inspections` stored the earlier inspections; the world's feature tables count them all.
    evaluated = runner.invoke(app, ["evaluate", "--truth", str(training_world.truth),
                                    "--inspections", str(training_world.inspections_csv)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "Hidden truth" in evaluated.output and "oracle" in evaluated.output and "gap to oracle" in evaluated.output
    # The values it logged say what they were measured on: the truth's digest, the inspections the features counted.
    client = mlflow.MlflowClient()
    tags = client.get_run(client.get_model_version("champollion-precarite", "1").run_id).data.tags
    measured = json.loads(tags[f"truth_{training_world.months[-1]:%Y_%m}/measured_on"])
    truth = training_world.truth / "establishment_months.parquet"
    if not truth.exists():
        truth = training_world.truth / "truth" / "establishment_months.parquet"
    assert measured["truth_sha256"] == hashlib.sha256(truth.read_bytes()).hexdigest()
    assert measured["inspections"].startswith(f"{training_world.inspections_csv} (") and " controls, rows " in measured[
        "inspections"] and measured["establishments"] > 0

    # Scoring's contract: the champion by alias, unwrapped, gives calibrated probabilities and SHAP values.
    from features.build import load_features

    champion = mlflow.pyfunc.load_model("models:/champollion-precarite@champion").unwrap_python_model()
    table = load_features(training_world.home.data, training_world.months[-1])
    probabilities = champion.predict_proba(table)
    assert probabilities.shape == (len(table),) and ((probabilities > 0) & (probabilities < 1)).all()
    contributions = champion.contributions(table.head(5))
    assert list(contributions.columns) == [*champion.features, "bias"]
    np.testing.assert_allclose(contributions.sum(axis=1), champion.raw_scores(table.head(5)), atol=1e-9)
    assert champion.data_months[0] == f"{training_world.months[0]:%Y-%m}" and champion.schema_version == FEATURES_SCHEMA_VERSION

    # Newer inspections: a new study; the champion is re-scored on the challenger's latest-fold inspections it never saw.
    all_inspections = ["--inspections", str(training_world.inspections_csv), "--truth", str(training_world.truth)]
    second = runner.invoke(app, ["train", *all_inspections])
    assert second.exit_code == 0, second.output
    assert re.search(r"version 2 with alias\(es\) challenger\n", second.output), second.output
    assert re.search(rf"{re.escape(partial)}\d+ of the \d+ inspections of months the warehouse declares would be left out",
                     _flat(second.output))
    studies = [re.search(r"Optuna study (\S+) ", out.output).group(1) for out in (first, second)]
    assert studies[0] != studies[1] and all("\n2 trials in this run:" in out.output for out in (first, second))
    assert "resumed" not in second.output
    gated = runner.invoke(app, ["promote"])
    assert gated.exit_code == (1 if "not promoted" in gated.output else 0), gated.output
    assert "candidate: version 2 (challenger); champion: v1; challenger: v2" in _flat(gated.output), gated.output
    assert re.search(r"champion v1 re-scored on the \d+ inspections of v2's latest fold it was not trained on",
                     _flat(gated.output)), gated.output
    client = mlflow.tracking.MlflowClient()
    if "not promoted" in gated.output:
        assert "aliases moved: none (champion stays on v1); challenger stays on v2" in _flat(gated.output)
        assert str(client.get_model_version_by_alias("champollion-precarite", "champion").version) == "1"
        forced = runner.invoke(app, ["promote", "--force"])
        assert forced.exit_code == 0 and "forced" in forced.output
    assert str(client.get_model_version_by_alias("champollion-precarite", "champion").version) == "2"
    assert "already champion" in runner.invoke(app, ["promote"]).output

    # Same data, same settings: a new study on the same data gives the same model, which is not registered again.
    third = runner.invoke(app, ["train", *all_inspections])
    assert third.exit_code == 0, third.output
    assert f"Optuna study {studies[1]}-2 " in third.output, third.output
    assert "not registered: the same model as version 2 (challenger, champion)" in _flat(third.output)
    assert len(client.search_model_versions("name='champollion-precarite'")) == 2

    # --resume continues the last study of this data; --trials N runs N more trials in it.
    resumed = runner.invoke(app, ["train", "--resume", "--trials", "1", "--truth", str(training_world.truth)])
    assert resumed.exit_code == 0, resumed.output
    assert f"Optuna study {studies[1]}-2 " in resumed.output, resumed.output
    assert "1 trials in this run and 2 from an earlier run (resumed)" in _flat(resumed.output)
    import optuna

    storage = f"sqlite:///{training_world.home.mlruns / 'optuna.db'}"
    assert len(optuna.load_study(study_name=f"{studies[1]}-2", storage=storage).trials) == 3
    assert len(optuna.load_study(study_name=studies[1], storage=storage).trials) == 2
    assert re.search(r"registered champollion-precarite version 3 with alias\(es\) challenger (browse|Successfully)|not "
                     r"registered: the same model as version 2", _flat(resumed.output)), resumed.output

    # `models`: the promotion metric with its interval, the baselines, who is champion and challenger.
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    assert "Promotion metric: mean precision at 5%, 10%, 20%" in _flat(listed.output), listed.output
    versions = list_models(training_world.home, config).set_index("version")
    assert versions.loc[2, "aliases"] == "challenger, champion" and versions.loc[1, "aliases"] == ""
    low, value, high = (float(versions.loc[2, c]) for c in ("promotion_low", "promotion", "promotion_high"))
    assert low <= value <= high and all(versions.loc[2, b] for b in BASELINES)
    assert "logistic" in listed.output and "campaign" in listed.output
    assert "champion: v2 (scores the lists)" in _flat(listed.output) and "not the metric above" not in listed.output
    # Read with another capacity, the title names today's metric; each version says what its values measure.
    other = Config(training=SMALL_DATA.model_copy(update={"capacity_share": 0.07}))
    relisted = _flat(runner.invoke(_app(training_world.home, other), ["models"]).output)
    assert "Promotion metric: mean precision at 7%, 5%, 10%, 20%" in relisted
    assert re.search(r"version 2: MLflow run \w+; its values are its mean precision at 5%, 10%, 20% of each region's "
                     r"inspected establishments on the latest validation fold, held out of tuning, out of fold, not the "
                     r"metric above", relisted), relisted
    assert re.search(r"version 2: MLflow run \w+; "
                     r"(LightGBM .* beats every simpler model|the simpler model does as well|a simpler model does better)",
                     _flat(listed.output)), listed.output


def test_a_champion_measured_with_outcomes_read_from_the_control_day_gives_way_to_a_challenger_that_can_score(
        training_world):
    """A champion trained when outcomes were read from the day of the control (its folds trained on outcomes their
    window did not know yet, its features read them early) has the same latest-fold rows as a challenger trained on
    the same inspections: its recorded out-of-fold value was compared with the challenger's honest one, and it was
    kept though `score` refuses it. Its value is no longer taken as comparable (`fold_key` names the delay), it is not
    measured at all since `score` refuses it, and a challenger that can score replaces it, saying why."""
    inspections = ["--inspections", str(training_world.inspections_csv)]
    on_the_day = Config(training=SMALL_DATA, features=FeaturesConfig(outcome_known_after_days=0))
    first = runner.invoke(_app(training_world.home, on_the_day), ["train", *inspections])
    assert first.exit_code == 0, first.output
    second = runner.invoke(_app(training_world.home, Config(training=SMALL_DATA)), ["train", *inspections])
    assert re.search(r"version 2 with alias\(es\) challenger\n", second.output), second.output
    promoted = runner.invoke(_app(training_world.home, Config(training=SMALL_DATA)), ["promote"])
    gated = _flat(promoted.output)
    # Not measured: `score` refuses it, which decides (and its recorded value is not the same measure).
    assert promoted.exit_code == 0 and "same latest fold" not in gated and "re-scored" not in gated, gated
    assert ("promoted: champion v1 was trained on features computed with other settings than the configured ones "
            "(outcome_known_after_days: 0 then, 90 now): `champollion score` refuses it, v2 can score") in gated, gated
    assert "aliases moved: champion v1 -> v2" in gated, gated
    # A candidate `score` would refuse does not become champion, unless forced.
    other_seed = on_the_day.model_copy(update={"training": SMALL_DATA.model_copy(update={"seed": 7})})
    third = runner.invoke(_app(training_world.home, other_seed), ["train", *inspections])
    assert re.search(r"version 3 with alias\(es\) challenger\n", third.output), third.output
    refused = runner.invoke(_app(training_world.home, Config(training=SMALL_DATA)), ["promote"])
    assert refused.exit_code == 1 and ("not promoted: v3 was trained on features computed with other settings than the "
                                       "configured ones (outcome_known_after_days: 0 then, 90 now): `champollion score` "
                                       "would refuse it: champion kept") in _flat(refused.output), refused.output
    forced = runner.invoke(_app(training_world.home, Config(training=SMALL_DATA)), ["promote", "--force"])
    assert forced.exit_code == 0 and "would refuse it: forced" in _flat(forced.output), forced.output
    # Nor is it evaluated against the truth on features it never learned from.
    evaluated = runner.invoke(_app(training_world.home, Config(training=SMALL_DATA)),
                              ["evaluate", "--truth", str(training_world.truth), "--model", "champion"])
    assert evaluated.exit_code != 0 and "model version 3 was trained on features computed with other settings" in _flat(
        evaluated.output), evaluated.output


def test_promoting_an_older_version_moves_only_the_champion_alias(training_world, monkeypatch):
    """v1 champion, v3 challenger: promoting v2 moves champion from v1 to v2 and leaves challenger on v3. Then what
    `score` cannot use: a champion whose model no longer loads gives way, a candidate that does not load or was
    trained on another feature schema is refused."""
    from training.workflow import promote

    config = Config(training=SMALL_DATA)
    client = _registry_with_three_versions(training_world, config)
    outcome = promote(training_world.home, config, "2", force=True)
    assert (outcome.candidate, outcome.candidate_aliases, outcome.challenger) == ("2", [], "3")
    assert (outcome.champion_before, outcome.champion_after) == ("1", "2")
    # v2 was trained on the inspections of v1's latest fold: no inspection measures both, and their recorded values
    # are of other folds. The champion is kept unless forced, and the command says so by its exit code.
    # A version number the registry cannot hold, or digits of another script, name no version: said, no traceback.
    for reference, said in (("99999999999999999999999", "version 99999999999999999999999 of champollion-precarite is "
                                                           "not in the registry"),
                            ("١", "no version of champollion-precarite has the alias '١'")):
        missing = runner.invoke(_app(training_world.home, config), ["promote", "--version", reference])
        assert missing.exit_code == 2 and said in _flat(missing.output), missing.output
    refused = runner.invoke(_app(training_world.home, config), ["promote", "--version", "1"])
    assert refused.exit_code == 1, refused.output
    assert "cannot be measured on v1's latest fold" in _flat(refused.output)
    assert "no comparable value for champion v2: champion kept" in _flat(refused.output)
    aliases = client.get_registered_model("champollion-precarite").aliases
    assert {alias: str(v) for alias, v in aliases.items()} == {"champion": "2", "challenger": "3"}
    runner_app = _app(training_world.home, config)
    again = runner.invoke(runner_app, ["promote", "--version", "1", "--force"])
    assert again.exit_code == 0, again.output
    assert "candidate: version 1 (no alias); champion: v2; challenger: v3" in _flat(again.output)
    assert "aliases moved: champion v2 -> v1; challenger stays on v3" in _flat(again.output)
    aliases = client.get_registered_model("champollion-precarite").aliases
    assert {alias: str(v) for alias, v in aliases.items()} == {"champion": "1", "challenger": "3"}
    # A version scoring exactly as the champion on the same fold (here: the champion's own model, registered again)
    # does at least as well: promoted, whatever the rounding of the values the registry shows.
    v1 = client.get_model_version("champollion-precarite", "1")
    tie = client.create_model_version("champollion-precarite", v1.source, v1.run_id, tags=v1.tags)
    # Unless the inspections they are compared on are too few to tell two versions apart: then not compared.
    strict = Config(training=SMALL_DATA.model_copy(update={"min_promotion_rows": 10_000}))
    thin = runner.invoke(_app(training_world.home, strict), ["promote", "--version", str(tie.version)])
    assert thin.exit_code == 1 and re.search(
        r"same latest fold as champion v1 \(\d+ inspections\): both measured out-of-fold on the same rows, but the \d+ "
        r"inspections are fewer than the 10000 a comparison needs \(`training.min_promotion_rows`\): the two are not "
        r"compared .*no comparable value for champion v1: champion kept", _flat(thin.output)), thin.output
    tied = runner.invoke(runner_app, ["promote", "--version", str(tie.version)])
    assert tied.exit_code == 0, tied.output
    assert "same latest fold as champion v1" in _flat(tied.output) and "aliases moved: champion v1" in _flat(tied.output)

    # A champion whose model no longer loads (here its pickle overwritten) gives no list: a version that can score
    # replaces it, unforced. One that does not load is never made champion, even forced; nor one trained on another
    # feature schema than this code computes (after an upgrade), unless forced.
    pickles = [path for path in training_world.home.mlruns.rglob("python_model.pkl")
               if v1.source.rsplit("/", 1)[-1] in path.parts]  # the model's id (`models:/m-...`) names its folder
    assert len(pickles) == 1, v1.source
    pickles[0].write_bytes(b"not a pickle")
    replaced = runner.invoke(runner_app, ["promote", "--version", "3"])
    assert replaced.exit_code == 0, replaced.output
    assert re.search(rf"promoted: champion v{tie.version} cannot be loaded \(\w+: .+\): `champollion score` refuses it, "
                     "v3 can score", _flat(replaced.output)), replaced.output
    broken = runner.invoke(runner_app, ["promote", "--version", "1", "--force"])
    assert broken.exit_code != 0 and "version 1 cannot be made champion: its model cannot be loaded" in _flat(
        broken.output), broken.output
    monkeypatch.setattr("features.build.FEATURES_SCHEMA_VERSION", FEATURES_SCHEMA_VERSION + 1)
    upgraded = runner.invoke(runner_app, ["promote", "--version", "2"])
    assert upgraded.exit_code == 1 and (
        f"not promoted: v2 was trained on feature schema {FEATURES_SCHEMA_VERSION}, this code computes schema "
        f"{FEATURES_SCHEMA_VERSION + 1}: `champollion score` would refuse it: champion kept") in _flat(upgraded.output)
    v2_run = client.get_model_version("champollion-precarite", "2").run_id
    folds = [path for path in training_world.home.mlruns.rglob("latest_fold.parquet") if v2_run in path.parts]
    assert len(folds) == 1
    folds[0].unlink()  # its run's artifacts lost: said, no traceback
    lost = runner.invoke(runner_app, ["promote", "--version", "2"])
    assert lost.exit_code == 2 and "version 2 cannot be made champion: its latest fold cannot be read" in _flat(
        lost.output), lost.output
    aliases = client.get_registered_model("champollion-precarite").aliases
    assert {alias: str(v) for alias, v in aliases.items()} == {"champion": "3", "challenger": "3"}
    # `models` says which versions `score` refuses, and why, and whether the champion can draw up the lists.
    listed = _flat(runner.invoke(runner_app, ["models"]).output)
    assert re.search(r"version 1: MLflow run \w+; .*; `champollion score` refuses it: it cannot be loaded \(\w+", listed)
    assert (f"`champollion score` refuses it: it was trained on feature schema {FEATURES_SCHEMA_VERSION}, this code "
            f"computes schema {FEATURES_SCHEMA_VERSION + 1} version 3") in listed, listed
    assert ("champion: v3 (refused by `champollion score`, which gives no list: promote a version it accepts)"
            in listed), listed


def _registry_with_three_versions(training_world, config: Config):
    """Three registered versions of the world's model (trained on growing inspections): v1 champion, v3 challenger."""
    import mlflow

    from training.workflow import inspection_source, train

    lines = training_world.inspections_csv.read_text(encoding="utf-8").splitlines()
    for i, cutoff in enumerate(("2025-03", "2025-05", "2025-07")):
        part = training_world.home.root / f"until-{i}.csv"
        kept = [line for line in lines[1:] if line.split(",")[1][:7] < cutoff]
        part.write_text("\n".join([lines[0], *kept]) + "\n", encoding="utf-8")
        train(training_world.home, config, inspection_source(training_world.home, part))
    return mlflow.tracking.MlflowClient()


def test_same_data_same_seed_same_model_and_metrics(training_world):
    """Also with the propensity model fitted on a sample (`propensity_rows` below the world's 4,320
    establishment-months): without weighting, the models do not depend on it, nor do their names."""
    from training.pipeline import fit_and_evaluate, load_training_data
    from training.workflow import inspection_source

    config = Config(training=SMALL_DATA)
    inspections = inspection_source(training_world.home, training_world.inspections_csv).rows
    data = load_training_data(training_world.home, config, inspections)
    sampled = SMALL_DATA.model_copy(update={"propensity_rows": 1_000})
    runs = [fit_and_evaluate(data, settings, 3, None) for settings in (SMALL_DATA, sampled)]
    assert runs[0].ipw == "off" and not runs[0].selection.equals(runs[1].selection)  # a sample, not the whole
    assert (runs[0].model_fingerprint, runs[0].study_name) == (runs[1].model_fingerprint, runs[1].study_name)
    pd.testing.assert_frame_equal(runs[0].comparison, runs[1].comparison)
    pd.testing.assert_frame_equal(runs[0].oof, runs[1].oof)
    assert runs[0].params == runs[1].params
    rows = data.labelled.rows
    np.testing.assert_array_equal(runs[0].scoring_model.predict_proba(rows), runs[1].scoring_model.predict_proba(rows))
    assert runs[0].scoring_model.booster.model_to_string() == runs[1].scoring_model.booster.model_to_string()


def test_training_leaves_out_the_months_that_count_part_of_their_window_when_the_others_fill_the_folds(tmp_path):
    """Declarations from 2023-05: the features as of 2024-01..2024-04 read 9 to 12 of the 13 months of their window
    and the month before it. The inspections of 2024-05 on fill the configured folds, so the earlier ones are left
    out, with the reason, and their months' feature tables are not read."""
    from tests.training_world import build_world
    from training.pipeline import fit_and_evaluate, load_training_data
    from training.workflow import inspection_source

    world = build_world(tmp_path, declared_before=8)
    inspections = inspection_source(world.home, world.inspections_csv).rows
    data = load_training_data(world.home, Config(training=SMALL_DATA), inspections)
    assert data.labelled.months[0] == "2024-05" and min(data.features_by_month) == date(2024, 5, 1)
    assert data.months_choice == ("from 2024-05: those before 2024-05 count their 12-month window or the month before "
                                  "it over part of it (the warehouse's declarations begin in 2023-05), and the later "
                                  "ones fill the configured number of folds")
    left_out = data.labelled.left_out
    reasons = left_out.groupby(left_out["as_of"].astype(str))["reason"].first()
    assert list(reasons.index) == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    assert reasons["2024-01-01"] == ("features as of 2024-01 would read 9 of the 13 months of their window and the "
                                     "month before it (the warehouse's declarations begin in 2023-05)")
    assert len(data.labelled.rows) + len(left_out) == len(inspections)
    result = fit_and_evaluate(data, SMALL_DATA, 1, None)
    assert result.months_choice == data.months_choice and result.folds["valid_from"].min() > date(2024, 5, 1)
    # The later ones fill three folds of shorter windows (each fold trains on outcomes known 90 days before it).
    assert (len(result.folds), result.folds["valid_until"].max()) == (3, date(2025, 6, 30))
    # When they cannot, even with one-month windows, every month is kept, and why (the configured windows' problem).
    longer = load_training_data(world.home, Config(training=SMALL_DATA.model_copy(
        update={"validation_months": 6, "min_train_rows": 10_000})), inspections)
    assert longer.labelled.months[0] == "2024-01" and longer.labelled.left_out.empty
    assert longer.months_choice.startswith("all, though those before 2024-05 count their 12-month window")
    assert "without them fold 1 (validation 2024-01-01 to 2024-06-30) has 0 training and" in longer.months_choice


@pytest.mark.slow
def test_train_on_the_small_simulated_population(small_warehouse, tmp_path, mlflow_template):
    from training.pipeline import fit_and_evaluate, load_training_data
    from warehouse.inspections import read_inspections

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


def test_a_fold_that_would_learn_from_one_outcome_is_refused_before_any_model_is_fitted(training_world):
    """The controls before the validation windows all found no abuse, the later ones some: fold 1 would fit the
    logistic regression on one outcome, which failed late with scikit-learn's « needs samples of at least 2 classes »."""
    from training.pipeline import fit_and_evaluate, load_training_data
    from training.workflow import inspection_source

    config = Config(training=SMALL_DATA)
    inspections = inspection_source(training_world.home, training_world.inspections_csv).rows
    early = inspections["inspection_date"] < inspections["inspection_date"].max() - pd.DateOffset(months=8)
    assert early.any() and inspections.loc[~early, "abuse_found"].nunique() == 2
    inspections = inspections.assign(abuse_found=inspections["abuse_found"].where(~early, 0))
    data = load_training_data(training_world.home, config, inspections)
    with pytest.raises(ValueError, match=r"^fold 1 trains on \d+ inspections: they all found no abuse \(abuse_found=0\): "
                                         r"a model learns .*; with more inspections, or fewer folds"):
        fit_and_evaluate(data, SMALL_DATA, 1, None)


def test_tuning_never_sees_the_latest_fold(training_world, monkeypatch):
    """The promotion metric is the latest fold's: tuned on it too, the best of N trials looked better there than it
    is, beside baselines that are not tuned. Optuna gets every fold but the latest."""
    import training.pipeline as pipeline
    from training.pipeline import fit_and_evaluate, load_training_data
    from training.workflow import inspection_source

    config = Config(training=SMALL_DATA)
    inspections = inspection_source(training_world.home, training_world.inspections_csv).rows
    data = load_training_data(training_world.home, config, inspections)
    seen: list[list[int]] = []
    tune = pipeline.tune
    monkeypatch.setattr(pipeline, "tune", lambda folds, *args, **kwargs: seen.append(
        [len(fold.y_valid) for fold in folds]) or tune(folds, *args, **kwargs))
    result = fit_and_evaluate(data, SMALL_DATA, 1, None)
    assert seen == [result.folds["n_valid"].tolist()[:-1]] and len(result.folds) >= 2
    assert result.trials["n_folds"].eq(len(result.folds) - 1).all()


def test_an_evaluation_with_no_inspections_says_it_read_the_stored_feature_tables_as_they_were(tmp_path):
    """With no inspections given nor stored, the feature tables read are those stored, with whatever inspections they
    counted: the tag said « none »."""
    import hashlib

    import pandas as pd

    from training.workflow import truth_provenance

    truth = tmp_path / "truth"
    truth.mkdir()
    pd.DataFrame({"siret": ["12345678900011"], "month": [pd.Timestamp("2025-01-01")], "abusive": [1]}).to_parquet(
        truth / "establishment_months.parquet")
    found = truth_provenance(truth, None, None, 1)
    assert found["inspections"] == "none given or stored: the stored feature tables as they were"
    assert found["truth_sha256"] == hashlib.sha256((truth / "establishment_months.parquet").read_bytes()).hexdigest()
