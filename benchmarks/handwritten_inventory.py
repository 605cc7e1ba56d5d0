"""A minimal hand-written SimPy model of benchmarks/inventory.yaml: the speed reference.

Demand is a process; each replenishment order is a process that waits out the lead time. Stock,
backorders and the inventory position are plain counters; it measures the fill rate and nothing
else.
Usage: python benchmarks/handwritten_inventory.py [HORIZON]
"""

from __future__ import annotations

import sys

import numpy as np
import simpy

LEAD, R, Q = 5.0, 3, 4


def simulate(horizon: float, seed: int = 1) -> float:
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    state = {"on_hand": R + Q, "backordered": 0, "on_order": 0, "demanded": 0, "filled": 0}

    def replenish(quantity: int):  # type: ignore[no-untyped-def]
        yield env.timeout(LEAD)
        state["on_order"] -= quantity
        served = min(quantity, state["backordered"])
        state["backordered"] -= served
        state["on_hand"] += quantity - served

    def demand():  # type: ignore[no-untyped-def]
        gaps = rng.exponential(1.0, int(horizon * 1.2) + 1000).tolist()
        k = 0
        while True:
            yield env.timeout(gaps[k])
            k += 1
            state["demanded"] += 1
            if state["on_hand"] > 0:
                state["on_hand"] -= 1
                state["filled"] += 1
            else:
                state["backordered"] += 1
            position = state["on_hand"] + state["on_order"] - state["backordered"]
            if position <= R:
                quantity = Q * ((R - position) // Q + 1)
                state["on_order"] += quantity
                env.process(replenish(quantity))

    env.process(demand())
    env.run(until=horizon)
    return state["filled"] / state["demanded"]


if __name__ == "__main__":
    print(simulate(float(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
