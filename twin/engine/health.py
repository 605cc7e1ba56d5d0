"""Machine health: degradation models and the wear path of one machine life.

Wear grows with operating time (a machine wears while it works) from the life's initial wear
towards a failure threshold; the machine fails when wear crosses it, or earlier by a random shock.
At each renewal the whole path of the new life is drawn at once, in numpy blocks, so the
simulation knows the failure age in advance (operation-dependent failure, exactly as with a
``ttf`` distribution) and sensors read wear by interpolation.

Models (``model:``):
- ``wiener``: wear increments ``drift * dt + volatility * sqrt(dt) * N(0, 1)``; ``drift`` is a
  distribution, drawn once per life (unit-to-unit variation).
- ``gamma``: stationary gamma process, increments ``Gamma(rate * dt, scale)``; mean wear rate
  ``rate * scale``.
- ``markov``: discrete states 0, 1, ..., n; state k moves to k + 1 after an exponential operating
  time of rate ``rates[k]``; wear is k / n of the threshold and state n is failure.
- ``replay``: a recorded life, drawn at random from a lives file: its readings are the sensor
  readings (see ``twin.engine.sensors.ReplayStream``), reading k (k = 1, 2, ..., n) at operating
  age ``k * time_per_cycle``, failure at ``(n + 1/2) * time_per_cycle``; wear grows linearly
  with age to the failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.language.nodes import (
    Degradation,
    GammaDegradation,
    MarkovDegradation,
    ReplayDegradation,
    WienerDegradation,
)
from twin.records.lives import Record, replay

BLOCK = 256


@dataclass
class WearPath:
    """Wear against operating age over one life; wear is a fraction of the failure threshold."""

    ages: np.ndarray
    wear: np.ndarray
    fail_age: float
    cause: str
    """'wear' (threshold crossed) or 'shock'."""
    step: bool = False
    """True for a piecewise-constant path (markov), False for piecewise-linear."""
    record: Record | None = None
    """The recorded life a replayed path reads its sensors from."""

    def at(self, age: float | np.ndarray) -> np.ndarray:
        """Wear (fraction of the failure threshold) at operating ``age``; ages past the failure read
        the wear at failure."""
        a = np.minimum(np.asarray(age, dtype=float), self.fail_age)
        if self.step:
            idx = np.searchsorted(self.ages, a, side="right") - 1
            return self.wear[np.clip(idx, 0, len(self.wear) - 1)]
        return np.interp(a, self.ages, self.wear)


def sample_path(spec: Degradation, rng: np.random.Generator, initial: float = 0.0) -> WearPath:
    """Draw the wear path of a new life starting at ``initial`` wear (0: as good as new)."""
    if isinstance(spec, ReplayDegradation):
        records = replay(spec).records
        record = records[int(rng.integers(len(records)))]
        fail = float(record.ages[-1] + spec.time_per_cycle / 2)
        path = WearPath(np.array([0.0, fail]), np.array([0.0, 1.0]), fail, "wear",
                        record=record)
    elif isinstance(spec, MarkovDegradation):
        path = _markov(spec.rates, rng, initial)
    else:
        path = _continuous(spec, rng, initial)
    if spec.shocks is not None:
        shock = float(rng.exponential(1.0 / spec.shocks))
        if shock < path.fail_age:
            keep = path.ages < shock
            ages = np.append(path.ages[keep], shock)
            wear = np.append(path.wear[keep], path.at(shock))
            return WearPath(ages, wear, shock, "shock", path.step, path.record)
    return path


def _continuous(spec: WienerDegradation | GammaDegradation, rng: np.random.Generator,
                initial: float) -> WearPath:
    dt = spec.step
    threshold = spec.threshold
    if isinstance(spec, WienerDegradation):
        drift = spec.drift.sample(rng, 1)[0] / threshold
        sigma = spec.volatility / threshold * math.sqrt(dt)

        def increments(n: int) -> np.ndarray:
            return drift * dt + sigma * rng.standard_normal(n)
    else:
        shape = spec.rate * dt
        scale = spec.scale / threshold

        def increments(n: int) -> np.ndarray:
            return rng.gamma(shape, scale, n)

    wear = [np.array([initial])]
    last = initial
    steps = 0
    while last < 1.0:
        if steps > 10_000_000:
            raise RuntimeError("the wear path does not reach its threshold (drift <= 0?)")
        block = last + np.cumsum(increments(BLOCK))
        wear.append(block)
        steps += BLOCK
        if block.max() >= 1.0:
            break
        last = float(block[-1])
    w = np.concatenate(wear)
    ages = np.arange(len(w)) * dt
    k = int(np.argmax(w >= 1.0))
    # cross the threshold between the two grid points (linear interpolation)
    before, after = w[k - 1], w[k]
    frac = (1.0 - before) / (after - before) if after != before else 1.0
    fail = float(ages[k - 1] + frac * dt)
    ages = np.append(ages[:k], fail)
    w = np.append(w[:k], 1.0)
    w[:-1] = np.clip(w[:-1], 0.0, 1.0)
    return WearPath(ages, w, fail, "wear")


def _markov(rates: list[float], rng: np.random.Generator, initial: float) -> WearPath:
    n = len(rates)
    start = min(int(round(initial * n)), n - 1)
    holding = rng.exponential(1.0, n) / np.asarray(rates)
    times = np.concatenate([[0.0], np.cumsum(holding[start:])])
    levels = np.arange(start, n + 1) / n
    return WearPath(times, levels, float(times[-1]), "wear", step=True)


def mean_time_to_failure(spec: Degradation) -> float:
    """Mean life from new, without shocks (first-passage time): exact for markov, gamma and a
    constant wiener drift; a Monte Carlo average over the drift's distribution otherwise."""
    if isinstance(spec, MarkovDegradation):
        return float(sum(1.0 / r for r in spec.rates))
    if isinstance(spec, ReplayDegradation):
        return float(np.mean([r.ages[-1] + spec.time_per_cycle / 2
                              for r in replay(spec).records]))
    if isinstance(spec, WienerDegradation):
        # inverse Gaussian first passage: threshold / drift, averaged over the drift's distribution
        if spec.drift.dist == "constant":
            return spec.threshold / spec.drift.mean()
        drift = spec.drift.sample(np.random.default_rng(0), 400_000)
        return float(np.mean(spec.threshold / drift))
    from scipy import integrate, stats

    def survival(t: float) -> float:  # P(X(t) < threshold)
        return float(stats.gamma.cdf(spec.threshold, spec.rate * t, scale=spec.scale)) if t > 0 \
            else 1.0

    return float(integrate.quad(survival, 0, np.inf, limit=200)[0])
