"""SHAP contributions -> reasons an inspector reads in a minute, in French.

A reason is a *group* of model features: a benchmarked share and its sector median and excess
(`precarity_rate_12m`, `precarity_rate_12m_benchmark`, `precarity_rate_12m_excess`) speak of one
fact, so their contributions are summed. Groups are ranked by their summed contribution to the
raw score (log-odds); only those that raise the score become reasons: what lowers it is never a
reason to visit. Each sentence gives the establishment's value and the median of its sector (NAF)
in its region (or in France when the regional group is too small); rule counts name the post that
holds most of the contracts behind them, and say « infraction potentielle ». A fact that raises the
score but does not set the establishment apart as written (a missing value, the same figure as its
sector's median, a share below it, or a share of so few hires or contracts that chance alone gives it)
is passed over for the next one: an inspector could not act on it; so is a fact that gives the same
figure as a reason before it over the same contracts (`repeats`). A growth of
the headcount says from how many people to how many: « +100 % » may be one person. A fact counted over a window
(« sur 12 mois ») that the establishment's declarations do not cover whole says the months they cover
(`covered_windows`): « sur 4 mois au lieu des 12 derniers (depuis le 01/05/2025) ».
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from core.config import FeaturesConfig
from core.french import date_fr, month_fr, number_fr
from core.geography import places_table
from core.months import add_months, month_start, months_between
from features.asof import declared_in_window
from features.catalog import BENCHMARKED, CATEGORICAL, FEATURES, Feature
from features.rules import RULES, SCORED_CONFIDENCE

_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
_RULES = {r.id: r for r in RULES}

# For each rule: (singular, plural, what is wrong), read as « 4 contrats successifs ... sans respect du délai de carence ».
RULE_PHRASES: dict[str, tuple[str, str, str]] = {
    "carence": ("contrat enchaîné", "contrats successifs", "sans respect du délai de carence"),
    "renouvellements": ("contrat renouvelé", "contrats renouvelés", "au-delà du nombre de renouvellements autorisé"),
    # only a contract past the maximum with its renewals is scored: a succession of several is to check on site
    "duree_max": ("contrat", "contrats", "au-delà de la durée maximale, renouvellements inclus"),
    "remplacement_sans_absence": (
        "contrat de remplacement", "contrats de remplacement", "sans absence déclarée d'un autre salarié"),
    "usage_hors_secteur": ("CDD d'usage", "CDD d'usage", "hors des secteurs où l'usage est autorisé"),
    "poste_permanent": ("CDD ou mission", "CDD et missions", "sur un emploi tenu toute l'année par des contrats courts"),
}


LEGAL_RULES = "legal_rules"


def reason_label(group: str) -> str:
    """A reason group (`reason_group`) in French: the feature's label, or the legal-rule checks'."""
    if group == LEGAL_RULES:
        return "infractions potentielles (règles du Code du travail)"
    return _BY_NAME[group].label_fr if group in _BY_NAME else group


RULE_FEATURES = frozenset({"n_rule_hits_total", *(f"n_{rule}" for rule in RULE_PHRASES)})


def reason_group(feature: str) -> str:
    """The fact a feature speaks of: a benchmark or excess column belongs to its share, and the counts of
    potential infractions form one reason (the legal-rule checks)."""
    if feature in RULE_FEATURES:
        return LEGAL_RULES
    for suffix in ("_benchmark", "_excess"):
        if feature.endswith(suffix) and feature[: -len(suffix)] in BENCHMARKED:
            return feature[: -len(suffix)]
    return feature


def grouped_contributions(contributions: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Per row, the summed contribution of each reason group (columns: groups, in first-seen order)."""
    groups: dict[str, list[str]] = {}
    for feature in features:
        groups.setdefault(reason_group(feature), []).append(feature)
    values = contributions[features].to_numpy(dtype=np.float64)
    position = {f: i for i, f in enumerate(features)}
    summed = np.column_stack([values[:, [position[f] for f in members]].sum(axis=1) for members in groups.values()])
    return pd.DataFrame(summed, columns=list(groups), index=contributions.index)


@dataclass(frozen=True)
class SectorBenchmarks:
    """Medians of each numeric feature by NAF x region (groups of at least `min_group` values), else by
    NAF in France, else over France, among declaring establishments: as `features.build` benchmarks.
    Kept as plain dictionaries: reasons look them up once per sentence, for up to a national list."""

    by_region: dict[tuple[str, str], dict[str, tuple[float, int]]]
    by_naf: dict[str, dict[str, tuple[float, int]]]
    overall: dict[str, float]
    min_group: int

    @classmethod
    def of(cls, table: pd.DataFrame, features: list[str], min_group: int) -> SectorBenchmarks:
        numeric = [f for f in features if f not in CATEGORICAL and f in table.columns]
        columns = ["naf", "region_code", *numeric]  # chosen before the rows: the table's other columns are wide
        frame = (table.loc[table["declares"].fillna(True).astype(bool).to_numpy(), columns] if "declares" in table.columns
                 else table[columns].copy())
        frame[numeric] = frame[numeric].astype("float64")
        keys = frame[["naf", "region_code"]].astype("string").fillna("")
        frame["naf"], frame["region_code"] = keys["naf"], keys["region_code"]

        def medians(by: list[str]) -> dict:
            grouped = frame.groupby(by)[numeric]
            median, count = grouped.median(), grouped.count()
            return {
                key: dict(zip(numeric, zip(m, c, strict=True), strict=True))
                for key, m, c in zip(median.index, median.to_numpy().tolist(), count.to_numpy().tolist(), strict=True)
            }

        return cls(medians(["naf", "region_code"]), medians(["naf"]), frame[numeric].median().to_dict(), min_group)

    def to_frame(self) -> pd.DataFrame:
        """The medians as one table (how a list keeps them: `from_frame` gives them back): one row per level
        ('region', 'france_naf', 'france'), NAF, region and feature, with the median and the number of values."""
        rows = [("region", naf, region, feature, median, count) for (naf, region), values in self.by_region.items()
                for feature, (median, count) in values.items()]
        rows += [("france_naf", naf, "", feature, median, count) for naf, values in self.by_naf.items()
                 for feature, (median, count) in values.items()]
        rows += [("france", "", "", feature, median, -1) for feature, median in self.overall.items()]
        frame = pd.DataFrame(rows, columns=["level", "naf", "region_code", "feature", "median", "count"])
        return frame.astype({"median": "float64", "count": "int64"}).assign(min_group=self.min_group)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SectorBenchmarks:
        """The medians `to_frame` wrote."""
        by_region: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}
        by_naf: dict[str, dict[str, tuple[float, int]]] = {}
        overall: dict[str, float] = {}
        for level, naf, region, feature, median, count in zip(
                *(frame[c].tolist() for c in ("level", "naf", "region_code", "feature", "median", "count")), strict=True):
            if level == "region":
                by_region.setdefault((naf, region), {})[feature] = (median, count)
            elif level == "france_naf":
                by_naf.setdefault(naf, {})[feature] = (median, count)
            else:
                overall[feature] = median
        min_group = int(frame["min_group"].iloc[0]) if len(frame) else 0
        return cls(by_region, by_naf, overall, min_group)

    def lookup(self, naf: str | None, region_code: str | None, feature: str) -> tuple[float, str]:
        """The benchmark of one feature for one establishment and its level: 'region', 'france_naf' or 'france'."""
        naf = "" if naf is None or pd.isna(naf) else str(naf)
        region_code = "" if region_code is None or pd.isna(region_code) else str(region_code)
        median, count = self.by_region.get((naf, region_code), {}).get(feature, (np.nan, 0))
        if count >= self.min_group:
            return float(median), "region"
        median, count = self.by_naf.get(naf, {}).get(feature, (np.nan, 0))
        if count >= self.min_group:
            return float(median), "france_naf"
        return float(self.overall.get(feature, np.nan)), "france"


# Families whose higher values mean more precarious use (shorter contracts for the durations in days).
_RISK_FAMILIES = ("mix", "durations", "rehiring", "posts")
_SHORTER_IS_RISKIER = ("median_fixed_term_days_12m", "mean_fixed_term_days_12m")


def risk_direction(feature: str) -> int:
    """+1 when a higher value means more precarious use, -1 when a lower one does, 0 when neither
    (size, age, growth): a value on the safe side of its sector's median is not shown as a reason."""
    family = _BY_NAME[feature].family if feature in _BY_NAME else ""
    if feature in _SHORTER_IS_RISKIER:
        return -1
    return 1 if family in _RISK_FAMILIES else 0


_LEVEL_FR = {
    "region": "médiane du secteur en région",
    "france_naf": "médiane du secteur en France",
    "france": "médiane en France",
}


def benchmark_label(feature: str, row: Mapping[str, Any], benchmarks: SectorBenchmarks) -> str | None:
    """The label of a sector median (`*_benchmark`) or of the gap to it (`*_excess`) for the establishment `row`, naming
    the median it holds: the region's, or France's when the region holds too few values of that share (the same
    choice as `features.build`'s); None for another feature."""
    for suffix, prefix in (("_benchmark", ""), ("_excess", "écart à la ")):
        base = feature.removesuffix(suffix)
        if feature.endswith(suffix) and base in BENCHMARKED:
            _, level = benchmarks.lookup(row.get("naf"), row.get("region_code"), base)
            return f"{prefix}{_LEVEL_FR[level]} : {_BY_NAME[base].label_fr}"
    return None


# The region named on the lines of an establishment whose département names none (an address not understood).
UNKNOWN_REGION_FR = "région inconnue"


@cache
def region_names() -> dict[str, str]:
    """INSEE region code -> name."""
    return {place.region_code: place.region for place in places_table()}


def format_value(feature: str, value: float | str | None) -> str:
    """A feature's value as an inspector reads it (38 %, 12 jours, 4, 12,5 ETP)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "non renseigné"
    unit = _BY_NAME[feature].unit if feature in _BY_NAME else "count"
    if unit == "category":
        return str(value)
    value = float(value)
    if unit == "share":
        return f"{number_fr(100 * value)} %"
    if unit == "ratio":
        if feature == "last_inspection_found_abuse":
            return "oui" if value >= 0.5 else "non"
        return f"{'+' if value > 0 else ''}{number_fr(100 * value)} %"
    if unit == "days":
        return f"{number_fr(value)} jour{'s' if abs(value) >= 2 else ''}"
    if unit == "months":
        return f"{number_fr(value)} mois"
    if unit == "fte":
        return f"{number_fr(value, 1)} ETP"
    return number_fr(value)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# Per establishment: rule -> post -> number of evidence rows (what the rule sentences name), and
# rule -> the articles of those rows, most frequent first.
PostCounts = dict[str, dict[str, int]]
RuleArticles = dict[str, list[str]]


@dataclass(frozen=True)
class EstablishmentEvidence:
    """What the reasons of one establishment say of its established and probable findings."""

    posts: PostCounts
    articles: RuleArticles


def evidence_posts(evidence: pd.DataFrame, among: Collection[str] | None = None) -> dict[str, EstablishmentEvidence]:
    """Count the established and probable evidence rows of each establishment (of the SIRETs `among` if given) by
    rule and post (the rest is shown in the evidence, not in the reasons), with the articles they cite, in one pass.
    Only the four columns counted are copied from the rows kept (a national month's listed establishments hold
    nearly a million evidence rows of 25 columns)."""
    if evidence.empty:
        return {}
    kept = evidence["confidence"].isin(SCORED_CONFIDENCE)
    if among is not None:
        kept &= evidence["establishment_siret"].isin(among)
    scored = evidence.loc[kept.to_numpy(dtype=bool), ["establishment_siret", "rule", "post", "article"]]
    if scored.empty:
        return {}
    scored = scored.assign(post=scored["post"].fillna("non renseigné"), _row=np.arange(len(scored)))
    out: dict[str, EstablishmentEvidence] = {}
    for (siret, rule, post), n in scored.groupby(["establishment_siret", "rule", "post"], sort=False).size().items():
        found = out.setdefault(str(siret), EstablishmentEvidence({}, {}))
        found.posts.setdefault(rule, {})[post] = int(n)
        found.articles.setdefault(rule, [])
    # Articles by number of rows citing them, ties in order of first citation: counted in one grouping.
    cited = scored.groupby(["establishment_siret", "rule", "article"], sort=False).agg(
        n=("_row", "size"), first=("_row", "min")).reset_index().sort_values(["n", "first"], ascending=[False, True])
    for siret, rule, article in zip(cited["establishment_siret"], cited["rule"], cited["article"], strict=True):
        out[str(siret)].articles[rule].append(str(article))
    return out


def rule_sentence(rule: str, count: int, posts: dict[str, int] | None, articles: list[str] | None = None) -> str:
    """« 4 contrats successifs sur le poste « serveur » sans respect du délai de carence (L1244-3) :
    infraction potentielle », from the rule's evidence rows of one establishment counted by post; the
    articles are those its findings cite, the most cited first (L1251-36 when the carence follows a temp mission; a
    CDD and a mission on a permanent post: L1242-1 and L1251-5), as the evidence's groups cite them."""
    singular, plural, wrong = RULE_PHRASES[rule]
    noun = singular if count == 1 else plural
    where = ""
    if posts:
        post, on_post = min(posts.items(), key=lambda item: (-item[1], item[0]))
        where = f" sur le poste « {post} »" if len(posts) == 1 else f" (dont {on_post} sur le poste « {post} »)"
    article = ", ".join(articles) if articles else _RULES[rule].article.split(",")[0]
    return f"{count} {noun}{where} {wrong} ({article}) : infraction potentielle"


def rules_sentence(row: Mapping[str, Any], found_here: EstablishmentEvidence | None, most: int = 2) -> str | None:
    """The legal-rule checks of one establishment, the rules with most potential infractions first; None when they
    found none (no reason: `explain` says over which months none was found)."""
    posts = found_here.posts if found_here else {}
    articles = found_here.articles if found_here else {}
    counts = {rule: sum(posts[rule].values()) if rule in posts else int(row.get(f"n_{rule}") or 0)
              for rule in RULE_PHRASES}
    found = sorted(((n, rule) for rule, n in counts.items() if n > 0), key=lambda item: (-item[0], item[1]))
    if not found:
        return None
    parts = [rule_sentence(rule, n, posts.get(rule), articles.get(rule)) for n, rule in found[:most]]
    others = sum(n for n, _ in found[most:])
    if others:
        plural = "s" if others > 1 else ""
        parts.append(f"et {others} autre{plural} infraction{plural} potentielle{plural}")
    return " ; ".join(parts)


# The contracts a share is taken over: with a handful of them, a share far from its sector's median can be chance. A
# share of hires is taken over the hires; a share of short contracts over the fixed-term contracts ended in the window.
_COUNTED_OVER = {
    **{f"share_hires_{kind}_{window}": f"hires_{window}" for kind in ("fixed_term", "cdd", "mission", "usage")
       for window in ("12m", "3m")},
    **{f"share_fixed_term_{length}_12m": "ended_fixed_term_12m" for length in ("under_1_month", "under_1_week", "one_day")},
}


def within_noise(group: str, value: float, median: float, row: Mapping[str, Any]) -> bool:
    """Whether a share differs from its sector's median by at most two binomial standard errors of the median over
    the contracts it is taken over (what chance alone would give), e.g. 2 hires of 3 in CDD against a median of
    40 %, or one CDD of one day, its only one, against a median of 33 %; the variance is at least 1/(4 n), so that a
    median of 0 % or 100 % does not make one contract a fact. Other facts are not judged here."""
    counted_column = _COUNTED_OVER.get(group)
    if counted_column is None:
        return False
    counted = row.get(counted_column)
    if counted is None or pd.isna(counted) or float(counted) <= 0:
        return True
    error = math.sqrt(max(median * (1 - median), 1 / (4 * float(counted))) / float(counted))
    return abs(value - median) <= 2 * error


def headcount_change(row: Mapping[str, Any]) -> str | None:
    """« de 1 à 2 salariés »: the headcount a year before and now, from the headcount and its growth, so that a growth of
    +100 % reads as the one person it may be; None when the growth is not defined."""
    growth, headcount = row.get("headcount_growth_12m"), row.get("headcount")
    if growth is None or headcount is None or pd.isna(growth) or pd.isna(headcount) or float(growth) <= -1:
        return None
    before = round(float(headcount) / (1 + float(growth)))
    now = round(float(headcount))
    return f"de {number_fr(before)} à {number_fr(now)} salarié{'s' if now >= 2 else ''}"


# Facts of which one counts a part of the other's contracts, on the same measure and window: a share of fixed-term work
# and the share of one kind of it (CDD, missions, usage), the short contracts and the shorter ones among them; and a
# post's longest run of fixed-term contracts with a person's longest chain. When the two give the same figure they name
# the same contracts (every fixed-term hire a CDD, a post held by one person), and the second is passed over. Facts of
# other contracts (CDD and missions), windows (12 and 3 months) or measures (days and hours) are never passed over.
_NESTED: tuple[tuple[str, str], ...] = (
    *((f"share_{measure}_fixed_term_{window}", f"share_{measure}_{kind}_{window}")
      for measure, windows in (("hires", ("12m", "3m")), ("hours", ("12m",))) for window in windows
      for kind in ("cdd", "mission", "usage")),
    ("share_fixed_term_under_1_month_12m", "share_fixed_term_under_1_week_12m"),
    ("share_fixed_term_under_1_week_12m", "share_fixed_term_one_day_12m"),
    ("share_fixed_term_under_1_month_12m", "share_fixed_term_one_day_12m"),
    ("longest_post_run_days", "longest_chain_days"),
)
_SAME_CONTRACTS = frozenset({*_NESTED, *((b, a) for a, b in _NESTED)})


def repeats(group: str, row: Mapping[str, Any], chosen: Collection[str]) -> bool:
    """Whether reason `group` gives the same figure as one of the `chosen` groups that counts the same contracts
    (`_NESTED`): « 14 % » of hours in fixed-term contracts, then « 14 % » in CDD, says one fact twice."""
    shown = format_value(group, row.get(group))
    return any((other, group) in _SAME_CONTRACTS and format_value(other, row.get(other)) == shown for other in chosen)


def window_fr(as_of: date, declared: Collection[date], window_months: int, first_declared: date | None = None) -> str | None:
    """The months of the window of `window_months` ending with `as_of` that the `declared` months (first days) cover, in
    French as a reason's window reads, or None when they cover it whole. The wording is `explain`'s: a window that
    begins before the establishment's first declared month (`first_declared`, else the first of `declared`) counts from
    it, « sur 4 mois au lieu des 12 derniers (depuis le 01/05/2025) »: nothing was declared before, the contracts of
    those months are not known. A month missing after it does not shorten the window (the contracts declared before
    and after such a month run through it) and is named: « sur les 12 derniers mois, sans DSN pour mars 2025 »."""
    months = months_between(add_months(month_start(as_of), 1 - window_months), month_start(as_of))
    there = set(declared)
    if all(month in there for month in months):
        return None
    if first_declared is None:
        first_declared = min((month for month in there if month <= months[-1]), default=months[0])
    first = max(month_start(first_declared), months[0])
    missing = [month for month in months if month >= first and month not in there]
    text = (f"sur {len(months) - months.index(first)} mois au lieu des {window_months} derniers (depuis le "
            f"{date_fr(first)})" if first > months[0] else f"sur les {window_months} derniers mois")
    return text + (f", sans DSN pour {', '.join(month_fr(month) for month in missing)}" if missing else "")


@dataclass(frozen=True)
class CoveredWindows:
    """What an establishment's declarations cover of the features' windows, in French (`window_fr`): `long` for the
    main window (features ending in `_12m`), `short` for the short one (`_3m`); None where they cover it whole."""

    long: str | None = None
    short: str | None = None


WHOLE_WINDOWS = CoveredWindows()


def covered_windows(row: Mapping[str, Any], settings: FeaturesConfig) -> CoveredWindows:
    """The windows of an establishment's feature-table `row`, from its `declared_window_bits` (the months of the main
    window it declared, as of the row's month: `features.asof.declared_in_window`) and `first_declared_month` (none
    for a temp-work user that does not declare: the months its agencies' declarations cover); whole when the row
    does not say (a table stored before they were kept)."""
    bits, as_of, first = row.get("declared_window_bits"), row.get("as_of"), row.get("first_declared_month")
    if bits is None or as_of is None or pd.isna(bits) or pd.isna(as_of):
        return WHOLE_WINDOWS
    month = pd.Timestamp(as_of).date()
    since = None if first is None or pd.isna(first) else pd.Timestamp(first).date()
    declared = declared_in_window(month, int(bits), settings.window_months)
    short = (window_fr(month, declared, settings.short_window_months, since)
             if settings.short_window_months <= settings.window_months else None)
    return CoveredWindows(window_fr(month, declared, settings.window_months, since), short)


# A window as a feature's label states it: « … sur 12 mois », « (jours sous contrat, 12 mois) ».
_WINDOW_IN_LABEL = re.compile(r" sur \d+ mois|, \d+ mois(?=\))")


def windowed_label(feature: str, label: str, covered: CoveredWindows) -> str:
    """`label` of `feature` saying the months the establishment's declarations cover of its window (`covered`), in
    place of the window it states, when they do not cover it whole; else `label`. A feature counts over the main
    window when its name ends in `_12m`, over the short one in `_3m` (features.indicators), but for the headcount's
    growth: two headcounts a year apart, which its sentence gives (`headcount_change`)."""
    window = (covered.long if feature.endswith("_12m") and feature != "headcount_growth_12m"
              else covered.short if feature.endswith("_3m") else None)
    return label if window is None else f"{_WINDOW_IN_LABEL.sub('', label)} {window}"


def sentence(
    group: str,
    row: Mapping[str, Any],
    benchmarks: SectorBenchmarks,
    found_here: EstablishmentEvidence | None,
    covered: CoveredWindows = WHOLE_WINDOWS,
) -> str | None:
    """The French sentence of one reason group for one establishment (`row`: its feature-table row), or
    None when the fact does not set the establishment apart as written (a missing value, the same figure
    as its sector's median or one on its safe side, no potential infraction, a last inspection that found
    nothing), and for a category (region, NAF code, IDCC): what an inspector can check on site is a fact
    of the establishment, not the group it belongs to. `covered`: the establishment's windows (`covered_windows`),
    stated by the facts counted over one its declarations do not cover whole."""
    if group == LEGAL_RULES:
        return rules_sentence(row, found_here)
    value = row.get(group)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    feature = _BY_NAME.get(group)
    label = windowed_label(group, feature.label_fr, covered) if feature else group
    if feature is not None and feature.unit == "category":
        return None
    if group == "last_inspection_found_abuse":
        return "Le dernier contrôle dont l'issue était connue à la fin du mois a relevé un abus" if float(value) >= 0.5 else None
    shown = format_value(group, value)
    change = headcount_change(row) if group == "headcount_growth_12m" else None
    text = f"{_capitalised(label)} : {shown}{f', {change}' if change else ''}"
    if feature is not None and feature.family != "inspections":
        median, level = benchmarks.lookup(row.get("naf"), row.get("region_code"), group)
        if not math.isnan(median):
            if format_value(group, median) == shown or risk_direction(group) * (float(value) - median) < 0:
                return None
            if within_noise(group, float(value), median, row):
                return None
            text += f" ({_LEVEL_FR[level]} : {format_value(group, median)})"
    return text


def top_reasons(
    grouped: pd.DataFrame,
    table: pd.DataFrame,
    benchmarks: SectorBenchmarks,
    evidence_by_siret: dict[str, EstablishmentEvidence],
    n: int,
    *,
    settings: FeaturesConfig,
) -> pd.DataFrame:
    """For each row of `grouped` (indexed like `table`): the `n` groups that raise the score most and set
    the establishment apart (see `sentence`, each row's windows read with the feature `settings` it was computed
    with: `covered_windows`), as columns reason_1..n (sentences) and reason_1_feature..n (group names); empty when
    fewer do."""
    values = grouped.to_numpy()
    order = np.argsort(-values, axis=1)
    names = grouped.columns.to_numpy()
    out: dict[str, list[str]] = {f"reason_{i + 1}": [] for i in range(n)}
    out.update({f"reason_{i + 1}_feature": [] for i in range(n)})
    rows = table.loc[grouped.index].to_dict("records")  # plain dicts: much faster than iterrows
    for position, row in enumerate(rows):
        found_here = evidence_by_siret.get(str(row["siret"]))
        covered = covered_windows(row, settings)
        chosen: list[tuple[str, str]] = []
        for column in order[position]:
            if len(chosen) == n or values[position, column] <= 0:
                break
            if repeats(names[column], row, [group for group, _ in chosen]):
                continue
            text = sentence(names[column], row, benchmarks, found_here, covered)
            if text is not None:
                chosen.append((names[column], text))
        chosen += [("", "")] * (n - len(chosen))
        for i, (group, text) in enumerate(chosen):
            out[f"reason_{i + 1}_feature"].append(group)
            out[f"reason_{i + 1}"].append(text)
    return pd.DataFrame(out, index=grouped.index, dtype=str)  # text columns also when no row is explained
