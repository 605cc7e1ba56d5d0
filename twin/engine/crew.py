"""The maintenance crew: technicians shared by all machines.

Jobs wait in order of priority: repairs before preventive work, then the machine's ``priority``
(lower first), then first come, first served. A technician assigned to a job first needs the
response time (travel, diagnosis), then does the work. With shifts, technicians work the first
``working`` of every ``period``: at the end of a shift each technician finishes the job in hand,
then leaves until the next shift starts.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

REPAIR, PREVENTIVE = 0, 1

Draw = Callable[[], float]
Process = Generator[simpy.Event, Any, None]
OFF_SHIFT_PRIORITY = -1


def job_priority(kind: int, machine_priority: int) -> int:
    """The crew priority of a job: its kind (``REPAIR`` before ``PREVENTIVE``), then the machine's
    ``priority`` (lower first)."""
    return kind * 1000 + machine_priority


class Crew:
    """The maintenance crew: ``size`` technicians (None: unlimited) with a response time, working
    shifts of ``working`` in every ``period`` if given.

    Raises ValueError for shifts without a crew size.
    """

    def __init__(self, env: simpy.Environment, size: int | None, response: Draw | None = None,
                 shift: tuple[float, float] | None = None) -> None:
        self.env = env
        self.size = size
        self.response = response
        self.resource = simpy.PriorityResource(env, capacity=size) if size is not None else None
        if shift is not None:
            if size is None:
                raise ValueError("shifts need a crew of a given size")
            period, working = shift
            if working < period:
                for _ in range(size):
                    env.process(self._off_shift(period, working))

    def _off_shift(self, period: float, working: float) -> Process:
        env = self.env
        assert self.resource is not None
        k = 0
        while True:
            yield env.timeout(k * period + working - env.now)
            with self.resource.request(priority=OFF_SHIFT_PRIORITY) as request:
                yield request
                yield env.timeout(max(0.0, (k + 1) * period - env.now))
            k += 1

    def job(self, priority: int, duration: float, started: Callable[[], None] | None = None
            ) -> Process:
        """Wait for a technician, let them respond, then work for ``duration``."""
        env = self.env
        if self.resource is None:
            if self.response is not None:
                yield env.timeout(self.response())
            if started is not None:
                started()
            yield env.timeout(duration)
            return
        with self.resource.request(priority=priority) as request:
            yield request
            if self.response is not None:
                yield env.timeout(self.response())
            if started is not None:
                started()
            yield env.timeout(duration)
