"""Départements and their rough population (thousands, 2021), tourist areas, postal codes; regions from
core.geography (one département -> region table)."""

from __future__ import annotations

from dataclasses import dataclass

from core.geography import places_table
from simulation.random_stream import Stream, cumulative

# (département, population in thousands); each département's region comes from core.geography
DEPARTEMENTS: tuple[tuple[str, int], ...] = (
    ("01", 660), ("02", 530), ("03", 335), ("04", 165), ("05", 141), ("06", 1100), ("07", 330), ("08", 270),
    ("09", 155), ("10", 310), ("11", 375), ("12", 280), ("13", 2040), ("14", 695), ("15", 145), ("16", 350),
    ("17", 655), ("18", 300), ("19", 240), ("2A", 160), ("2B", 185), ("21", 535), ("22", 600), ("23", 115),
    ("24", 415), ("25", 545), ("26", 520), ("27", 600), ("28", 430), ("29", 915), ("30", 750), ("31", 1420),
    ("32", 190), ("33", 1650), ("34", 1180), ("35", 1090), ("36", 220), ("37", 610), ("38", 1270), ("39", 260),
    ("40", 415), ("41", 330), ("42", 765), ("43", 228), ("44", 1430), ("45", 680), ("46", 175), ("47", 330),
    ("48", 76), ("49", 820), ("50", 495), ("51", 565), ("52", 172), ("53", 307), ("54", 735), ("55", 184),
    ("56", 760), ("57", 1045), ("58", 205), ("59", 2610), ("60", 830), ("61", 280), ("62", 1460), ("63", 660),
    ("64", 685), ("65", 230), ("66", 480), ("67", 1140), ("68", 765), ("69", 1880), ("70", 235), ("71", 550),
    ("72", 565), ("73", 435), ("74", 830), ("75", 2150), ("76", 1255), ("77", 1420), ("78", 1450), ("79", 375),
    ("80", 570), ("81", 390), ("82", 260), ("83", 1080), ("84", 560), ("85", 690), ("86", 440), ("87", 372),
    ("88", 365), ("89", 335), ("90", 140), ("91", 1300), ("92", 1630), ("93", 1650), ("94", 1400), ("95", 1250),
    ("971", 385), ("972", 355), ("973", 285), ("974", 870), ("976", 300),
)

# Jobs concentrate in Paris and its inner ring more than residents do.
_EMPLOYMENT_BOOST = {"75": 2.2, "92": 1.6, "69": 1.1, "31": 1.05}

COASTAL = frozenset(
    ["06", "83", "13", "34", "30", "66", "11", "2A", "2B", "17", "85", "44", "56", "29", "22", "35", "50", "14", "76", "80",
     "62", "33", "40", "64", "971", "972", "974"]
)
MOUNTAIN = frozenset(["73", "74", "05", "04", "38", "65", "09", "66", "2A", "2B", "63", "15"])

# Birth countries of people born abroad (INSEE country codes used in the NIR).
BIRTH_COUNTRIES: tuple[str, ...] = ("350", "351", "352", "139", "127", "134", "109", "341", "216", "310")


@dataclass(frozen=True)
class Place:
    departement: str
    region_code: str


_REGION_OF = {place.departement: place.region_code for place in places_table()}
PLACES: tuple[Place, ...] = tuple(Place(code, _REGION_OF[code]) for code, _ in DEPARTEMENTS)
PLACES_BY_REGION: dict[str, tuple[Place, ...]] = {
    region: tuple(place for place in PLACES if place.region_code == region)
    for region in sorted({place.region_code for place in PLACES})
}
EMPLOYMENT_WEIGHTS: tuple[float, ...] = tuple(
    population * _EMPLOYMENT_BOOST.get(code, 1.0) for code, population in DEPARTEMENTS
)


EMPLOYMENT_CUMULATIVE = cumulative(EMPLOYMENT_WEIGHTS)
POPULATION_CUMULATIVE = cumulative([population for _, population in DEPARTEMENTS])


def is_tourist(departement: str) -> bool:
    return departement in COASTAL or departement in MOUNTAIN


def postal_code(departement: str, stream: Stream) -> str:
    """A postal code of the département: DD + 3 digits, Corsica 20000-20199 (2A) / 20200-20699 (2B),
    overseas 971xx-976xx, Paris 75001-75020."""
    if departement == "75":
        return f"750{stream.integer(1, 20):02d}"
    if departement == "2A":
        return f"20{stream.integer(0, 19) * 10:03d}"
    if departement == "2B":
        return f"20{stream.integer(20, 69) * 10:03d}"
    if len(departement) == 3:
        return f"{departement}{stream.integer(0, 9) * 10:02d}"
    if stream.chance(0.3):
        return f"{departement}000"
    return f"{departement}{stream.integer(10, 99) * 10:03d}"


# Chef-lieu of each département: the birthplace (S21.G00.30.007) written for people born there.
_CHEF_LIEU_TEXT = """01:BOURG-EN-BRESSE 02:LAON 03:MOULINS
    04:DIGNE-LES-BAINS 05:GAP 06:NICE 07:PRIVAS 08:CHARLEVILLE-MEZIERES 09:FOIX 10:TROYES 11:CARCASSONNE 12:RODEZ
    13:MARSEILLE 14:CAEN 15:AURILLAC 16:ANGOULEME 17:LA_ROCHELLE 18:BOURGES 19:TULLE 2A:AJACCIO 2B:BASTIA 21:DIJON
    22:SAINT-BRIEUC 23:GUERET 24:PERIGUEUX 25:BESANCON 26:VALENCE 27:EVREUX 28:CHARTRES 29:QUIMPER 30:NIMES
    31:TOULOUSE 32:AUCH 33:BORDEAUX 34:MONTPELLIER 35:RENNES 36:CHATEAUROUX 37:TOURS 38:GRENOBLE
    39:LONS-LE-SAUNIER 40:MONT-DE-MARSAN 41:BLOIS 42:SAINT-ETIENNE 43:LE_PUY-EN-VELAY 44:NANTES 45:ORLEANS
    46:CAHORS 47:AGEN 48:MENDE 49:ANGERS 50:SAINT-LO 51:CHALONS-EN-CHAMPAGNE 52:CHAUMONT 53:LAVAL 54:NANCY
    55:BAR-LE-DUC 56:VANNES 57:METZ 58:NEVERS 59:LILLE 60:BEAUVAIS 61:ALENCON 62:ARRAS 63:CLERMONT-FERRAND 64:PAU
    65:TARBES 66:PERPIGNAN 67:STRASBOURG 68:COLMAR 69:LYON 70:VESOUL 71:MACON 72:LE_MANS 73:CHAMBERY 74:ANNECY
    75:PARIS 76:ROUEN 77:MELUN 78:VERSAILLES 79:NIORT 80:AMIENS 81:ALBI 82:MONTAUBAN 83:TOULON 84:AVIGNON
    85:LA_ROCHE-SUR-YON 86:POITIERS 87:LIMOGES 88:EPINAL 89:AUXERRE 90:BELFORT 91:EVRY-COURCOURONNES 92:NANTERRE
    93:BOBIGNY 94:CRETEIL 95:CERGY 971:BASSE-TERRE 972:FORT-DE-FRANCE 973:CAYENNE 974:SAINT-DENIS
    976:MAMOUDZOU"""
CHEF_LIEU: dict[str, str] = {code: name.replace("_", " ")
                             for code, name in (item.split(":") for item in _CHEF_LIEU_TEXT.split())}

STREETS = ("RUE DE LA REPUBLIQUE", "AVENUE JEAN JAURES", "RUE VICTOR HUGO", "BOULEVARD GAMBETTA", "RUE DES TILLEULS",
           "PLACE DE L'EGLISE", "RUE PASTEUR", "AVENUE DE LA GARE", "RUE DES ECOLES", "QUAI DES CHARTRONS")


def street_address(stream: Stream) -> str:
    """A street line as S21.G00.11.003 or S10.G00.01.004 holds it: '12 RUE DE LA REPUBLIQUE'."""
    return f"{stream.integer(1, 180)} {stream.pick(STREETS)}"


def city_of(departement: str) -> str:
    """The town written as the localité (S21.G00.11.005) of an address in the département: its chef-lieu,
    in the letters, digits and spaces the rubric allows ('SAINT-ETIENNE' -> 'SAINT ETIENNE')."""
    return CHEF_LIEU[departement].replace("-", " ")


# Birth countries of BIRTH_COUNTRIES (INSEE code in the NIR) as declared in S21.G00.30.015 (ISO 3166 alpha-2),
# with a birthplace (S21.G00.30.007).
BIRTH_COUNTRY_ISO: dict[str, tuple[str, str]] = {
    "350": ("MA", "CASABLANCA"), "351": ("DZ", "ALGER"), "352": ("TN", "TUNIS"), "139": ("PT", "PORTO"),
    "127": ("IT", "NAPOLI"), "134": ("ES", "MADRID"), "109": ("DE", "BERLIN"), "341": ("SN", "DAKAR"),
    "216": ("CN", "SHANGHAI"), "310": ("ZW", "HARARE"),
}
