"""The audit as one self-contained HTML page: text, tables and figures (PNG embedded), no external file."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import markdown
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from features.catalog import FEATURES  # noqa: E402
from scoring.audit.checks import LABELS_FR  # noqa: E402
from scoring.config import AuditConfig  # noqa: E402

SECTIONS = (
    ("summary", "Verdict"),
    ("model-card", "Model card"),
    ("drivers", "What drives the model"),
    ("faithfulness", "Faithfulness of the explanations"),
    ("targeting", "Whom it targets"),
    ("stability", "List stability and drift"),
    ("selection-bias", "Selection bias"),
    ("rules", "Legal-rule evidence against the truth"),
)

UNITS = {f.name: f.unit for f in FEATURES}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1d1d1d; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #004c8c; padding-bottom: .2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; } .pass { color: #11691f; font-weight: 600; } .fail { color: #b00020; font-weight: 600; }
tr.flagged td { background: #fde8e8; } figure { margin: 1rem 0; } img { max-width: 100%; height: auto; } figcaption { font-size: .85rem; color: #555; }
nav a { margin-right: 1rem; } .note { background: #fff8e1; padding: .5rem 1rem; border-left: 4px solid #f0b400; }
@media print { nav { display: none; } }
"""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(figure: Any, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(figure)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    if frame is None or frame.empty:
        return "<p>(nothing to show)</p>"
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    flagged = shown["flagged"].astype(bool).tolist() if "flagged" in shown.columns else [False] * len(shown)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join(
        f'<tr{" class=flagged" if flag else ""}>' + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row, flag in zip(shown.itertuples(index=False), flagged)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _importance_figure(importance: pd.DataFrame, top: int = 15) -> str:
    rows = importance.head(top).iloc[::-1]
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(rows) + 1))
    axis.barh(rows["label_fr"].str.slice(0, 70), rows["mean_abs_shap"], color="#004c8c")
    axis.set_xlabel("mean |SHAP value| (log-odds)")
    return _figure(figure, f"Global SHAP importance, top {len(rows)} features, every establishment of the month")


def _dependence_figures(dependence: dict[str, pd.DataFrame]) -> str:
    parts = []
    for feature, frame in dependence.items():
        figure, axis = plt.subplots(figsize=(6, 3.2))
        values = pd.to_numeric(frame["value"], errors="coerce")
        if values.notna().any():
            top = values.quantile(0.99)
            kept = values <= top
            axis.scatter(values[kept], frame["shap"][kept], s=6, alpha=0.4, color="#004c8c")
            axis.axhline(0, color="#999", linewidth=0.8)
            axis.set_xlabel(LABELS_FR.get(feature, feature)[:80])
            axis.set_ylabel("SHAP value (log-odds)")
            caption = f"SHAP dependence: {feature} (values up to the 99th percentile, {top:.3g})"
        else:
            categories = frame["value"].astype("string").fillna("<NA>")
            means = frame.groupby(categories)["shap"].mean().sort_values().tail(20)
            axis.barh(means.index.astype(str), means.to_numpy(), color="#004c8c")
            axis.set_xlabel(f"mean SHAP value by {feature}")
            caption = f"SHAP dependence: {feature} (mean by category, 20 highest)"
        parts.append(_figure(figure, caption))
    return "".join(parts)


def _drift_figure(drift: pd.DataFrame, threshold: float) -> str:
    rows = drift.head(15).iloc[::-1]
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(rows) + 1))
    axis.barh(rows["feature"], rows["psi"], color=["#b00020" if f else "#004c8c" for f in rows["flagged"]])
    axis.axvline(threshold, color="#b00020", linestyle="--", linewidth=1)
    axis.set_xlabel("population stability index")
    return _figure(figure, f"Feature drift since training (PSI, threshold {threshold:g})")


def _model_card(text: str, features: list[str]) -> str:
    """The training run's model card (its headings moved under this section's) and the features read."""
    body = markdown.markdown(text, extensions=["tables"])
    for level in (3, 2, 1):  # h1 -> h3, h2 -> h4, h3 -> h5
        body = body.replace(f"<h{level}>", f"<h{level + 2}>").replace(f"</h{level}>", f"</h{level + 2}>")
    catalog = pd.DataFrame([{"feature": f, "label (as inspectors read it)": LABELS_FR.get(f, f),
                             "unit": UNITS.get(f, "")} for f in features])
    return body + "<h3>Features read by the model</h3>" + _table(catalog)


def _verdict(result: Any) -> str:
    checks = pd.DataFrame([{"check": c.name, "value": c.value, "threshold": c.threshold,
                            "result": "pass" if c.passed else "FAIL", "detail": c.detail} for c in result.checks])
    word = '<span class="pass">PASSED</span>' if result.passed else '<span class="fail">FAILED</span>'
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in result.notes)
    return f"<p>The audit {word}: {sum(c.passed for c in result.checks)} of {len(result.checks)} checks pass.</p>" \
           f"{_table(checks, 4)}{notes}"


def _targeting(result: Any, settings: AuditConfig) -> str:
    parts = [f"<p>Disparities are ratios to the reference group (the largest); a group of at least "
             f"{settings.min_group_size} establishments is flagged when a ratio leaves [{settings.tau:g}, "
             f"{1 / settings.tau:.3g}] (Aequitas, tau = {settings.tau:g}). <b>list/</b> tables: the month's list "
             + ("against the hidden truth of the simulated population (precision and FDR)" if result.truth_used
                else "(no outcome is known yet for the month's list: share listed only)")
             + "; <b>inspections/</b> tables: past inspections validated out of fold, selected when LightGBM put them in "
               "the top of their fold and region at capacity (precision and FDR where outcomes exist).</p>"]
    for name, table in result.targeting.items():
        parts.append(f"<h3>{html.escape(name)}</h3>{_table(table)}")
    return "".join(parts)


def _selection(result: Any) -> str:
    auc = result.metrics.get("propensity/roc_auc_last_window")
    text = ("<p>Past inspections were not drawn at random (campaigns, complaints, random visits): the inspected "
            "establishment-months differ from the others (means below). The inspection-propensity model of the "
            "training run " + (f"separates them with ROC AUC {auc:.3f} on its last window. " if auc is not None else ". ")
            + "Every metric measured on inspected establishments can differ from the population's; inverse-propensity "
              f"weighting was <b>{html.escape(str(result.model.ipw))}</b> for this model.</p>")
    return text + _table(result.selection_bias)


def _rules(result: Any) -> str:
    if result.rule_accuracy is None:
        return "<p>(no truth folder given: the evidence of the legal-rule checks is not measured)</p>"
    return ("<p>Each finding an inspector reads is matched with the simulated truth by its contract (declaring SIRET, "
            "contract number, start date): precision is the share of findings on a contract that really broke the rule, "
            "recall the share of such contracts of the last 12 months that were found; established and probable "
            "findings feed the lists' reasons and the rule counts, those to check on site stay in the evidence.</p>"
            + _table(result.rule_accuracy))


def render_audit(result: Any, settings: AuditConfig) -> str:
    """The whole report as one HTML string."""
    nav = "".join(f'<a href="#{anchor}">{html.escape(title)}</a>' for anchor, title in SECTIONS)
    permutation = result.permutation.rename("permutation_importance").rename_axis("feature").reset_index()
    importance = result.importance.merge(permutation, on="feature", how="left")
    sections = {
        "summary": _verdict(result),
        "model-card": _model_card(result.model_card, result.model.features),
        "drivers": _importance_figure(result.importance) + _dependence_figures(result.dependence)
        + "<h3>Strongest interactions (SHAP interaction values, sample of the month)</h3>" + _table(result.interactions, 4),
        "faithfulness": "<p>Every establishment's SHAP values are checked to add up to its raw score; SHAP importance "
        "is compared with permutation importance (mean change of the raw score when a feature is shuffled); the top "
        "reason of each listed establishment is recomputed after refitting the model's parameters with another seed "
        "and without the last month of inspections.</p>" + _table(importance.head(25), 4)
        + "<h3>Stability of the top reason</h3>" + _table(result.stability),
        "targeting": _targeting(result, settings),
        "stability": "<h3>Consecutive lists</h3>" + (_table(result.list_stability) if result.list_stability is not None
                                                     else "<p>(no previous month)</p>")
        + f"<h3>Drift since {html.escape(result.drift_reference)} (the model's last training month)</h3>"
        + _drift_figure(result.drift, settings.psi_threshold) + _table(result.drift.head(30), 4),
        "selection-bias": _selection(result),
        "rules": _rules(result),
    }
    body = "".join(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{sections[anchor]}</section>'
                   for anchor, title in SECTIONS)
    title = f"Audit of champollion-precarite version {result.version}, {result.month:%Y-%m}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>{body}</body></html>")
