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

Blocks are Arrow tables (``machine``, ``sensor`` and ``state`` dictionary-encoded), built from the
numpy arrays without copying. Sinks take each block: ``MemorySink`` keeps them (``frame()`` gives
one pandas DataFrame), ``ParquetSink`` writes one file per replication and machine under
``<folder>/machine=<name>/`` (a Hive-partitioned dataset that ``pandas.read_parquet(folder)``
reads back whole), ``CallbackSink`` calls a function with each block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin.stations import STATES, WORKING

if TYPE_CHECKING:
    from twin.scenario import Sensor
    from twin.stations import Machine

COLUMNS = ("replication", "machine", "sensor", "time", "value", "state", "age", "wear", "life")
ON_STATES = {WORKING, STATES.index("starved"), STATES.index("blocked")}


class SensorSink(Protocol):
    def write(self, machine: str, readings: pa.Table) -> None: ...


class MemorySink:
    """Keeps every block in memory; ``frame()`` joins them into one DataFrame."""

    def __init__(self) -> None:
        self.blocks: list[pa.Table] = []

    def write(self, machine: str, readings: pa.Table) -> None:
        self.blocks.append(readings)

    def table(self) -> pa.Table:
        if not self.blocks:
            return _table({c: np.zeros(0) for c in COLUMNS[3:]}, 0, "", "", np.zeros(0, int))
        return pa.concat_tables(self.blocks).unify_dictionaries()

    def frame(self) -> pd.DataFrame:
        return self.table().to_pandas()


class ParquetSink:
    """Writes ``<root>/machine=<name>/replication-<r>.parquet`` atomically."""

    def __init__(self, root: Path, replication: int) -> None:
        self.root = root
        self.replication = replication

    def write(self, machine: str, readings: pa.Table) -> None:
        from twin.output import atomic_write

        path = self.root / f"machine={machine}" / f"replication-{self.replication:04d}.parquet"
        data = readings.drop_columns(["machine"])
        atomic_write(path, lambda tmp: pq.write_table(data, tmp))


class CallbackSink:
    """Calls ``fn(machine, readings)`` for every block (an Arrow table: ``.to_pandas()``)."""

    def __init__(self, fn: Callable[[str, pa.Table], None]) -> None:
        self.fn = fn

    def write(self, machine: str, readings: pa.Table) -> None:
        self.fn(machine, readings)


def _dictionary(codes: np.ndarray, names: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(names))


def _table(columns: dict[str, np.ndarray], replication: int, machine: str, sensor: str,
           state: np.ndarray) -> pa.Table:
    n = len(state)
    zeros = np.zeros(n, dtype=np.int8)
    return pa.table({
        "replication": pa.array(np.full(n, replication, dtype=np.int32)),
        "machine": _dictionary(zeros, [machine]),
        "sensor": _dictionary(zeros, [sensor]),
        "time": columns["time"],
        "value": columns["value"],
        "state": _dictionary(state.astype(np.int8), list(STATES)),
        "age": columns["age"],
        "wear": columns["wear"],
        "life": pa.array(np.asarray(columns["life"], dtype=np.int32)),
    })


def readings(
    machine: Machine,
    sensors: Mapping[str, Sensor],
    rngs: Mapping[str, np.random.Generator],
    replication: int,
    end: float,
    start: float = 0.0,
) -> pa.Table:
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
        bounds = np.searchsorted(life, np.arange(len(lives) + 1))  # times are sorted
        for j in range(len(lives)):
            path = lives[j].path
            lo, hi = bounds[j], bounds[j + 1]
            if path is not None and hi > lo:
                wear[lo:hi] = path.at(age[lo:hi])
        signal = spec.base + spec.gain * wear**spec.power
        signal = np.where(state == WORKING, signal, spec.idle * signal)
        value = signal + spec.noise * rngs[name].standard_normal(times.size)
        frames.append(_table({"time": times, "value": value, "age": age, "wear": wear,
                              "life": life}, replication, machine.name, name, state))
    if not frames:
        return _table({c: np.zeros(0) for c in COLUMNS[3:]}, replication, machine.name, "",
                      np.zeros(0, dtype=np.int8))
    return pa.concat_tables(frames).unify_dictionaries()
