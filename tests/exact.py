"""Exact results the engine is checked against: queueing formulas, Markov chains, renewal theory."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import integrate, stats


def mm1(lam: float, mu: float) -> dict[str, float]:
    rho = lam / mu
    return {"utilization": rho, "lead_time": 1 / (mu - lam), "wip": rho / (1 - rho)}


def mmc(lam: float, mu: float, c: int) -> dict[str, float]:
    """M/M/c: Erlang C."""
    a = lam / mu
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (head + tail)
    wq = p_wait / (c * mu - lam)
    return {"utilization": rho, "lead_time": wq + 1 / mu, "wip": lam * (wq + 1 / mu)}


def tandem_throughput(
    mu: Sequence[float],
    capacities: Sequence[int],
    fail: Sequence[float] | None = None,
    repair: Sequence[float] | None = None,
) -> float:
    """Throughput of an exponential tandem line with blocking after service, as a Markov chain.

    The first machine never starves, the last never blocks; ``capacities[i]`` places lie between
    machine i and i+1 (0: direct hand-over). Machine i fails at rate ``fail[i]`` while working
    only, and is repaired at rate ``repair[i]`` by its own technician, then resumes its part.
    """
    n = len(mu)
    fail = list(fail or [0.0] * n)
    repair = list(repair or [0.0] * n)

    def pull(ms: list[str], bs: list[int], i: int) -> None:
        """Machine i is empty: take the next part if one is there."""
        if i == 0:
            ms[0] = "W"
        elif bs[i - 1] > 0:
            bs[i - 1] -= 1
            ms[i] = "W"
            if ms[i - 1] == "B":
                bs[i - 1] += 1
                pull(ms, bs, i - 1)
        elif ms[i - 1] == "B":
            ms[i] = "W"
            pull(ms, bs, i - 1)
        else:
            ms[i] = "S"

    def finish(ms: list[str], bs: list[int], i: int) -> None:
        if i == n - 1:
            pull(ms, bs, i)
        elif ms[i + 1] == "S":
            ms[i + 1] = "W"
            pull(ms, bs, i)
        elif bs[i] < capacities[i]:
            bs[i] += 1
            pull(ms, bs, i)
        else:
            ms[i] = "B"

    def moves(state: tuple) -> list[tuple[tuple, float]]:
        ms, bs = list(state[0]), list(state[1])
        out = []
        for i in range(n):
            if ms[i] == "W":
                m2, b2 = ms.copy(), bs.copy()
                finish(m2, b2, i)
                out.append(((tuple(m2), tuple(b2)), mu[i]))
                if fail[i] > 0:
                    m2 = ms.copy()
                    m2[i] = "D"
                    out.append(((tuple(m2), tuple(bs)), fail[i]))
            elif ms[i] == "D":
                m2 = ms.copy()
                m2[i] = "W"
                out.append(((tuple(m2), tuple(bs)), repair[i]))
        return out

    start = (("W",) + ("S",) * (n - 1), (0,) * (n - 1))
    index = {start: 0}
    order = [start]
    edges = []
    k = 0
    while k < len(order):
        state = order[k]
        for target, rate in moves(state):
            if target not in index:
                index[target] = len(order)
                order.append(target)
            edges.append((k, index[target], rate))
        k += 1
    size = len(order)
    q = np.zeros((size, size))
    for a, b, rate in edges:
        if a != b:
            q[a, b] += rate
            q[a, a] -= rate
    # pi Q = 0, sum(pi) = 1
    system = np.vstack([q.T, np.ones(size)])
    rhs = np.zeros(size + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return float(sum(p * mu[-1] for p, s in zip(pi, order, strict=True) if s[0][-1] == "W"))


def age_replacement_cost_rate(
    shape: float, scale: float, age: float, c_preventive: float, c_corrective: float,
    repair_time: float, pm_time: float,
) -> float:
    """Long-run cost per unit time of age replacement (renewal reward), with down times."""
    dist = stats.weibull_min(shape, scale=scale)
    f = dist.cdf(age)
    r = 1 - f
    uptime = integrate.quad(dist.sf, 0, age)[0]
    return (c_preventive * r + c_corrective * f) / (uptime + repair_time * f + pm_time * r)
