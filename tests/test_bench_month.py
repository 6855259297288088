"""`champollion bench month`: one month end to end, timed by stage (on the small population; the national
run is the command itself)."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from champollion.cli import app
from core.home import Home
from features.build import load_features
from features.store import declared_months
from scoring.bench_month import MonthBenchReport, MonthStage, month_frame


def _report(features: float, lists: float) -> MonthBenchReport:
    stages = [MonthStage("features", "", features, 2048.0), MonthStage("features", "rule checks", features / 2, None),
              MonthStage("scores, lists and reasons", "", lists, 1024.0),
              MonthStage("scores, lists and reasons", "SHAP reasons", lists / 4, None)]
    return MonthBenchReport(date(2025, 12, 1), "duckdb", 2_000, 50, 100, "m", stages, "1.00 1.00 1.00", "1.00 1.00 1.00")


def test_each_stage_is_a_share_of_the_run_and_a_ratio_to_the_features_stage():
    frame = month_frame(_report(features=120.0, lists=60.0)).set_index("stage")
    assert frame.loc["features", "share of the run"] == "67%" and frame.loc["features", "x features"] == "1.00"
    assert frame.loc["scores, lists and reasons", "x features"] == "0.50"
    assert frame.loc["  rule checks", "peak RSS (GB)"] == ""  # steps run inside their stage's process
    whole = frame.index[-1]
    assert whole.startswith("month end to end (target 300 s: met)")
    assert frame.loc[whole, "seconds"] == 180.0 and frame.loc[whole, "peak RSS (GB)"] == "2.0"
    assert frame.loc[whole, "per 1,000 establishments (s)"] == "90.000"
    assert "MISSED" in month_frame(_report(features=250.0, lists=60.0))["stage"].iloc[-1]


@pytest.mark.slow
def test_a_home_without_inspections_is_benched_with_the_champion_of_another_home(small_pipeline, tmp_path):
    _, trained, _ = small_pipeline
    home = Home(tmp_path / "home")
    shutil.copytree(trained.warehouse, home.warehouse)
    (home.warehouse / "inspections.parquet").unlink(missing_ok=True)  # like the national preset
    month = declared_months(home.warehouse)[-1]
    runner = CliRunner()
    base = ["--home", str(home.root), "--config", str(trained.root / "champollion.yaml"), "bench", "month"]

    refused = runner.invoke(app, [*base, "--model-home", str(tmp_path / "nowhere")])
    assert refused.exit_code != 0 and "no mlruns/" in refused.output

    result = runner.invoke(app, [*base, "--model-home", str(trained.root)])
    assert result.exit_code == 0, result.output
    assert f"from the registry of {trained.root}" in result.output and "month end to end (target 300 s" in result.output
    runs = list((home.data / "bench").glob("month-*.json"))
    assert len(runs) == 1
    measured = json.loads(runs[0].read_text(encoding="utf-8"))
    stages = pd.DataFrame(measured["stages"])
    whole = stages[stages["step"] == ""].set_index("stage")
    assert list(whole.index) == ["features", "scores, lists and reasons"]
    assert (whole["seconds"] > 0).all() and (whole["peak_rss_mb"] > 0).all()
    steps = stages[stages["step"] != ""].groupby("stage")["seconds"].sum()
    assert (steps <= whole["seconds"] + 1e-6).all()  # the steps are parts of their stage
    assert {"as-of tables", "rule checks", "SHAP reasons", "files written"} <= set(stages["step"])
    features = load_features(home.data, month)
    assert measured["establishments"] == len(features) and measured["total_seconds"] == pytest.approx(whole["seconds"].sum())
    ranked = pd.read_csv(home.lists / f"{month:%Y-%m}" / "ranked.csv", dtype={"siret": "string"})
    assert len(ranked) == len(features) and int(ranked["in_list"].sum()) == measured["listed"] > 0
