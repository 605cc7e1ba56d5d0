"""Operators: labour pools the machines call for a setup, to load a part or for the whole
process.

A pool serves calls first come, first served. Of its idle operators it sends one already at the
calling machine if there is one, else the one idle longest; an operator coming from another
machine walks there first (``walk``), busy meanwhile. With a calendar, operators are assigned
only in working time; a task under way at the end of a shift waits for the next one (as the
machines of the same calendar do). Each operator's busy time (walking included) in working time
is measured from the end of the warmup; utilization is over the pool's working time."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from twin.engine.calendar import Calendar, watch
from twin.engine.warmup import Warmup

Draw = Callable[[], float]


class OperatorPool:
    """A pool of ``size`` operators shared by machines: idle operators are assigned to calls first
    come, first served, walking between machines (``walk``) and working by their calendar."""

    def __init__(self, env: simpy.Environment, name: str, size: int, warmup: Warmup,
                 walk: Draw | None = None, calendar: Calendar | None = None) -> None:
        self.env = env
        self.name = name
        self.size = size
        self.walk = walk
        self.idle: deque[int] = deque(range(size))
        self.calls: deque[tuple[simpy.Event, str]] = deque()
        self.location: list[str | None] = [None] * size
        self.busy = [0.0] * size
        self.since: list[float | None] = [None] * size
        """Start of the busy stretch being counted (assigned, in working time)."""
        self.assigned = [False] * size
        self.tasks = [0] * size
        self.origin = env.now
        self.on = calendar is None or calendar.on(env.now)
        self.working = 0.0
        """Working time of the pool before ``on_since`` (from the warmup on)."""
        self.on_since = env.now
        if calendar is not None:
            env.process(watch(env, calendar, self._switched))
        warmup.register(self)

    def reset(self) -> None:
        """Forget busy time and task counts so far; measure from now (the end of the warmup)."""
        now = self.env.now
        self.origin = self.on_since = now
        self.working = 0.0
        self.busy = [0.0] * self.size
        self.tasks = [0] * self.size
        self.since = [now if s is not None else None for s in self.since]

    def call(self, machine: str) -> simpy.Event:
        """An event whose value is the operator sent to ``machine``."""
        event = self.env.event()
        if self.on and self.idle:
            event.succeed(self._assign(self._pick(machine)))
        else:
            self.calls.append((event, machine))
        return event

    def attend(self, machine: str) -> Generator[simpy.Event, Any, int]:
        """Call an operator to ``machine`` and wait until they are there (walk included)."""
        operator: int = yield self.call(machine)
        if self.walk is not None and self.location[operator] not in (None, machine):
            yield self.env.timeout(self.walk())
        self.location[operator] = machine
        return operator

    def release(self, operator: int) -> None:
        """Free ``operator``: count their busy time and hand them to the next waiting call, if
        any."""
        start = self.since[operator]
        if start is not None:
            self.busy[operator] += self.env.now - start
        self.since[operator] = None
        self.assigned[operator] = False
        if self.on and self.calls:
            event, machine = self.calls.popleft()
            event.succeed(self._assign(operator, machine))
        else:
            self.idle.append(operator)

    def _pick(self, machine: str) -> int:
        for operator in self.idle:
            if self.location[operator] == machine:
                self.idle.remove(operator)
                return operator
        return self.idle.popleft()

    def _assign(self, operator: int, machine: str | None = None) -> int:
        self.since[operator] = self.env.now
        self.assigned[operator] = True
        self.tasks[operator] += 1
        return operator

    def _switched(self, on: bool) -> None:
        now = self.env.now
        if on and not self.on:
            self.on_since = now
            self.since = [now if a else None for a in self.assigned]
        elif self.on and not on:
            self.working += now - self.on_since
            for k, start in enumerate(self.since):
                if start is not None:
                    self.busy[k] += now - start
            self.since = [None] * self.size
        self.on = on
        while on and self.calls and self.idle:
            event, machine = self.calls.popleft()
            event.succeed(self._assign(self._pick(machine)))

    def measure(self, end: float) -> dict[str, float]:
        """Utilization of the pool and of each operator (``operator_1``, ...) over the pool's
        working time, and the tasks done."""
        span = self.working + (end - self.on_since if self.on else 0.0)
        busy = [b + (end - s if s is not None else 0.0) for b, s in zip(self.busy, self.since,
                                                                       strict=True)]
        each = [b / span if span > 0 else 0.0 for b in busy]
        return {"utilization": sum(each) / self.size, "tasks": float(sum(self.tasks)),
                **{f"operator_{k + 1}": u for k, u in enumerate(each)}}
