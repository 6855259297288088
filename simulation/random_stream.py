"""Fast scalar draws from a seeded numpy Generator.

The contract generators take thousands of small decisions per establishment; calling the Generator
once per scalar costs microseconds, so draws are fetched in blocks and served from a buffer.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from enum import IntEnum

import numpy as np

_BLOCK = 4096


class Stage(IntEnum):
    """Keys of the independent random streams, one per stage of the simulation."""

    POPULATION = 0
    ABUSE = 1
    CONTRACTS = 2
    MISSIONS = 3
    INSPECTIONS = 4
    IDENTITIES = 5
    NOISE = 6
    DSN = 7
    PAYROLL = 8
    ADDRESSES = 9


def cumulative(weights: Sequence[float]) -> list[float]:
    """Running sums of weights, for Stream.pick_weighted."""
    total, sums = 0.0, []
    for weight in weights:
        total += weight
        sums.append(total)
    return sums


def stream_for(seed: int, *key: int) -> Stream:
    """An independent stream for (seed, *key): stages and establishments get their own, so that adding
    draws in one place never shifts the draws of another."""
    return Stream(np.random.default_rng([seed, *key]))


class Stream:
    """Uniform, normal and derived scalar draws, buffered."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._uniforms: list[float] = []
        self._normals: list[float] = []

    def uniform(self) -> float:
        """A draw in [0, 1)."""
        if not self._uniforms:
            self._uniforms = self.rng.random(_BLOCK).tolist()
        return self._uniforms.pop()

    def normal(self) -> float:
        """A standard normal draw."""
        if not self._normals:
            self._normals = self.rng.standard_normal(_BLOCK).tolist()
        return self._normals.pop()

    def chance(self, probability: float) -> bool:
        return self.uniform() < probability

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high] (both included)."""
        return low + int(self.uniform() * (high - low + 1))

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.uniform()

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.uniform())

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.normal())

    def poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 30:
            return max(0, round(mean + math.sqrt(mean) * self.normal()))
        threshold, count, product = math.exp(-mean), 0, self.uniform()
        while product > threshold:
            count += 1
            product *= self.uniform()
        return count

    def pick(self, items: Sequence):
        """A uniformly chosen item."""
        return items[int(self.uniform() * len(items))]

    def pick_weighted(self, cumulative_weights: Sequence[float]) -> int:
        """Index drawn with probabilities proportional to the increments of `cumulative_weights`."""
        index = bisect_right(cumulative_weights, self.uniform() * cumulative_weights[-1])
        return min(index, len(cumulative_weights) - 1)
