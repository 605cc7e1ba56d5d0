"""The maintenance cost per period of a replication, read off its machines' state timelines."""

from __future__ import annotations

from typing import Any

from twin.engine.states import DOWN, MAINTENANCE
from twin.records.costs import cost_by_period


def period_costs(scenario: Any, ctx: Any) -> dict[str, Any]:
    """The maintenance cost rate per period of a policy that keeps no record of its own (a
    predictive policy does): every failure and preventive maintenance read off the state
    timelines of the machines that can fail or wear; empty where none can, where one keeps no
    timeline (only machines with sensors, or all with timelines asked for, keep one) or has
    failure modes of their own cost."""
    costs = scenario.costs
    times: list[float] = []
    paid: list[float] = []
    watched = 0
    for name, machine in ctx.machines.items():
        spec = scenario.plant.nodes[name]
        if spec.failures is None and getattr(spec, "degradation", None) is None:
            continue
        watched += 1
        timeline = machine.clock.timeline
        if timeline is None or (machine.modes is not None and any(
                getattr(mode, "cost", None) is not None for mode in spec.failures)):
            return {}
        for time, state in timeline[1:]:
            if state in (DOWN, MAINTENANCE):
                times.append(time)
                paid.append(costs.corrective if state == DOWN else costs.preventive)
    if not watched:
        return {}
    return cost_by_period(scenario.time_unit, scenario.horizon, times, paid)
