"""The plant's state, mirrored from its messages: where every part is (from the part events),
what each machine is doing and its operating age (from the machine states), the latest sensor
readings; ``state()`` gives it as a ``PlantState``, what a look-ahead starts from.

Events are applied in time order. Those that come out of order by less than ``tolerance``
(plant time) wait in a heap until the plant's clock has moved ``tolerance`` past them, and are
put back in order (counted ``reordered``); those later than that are applied as they come and
counted ``late``. A message seen twice (same topic and ``seq``) is counted once."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.engine.state import PlantState, part_record
from twin.language.plant import plant_graph
from twin.live.schema import Events, Machines, Readings

if TYPE_CHECKING:
    from twin.language.schema import Scenario

Row = tuple[float, str, str, int | None, str | None, str | None]


@dataclass
class Part:
    """A part as the mirror sees it: its release, product and order, where it is and since when."""

    release: float
    product: str | None
    order: str | None
    where: str = ""
    since: float = 0.0


@dataclass
class Book:
    """Where the parts are and what the machines hold, as the events applied so far say."""

    parts: dict[int, Part] = field(default_factory=dict)
    holding: dict[str, int | None] = field(default_factory=dict)

    def apply(self, row: Row) -> None:
        """Apply one event row: where the part it names is now, and what each machine holds."""
        time, node, event, number, product, order = row
        if number is None:
            return
        part = self.parts.get(number)
        if part is None:
            if event in ("ship", "scrap"):
                return
            part = self.parts[number] = Part(time, product, order)
        if event == "release":
            part.release, part.product, part.order = time, product, order
            part.where, part.since = node, time
        elif event == "arrive" or event == "start" or event == "setup_start":
            self._leave(number, part)
            part.where, part.since = node, time
            if event != "arrive":
                self.holding[node] = number
        elif event in ("ship", "scrap"):
            self._leave(number, part)
            del self.parts[number]

    def _leave(self, number: int, part: Part) -> None:
        if self.holding.get(part.where) == number:
            self.holding[part.where] = None

    def copy(self) -> Book:
        """An independent copy of the book."""
        return Book({n: Part(p.release, p.product, p.order, p.where, p.since)
                     for n, p in self.parts.items()}, dict(self.holding))


class Mirror:
    """The mirrored state of one plant (the nodes of ``scenario``)."""

    def __init__(self, scenario: Scenario, tolerance: float = 5.0, keep: int = 4096) -> None:
        graph = plant_graph(scenario)
        self.nodes: dict[str, str] = dict(graph.nodes(data="kind"))
        self.buffers = [n for n, k in self.nodes.items() if k == "buffer"]
        self.machine_names = [n for n, k in self.nodes.items() if k == "machine"]
        self.tolerance = tolerance
        self.keep = keep
        self.book = Book(holding={m: None for m in self.machine_names})
        self.pending: list[tuple[float, int, Row]] = []
        self.order = 0
        self.newest = float("-inf")
        """The latest event time seen."""
        self.applied = float("-inf")
        """Events up to this time are applied in order (the clock less the tolerance)."""
        self.clock = 0.0
        self.machines: dict[str, tuple[str, float, float]] = {}
        self.sensors: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.seen: dict[str, set[int]] = {}
        self.counts = {"events": 0, "readings": 0, "duplicates": 0, "reordered": 0, "late": 0,
                       "stale_states": 0}

    def fresh(self, stream: str, seq: int) -> bool:
        """Whether message ``seq`` of ``stream`` is new (QoS 1 may deliver it twice)."""
        seen = self.seen.setdefault(stream, set())
        if seq in seen:
            self.counts["duplicates"] += 1
            return False
        seen.add(seq)
        return True

    def take(self, stream: str, message: Events | Machines | Readings) -> None:
        """Take message ``seq`` of ``stream`` once: apply its events in time order (within the
        tolerance), machine states or readings, and move the clock on."""
        if not self.fresh(stream, message.seq):
            return
        self.clock = max(self.clock, message.clock)
        if isinstance(message, Events):
            self._events(message.rows)
        elif isinstance(message, Machines):
            for name, entry in message.machines.items():
                old = self.machines.get(name)
                if old is None or entry[1] >= old[1]:
                    self.machines[name] = entry
                else:
                    self.counts["stale_states"] += 1
        else:
            self._readings(message)
        self._settle(self.clock - self.tolerance)

    def _events(self, rows: list[Row]) -> None:
        self.counts["events"] += len(rows)
        for row in rows:
            time = row[0]
            if time < self.applied:
                self.counts["late"] += 1
                self.book.apply(row)
                continue
            if time < self.newest:
                self.counts["reordered"] += 1
            self.newest = max(self.newest, time)
            self.order += 1
            heapq.heappush(self.pending, (time, self.order, row))

    def _settle(self, until: float) -> None:
        pending = self.pending
        while pending and pending[0][0] <= until:
            _, _, row = heapq.heappop(pending)
            self.book.apply(row)
        self.applied = max(self.applied, until)

    def _readings(self, message: Readings) -> None:
        self.counts["readings"] += len(message)
        for sensor, (times, values) in message.readings.items():
            key = (message.machine, sensor)
            old = self.sensors.get(key)
            if old is not None:
                times = np.concatenate([old[0], times])[-self.keep:]
                values = np.concatenate([old[1], values])[-self.keep:]
            self.sensors[key] = (times, values)

    def current(self) -> Book:
        """The book with every event received so far applied (those still waiting in order)."""
        book = self.book.copy()
        for _, _, row in sorted(self.pending):
            book.apply(row)
        return book

    def state(self) -> PlantState:
        """The plant's state at its latest clock, as a warm start reads it."""
        now = self.clock
        book = self.current()

        def part_state(part: Part) -> dict[str, Any]:
            return part_record(part, now)

        inside: dict[str, list[tuple[float, int, Part]]] = {b: [] for b in self.buffers}
        for number, part in book.parts.items():
            if part.where in inside:
                inside[part.where].append((part.since, number, part))
        buffers = {b: [part_state(p) for _, _, p in sorted(parts)]
                   for b, parts in inside.items()}
        machines: dict[str, Any] = {}
        for name in self.machine_names:
            known = self.machines.get(name)
            if known is None:
                continue
            state, since, age = known
            entry: dict[str, Any] = {"state": state,
                                     "age": age + (now - since if state == "working" else 0.0)}
            held = book.holding.get(name)
            if held is not None and held in book.parts:
                entry["part"] = part_state(book.parts[held])
            elif state in ("working", "blocked"):
                entry["part"] = {}
            if state in ("down", "repair"):
                entry["down_for"] = max(0.0, now - since)
            machines[name] = entry
        return PlantState.model_validate({"time": now, "buffers": buffers,
                                          "machines": machines})
