"""The event log: one row per event of the plant, in the columns an MES exports.

``replication, time, node, event, part, product, order``; ``part`` is the part's number (null
for a machine's own events), ``product`` and ``order`` are null where the plant has none.

| event | node | meaning |
| --- | --- | --- |
| release | source (or warehouse) | the part enters the plant |
| arrive | buffer or machine | the part is put there (a buffer, or a machine's input) |
| start, finish | machine | processing of the part starts, ends |
| blocked, unblocked | machine | it holds a finished part it cannot pass on, then passes it |
| fail, repair_start, repair_end | machine | a failure; a technician starts; renewed |
| pm_start, pm_end | machine | preventive maintenance called; done (renewed) |
| setup_start, setup_end | machine | a changeover |
| ship, scrap | sink or warehouse | the part leaves the line: shipped (to stock) or scrapped |

It is also the input of ``twin fit``: a plant's own MES export in these columns fits a
scenario. Events are kept as columns during the replication and written in one table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from twin.engine.flow import Part

EVENTS = ("release", "arrive", "start", "finish", "blocked", "unblocked", "fail",
          "repair_start", "repair_end", "pm_start", "pm_end", "setup_start", "setup_end",
          "ship", "scrap")
COLUMNS = ("replication", "time", "node", "event", "part", "product", "order")


class EventLog:
    """The events of one replication, appended as they happen."""

    __slots__ = ("time", "node", "event", "part", "product", "order")

    def __init__(self) -> None:
        self.time: list[float] = []
        self.node: list[str] = []
        self.event: list[str] = []
        self.part: list[int | None] = []
        self.product: list[str | None] = []
        self.order: list[str | None] = []

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

    def __len__(self) -> int:
        return len(self.time)

    def table(self, replication: int) -> pa.Table:
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


class EventSink(Protocol):
    def write(self, table: pa.Table) -> None: ...


class ParquetEvents:
    """Writes each replication's events to ``folder/replication-NNNN.parquet`` (atomically)."""

    def __init__(self, folder: Path, replication: int) -> None:
        self.path = folder / f"replication-{replication:04d}.parquet"

    def write(self, table: pa.Table) -> None:
        from twin.study.output import atomic_write

        atomic_write(self.path, lambda tmp: pq.write_table(table, tmp))


def merge(folder: Path, out: Path) -> int:
    """The replications' event files of ``folder`` joined into one Parquet file ``out``, in
    replication order, one row group at a time (atomically); the number of events."""
    from twin.study.output import atomic_write

    files = sorted(folder.glob("replication-*.parquet"))
    total = 0

    def write(tmp: Path) -> None:
        nonlocal total
        writer = None
        try:
            for file in files:
                table = pq.read_table(file)
                table = table.cast(pa.schema([(f.name, f.type.value_type if
                                               pa.types.is_dictionary(f.type) else f.type)
                                              for f in table.schema]))
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
