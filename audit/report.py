"""The audit as one self-contained HTML page in French: the verdict first, then figures and tables,
printable as PDF (print style sheet). The page is the Jinja template `templates/audit.html.j2`; this
module turns the audit's frames into French rows and figures for it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
import markdown
import pandas as pd

from audit import figures
from audit.baselines import MODEL_LABELS_FR
from audit.checks import LABELS_FR
from audit.drift import TRAINING
from audit.fairness import DIMENSIONS, SOURCES, group_order, with_groups
from audit.verdict import GROUPS, Check, Status, by_group
from core.config import Config
from core.french import count_fr, missing, month_fr, number_fr, of_month_fr, percent_fr
from core.scoring_config import AuditConfig
from features.catalog import FEATURES
from features.rules import RULES

if TYPE_CHECKING:  # audit.run renders this report
    from audit.run import AuditResult

SECTIONS = (
    ("summary", "Verdict"),
    ("purpose", "À quoi sert ce modèle, et à quoi il ne doit pas servir"),
    ("performance", "Performance face aux méthodes de référence"),
    ("drivers", "Ce qui oriente le modèle"),
    ("faithfulness", "Fidélité et stabilité des explications"),
    ("fairness", "Équité : qui la liste cible"),
    ("selection-bias", "Biais de sélection : qui est contrôlé, qui est listé"),
    ("stability", "Stabilité des listes et dérive des données"),
    ("rules", "Exactitude des constats des règles de droit"),
    ("model-card", "Annexe : fiche du modèle"),
)
UNITS_FR = {"category": "catégorie", "count": "nombre", "days": "jours", "fte": "ETP", "months": "mois",
            "ratio": "rapport", "share": "part"}
UNITS = {f.name: f.unit for f in FEATURES}
RULE_LABELS = {rule.id: f"{rule.label_fr} ({rule.article})" for rule in RULES}
DASH = "—"

# What an evaluator should do next, per group of checks that did not pass.
NEXT_STEPS = {
    "performance": "Si le modèle ne fait pas mieux qu'une méthode simple sur les contrôles passés (figure « Précision "
                   "aux capacités de contrôle »), sa complexité n'est pas justifiée : préférer la méthode simple, plus "
                   "lisible, ou réentraîner le modèle quand davantage de contrôles sont connus. Si les lignes menées "
                   "par un fait ne font pas mieux que le hasard face à la vérité simulée, ce fait ne doit pas orienter "
                   "les contrôles : revoir l'entraînement (pondération par l'inverse de la propension, variables) avant "
                   "de confier les listes au modèle.",
    "explanations": "Ne pas diffuser les motifs tant que les explications ne sont pas fidèles ou stables : vérifier le "
                    "calcul des valeurs SHAP et la stabilité du motif principal (section « Fidélité »).",
    "fairness": "Examiner les groupes signalés (section « Équité ») : la disparité suit-elle une différence réelle de "
                "recours abusif (contrôles passés, vérité simulée) ou une variable qui désavantage un groupe ? Une "
                "disparité de fausses découvertes signifie des contrôles inutiles concentrés sur ce groupe.",
    "drift": "Regarder les variables en dérive (section « Dérive ») : changement dans les déclarations DSN, de "
             "nomenclature ou de conjoncture ? Une dérive durable depuis l'entraînement appelle un réentraînement.",
    "selection_bias": "Les contrôles passés n'ont pas été tirés au hasard : les précisions mesurées sur eux peuvent ne "
                      "pas valoir pour toute la population. Suivre les résultats des lignes d'exploration, tirées au "
                      "hasard, qui mesurent la précision sans ce biais.",
    "rules": "Relire avec un inspecteur un échantillon de constats des règles signalées (section « Règles de droit ») "
             "avant de les présenter comme des faits établis.",
}


@dataclass
class Table:
    """A table as the reader sees it: French headers, formatted cells, a CSS class per row."""

    columns: list[str]
    rows: list[list[str]]
    marks: list[str] = field(default_factory=list)
    caption: str = ""


def _number(value: Any, digits: int = 2) -> str:
    return DASH if missing(value) else number_fr(float(value), digits)


def _percent(value: Any) -> str:
    return DASH if missing(value) else percent_fr(value)


def _check_value(value: float, counts: bool = False) -> str:
    """A check's measured value: a count (`counts`, or a whole number from 2) without decimals, a tiny gap in
    scientific notation."""
    if missing(value) or not math.isfinite(value):
        return DASH
    if counts:
        return number_fr(value, 0)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}".replace(".", ",")
    return number_fr(value, 0 if float(value).is_integer() and abs(value) >= 2 else 3)


def _ratio(value: Any, low: Any = None, high: Any = None) -> str:
    if missing(value):
        return DASH
    interval = "" if missing(low) or missing(high) else f" [{_number(low)} ; {_number(high)}]"
    return f"×{_number(value)}{interval}"


def _interval(value: Any, low: Any, high: Any, digits: int = 2) -> str:
    if missing(value):
        return DASH
    return f"{_number(value, digits)} [{_number(low, digits)} ; {_number(high, digits)}]"


def checks_table(checks: list[Check]) -> list[tuple[str, Status, Table]]:
    """Per group: its title, worst status and the table of its checks."""
    out = []
    for title, members, status in by_group(checks):
        rows = [[c.name, c.status.value, _check_value(c.value, c.counts), c.threshold, c.detail] for c in members]
        out.append((title, status, Table(["Contrôle", "Statut", "Valeur", "Seuil", "Constat"], rows,
                                         [c.status.name.lower() for c in members])))
    return out


def next_steps(checks: list[Check]) -> list[tuple[str, list[str], str]]:
    """For each group with a check that did not pass: its title, the checks concerned and what to do."""
    out = []
    for key, title in GROUPS.items():
        concerned = [c.name for c in checks if c.group == key and c.status is not Status.PASSED]
        if concerned:
            out.append((title, concerned, NEXT_STEPS[key]))
    return out


def features_table(features: list[str]) -> Table:
    rows = [[LABELS_FR.get(f, f), UNITS_FR.get(UNITS.get(f, ""), ""), f] for f in features]
    return Table(["Variable (comme l'inspecteur la lit)", "Unité", "Nom technique"], rows)


def importance_table(importance: pd.DataFrame, permutation: pd.Series, top: int = 25) -> Table:
    rows = [[row.label_fr, _number(row.mean_abs_shap, 4), _number(permutation.get(row.feature), 4)]
            for row in importance.head(top).itertuples(index=False)]
    return Table(["Variable", "Importance SHAP (moyenne |SHAP|)", "Importance par permutation"], rows)


def interactions_table(pairs: pd.DataFrame) -> Table:
    rows = [[LABELS_FR.get(r.feature_a, r.feature_a), LABELS_FR.get(r.feature_b, r.feature_b),
             _number(r.mean_abs_interaction, 4)] for r in pairs.itertuples(index=False)]
    return Table(["Variable", "Variable", "Intensité moyenne de l'interaction (log-odds)"], rows)


def stability_table(stability: pd.DataFrame) -> Table:
    rows = [[r.retraining, number_fr(r.labelled_rows), number_fr(r.listed), _percent(r.same_top_reason)]
            for r in stability.itertuples(index=False)]
    return Table(["Réentraînement", "Contrôles étiquetés", "Établissements listés", "Même motif principal"], rows)


def disparity_table(table: pd.DataFrame, dimension: str, source: str = "list") -> Table:
    """A targeting table in French: group sizes, rates and ratios with their intervals. Of the month's list
    (`source` « list »), a row is an establishment; of past controls (« inspections »), a control, selected or not."""
    ordered = table.sort_values("group", key=group_order(dimension))
    has_fdr = "fdr" in ordered
    counted, chosen, share = (("Contrôles", "Sélectionnés", "Part sélectionnée") if source == "inspections"
                              else ("Établissements", "Listés", "Part listée"))
    columns = [DIMENSIONS[dimension].capitalize(), counted, chosen, share, "Rapport [IC 95 %]"]
    if has_fdr:
        columns += [f"{chosen} dont l'issue est connue", "Taux de fausses découvertes", "Rapport [IC 95 %]"]
    columns.append("Observation")
    rows, marks = [], []
    for r in ordered.itertuples(index=False):
        row = [r.group, number_fr(r.establishments), number_fr(r.listed), _percent(r.share_listed),
               _ratio(r.share_listed_disparity, r.share_listed_disparity_low, r.share_listed_disparity_high)]
        if has_fdr:
            row += [number_fr(r.listed_with_label), _percent(r.fdr), _ratio(r.fdr_disparity, r.fdr_disparity_low,
                                                                              r.fdr_disparity_high)]
        unjudged = bool(getattr(r, "unjudged", False))
        note = ("groupe de référence" if r.reference else "petit groupe : montré, non signalé" if r.small
                else "hors de la bande" if r.flagged
                else "hors de la bande même à 95 %, sur trop peu d'issues connues : non jugé" if unjudged else "")
        rows.append([*row, note])
        marks.append("reference" if r.reference else "small" if r.small else "flagged" if r.flagged or unjudged else "")
    return Table(columns, rows, marks)


def list_stability_table(stability: pd.DataFrame) -> Table:
    rows = [[r.region, number_fr(r.listed), _percent(r.overlap_with_previous), _number(r.rank_correlation)]
            for r in stability.itertuples(index=False)]
    return Table(["Région", "Listés (hors exploration)", "Déjà listés le mois précédent",
                  "Corrélation des rangs (Spearman)"], rows)


def drift_summary_table(drift: pd.DataFrame, settings: AuditConfig, top: int = 20) -> Table:
    since = drift[drift["reference"] == TRAINING].set_index("feature")["psi"]
    recent = drift[drift["reference"] != TRAINING].groupby("feature")["psi"].max()
    frame = pd.DataFrame({"since": since, "recent": recent})
    frame["worst"] = frame.max(axis=1)
    frame = frame.sort_values("worst", ascending=False).head(top)
    rows, marks = [], []
    for feature, r in frame.iterrows():
        state = ("déplacée" if r.worst > settings.psi_threshold else "en mouvement" if r.worst > settings.psi_alert
                 else "stable")
        rows.append([LABELS_FR.get(feature, feature), _number(r.since, 3), _number(r.recent, 3), state])
        marks.append({"déplacée": "failed", "en mouvement": "warning"}.get(state, ""))
    return Table(["Variable", "PSI depuis l'entraînement", "PSI le plus fort sur les mois précédents", "État"],
                 rows, marks)


def selection_table(selection: pd.DataFrame) -> Table:
    names = {**LABELS_FR, "propensity (modelled)": "probabilité modélisée d'être contrôlé"}
    rows = [[names.get(r.feature, r.feature), _number(r.inspected, 3), _number(r.all, 3)]
            for r in selection.itertuples(index=False)]
    return Table(["Variable", "Moyenne chez les établissements contrôlés", "Moyenne sur tous les établissements"], rows)


def rules_table(accuracy: pd.DataFrame) -> Table:
    rows = [[RULE_LABELS.get(r.rule, r.rule), r.confidence, number_fr(r.findings), _percent(r.contract_precision),
             _percent(r.contract_recall), number_fr(r.abusive_contracts), number_fr(r.establishments_flagged),
             _percent(r.establishment_precision), _percent(r.establishment_recall)]
            for r in accuracy.itertuples(index=False)]
    return Table(["Règle", "Niveau de confiance", "Constats", "Précision (contrats)", "Rappel (contrats)",
                  "Contrats abusifs (vérité)", "Établissements signalés", "Précision (établissements)",
                  "Rappel (établissements)"], rows)


def _folds(comparison: pd.DataFrame) -> list[str]:
    """The temporal folds of a comparison, in order."""
    return sorted({str(fold) for fold in comparison["fold"]} - {"all"}, key=lambda fold: (len(fold), fold))


def _held_out_shown(comparison: pd.DataFrame, tuned_on: int | None) -> bool:
    """Whether the comparison has a latest fold Optuna did not tune on (`tuned_on` folds before it), shown apart."""
    return tuned_on is not None and len(_folds(comparison)) > tuned_on


def comparison_table(comparison: pd.DataFrame, tuned_on: int | None = None) -> Table:
    """Each method's precision at each share of capacity over all folds, then on the latest fold when Optuna chose the
    parameters without it (`tuned_on` folds before it), each column saying how many inspections it counts."""
    folds = _folds(comparison)
    shown = [("all", f"tous plis, dont {count_fr(tuned_on, 'pli')} du réglage" if tuned_on is not None
              else "tous plis, ceux du réglage")]
    if _held_out_shown(comparison, tuned_on):
        shown.append((folds[-1], f"pli {folds[-1]}, hors réglage"))
    shares = sorted(comparison["share"].unique())
    models = [m for m in MODEL_LABELS_FR if m in set(comparison["model"])]
    rows: list[list[str]] = [[MODEL_LABELS_FR[model]] for model in models]
    columns = ["Méthode"]
    for fold, words in shown:
        for share in shares:
            at = comparison[(comparison["fold"].astype(str) == fold) & (comparison["share"] == share)].set_index("model")
            counted = ""
            if {"selected", "n"} <= set(at.columns) and len(at):
                counted = f", {number_fr(int(at['selected'].iloc[0]))} sur {number_fr(int(at['n'].iloc[0]))}"
            columns.append(f"Précision à {number_fr(100 * share)} % [IC 95 %] ({words}{counted})")
            for row, model in zip(rows, models, strict=True):
                row.append(_interval(at.loc[model, "precision"], at.loc[model, "precision_low"],
                                     at.loc[model, "precision_high"]) if model in at.index else "")
    return Table(columns, rows)


def _context(result: AuditResult, config: Config) -> dict[str, Any]:
    settings, scoring, capacity = config.audit, config.scoring, config.training.capacity_share
    ranked = result.ranked
    population = with_groups(ranked)
    performance = []
    if result.comparison is not None:
        performance.append(figures.precision_figure(
            result.comparison, capacity, "Précision aux capacités de contrôle, face aux méthodes de référence",
            "Contrôles passés validés hors échantillon (tous plis temporels, dont ceux sur lesquels Optuna a choisi "
            "les paramètres : pour LightGBM, des valeurs optimistes"
            + (" ; le tableau ci-dessous donne aussi le dernier pli, hors du réglage) : "
               if _held_out_shown(result.comparison, result.tuned_on) else " ; ce modèle a été réglé sur tous ses plis) : ")
            + "part des établissements sélectionnés (en tête de leur région) où le contrôle a constaté "
            "un abus, avec son intervalle exact à 95 % (binomial, k fixé par la capacité, au moins un par région et "
            "pli). Le modèle n'a de valeur que s'il fait mieux que les méthodes simples."))
    if result.truth_comparison is not None:
        performance.append(figures.precision_figure(
            result.truth_comparison, capacity, "Précision face à la vérité de la population simulée",
            f"Sur la population simulée, tous les établissements {of_month_fr(result.month)} sont classés dans leur "
            "région et comparés à la vérité cachée (abus réel ou non ce mois-là) : ce qu'aucun déploiement réel ne peut "
            "mesurer. Intervalles exacts à 95 %. L'oracle connaît la probabilité latente d'abus ; la liste parfaite "
            "connaît les abus."))
    if result.out_of_fold is not None and "proba_lightgbm" in result.out_of_fold:
        performance.append(figures.calibration_figure(result.out_of_fold))
    fairness = []
    for dimension in DIMENSIONS:
        tables = [(SOURCES[source], disparity_table(result.targeting[(source, dimension)], dimension, source))
                  for source in SOURCES if (source, dimension) in result.targeting]
        fairness.append((DIMENSIONS[dimension], figures.fairness_figure(result.targeting, dimension, settings), tables))
    listed = population[population["in_list"].astype(bool)]
    inspected_figures = [figures.inspected_vs_listed_figure(population, listed, result.inspected, d)
                         for d in DIMENSIONS]
    return {
        "title": f"Audit du modèle {config.training.registered_model}, version {result.version}, "
                 f"{month_fr(result.month)}",
        "sections": SECTIONS, "titles": dict(SECTIONS),
        "verdict": result.verdict, "check_groups": checks_table(result.checks),
        "next_steps": next_steps(result.checks), "notes": result.notes,
        "month": month_fr(result.month), "version": result.version, "run_id": result.run_id,
        "capacity": number_fr(100 * scoring.list_share),
        "max_lines": None if scoring.max_list_lines is None else count_fr(scoring.max_list_lines, "ligne"),
        "fixed_regions": len(scoring.list_size_by_region), "exploration": number_fr(100 * scoring.exploration_share),
        "listed": number_fr(int(ranked["in_list"].sum())), "scored": number_fr(len(ranked)),
        "regions": ranked["region_code"].nunique(),
        "truth_used": result.truth_used,
        "psi_alert": number_fr(settings.psi_alert, 2), "psi_threshold": number_fr(settings.psi_threshold, 2),
        "tau": number_fr(settings.tau, 2), "tau_high": number_fr(1 / settings.tau, 2),
        "min_group_size": settings.min_group_size,
        "performance": performance,
        "comparison": comparison_table(result.comparison, result.tuned_on) if result.comparison is not None else None,
        "importance_figure": figures.importance_figure(result.importance),
        "dependence_figures": figures.dependence_figures(result.dependence),
        "interactions": interactions_table(result.interactions),
        "importance": importance_table(result.importance, result.permutation),
        "stability_figure": figures.reason_stability_figure(result.stability, settings),
        "stability": stability_table(result.stability),
        "fairness": fairness,
        "inspected_figures": inspected_figures,
        "propensity_auc": _number(result.metrics.get("propensity/roc_auc_last_window"), 3),
        "ipw": "avec" if result.model.ipw == "on" else "sans",
        "selection": selection_table(result.selection_bias) if result.selection_bias is not None else None,
        "list_stability_figure": (figures.list_stability_figure(result.list_stability)
                                  if result.list_stability is not None else None),
        "list_stability": list_stability_table(result.list_stability) if result.list_stability is not None else None,
        "previous_list": result.previous_list,
        "drift_figure": figures.drift_figure(result.drift, settings) if not result.drift.empty else None,
        "drift": drift_summary_table(result.drift, settings),
        "rules": rules_table(result.rule_accuracy) if result.rule_accuracy is not None else None,
        "model_card": _model_card(result.model_card),
        "features": features_table(result.model.features),
    }


def _model_card(text: str) -> str:
    """The model card (`audit.model_card`) as HTML, its headings moved under the annex's."""
    body = markdown.markdown(text, extensions=["tables"])
    for level in (3, 2, 1):  # h1 -> h3, h2 -> h4, h3 -> h5
        body = body.replace(f"<h{level}>", f"<h{level + 2}>").replace(f"</h{level}>", f"</h{level + 2}>")
    return body


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("audit", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def render_audit(result: AuditResult, config: Config) -> str:
    """The whole report as one HTML string (French), from `templates/audit.html.j2`."""
    context = _context(result, config)
    return _ENVIRONMENT.get_template("audit.html.j2").render(**context)


def figure_count(html: str) -> int:
    """How many embedded figures a rendered report holds."""
    return html.count('src="data:image/png;base64,')
