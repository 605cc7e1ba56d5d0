"""The warmup, handled in one place: statistics start when it ends.

Processes count everything from time 0 and never look at the clock to decide whether to count;
every statistic registers itself here, and when the warmup ends all of them are reset at once.
The reset is the first event scheduled at that time, so what happens at the very end of the
warmup is counted, as it was always meant to be.
"""

from __future__ import annotations

from typing import Any, Protocol

import simpy


class Statistic(Protocol):
    """Anything that measures and can start over at the end of the warmup."""

    def reset(self) -> None:
        """Forget what was measured so far; go on measuring from now."""


class Warmup:
    """Resets every registered statistic at time ``end`` (nothing to do if ``end`` is 0)."""

    def __init__(self, env: simpy.Environment, end: float) -> None:
        self.env = env
        self.end = end
        """When statistics start."""
        self.statistics: list[Statistic] = []
        if end > 0:
            env.timeout(end).callbacks.append(self._reset)

    def register(self, statistic: Statistic) -> None:
        """Have ``statistic`` reset when the warmup ends."""
        if self.end > 0:
            self.statistics.append(statistic)

    def _reset(self, _event: Any) -> None:
        for statistic in self.statistics:
            statistic.reset()

    @property
    def over(self) -> bool:
        """Whether statistics are being kept (for records tied to a time, e.g. orders)."""
        return self.env.now >= self.end
