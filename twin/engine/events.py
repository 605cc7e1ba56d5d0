"""The event log: one row per event of the plant, in the columns an MES exports.

``replication, time, node, event, part, product, order``; ``part`` is the part's number (null
for a machine's own events), ``product`` and ``order`` are null where the plant has none.

The vocabulary of events (their names and what each means) is ``twin.records.events``.

It is also the input of ``twin fit``: a plant's own MES export in these columns fits a
scenario. Events are kept as columns during the replication; a long replication hands them
over in batches (``EventLog.drain``), which ``ParquetEvents.open`` writes one row group at a
time, so a replication's memory does not grow with its length.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from twin.engine.flow import Part

DICTIONARY = ["replication", "node", "event", "product", "order"]
"""The columns Parquet stores by dictionary: those with few values (a dictionary of the
times or the part numbers would only cost memory while writing)."""


class EventLog:
    """The events of one replication, appended as they happen."""

    __slots__ = ("time", "node", "event", "part", "product", "order", "_codes")

    def __init__(self) -> None:
        self.time: list[float] = []
        self.node: list[str] = []
        self.event: list[str] = []
        self.part: list[int | None] = []
        self.product: list[str | None] = []
        self.order: list[str | None] = []
        self._codes: dict[str, dict[str, int]] = {"node": {}, "event": {}}

    def __call__(self, time: float, node: str, event: str, part: Part | None = None) -> None:
        self.time.append(time)
        self.node.append(node)
        self.event.append(event)
        if part is None:
            self.part.append(None)
            self.product.append(None)
            self.order.append(None)
        else:
            self.part.append(part.id)
            self.product.append(part.product)
            self.order.append(part.order)

    def extend(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Events given as rows ``(time, node, event, part, product, order)`` (as ``take``
        gives them, or a plant publishes them)."""
        for time, node, event, part, product, order in rows:
            self.time.append(time)
            self.node.append(node)
            self.event.append(event)
            self.part.append(part)
            self.product.append(product)
            self.order.append(order)

    def __len__(self) -> int:
        return len(self.time)

    def table(self, replication: int) -> pa.Table:
        """The events logged so far as an Arrow table, each row tagged with ``replication``."""
        n = len(self.time)
        return pa.table({
            "replication": pa.array([replication] * n, pa.int32()),
            "time": pa.array(self.time, pa.float64()),
            "node": pa.array(self.node, pa.string()).dictionary_encode(),
            "event": pa.array(self.event, pa.string()).dictionary_encode(),
            "part": pa.array(self.part, pa.int64()),
            "product": pa.array(self.product, pa.string()),
            "order": pa.array(self.order, pa.string()),
        })


    def drain(self, replication: int) -> pa.Table:
        """The events logged since the last ``drain`` as a table (``table``'s columns), and
        the log emptied. ``node`` and ``event`` keep one dictionary over the whole replication,
        in the order names first appear (growing from batch to batch), as ``table`` would
        give it for all the events at once."""
        table = self.table(replication)
        for column in ("node", "event"):
            codes = self._codes[column]
            index = table.schema.get_field_index(column)
            batch = table.column(index).combine_chunks()
            names = batch.dictionary.to_pylist()
            for name in names:
                codes.setdefault(name, len(codes))
            remap = np.array([codes[name] for name in names], dtype=np.int32)
            indices = remap[batch.indices.to_numpy(zero_copy_only=False)] if names else \
                np.zeros(0, dtype=np.int32)
            table = table.set_column(index, column, pa.DictionaryArray.from_arrays(
                pa.array(indices, pa.int32()), pa.array(list(codes), pa.string())))
        for column in self.__slots__[:-1]:
            getattr(self, column).clear()
        return table


class EventSink(Protocol):
    """Where a replication's event tables go (one ``write`` per table)."""

    def write(self, table: pa.Table) -> None:
        """Take one table of events (columns as ``EventLog.table`` makes them)."""


class ParquetEvents:
    """Writes each replication's events to ``folder/replication-NNNN.parquet`` (atomically):
    in one piece (``write``), or in row groups of about ``rows`` events as the run goes
    (``open``)."""

    def __init__(self, folder: Path, replication: int, rows: int = 1 << 17) -> None:
        self.path = folder / f"replication-{replication:04d}.parquet"
        self.rows = rows

    def write(self, table: pa.Table) -> None:
        """Write ``table`` as the replication's whole file, atomically."""
        from twin.records.output import atomic_write

        atomic_write(self.path, lambda tmp: pq.write_table(table, tmp, use_dictionary=DICTIONARY))

    def open(self) -> StreamedFile:
        """The file, written a row group per ``write``; renamed into place by ``close``."""
        StreamedFile.clear(self.path)
        return StreamedFile(self.path, dictionary=DICTIONARY)


class StreamedFile:
    """A Parquet file written one row group at a time under a temporary name beside ``path``
    (``.<name>.<tag>*.tmp``, which readers of the folder skip), renamed into place by
    ``close``: a reader never sees half a file, and a run stopped midway leaves nothing
    under ``path``. ``abort`` removes the temporary file."""

    def __init__(self, path: Path, tag: str = "", schema: pa.Schema | None = None,
                 dictionary: list[str] | None = None) -> None:
        self.path = path
        self.tag = tag
        self.schema = schema
        self.dictionary = dictionary
        """The columns stored by dictionary (None: all)."""
        self.tmp: Path | None = None
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    @staticmethod
    def clear(path: Path) -> None:
        """Remove what a run stopped midway left of ``path`` (its temporary files)."""
        if path.parent.is_dir():
            for stale in path.parent.glob(f".{path.name}.*tmp"):
                stale.unlink(missing_ok=True)

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.{self.tag}", suffix=".tmp",
                                    dir=self.path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # an ordinary file, as atomic_write makes them
        self.tmp = Path(name)
        self.writer = pq.ParquetWriter(self.tmp, schema, use_dictionary=(
            True if self.dictionary is None else self.dictionary))
        return self.writer

    def write(self, table: pa.Table) -> None:
        """Append ``table`` as one row group (opening the temporary file on the first call)."""
        writer = self.writer or self._open(self.schema or table.schema)
        writer.write_table(table)
        self.rows += table.num_rows

    def append(self, other: StreamedFile) -> None:
        """``other``'s row groups after this file's; ``other`` is removed."""
        if other.writer is not None:
            other.writer.close()
            other.writer = None
            assert other.tmp is not None
            with pq.ParquetFile(other.tmp) as source:
                for group in range(source.num_row_groups):
                    self.write(source.read_row_group(group, use_threads=False))
        other.abort()

    def close(self) -> None:
        """Finish the file and rename it into place (an empty file with ``schema`` if nothing was
        written).

        Raises ValueError if nothing was written and no schema is known.
        """
        writer = self.writer
        if writer is None:
            if self.schema is None:
                raise ValueError(f"nothing written to {self.path} and no schema to write")
            writer = self._open(self.schema)
        writer.close()
        self.writer = None
        assert self.tmp is not None
        os.replace(self.tmp, self.path)
        self.tmp = None

    def abort(self) -> None:
        """Close and remove the temporary file, leaving nothing under ``path``."""
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self.writer = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def merge(folder: Path, out: Path) -> int:
    """The replications' event files of ``folder`` joined into one Parquet file ``out``, in
    replication order, one row group at a time (atomically); the number of events."""
    from twin.records.output import atomic_write

    files = sorted(folder.glob("replication-*.parquet"))
    total = 0

    def write(tmp: Path) -> None:
        nonlocal total
        writer = None
        try:
            for file in files:
                with pq.ParquetFile(file) as source:
                    for group in range(source.num_row_groups):
                        table = source.read_row_group(group, use_threads=False)
                        table = table.cast(pa.schema([
                            (f.name, f.type.value_type if pa.types.is_dictionary(f.type)
                             else f.type) for f in table.schema]))
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table)
                        total += table.num_rows
            if writer is None:
                pq.write_table(pa.table({c: pa.array([], t) for c, t in (
                    ("replication", pa.int32()), ("time", pa.float64()),
                    ("node", pa.string()), ("event", pa.string()), ("part", pa.int64()),
                    ("product", pa.string()), ("order", pa.string()))}), tmp)
        finally:
            if writer is not None:
                writer.close()

    atomic_write(out, write)
    return total
