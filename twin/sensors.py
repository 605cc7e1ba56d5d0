"""Sensor readings and where they go.

Readings are generated in vectorized blocks from a machine's state timeline and its wear paths,
not one SimPy event per sample: between two state changes a machine's operating age grows
linearly (working) or stands still (otherwise), so the age at every sampling instant is one
``np.interp`` away, the wear one more, and the noise one numpy draw for the whole block.

Columns of a readings table (the Parquet files and the in-memory frames):

| column | meaning |
| --- | --- |
| ``replication`` | replication number |
| ``machine`` | machine name |
| ``sensor`` | sensor name |
| ``time`` | simulated time of the reading |
| ``value`` | ``base + gain * wear**power`` (times ``idle`` unless working) plus noise |
| ``state`` | machine state: working, starved or blocked (the sensor is off otherwise) |
| ``age`` | operating time since the machine's last renewal |
| ``wear`` | true wear, as a fraction of the failure threshold (the label predictors learn) |
| ``life`` | number of the machine's life (0 before its first renewal, +1 at each) |

Sinks take each block: ``MemorySink`` keeps frames, ``ParquetSink`` writes one file per
replication and machine under ``<folder>/machine=<name>/`` (a Hive-partitioned dataset that
``pandas.read_parquet(folder)`` reads back whole), ``CallbackSink`` calls a function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from twin.stations import STATES, WORKING

if TYPE_CHECKING:
    from twin.scenario import Sensor
    from twin.stations import Machine

COLUMNS = ("replication", "machine", "sensor", "time", "value", "state", "age", "wear", "life")
ON_STATES = {WORKING, STATES.index("starved"), STATES.index("blocked")}


class SensorSink(Protocol):
    def write(self, machine: str, readings: pd.DataFrame) -> None: ...


class MemorySink:
    """Keeps every block in memory; ``frame()`` joins them."""

    def __init__(self) -> None:
        self.blocks: list[pd.DataFrame] = []

    def write(self, machine: str, readings: pd.DataFrame) -> None:
        self.blocks.append(readings)

    def frame(self) -> pd.DataFrame:
        if not self.blocks:
            return pd.DataFrame(columns=list(COLUMNS))
        return pd.concat(self.blocks, ignore_index=True)


class ParquetSink:
    """Writes ``<root>/machine=<name>/replication-<r>.parquet`` atomically."""

    def __init__(self, root: Path, replication: int) -> None:
        self.root = root
        self.replication = replication

    def write(self, machine: str, readings: pd.DataFrame) -> None:
        from twin.output import write_parquet

        path = self.root / f"machine={machine}" / f"replication-{self.replication:04d}.parquet"
        write_parquet(path, readings.drop(columns=["machine"]))


class CallbackSink:
    """Calls ``fn(machine, readings)`` for every block."""

    def __init__(self, fn: Callable[[str, pd.DataFrame], None]) -> None:
        self.fn = fn

    def write(self, machine: str, readings: pd.DataFrame) -> None:
        self.fn(machine, readings)


def readings(
    machine: Machine,
    sensors: Mapping[str, Sensor],
    rngs: Mapping[str, np.random.Generator],
    replication: int,
    end: float,
    start: float = 0.0,
) -> pd.DataFrame:
    """Every reading of ``machine``'s sensors from ``start`` to ``end``, as one table."""
    timeline = machine.clock.timeline
    lives = machine.lives
    if timeline is None or lives is None:
        raise ValueError("readings need the machine's timeline and lives")
    t_knots = np.array([t for t, _ in timeline] + [end])
    states = np.array([s for _, s in timeline] + [timeline[-1][1]])
    working = (states[:-1] == WORKING)
    operating = np.concatenate([[0.0], np.cumsum(np.diff(t_knots) * working)])
    life_start = np.array([life.start for life in lives])
    life_operating = np.array([life.operating for life in lives])
    frames = []
    for name, spec in sensors.items():
        times = np.arange(start + spec.period, end + 1e-9, spec.period)
        k = np.searchsorted(t_knots, times, side="right") - 1
        k = np.clip(k, 0, len(states) - 1)
        state = states[k]
        on = np.isin(state, list(ON_STATES))
        times, k, state = times[on], k[on], state[on]
        op = operating[k] + (times - t_knots[k]) * (state == WORKING)
        life = np.searchsorted(life_start, times, side="right") - 1
        life = np.clip(life, 0, len(lives) - 1)
        age = op - life_operating[life]
        wear = np.zeros(times.size)
        for j in np.unique(life):
            path = lives[j].path
            if path is not None:
                sel = life == j
                wear[sel] = path.at(age[sel])
        signal = spec.base + spec.gain * wear**spec.power
        signal = np.where(state == WORKING, signal, spec.idle * signal)
        value = signal + spec.noise * rngs[name].standard_normal(times.size)
        frames.append(pd.DataFrame({
            "replication": replication, "machine": machine.name, "sensor": name,
            "time": times, "value": value,
            "state": pd.Categorical.from_codes(state, categories=list(STATES)),
            "age": age, "wear": wear, "life": life,
        }))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)
