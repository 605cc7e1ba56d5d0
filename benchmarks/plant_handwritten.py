"""A minimal hand-written SimPy model of the 200-machine plant of benchmarks/make_plant.py:
the speed reference of benchmarks/scale.py.

The machine loop of benchmarks/handwritten_line.py (take a part from the store in front, hold
it for its process time, put it in the store behind, waiting while that is full), with what the
plant adds: a machine's life runs down only while it processes, and when it runs out mid-part
the machine waits for a technician of the plant's crew (a ``simpy.Resource``), is repaired and
finishes the part. Cells are two machine processes taking from one store. It counts the parts
that reach the end of each line after the warm-up, and nothing else.

Usage: python benchmarks/plant_handwritten.py
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy
from make_plant import CREW, HORIZON, WARMUP, Line, Station, layout  # type: ignore[import-not-found]

BLOCK = 4096


def _draws(sample: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """One draw at a time from blocks of draws."""
    buffer: list[float] = []

    def draw() -> float:
        if not buffer:
            buffer.extend(sample(BLOCK)[::-1].tolist())
        return buffer.pop()

    return draw


def _lognormal(rng: np.random.Generator, mean: float, std: float) -> Callable[[], float]:
    sigma = math.sqrt(math.log(1 + (std / mean) ** 2))
    mu = math.log(mean) - sigma**2 / 2
    return _draws(lambda n: rng.lognormal(mu, sigma, n))


def simulate(lines: list[Line], horizon: float = HORIZON, seed: int = 1) -> dict[str, int]:
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    crew = simpy.Resource(env, capacity=CREW)
    made = [0]

    def machine(station: Station, inbox: simpy.Store | None,
                outbox: simpy.Store | None) -> Generator[simpy.Event, Any, None]:
        work_time = _lognormal(rng, station.mean, 0.25 * station.mean)
        repair_time = _lognormal(rng, station.repair, station.repair / 2)
        life_time = _draws(lambda n: station.scale * rng.weibull(station.shape, n))
        life = life_time()
        part = object()
        while True:
            if inbox is not None:
                part = yield inbox.get()
            work = work_time()
            while life <= work:  # fails mid-part: repaired, then the part goes on
                yield env.timeout(life)
                work -= life
                with crew.request() as request:
                    yield request
                    yield env.timeout(repair_time())
                life = life_time()
            yield env.timeout(work)
            life -= work
            if outbox is not None:
                yield outbox.put(part)
            elif env.now >= WARMUP:
                made[0] += 1

    for line in lines:
        stores = [simpy.Store(env, capacity=c) for c in line.buffers]
        for s, stage in enumerate(line.stages):
            inbox = stores[s - 1] if s > 0 else None  # the first stage is never starved
            outbox = stores[s] if s < len(stores) else None
            for station in stage:
                env.process(machine(station, inbox, outbox))
    env.run(until=horizon)
    return {"parts": made[0]}


if __name__ == "__main__":
    print(simulate(layout()))
