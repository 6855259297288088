"""Sectors and posts of the national-scale generator, with orders of magnitude from shared/DSN.md.

Rates are per CDI employee and per year. Calibrated so that, nationally, about 86 % of the stock is
CDI, 10 % CDD and 3-4 % temp work, CDD hires are about one per CDI employee and year (~17 M), temp
missions slightly more (~20 M), and one-day CDDs concentrate in arts, hotels-restaurants and care.
"""

from __future__ import annotations

from dataclasses import dataclass

# (job title as declared, normalised post, PCS-ESE code)
POSTS: tuple[tuple[str, str, str], ...] = (
    ("Serveur H/F", "serveur", "561a"),
    ("Cuisinier", "cuisinier", "636d"),
    ("Employé polyvalent", "employe polyvalent", "561d"),
    ("Vendeur", "vendeur", "554a"),
    ("Caissier", "caissier", "551a"),
    ("Maçon qualifié", "macon qualifie", "632a"),
    ("Manœuvre", "manoeuvre", "681a"),
    ("Agent d'entretien", "agent entretien", "684a"),
    ("Opérateur de production", "operateur production", "674b"),
    ("Soudeur", "soudeur", "623a"),
    ("Infirmier", "infirmier", "431a"),
    ("Aide-soignant", "aide soignant", "526a"),
    ("Auxiliaire de vie", "auxiliaire vie", "563b"),
    ("Développeur", "developpeur", "388a"),
    ("Comptable", "comptable", "543a"),
    ("Assistant administratif", "assistant administratif", "542a"),
    ("Chauffeur poids lourd", "chauffeur poids lourd", "641a"),
    ("Manutentionnaire", "manutentionnaire", "676a"),
    ("Animateur", "animateur", "435b"),
    ("Formateur", "formateur", "423a"),
    ("Technicien du spectacle", "technicien spectacle", "637c"),
    ("Artiste interprète", "artiste interprete", "354b"),
    ("Enquêteur", "enqueteur", "545c"),
    ("Chargé de recrutement", "charge recrutement", "372e"),
)


@dataclass(frozen=True)
class Sector:
    """One sector: its NAF code and branch (IDCC), its share of establishments and its contract habits."""

    naf: str
    idcc: str
    share: float  # of establishments
    size: float  # multiplies the CDI headcount
    cdd_rate: float  # CDD hires per CDI employee and year
    mission_rate: float  # temp missions per CDI employee and year
    one_day: float  # share of one-day contracts among short CDDs
    usage: float  # share of CDD hires that are CDD d'usage (motif 05)
    seasonal: float  # share of CDD hires for seasonal work (motif 03)
    posts: tuple[int, ...]  # indices into POSTS, the first one the most common


SECTORS: tuple[Sector, ...] = (
    Sector("5610A", "1979", 0.10, 0.9, 1.87, 0.12, 0.40, 0.45, 0.05, (0, 1, 2, 7)),
    Sector("5510Z", "1979", 0.02, 1.3, 1.7, 0.12, 0.30, 0.40, 0.25, (0, 1, 7, 15)),
    Sector("4711D", "2216", 0.09, 1.2, 0.77, 0.24, 0.15, 0.0, 0.03, (3, 4, 17, 7)),
    Sector("4399C", "1596", 0.10, 0.8, 0.26, 0.72, 0.02, 0.0, 0.0, (5, 6, 16)),
    Sector("2511Z", "3248", 0.04, 2.0, 0.26, 1.04, 0.02, 0.0, 0.0, (8, 9, 17, 15)),
    Sector("8610Z", "2264", 0.01, 8.0, 1.19, 0.2, 0.35, 0.0, 0.0, (10, 11, 7, 15)),
    Sector("8810A", "2941", 0.05, 1.5, 1.36, 0.12, 0.40, 0.0, 0.0, (12, 11, 15)),
    Sector("9001Z", "3090", 0.02, 0.6, 2.98, 0.08, 0.60, 0.75, 0.0, (21, 20, 15)),
    Sector("6201Z", "1486", 0.05, 1.1, 0.17, 0.12, 0.02, 0.0, 0.0, (13, 15)),
    Sector("8559A", "1516", 0.03, 0.9, 0.85, 0.04, 0.10, 0.50, 0.0, (19, 15, 18)),
    Sector("4941A", "0016", 0.04, 1.2, 0.34, 0.6, 0.05, 0.0, 0.0, (16, 17)),
    Sector("6920Z", "0787", 0.08, 0.7, 0.26, 0.04, 0.03, 0.0, 0.05, (14, 15)),
    Sector("8121Z", "3043", 0.04, 1.4, 1.1, 0.2, 0.15, 0.0, 0.0, (7,)),
    Sector("7320Z", "1486", 0.01, 0.8, 1.02, 0.08, 0.30, 0.40, 0.0, (22, 15)),
    Sector("9499Z", "9999", 0.08, 0.4, 0.68, 0.04, 0.20, 0.0, 0.0, (18, 15, 7)),
    Sector("4690Z", "0573", 0.10, 1.0, 0.26, 0.32, 0.03, 0.0, 0.0, (3, 17, 16, 15)),
    Sector("4520A", "1090", 0.14, 0.6, 0.26, 0.12, 0.03, 0.0, 0.0, (6, 15, 3)),
)

TEMP_AGENCY = Sector("7820Z", "1413", 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, (23, 15))

# Nature du contrat (40.007), motif de recours (40.021), motif de rupture (62.002) as used here.
NATURES: tuple[str, ...] = ("01", "02", "03")
CDI, CDD, MISSION = 0, 1, 2
MOTIFS: tuple[str | None, ...] = (None, "01", "02", "03", "05")
NO_MOTIF, REPLACEMENT, ATA, SEASONAL, USAGE = 0, 1, 2, 3, 4
END_MOTIFS: tuple[str, ...] = ("031", "032", "059", "043", "020", "034")
END_CDD, END_MISSION = 0, 1

# Abuse patterns of the abusive minority (what truth/establishments.parquet calls them).
ABUSE_TYPES: tuple[str, ...] = ("", "carence", "renouvellements", "duree_max", "faux_remplacement",
                                "usage_hors_secteur", "interim_poste_permanent")
