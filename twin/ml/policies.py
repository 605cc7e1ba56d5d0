"""The policies that put predictors in the loop, plugged into the engine through its policy
registries (``twin.policies`` and ``twin.quality_policies`` entry points) as a third-party
policy is: a predictive maintenance policy, an agent's, and predictive quality."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from twin.engine.policies import MaintenancePolicy, QualityPolicy
from twin.engine.sensors import has_readings
from twin.language.policies import Agent, Predictive, PredictiveQuality
from twin.ml.agent import AgentLoop, Observer, cached_agent, life_scale
from twin.ml.decisions import DecisionMaker, QualityWatch
from twin.records.costs import cost_by_period

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.engine.stations import Machine


class PredictivePolicy(MaintenancePolicy):
    """A saved model scores the sensor windows of the machines that wear, every ``every``."""

    schema = Predictive

    def __init__(self, spec: Any, ctx: BuildContext) -> None:
        super().__init__(spec, ctx)
        self.decisions: Any = None

    def governs(self, name: str, spec: Any) -> bool:
        """Machines that wear and carry sensors."""
        return getattr(spec, "degradation", None) is not None and has_readings(spec)

    def start(self, ctx: BuildContext) -> None:
        """Start the decision maker that scores the governed machines' sensor windows."""
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


class PredictiveQualityPolicy(QualityPolicy):
    """A saved defect model marks machines suspect; their parts take the ``suspect`` edge."""

    schema = PredictiveQuality

    def start(self, ctx: BuildContext) -> None:
        """Start the watch that scores the sensors of machines with a ``suspect`` edge."""
        watched = {n: s for n, s in ctx.sensors.items() if ctx.targets(n, "suspect")}
        watch = QualityWatch(ctx.env, self.spec, {n: ctx.machines[n] for n in watched}, watched)
        ctx.env.process(watch.run())
