"""A machine's working calendar and failures on elapsed time: it is off outside working time,
and a failure that comes in elapsed time stops it where it can stop."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.states import OFF, WORKING
from twin.engine.upkeep import Upkeeping

if TYPE_CHECKING:
    from twin.engine.stations import Process

class Timed(Upkeeping):
    """Calendars and failures on elapsed time, for ``Machine``."""

    waiting: int | None


    def _idle(self, state: int) -> int:
        calendar = self.calendar
        return OFF if calendar is not None and not calendar.on(self.env.now) else state

    def _switched(self, on: bool) -> None:
        """The calendar switched: a waiting machine is off (or waiting again)."""
        waiting = self.waiting
        if waiting is not None:
            self.clock.set(waiting if on else OFF)

    def _ready(self) -> Process:
        """Before a part starts: fail if a failure has come, wait for working time."""
        calendar = self.calendar
        while True:
            if self.failing:
                self.failing = False
                yield from self._repair()
            elif calendar is not None and not calendar.on(self.env.now):
                self.clock.set(OFF)
                yield from self._pause(calendar.next_on(self.env.now) - self.env.now)
            else:
                return

    def _pause(self, duration: float) -> Process:
        self.interruptible = True
        try:
            yield self.env.timeout(duration)
        except simpy.Interrupt:
            pass
        finally:
            self.interruptible = False

    def _work(self, work: float) -> Process:
        """Process ``work`` on a machine with a calendar or failures on elapsed time: stopped
        by the end of working time, a failure or a maintenance due, resumed after."""
        env = self.env
        calendar = self.calendar
        while True:
            yield from self._ready()
            self.clock.set(WORKING)
            life, due = self.life_left, self.pm_left
            shift = calendar.left(env.now) if calendar is not None else math.inf
            bound = min(life, due)
            if work < bound and work <= shift:
                step, then = work, 0
            elif bound <= shift:
                step, then = bound, (1 if life <= due else 2)
            else:
                step, then = shift, 3
            start = env.now
            self.interruptible = True
            try:
                yield env.timeout(step)
            except simpy.Interrupt:
                step, then = env.now - start, 4
            finally:
                self.interruptible = False
            work -= step
            self.life_left -= step
            self.pm_left -= step
            self.age += step
            self.operating += step
            if then == 0:
                return
            if then == 1:
                yield from self._repair()
            elif then == 2:
                yield from self._maintain()

    def _wait_timed(self, event: simpy.Event,
                    state: int) -> Generator[simpy.Event, Any, Any]:
        """``_wait`` for a machine with a calendar or failures on elapsed time: off outside
        working time; a failure stops the wait for a repair."""
        if self.failing:
            self.failing = False
            yield from self._repair()
        if self.opportunity:
            yield from self._maintain()
        while True:
            self.clock.set(self._idle(state))
            self.waiting = state
            self.interruptible = True
            try:
                return (yield event)
            except simpy.Interrupt as stop:
                cause = stop.cause
            finally:
                self.interruptible = False
                self.waiting = None
            if cause == "fail":
                self.failing = False
                yield from self._repair()
            else:
                yield from self._maintain()
