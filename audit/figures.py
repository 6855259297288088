"""The audit's figures (matplotlib, Agg), each returned as a PNG data URI so that the report stays one
self-contained HTML file. Labels are the French ones evaluators read, wrapped rather than cut."""

from __future__ import annotations

import base64
import io
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, ScalarFormatter

from audit.baselines import MODEL_LABELS_FR
from audit.checks import LABELS_FR
from audit.drift import TRAINING
from audit.fairness import DIMENSIONS, SOURCES, group_order, shares_set
from core.french import number_fr
from core.scoring_config import AuditConfig
from training.metrics import exact_binomial_interval
from training.report_files import reliability

BLUE, RED, ORANGE, GREEN, GREY = "#004c8c", "#b00020", "#c77800", "#11691f", "#8a8a8a"


@dataclass(frozen=True)
class Figure:
    """A rendered figure: a title, a caption saying how to read it, and the PNG as a data URI."""

    title: str
    caption: str
    uri: str


def wrap(text: str, width: int = 42) -> str:
    """A label on several lines of at most `width` characters (never cut)."""
    return "\n".join(textwrap.wrap(str(text), width=width, break_long_words=False)) or str(text)


def _decimal_comma(value: float, _position: int) -> str:
    """A tick of a numeric axis as French writes it: 0,2 and 12 000, not 0.2 and 12000."""
    text = number_fr(value) if abs(value) >= 1000 and float(value).is_integer() else f"{value:g}".replace(".", ",")
    return text.replace("-", "\u2212")


def _render(figure: plt.Figure, title: str, caption: str) -> Figure:
    """The figure as a PNG data URI, the ticks of its plain numeric axes written with a decimal comma (a logarithmic or
    labelled axis keeps its own ticks)."""
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            if isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.set_major_formatter(FuncFormatter(_decimal_comma))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
    plt.close(figure)
    return Figure(title, caption, "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))


def _height(rows: int, per_row: float = 0.42, base: float = 1.4) -> float:
    return max(2.6, per_row * rows + base)


def importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    """Mean |SHAP| of the most influential features."""
    rows = importance.head(top).iloc[::-1]
    figure, axis = plt.subplots(figsize=(9, _height(len(rows), 0.5)))
    axis.barh([wrap(label, 55) for label in rows["label_fr"]], rows["mean_abs_shap"], color=BLUE)
    axis.set_xlabel("contribution moyenne au score, en valeur absolue (log-odds)")
    axis.tick_params(axis="y", labelsize=8)
    return _render(figure, f"Les {len(rows)} variables qui pèsent le plus sur le score",
                   "Moyenne, sur tous les établissements du mois, de la valeur absolue de la contribution SHAP de "
                   "chaque variable : plus la barre est longue, plus la variable déplace les scores.")


def dependence_figures(dependence: dict[str, pd.DataFrame]) -> list[Figure]:
    """How each influential feature's value moves the score (one figure per feature)."""
    out = []
    for feature, frame in dependence.items():
        label = LABELS_FR.get(feature, feature)
        figure, axis = plt.subplots(figsize=(7, 3.6))
        values = pd.to_numeric(frame["value"], errors="coerce")
        if values.notna().any():
            top = values.quantile(0.99)
            kept = values <= top
            axis.scatter(values[kept], frame["shap"][kept], s=5, alpha=0.35, color=BLUE, rasterized=True)
            axis.axhline(0, color=GREY, linewidth=0.8)
            axis.set_xlabel(wrap(label, 70))
            axis.set_ylabel("contribution au score\n(log-odds)")
            caption = (f"Chaque point est un établissement : en abscisse sa valeur de « {label} » (jusqu'au 99e "
                       "centile), en ordonnée ce que cette valeur ajoute à son score (négatif : elle le fait baisser).")
        else:
            categories = frame["value"].astype("string").fillna("non renseigné")
            means = frame.groupby(categories)["shap"].mean().sort_values().tail(20)
            axis.barh([wrap(c, 40) for c in means.index.astype(str)], means.to_numpy(), color=BLUE)
            axis.axvline(0, color=GREY, linewidth=0.8)
            axis.set_xlabel("contribution moyenne au score (log-odds)")
            axis.tick_params(axis="y", labelsize=7)
            figure.set_size_inches(7, _height(len(means), 0.3))
            caption = f"Contribution moyenne au score de chaque valeur de « {label} » (les 20 plus fortes)."
        out.append(_render(figure, f"Effet de « {label} » sur le score", caption))
    return out


def fairness_figure(tables: dict[tuple[str, str], pd.DataFrame], dimension: str, settings: AuditConfig) -> Figure:
    """Disparity ratios of each group to the reference, with 95% intervals and the [tau, 1/tau] band."""
    # Shares the lists' settings fix (by region) are not compared: not drawn against the band.
    series = [(source, rate) for source in SOURCES for rate in ("share_listed", "fdr")
              if (source, dimension) in tables and f"{rate}_disparity" in tables[(source, dimension)]
              and not (rate == "share_listed" and shares_set(tables[(source, dimension)]))]
    names = {("list", "share_listed"): "part listée — liste du mois",
             ("list", "fdr"): "fausses découvertes — liste du mois (vérité simulée)",
             ("inspections", "share_listed"): "part sélectionnée — contrôles passés",
             ("inspections", "fdr"): "fausses découvertes — contrôles passés"}
    colours = {("list", "share_listed"): BLUE, ("list", "fdr"): RED,
               ("inspections", "share_listed"): "#5b8fc7", ("inspections", "fdr"): ORANGE}
    base = tables[(series[0][0], dimension)]
    groups = base.sort_values("group", key=group_order(dimension))["group"].tolist()
    small = set(base.loc[base["small"], "group"])
    reference = base.loc[base["reference"], "group"].iloc[0]
    figure, axis = plt.subplots(figsize=(9.5, _height(len(groups), 0.55, 2.0)))
    axis.axvspan(settings.tau, 1 / settings.tau, color="#e3f1e3", zorder=0)
    axis.axvline(1, color=GREY, linewidth=0.8)
    offsets = np.linspace(-0.27, 0.27, len(series)) if len(series) > 1 else [0.0]
    for offset, key in zip(offsets, series, strict=True):
        table = tables[(key[0], dimension)].set_index("group").reindex(groups)
        column = f"{key[1]}_disparity"
        ratio = table[column].clip(0.05, 20).to_numpy(dtype=float)
        low = table[f"{column}_low"].clip(0.05, 20).to_numpy(dtype=float)
        high = table[f"{column}_high"].clip(0.05, 20).to_numpy(dtype=float)
        y = np.arange(len(groups)) + offset
        shown = ~np.isnan(ratio)
        axis.errorbar(ratio[shown], y[shown], xerr=[np.maximum(ratio - low, 0)[shown], np.maximum(high - ratio, 0)[shown]],
                      fmt="o", color=colours[key], markersize=5, capsize=2, linewidth=1, label=names[key])
        hollow = np.array([g in small for g in groups]) & shown
        axis.plot(ratio[hollow], y[hollow], "o", color="white", markersize=3)
    axis.set_xscale("log")
    axis.set_xlim(0.05, 20)
    ticks = [0.1, 0.25, 0.5, settings.tau, 1, 1 / settings.tau, 2, 4, 10]
    axis.set_xticks(ticks, [f"{t:g}".replace(".", ",") for t in ticks])
    labels = [wrap(g + (" (référence)" if g == reference else " (petit groupe)" if g in small else ""), 45)
              for g in groups]
    axis.set_yticks(np.arange(len(groups)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("rapport au groupe de référence (échelle logarithmique ; zone verte : "
                    f"[{number_fr(settings.tau, 2)} ; {number_fr(1 / settings.tau, 2)}])")
    axis.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return _render(figure, f"Disparités par {DIMENSIONS[dimension]}",
                   f"Pour chaque {DIMENSIONS[dimension]}, le rapport de sa part d'établissements listés (et de son taux "
                   "de fausses découvertes : listés à tort) à celui du groupe de référence, le plus nombreux, avec son "
                   "intervalle à 95 %. Hors de la zone verte, un groupe est signalé ; les petits groupes (point creux) "
                   "sont montrés sans être signalés. Les rapports sont bornés à [0,05 ; 20] pour l'affichage.")


def calibration_figure(out_of_fold: pd.DataFrame) -> Figure:
    """Predicted probability against the observed share of inspections finding abuse, per decile, with
    exact 95% intervals."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    axis.plot([0, 1], [0, 1], color=GREY, linestyle=":", label="calibration parfaite")
    for name, colour in (("lightgbm", BLUE), ("logistic", ORANGE)):
        if f"proba_{name}" not in out_of_fold:
            continue
        table = reliability(out_of_fold, name)
        bounds = np.array([exact_binomial_interval(round(o * n), int(n))
                           for o, n in zip(table["observed"], table["n"], strict=True)])
        axis.errorbar(table["predicted"], table["observed"],
                      yerr=[table["observed"] - bounds[:, 0], bounds[:, 1] - table["observed"]],
                      fmt="o-", color=colour, capsize=2, label=MODEL_LABELS_FR[name])
    axis.set_xlabel("probabilité prédite qu'un contrôle constate un abus")
    axis.set_ylabel("part observée des contrôles constatant un abus")
    axis.legend(fontsize=8)
    return _render(figure, "Calibration : les probabilités annoncées sont-elles justes ?",
                   "Contrôles passés validés hors échantillon, regroupés par décile de probabilité prédite : un point "
                   "sur la diagonale annonce la bonne proportion de contrôles fructueux. Barres : intervalles exacts "
                   "à 95 % (binomiaux).")


def precision_figure(comparison: pd.DataFrame, capacity: float, title: str, caption: str) -> Figure:
    """Precision at each share of capacity, for the model and its baselines, with 95% intervals."""
    overall = comparison[comparison["fold"].astype(str) == "all"] if "fold" in comparison else comparison
    models = [m for m in MODEL_LABELS_FR if m in set(overall["model"])]
    shares = sorted(overall["share"].unique())
    figure, axis = plt.subplots(figsize=(9, _height(len(models) * len(shares), 0.2, 1.4)))
    colours = plt.cm.viridis(np.linspace(0.05, 0.85, len(shares)))
    for i, share in enumerate(shares):
        part = overall[overall["share"] == share].set_index("model").reindex(models)
        y = np.arange(len(models)) + (i - (len(shares) - 1) / 2) * 0.22
        value = part["precision"].to_numpy(dtype=float)
        low = np.nan_to_num(value - part["precision_low"].to_numpy(dtype=float))
        high = np.nan_to_num(part["precision_high"].to_numpy(dtype=float) - value)
        axis.errorbar(value, y, xerr=[np.maximum(low, 0), np.maximum(high, 0)], fmt="o", color=colours[i], capsize=2,
                      label=f"{number_fr(100 * share)} % des établissements de chaque région"
                      + (" (capacité)" if abs(share - capacity) < 1e-9 else ""))
    axis.set_yticks(np.arange(len(models)), [wrap(MODEL_LABELS_FR[m], 30) for m in models], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1.02)
    axis.set_xlabel("précision : part des établissements sélectionnés où un abus est constaté")
    axis.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(shares), frameon=False)
    return _render(figure, title, caption)


def reason_stability_figure(stability: pd.DataFrame, settings: AuditConfig) -> Figure:
    """Share of listed establishments keeping their top reason after each retraining."""
    figure, axis = plt.subplots(figsize=(8, 2.6))
    axis.barh([wrap(r, 45) for r in stability["retraining"]], stability["same_top_reason"], color=BLUE)
    axis.axvline(settings.min_top_reason_agreement, color=RED, linestyle="--", linewidth=1, label="seuil")
    axis.set_xlim(0, 1)
    axis.invert_yaxis()
    axis.set_xlabel("part des établissements listés qui gardent le même motif principal")
    axis.legend(fontsize=8)
    return _render(figure, "Stabilité du motif principal après réentraînement",
                   "Le modèle est réentraîné avec les mêmes réglages, une autre graine aléatoire, puis sans le dernier "
                   "mois de contrôles : un motif qui change souvent ne devrait pas être présenté comme la raison d'un "
                   "contrôle.")


def list_stability_figure(stability: pd.DataFrame) -> Figure:
    """Per region, the share of this month's list already on last month's."""
    rows = stability.iloc[::-1]
    figure, axis = plt.subplots(figsize=(8, _height(len(rows), 0.32)))
    colours = [BLUE if region != "Ensemble" else GREEN for region in rows["region"]]
    axis.barh([wrap(r, 40) for r in rows["region"]], rows["overlap_with_previous"].fillna(0), color=colours)
    axis.set_xlim(0, 1)
    axis.tick_params(axis="y", labelsize=8)
    axis.set_xlabel("part de la liste du mois déjà présente le mois précédent (hors exploration)")
    return _render(figure, "Stabilité des listes d'un mois à l'autre",
                   "Une liste qui change entièrement chaque mois disperse les contrôles ; une liste figée ne suit plus "
                   "les déclarations.")


def drift_figure(drift: pd.DataFrame, settings: AuditConfig, top: int = 12) -> Figure:
    """PSI of the most drifting features against the training months and each recent month (heat map)."""
    wide = drift.pivot_table(index="label_fr", columns="reference", values="psi", aggfunc="max")
    columns = [c for c in [TRAINING, *sorted(c for c in wide.columns if c != TRAINING)] if c in wide.columns]
    wide = wide[columns]
    wide = wide.loc[wide.max(axis=1).sort_values(ascending=False).index[:top]]
    figure, axis = plt.subplots(figsize=(10, _height(len(wide), 0.5, 1.8)))
    colours = matplotlib.colors.ListedColormap(["#e3f1e3", "#ffe7a8", "#f4b4b4"])
    levels = matplotlib.colors.BoundaryNorm([0, settings.psi_alert, settings.psi_threshold, 1e9], 3)
    axis.imshow(wide.to_numpy(), cmap=colours, norm=levels, aspect="auto")
    for (i, j), value in np.ndenumerate(wide.to_numpy()):
        axis.text(j, i, "" if np.isnan(value) else f"{value:.2f}".replace(".", ","), ha="center", va="center", fontsize=8)
    axis.set_xticks(range(len(columns)), [wrap(c, 14) for c in columns], fontsize=8)
    axis.set_yticks(range(len(wide)), [wrap(label, 50) for label in wide.index], fontsize=8)
    axis.set_xlabel("population comparée au mois audité")
    return _render(figure, "Dérive des variables : indice de stabilité de la population (PSI)",
                   f"Pour les {len(wide)} variables qui bougent le plus, le PSI entre le mois audité et les mois "
                   "d'entraînement, puis chacun des mois précédents. Vert : stable (moins de "
                   f"{number_fr(settings.psi_alert, 2)}) ; jaune : en mouvement ; rouge : déplacée (plus de "
                   f"{number_fr(settings.psi_threshold, 2)}).")


def inspected_vs_listed_figure(
    population: pd.DataFrame, listed: pd.DataFrame, inspected: pd.DataFrame | None, dimension: str
) -> Figure:
    """Per group, its share of the population, of past inspections and of the month's list."""
    parts = {"établissements du mois": population, "liste du mois": listed}
    if inspected is not None:
        parts["contrôles passés"] = inspected
    shares = pd.DataFrame({name: frame[dimension].value_counts(normalize=True) for name, frame in parts.items()}).fillna(0)
    shares = shares.sort_index(key=group_order(dimension))
    figure, axis = plt.subplots(figsize=(9.5, _height(len(shares), 0.6, 1.8)))
    y = np.arange(len(shares))
    # two or three parts (past inspections are optional): the colours are taken in order
    for i, (name, colour) in enumerate(zip(shares.columns, (GREY, BLUE, ORANGE), strict=False)):
        axis.barh(y + (i - 1) * 0.27, shares[name], height=0.26, color=colour, label=name)
    axis.set_yticks(y, [wrap(g, 45) for g in shares.index], fontsize=8)
    axis.invert_yaxis()
    axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    axis.set_xlabel("part de chaque groupe")
    axis.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return _render(figure, f"Qui est contrôlé, qui est listé : par {DIMENSIONS[dimension]}",
                   "Part de chaque groupe parmi les établissements du mois, parmi les contrôles passés qui ont servi à "
                   "l'apprentissage et parmi la liste du mois : le modèle apprend de qui a été contrôlé, et peut "
                   "reproduire les choix des campagnes passées.")
