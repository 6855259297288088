"""Départements, their INSEE region and rough population (thousands, 2021), tourist areas, postal codes."""

from __future__ import annotations

from dataclasses import dataclass

from simulation.random_stream import Stream, cumulative

# (département, region code, population in thousands)
DEPARTEMENTS: tuple[tuple[str, str, int], ...] = (
    ("01", "84", 660), ("02", "32", 530), ("03", "84", 335), ("04", "93", 165), ("05", "93", 141),
    ("06", "93", 1100), ("07", "84", 330), ("08", "44", 270), ("09", "76", 155), ("10", "44", 310),
    ("11", "76", 375), ("12", "76", 280), ("13", "93", 2040), ("14", "28", 695), ("15", "84", 145),
    ("16", "75", 350), ("17", "75", 655), ("18", "24", 300), ("19", "75", 240), ("2A", "94", 160),
    ("2B", "94", 185), ("21", "27", 535), ("22", "53", 600), ("23", "75", 115), ("24", "75", 415),
    ("25", "27", 545), ("26", "84", 520), ("27", "28", 600), ("28", "24", 430), ("29", "53", 915),
    ("30", "76", 750), ("31", "76", 1420), ("32", "76", 190), ("33", "75", 1650), ("34", "76", 1180),
    ("35", "53", 1090), ("36", "24", 220), ("37", "24", 610), ("38", "84", 1270), ("39", "27", 260),
    ("40", "75", 415), ("41", "24", 330), ("42", "84", 765), ("43", "84", 228), ("44", "52", 1430),
    ("45", "24", 680), ("46", "76", 175), ("47", "75", 330), ("48", "76", 76), ("49", "52", 820),
    ("50", "28", 495), ("51", "44", 565), ("52", "44", 172), ("53", "52", 307), ("54", "44", 735),
    ("55", "44", 184), ("56", "53", 760), ("57", "44", 1045), ("58", "27", 205), ("59", "32", 2610),
    ("60", "32", 830), ("61", "28", 280), ("62", "32", 1460), ("63", "84", 660), ("64", "75", 685),
    ("65", "76", 230), ("66", "76", 480), ("67", "44", 1140), ("68", "44", 765), ("69", "84", 1880),
    ("70", "27", 235), ("71", "27", 550), ("72", "52", 565), ("73", "84", 435), ("74", "84", 830),
    ("75", "11", 2150), ("76", "28", 1255), ("77", "11", 1420), ("78", "11", 1450), ("79", "75", 375),
    ("80", "32", 570), ("81", "76", 390), ("82", "76", 260), ("83", "93", 1080), ("84", "93", 560),
    ("85", "52", 690), ("86", "75", 440), ("87", "75", 372), ("88", "44", 365), ("89", "27", 335),
    ("90", "27", 140), ("91", "11", 1300), ("92", "11", 1630), ("93", "11", 1650), ("94", "11", 1400),
    ("95", "11", 1250), ("971", "01", 385), ("972", "02", 355), ("973", "03", 285), ("974", "04", 870),
    ("976", "06", 300),
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


PLACES: tuple[Place, ...] = tuple(Place(code, region) for code, region, _ in DEPARTEMENTS)
PLACES_BY_REGION: dict[str, tuple[Place, ...]] = {
    region: tuple(place for place in PLACES if place.region_code == region)
    for region in sorted({place.region_code for place in PLACES})
}
EMPLOYMENT_WEIGHTS: tuple[float, ...] = tuple(
    population * _EMPLOYMENT_BOOST.get(code, 1.0) for code, _, population in DEPARTEMENTS
)


EMPLOYMENT_CUMULATIVE = cumulative(EMPLOYMENT_WEIGHTS)
POPULATION_CUMULATIVE = cumulative([population for _, _, population in DEPARTEMENTS])


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
