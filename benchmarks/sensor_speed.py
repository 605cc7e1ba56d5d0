"""Sensor emission: vectorized blocks against one SimPy event per sample.

One simulated year (525,600 min) of 20 machines, each with a wear model and a vibration sensor
sampled every minute (10.5 million readings). Both implementations run the same plant with the
same seeds and produce every reading as a table; the reference adds one SimPy process per sensor
that wakes up every period, reads the machine's state and wear, and draws the noise.

Usage: python benchmarks/sensor_speed.py [--machines N] [--horizon T]
Prints wall times and the ratio (target >= 20).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

from twin import scenario_from_data
from twin.engine.replication import build, emit_readings, measure
from twin.engine.sensors import MemorySink
from twin.engine.states import STATES, WORKING


def plant(machines: int, horizon: float) -> Any:
    nodes: dict[str, Any] = {"done": {"kind": "sink"}}
    edges = []
    for i in range(machines):
        nodes[f"src{i}"] = {"kind": "source"}
        nodes[f"M{i}"] = {
            "kind": "machine",
            "process_time": {"dist": "gamma", "shape": 4, "scale": 15},  # an hour a part
            "failures": {"ttr": {"dist": "lognormal", "mean": 240, "std": 60}},
            "degradation": {"model": "gamma", "rate": 0.02, "scale": 0.005, "step": 10},
            "sensors": {"vibration": {"period": 1.0, "base": 2.0, "gain": 5.0, "power": 2,
                                      "noise": 0.3, "idle": 0.4}},
        }
        edges += [[f"src{i}", f"M{i}"], [f"M{i}", "done"]]
    return scenario_from_data({"name": "sensor-bench", "horizon": horizon, "seed": 3,
                               "plant": {"nodes": nodes, "edges": edges}})


def vectorized(scenario: Any) -> int:
    model = build(scenario, 0)
    model.env.run(until=scenario.horizon)
    sink = MemorySink()
    emit_readings(scenario, model, 0, sink)
    measure(scenario, model, 0)
    return len(sink.frame())


def event_per_sample(scenario: Any) -> int:
    model = build(scenario, 0)
    env = model.env
    rows: list[tuple[str, float, float, str]] = []

    def sampler(name: str, machine: Any, spec: Any, rng: np.random.Generator) -> Any:
        while True:
            yield env.timeout(spec.period)
            state = machine.clock.state
            if STATES[state] not in ("working", "starved", "blocked"):
                continue
            age = machine.age + (env.now - machine.clock.since if state == WORKING else 0.0)
            wear = float(machine.path.at(age)) if machine.path is not None else 0.0
            signal = spec.base + spec.gain * wear**spec.power
            if state != WORKING:
                signal *= spec.idle
            rows.append((name, env.now, signal + spec.noise * rng.standard_normal(),
                         STATES[state]))

    for name, machine in model.machines.items():
        for sensor, spec in model.graph.nodes[name]["spec"].sensors.items():
            env.process(sampler(name, machine, spec, np.random.default_rng(hash(sensor) % 2**32)))
    env.run(until=scenario.horizon)
    measure(scenario, model, 0)
    return len(pd.DataFrame(rows, columns=["machine", "time", "value", "state"]))


def no_sensors(scenario: Any) -> None:
    model = build(scenario, 0)
    model.env.run(until=scenario.horizon)
    measure(scenario, model, 0)


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--horizon", type=float, default=525_600)
    args = parser.parse_args()
    scenario = plant(args.machines, args.horizon)
    t_plant, _ = timed(no_sensors, scenario)
    t_vec, n_vec = timed(vectorized, scenario)
    t_evt, n_evt = timed(event_per_sample, scenario)
    print(f"{args.machines} machines, horizon {args.horizon:g} min, 1-minute sampling")
    print(f"plant alone (no sensors):  {t_plant:7.2f} s")
    print(f"vectorized blocks:         {t_vec:7.2f} s, {n_vec:,} readings")
    print(f"one event per sample:      {t_evt:7.2f} s, {n_evt:,} readings")
    print(f"ratio, whole run:          {t_evt / t_vec:7.1f}x")
    print(f"ratio, sensor emission:    {(t_evt - t_plant) / max(t_vec - t_plant, 1e-9):7.1f}x")


if __name__ == "__main__":
    main()
