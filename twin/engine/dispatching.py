"""Dispatching rules: which waiting part the next free machine takes from a buffer.

A rule is a function ``rule(ctx, buffer) -> key`` (or None for first come, first served) where
``key(part, now)`` ranks the parts waiting in the buffer: the smallest key goes first, ties
first come, first served. Plug-ins register rules in the ``twin.dispatching`` entry-point group.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.flow import Channel, Part
from twin.engine.warmup import Warmup
from twin.registry import DISPATCHING, Registry

if TYPE_CHECKING:
    from twin.engine.context import BuildContext

Key = Callable[[Part, float], float]


def _mean(part: Part) -> float:
    """Mean process time of the part's next step (a part in a buffer has one ahead)."""
    plan = part.plan
    return plan.means[part.step] if plan is not None else 0.0


def fifo(ctx: BuildContext, buffer: str) -> Key | None:
    """First come, first served: no key."""
    return None


def priority(ctx: BuildContext, buffer: str) -> Key:
    """Lowest priority number first (the order's, else its product's)."""
    return lambda part, now: part.priority


def spt(ctx: BuildContext, buffer: str) -> Key:
    """Shortest mean process time at the machine the part goes to next."""
    def key(part: Part, now: float) -> float:
        plan = part.plan
        return plan.means[part.step] if plan is not None else 0.0
    return key


def lpt(ctx: BuildContext, buffer: str) -> Key:
    """Longest mean process time first."""
    return lambda part, now: -_mean(part)


def edd(ctx: BuildContext, buffer: str) -> Key:
    """Earliest due date of the part's order first."""
    return lambda part, now: part.due


def cr(ctx: BuildContext, buffer: str) -> Key:
    """Smallest critical ratio first: time to the due date over the mean work left."""
    def key(part: Part, now: float) -> float:
        plan = part.plan
        left = plan.remaining(part.step) if plan is not None else 0.0
        slack = part.due - now
        if math.isinf(slack):
            return math.inf
        return slack / left if left > 0 else slack
    return key


RULES: Registry[Callable[..., Key | None]] = Registry(DISPATCHING, "dispatching rule", {
    "fifo": fifo, "priority": priority, "spt": spt, "lpt": lpt, "edd": edd, "cr": cr})
"""The dispatching rules: the built-ins, then those plugged in (``twin.dispatching``)."""


class RuleChannel(Channel):
    """A buffer whose next part is chosen by a dispatching rule."""

    __slots__ = ("key",)

    def __init__(self, env: simpy.Environment, name: str, capacity: float, warmup: Warmup,
                 key: Key) -> None:
        super().__init__(env, name, capacity, warmup)
        self.key = key

    def try_get(self) -> Part | None:
        """The waiting part with the smallest key now (ties first come, first served), or None."""
        items = self.items
        n = len(items)
        if n > 1:  # the best part to the front; the others keep their order
            now = self.env.now
            key = self.key
            best, lowest = 0, key(items[0], now)
            for i in range(1, n):
                k = key(items[i], now)
                if k < lowest:
                    best, lowest = i, k
            if best:
                part = items[best]
                del items[best]
                items.appendleft(part)
        return super().try_get()


def dispatching_channel(ctx: BuildContext, name: str, capacity: float, rule: str) -> Any:
    """The channel of buffer ``name``: a plain FIFO channel, or a rule channel if ``rule`` ranks
    parts."""
    key = RULES.load(rule)(ctx, name)
    if key is None:
        return Channel(ctx.env, name, capacity, ctx.warmup)
    return RuleChannel(ctx.env, name, capacity, ctx.warmup, key)

