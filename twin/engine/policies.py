"""Maintenance and quality policies in the simulation.

A maintenance policy is one object per replication, attached to the machines it ``governs``;
each such machine asks it, at every renewal, for the operating time until the next maintenance
(``next_due``), and tells it when it fails and when it has been maintained. A policy may start
processes of its own (``attach`` per machine, ``start`` once every machine and sensor is built)
and report online metrics. Built-ins are below; a third-party policy is a class with a
``schema`` (a ``twin.language.policies.PolicySpec`` whose ``kind`` is a ``Literal`` of its
name) and ``scope`` (``"maintenance"`` or ``"quality"``), constructed with ``(spec, ctx)`` and
registered in the ``twin.policies`` entry-point group.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import networkx as nx
import numpy as np
import simpy

from twin.engine.states import DOWN, MAINTENANCE, REPAIR
from twin.engine.stations import Draw, Machine
from twin.language.policies import (
    ConditionBased,
    Opportunistic,
    Preventive,
    Reactive,
)
from twin.registry import POLICIES, Registry
from twin.registry import QUALITY_POLICIES as QUALITY_GROUP

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.engine.health import WearPath
    from twin.language.nodes import Sensor


class MaintenancePolicy:
    """Base of maintenance policies: governs the machines that can fail; plans nothing."""

    schema: ClassVar[type[Any]]
    scope: ClassVar[str] = "maintenance"

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        self.spec = spec

    def governs(self, name: str, spec: Any) -> bool:
        """Whether the policy governs machine ``name`` (here: any machine that can fail)."""
        return spec.failures is not None

    def duration(self, ctx: BuildContext, name: str) -> Draw:
        """The draw of maintenance durations of machine ``name``."""
        return self.spec.duration.stream(ctx.streams.rng(f"{name}/pm"))

    def attach(self, ctx: BuildContext, machine: Machine) -> None:
        """Machine ``machine`` is built and governed (its process has started)."""

    def start(self, ctx: BuildContext) -> None:
        """Every machine and sensor is built."""

    def next_due(self, machine: Machine) -> float:
        """Operating time from this renewal of ``machine`` until its next maintenance (inf: none
        planned)."""
        return math.inf

    def failed(self, machine: Machine) -> None:
        """``machine`` has just failed."""
        pass

    def maintained(self, machine: Machine) -> None:
        """``machine`` has just been maintained."""
        pass

    def alarms(self, name: str) -> float:
        """Maintenance calls the policy made for machine ``name`` (predictive policies)."""
        return 0.0

    def online(self) -> dict[str, float]:
        """Online metrics for summary.json's ``predictor`` section."""
        return {}


class ReactivePolicy(MaintenancePolicy):
    """Repair on failure, nothing else."""

    schema = Reactive

    def governs(self, name: str, spec: Any) -> bool:
        """None: every failure is simply repaired."""
        return False


class PreventivePolicy(MaintenancePolicy):
    """Maintain at an operating age, or every period of calendar time."""

    schema = Preventive

    def next_due(self, machine: Machine) -> float:
        """``every`` on the age basis; on the calendar basis maintenance is called by time instead
        (inf)."""
        return self.spec.every if self.spec.basis == "age" else math.inf

    def attach(self, ctx: BuildContext, machine: Machine) -> None:
        """On the calendar basis, start calling the machine's maintenance every ``every`` time
        units."""
        if self.spec.basis == "calendar":
            ctx.env.process(self._calendar(ctx.env, machine, self.spec.every))

    @staticmethod
    def _calendar(env: simpy.Environment, machine: Machine, every: float
                  ) -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(every)
            if machine.clock.state not in (DOWN, REPAIR, MAINTENANCE):
                machine.call_maintenance()


@dataclass
class Inspection:
    """Condition-based maintenance: inspect every ``every`` of operating age; maintain when the
    indicator (wear, or ``sensor`` read with its noise) reaches ``threshold``."""

    every: float
    threshold: float
    sensor: Sensor | None
    rng: np.random.Generator

    def maintenance_age(self, path: WearPath) -> float:
        """The operating age of the first inspection whose indicator reaches the threshold on
        ``path`` (inf if the machine fails first)."""
        ages = np.arange(1, int(path.fail_age // self.every) + 1) * self.every
        ages = ages[ages < path.fail_age]
        if ages.size == 0:
            return math.inf
        values = path.at(ages)
        if self.sensor is not None:
            s = self.sensor
            values = s.base + s.gain * values**s.power + s.noise * self.rng.standard_normal(
                ages.size)
        hit = np.flatnonzero(values >= self.threshold)
        return float(ages[hit[0]]) if hit.size else math.inf


class ConditionPolicy(MaintenancePolicy):
    """Inspections of wear (or of a sensor) decide each life's maintenance age."""

    schema = ConditionBased

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        super().__init__(spec, ctx)
        self.inspections: dict[str, Inspection] = {}
        for name, node in ctx.scenario.plant.nodes.items():
            if self.governs(name, node):
                sensor = (None if spec.indicator == "health"
                          else node.sensors[spec.indicator])  # type: ignore[union-attr]
                self.inspections[name] = Inspection(spec.inspect_every, spec.threshold, sensor,
                                                    ctx.streams.rng(f"{name}/inspection"))

    def governs(self, name: str, spec: Any) -> bool:
        """Machines that wear (have a ``degradation``)."""
        return getattr(spec, "degradation", None) is not None

    def next_due(self, machine: Machine) -> float:
        """The age at which inspections of the machine's current wear path call maintenance."""
        if machine.path is None:
            return math.inf
        return self.inspections[machine.name].maintenance_age(machine.path)


class OpportunisticPolicy(MaintenancePolicy):
    """Preventive at an age; a failure also calls the maintenance of the governed machines
    within two edges whose age is within ``window`` of it, while the line stands."""

    schema = Opportunistic

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        super().__init__(spec, ctx)
        self.graph = ctx.graph
        self.machines = ctx.machines
        self.neighbours: dict[str, list[Machine]] = {}

    def next_due(self, machine: Machine) -> float:
        """The preventive age ``every``."""
        return self.spec.every

    def start(self, ctx: BuildContext) -> None:
        """Find each governed machine's governed neighbours within two edges of the plant graph."""
        undirected = self.graph.to_undirected(as_view=True)
        for name, machine in self.machines.items():
            if machine.upkeep is not self:
                continue
            near = nx.single_source_shortest_path_length(undirected, name, cutoff=2)
            self.neighbours[name] = [self.machines[n] for n in near if n in self.machines
                                     and n != name and self.machines[n].upkeep is self]

    def failed(self, machine: Machine) -> None:
        """Call the maintenance of the neighbours of ``machine`` due within ``window`` that are
        up."""
        window = self.spec.window
        for other in self.neighbours.get(machine.name, ()):
            if other.pm_left <= window and not other.opportunity \
                    and other.clock.state not in (DOWN, REPAIR, MAINTENANCE):
                other.call_maintenance()


class QualityPolicy:
    """Base of quality policies: started once every machine and sensor is built."""

    schema: ClassVar[type[Any]]
    scope: ClassVar[str] = "quality"

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        self.spec = spec

    def start(self, ctx: BuildContext) -> None:
        """Every machine and sensor is built."""
        pass


MAINTENANCE_POLICIES: Registry[type[Any]] = Registry(POLICIES, "maintenance policy", {
    "reactive": ReactivePolicy, "preventive": PreventivePolicy, "condition": ConditionPolicy,
    "opportunistic": OpportunisticPolicy})
"""The maintenance policies: the engine's own, then those plugged in (twin's predictive and
agent policies among them, ``twin.ml.policies``)."""
QUALITY_POLICIES: Registry[type[Any]] = Registry(QUALITY_GROUP, "quality policy")
"""The quality policies: all plugged in (twin's predictive one, ``twin.ml.policies``)."""


def maintenance_policy(spec: Any, ctx: BuildContext) -> MaintenancePolicy:
    """The policy object of a replication for the scenario's ``maintenance.policy``."""
    policy: MaintenancePolicy = MAINTENANCE_POLICIES.load(spec.kind)(spec, ctx)
    return policy


def quality_policy(spec: Any, ctx: BuildContext) -> QualityPolicy | None:
    """The policy object of a replication for the scenario's ``quality.policy``, if any."""
    if spec is None:
        return None
    policy: QualityPolicy = QUALITY_POLICIES.load(spec.kind)(spec, ctx)
    return policy
