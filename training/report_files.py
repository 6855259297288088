"""Files logged with each training run: plots (matplotlib, Agg), tables (CSV) and the model card (Markdown).

Each function writes into a folder it is given and returns the path; nothing here talks to MLflow.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.capacity import siret_key
from core.size_bands import size_band
from training.evaluation import model_names, selected_text, subgroup_table
from training.labels import LABEL
from training.metrics import group_codes, precision_recall_at_share, region_keys
from training.models import MODEL_LABELS
from training.pipeline import TrainingResult

CURVE_SHARES = np.round(np.arange(0.01, 0.41, 0.01), 2)

# NAF divisions (first two digits) to sections, as the model card groups sectors (English) and the audit
# names them (French, the NAF rév. 2 section titles).
NAF_SECTIONS = [
    (1, 3, "A agriculture", "A — Agriculture, sylviculture et pêche"),
    (5, 9, "B mining", "B — Industries extractives"),
    (10, 33, "C manufacturing", "C — Industrie manufacturière"),
    (35, 35, "D energy", "D — Électricité, gaz, vapeur et air conditionné"),
    (36, 39, "E water, waste", "E — Eau, assainissement, gestion des déchets et dépollution"),
    (41, 43, "F construction", "F — Construction"),
    (45, 47, "G trade", "G — Commerce ; réparation d'automobiles et de motocycles"),
    (49, 53, "H transport", "H — Transports et entreposage"),
    (55, 56, "I hotels, restaurants", "I — Hébergement et restauration"),
    (58, 63, "J information", "J — Information et communication"),
    (64, 66, "K finance", "K — Activités financières et d'assurance"),
    (68, 68, "L real estate", "L — Activités immobilières"),
    (69, 75, "M professional services", "M — Activités spécialisées, scientifiques et techniques"),
    (77, 82, "N support services (incl. temp agencies)",
     "N — Activités de services administratifs et de soutien (dont intérim)"),
    (84, 84, "O public administration", "O — Administration publique"),
    (85, 85, "P education", "P — Enseignement"),
    (86, 88, "Q health, social work", "Q — Santé humaine et action sociale"),
    (90, 93, "R arts, entertainment", "R — Arts, spectacles et activités récréatives"),
    (94, 96, "S other services", "S — Autres activités de services"),
    (97, 98, "T households", "T — Activités des ménages en tant qu'employeurs"),
    (99, 99, "U extraterritorial", "U — Activités extra-territoriales"),
]


def naf_section(naf: object, french: bool = False) -> str:
    """The NAF section of a code such as '5610A': 'I hotels, restaurants', or with `french`
    'I — Hébergement et restauration'; 'unknown' ('section inconnue') if unreadable."""
    text = str(naf or "")
    unknown = "section inconnue" if french else "unknown"
    if len(text) < 2 or not text[:2].isdigit():
        return unknown
    division = int(text[:2])
    return next((fr if french else en for low, high, en, fr in NAF_SECTIONS if low <= division <= high), unknown)


def precision_curve(oof: pd.DataFrame) -> pd.DataFrame:
    """Pooled precision@k of each model for shares from 1% to 40% (selection within fold x region), with the share of
    the rows each selected (`selected_share`: more than the share where regions have few inspected establishments, a
    region's list holding at least one)."""
    y = oof[LABEL].to_numpy()
    groups = group_codes(oof["fold"].to_numpy(), region_keys(oof["region_code"]))
    tiebreak = siret_key(oof["siret"])
    records = []
    for name in model_names(oof):
        scores = oof[f"score_{name}"].to_numpy(dtype=float)
        for share in CURVE_SHARES:
            precision, recall, selected = precision_recall_at_share(y, scores, groups, float(share), tiebreak)
            records.append({"model": name, "share": float(share), "selected_share": selected / len(y),
                            "precision": precision, "recall": recall})
    return pd.DataFrame.from_records(records)


def plot_precision_curve(curve: pd.DataFrame, capacity: float, path: Path) -> Path:
    """Precision@k against the share of each region's establishments visited."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, part in curve.groupby("model", sort=False):
        ax.plot(part["selected_share"] * 100, part["precision"], label=MODEL_LABELS.get(name, name),
                linewidth=2.2 if name == "lightgbm" else 1.2)
    at_capacity = curve.loc[(curve["share"] - capacity).abs() < 1e-9, "selected_share"]
    ax.axvline((at_capacity.iloc[0] if len(at_capacity) else capacity) * 100, color="grey", linestyle=":",
               label=f"capacity ({capacity:.0%} of each region, at least one)")
    ax.set_xlabel("share of the inspected establishments selected (%)")
    ax.set_ylabel("precision (inspections finding abuse)")
    ax.set_title("Precision at k, out-of-fold, pooled over regions")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def reliability(oof: pd.DataFrame, model: str, bins: int = 10) -> pd.DataFrame:
    """Mean calibrated probability and observed rate per quantile bin of a model's out-of-fold probabilities."""
    p = oof[f"proba_{model}"].to_numpy(dtype=float)
    y = oof[LABEL].to_numpy()
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    return frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")).reset_index()


def plot_calibration(oof: pd.DataFrame, path: Path) -> Path:
    """Reliability diagram of the calibrated out-of-fold probabilities (LightGBM and logistic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    for name in ("lightgbm", "logistic"):
        if f"proba_{name}" not in oof:
            continue
        table = reliability(oof, name)
        ax.plot(table["predicted"], table["observed"], marker="o", label=MODEL_LABELS.get(name, name))
    ax.set_xlabel("predicted probability that an inspection finds abuse")
    ax.set_ylabel("observed share of inspections finding abuse")
    ax.set_title("Calibration (out-of-fold, cross-fitted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_importance(importance: pd.DataFrame, path: Path, top: int = 20) -> Path:
    """Mean |SHAP| of the top features of the final LightGBM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(head) + 1.2))
    ax.barh(head["feature"], head["mean_abs_shap"])
    ax.set_xlabel("mean |SHAP value| (log-odds) over the labelled rows")
    ax.set_title("Global feature importance (final LightGBM)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _markdown(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A small DataFrame as a Markdown table; a number that is not defined (NaN) reads "n/a"."""
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        cells = [("n/a" if v != v else floats.format(v)) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card(result: TrainingResult, context: dict[str, str]) -> str:
    """The model card (Markdown): intended use, data, training, evaluation overall and per region,
    sector and size band, selection bias and limits."""
    settings = result.settings
    k = settings.capacity_share
    table = result.comparison
    overall = table[(table["fold"] == "all")]
    summary = []
    for name in overall["model"].unique():
        part = overall[overall["model"] == name].set_index("share")
        row = {"model": MODEL_LABELS.get(name, name)}
        for share in settings.shares:
            at = part.loc[share]
            row[f"precision@{share:.0%}"] = f"{at['precision']:.3f} [{at['precision_low']:.2f}, {at['precision_high']:.2f}]"
        row[f"recall@{k:.0%}"] = f"{part.loc[k, 'recall']:.3f}"
        row["average precision"] = f"{part.loc[k, 'average_precision']:.3f}"
        row["ROC AUC"] = f"{part.loc[k, 'roc_auc']:.3f}"
        row["Brier"] = f"{part.loc[k, 'brier']:.3f}"
        row[f"lift@{k:.0%}"] = f"{part.loc[k, 'lift']:.2f}"
        summary.append(row)
    oof = result.oof
    by_region = subgroup_table(oof, "lightgbm", oof["region_code"], k)
    by_sector = subgroup_table(oof, "lightgbm", oof["naf"].map(naf_section), k)
    by_size = subgroup_table(oof, "lightgbm", oof["headcount"].map(size_band), k)
    rows = result.labelled.rows
    first, last = rows["inspection_date"].min(), rows["inspection_date"].max()
    data_delay = (result.scoring_model.features_settings or {}).get("outcome_known_after_days", 0)
    folds = result.folds.astype(str)
    selection = result.selection
    source = context.get("inspections", "the warehouse")
    months = result.labelled.months
    model = result.scoring_model
    resumed = f", {result.trials_resumed} earlier (resumed)" if result.trials_resumed else ""
    return f"""# Model card: {settings.registered_model}

Trained {datetime.now():%Y-%m-%d %H:%M} from commit {context.get('git_commit', 'unknown')}.

## Intended use
Ranks, each month, the establishments of each region by the probability that an inspection of their use of
fixed-term contracts (CDD) and temp work (CTT) finds abuse, so that DREETS inspectors choose whom to visit
within their capacity (about {k:.0%} of a region's establishments a month). It prioritises visits; it proves
nothing. Every signal is an *infraction potentielle* that an inspector establishes on site. It must not be used
to sanction, to score people, or outside the DSN population it was trained on.

## Data
- {len(rows)} labelled inspections ({int(rows['abuse_found'].sum())} finding abuse) dated {first:%Y-%m-%d} to {last:%Y-%m-%d},
  from `{source}`; {len(result.labelled.left_out)} inspections left out (see left_out_inspections.csv).
- Each inspection is described by its establishment's features as of the month before the inspection
  (as-of months {months[0]} to {months[-1]}: {result.months_choice}); feature schema version {model.schema_version},
  {len(model.features)} features (features.json). Features are per establishment; no person-level data.

## Training
- LightGBM (binary), tuned by Optuna (TPE, median pruning) on `{settings.objective}` averaged over the
  {len(result.folds)} expanding-window folds but the latest, held out for the promotion metric ({result.fold_choice});
  study `{result.study_name}`;
  {result.trials_this_run} trials in this training{resumed}.
- Best parameters: `{result.params}`; legal-rule counts constrained to raise the score (monotone).
- Inverse-propensity weighting: **{result.ipw}** ({result.ipw_reason}).
- Probabilities calibrated ({settings.calibration}) on the out-of-fold scores.

Folds (by inspection date; train on the controls whose outcome was known before `valid_from`, up to `train_until`:
outcomes taken as known {data_delay} days after the control, `features.outcome_known_after_days`, an assumption):

{_markdown(folds)}

## Evaluation (out-of-fold, inspected establishments only)
Precision@k: each region's top share of its validated inspections, pooled; 95% intervals (exact binomial for
precision at the capacity's k). A region's share is at least one establishment, as in the monthly lists, so where
regions hold few validated inspections a share selects more than it says: {selected_text(overall, settings.shares)}.

{_markdown(pd.DataFrame(summary))}

### LightGBM per region
n/a: not defined in the group: precision@k with no establishment selected, average precision and ROC AUC with
no inspection finding abuse (or none finding nothing).

{_markdown(by_region)}

### LightGBM per sector (NAF section)
{_markdown(by_sector)}

### LightGBM per size band (headcount)
{_markdown(by_size)}

## Selection bias
Past inspections were not drawn at random (campaigns, complaints, random visits). Inspected
establishment-months differ from the population (means):

{_markdown(selection)}

The evaluation above measures how well the model ranks establishments *that were inspected*; on the whole
population, where most establishments were never inspected, precision can be lower or higher. Weighting
(inverse propensity, modelled inspection probability: ROC AUC {result.propensity_auc:.3f} on the last window) can
correct only for selection on what the features show; visits prompted by complaints select on what they do not.

## Limits
- Validation sets are small (a few dozen selected rows per fold at {k:.0%}): intervals are wide; compare models on
  the intervals, not on the point estimates.
- An inspection finding no abuse is not proof of no abuse; outcomes depend on the inspector and on the visit.
- Establishments never inspected in a sector or region are ranked by extrapolation.
- Deterred or corrected establishments change behaviour after a visit; features capture it only with a delay.
"""
