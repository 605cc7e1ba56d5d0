"""Working calendars: when a machine or an operator pool works.

A calendar repeats its ``working`` intervals every ``period`` (shifted by ``offset``) less the
absolute ``shutdowns``. ``on(t)`` tells whether ``t`` is working time, ``left(t)`` how much of
the working interval under way is left, ``next_on(t)`` when work next starts and ``next_change``
when the calendar next switches.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from twin.language.nodes import Calendar as CalendarSpec


class Calendar:
    """A working calendar built from its schema: repeating working intervals less shutdowns."""

    __slots__ = ("period", "offset", "starts", "ends", "shutdowns")

    def __init__(self, spec: CalendarSpec) -> None:
        self.period = float(spec.period)
        self.offset = float(spec.offset)
        spans = sorted((float(a), float(b)) for a, b in spec.working)
        merged: list[list[float]] = []
        for a, b in spans:  # touching intervals are one
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.starts = [a for a, _ in merged]
        self.ends = [b for _, b in merged]
        self.shutdowns = sorted((float(a), float(b)) for a, b in spec.shutdowns)

    def _cycle(self, t: float) -> tuple[float, float]:
        """(start of the period ``t`` falls in, position of ``t`` in it)."""
        k = math.floor((t - self.offset) / self.period)
        base = self.offset + k * self.period
        return base, t - base

    def _regular_end(self, t: float) -> float:
        """End of the working run of the repeating pattern under way at ``t`` (``t`` if none)."""
        base, u = self._cycle(t)
        i = bisect.bisect_right(self.starts, u) - 1
        if i < 0 or u >= self.ends[i]:
            return t
        end = base + self.ends[i]
        if self.ends[i] >= self.period and self.starts[0] <= 0:  # runs on into the next period
            nxt = self._regular_end(end)
            if nxt > end and nxt - end < self.period:
                end = nxt
        return end

    def _regular_next(self, t: float) -> float:
        """The first time at or after ``t`` that the repeating pattern works."""
        base, u = self._cycle(t)
        i = bisect.bisect_right(self.starts, u) - 1
        if i >= 0 and u < self.ends[i]:
            return t
        j = i + 1
        if j < len(self.starts):
            return base + self.starts[j]
        return base + self.period + self.starts[0]

    def _shutdown_at(self, t: float) -> tuple[float, float] | None:
        for a, b in self.shutdowns:
            if a <= t < b:
                return a, b
            if a > t:
                break
        return None

    def on(self, t: float) -> bool:
        """Whether time ``t`` is working time."""
        return self._regular_end(t) > t and self._shutdown_at(t) is None

    def left(self, t: float) -> float:
        """Working time left from ``t`` to the end of the interval under way (0 if off)."""
        if not self.on(t):
            return 0.0
        end = self._regular_end(t)
        for a, _ in self.shutdowns:
            if a > t:
                end = min(end, a)
                break
        return end - t

    def next_on(self, t: float) -> float:
        """The first working time at or after ``t``."""
        for _ in range(10_000):
            t = self._regular_next(t)
            shut = self._shutdown_at(t)
            if shut is None:
                return t
            t = shut[1]
        raise RuntimeError("the calendar never works")  # pragma: no cover - validated

    def next_change(self, t: float) -> float:
        """When the calendar next switches between working and not working, from ``t``."""
        return t + self.left(t) if self.on(t) else self.next_on(t)


def watch(env: simpy.Environment, calendar: Calendar,
          switched: Any) -> Generator[simpy.Event, Any, None]:
    """A process calling ``switched(on)`` at every switch of ``calendar``."""
    while True:
        change = calendar.next_change(env.now)
        if change > env.now:
            yield env.timeout(change - env.now)
        else:  # pragma: no cover - a zero-length interval is refused by the schema
            yield env.timeout(0)
        switched(calendar.on(env.now))
