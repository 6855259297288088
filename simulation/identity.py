"""Identifiers and identities: SIREN/SIRET with their Luhn key, NIRs valid against the norm's pattern,
names with accents and apostrophes (all within ISO-8859-1)."""

from __future__ import annotations

import numpy as np

from simulation.calendar import date_of
from simulation.geography import BIRTH_COUNTRIES, DEPARTEMENTS, POPULATION_CUMULATIVE
from simulation.random_stream import Stream

SURNAMES: tuple[str, ...] = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT", "SIMON", "MICHEL",
    "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT",
    "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE", "MERCIER", "BLANC", "GUERIN", "BOYER",
    "GARNIER", "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN", "CLEMENT", "MORIN", "NICOLAS",
    "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON", "MARCHAND", "DUVAL", "DENIS", "DUMONT", "MARIE", "LEMAIRE", "NOEL",
    "MEYER", "DUFOUR", "MEUNIER", "BRUN", "BLANCHARD", "GIRAUD", "JOLY", "RIVIERE", "LUCAS", "BRUNET", "GAILLARD",
    "BARBIER", "ARNAUD", "MARTINEZ", "GERARD", "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN", "VIDAL", "CARON",
    "PICARD", "ROGER", "FABRE", "AUBERT", "LEMOINE", "RENAUD", "DUMAS", "LACROIX", "OLIVIER", "PHILIPPE", "BOURGEOIS",
    "PIERRE", "BENOIT", "REY", "LECLERC", "PAYET", "ROLLAND", "LECLERCQ", "GUILLAUME", "LECOMTE", "LOPEZ", "JEAN", "DUPUY",
    "GUILLOT", "HUBERT", "BERGER", "CARPENTIER", "SANCHEZ", "DUPUIS", "MOULIN", "LOUIS", "DESCHAMPS", "HUET", "VASSEUR",
    "PEREZ", "BOUCHER", "FLEURY", "ROYER", "KLEIN", "JACQUET", "ADAM", "PARIS", "POIRIER", "MARTY", "AUBRY", "GUYOT",
    "CARRE", "CHARLES", "RENAULT", "CHARPENTIER", "MENARD", "MAILLARD", "BARON", "BERTIN", "BAILLY", "HERVE", "SCHNEIDER",
    "FERNANDEZ", "LE_GALL", "COLLET", "LEGER", "BOUVIER", "JULIEN", "PREVOST", "MILLET", "PERROT", "DANIEL", "LE_ROUX",
    "COUSIN", "GERMAIN", "BRETON", "BESSON", "LANGLOIS", "REMY", "LE_GOFF", "PELLETIER", "LEVEQUE", "PERRIER", "LEBLANC",
    "BARRE", "LEBRUN", "MARCHAL", "WEBER", "MALLET", "HAMON", "BOULANGER", "JACOB", "MONNIER", "MICHAUD", "RODRIGUEZ",
    "GUICHARD", "GILLET", "ETIENNE", "GRONDIN", "POULAIN", "TESSIER", "CHEVALLIER", "COLLIN", "CHAUVIN", "DA_SILVA",
    "BOUCHET", "GAY", "LEMAITRE", "BENARD", "MARECHAL", "HUMBERT", "REYNAUD", "ANTOINE", "HOARAU", "PERRET", "BARTHELEMY",
    "CORDIER", "PICHON", "LEJEUNE", "GILBERT", "LAMY", "DELAUNAY", "PASQUIER", "CARLIER", "LAPORTE", "D'ANGELO", "N'DIAYE",
    "D'ALMEIDA", "D'HONDT", "N'GUYEN", "DE_OLIVEIRA", "DOS_SANTOS", "FERREIRA", "PEREIRA", "BENSAID", "HADDAD", "BOUZID",
    "DIALLO", "TRAORE", "KONATE", "CISSE", "NGUYEN", "TRAN", "MENDES", "RIBEIRO", "KACI", "SAIDI", "YILMAZ", "KAYA",
    "LEFÈVRE", "HÉBERT", "GRÉGOIRE", "MÉNARD", "BÉNARD", "CÔTÉ", "ÉTIENNE",
)
SURNAMES = tuple(name.replace("_", " ") for name in SURNAMES)

FIRST_NAMES_MALE: tuple[str, ...] = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Nicolas", "Christophe", "Patrick", "Daniel", "Laurent", "Frédéric",
    "Sébastien", "Stéphane", "Julien", "David", "Eric", "Thomas", "Olivier", "Pascal", "Bernard", "Christian", "Thierry",
    "Vincent", "Alexandre", "Maxime", "Antoine", "Romain", "Guillaume", "Kevin", "Lucas", "Hugo", "Louis", "Gabriel",
    "Arthur", "Jules", "Mathis", "Léo", "Nathan", "Enzo", "Théo", "Clément", "Quentin", "Baptiste", "Jérôme", "François",
    "Loïc", "Noël", "Gaël", "Joël", "Hervé", "Cédric", "Rémi", "Benoît", "Mohamed", "Karim", "Mehdi", "Yanis", "Rayan",
    "Adam", "Ibrahim", "Moussa", "Mamadou", "Rui", "João", "Kévin", "Anaël", "Jean-Pierre", "Jean-Luc", "Jean-François",
    "Marc-Antoine",
)
FIRST_NAMES_FEMALE: tuple[str, ...] = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Martine", "Christine", "Monique", "Valérie",
    "Sandrine", "Céline", "Stéphanie", "Sophie", "Aurélie", "Julie", "Emilie", "Emma", "Jade", "Louise", "Alice", "Chloé",
    "Léa", "Manon", "Camille", "Inès", "Sarah", "Zoé", "Lina", "Anaïs", "Mélanie", "Audrey", "Laetitia", "Hélène", "Cécile",
    "Agnès", "Brigitte", "Béatrice", "Noémie", "Maëlle", "Gaëlle", "Océane", "Eloïse", "Fatima", "Amina", "Leïla",
    "Yasmine", "Aïcha", "Awa", "Fatoumata", "Mariama", "Ana", "Maria", "Inês", "Marie-Claire", "Anne-Sophie",
    "Marie-Hélène", "Éva", "Élodie", "Amélie", "Pauline", "Margaux", "Justine", "Morgane", "Charlotte",
)

_DEPARTEMENT_CODES = tuple(code for code, _ in DEPARTEMENTS)


def luhn_valid(digits: str) -> bool:
    """Luhn check used by SIREN and SIRET."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def with_luhn_key(prefix: str) -> str:
    """`prefix` followed by the digit that makes the whole Luhn-valid."""
    for key in "0123456789":
        if luhn_valid(prefix + key):
            return prefix + key
    raise AssertionError("unreachable: one Luhn digit always fits")


def new_siren(stream: Stream, taken: set[str]) -> str:
    """A Luhn-valid SIREN not in `taken` (which it joins)."""
    while True:
        siren = with_luhn_key(f"{stream.integer(1, 9)}{stream.integer(0, 9_999_999):07d}")
        if siren not in taken:
            taken.add(siren)
            return siren


def siret_of(siren: str, establishment_number: int) -> str:
    """The SIRET of a firm's n-th establishment (n from 1): NIC = 4 digits + key making the SIRET Luhn-valid."""
    return with_luhn_key(f"{siren}{establishment_number:04d}")


def birth_day(stream: Stream, reference_day: int, min_age: int, max_age: int) -> int:
    """A day of birth giving an age between min_age and max_age on reference_day."""
    return reference_day - int(stream.between(min_age, max_age) * 365.25)


def identities(sexes: np.ndarray, birth_days: np.ndarray, stream: Stream) -> dict[str, list[str]]:
    """NIR (13 characters, '' for the ~2% without one), surname, first names and DDMMYYYY birth date of people.

    The NIR follows the norm's pattern (S21.G00.30.001 holds 13 characters, without the key): sex, year and
    month of birth, département of birth (99 + country code for people born abroad), commune, order number.
    """
    nirs, surnames, first_names, births = [], [], [], []
    for sex, day in zip(sexes.tolist(), birth_days.tolist(), strict=True):
        born = date_of(day)
        births.append(f"{born.day:02d}{born.month:02d}{born.year:04d}")
        female = sex == 2
        names = FIRST_NAMES_FEMALE if female else FIRST_NAMES_MALE
        first = stream.pick(names)
        if stream.chance(0.25):
            second = stream.pick(names)
            first = first if second == first else f"{first} {second}"
        first_names.append(first)
        surnames.append(stream.pick(SURNAMES))
        if stream.chance(0.02):
            nirs.append("")
            continue
        if stream.chance(0.1):
            place = "99" + stream.pick(BIRTH_COUNTRIES)
        else:
            departement = _DEPARTEMENT_CODES[stream.pick_weighted(POPULATION_CUMULATIVE)]
            commune_max = 99 if len(departement) == 3 else 899
            place = departement + f"{stream.integer(1, commune_max):0{5 - len(departement)}d}"
        nirs.append(f"{sex}{born.year % 100:02d}{born.month:02d}{place}{stream.integer(1, 999):03d}")
    return {"nir": nirs, "surname": surnames, "first_names": first_names, "birth_date": births}
