"""Machines that take or give more than one part at a time.

- ``Kit``: the inbox of an assembly. It hands the machine one part only when its inputs can
  supply the whole bill of materials at once; the parts are joined into one (of the product the
  assembly makes): the earliest release, defective if any component is, the others consumed.
- ``BatchInbox``: the inbox of a batch machine. It hands over a ``Load`` of up to ``max`` parts
  when ``max`` are waiting, or ``min`` are and the oldest has waited ``wait``.
- ``Split``: where a disassembly sends a finished part: that many parts along each edge (the
  first keeps the part's identity, the others are new parts with its release and defect).

Each looks to the machine like an ordinary inbox or destination (``try_get``/``get``,
``try_put``/``put``), so the machine's process is the same for all.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from twin.engine.flow import Channel, InfiniteSupply, Level, LogsItself, Part, Sink
from twin.records import events as ev


class Load(Part):
    """The parts a batch machine processes together."""

    __slots__ = ("members",)

    def __init__(self, members: list[Part], now: float) -> None:
        super().__init__(members[0].id, now)
        self.members = members
        self.product = members[0].product


Input = Channel | InfiniteSupply


class Kit:
    """The inbox of an assembly: one joined part once the inputs can supply the whole bill."""

    __slots__ = ("env", "name", "needs", "makes", "wip", "pending")

    def __init__(self, env: simpy.Environment, name: str,
                 needs: list[tuple[list[tuple[Input, str | None]], int]], makes: str | None,
                 wip: Level) -> None:
        self.env = env
        self.name = name
        self.needs = needs
        """Per line of the bill: the inputs that supply it (with the product to pick out, or
        None where an input holds only that product) and the quantity."""
        self.makes = makes
        self.wip = wip
        self.pending: simpy.Event | None = None
        for sources, _ in needs:
            for source, _ in sources:
                if isinstance(source, Channel) and self._arrived not in source.watchers:
                    source.watchers.append(self._arrived)

    def channels(self) -> list[Input]:
        """Every input the kit draws from."""
        return [source for sources, _ in self.needs for source, _ in sources]

    @staticmethod
    def _available(sources: list[tuple[Input, str | None]]) -> float:
        total = 0.0
        for source, product in sources:
            if isinstance(source, InfiniteSupply):
                return math.inf
            total += source.count(product)
        return total

    def try_get(self) -> Part | None:
        """The joined part now, consuming the bill of materials, or None if an input is short (costs
        no event)."""
        for sources, quantity in self.needs:
            if self._available(sources) < quantity:
                return None
        parts: list[Part] = []
        for sources, quantity in self.needs:
            for _ in range(quantity):
                for source, product in sources:
                    part = source.try_get() if isinstance(source, InfiniteSupply) \
                        else source.take(product)
                    if part is not None:
                        parts.append(part)
                        break
        joined = parts[0]
        joined.release = min(p.release for p in parts)
        joined.defective = any(p.defective for p in parts)
        joined.product = self.makes
        joined.plan = None
        if len(parts) > 1:
            self.wip.add(1 - len(parts))
        return joined

    def get(self) -> simpy.Event:
        """An event whose value is the next joined part (call after ``try_get`` found none)."""
        self.pending = self.env.event()
        return self.pending

    def _arrived(self, part: Part) -> None:
        if self.pending is not None:
            joined = self.try_get()
            if joined is not None:
                event, self.pending = self.pending, None
                event.succeed(joined)


class BatchInbox:
    """The inbox of a batch machine: a ``Load`` of ``low`` to ``high`` parts from ``source``."""

    __slots__ = ("env", "name", "source", "low", "high", "wait", "pending", "timer")

    def __init__(self, env: simpy.Environment, name: str, source: Input, low: int, high: int,
                 wait: float) -> None:
        self.env = env
        self.name = name
        self.source = source
        self.low = low
        self.high = high
        self.wait = wait
        self.pending: simpy.Event | None = None
        self.timer: float = math.nan
        if isinstance(source, Channel):
            source.watchers.append(self._arrived)

    def channels(self) -> list[Input]:
        """The one input the batch is drawn from."""
        return [self.source]

    def try_get(self) -> Part | None:
        """A ``Load`` now: ``high`` parts, or at least ``low`` once the oldest has waited ``wait``;
        else None (costs no event)."""
        source = self.source
        if isinstance(source, InfiniteSupply):
            return Load([source.try_get() for _ in range(self.high)], self.env.now)
        waiting = source.waiting()
        if waiting < self.low:
            return None
        if waiting < self.high:
            oldest = source.oldest()
            assert oldest is not None
            if self.env.now < oldest.arrived + self.wait:
                return None
        members = []
        for _ in range(min(waiting, self.high)):
            part = source.try_get()
            assert part is not None
            members.append(part)
        return Load(members, self.env.now)

    def get(self) -> simpy.Event:
        """An event whose value is the next ``Load`` (call after ``try_get`` found none)."""
        self.pending = self.env.event()
        self._arm()
        return self.pending

    def _arrived(self, part: Part) -> None:
        part.arrived = self.env.now
        self._check()

    def _check(self, _: Any = None) -> None:
        if self.pending is None:
            return
        load = self.try_get()
        if load is not None:
            event, self.pending = self.pending, None
            event.succeed(load)
        else:
            self._arm()

    def _arm(self) -> None:
        """With enough parts waiting, look again when the oldest will have waited long enough."""
        source = self.source
        if not isinstance(source, Channel) or source.waiting() < self.low:
            return
        oldest = source.oldest()
        assert oldest is not None
        due = oldest.arrived + self.wait
        if due > self.env.now and due != self.timer:
            self.timer = due
            self.env.timeout(due - self.env.now).callbacks.append(self._check)


Destination = Channel | Sink


class Split(LogsItself):
    """Where a disassembly puts a finished part: ``count`` parts into each destination."""

    __slots__ = ("env", "name", "targets", "admit", "log", "left")

    def __init__(self, env: simpy.Environment, name: str, targets: list[tuple[Any, int]],
                 admit: Any, log: Any = None) -> None:
        self.env = env
        self.name = name
        self.targets = targets
        self.admit = admit
        """Counts a new part into the plant (``Releaser.admit``)."""
        self.log = log
        self.left: list[tuple[Any, Part]] = []

    def _children(self, part: Part) -> list[tuple[Any, Part]]:
        out = []
        first = True
        for dest, count in self.targets:
            for _ in range(count):
                if first:
                    child, first = part, False
                else:
                    child = self.admit(Part(0, part.release), self.name)
                    child.release = part.release
                    child.defective = part.defective
                    child.product = part.product
                out.append((dest, child))
        return out

    def try_put(self, part: Part) -> bool:
        """Put every child part now if there is room for all (costs no event); the rest wait for
        ``put``."""
        left: list[tuple[Any, Part]] = []
        for dest, child in self._children(part):
            if left or not dest.try_put(child):
                left.append((dest, child))
            else:
                self._arrive(dest, child)
        self.left = left
        return not left

    def put(self, part: Part) -> simpy.Event:
        """A process that puts the children ``try_put`` could not place, waiting for room."""
        left, self.left = self.left, []
        return self.env.process(self._rest(left))

    def _rest(self, left: list[tuple[Any, Part]]) -> Generator[simpy.Event, Any, None]:
        for dest, child in left:
            if not dest.try_put(child):
                yield dest.put(child)
            self._arrive(dest, child)

    def _arrive(self, dest: Any, part: Part) -> None:
        if self.log is not None and not isinstance(dest, LogsItself):
            self.log(self.env.now, getattr(dest, "name", ""), ev.ARRIVE, part)
