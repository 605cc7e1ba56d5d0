"""Conveyors: parts ride from one node of the line to the next, a few at a time.

A part takes ``ride = length / speed`` of moving belt to reach the end; parts enter at least
``gap = spacing / speed`` of moving belt apart and at most ``places`` ride at once. At the end the
head part is handed to the next node; while it cannot leave (the next node is full) it is
stopped there, and then:

- on an accumulating conveyor the parts behind keep moving and queue at the end, ``spacing``
  apart: part ``i`` reaches the end at ``max(entered_i + ride, left_{i-1} + gap)``;
- on a non-accumulating conveyor the whole belt stops: every part on it waits, so times are
  counted in belt time (time the belt has moved); a part may still be put on the stopped belt
  where the last one is at least ``spacing`` from the entrance.

What is sent to the conveyor enters it as a node's receiver does (``try_put``/``put``/``offer``,
first come first served): a machine stays blocked until its part is on the belt, parts from a
source wait, unbounded, in front of it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from twin.engine.flow import Level, LogsItself, Part
from twin.engine.warmup import Warmup
from twin.language.nodes import ConveyorNode
from twin.records import events as ev

Process = Generator[simpy.Event, Any, None]

SLACK = 1e-9
"""Relative rounding of the clock below which the entrance counts as clear."""


class Wakeup:
    """A process's wake-up call: it waits on ``wait()``; ``fire()`` wakes it if it waits."""

    __slots__ = ("env", "event")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.event: simpy.Event | None = None

    def wait(self) -> simpy.Event:
        """An event that fires at the next ``fire()``."""
        self.event = self.env.event()
        return self.event

    def fire(self) -> None:
        """Wake the process, if it waits."""
        event, self.event = self.event, None
        if event is not None:
            event.succeed()


class Conveyor:
    """One conveyor of the line; see the module docstring."""

    def __init__(self, env: simpy.Environment, name: str, spec: ConveyorNode,
                 warmup: Warmup, log: Any = None) -> None:
        self.env = env
        self.name = name
        self.log = log
        """The event log, when one is kept: a part handed over arrives at the next node."""
        self.ride = spec.length / spec.speed
        self.gap = spec.gap
        self.places = spec.places
        self.accumulating = spec.accumulating
        self.waiting: deque[tuple[simpy.Event | None, Part]] = deque()
        """Parts in front of the entrance: (the sender's event, or None for a source's part)."""
        self.riding: deque[tuple[Part, float, float]] = deque()
        """Parts on the belt, head first: (part, belt time it entered, time it entered)."""
        self.load = Level(env, warmup)
        self.stopped_since: float | None = None
        """Since when the head part has been stopped at the end (None: it is not)."""
        self._stop_began = 0.0
        """When the head part last stopped (``stopped_since`` moves to the end of the warmup)."""
        self.belt_stopped = 0.0
        """Time the head part has stood at the end so far, from time 0: how long a
        non-accumulating belt has stood still."""
        self.last_entry = -math.inf
        """Belt time of the last entry."""
        self.last_exit = -math.inf
        """When the last part left the end."""
        self._entrance = Wakeup(env)
        """Wakes the entrance when a part comes to wait, leaves the end or the belt restarts."""
        self._head = Wakeup(env)
        """Wakes the end when a part is put on an empty belt."""
        self.reset()
        warmup.register(self)

    def reset(self) -> None:
        """Count from now (the end of the warmup)."""
        self.origin = self.env.now
        self.carried = 0
        self.ride_sum = 0.0
        self.stopped = 0.0
        self.load.max = self.load.value
        if self.stopped_since is not None:
            self.stopped_since = self.env.now

    def start(self, route: Callable[[], Any]) -> None:
        """Start moving parts; the head part goes to ``route()``."""
        self.env.process(self._deliver(route))
        self.env.process(self._admit())

    # -- the belt
    def belt(self) -> float:
        """Belt time now: the time the belt has moved."""
        if self.accumulating:
            return self.env.now
        stopped = self.belt_stopped
        if self.stopped_since is not None:
            stopped += self.env.now - self._stop_began
        return self.env.now - stopped

    def _since_entry(self) -> float:
        """Belt time still to run before the entrance is clear (0 when it is; a rounding error
        left by the clock counts as clear)."""
        wait = self.last_entry + self.gap - self.belt()
        return wait if wait > SLACK * self.gap else 0.0

    def _clear(self) -> bool:
        """Whether a part may enter now."""
        return len(self.riding) < self.places and self._since_entry() == 0.0

    def _enter(self, part: Part) -> None:
        self.last_entry = belt = self.belt()
        self.riding.append((part, belt, self.env.now))
        self.load.add(1)
        self._head.fire()

    # -- in: the receiver's side
    def try_put(self, part: Part) -> bool:
        """Put ``part`` on the belt now if nothing waits before it and the entrance is clear."""
        if not self.waiting and self._clear():
            self._enter(part)
            return True
        return False

    def put(self, part: Part) -> simpy.Event:
        """An event that fires when ``part`` is on the belt (after ``try_put`` failed)."""
        event = self.env.event()
        self._queue(event, part)
        return event

    def offer(self, part: Part) -> None:
        """Accept a part from a source: it waits, unbounded, in front if it cannot enter now."""
        if not self.try_put(part):
            self._queue(None, part)

    def _queue(self, event: simpy.Event | None, part: Part) -> None:
        self.waiting.append((event, part))
        self._entrance.fire()

    def _admit(self) -> Process:
        """Put the waiting parts on the belt, first come first served, as the entrance clears."""
        env = self.env
        while True:
            if not self.waiting or len(self.riding) >= self.places:
                yield self._entrance.wait()
                continue
            wait = self._since_entry()
            if wait > 0:  # the last part is still within spacing of the entrance
                if self.stopped_since is not None and not self.accumulating:
                    yield self._entrance.wait()  # and stays there until the belt moves again
                else:
                    yield env.timeout(wait)
                continue
            event, part = self.waiting.popleft()
            self._enter(part)
            if event is not None:
                event.succeed()

    # -- out: the head part
    def _deliver(self, route: Callable[[], Any]) -> Process:
        """Carry the head part to the end and hand it over, stopping while it cannot leave."""
        env = self.env
        while True:
            if not self.riding:
                yield self._head.wait()
                continue
            part, belt_in, entered = self.riding[0]
            if self.accumulating:
                due = max(entered + self.ride, self.last_exit + self.gap) - env.now
            else:
                due = belt_in + self.ride - self.belt()
            if due > 0:
                yield env.timeout(due)
            dest = route()
            if not dest.try_put(part):
                self._stop()
                yield dest.put(part)
                self._restart()
            if self.log is not None and not isinstance(dest, LogsItself):
                self.log(env.now, getattr(dest, "name", ""), ev.ARRIVE, part)
            self.riding.popleft()
            self.load.add(-1)
            now = self.last_exit = env.now
            self.carried += 1
            self.ride_sum += now - entered
            self._entrance.fire()

    def _stop(self) -> None:
        self.stopped_since = self._stop_began = self.env.now

    def _restart(self) -> None:
        now = self.env.now
        assert self.stopped_since is not None
        self.stopped += now - self.stopped_since
        self.belt_stopped += now - self._stop_began
        self.stopped_since = None

    # -- statistics
    def measure(self, end: float) -> dict[str, float]:
        """Statistics from the end of the warmup to ``end``: parts carried, mean and peak load
        (parts on the belt), mean time on the belt of the parts carried, fraction of time the head
        part stood stopped at the end, and the load as a fraction of the places."""
        span = end - self.origin
        stopped = self.stopped + (end - self.stopped_since if self.stopped_since is not None
                                  else 0.0)
        load = self.load.mean(end)
        return {
            "carried": float(self.carried),
            "throughput": self.carried / span if span > 0 else math.nan,
            "load": load,
            "max_load": float(self.load.max),
            "utilization": load / self.places,
            "ride_time": self.ride_sum / self.carried if self.carried else math.nan,
            "stopped": stopped / span if span > 0 else math.nan,
        }
