"""Parts and the places they wait: channels between stations, and sinks.

A ``Channel`` is a FIFO with a capacity: a buffer (finite or unbounded) or, with capacity 0, the
direct hand-over between two machines. Stations first try the immediate operations
(``try_get``/``try_put``), which cost no SimPy event, and only wait on an event when they must:
a starved machine on ``get``, a blocked one on ``put``. Parts from sources are ``offer``-ed: they
never block the source and wait, unbounded, in front of the channel.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import simpy

from twin.engine.warmup import Warmup
from twin.records import events as ev


class Part:
    """A part (work piece) moving through the plant: its id, release time and defect flag, and, with
    products, its product, order, route plan and priority."""

    __slots__ = ("id", "release", "defective", "lot", "product", "order", "plan", "step",
                 "priority", "due", "job", "arrived")

    def __init__(self, part_id: int, release: float) -> None:
        self.id = part_id
        self.release = release
        self.defective = False
        self.lot: Any = None
        """The warehouse whose production order the part fills, if any."""
        self.product: str | None = None
        self.order: str | None = None
        self.plan: Any = None
        """The product's plan (``twin.engine.products.Plan``); ``step``: the next step of it."""
        self.step = 0
        self.priority: float = 0
        self.due = math.inf
        self.job: Any = None
        """The production order the part belongs to, if any."""
        self.arrived = release
        """When it came into the buffer it waits in (kept where a batch machine needs it)."""


class Level:
    """Time-weighted level of a count, measured from the end of the warmup."""

    __slots__ = ("env", "origin", "value", "last", "area", "max")

    def __init__(self, env: simpy.Environment, warmup: Warmup) -> None:
        self.env = env
        self.origin = env.now
        """When measuring began (the end of the warmup, once it has passed)."""
        self.value = 0
        self.last = env.now
        self.area = 0.0
        self.max = 0
        warmup.register(self)

    def add(self, delta: int) -> None:
        """Change the level by ``delta`` now, accumulating the time-weighted area."""
        now = self.env.now
        self.area += self.value * (now - self.last)
        self.last = now
        self.value += delta
        if self.value > self.max:
            self.max = self.value

    def reset(self) -> None:
        """Forget the area so far; measure from now (the end of the warmup)."""
        self.area = 0.0
        self.origin = self.last = self.env.now

    def mean(self, end: float) -> float:
        """The time-weighted mean level from the start of measuring to ``end`` (NaN for an empty
        span)."""
        self.add(0)
        span = end - self.origin
        return self.area / span if span > 0 else math.nan


class Channel:
    """FIFO of parts with ``capacity`` places (``math.inf``: unbounded; 0: direct hand-over)."""

    __slots__ = ("env", "name", "capacity", "items", "getters", "putters", "level", "watchers",
                 "leavers")

    def __init__(self, env: simpy.Environment, name: str, capacity: float,
                 warmup: Warmup) -> None:
        self.env = env
        self.name = name
        self.capacity = capacity
        self.items: deque[Part] = deque()
        self.getters: deque[simpy.Event] = deque()
        self.putters: deque[tuple[simpy.Event | None, Part]] = deque()
        self.level = Level(env, warmup)
        self.watchers: list[Any] = []
        """Called with each part that comes to wait here (assemblies and batch machines that
        start only when enough are waiting)."""
        self.leavers: list[Any] = []
        """Called when a place frees up (vehicles that bring parts only where there is room)."""

    def room(self) -> float:
        """Places free now: empty places, or, with none, machines waiting for a part."""
        return self.capacity - len(self.items) - len(self.putters) + len(self.getters)

    def waiting(self) -> int:
        """Parts waiting: in the channel and in front of it."""
        return len(self.items) + len(self.putters)

    def oldest(self) -> Part | None:
        """The part that has waited longest (in the channel or in front of it), or None."""
        if self.items:
            return self.items[0]
        return self.putters[0][1] if self.putters else None

    def take(self, product: str | None) -> Part | None:
        """The first waiting part of ``product`` (any part for None), or None."""
        if product is None:
            return self.try_get()
        items = self.items
        for i, part in enumerate(items):
            if part.product == product:
                del items[i]
                putters = self.putters
                if putters:
                    event, waiting = putters.popleft()
                    items.append(waiting)
                    if event is None:
                        self.level.add(-1)
                    else:
                        event.succeed()
                else:
                    self.level.add(-1)
                    if self.leavers:
                        self._left()
                return part
        for j, (event, part) in enumerate(self.putters):
            if part.product == product:
                del self.putters[j]
                if event is None:
                    self.level.add(-1)
                else:
                    event.succeed()
                return part
        return None

    def count(self, product: str | None) -> int:
        """Parts of ``product`` waiting (all parts for None)."""
        if product is None:
            return self.waiting()
        return (sum(p.product == product for p in self.items)
                + sum(p.product == product for _, p in self.putters))

    def _arrived(self, part: Part) -> None:
        for watcher in self.watchers:
            watcher(part)

    def _left(self) -> None:
        for leaver in self.leavers:
            leaver()

    # -- taking parts out
    def try_get(self) -> Part | None:
        """A part now, or None (costs no event)."""
        items = self.items
        if items:
            part = items.popleft()
            putters = self.putters
            if putters:
                event, waiting = putters.popleft()
                items.append(waiting)
                if event is None:  # from a source's backlog, which the level already counts
                    self.level.add(-1)
                else:
                    event.succeed()
            else:
                self.level.add(-1)
                if self.leavers:
                    self._left()
            return part
        putters = self.putters
        if putters:  # capacity 0: take straight from a blocked machine or a source's backlog
            event, part = putters.popleft()
            if event is None:
                self.level.add(-1)
            else:
                event.succeed()
            return part
        return None

    def get(self) -> simpy.Event:
        """An event whose value is the next part (call after ``try_get`` found none)."""
        event = self.env.event()
        self.getters.append(event)
        if self.leavers:
            self._left()
        return event

    # -- putting parts in
    def try_put(self, part: Part) -> bool:
        """Hand ``part`` over now if a getter waits or there is room (costs no event)."""
        if self.getters:
            self.getters.popleft().succeed(part)
            return True
        if len(self.items) < self.capacity:
            self.items.append(part)
            self.level.add(1)
            if self.watchers:
                self._arrived(part)
            return True
        return False

    def put(self, part: Part) -> simpy.Event:
        """An event that fires when the channel accepts ``part`` (after ``try_put`` failed)."""
        event = self.env.event()
        self.putters.append((event, part))
        if self.watchers:
            self._arrived(part)
        return event

    def offer(self, part: Part) -> None:
        """Accept a part from a source: it waits, unbounded, in front if there is no room."""
        if not self.try_put(part):
            self.putters.append((None, part))
            self.level.add(1)
            if self.watchers:
                self._arrived(part)



class InfiniteSupply:
    """What a machine fed only by an infinite source takes from: a new part whenever asked."""

    __slots__ = ("env", "name", "new_part")

    def __init__(self, env: simpy.Environment, name: str, new_part: Any) -> None:
        self.env = env
        self.name = name
        self.new_part = new_part

    def try_get(self) -> Part:
        """A new part, always."""
        part: Part = self.new_part()
        return part

    def get(self) -> simpy.Event:  # pragma: no cover - try_get always succeeds
        """Never called: ``try_get`` always succeeds.

        Raises RuntimeError.
        """
        raise RuntimeError("an infinite supply never runs out")


class LogsItself:
    """A destination that writes a part's own events when it takes the part (a sink logs
    ``ship`` or ``scrap``, a split its parts' arrivals, a vehicle's pick-up ``load``), so the
    sender logs no ``arrive`` for it."""

    __slots__ = ()


class Sink(LogsItself):
    """Absorbs parts and counts them: good parts shipped (``count``), defective parts shipped
    (``escaped``), parts scrapped (a scrap sink); and their lead times."""

    __slots__ = ("env", "name", "scrap", "count", "escaped", "scrapped", "lead_sum",
                 "arrivals", "wip", "log", "book", "bucket", "by_bucket", "origin")

    def __init__(self, env: simpy.Environment, name: str, warmup: Warmup, wip: Level,
                 scrap: bool = False, log: Any = None, book: Any = None,
                 bucket: float = 0.0) -> None:
        self.env = env
        self.name = name
        self.scrap = scrap
        self.wip = wip
        self.log = log
        self.book = book
        """Statistics per product and order, where the plant has products."""
        self.bucket = bucket
        """With a width, good parts are also counted per bucket of that much time."""
        self.by_bucket: list[int] = []
        self.reset()
        warmup.register(self)

    def reset(self) -> None:
        """Forget the counts so far; count from now (the end of the warmup)."""
        self.origin = self.env.now
        self.by_bucket = []
        self.count = 0
        self.escaped = 0
        self.scrapped = 0
        self.lead_sum = 0.0
        self.arrivals = 0

    def try_put(self, part: Part) -> bool:
        """Count ``part`` in (scrapped, escaped defective or good, with its lead time); always
        True."""
        if self.scrap:
            self.scrapped += 1
        elif part.defective:
            self.escaped += 1
        else:
            self.count += 1
            if self.bucket:
                k = int((self.env.now - self.origin) // self.bucket)
                buckets = self.by_bucket
                if k >= len(buckets):
                    buckets.extend([0] * (k + 1 - len(buckets)))
                buckets[k] += 1
        self.arrivals += 1
        self.lead_sum += self.env.now - part.release
        self.wip.add(-1)
        if self.book is not None and part.product is not None:
            self.book.left_line(part, not self.scrap and not part.defective)
        if self.log is not None:
            self.log(self.env.now, self.name, ev.SCRAP if self.scrap else ev.SHIP, part)
        if part.lot is not None:  # a production order that will not reach its warehouse
            part.lot.order_lost()
            part.lot = None
        return True

    def put(self, part: Part) -> simpy.Event:  # pragma: no cover - try_put always succeeds
        """Never called: ``try_put`` always succeeds.

        Raises RuntimeError.
        """
        raise RuntimeError("a sink never blocks")

    def offer(self, part: Part) -> None:  # pragma: no cover - sources never feed sinks
        """Count ``part`` in, as ``try_put``."""
        self.try_put(part)
