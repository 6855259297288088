"""Every feature's name, French label (as inspectors read it) and unit.

The catalog is written next to each feature table, and the explanations of the scoring stage
read their wording from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FEATURES_SCHEMA_VERSION = 5

# Shares compared with the median of the same NAF code in the same region (else in France),
# as the 2025 national campaign compared firms.
BENCHMARKED = (
    "precarity_rate_12m",
    "share_hires_fixed_term_12m",
    "share_hires_mission_12m",
    "share_hires_usage_12m",
    "share_fixed_term_under_1_month_12m",
    "share_fixed_term_one_day_12m",
    "rehire_share_12m",
)


@dataclass(frozen=True)
class Feature:
    """One column of the feature table."""

    name: str
    label_fr: str
    unit: str  # share (0-1, shown as %), count, days, months, fte, ratio, category
    family: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _f(name: str, label_fr: str, unit: str, family: str) -> Feature:
    return Feature(name, label_fr, unit, family)


BASE_FEATURES: tuple[Feature, ...] = (
    _f("naf", "code NAF de l'établissement (APET)", "category", "structure"),
    _f("region_code", "région", "category", "structure"),
    _f("idcc", "convention collective (IDCC)", "category", "structure"),
    _f("months_in_dsn", "ancienneté de l'établissement dans la DSN (plafonnée à 12 mois)", "months", "structure"),
    _f("headcount", "effectif en fin de mois (hors intérimaires)", "count", "structure"),
    _f("fte", "effectif en équivalent temps plein", "fte", "structure"),
    _f("temp_workers_in_force", "intérimaires en mission en fin de mois", "count", "structure"),
    _f("headcount_growth_12m", "évolution de l'effectif sur 12 mois", "ratio", "structure"),
    _f("hires_12m", "embauches sur 12 mois (CDI, CDD, missions)", "count", "mix"),
    _f("hires_3m", "embauches sur 3 mois", "count", "mix"),
    _f("share_hires_fixed_term_12m", "part des embauches en CDD ou intérim sur 12 mois", "share", "mix"),
    _f("share_hires_cdd_12m", "part des embauches en CDD (hors usage) sur 12 mois", "share", "mix"),
    _f("share_hires_mission_12m", "part des embauches en intérim sur 12 mois", "share", "mix"),
    _f("share_hires_usage_12m", "part des embauches en CDD d'usage sur 12 mois", "share", "mix"),
    _f("share_hires_fixed_term_3m", "part des embauches en CDD ou intérim sur 3 mois", "share", "mix"),
    _f("share_hires_cdd_3m", "part des embauches en CDD (hors usage) sur 3 mois", "share", "mix"),
    _f("share_hires_mission_3m", "part des embauches en intérim sur 3 mois", "share", "mix"),
    _f("share_hires_usage_3m", "part des embauches en CDD d'usage sur 3 mois", "share", "mix"),
    _f("precarity_rate_12m", "taux de recours aux CDD et à l'intérim (jours sous contrat, 12 mois)", "share", "mix"),
    _f("precarity_rate_3m", "taux de recours aux CDD et à l'intérim (jours sous contrat, 3 mois)", "share", "mix"),
    _f("share_hours_fixed_term_12m", "part des heures rémunérées en CDD ou intérim sur 12 mois", "share", "mix"),
    _f("share_hours_cdd_12m", "part des heures rémunérées en CDD (hors usage) sur 12 mois", "share", "mix"),
    _f("share_hours_mission_12m", "part des heures rémunérées en intérim sur 12 mois", "share", "mix"),
    _f("share_hours_usage_12m", "part des heures rémunérées en CDD d'usage sur 12 mois", "share", "mix"),
    _f("ended_fixed_term_12m", "CDD et missions terminés sur 12 mois", "count", "durations"),
    _f("share_fixed_term_under_1_month_12m", "part des CDD et missions de moins d'un mois", "share", "durations"),
    _f("share_fixed_term_under_1_week_12m", "part des CDD et missions d'une semaine ou moins", "share", "durations"),
    _f("share_fixed_term_one_day_12m", "part des CDD et missions d'un seul jour", "share", "durations"),
    _f("median_fixed_term_days_12m", "durée médiane des CDD et missions", "days", "durations"),
    _f("mean_fixed_term_days_12m", "durée moyenne des CDD et missions", "days", "durations"),
    _f("rehire_share_12m", "part des embauches en CDD ou intérim de personnes déjà employées", "share", "rehiring"),
    _f("persons_3plus_contracts_12m", "personnes ayant eu 3 contrats ou plus sur 12 mois", "count", "rehiring"),
    _f("persons_10plus_contracts_12m", "personnes ayant eu 10 contrats ou plus sur 12 mois", "count", "rehiring"),
    _f("max_contracts_one_person_12m", "plus grand nombre de contrats d'une même personne sur 12 mois", "count", "rehiring"),
    _f("longest_chain_contracts", "plus longue succession de CDD ou missions d'une même personne", "count", "rehiring"),
    _f("longest_chain_days", "durée de la plus longue succession de contrats d'une même personne", "days", "rehiring"),
    _f("longest_post_run_days", "plus longue occupation d'un poste par des CDD ou missions sans interruption", "days", "posts"),
    _f("longest_post_run_persons", "personnes s'étant succédé sur ce poste", "count", "posts"),
    _f("share_fixed_term_days_on_year_round_posts_12m",
       "part des jours en CDD ou intérim sur des postes occupés toute l'année", "share", "posts"),
    _f("year_round_fixed_term_posts_12m", "postes occupés toute l'année par des CDD ou missions", "count", "posts"),
    _f("n_carence", "contrats successifs sans respect du délai de carence", "count", "rules"),
    _f("n_renouvellements", "contrats renouvelés plus de deux fois", "count", "rules"),
    _f("n_duree_max", "contrats dépassant la durée maximale, renouvellements inclus", "count", "rules"),
    _f("n_remplacement_sans_absence", "CDD de remplacement sans absence déclarée sur le poste", "count", "rules"),
    _f("n_usage_hors_secteur", "CDD d'usage hors des secteurs autorisés", "count", "rules"),
    _f("n_poste_permanent", "CDD et missions tenant un emploi occupé toute l'année", "count", "rules"),
    _f("n_rule_hits_total", "infractions potentielles relevées (toutes règles)", "count", "rules"),
    _f("past_inspections", "contrôles antérieurs connus", "count", "inspections"),
    _f("months_since_last_inspection", "mois depuis le dernier contrôle", "months", "inspections"),
    _f("last_inspection_found_abuse", "le dernier contrôle dont l'issue était connue à la fin du mois a relevé un abus", "ratio",
       "inspections"),
)


def _benchmark_features() -> tuple[Feature, ...]:
    by_name = {f.name: f for f in BASE_FEATURES}
    out = []
    for name in BENCHMARKED:
        label = by_name[name].label_fr
        # The median is the region's, or France's when the region holds too few values (`benchmark_min_group`):
        # the label does not say which (`scoring.reasons.benchmark_label` does, for one establishment).
        out.append(_f(f"{name}_benchmark", f"médiane du secteur : {label}", "share", "benchmarks"))
        out.append(_f(f"{name}_excess", f"écart à la médiane du secteur : {label}", "share", "benchmarks"))
    return tuple(out)


FEATURES: tuple[Feature, ...] = BASE_FEATURES + _benchmark_features()
CATEGORICAL = tuple(f.name for f in FEATURES if f.unit == "category")
# The establishment's address as last declared up to as_of (S21.G00.11.003 to .005): what lets an
# inspector go there, shown on the lists, never a model input.
ADDRESS_COLUMNS = ("street", "postal_code", "city")
# Columns of the stored table that describe the row rather than feed a model. `first_declared_month` (the first month
# the establishment declared, up to as_of; NULL for a temp-work user that does not declare) and `declared_window_bits`
# (the months of the window its declarations cover: features.asof.declared_in_window) say over which months its
# features were counted, which its reasons state when they are not all of the window's.
IDENTIFIERS = ("siret", "as_of", *ADDRESS_COLUMNS, "departement", "declares", "first_declared_month",
               "declared_window_bits", "benchmark_level")


def feature_names() -> list[str]:
    """Model features in a stable order."""
    return [f.name for f in FEATURES]
