"""A minimal hand-written SimPy model of benchmarks/five_station.yaml: the speed reference.

Machines are processes, buffers are ``simpy.Store``s; a machine holds its finished part until
the next store accepts it (blocking after service). It counts parts and nothing else.
Usage: python benchmarks/handwritten_line.py [HORIZON]
"""

from __future__ import annotations

import sys

import numpy as np
import simpy

MEANS = [1.0, 0.9, 1.1, 0.8, 1.0]
CAPACITY = 3


def simulate(horizon: float, seed: int = 1) -> int:
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    stores = [simpy.Store(env, capacity=CAPACITY) for _ in MEANS[1:]]
    done = [0]

    def machine(i: int, mean: float):  # type: ignore[no-untyped-def]
        draws = rng.exponential(mean, 1_000_000).tolist()
        k = 0
        while True:
            if i > 0:
                yield stores[i - 1].get()
            yield env.timeout(draws[k])
            k += 1
            if i < len(MEANS) - 1:
                yield stores[i].put(object())
            else:
                done[0] += 1

    for i, mean in enumerate(MEANS):
        env.process(machine(i, mean))
    env.run(until=horizon)
    return done[0]


if __name__ == "__main__":
    horizon = float(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    print(simulate(horizon) / horizon)
