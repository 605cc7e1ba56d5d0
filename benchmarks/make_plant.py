"""A 200-machine plant for a month: the scenario generator of benchmarks/scale.py.

Twenty parallel lines of eight stages each; two stages of every line are cells of two
machines fed by one buffer (first free, first served), so a line has ten machines. Finite
buffers between the stages (blocking after service), lognormal process times (their means
drawn per station, so every line has its own bottleneck), Weibull lives counted in processing
time and lognormal repairs on every machine, and a plant-wide maintenance crew of twelve.
Minutes; one replication of a 30-day month after a day of warm-up.

The layout is drawn from a fixed seed, so the file is the same on every run; the hand-written
model (benchmarks/plant_handwritten.py) reads the same layout.

Usage: python benchmarks/make_plant.py [OUT]   (default: benchmarks/plant200.yaml)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

LINES = 20
STAGES = 8
CELLS = (2, 5)
"""The stages of each line that are cells of two machines."""
CREW = 12
HORIZON = 30 * 24 * 60.0
WARMUP = 24 * 60.0


@dataclass(frozen=True)
class Station:
    name: str
    mean: float
    """Mean process time (min); lognormal with a coefficient of variation of 0.25."""
    shape: float
    scale: float
    """Weibull life in processing time (min)."""
    repair: float
    """Mean repair (min); lognormal, standard deviation half the mean."""


@dataclass(frozen=True)
class Line:
    stages: list[list[Station]]
    buffers: list[int]
    """Capacity of the buffer in front of each stage after the first."""


def layout(seed: int = 7) -> list[Line]:
    rng = np.random.default_rng(seed)
    lines = []
    for n in range(1, LINES + 1):
        cycle = float(rng.uniform(0.8, 1.6))  # this line's takt
        stages = []
        for s in range(1, STAGES + 1):
            width = 2 if s in CELLS else 1
            stages.append([Station(
                name=f"L{n:02d}S{s}{'ab'[m] if width > 1 else ''}",
                mean=round(width * cycle * float(rng.uniform(0.7, 0.95)), 3),
                shape=round(float(rng.uniform(1.2, 2.5)), 2),
                scale=round(float(rng.uniform(400, 2000)), 0),
                repair=round(float(rng.uniform(10, 40)), 1))
                for m in range(width)])
        lines.append(Line(stages, [int(rng.integers(3, 11)) for _ in range(STAGES - 1)]))
    return lines


def scenario(lines: list[Line]) -> dict[str, object]:
    nodes: dict[str, object] = {}
    edges: list[list[str]] = []
    for n, line in enumerate(lines, 1):
        source, sink = f"L{n:02d}in", f"L{n:02d}out"
        nodes[source] = {"kind": "source"}
        previous = [source]
        for s, stage in enumerate(line.stages):
            if s > 0:  # a buffer in front of every stage after the first
                buffer = f"L{n:02d}B{s}"
                nodes[buffer] = {"kind": "buffer", "capacity": line.buffers[s - 1]}
                edges += [[p, buffer] for p in previous]
                previous = [buffer]
            for station in stage:
                nodes[station.name] = {
                    "kind": "machine",
                    "process_time": {"dist": "lognormal", "mean": station.mean,
                                     "std": round(0.25 * station.mean, 4)},
                    "failures": {"ttf": {"dist": "weibull", "shape": station.shape,
                                         "scale": station.scale},
                                 "ttr": {"dist": "lognormal", "mean": station.repair,
                                         "std": round(station.repair / 2, 2)}}}
                edges += [[p, station.name] for p in previous]
            previous = [station.name for station in stage]
        nodes[sink] = {"kind": "sink"}
        edges += [[p, sink] for p in previous]
    return {"name": "plant-200", "time_unit": "min", "horizon": HORIZON, "warmup": WARMUP,
            "replications": 1, "seed": 2024,
            "plant": {"nodes": nodes, "edges": edges},
            "maintenance": {"crew": CREW, "policy": {"kind": "reactive"}},
            "costs": {"preventive": 200, "corrective": 1500}}


def describe() -> str:
    return (f"{LINES} lines x {STAGES} stages, 2 of them cells of two machines, "
            f"{LINES * (STAGES - 1)} buffers, failures on every machine, a crew of {CREW}")


def write(path: Path, seed: int = 7) -> Path:
    text = ("# A 200-machine plant for a month, written by benchmarks/make_plant.py: "
            + describe() + ".\n" + yaml.safe_dump(scenario(layout(seed)), sort_keys=False,
                                                 default_flow_style=None, width=100))
    path.write_text(text)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("plant200.yaml")
    print(write(out))
