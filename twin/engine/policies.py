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
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import networkx as nx
import numpy as np
import simpy

from twin.engine.stations import DOWN, MAINTENANCE, REPAIR, Draw, Machine
from twin.language.policies import (
    Agent,
    ConditionBased,
    Opportunistic,
    Predictive,
    PredictiveQuality,
    Preventive,
    Reactive,
)
from twin.registry import POLICIES, plugins

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


class PredictivePolicy(MaintenancePolicy):
    """A saved model scores the sensor windows of the machines that wear, every ``every``."""

    schema = Predictive

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        super().__init__(spec, ctx)
        self.decisions: Any = None

    def governs(self, name: str, spec: Any) -> bool:
        """Machines that wear and carry sensors."""
        from twin.engine.sensors import has_readings

        return getattr(spec, "degradation", None) is not None and has_readings(spec)

    def start(self, ctx: BuildContext) -> None:
        """Start the decision maker that scores the governed machines' sensor windows."""
        from twin.ml.decisions import DecisionMaker

        watched = {n: s for n, s in ctx.sensors.items() if ctx.machines[n].wear is not None}
        self.decisions = DecisionMaker(ctx.env, self.spec,
                                       {n: ctx.machines[n] for n in watched}, watched)
        self.env = ctx.env
        self.events: list[tuple[float, int]] = []
        """(time, 1 for a failure or 0 for a maintenance) of the governed machines."""
        ctx.env.process(self.decisions.run())

    def next_due(self, machine: Machine) -> float:
        """The fallback age while no model is trained yet, else inf (the model calls
        maintenance)."""
        learn = self.spec.learn
        if learn is not None and learn.fallback_age is not None and (
                self.decisions is None or self.decisions.predictor is None):
            return float(learn.fallback_age)  # no model yet: preventive at an age
        return math.inf

    def failed(self, machine: Machine) -> None:
        """Tell the decision maker a life ended in failure (a labelled life to learn from)."""
        if self.decisions is not None:
            self.events.append((self.env.now, 1))
            self.decisions.life_ended(machine, machine.age, failed=True)

    def maintained(self, machine: Machine) -> None:
        """Tell the decision maker a life ended in maintenance (a censored life)."""
        if self.decisions is not None and machine.lives is not None and len(machine.lives) > 1:
            self.events.append((self.env.now, 0))
            ended = machine.lives[-1].operating - machine.lives[-2].operating
            self.decisions.life_ended(machine, ended, failed=False)

    def alarms(self, name: str) -> float:
        """Maintenance calls the model made for machine ``name``."""
        return float(self.decisions.alarms.get(name, 0)) if self.decisions else 0.0

    def learning(self, ctx: BuildContext) -> dict[str, Any]:
        """Cost rate per period, and for a learning policy when its model took over and its
        updates (time, lives ended, failures seen, windows, prequential error)."""
        from twin.ml.online import cost_by_period

        scenario = ctx.scenario
        costs = scenario.costs
        events = getattr(self, "events", [])
        out = cost_by_period(scenario.time_unit, scenario.horizon, [t for t, _ in events],
                             [costs.corrective if f else costs.preventive for _, f in events])
        learner = getattr(self.decisions, "learner", None)
        if learner is not None:
            out.update(learner.report())
        return out

    def online(self) -> dict[str, float]:
        """Decision epochs, windows scored, alarms, failures not prevented and the prevented
        share."""
        d = self.decisions
        if d is None:
            return {}
        alarms = sum(d.alarms.values())
        missed = sum(m.failures for m in d.machines.values())
        return {"epochs": float(d.epochs), "windows_scored": float(d.scored),
                "maintenance_alarms": float(alarms), "failures_not_prevented": float(missed),
                "prevented_share": alarms / (alarms + missed) if alarms + missed else math.nan}


class AgentPolicy(MaintenancePolicy):
    """A saved agent (``twin.ml.agent``) chooses, every epoch, to continue or to maintain each
    machine that wears; without a model, a program outside (``twin.gym``) decides."""

    schema = Agent

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        super().__init__(spec, ctx)
        self.observer: Any = None
        self.loop: Any = None

    def governs(self, name: str, spec: Any) -> bool:
        """Machines that wear (have a ``degradation``)."""
        return getattr(spec, "degradation", None) is not None

    def start(self, ctx: BuildContext) -> None:
        """Build the observer of the governed machines and, with a saved model, start its decision
        loop."""
        from twin.ml.agent import AgentLoop, Observer, cached_agent, life_scale

        mine = {n: m for n, m in ctx.machines.items() if m.upkeep is self}
        model = cached_agent(self.spec.model) if self.spec.model is not None else None
        window = int(model.meta.get("window", 10)) if model is not None else 10
        self.observer = Observer(mine, ctx.sensors, {n: life_scale(ctx.spec(n)) for n in mine},
                                 window)
        if model is None:
            return
        every = self.spec.every or float(model.meta.get("every", 30.0))
        self.loop = AgentLoop(ctx.env, self.observer, model, every, self.spec.model)
        ctx.env.process(self.loop.run())

    def alarms(self, name: str) -> float:
        """Maintenance calls the agent made for machine ``name``."""
        return float(self.loop.alarms.get(name, 0)) if self.loop is not None else 0.0

    def online(self) -> dict[str, float]:
        """Decision epochs and maintenance alarms of the agent."""
        if self.loop is None:
            return {}
        return {"epochs": float(self.loop.epochs),
                "maintenance_alarms": float(sum(self.loop.alarms.values()))}


class QualityPolicy:
    """Base of quality policies: started once every machine and sensor is built."""

    schema: ClassVar[type[Any]]
    scope: ClassVar[str] = "quality"

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        self.spec = spec

    def start(self, ctx: BuildContext) -> None:
        """Every machine and sensor is built."""
        pass


class PredictiveQualityPolicy(QualityPolicy):
    """A saved defect model marks machines suspect; their parts take the ``suspect`` edge."""

    schema = PredictiveQuality

    def start(self, ctx: BuildContext) -> None:
        """Start the watch that scores the sensors of machines with a ``suspect`` edge."""
        from twin.ml.decisions import QualityWatch

        watched = {n: s for n, s in ctx.sensors.items() if ctx.targets(n, "suspect")}
        watch = QualityWatch(ctx.env, self.spec, {n: ctx.machines[n] for n in watched}, watched)
        ctx.env.process(watch.run())


BUILTINS: dict[str, type[Any]] = {
    "reactive": ReactivePolicy, "preventive": PreventivePolicy, "condition": ConditionPolicy,
    "opportunistic": OpportunisticPolicy, "predictive": PredictivePolicy,
    "agent": AgentPolicy,
}
QUALITY_BUILTINS: dict[str, type[Any]] = {"predictive": PredictiveQualityPolicy}


@cache
def _registered(scope: str) -> dict[str, type[Any]]:
    out = dict(BUILTINS if scope == "maintenance" else QUALITY_BUILTINS)
    for name, policy in plugins(POLICIES).items():
        if getattr(policy, "scope", "maintenance") == scope:
            out.setdefault(name, policy)
    return out


def maintenance_policy(spec: Any, ctx: BuildContext) -> MaintenancePolicy:
    """The policy object of a replication for the scenario's ``maintenance.policy``."""
    return _registered("maintenance")[spec.kind](spec, ctx)


def quality_policy(spec: Any, ctx: BuildContext) -> QualityPolicy | None:
    """The quality policy object of a replication for the scenario's ``quality.policy`` (None if
    none)."""
    if spec is None:
        return None
    return _registered("quality")[spec.kind](spec, ctx)
