"""Keyed pseudonyms for people: no clear NIR, name or birth date ever leaves the parser."""

from __future__ import annotations

import hmac
import re
import unicodedata
from hashlib import sha256

# Norm pattern of a NIR (S21.G00.30.001): sex, year, month, département (2A/2B), commune, order.
_NIR = re.compile(r"[12]\d{2}(0[1-9]|1[0-2]|20|3\d|4[0-2]|[5-9]\d)(\d{2}|2A|2B)\d{6}")
PSEUDONYM_HEX_CHARS = 32


def is_valid_nir(nir: str) -> bool:
    """True when the 13-character NIR matches the norm's pattern (temporary NIRs do not)."""
    return len(nir) == 13 and _NIR.fullmatch(nir) is not None


def normalise_identity(text: str) -> str:
    """Upper case, accents removed, separators folded: 'Dupont-Léa ' -> 'DUPONT LEA'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.split(r"[\s\-']+", ascii_text.upper())).strip()


_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))  # HMAC's ipad and opad, as tables for bytes.translate
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


class Pseudonymiser:
    """HMAC-SHA256 of a person's identifier under a secret key, truncated to 128 bits."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the pseudonymisation key is empty")
        # HMAC (RFC 2104) written out: the padded key hashed into the inner and outer states once, each copied
        # per message. The same digest as hmac.new(key, message, sha256), without its Python object per message
        # (a third of the time of a person's pseudonym).
        block = sha256().block_size
        padded = (sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = sha256(padded.translate(_INNER_PAD))
        self._outer = sha256(padded.translate(_OUTER_PAD))

    def _digest(self, message: str) -> str:
        inner = self._inner.copy()
        inner.update(message.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:PSEUDONYM_HEX_CHARS]

    def person(
        self, nir: str | None, surname: str | None, first_names: str | None, birth_date: str | None
    ) -> tuple[str, str] | None:
        """(pseudonym, how the person was identified), or None when nothing identifies them.

        The NIR is used when it is valid; otherwise surname + first names + birth date
        (the NIR is missing or temporary); a NIR that fails the pattern is used only when
        the identity is incomplete.
        """
        nir = nir.strip().upper() if nir else None
        if nir and is_valid_nir(nir):
            return self._digest("nir:" + nir), "nir"
        if surname and first_names and birth_date:
            identity = "|".join((normalise_identity(surname), normalise_identity(first_names), birth_date.strip()))
            return self._digest("identity:" + identity), "identity"
        if nir:
            return self._digest("nir:" + nir), "nir_unchecked"
        return None

    def by_matricule(self, siren: str, matricule: str) -> tuple[str, str]:
        """Last resort for an individual with neither NIR nor identity: the employer's matricule."""
        return self._digest(f"matricule:{siren}:{matricule}"), "matricule"


FINGERPRINT_LABEL = b"champollion: fingerprint of the pseudonymisation key"


def key_fingerprint(key: bytes) -> str:
    """A short HMAC of a fixed label under the key: tells two keys apart, reveals nothing of the key."""
    return hmac.new(key, FINGERPRINT_LABEL, sha256).hexdigest()[:16]
