"""The plant's state, mirrored from its messages: where every part is (from the part events),
what each machine is doing and its operating age (from the machine states), the latest sensor
readings; ``state()`` gives it as a ``PlantState``, what a look-ahead starts from.

Events are applied in time order. Those that come out of order by less than ``tolerance``
(plant time) wait in a heap until the plant's clock has moved ``tolerance`` past them, and are
put back in order (counted ``reordered``); those later than that are applied as they come and
counted ``late``; one older than where its part already is (a part's events go forward in
time) is not applied (counted ``stale_events``). A message seen twice (same topic, ``seq``
and content) is counted once; each topic keeps the ``seq`` of its last ``WINDOW`` messages
only (QoS 1 redelivers what was in flight, never older), so memory stays bounded however long
the twin runs.

A publisher that starts again (numbering from 0 again) is a new session: it says so by a new
``session`` in its messages, or, without one, a ``seq`` comes again with other content or far
behind the topic's latest. The topic's numbering then starts afresh (counted ``sessions``);
where the new session's clock is behind the mirror's by more than ``tolerance`` the plant's
history started again, and the mirror is emptied first (counted ``restarts``); a message of the
run before that comes late is then not applied (``old_session``)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.engine.state import PlantState, part_record
from twin.language.plant import plant_graph
from twin.live.schema import Events, Machines, Readings

WINDOW = 4096
"""Messages of a topic whose ``seq`` is kept, to know one delivered twice."""

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

    def apply(self, row: Row) -> bool:
        """Apply one event row: where the part it names is now, and what each machine holds;
        False where it is older than where its part already is (not applied)."""
        time, node, event, number, product, order = row
        if number is None:
            return True
        part = self.parts.get(number)
        if part is not None and time < part.since:
            return False
        if part is None:
            if event in ("ship", "scrap"):
                return True
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
        elif event == "travel":  # a vehicle leaves with it: its sender holds it no more
            self._leave(number, part)
            part.since = time
        # ``load`` (the sender still holds the part) and ``unload`` (the next node has it only
        # when it ``arrive``s) change nothing
        return True

    def _leave(self, number: int, part: Part) -> None:
        if self.holding.get(part.where) == number:
            self.holding[part.where] = None

    def copy(self) -> Book:
        """An independent copy of the book."""
        return Book({n: Part(p.release, p.product, p.order, p.where, p.since)
                     for n, p in self.parts.items()}, dict(self.holding))


@dataclass
class Stream:
    """What one topic's messages have been: their session, and the ``seq`` and checksum of
    the latest ``WINDOW``."""

    session: str | None = None
    high: int = -1
    window: dict[int, int] = field(default_factory=dict)

    def verdict(self, seq: int, digest: int, session: str | None) -> str:
        """``fresh``, ``duplicate`` or ``session`` (a new publisher session)."""
        if session != self.session and (self.high >= 0 or self.session is not None):
            return "session"
        seen = self.window.get(seq)
        if seen is not None:
            return "duplicate" if seen == digest or session is not None else "session"
        if seq <= self.high - WINDOW:
            return "duplicate" if session is not None else "session"
        return "fresh"

    def add(self, seq: int, digest: int) -> None:
        self.window[seq] = digest
        if seq > self.high:
            self.high = seq
        if len(self.window) > 2 * WINDOW:
            floor = self.high - WINDOW
            self.window = {k: v for k, v in self.window.items() if k > floor}


class Mirror:
    """The mirrored state of one plant (the nodes of ``scenario``)."""

    def __init__(self, scenario: Scenario, tolerance: float = 5.0, keep: int = 4096) -> None:
        graph = plant_graph(scenario)
        self.nodes: dict[str, str] = dict(graph.nodes(data="kind"))
        self.buffers = [n for n, k in self.nodes.items() if k == "buffer"]
        self.machine_names = [n for n, k in self.nodes.items() if k == "machine"]
        self.sensor_names: dict[str, frozenset[str]] = {
            name: frozenset(getattr(scenario.plant.nodes[name], "sensors", None) or ())
            for name in self.machine_names}
        """The sensors the scenario declares on each machine (readings of others are
        unknown)."""
        self.tolerance = tolerance
        self.keep = keep
        self.counts = {"events": 0, "readings": 0, "duplicates": 0, "reordered": 0, "late": 0,
                       "stale_states": 0, "stale_events": 0, "sessions": 0, "restarts": 0,
                       "old_session": 0}
        self.retired: dict[str, None] = {}
        """The last sessions followed by another: their messages, late, are not applied."""
        self.notices: list[str] = []
        """What the mirror has to say since it was last asked (new sessions, restarts)."""
        self.streams: dict[str, Stream] = {}
        self._empty()

    def _empty(self) -> None:
        """The state of a plant not heard from yet."""
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
        self.streams = {}

    @property
    def seen(self) -> dict[str, set[int]]:
        """The ``seq`` numbers kept per topic (its latest ``WINDOW`` or so)."""
        return {name: set(s.window) for name, s in self.streams.items()}

    def fresh(self, stream: str, message: Events | Machines | Readings) -> bool:
        """Whether ``message`` of ``stream`` is new (QoS 1 may deliver it twice); a new
        publisher session starts the topic's numbering afresh (and, where its clock went back,
        the mirror)."""
        if message.session is not None and message.session in self.retired:
            self.counts["old_session"] += 1  # a publisher's run that has been followed by another
            return False
        state = self.streams.get(stream)
        if state is None:
            state = self.streams[stream] = Stream(message.session)
        verdict = state.verdict(message.seq, message.digest, message.session)
        if verdict == "duplicate":
            self.counts["duplicates"] += 1
            return False
        if verdict == "session":
            self.counts["sessions"] += 1
            how = (f"session {message.session!r}" if message.session != state.session
                   else f"seq {message.seq} again with other content, or far behind "
                        f"{state.high}")
            if message.clock < self.clock - self.tolerance:
                self.counts["restarts"] += 1
                self.notices.append(f"{stream}: a new publisher session ({how}) with its clock "
                                    f"back at {message.clock:g} (the mirror was at "
                                    f"{self.clock:g}): the plant started again, the mirror "
                                    "is emptied")
                self._empty()
                if state.session is not None:  # what comes of the old run is not applied
                    self.retired[state.session] = None
                    while len(self.retired) > 16:
                        del self.retired[next(iter(self.retired))]
            else:
                self.notices.append(f"{stream}: a new publisher session ({how}) at "
                                    f"{message.clock:g}; its numbering starts afresh")
            state = self.streams[stream] = Stream(message.session)
        state.add(message.seq, message.digest)
        return True

    def take(self, stream: str, message: Events | Machines | Readings) -> bool:
        """Take message ``seq`` of ``stream`` once: apply its events in time order (within the
        tolerance), machine states or readings, and move the clock on; False where it was a
        duplicate (not applied)."""
        if not self.fresh(stream, message):
            return False
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
        return True

    def restore(self, rows: list[Row], machines: dict[str, tuple[str, float, float]],
                readings: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
        """Start from what a record holds (``twin.live.record.Record.history``): its events in
        time order, each machine's latest state and readings; the clock at the latest time in
        it. A twin started again on its record so goes on from where the last one was."""
        clock = max([r[0] for r in rows] + [s[1] for s in machines.values()]
                    + [float(t[-1]) for sensors in readings.values()
                       for t, _ in sensors.values() if len(t)], default=0.0)
        self.clock = max(self.clock, clock)
        self._events(sorted(rows, key=lambda r: r[0]))
        self.counts["events"] -= len(rows)
        self.machines.update({k: v for k, v in machines.items() if k in self.machine_names})
        for machine, sensors in readings.items():
            for sensor, values in sensors.items():
                self.sensors[(machine, sensor)] = values
        self._settle(self.clock - self.tolerance)

    def _events(self, rows: list[Row]) -> None:
        self.counts["events"] += len(rows)
        for row in rows:
            time = row[0]
            if time < self.applied:
                self.counts["late"] += 1
                if not self.book.apply(row):
                    self.counts["stale_events"] += 1
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
            if not self.book.apply(row):
                self.counts["stale_events"] += 1
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
