"""The plant's stream kept on disk: what the live twin receives, in the twin's own files.

With ``record``, the live twin writes every event and reading it receives (each message once,
in the order received) with the writers a run uses (``twin.engine.events.StreamedFile``):

- ``record/events/part-NNNNN.parquet``: the event log's columns (``replication`` 0), as
  ``twin run --events`` writes them, so ``twin fit`` reads them as it reads a run's;
- ``record/sensors/machine=<name>/part-NNNNN.parquet``: a readings file's columns, with the
  plant's ``age`` where it gave one and ``state``, ``wear`` and ``life`` empty (a plant does
  not publish them);
- ``record/machines/part-NNNNN.parquet``: each machine state change published (``time``,
  ``machine``, ``state``, ``age``: the ``machines`` topic's entries, one row each).

The part being filled is kept meanwhile as an Arrow IPC stream beside it,
``.part-NNNNN.arrows`` (hidden: readers of the folder skip it), each batch written through at
once (``sync``: the live twin syncs before it acknowledges the messages to the broker). Once
it holds ``rows`` rows, or when the twin stops (Ctrl-C, SIGTERM), it is written as the Parquet
part (row groups of ``GROUP`` rows, under a hidden temporary name, then renamed into place): a
reader never sees half a file. A twin killed outright (``kill -9``) leaves its stream; the
next twin started on the folder turns it into its part first (every batch written whole), so
nothing it acknowledged is lost, and numbers its own parts on from there.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from twin.engine.events import DICTIONARY as EVENT_DICTIONARY
from twin.engine.events import EventLog, StreamedFile
from twin.engine.sensors import DICTIONARY as READING_DICTIONARY
from twin.engine.sensors import FILE_SCHEMA

STATE_SCHEMA = pa.schema([("time", pa.float64()),
                          ("machine", pa.dictionary(pa.int32(), pa.string())),
                          ("state", pa.dictionary(pa.int32(), pa.string())),
                          ("age", pa.float64())])
"""Columns of the recorded machine states."""
EVENT_SCHEMA = pa.schema([("replication", pa.int32()), ("time", pa.float64()),
                          ("node", pa.dictionary(pa.int32(), pa.string())),
                          ("event", pa.dictionary(pa.int32(), pa.string())),
                          ("part", pa.int64()), ("product", pa.string()),
                          ("order", pa.string())])
"""Columns of the recorded events (``EventLog.table``'s)."""
GROUP = 1 << 14
"""Rows buffered before they are written as a row group."""
PART = re.compile(r"part-(\d+)\.parquet")
STAGED = re.compile(r"\.part-(\d+)\.arrows")


def _plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its dictionary columns as their values (a stream's batches then need no
    shared dictionary)."""
    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type)
                               else f.type) for f in schema])


def staged_batches(path: Path) -> list[pa.RecordBatch]:
    """The whole batches of a staged stream; a batch cut short by a kill is left out."""
    batches: list[pa.RecordBatch] = []
    try:
        with pa.OSFile(str(path), "rb") as source, ipc.open_stream(source) as reader:
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError):
        pass  # the stream ends in a batch cut short (or before its schema was whole)
    return batches


class Parts:
    """Parquet files ``part-NNNNN.parquet`` in ``folder`` of at most about ``rows`` rows
    each; the one being filled staged as ``.part-NNNNN.arrows`` (see the module)."""

    def __init__(self, folder: Path, rows: int, schema: pa.Schema,
                 dictionary: list[str]) -> None:
        self.folder = folder
        self.rows = rows
        self.schema = schema
        self.plain = _plain(schema)
        self.dictionary = dictionary
        self.recovered = self._recover()
        """Rows of staged parts a twin killed outright left, made parts now."""
        numbers = [int(m.group(1)) for p in folder.glob("part-*.parquet")
                   if (m := PART.fullmatch(p.name))] if folder.is_dir() else []
        self.next = max(numbers, default=-1) + 1
        self.sink: pa.NativeFile | None = None
        self.stream: ipc.RecordBatchStreamWriter | None = None
        self.staged = 0
        self.written = 0

    def _staging(self, number: int) -> Path:
        return self.folder / f".part-{number:05d}.arrows"

    def _recover(self) -> int:
        rows = 0
        if not self.folder.is_dir():
            return rows
        for path in sorted(self.folder.glob(".part-*.arrows")):
            match = STAGED.fullmatch(path.name)
            if match is None:
                continue
            number = int(match.group(1))
            if not (self.folder / f"part-{number:05d}.parquet").exists():
                rows += self._finish(path, number)
            path.unlink(missing_ok=True)
        return rows

    def _finish(self, staging: Path, number: int) -> int:
        """Write the staged batches as part ``number`` (if there are any)."""
        batches = staged_batches(staging)
        table = pa.Table.from_batches(batches, self.plain).combine_chunks().cast(self.schema)
        if table.num_rows:
            path = self.folder / f"part-{number:05d}.parquet"
            StreamedFile.clear(path)
            file = StreamedFile(path, schema=self.schema, dictionary=self.dictionary)
            for start in range(0, table.num_rows, GROUP):
                file.write(table.slice(start, GROUP))
            file.close()
        return int(table.num_rows)

    def write(self, table: pa.Table) -> None:
        """Append ``table`` to the staged part, written through at once."""
        if self.stream is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.sink = pa.OSFile(str(self._staging(self.next)), "wb")
            self.stream = ipc.new_stream(self.sink, self.plain)
        self.stream.write_table(table.cast(self.plain))
        self.staged += table.num_rows
        self.written += table.num_rows
        if self.staged >= self.rows:
            self.close()

    def close(self) -> None:
        """Write the staged part as its Parquet file."""
        if self.stream is not None:
            assert self.sink is not None
            self.stream.close()
            self.sink.close()
            self.stream = self.sink = None
            staging = self._staging(self.next)
            self._finish(staging, self.next)
            staging.unlink(missing_ok=True)
            self.staged = 0
            self.next += 1

    def abandon(self) -> None:
        """Leave the staged part as it is (as a kill would): the next twin makes it a part."""
        with contextlib.suppress(OSError, pa.ArrowException):
            if self.sink is not None:
                self.sink.close()
        self.stream = self.sink = None


@dataclass
class Recorded:
    """What a record holds: its events (rows of the ``events`` topic), each machine's latest
    state (name -> state, since, age) and each machine's latest readings."""

    rows: list[tuple[Any, ...]]
    states: dict[str, tuple[str, float, float]]
    readings: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


class Record:
    """Writes the events and readings the live twin receives under ``folder``."""

    def __init__(self, folder: Path, rows: int = 1 << 20) -> None:
        self.folder = folder
        self.rows = rows
        self.log = EventLog()
        self.events = Parts(folder / "events", rows, EVENT_SCHEMA, EVENT_DICTIONARY)
        self.readings: dict[str, Parts] = {}
        self.pending: dict[str, list[pa.Table]] = {}
        self.counts: dict[str, int] = {}
        self.states = Parts(folder / "machines", rows, STATE_SCHEMA, ["machine", "state"])
        self.changes: list[tuple[float, str, str, float]] = []
        for staged in sorted((folder / "sensors").glob("machine=*/.part-*.arrows")):
            machine = staged.parent.name[len("machine="):]
            if machine not in self.readings:  # a killed twin's readings: made parts now
                self.readings[machine] = Parts(staged.parent, rows, FILE_SCHEMA,
                                               READING_DICTIONARY)

    def take_machines(self, machines: dict[str, tuple[str, float, float]]) -> None:
        """The ``machines`` topic's entries: name -> (state, since, age then)."""
        self.changes += [(since, name, state, age)
                         for name, (state, since, age) in machines.items()]

    def _flush_states(self) -> None:
        if not self.changes:
            return
        time, machine, state, age = zip(*self.changes, strict=True)
        self.changes = []
        self.states.write(pa.table({
            "time": pa.array(time, pa.float64()),
            "machine": pa.array(machine, pa.string()).dictionary_encode(),
            "state": pa.array(state, pa.string()).dictionary_encode(),
            "age": pa.array(age, pa.float64())}, schema=STATE_SCHEMA))

    def take_events(self, rows: list[tuple[Any, ...]]) -> None:
        """Record a message's event rows (written a row group at a time)."""
        self.log.extend(rows)

    def take_readings(self, machine: str, readings: dict[str, tuple[np.ndarray, np.ndarray]],
                      ages: dict[str, np.ndarray]) -> None:
        """Record a message's readings of ``machine``, with the operating age where the plant gave
        it."""
        for sensor, (times, values) in readings.items():
            n = len(times)
            if not n:
                continue
            age = ages.get(sensor)
            table = pa.table({
                "replication": pa.array(np.zeros(n, np.int32)),
                "sensor": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)),
                                                         pa.array([sensor])),
                "time": pa.array(times, pa.float64()),
                "value": pa.array(values, pa.float64()),
                "state": pa.nulls(n, FILE_SCHEMA.field("state").type),
                "age": pa.array(age, pa.float64()) if age is not None
                else pa.nulls(n, pa.float64()),
                "wear": pa.nulls(n, pa.float64()),
                "life": pa.nulls(n, pa.int32()),
            }, schema=FILE_SCHEMA)
            self.pending.setdefault(machine, []).append(table)
            self.counts[machine] = self.counts.get(machine, 0) + n

    def _flush(self, machine: str) -> None:
        tables = self.pending.pop(machine, [])
        self.counts[machine] = 0
        if not tables:
            return
        parts = self.readings.get(machine)
        if parts is None:
            parts = self.readings[machine] = Parts(
                self.folder / "sensors" / f"machine={machine}", self.rows, FILE_SCHEMA,
                READING_DICTIONARY)
        parts.write(pa.concat_tables(tables).unify_dictionaries())

    def sync(self) -> None:
        """Write what was taken since the last sync through to the staged parts: after it, a
        kill loses none of it."""
        if len(self.log):
            self.events.write(self.log.drain(0))
        for machine in list(self.pending):
            self._flush(machine)
        self._flush_states()

    def recovered(self) -> int:
        """Rows that a twin killed outright had staged, made parts when this one started."""
        return self.events.recovered + self.states.recovered + sum(
            p.recovered for p in self.readings.values())

    def close(self) -> None:
        """Write what is buffered and the staged parts as Parquet parts."""
        self.sync()
        self.events.close()
        for parts in self.readings.values():
            parts.close()
        self.states.close()

    def history(self, keep: int = 4096) -> Recorded | None:
        """What the folder's parts hold (this twin's and the twins' before it), to rebuild a
        mirror from: None where there are none."""
        events_parts = sorted((self.folder / "events").glob("part-*.parquet"))
        state_parts = sorted((self.folder / "machines").glob("part-*.parquet"))
        if not events_parts and not state_parts:
            return None
        rows: list[tuple[Any, ...]] = []
        for path in events_parts:
            table = pq.read_table(path, columns=["time", "node", "event", "part", "product",
                                                 "order"])
            rows += zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
        states: dict[str, tuple[str, float, float]] = {}
        for path in state_parts:
            table = pq.read_table(path)
            for time, machine, state, age in zip(*(table.column(c).to_pylist() for c in
                                                   ("time", "machine", "state", "age")),
                                                 strict=True):
                if machine not in states or time >= states[machine][1]:
                    states[machine] = (state, time, age)
        readings: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for folder in sorted((self.folder / "sensors").glob("machine=*")):
            parts = sorted(folder.glob("part-*.parquet"))
            if not parts:
                continue
            table = pq.read_table(parts[-1], columns=["sensor", "time", "value"]).to_pandas()
            readings[folder.name[len("machine="):]] = {
                str(sensor): (group["time"].to_numpy()[-keep:], group["value"].to_numpy()[-keep:])
                for sensor, group in table.groupby("sensor", observed=True)}
        return Recorded(rows, states, readings)

    def status(self) -> dict[str, int]:
        """Rows recorded so far: events, machine states and readings."""
        return {"events": self.events.written + len(self.log),
                "machine_states": self.states.written + len(self.changes),
                "readings": sum(p.written for p in self.readings.values())
                + sum(self.counts.values())}
