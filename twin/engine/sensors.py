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
from bisect import bisect_right
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin.engine.states import STATES, WORKING
from twin.records.windows import aligned

if TYPE_CHECKING:
    from twin.engine.stations import Machine
    from twin.language.nodes import Sensor

COLUMNS = ("replication", "machine", "sensor", "time", "value", "state", "age", "wear", "life")
ON_STATES = {WORKING, *(STATES.index(s) for s in ("starved", "blocked", "waiting_operator"))}
"""States in which a machine is on (its sensors read; off: down, in repair or maintenance,
outside its calendar)."""
ON = np.array([s in ON_STATES for s in range(len(STATES))])
"""Lookup by state: is the sensor on?"""


class SensorSink(Protocol):
    """Where a replication's sensor readings go: one ``write`` per block of a machine's readings."""

    def write(self, machine: str, readings: pa.Table) -> None:
        """Take one block of ``machine``'s readings (the readings columns above)."""


class MemorySink:
    """Keeps every block in memory; ``frame()`` joins them into one DataFrame."""

    def __init__(self) -> None:
        self.blocks: list[pa.Table] = []

    def write(self, machine: str, readings: pa.Table) -> None:
        """Keep the block of ``machine``'s readings."""
        self.blocks.append(readings)

    def table(self) -> pa.Table:
        """Every block kept, as one Arrow table (an empty table of the readings columns if none)."""
        if not self.blocks:
            return _table({c: np.zeros(0) for c in COLUMNS[3:]}, 0, "", "", np.zeros(0, int))
        return pa.concat_tables(self.blocks).unify_dictionaries()

    def frame(self) -> pd.DataFrame:
        """Every block kept, as one DataFrame."""
        return self.table().to_pandas()


ROWS = 1 << 17
"""Rows of a row group of the files written as the run goes."""


class ParquetSink:
    """Writes ``<root>/machine=<name>/replication-<r>.parquet`` atomically: in one piece
    (``write``), or row group by row group of ``rows`` readings as the run goes (``open``)."""

    def __init__(self, root: Path, replication: int, rows: int = ROWS) -> None:
        self.root = root
        self.replication = replication
        self.rows = rows

    def path(self, machine: str) -> Path:
        """The readings file of ``machine`` for this replication."""
        return self.root / f"machine={machine}" / f"replication-{self.replication:04d}.parquet"

    def write(self, machine: str, readings: pa.Table) -> None:
        """Write ``readings`` as the machine's whole file, atomically (the machine column is the
        folder's)."""
        from twin.records.output import atomic_write

        data = readings.drop_columns(["machine"])
        atomic_write(self.path(machine),
                     lambda tmp: pq.write_table(data, tmp, use_dictionary=DICTIONARY))

    def open(self, machine: str, sensors: list[str]) -> ReadingsFile:
        """The file of ``machine``'s readings, written as they come (see ``ReadingsFile``)."""
        return ReadingsFile(self, machine, sensors, self.rows)


FILE_SCHEMA = pa.schema([
    ("replication", pa.int32()), ("sensor", pa.dictionary(pa.int8(), pa.string())),
    ("time", pa.float64()), ("value", pa.float64()),
    ("state", pa.dictionary(pa.int8(), pa.string())), ("age", pa.float64()),
    ("wear", pa.float64()), ("life", pa.int32())])
"""Columns of a readings file (the machine is the folder's)."""
DICTIONARY = ["replication", "sensor", "state", "life"]
"""The columns Parquet stores by dictionary: those with few values (a dictionary of the
times or the values would only cost memory while writing)."""


class ReadingsFile:
    """One machine's readings of one replication, written while the run goes on.

    A file holds each sensor's readings in turn, in time order, as a whole replication written
    at once does. Blocks are kept per sensor and written in row groups of ``rows`` readings:
    the first sensor's into the file itself (under a temporary name), the others' into files
    of their own beside it, appended at ``close``, which then renames the file into place. A
    file that never filled a row group is written in one piece at ``close``, exactly as
    ``ParquetSink.write`` writes it. ``abort`` removes what was written."""

    def __init__(self, sink: ParquetSink, machine: str, sensors: list[str],
                 rows: int = ROWS) -> None:
        from twin.engine.events import StreamedFile

        self.sink = sink
        self.machine = machine
        self.sensors = sensors
        self.rows = rows
        self.dictionary = pa.array(sensors, pa.string())
        self.pending: dict[str, list[pa.Table]] = {s: [] for s in sensors}
        self.counts = dict.fromkeys(sensors, 0)
        path = sink.path(machine)
        StreamedFile.clear(path)
        self.files = {s: StreamedFile(path, "" if i == 0 else f"{s}.", FILE_SCHEMA, DICTIONARY)
                      for i, s in enumerate(sensors)}
        self.spilled = False

    def add(self, block: pa.Table) -> None:
        """A block of one sensor's readings (as ``SensorStream`` makes them)."""
        sensor = block.column("sensor").chunk(0).dictionary[0].as_py()
        self.pending[sensor].append(block)
        self.counts[sensor] += block.num_rows
        if self.counts[sensor] >= self.rows:
            self._spill(sensor)

    def _spill(self, sensor: str) -> None:
        blocks = self.pending[sensor]
        self.pending[sensor], self.counts[sensor] = [], 0
        table = pa.concat_tables(blocks).drop_columns(["machine"])
        code = np.full(table.num_rows, self.sensors.index(sensor), dtype=np.int8)
        table = table.set_column(1, "sensor", pa.DictionaryArray.from_arrays(
            pa.array(code, pa.int8()), self.dictionary))
        self.files[sensor].write(table)
        self.spilled = True

    def close(self) -> None:
        """Write what is left and rename the file into place (in one piece if it never filled a row
        group)."""
        if not self.spilled:  # small: in one piece, as a whole replication is written
            blocks = [b for s in self.sensors for b in self.pending[s]]
            if blocks:
                self.sink.write(self.machine, pa.concat_tables(blocks).unify_dictionaries())
            self.files[self.sensors[0]].abort()
            return
        for sensor in self.sensors:
            if self.pending[sensor]:
                self._spill(sensor)
        main = self.files[self.sensors[0]]
        for sensor in self.sensors[1:]:
            main.append(self.files[sensor])
        main.close()
        pa.default_memory_pool().release_unused()  # what the copies took, back at once

    def abort(self) -> None:
        """Remove every temporary file written so far."""
        for file in self.files.values():
            file.abort()


class CallbackSink:
    """Calls ``fn(machine, readings)`` for every block (an Arrow table: ``.to_pandas()``)."""

    def __init__(self, fn: Callable[[str, pa.Table], None]) -> None:
        self.fn = fn

    def write(self, machine: str, readings: pa.Table) -> None:
        """Pass the block of ``machine``'s readings to ``fn``."""
        self.fn(machine, readings)


def _first(item: tuple[float, int]) -> float:
    return item[0]


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
        """Index in the machine's timeline of the latest state change read."""
        self.knot_operating = 0.0
        """Operating time at the state change the latest ``advance`` ended on."""
        self.run = 0.0
        """Operating time from there to the latest state change read."""
        self._forgotten = 0
        self.blocks: list[pa.Table] = []
        self.dropped = 0
        """Blocks taken off the front of ``blocks`` by a writer (those read from it count on)."""
        self.recent: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
            s: (np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)) for s in self.sensors}
        self.keep = 0
        self._life_start = np.zeros(0)
        self._life_operating = np.zeros(0)

    def advance(self, until: float) -> None:
        """The readings due up to ``until``, now (or the horizon): the machine's state at
        ``until`` is the one it is in."""
        self._generate(until, now=True)

    def catch_up(self, until: float) -> None:
        """The readings due up to ``until``, a time already past (every state change at it is
        recorded), exactly as one ``advance`` at the end would give them: the operating time
        at the state changes is summed on from where it stood, in the same order, and the
        reading at ``until`` itself is made as any other, not as the end of a block."""
        self._generate(until, now=False)

    def _generate(self, until: float, now: bool) -> None:
        if until <= self.done:
            return
        machine = self.machine
        timeline = machine.clock.timeline
        lives = machine.lives
        assert timeline is not None and lives is not None
        if now:
            tail = timeline[self.knot:]
        else:  # the changes up to ``until`` only
            tail = timeline[self.knot:bisect_right(timeline, until, lo=self.knot,
                                                   key=_first)]
        t_knots = np.array([t for t, _ in tail] + ([until] if now else []))
        states = np.array([s for _, s in tail] + ([tail[-1][1]] if now else []))
        working = states[:-1] == WORKING
        # operating time since the block's first change, summed in order from the last
        # ``advance`` (np.cumsum adds one term after another, so where blocks of readings
        # start or end does not change the sums)
        run = np.cumsum(np.concatenate([[self.run], np.diff(t_knots) * working]))
        operating = self.knot_operating + run
        if len(lives) != len(self._life_start):  # lives are only ever appended
            new = lives[len(self._life_start):]
            self._life_start = np.concatenate([self._life_start, [life.start for life in new]])
            self._life_operating = np.concatenate([self._life_operating,
                                                   [life.operating for life in new]])
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
        if now:
            self.knot_operating = float(operating[len(tail) - 1])
            self.run = 0.0
        else:
            self.run = float(run[len(tail) - 1])
        self.done = until

    def forget(self) -> None:
        """Let go of the wear paths of the lives that ended before the latest reading: the
        readings to come do not need them (the lives themselves stay)."""
        lives = self.machine.lives
        assert lives is not None
        current = int(np.searchsorted(self._life_start, self.done, side="right")) - 1
        for life in lives[self._forgotten:max(current, 0)]:
            life.path = None
        self._forgotten = max(self._forgotten, current)

    def window(self, steps: int) -> np.ndarray | None:
        """The last ``steps`` readings of every sensor in the current life, aligned on the
        first sensor's times (as ``twin.ml.training.windows`` builds them); None if too few."""
        names = list(self.sensors)
        times, values, lives = self.recent[names[0]]
        current = len(self.machine.lives or []) - 1
        mine = lives == current
        if mine.sum() < steps:
            return None
        others = []
        for other in names[1:]:
            t, v, lf = self.recent[other]
            t, v = t[lf == current], v[lf == current]
            if t.size == 0:
                return None
            others.append((t, v))
        return aligned(times[mine][-steps:], values[mine][-steps:], others)

    def table(self) -> pa.Table:
        """Every reading emitted so far, as one Arrow table of the readings columns."""
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
        self.run = 0.0
        self._forgotten = 0
        self.blocks = []
        self.dropped = 0
        self.recent = {s: (np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))
                       for s in self.sensors}
        self.keep = 0
        self._life_start = np.zeros(0)
        self._life_operating = np.zeros(0)
        self._first = 0

    def advance(self, until: float) -> None:
        """Emit the recorded readings up to time ``until``."""
        self._replay(until, now=True)

    def catch_up(self, until: float) -> None:
        """The readings due up to ``until``, a time already past, as ``advance`` at the end
        would give them (the operating time is summed on in the same order)."""
        self._replay(until, now=False)

    def _replay(self, until: float, now: bool) -> None:
        if until <= self.done:
            return
        machine = self.machine
        timeline, lives = machine.clock.timeline, machine.lives
        assert timeline is not None and lives is not None
        if now:
            tail = timeline[self.knot:]
        else:  # the changes up to ``until`` only: the readings after the last wait for it
            tail = timeline[self.knot:bisect_right(timeline, until, lo=self.knot,
                                                   key=_first)]
        t_knots = np.array([t for t, _ in tail] + ([until] if now else []))
        states = np.array([s for _, s in tail] + ([tail[-1][1]] if now else []))
        working = states[:-1] == WORKING
        # one term after another from the operating time at the first knot, so that where
        # the calls fall does not change the sums
        operating = np.cumsum(np.concatenate([[self.knot_operating],
                                              np.diff(t_knots) * working]))
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
    from twin.records.lives import replay

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
