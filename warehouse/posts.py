"""Job titles are free text: fold them into one normalised post so that the same job is the same post.

'Serveur H/F', 'SERVEUSE', 'serveur(se)' and 'Serveur / Serveuse' all become 'serveur'.
The rules are deliberately simple and documented so that an inspector can predict them;
VisuDSN lets an inspector merge posts by hand for the same reason.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_GENDER_MARKERS = re.compile(
    r"\(\s*(?:h\s*/\s*f|f\s*/\s*h|m\s*/\s*f|e|se|euse|ere|trice|ne|le|te)\s*\)"
    r"|\b(?:h\s*/\s*f|f\s*/\s*h|m\s*/\s*f)\b"
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_STOPWORDS = frozenset({"de", "d", "du", "des", "la", "le", "l", "les", "en", "et", "a", "au", "aux"})
# Feminine (and plural) endings folded to the masculine singular, longest first.
_ENDINGS = (
    ("euse", "eur"),
    ("trice", "teur"),
    ("ienne", "ien"),
    ("iere", "ier"),
    ("ere", "er"),
    ("ante", "ant"),
    ("ente", "ent"),
    ("ee", "e"),
)


def _fold_token(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    for ending, replacement in _ENDINGS:
        if len(token) > len(ending) + 1 and token.endswith(ending):
            return token[: -len(ending)] + replacement
    return token


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})
# Six digits or more in a row, single spaces, dots, slashes or dashes between them: a NIR, a birth date, a telephone
# number typed into a job title (« Remplacement de X 2710783592327 né le 01/02/1971 »). No job is named so; the lists
# show the title as the post.
_IDENTIFIER_LIKE = re.compile(r"\d(?:[ ./-]?\d){5,}")
MASKED = "[masqué]"


def mask_identifiers(title: str | None) -> str | None:
    """The job title with each run of digits that may identify a person or a date (`_IDENTIFIER_LIKE`) replaced by
    MASKED; the same title when it holds none."""
    return _IDENTIFIER_LIKE.sub(MASKED, title) if title else title


@lru_cache(maxsize=200_000)
def normalise_post(title: str | None) -> str | None:
    """The normalised post of a job title (lower case, no accents, masculine singular, no 'H/F').

    For 'Serveur / Serveuse' the two forms fold to one; None or an empty title gives None.
    """
    if not title:
        return None
    # Ligatures have no decomposition: 'Manœuvre' would lose its 'œ' with the accents, and not be 'Manoeuvre'.
    decomposed = unicodedata.normalize("NFKD", title.translate(_LIGATURES))
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    text = _GENDER_MARKERS.sub(" ", text)
    tokens = [_fold_token(tok) for tok in _NON_ALNUM.split(text) if tok and tok not in _STOPWORDS]
    deduplicated: list[str] = []
    for token in tokens:  # 'serveur serveur' (from 'Serveur / Serveuse') -> 'serveur'
        if not deduplicated or deduplicated[-1] != token:
            deduplicated.append(token)
    return " ".join(deduplicated) or None
