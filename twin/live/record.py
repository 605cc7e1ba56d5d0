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

Each part is written a row group at a time under a hidden temporary name and renamed into
place once it holds ``rows`` rows, or when the twin stops (Ctrl-C, SIGTERM): a reader never
sees half a file, and a twin killed outright loses only the part it was writing. A twin
started again on the same folder numbers its parts on from the last one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.engine.events import DICTIONARY as EVENT_DICTIONARY
from twin.engine.events import EventLog, StreamedFile
from twin.engine.sensors import DICTIONARY as READING_DICTIONARY
from twin.engine.sensors import FILE_SCHEMA

STATE_SCHEMA = pa.schema([("time", pa.float64()),
                          ("machine", pa.dictionary(pa.int32(), pa.string())),
                          ("state", pa.dictionary(pa.int32(), pa.string())),
                          ("age", pa.float64())])
"""Columns of the recorded machine states."""
GROUP = 1 << 14
"""Rows buffered before they are written as a row group."""
PART = re.compile(r"part-(\d+)\.parquet")


class Parts:
    """Parquet files ``part-NNNNN.parquet`` in ``folder`` of at most about ``rows`` rows
    each."""

    def __init__(self, folder: Path, rows: int, schema: pa.Schema | None,
                 dictionary: list[str]) -> None:
        self.folder = folder
        self.rows = rows
        self.schema = schema
        self.dictionary = dictionary
        numbers = [int(m.group(1)) for p in folder.glob("part-*.parquet")
                   if (m := PART.fullmatch(p.name))] if folder.is_dir() else []
        self.next = max(numbers, default=-1) + 1
        self.file: StreamedFile | None = None
        self.written = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` as a row group, moving on to the next part once this one holds ``rows``
        rows."""
        if self.file is None:
            path = self.folder / f"part-{self.next:05d}.parquet"
            StreamedFile.clear(path)
            self.file = StreamedFile(path, schema=self.schema, dictionary=self.dictionary)
        self.file.write(table)
        self.written += table.num_rows
        if self.file.rows >= self.rows:
            self.close()

    def close(self) -> None:
        """Rename the part being written into place."""
        if self.file is not None:
            self.file.close()
            self.file = None
            self.next += 1


class Record:
    """Writes the events and readings the live twin receives under ``folder``."""

    def __init__(self, folder: Path, rows: int = 1 << 20) -> None:
        self.folder = folder
        self.rows = rows
        self.log = EventLog()
        self.events = Parts(folder / "events", rows, None, EVENT_DICTIONARY)
        self.readings: dict[str, Parts] = {}
        self.pending: dict[str, list[pa.Table]] = {}
        self.counts: dict[str, int] = {}
        self.states = Parts(folder / "machines", rows, STATE_SCHEMA, ["machine", "state"])
        self.changes: list[tuple[float, str, str, float]] = []

    def take_machines(self, machines: dict[str, tuple[str, float, float]]) -> None:
        """The ``machines`` topic's entries: name -> (state, since, age then)."""
        self.changes += [(since, name, state, age)
                         for name, (state, since, age) in machines.items()]
        if len(self.changes) >= GROUP:
            self._flush_states()

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
        if len(self.log) >= GROUP:
            self.events.write(self.log.drain(0))

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
        if self.counts.get(machine, 0) >= GROUP:
            self._flush(machine)

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

    def close(self) -> None:
        """Write what is buffered and rename the parts being written into place."""
        if len(self.log):
            self.events.write(self.log.drain(0))
        self.events.close()
        for machine in list(self.pending):
            self._flush(machine)
        for parts in self.readings.values():
            parts.close()
        self._flush_states()
        self.states.close()

    def status(self) -> dict[str, int]:
        """Rows recorded so far: events, machine states and readings."""
        return {"events": self.events.written + len(self.log),
                "machine_states": self.states.written + len(self.changes),
                "readings": sum(p.written for p in self.readings.values())
                + sum(self.counts.values())}
