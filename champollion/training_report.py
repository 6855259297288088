"""Terminal tables of the training commands (rich), in the style of champollion.reporting."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from champollion.reporting import console
from training.evaluation import selected_text
from training.models import MODEL_LABELS
from training.pipeline import TrainingResult
from training.promotion import promotion_metric
from training.registry import BASELINES
from training.splitter import FoldChoice
from training.tuning import TrialReport
from training.workflow import EvaluationOutcome, PromotionOutcome, TrainOutcome

SELECTION_BIAS_NOTE = (
    "Selection bias: these metrics are measured on inspected establishments only. Past inspections were chosen "
    "(campaigns, complaints, random visits), so the inspected differ from the population (table above): precision "
    "on the whole population can be lower or higher, and a model can learn who gets inspected as much as who abuses. "
    "Inverse-propensity weighting corrects only for selection on what the features show, not for complaints "
    "prompted by what they do not. On a simulated population, `evaluate --truth` measures the difference."
)


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _ci(row: Any, name: str) -> str:
    value = getattr(row, name)
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f} [{getattr(row, name + '_low'):.2f}, {getattr(row, name + '_high'):.2f}]"


def _label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def print_bad_rows(issues: list) -> None:
    """The problems of the inspections file (bad rows left out, rows that may be two merged), file, line and reason; or
    of the stored controls (recorded in the web application with another outcome), file and reason."""
    for issue in issues:
        where = f"{issue.file}:{issue.line}" if issue.line is not None else issue.file
        console.print(f"[yellow]{escape(f'{where}: {issue.reason}')}[/yellow]")


def print_left_out(left_out: pd.DataFrame) -> None:
    """Inspections that could not be labelled, counted by reason (all listed in the run's artifacts)."""
    if not left_out.empty:
        table = Table(title=f"Inspections left out of the labels ({len(left_out)})")
        for column in ("reason", "inspections"):
            table.add_column(column)
        for reason, count in left_out["reason"].value_counts().items():
            table.add_row(str(reason), str(count))
        console.print(table)


def print_folds(choice: FoldChoice, labelled_rows: int) -> None:
    """The temporal folds chosen for the history: why, dates and counts."""
    console.print(f"folds: {choice.reason}")
    table = Table(title=f"Temporal validation: expanding window by inspection date ({labelled_rows} labelled inspections)")
    for column in ("fold", "train on inspections up to", "validate from", "validate until", "train rows", "validation rows",
                   "validation positives"):
        table.add_column(column, justify="right")
    for f in choice.folds.itertuples(index=False):
        table.add_row(str(f.fold), str(f.train_until), str(f.valid_from), str(f.valid_until), str(f.n_train),
                      str(f.n_valid), str(f.positives))
    console.print(table)


def trial_line(trial: TrialReport) -> str:
    """One finished trial for the log; a pruned trial's value is partial."""
    if trial.state == "complete":
        return f"trial {trial.number}: complete, objective {trial.value:.4f} (mean over {trial.n_folds} folds)"
    if trial.state == "pruned":
        partial = "" if trial.value is None else (
            f", partial objective {trial.value:.4f} over fold{'s 1-' if trial.folds_done > 1 else ' '}{trial.folds_done} "
            "only (not comparable with complete trials)")
        return f"trial {trial.number}: pruned after fold {trial.folds_done} of {trial.n_folds}{partial}"
    return f"trial {trial.number}: {trial.state}"


def trials_summary(trials: pd.DataFrame, this_run: int, resumed: int) -> str:
    """How the study's trials ended: complete, pruned (after which fold), failed."""
    states = trials["state"].value_counts()
    pruned = trials[trials["state"] == "pruned"]["folds_evaluated"].value_counts().sort_index()
    after = ", ".join(f"{n} after fold {k}" for k, n in pruned.items())
    earlier = f" and {resumed} from an earlier run (resumed)" if resumed else ""
    # A trial that failed, or an interrupted run's, is none of those counted: said apart, so that the counts add up.
    unfinished = len(trials) - this_run - resumed
    earlier += f" and {unfinished} that did not finish" if unfinished > 0 else ""
    failed = f", {states.get('fail', 0)} failed" if states.get("fail", 0) else ""
    failed += f", {states.get('running', 0)} interrupted" if states.get("running", 0) else ""  # a run killed mid-trial
    return (f"{this_run} trials in this run{earlier}: {states.get('complete', 0)} complete, "
            f"{states.get('pruned', 0)} pruned{f' ({after})' if after else ''}{failed}")


def print_comparison(comparison: pd.DataFrame, capacity: float, shares: list[float]) -> None:
    """The comparison of every model: overall with intervals, then per fold at capacity."""
    overall = comparison[comparison["fold"] == "all"]
    table = Table(title="Models compared at inspection capacity (out-of-fold, inspected establishments; "
                        "95% intervals: exact binomial at k)")
    table.add_column("model")
    for share in shares:
        table.add_column(f"precision@{share:.0%}", justify="right")
    table.add_column(f"recall@{capacity:.0%}", justify="right")
    for column in (f"lift@{capacity:.0%}", "avg precision", "ROC AUC", "Brier"):
        table.add_column(column, justify="right")
    for name in overall["model"].unique():
        part = overall[overall["model"] == name]
        at = {round(r.share, 6): r for r in part.itertuples(index=False)}
        k = at[round(capacity, 6)]
        table.add_row(_label(name), *[_ci(at[round(s, 6)], "precision") for s in shares], _ci(k, "recall"),
                      _f(k.lift, 2), _f(k.average_precision), _f(k.roc_auc), _f(k.brier))
    table.caption = ("rows selected (the top share of each fold's regions, at least one each, as the monthly lists): "
                     + selected_text(overall, shares))
    console.print(table)
    per_fold = comparison[(comparison["fold"] != "all") & ((comparison["share"] - capacity).abs() < 1e-9)]
    folds = sorted(per_fold["fold"].unique(), key=int)
    table = Table(title=f"Per fold at capacity ({capacity:.0%} of each region's inspected establishments)")
    table.add_column("model")
    for fold in folds:
        n = per_fold[per_fold["fold"] == fold].iloc[0]
        table.add_column(f"fold {fold}: precision ({n.selected} of {n.n} selected, {n.selected / n.n:.0%})", justify="right")
        table.add_column(f"fold {fold}: recall ({n.positives} pos.)", justify="right")
    for name in per_fold["model"].unique():
        cells = []
        for fold in folds:
            row = per_fold[(per_fold["model"] == name) & (per_fold["fold"] == fold)].iloc[0]
            cells += [_ci(row, "precision"), _ci(row, "recall")]
        table.add_row(_label(name), *cells)
    console.print(table)


def print_selection(result: TrainingResult) -> None:
    """The weighting decision, the inspected against the population, and the selection-bias statement."""
    if result.ipw_decision is not None:
        decision = result.ipw_decision
        console.print(
            f"inverse-propensity weighting, LightGBM (default parameters) precision@{result.settings.capacity_share:.0%} "
            f"against the hidden truth, mean over {len(decision)} months: with weights {decision['ipw_on'].mean():.3f}, "
            f"without {decision['ipw_off'].mean():.3f}"
        )
    console.print(f"inverse-propensity weighting: [bold]{result.ipw}[/bold] ({result.ipw_reason})")
    table = Table(title=f"Who gets inspected (establishment-months; inspection-propensity model ROC AUC "
                        f"{result.propensity_auc:.3f} on the last window)")
    for column in ("feature (mean)", "inspected next month", "all establishments"):
        table.add_column(column, justify="left" if column.startswith("feature") else "right")
    for row in result.selection.itertuples(index=False):
        table.add_row(row.feature, _f(row.inspected), _f(row.all))
    console.print(table)
    console.print(SELECTION_BIAS_NOTE)


def print_truth_over_folds(frame: pd.DataFrame, shares: list[float]) -> None:
    """Every model's precision@k against the hidden truth, fold models, mean over the validation months."""
    mean = frame.groupby(["model", "share"], sort=False)["precision"].mean().unstack("share")
    months = frame["as_of"].nunique()
    table = Table(title=f"Hidden truth over the validation windows: fold models scoring every establishment, "
                        f"mean over {months} months")
    table.add_column("model")
    for share in shares:
        table.add_column(f"precision@{share:.0%}", justify="right")
    for name in mean.index:
        table.add_row(_label(name), *[_f(mean.loc[name, s]) for s in shares])
    console.print(table)


def print_latest_fold(result: TrainingResult) -> None:
    """The promotion metric of every model on the latest fold, LightGBM with its interval, and whether a
    simpler model does as well."""
    values = result.latest_fold_values
    fold = result.folds.iloc[-1]
    table = Table(title=f"Promotion metric: {promotion_metric(result.settings)} ({fold.valid_from} to "
                        f"{fold.valid_until}: {fold.n_valid} inspections); 95% bootstrap interval")
    table.add_column("model")
    table.add_column("value", justify="right")
    for row in values.itertuples(index=False):
        interval = f" [{row.low:.2f}, {row.high:.2f}]" if not math.isnan(row.low) else ""
        table.add_row(_label(row.model), f"{row.value:.3f}{interval}")
    console.print(table)
    console.print(f"simpler models: {result.simpler_model_verdict}")


def print_trained(outcome: TrainOutcome) -> None:
    """The study's trials, and where the run (and the registered version, if any) went."""
    record, result = outcome.record, outcome.result
    if record.version is not None:
        registered = (f"registered {result.settings.registered_model} version {record.version} with alias(es) "
                      f"{', '.join(record.aliases)}")
    else:
        held = f" ({', '.join(record.same_as_aliases)})" if record.same_as_aliases else ""
        registered = (f"not registered: the same model as version {record.same_as}{held} (same data, folds, "
                      "parameters and settings)")
    console.print(
        f"Optuna study {result.study_name} (objective {result.settings.objective}):\n"
        f"{trials_summary(result.trials, result.trials_this_run, result.trials_resumed)}\n"
        f"LightGBM parameters: {result.params}\n"
        f"MLflow run {record.run_id} ({record.run_name}, experiment {record.experiment_id})\n{registered}\n"
        f"browse: mlflow ui --backend-store-uri {record.tracking_uri}\n"
        f"trained in {outcome.seconds:.0f} s"
    )


def print_truth(outcome: EvaluationOutcome) -> None:
    """The truth comparison of `evaluate`: every model, the oracle and the perfect list, per share."""
    settings = outcome.settings
    table = outcome.table
    labelled = outcome.labelled.set_index(["model", "share"])["precision"]
    n, abusing = int(table["n"].iloc[0]), int(table["abusing"].iloc[0])
    title = (f"Hidden truth, {outcome.month:%Y-%m}: all {n} establishments ({abusing} abusing) ranked within each region; "
             f"models of version {outcome.version}")
    for share in settings.shares:
        part = table[(table["share"] - share).abs() < 1e-9]
        out = Table(title=f"{title}, top {share:.0%} of each region")
        for column in ("model", "precision (truth)", "recall (truth)", "avg precision", "ROC AUC",
                       "gap to oracle", "gap to perfect list", "precision on inspected (CV)"):
            out.add_column(column, justify="left" if column == "model" else "right")
        for row in part.itertuples(index=False):
            cv = labelled.get((row.model, share), float("nan"))
            out.add_row(_label(row.model), _ci(row, "precision"), _ci(row, "recall"), _f(row.average_precision),
                        _f(row.roc_auc), _f(row.gap_to_oracle), _f(row.gap_to_perfect), _f(cv))
        console.print(out)
    if outcome.without_truth:
        console.print(f"[yellow]{outcome.without_truth} establishments of the feature table have no truth row that month "
                      "(left out)[/yellow]")
    console.print(
        "The oracle ranks by the true probability that an inspection this month finds abuse; the perfect list by the "
        "abuse itself (the ceiling). "
        "'precision on inspected (CV)' is the out-of-fold precision on inspected establishments that `train` reported: "
        "its difference from the truth column is the selection bias of evaluating on past inspections."
    )


def _cell(value: str) -> str:
    return f"{float(value):.3f}" if value else "-"


def print_versions(frame: pd.DataFrame, metric: str) -> None:
    """`champollion models`: each version's promotion metric (`metric`, in words) with its interval and every
    baseline's value on the same rows, the verdict on the simpler models, why `score` would refuse a version, and
    who is champion and challenger."""
    if frame.empty:
        console.print("no registered version yet: run `champollion train`")
        return
    table = Table(title=f"Registered versions. Promotion metric: {metric}; baselines on the same inspections")
    columns = ("version", "aliases", "data months", "rows", "trials", "latest fold", "LightGBM [95% interval]",
               *(MODEL_LABELS[b] for b in BASELINES))
    for column in columns:
        table.add_column(column, justify="left" if column in ("aliases", "data months", "latest fold") else "right",
                         no_wrap=column in ("aliases", "data months", "latest fold", "LightGBM [95% interval]"))
    for r in frame.itertuples(index=False):
        interval = f" [{float(r.promotion_low):.2f}, {float(r.promotion_high):.2f}]" if r.promotion_low else ""
        # The trials it was chosen among: this run's, and the study's when it resumed one.
        trials = f"{r.trials} of {r.trials_in_study}" if r.trials_in_study not in ("", r.trials) else r.trials
        table.add_row(str(r.version), r.aliases, r.data_months, r.labelled_rows, trials, r.latest_fold,
                      f"{_cell(r.promotion)}{interval}", *(_cell(getattr(r, b)) for b in BASELINES))
    console.print(table)
    for r in frame.itertuples(index=False):
        verdict = f"; {r.verdict}" if r.verdict else ""
        if r.other_metric:  # trained with other settings: its values measure that
            verdict = f"; its values are its {r.promotion_metric}, not the metric above{verdict}"
        refused = f"; [yellow]`champollion score` refuses it[/yellow]: it {escape(r.refused)}" if r.refused else ""
        console.print(f"version {r.version}: MLflow run {r.run_id}{verdict}{refused}")
    holders = {alias: str(r.version) for r in frame.itertuples(index=False) for alias in r.aliases.split(", ") if alias}
    refused_by_version = dict(zip(frame["version"].astype(str), frame["refused"], strict=True))
    champion = holders.get("champion")
    role = ("[yellow]refused by `champollion score`, which gives no list: promote a version it accepts[/yellow]"
            if champion and refused_by_version.get(champion) else "scores the lists")
    console.print(f"champion: v{champion or '-'} ({role}); "
                  f"challenger: v{holders.get('challenger', '-')} (the latest registered)")


def print_promotion(outcome: PromotionOutcome) -> None:
    """`champollion promote`: the comparison made, the decision and the aliases moved."""
    decision = outcome.decision
    held = f" ({', '.join(outcome.candidate_aliases)})" if outcome.candidate_aliases else " (no alias)"
    console.print(f"candidate: version {outcome.candidate}{held}; champion: "
                  f"{'v' + outcome.champion_before if outcome.champion_before else 'none'}; challenger: "
                  f"{'v' + outcome.challenger if outcome.challenger else 'none'}")
    if decision.champion_value is not None:
        console.print(f"promotion metric: {outcome.metric}")
        table = Table(title=f"on the same {outcome.rows_compared} inspections" if outcome.rows_compared
                      else "on different inspections (see below)")
        for column in ("version", "role", "value"):
            table.add_column(column, justify="right" if column == "value" else "left")
        table.add_row(f"v{outcome.candidate}", "candidate", f"{decision.challenger_value:.3f}")
        table.add_row(f"v{outcome.champion_before}", "champion", f"{decision.champion_value:.3f}")
        console.print(table)
    if outcome.note:
        console.print(outcome.note)
    verdict = "[green]promoted[/green]" if decision.promote else "[yellow]not promoted[/yellow]"
    console.print(f"version {outcome.candidate}: {verdict}: {decision.reason}")
    if outcome.champion_after != outcome.champion_before:
        moved = f"champion v{outcome.champion_before or '-'} -> v{outcome.champion_after}"
    else:
        moved = f"none (champion stays on v{outcome.champion_before})"
    stays = f"; challenger stays on v{outcome.challenger}" if outcome.challenger else ""
    console.print(f"aliases moved: {moved}{stays}")
