"""The material-handling node kinds, plugged into the engine through its node-kind registry
(``twin.node_kinds`` entry points) as a third-party kind is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.engine.kinds import NodeKind
from twin.handling.conveyor import Conveyor
from twin.language.nodes import ConveyorNode

if TYPE_CHECKING:
    from twin.engine.context import BuildContext


class Conveyors:
    """The plant's conveyors together: their load is a KPI of the plant (``conveyor_load``)."""

    def __init__(self) -> None:
        self.conveyors: list[Conveyor] = []

    def add(self, conveyor: Conveyor) -> Conveyors:
        """Count ``conveyor`` in."""
        self.conveyors.append(conveyor)
        return self

    def start(self) -> None:
        """Nothing to start: each conveyor moves its own parts."""

    def measure(self, span: float, end: float) -> dict[str, Any]:
        """``conveyor_load``: the time-average parts riding all the conveyors."""
        load = sum(c.load.mean(end) for c in self.conveyors)
        return {"kpis": {"conveyor_load": load}, "costs": {}, "revenue": 0.0}


class ConveyorKind(NodeKind):
    """A conveyor: parts sent to it ride to its end, then go on along its edges
    (``twin.handling.conveyor``)."""

    schema = ConveyorNode

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Make the node's ``Conveyor``: what parts sent to it are put on."""
        conveyor = Conveyor(ctx.env, name, spec, ctx.warmup, ctx.events)
        ctx.receivers[name] = ctx.nodes[name] = conveyor
        ctx.extension("conveyors", Conveyors).add(conveyor)

    def build(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Start moving parts to the nodes it feeds (by the edges' probabilities)."""
        ctx.nodes[name].start(ctx.route(name))

    def measure(self, ctx: BuildContext, name: str, span: float) -> dict[str, float] | None:
        """Parts carried, mean and peak load, mean ride and fraction of time stopped."""
        conveyor: Conveyor = ctx.nodes[name]
        return conveyor.measure(ctx.scenario.horizon)
