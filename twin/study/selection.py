"""Ranking and selection: naming the best of a few systems with a stated probability.

Kim and Nelson's fully sequential procedure (KN, 2001), which allows common random numbers:
with ``k`` systems, a first stage of ``n0`` replications each, an indifference zone ``delta`` and
a probability of correct selection ``pcs``, it names a system whose mean is within ``delta`` of
the best with probability at least ``pcs`` (for normal observations; replication means of long
runs are close to normal). The first stage gives the variances of the paired differences; then
replications are added to the systems still in contention, and system ``i`` is eliminated as soon
as its mean falls below another's by more than

    W_il(r) = max(0, delta / (2 r) * (h^2 S_il^2 / delta^2 - r)),
    eta = ((2 (1 - pcs) / (k - 1)) ** (-2 / (n0 - 1)) - 1) / 2,   h^2 = 2 eta (n0 - 1).

It ends when one system is left, or when the replications reach ``max(N_il) + 1`` with
``N_il = floor(h^2 S_il^2 / delta^2)`` (the best mean is then chosen). Checking for elimination
after batches of replications instead of after each one eliminates no more often, so the
guarantee holds (the procedure just may take a few more replications). A cap on the
replications, if reached first, ends it without the guarantee; the result says so.

Here the procedure maximizes; a KPI to minimize is negated by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


def kn_constants(k: int, n0: int, pcs: float) -> tuple[float, float]:
    """``(eta, h^2)`` of KN for ``k`` systems, ``n0`` first-stage replications and ``pcs``."""
    if k < 2:
        return 0.0, 0.0
    if n0 < 2:
        raise ValueError("KN needs at least 2 first-stage replications")
    alpha = 1.0 - pcs
    eta = 0.5 * ((2.0 * alpha / (k - 1)) ** (-2.0 / (n0 - 1)) - 1.0)
    return eta, 2.0 * eta * (n0 - 1)


@dataclass
class Selection:
    """What the procedure did: the system named, each system's replications, when each was
    eliminated (the replication count then) and whether the stated probability holds."""

    best: str
    replications: dict[str, int]
    eliminated: dict[str, int | None]
    eliminated_by: dict[str, str | None]
    guaranteed: bool
    eta: float
    h2: float
    max_needed: int
    """The replications the procedure may need at most: ``max(N_il) + 1``."""
    rounds: int = 0
    notes: list[str] = field(default_factory=list)


def kim_nelson(
    systems: Sequence[str],
    first: Mapping[str, Sequence[float]],
    more: Callable[[list[str], int], Mapping[str, Sequence[float]]],
    *,
    delta: float,
    pcs: float = 0.95,
    max_replications: int | None = None,
    batch: Callable[[int], int] | None = None,
) -> Selection:
    """Select the system of largest mean. ``first`` holds each system's first ``n0``
    observations (replication by replication, on common random numbers); ``more(survivors,
    upto)`` returns the observations of replications ``len(seen) .. upto - 1`` of each survivor.
    ``batch(survivors)`` is how many replications to add per round (default 1)."""
    if delta <= 0 or not math.isfinite(delta):
        raise ValueError("the indifference zone must be positive")
    names = list(systems)
    data = {s: [float(v) for v in first[s]] for s in names}
    n0 = min(len(v) for v in data.values())
    data = {s: v[:n0] for s, v in data.items()}
    k = len(names)
    eta, h2 = kn_constants(k, n0, pcs)
    if k == 1:
        return Selection(names[0], {names[0]: n0}, {names[0]: None}, {names[0]: None}, True,
                         eta, h2, n0)
    s2: dict[tuple[str, str], float] = {}
    for i in names:
        for j in names:
            if i != j:
                d = np.asarray(data[i]) - np.asarray(data[j])
                s2[(i, j)] = float(d.var(ddof=1))
    needed = {pair: math.floor(h2 * v / delta**2) for pair, v in s2.items()}
    max_needed = max(needed.values()) + 1
    survivors = list(names)
    eliminated: dict[str, int | None] = {s: None for s in names}
    eliminated_by: dict[str, str | None] = {s: None for s in names}
    r = n0
    rounds = 0
    guaranteed = True
    notes: list[str] = []

    def sweep() -> None:
        means = {s: float(np.mean(data[s][:r])) for s in survivors}
        out = []
        for i in survivors:
            for j in survivors:
                if i == j:
                    continue
                w = max(0.0, delta / (2 * r) * (h2 * s2[(i, j)] / delta**2 - r))
                if means[i] < means[j] - w:
                    out.append((i, j))
                    break
        for i, j in out:
            eliminated[i] = r
            eliminated_by[i] = j
        for i, _ in out:
            survivors.remove(i)

    sweep()
    while len(survivors) > 1:
        limit = max(max(needed[(i, j)] for j in survivors if j != i) for i in survivors) + 1
        if r >= limit:
            notes.append(f"{len(survivors)} systems left at {r} replications, as many as the "
                         "procedure needs: the best mean is named (any of them is within the "
                         "indifference zone of the best, with the stated probability)")
            break
        if max_replications is not None and r >= max_replications:
            guaranteed = False
            notes.append(f"stopped at the cap of {max_replications} replications with "
                         f"{len(survivors)} systems left (the procedure wanted up to {limit}): "
                         "the best mean is named without the stated probability")
            break
        step = max(1, batch(len(survivors)) if batch is not None else 1)
        upto = min(r + step, limit)
        if max_replications is not None:
            upto = min(upto, max(max_replications, r + 1))
        new = more(list(survivors), upto)
        for s in survivors:
            data[s].extend(float(v) for v in new[s])
            if len(data[s]) < upto:
                raise ValueError(f"system {s!r} got {len(data[s])} observations, not {upto}")
        r = upto
        rounds += 1
        sweep()
    best = max(survivors, key=lambda s: float(np.mean(data[s][:r])))
    return Selection(best, {s: len(v) for s, v in data.items()}, eliminated, eliminated_by,
                     guaranteed, eta, h2, max_needed, rounds, notes)
