"""Fast Arrow string and date columns from numpy integers, for the national-scale generator.

Building hundreds of millions of Python strings would take hours; these helpers write the bytes of
fixed-width identifiers directly into Arrow buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pyarrow as pa

EPOCH = date(1970, 1, 1)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _fixed_width(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array from a (n, width) uint8 array of ASCII characters."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if n else np.zeros(1, np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars).tobytes()))


def digits(values: np.ndarray, width: int, prefix: str = "") -> pa.StringArray:
    """Zero-padded decimal strings of non-negative integers: digits([7], 5) -> ['00007'] (prefix first)."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    chars = (48 + (values[:, None] // powers[None, :]) % 10).astype(np.uint8)
    if prefix:
        head = np.broadcast_to(np.frombuffer(prefix.encode("ascii"), np.uint8), (len(values), len(prefix)))
        chars = np.concatenate([head, chars], axis=1)
    return _fixed_width(chars)


def hex32(values: np.ndarray, salt: int) -> pa.StringArray:
    """32 lower-case hex characters per integer, shaped like ingestion's HMAC pseudonyms (person_key) and as random
    looking: each half is a bijective mix of the integer and `salt` (SplitMix64's finaliser), so that distinct integers
    give distinct keys, and the warehouse stores, compresses and sorts them as it does real pseudonyms (keys that
    share their first characters take fewer bytes and sort on their last ones: benchmarks on them measured less).
    """
    values = np.asarray(values, dtype=np.uint64)
    low = _mixed(values ^ _mixed(np.full(1, salt & _MASK64, np.uint64)))
    high = _mixed(low ^ np.uint64(0x9E3779B97F4A7C15))
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    chars = [_HEX[((half[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)] for half in (high, low)]
    return _fixed_width(np.concatenate(chars, axis=1))


_MASK64 = (1 << 64) - 1


def _mixed(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 values: a bijection that spreads every bit of the input over the output."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def pick(labels: Sequence[str | None], index: np.ndarray) -> pa.Array:
    """labels[index] as an Arrow string array (a None label gives a null)."""
    return pa.array(labels, pa.string()).take(pa.array(np.asarray(index, dtype=np.int32)))


def days_to_date32(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 as an Arrow date32 array; rows where `valid` is false are null."""
    days = np.asarray(days, dtype=np.int32)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(days, pa.date32(), mask=mask)


def day_number(value: date) -> int:
    """Days since 1970-01-01 of a date."""
    return (value - EPOCH).days
