"""What goes wrong with declarations in real life, planned per establishment and month: filed late (in
the next month's file), replaced in full by a type 03 declaration, cancelled (type 04) and filed again,
or never filed at all. Some establishments (and their payroll offices) are sloppier than others."""

from __future__ import annotations

import numpy as np

from simulation.random_stream import Stream

NORMAL, LATE, REPLACED, CANCELLED, MISSING = 0, 1, 2, 3, 4
RATES = {LATE: 0.005, REPLACED: 0.01, CANCELLED: 0.003, MISSING: 0.0008}


def declaration_plan(n_establishments: int, n_months: int, stream: Stream) -> np.ndarray:
    """Status (NORMAL, LATE, ...) of each establishment-month; nothing but NORMAL or MISSING in the
    last month, whose corrections would fall after the period."""
    rng = stream.rng
    sloppiness = rng.lognormal(0.0, 0.8, n_establishments)
    sloppiness /= sloppiness.mean()
    draws = rng.random((n_establishments, n_months))
    status = np.full((n_establishments, n_months), NORMAL, dtype="int8")
    threshold = np.zeros(n_establishments)
    for kind, rate in RATES.items():
        low = threshold.copy()
        threshold = threshold + rate * sloppiness
        status[(draws >= low[:, None]) & (draws < threshold[:, None])] = kind
    last = status[:, -1]
    last[(last != NORMAL) & (last != MISSING)] = NORMAL
    return status
