"""Whom the list targets: disparities by region, NAF section and size band, and the fairness checks.

Two sources: the month's list (share listed; with the simulated truth, the false discovery rate too)
and the past inspections validated out of fold (selected at capacity by LightGBM; FDR where the
inspection found nothing). By region, the share listed is what the lists' settings give each region (and the
capacity each region's past controls were selected at): it is shown, and only the FDR is compared. Group names are
the ones evaluators read: region names, French NAF section titles, size bands in words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pandas as pd

from audit.metrics import group_disparities, outside_band
from audit.verdict import Check, Status
from core.french import count_fr, number_fr
from core.scoring_config import AuditConfig
from core.size_bands import SIZE_BANDS, size_band
from scoring.reasons import UNKNOWN_REGION_FR, region_names
from training.report_files import naf_section

DIMENSIONS = {"region": "région", "naf_section": "section NAF", "size_band": "taille d'établissement"}
SOURCES = {"list": "liste du mois", "inspections": "contrôles passés (hors échantillon)"}
SIZE_BANDS_FR = {
    name: (f"{low} à {high} salariés" if high < 10**9 else f"{low} salariés et plus") for low, high, name in SIZE_BANDS
}
UNKNOWN_SIZE = "effectif inconnu"
RATES = {"share_listed": "part listée", "fdr": "taux de fausses découvertes"}


def with_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the audit's groups, named as evaluators read them: region, NAF section and size band."""
    out = frame.copy()
    out["region"] = out["region_code"].astype("string").map(region_names()).fillna(UNKNOWN_REGION_FR)
    out["naf_section"] = out["naf"].map(lambda naf: naf_section(naf, french=True))
    out["size_band"] = out["headcount"].map(size_band).map(SIZE_BANDS_FR).fillna(UNKNOWN_SIZE)
    return out


def group_order(dimension: str) -> Callable[[pd.Series], pd.Series]:
    """A sort key for the group names of a dimension: size bands smallest first (unknown last), other
    names in French alphabetical order (accents ignored: Île-de-France among the I)."""
    if dimension == "size_band":
        order = {name: i for i, name in enumerate([*SIZE_BANDS_FR.values(), UNKNOWN_SIZE])}
        return lambda groups: groups.map(order).fillna(len(order))
    return lambda groups: groups.map(
        lambda name: "".join(c for c in unicodedata.normalize("NFKD", str(name)) if not unicodedata.combining(c)).lower())


def targeting_tables(
    ranked: pd.DataFrame, oof_listed: pd.DataFrame | None, truth: pd.Series | None, settings: AuditConfig
) -> dict[tuple[str, str], pd.DataFrame]:
    """For each (source, dimension): the disparity table of `group_disparities`, small groups unflagged.

    `ranked` is the month's scored population (`in_list`); `oof_listed` the out-of-fold inspections with
    `selected` and `abuse_found`; `truth` the simulated abuse (0/1) by SIRET for the month, or None.
    """
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    grouped = with_groups(ranked)
    if truth is not None:
        grouped["truth"] = grouped["siret"].map(truth).astype("float64")
    oof = with_groups(oof_listed) if oof_listed is not None and not oof_listed.empty else None
    for dimension in DIMENSIONS:
        label = "truth" if truth is not None else None
        share_set = dimension == "region"  # `shares_set`
        tables[("list", dimension)] = unflag_small(
            group_disparities(grouped, dimension, "in_list", label, settings.tau).assign(share_set=share_set), settings)
        if oof is not None:
            tables[("inspections", dimension)] = unflag_small(
                group_disparities(oof, dimension, "selected", "abuse_found", settings.tau).assign(share_set=share_set),
                settings)
    return tables


def unflag_small(table: pd.DataFrame, settings: AuditConfig) -> pd.DataFrame:
    """Flag only groups of `min_group_size` establishments or more, and their FDR only with
    `min_outcomes` listed establishments of known outcome or more: smaller ones are shown, not flagged."""
    if table.empty:
        return table
    table["small"] = table["establishments"] < settings.min_group_size
    flagged = outside_band(table["share_listed_disparity"], settings.tau) & (not shares_set(table))
    unjudged = pd.Series(False, index=table.index)
    if "fdr_disparity" in table:
        enough = table["listed_with_label"] >= settings.min_outcomes
        flagged |= outside_band(table["fdr_disparity"], settings.tau) & enough
        unjudged = ~enough & beyond_chance(table, settings.tau)
    table["flagged"] = flagged & ~table["small"] & ~table["reference"]
    # An FDR ratio whose whole interval lies outside the band, on too few known outcomes to be compared: said, not
    # hidden (`fairness_check` alerts on it).
    table["unjudged"] = unjudged & ~table["small"] & ~table["reference"]
    return table


def beyond_chance(table: pd.DataFrame, tau: float) -> pd.Series:
    """Whether each group's FDR ratio has its whole 95 % interval outside [tau, 1 / tau]."""
    return (table["fdr_disparity_high"] < tau) | (table["fdr_disparity_low"] > 1 / tau)


def shares_set(table: pd.DataFrame) -> bool:
    """Whether the table's shares listed are set by the lists' settings, not chosen by the model (`share_set`, marked
    by `targeting_tables` by region: each region's list holds a share of its establishments, at most
    `scoring.max_list_lines` lines, or a number set for it, and its past controls were selected at that capacity):
    shown, not compared."""
    return "share_set" in table and bool(table["share_set"].any())


def _ratio_text(value: float) -> str:
    return f"×{number_fr(value, 2)}"


def fairness_check(source: str, dimension: str, table: pd.DataFrame, settings: AuditConfig) -> Check:
    """One check per source and dimension.

    Échec: a group of at least `min_group_size` establishments whose FDR ratio to the reference has its
    whole 95% interval outside [tau, 1/tau] (the list wrongly targets it more, or less, beyond chance).
    Alerte: such a group whose share-listed or FDR ratio lies outside the band (the interval may still
    reach it), or nothing to compare, or an FDR on fewer than `min_outcomes` listed establishments of known outcome whose
    whole interval lies outside the band (too few to compare, too far to pass over). Réussi otherwise. Smaller groups,
    and other FDRs on fewer than `min_outcomes` outcomes, are shown in the report and never counted here; so are the
    shares listed of a table whose shares the lists' settings fix (`shares_set`: by region), where only FDRs are
    compared. The check's value is the number of ratios outside the band.
    """
    low_band, high_band = settings.tau, 1 / settings.tau
    name = f"Disparités par {DIMENSIONS[dimension]} — {SOURCES[source]}"
    threshold = f"rapports dans [{number_fr(low_band, 2)} ; {number_fr(high_band, 2)}] ; valeur : rapports hors bande"
    if table.empty:
        return Check("fairness", name, Status.WARNING, float("nan"), threshold, "aucun groupe à comparer")
    if not table["listed"].any():  # every establishment inspected recently: no share listed to compare
        return Check("fairness", name, Status.WARNING, float("nan"), threshold,
                     "aucun établissement listé : aucun rapport à comparer")
    large = table[~table["small"] & ~table["reference"]]
    fixed = shares_set(table)
    unjudged = [f"{row.group} ({_ratio_text(row.fdr_disparity)} [{number_fr(row.fdr_disparity_low, 2)} ; "
                f"{number_fr(row.fdr_disparity_high, 2)}] sur {_outcomes(int(row.listed_with_label))})"
                for row in large[large["unjudged"]].itertuples(index=False)] if "unjudged" in large else []
    few = (f" ; taux de fausses découvertes dont tout l'intervalle à 95 % est hors de la bande, mais sur moins de "
           f"{_outcomes(settings.min_outcomes)}, non jugé : {', '.join(unjudged)}"
           if unjudged else "")
    if fixed:
        if "fdr_disparity" not in table:
            return Check("fairness", name, Status.WARNING, float("nan"), threshold,
                         "part listée fixée pour chaque région par les réglages des listes, issue des contrôles de la "
                         "liste pas encore connue : aucun rapport à comparer")
        if not (large["listed_with_label"] >= settings.min_outcomes).any():
            return Check("fairness", name, Status.WARNING, float("nan"), threshold,
                         "part listée fixée pour chaque région par les réglages des listes, et aucune région de "
                         f"{settings.min_outcomes} issues connues ou plus : aucun rapport à comparer{few}")
    out_of_band, significant = [], []
    fdr_compared = (large[large["listed_with_label"] >= settings.min_outcomes] if "fdr_disparity" in large
                    else large.iloc[0:0])
    for rate, words in RATES.items():
        column = f"{rate}_disparity"
        if column not in large or (rate == "share_listed" and fixed):
            continue
        compared = large if rate == "share_listed" else fdr_compared
        for row in compared[outside_band(compared[column], settings.tau)].itertuples(index=False):
            out_of_band.append(f"{row.group} ({words} {_ratio_text(getattr(row, column))})")
        if rate == "fdr":
            significant = compared.loc[beyond_chance(compared, settings.tau), "group"].tolist()
    counted = _groups_counted(table, len(fdr_compared) if fixed else len(large), settings.min_group_size)
    if "fdr_disparity" in large and len(fdr_compared) < len(large):
        counted += (f" ; {'groupes comparés' if fixed else 'taux de fausses découvertes comparés'} : ceux d'au moins "
                    f"{_outcomes(settings.min_outcomes)} ({number_fr(len(fdr_compared))} sur "
                    f"{count_fr(len(large), 'groupe assez grand', 'groupes assez grands')})")
    if large.empty:
        return Check("fairness", name, Status.WARNING, float("nan"), threshold, f"aucun rapport à comparer : {counted}")
    if significant:
        status = Status.FAILED
        detail = f"taux de fausses découvertes hors de la bande même à 95 % pour {', '.join(significant)} ; {counted}{few}"
    elif out_of_band:
        status = Status.WARNING
        shown = out_of_band[:4] + ([f"et {count_fr(len(out_of_band) - 4, 'autre')}"] if len(out_of_band) > 4 else [])
        detail = f"{count_fr(len(out_of_band), 'rapport')} hors de la bande : {', '.join(shown)} ; {counted}{few}"
    elif unjudged:
        status, detail = Status.WARNING, f"tous les rapports comparés dans la bande ; {counted}{few}"
    else:
        status, detail = Status.PASSED, f"tous les rapports dans la bande ; {counted}"
    return Check("fairness", name, status, float(len(out_of_band)), threshold, detail, counts=True)


def _outcomes(n: int) -> str:
    return count_fr(n, "issue connue", "issues connues")


def _groups_counted(table: pd.DataFrame, compared: int, min_group_size: int) -> str:
    """How many groups were compared to the reference, and how many small ones were only shown (the reference
    itself named as small when it is)."""
    reference = table.loc[table["reference"]].iloc[0]
    small = int((table["small"] & ~table["reference"]).sum())
    counted = (f"{count_fr(compared, 'groupe comparé', 'groupes comparés')} à « {reference['group']} »" if compared
               else f"aucun groupe assez grand à comparer à « {reference['group']} »")
    if reference["small"]:
        counted += f" (groupe de référence de moins de {min_group_size} établissements : rapports peu sûrs)"
    if small:
        plural = "s" if small > 1 else ""
        counted += (f", {count_fr(small, 'petit groupe', 'petits groupes')} (moins de {min_group_size} établissements)"
                    f" montré{plural} sans être signalé{plural}")
    return counted


def fairness_checks(tables: dict[tuple[str, str], pd.DataFrame], settings: AuditConfig) -> list[Check]:
    """The fairness checks of every targeting table."""
    return [fairness_check(source, dimension, table, settings) for (source, dimension), table in tables.items()]
