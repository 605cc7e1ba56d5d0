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

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin.engine.stations import STATES, WORKING

if TYPE_CHECKING:
    from twin.engine.stations import Machine
    from twin.language.nodes import Sensor

COLUMNS = ("replication", "machine", "sensor", "time", "value", "state", "age", "wear", "life")
ON_STATES = {WORKING, STATES.index("starved"), STATES.index("blocked")}
ON = np.array([s in ON_STATES for s in range(len(STATES))])
"""Lookup by state: is the sensor on?"""


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
        from twin.study.output import atomic_write

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


class SensorStream:
    """The readings of one machine's sensors, generated block by block as time advances.

    ``advance(until)`` produces the readings due since the last call from the state changes
    recorded so far (a state holds until the next change, so everything up to now is known).
    The noise is drawn in order from each sensor's own stream, so the readings are the same
    whatever the block boundaries: emitted at the end in one block, or at every decision epoch.
    ``window(steps)`` gives the latest readings of the current life, for predictors."""

    def __init__(self, machine: Machine, sensors: Mapping[str, Sensor],
                 rngs: Mapping[str, np.random.Generator], replication: int) -> None:
        if machine.clock.timeline is None or machine.lives is None:
            raise ValueError("sensor readings need the machine's timeline and lives")
        self.machine = machine
        self.sensors = dict(sorted(sensors.items()))
        self.rngs = rngs
        self.replication = replication
        self.done = 0.0
        self.knot = 0
        self.knot_operating = 0.0
        self.blocks: list[pa.Table] = []
        self.recent: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
            s: (np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)) for s in self.sensors}
        self.keep = 0
        self._life_start = np.zeros(0)
        self._life_operating = np.zeros(0)

    def advance(self, until: float) -> None:
        if until <= self.done:
            return
        machine = self.machine
        timeline = machine.clock.timeline
        lives = machine.lives
        assert timeline is not None and lives is not None
        tail = timeline[self.knot:]
        t_knots = np.array([t for t, _ in tail] + [until])
        states = np.array([s for _, s in tail] + [tail[-1][1]])
        working = states[:-1] == WORKING
        operating = self.knot_operating + np.concatenate(
            [[0.0], np.cumsum(np.diff(t_knots) * working)])
        if len(lives) != len(self._life_start):  # lives are only ever appended
            self._life_start = np.array([life.start for life in lives])
            self._life_operating = np.array([life.operating for life in lives])
        life_start, life_operating = self._life_start, self._life_operating
        for name, spec in self.sensors.items():
            first = np.floor(self.done / spec.period + 1e-9) + 1
            last = np.floor(until / spec.period + 1e-9)
            times = np.arange(first, last + 1) * spec.period
            k = np.clip(np.searchsorted(t_knots, times, side="right") - 1, 0, len(states) - 1)
            state = states[k]
            on = ON[state]
            times, k, state = times[on], k[on], state[on]
            op = operating[k] + (times - t_knots[k]) * (state == WORKING)
            life = np.clip(np.searchsorted(life_start, times, side="right") - 1, 0,
                           len(lives) - 1)
            age = op - life_operating[life]
            wear = np.zeros(times.size)
            bounds = np.searchsorted(life, np.arange(len(lives) + 1))  # times are sorted
            for j in range(int(life[0]) if life.size else 0, len(lives)):
                path = lives[j].path
                lo, hi = bounds[j], bounds[j + 1]
                if path is not None and hi > lo:
                    wear[lo:hi] = path.at(age[lo:hi])
            signal = spec.base + spec.gain * wear**spec.power
            signal = np.where(state == WORKING, signal, spec.idle * signal)
            value = signal + spec.noise * self.rngs[name].standard_normal(times.size)
            self.blocks.append(_table({"time": times, "value": value, "age": age,
                                       "wear": wear, "life": life}, self.replication,
                                      machine.name, name, state))
            if self.keep:
                old_t, old_v, old_l = self.recent[name]
                self.recent[name] = (np.concatenate([old_t, times])[-self.keep:],
                                     np.concatenate([old_v, value])[-self.keep:],
                                     np.concatenate([old_l, life])[-self.keep:])
        self.knot += len(tail) - 1
        self.knot_operating = float(operating[len(tail) - 1])
        self.done = until

    def window(self, steps: int) -> np.ndarray | None:
        """The last ``steps`` readings of every sensor in the current life, aligned on the
        first sensor's times (as ``twin.ml.training.windows`` builds them); None if too few."""
        names = list(self.sensors)
        times, values, lives = self.recent[names[0]]
        current = len(self.machine.lives or []) - 1
        mine = lives == current
        if mine.sum() < steps:
            return None
        base_t = times[mine][-steps:]
        columns = [values[mine][-steps:]]
        for other in names[1:]:
            t, v, lf = self.recent[other]
            t, v = t[lf == current], v[lf == current]
            if t.size == 0:
                return None
            idx = np.clip(np.searchsorted(t, base_t, side="right") - 1, 0, t.size - 1)
            columns.append(v[idx])
        return np.stack(columns, axis=1)

    def table(self) -> pa.Table:
        if not self.blocks:
            return _table({c: np.zeros(0) for c in COLUMNS[3:]}, self.replication,
                          self.machine.name, "", np.zeros(0, dtype=np.int8))
        return pa.concat_tables(self.blocks).unify_dictionaries()


def replays(spec: object) -> bool:
    """Whether a node's machine replays recorded lives (its sensors are the record's)."""
    return getattr(getattr(spec, "degradation", None), "model", None) == "replay"


def has_readings(spec: object) -> bool:
    """Whether a node's machine gives sensor readings: sensors of its own, or a replay."""
    return bool(getattr(spec, "sensors", None)) or replays(spec)


class ReplayStream(SensorStream):
    """The readings of a machine that replays recorded lives: reading k of a life's record is
    emitted when the machine's operating age in that life reaches its age (the end of cycle k),
    with the record's values for every channel (settings and sensors), noise and all as
    recorded. A life cut short (by a maintenance) emits the readings its age reached."""

    def __init__(self, machine: Machine, channels: list[str], replication: int) -> None:
        if machine.clock.timeline is None or machine.lives is None:
            raise ValueError("sensor readings need the machine's timeline and lives")
        self.machine = machine
        self.sensors = {name: None for name in channels}  # type: ignore[misc]
        self.rngs = {}
        self.replication = replication
        self.done = 0.0
        self.knot = 0
        self.knot_operating = 0.0
        self.blocks = []
        self.recent = {s: (np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))
                       for s in self.sensors}
        self.keep = 0
        self._life_start = np.zeros(0)
        self._life_operating = np.zeros(0)
        self._first = 0

    def advance(self, until: float) -> None:
        if until <= self.done:
            return
        machine = self.machine
        timeline, lives = machine.clock.timeline, machine.lives
        assert timeline is not None and lives is not None
        tail = timeline[self.knot:]
        t_knots = np.array([t for t, _ in tail] + [until])
        states = np.array([s for _, s in tail] + [tail[-1][1]])
        working = states[:-1] == WORKING
        operating = self.knot_operating + np.concatenate(
            [[0.0], np.cumsum(np.diff(t_knots) * working)])
        start_op, end_op = operating[0], operating[-1]
        times_l, values_l, ages_l, wear_l, life_l = [], [], [], [], []
        while self._first + 1 < len(lives) and lives[self._first + 1].operating <= start_op:
            self._first += 1  # lives that ended before: every reading they reached is out
        for j in range(self._first, len(lives)):
            life = lives[j]
            path = life.path
            if path is None or path.record is None:
                continue
            next_op = lives[j + 1].operating if j + 1 < len(lives) else math.inf
            target = life.operating + path.record.ages
            due = (target > start_op) & (target <= min(end_op, next_op))
            if not due.any():
                continue
            if j + 1 < len(lives):  # the life ended: only the ages it reached
                due &= path.record.ages < lives[j + 1].operating - life.operating + 1e-9
            if not due.any():
                continue
            # the first knot at which the operating time reaches the target: within the
            # working segment that ends there
            k = np.clip(np.searchsorted(operating, target[due], side="left") - 1, 0,
                        len(operating) - 2)
            times_l.append(t_knots[k] + (target[due] - operating[k]))
            values_l.append(path.record.values[due])
            ages_l.append(path.record.ages[due])
            wear_l.append(path.at(path.record.ages[due]))
            life_l.append(np.full(int(due.sum()), j))
        if times_l:
            times = np.concatenate(times_l)
            values = np.concatenate(values_l)
            ages = np.concatenate(ages_l)
            wear = np.concatenate(wear_l)
            life_no = np.concatenate(life_l)
            state = np.full(times.size, WORKING)
            for c, name in enumerate(self.sensors):
                self.blocks.append(_table({"time": times, "value": values[:, c], "age": ages,
                                           "wear": wear, "life": life_no}, self.replication,
                                          machine.name, name, state))
                if self.keep:
                    old_t, old_v, old_l = self.recent[name]
                    self.recent[name] = (np.concatenate([old_t, times])[-self.keep:],
                                         np.concatenate([old_v, values[:, c]])[-self.keep:],
                                         np.concatenate([old_l, life_no])[-self.keep:])
        self.knot += len(tail) - 1
        self.knot_operating = float(operating[len(tail) - 1])
        self.done = until


def sensor_streams(machines: Mapping[str, Machine], specs: Mapping[str, object],
                   rng: Callable[[str], np.random.Generator], replication: int
                   ) -> dict[str, SensorStream]:
    """The sensor stream of every machine that gives readings: its own sensors (noise drawn from
    ``rng(f"{name}/sensor/{sensor}")``), or the record it replays."""
    from twin.engine.health import replay

    out: dict[str, SensorStream] = {}
    for name, machine in machines.items():
        spec = specs[name]
        if replays(spec):
            out[name] = ReplayStream(machine, replay(spec.degradation).channels,  # type: ignore[attr-defined]
                                     replication)
        elif getattr(spec, "sensors", None):
            sensors = spec.sensors  # type: ignore[attr-defined]
            out[name] = SensorStream(machine, sensors,
                                     {s: rng(f"{name}/sensor/{s}") for s in sensors},
                                     replication)
    return out
