"""One replication: build the SimPy model of the plant graph, run it, measure it.

``simulate(scenario, replication)`` is a pure function of the scenario, its seed and the
replication number; it returns plain numbers (picklable, so replications can run anywhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import simpy

from twin.engine.crew import Crew
from twin.engine.flow import Channel, InfiniteSupply, Level, Sink
from twin.engine.rng import Streams
from twin.engine.sensors import SensorSink, SensorStream
from twin.engine.stations import (
    BLOCKED,
    DOWN,
    MAINTENANCE,
    REPAIR,
    SETUP,
    STARVED,
    STATES,
    WORKING,
    Inspection,
    Machine,
    Releaser,
    Wear,
    infinite_source,
    quality_step,
    router,
    timed_source,
)
from twin.language.plant import line_constraint, plant_graph
from twin.language.schema import ConditionBased, Opportunistic, Predictive, Preventive, Scenario
from twin.ml.decisions import DecisionMaker, QualityWatch
from twin.supply.warehouse import Warehouse
from twin.supply.wiring import SupplyChain, build_supply, measure_supply


@dataclass
class ReplicationResult:
    """KPIs of one replication, measured from warmup to horizon."""

    replication: int
    kpis: dict[str, float]
    machines: dict[str, dict[str, float]]
    buffers: dict[str, dict[str, float]] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    timelines: dict[str, list[tuple[float, str]]] | None = None
    deadlock: tuple[float, list[str]] | None = None
    """When and which machines ended blocked by each other for good, if they did."""
    online: dict[str, float] = field(default_factory=dict)
    """Online metrics of the predictors in the loop (decision epochs, windows scored, ...)."""
    warehouses: dict[str, dict[str, float]] = field(default_factory=dict)
    customers: dict[str, dict[str, float]] = field(default_factory=dict)
    suppliers: dict[str, dict[str, float]] = field(default_factory=dict)
    inventory: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)
    """Per warehouse: (time, on hand, backordered) at every change."""
    profiles: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Per warehouse: mean on hand and backordered in each of equal periods of the window."""


@dataclass
class Model:
    """The SimPy objects of one replication, built from the plant graph."""

    env: simpy.Environment
    graph: nx.DiGraph
    machines: dict[str, Machine]
    channels: dict[str, Channel]
    sinks: dict[str, Sink]
    wip: Level
    releaser: Releaser
    sensors: dict[str, SensorStream] = field(default_factory=dict)
    decisions: DecisionMaker | None = None
    supply: SupplyChain | None = None


def build(scenario: Scenario, replication: int, *, timeline: bool = False) -> Model:
    """The SimPy model of one replication, ready to run."""
    env = simpy.Environment()
    graph = plant_graph(scenario)
    streams = Streams(scenario.seed, replication)
    start = scenario.warmup
    wip = Level(env, start)
    releaser = Releaser(env, wip)
    upkeep = scenario.maintenance
    crew = Crew(env, upkeep.crew,
                upkeep.response_time.stream(streams.rng("crew/response"))
                if upkeep.response_time is not None else None,
                (upkeep.shifts.period, upkeep.shifts.working) if upkeep.shifts else None)
    policy = scenario.maintenance.policy

    kinds = nx.get_node_attributes(graph, "kind")
    channels: dict[str, Channel] = {}
    sinks: dict[str, Sink] = {}
    inboxes: dict[str, Any] = {}
    for name, kind in kinds.items():
        spec = graph.nodes[name]["spec"]
        if kind == "buffer":
            capacity = math.inf if spec.capacity is None else spec.capacity
            channels[name] = Channel(env, name, capacity, start)
        elif kind == "sink":
            sinks[name] = Sink(env, name, start, wip, scrap=spec.scrap)
    warehouses = {name: Warehouse(env, name, graph.nodes[name]["spec"], start, wip, releaser)
                  for name, kind in kinds.items() if kind == "warehouse"}
    fed_by_supply: set[str] = set()
    for name, kind in kinds.items():
        if kind != "machine":
            continue
        preds = list(graph.predecessors(name))
        if len(preds) == 1 and kinds[preds[0]] == "warehouse":
            inboxes[name] = warehouses[preds[0]]
        elif len(preds) == 1 and kinds[preds[0]] == "buffer":
            inboxes[name] = channels[preds[0]]
        elif (len(preds) == 1 and kinds[preds[0]] == "source"
              and graph.nodes[preds[0]]["spec"].interarrival is None
              and graph.out_degree(preds[0]) == 1):
            inboxes[name] = InfiniteSupply(env, name, releaser)
            fed_by_supply.add(preds[0])
        else:
            inboxes[name] = channels[name] = Channel(env, name, 0, start)

    supply = build_supply(env, graph, streams, start, warehouses, inboxes)

    def destination(node: str, target: str) -> Any:
        if target in sinks:
            return sinks[target]
        if target in warehouses:
            return supply.into_warehouse(node, target)
        return channels[target]

    def route(node: str) -> Any:
        targets = [(graph.edges[node, t]["p"], destination(node, t))
                   for t in graph.successors(node) if graph.edges[node, t].get("when") is None]
        uniform = streams.rng(f"{node}/route").random if len(targets) > 1 else None
        draw = (lambda: float(uniform())) if uniform is not None else None  # noqa: E731
        return router(targets, draw)

    machines: dict[str, Machine] = {}
    for name, kind in kinds.items():
        spec = graph.nodes[name]["spec"]
        if kind == "machine":
            failures = spec.failures
            preventive = isinstance(policy, Preventive | Opportunistic) and failures is not None
            predictive = isinstance(policy, Predictive) and spec.degradation is not None \
                and bool(spec.sensors)
            calendar = preventive and isinstance(policy, Preventive) and policy.basis == "calendar"
            wear = (Wear(spec.degradation, streams.rng(f"{name}/degradation"))
                    if spec.degradation is not None else None)
            inspection = None
            if isinstance(policy, ConditionBased) and wear is not None:
                sensor = (None if policy.indicator == "health"
                          else spec.sensors[policy.indicator])
                inspection = Inspection(policy.inspect_every, policy.threshold, sensor,
                                        streams.rng(f"{name}/inspection"))
            maintained = preventive or inspection is not None or predictive
            has_sensors = bool(spec.sensors)
            machine = Machine(
                env, name, inboxes[name],
                spec.process_time.stream(streams.rng(f"{name}/process")),
                start,
                ttf=(failures.ttf.stream(streams.rng(f"{name}/ttf"))
                     if failures and failures.ttf else None),
                ttr=failures.ttr.stream(streams.rng(f"{name}/ttr")) if failures else None,
                pm_every=(policy.every  # type: ignore[union-attr]
                          if preventive and not calendar else None),
                pm_duration=(policy.duration.stream(streams.rng(f"{name}/pm"))  # type: ignore[union-attr]
                             if maintained else None),
                crew=crew,
                priority=spec.priority,
                timeline=timeline or has_sensors,
                wear=wear,
                inspection=inspection,
                record_lives=has_sensors,
            )
            machine.route = route(name)
            if spec.setup is not None:
                machine.setup = (spec.setup.batch,
                                 spec.setup.duration.stream(streams.rng(f"{name}/setup")))
            suspect = next((destination(name, t) for t in graph.successors(name)
                            if graph.edges[name, t].get("when") == "suspect"), None)
            if (spec.defects is not None or spec.fixes is not None or spec.inspection is not None
                    or suspect is not None):
                reject = next((destination(name, t) for t in graph.successors(name)
                               if graph.edges[name, t].get("when") == "rejected"), None)
                check = spec.inspection
                machine.finish = quality_step(
                    machine, machine.route, streams.rng(f"{name}/quality").random,
                    defect_probability=spec.defects.probability if spec.defects else 0.0,
                    per_wear=spec.defects.per_wear if spec.defects else 0.0,
                    fixes=spec.fixes,
                    inspection=((check.sampling, check.detection, check.false_alarm)
                                if check is not None else None),
                    reject=reject, suspect=suspect)
            machines[name] = machine
            machine.process = env.process(machine.run())
            if calendar:
                env.process(machine.calendar_maintenance(policy.every))  # type: ignore[union-attr]
            if isinstance(policy, Opportunistic) and preventive:
                machine.window = policy.window
        elif kind == "source" and name not in fed_by_supply:
            if spec.interarrival is None:
                env.process(infinite_source(env, releaser, route(name)))
            else:
                draw = spec.interarrival.stream(streams.rng(f"{name}/arrivals"))
                env.process(timed_source(env, draw, releaser, route(name)))
    sensors = {
        name: SensorStream(m, graph.nodes[name]["spec"].sensors,
                           {s: streams.rng(f"{name}/sensor/{s}")
                            for s in graph.nodes[name]["spec"].sensors}, replication)
        for name, m in machines.items() if graph.nodes[name]["spec"].sensors
    }
    decisions = None
    if isinstance(policy, Predictive):
        watched = {n: s for n, s in sensors.items() if machines[n].wear is not None}
        decisions = DecisionMaker(env, policy, {n: machines[n] for n in watched}, watched)
        env.process(decisions.run())
    qc = scenario.quality.policy
    if qc is not None:
        watched_q = {n: s for n, s in sensors.items()
                     if any(graph.edges[n, t].get("when") == "suspect"
                            for t in graph.successors(n))}
        watch = QualityWatch(env, qc, {n: machines[n] for n in watched_q}, watched_q)
        env.process(watch.run())
    if isinstance(policy, Opportunistic):
        undirected = graph.to_undirected(as_view=True)
        for name, machine in machines.items():
            near = nx.single_source_shortest_path_length(undirected, name, cutoff=2)
            machine.neighbours = [machines[n] for n in near if n in machines and n != name]
    supply.start()
    return Model(env, graph, machines, channels, sinks, wip, releaser, sensors, decisions, supply)


def simulate(
    scenario: Scenario,
    replication: int,
    *,
    timeline: bool = False,
    sensor_sink: SensorSink | None = None,
    inventory: bool = True,
) -> ReplicationResult:
    """Run replication ``replication`` of ``scenario`` and measure it; sensor readings, if the
    plant has sensors and a sink is given, go to ``sensor_sink``. Without ``inventory`` the
    result leaves out the warehouses' levels at every change (their statistics and period means
    stay)."""
    model = build(scenario, replication, timeline=timeline)
    model.env.run(until=scenario.horizon)
    if sensor_sink is not None:
        emit_readings(scenario, model, replication, sensor_sink)
    result = measure(scenario, model, replication)
    if not timeline:
        result.timelines = None
    if not inventory:
        result.inventory = {}
    return result


def emit_readings(scenario: Scenario, model: Model, replication: int, sink: SensorSink) -> None:
    """Send every machine's sensor readings of the replication to ``sink``."""
    for name, stream in model.sensors.items():
        stream.advance(scenario.horizon)
        sink.write(name, stream.table())


def measure(scenario: Scenario, model: Model, replication: int) -> ReplicationResult:
    span = scenario.horizon - scenario.warmup
    deadlock = find_deadlock(model)
    sinks = model.sinks.values()
    stores = model.supply.warehouses.values() if model.supply is not None else ()
    good = sum(s.count for s in sinks) + sum(w.made for w in stores)
    escaped = sum(s.escaped for s in sinks) + sum(w.escaped for w in stores)
    scrapped = sum(s.scrapped for s in sinks)
    arrivals = sum(s.arrivals for s in sinks) + sum(w.arrivals for w in stores)
    lead = sum(s.lead_sum for s in sinks) + sum(w.lead_sum for w in stores)
    quality = good / arrivals if arrivals else math.nan
    machines: dict[str, dict[str, float]] = {}
    for name, m in model.machines.items():
        totals = m.clock.close()
        frac = [t / span for t in totals]
        down = frac[DOWN] + frac[REPAIR] + frac[MAINTENANCE]
        availability = 1.0 - down
        ideal = model.graph.nodes[name]["spec"].process_time.mean()
        machines[name] = {
            "utilization": frac[WORKING],
            "availability": availability,
            "blocked": frac[BLOCKED],
            "starved": frac[STARVED],
            "failures": float(m.failures),
            "shocks": float(m.shocks),
            "preventive": float(m.preventive),
            "down": frac[DOWN],
            "repair": frac[REPAIR],
            "maintenance": frac[MAINTENANCE],
            "setup": frac[SETUP],
            "setups": float(m.setups),
            "alarms": float(model.decisions.alarms.get(name, 0)) if model.decisions else 0.0,
            "diverted": float(m.diverted),
            "processed": float(m.processed),
            "defects": float(m.defects_made),
            "rejected": float(m.rejected),
            "oee": ideal * (m.processed - m.defects_made) / span,
        }
    constraint = line_constraint(model.graph)
    # availability x performance of the constraint, times the line's share of good parts
    oee = (model.graph.nodes[constraint.machine]["spec"].process_time.mean()
           * model.machines[constraint.machine].processed / span
           * (quality if arrivals else 1.0)) if constraint else math.nan
    failures = sum(m.failures for m in model.machines.values())
    preventive = sum(m.preventive for m in model.machines.values())
    prices = scenario.costs
    costs = {
        "corrective": failures * prices.corrective / span,
        "preventive": preventive * prices.preventive / span,
        "scrap": scrapped * prices.scrap / span,
        "escaped_defect": escaped * prices.escaped_defect / span,
    }
    chain = measure_supply(model.supply, span, scenario.horizon) if model.supply else None
    revenue = sum(s.count for s in sinks) * prices.revenue / span  # customers pay their own
    if chain is not None:
        costs.update(chain["costs"])
        revenue += chain["revenue"]
    kpis = {
        "throughput": good / span,
        "lead_time": lead / arrivals if arrivals else math.nan,
        "wip": model.wip.mean(scenario.horizon),
        "oee": oee,
        "cost_rate": sum(costs.values()),
        "quality": quality,
        "scrap_rate": scrapped / span,
        "escaped_rate": escaped / span,
        "profit_rate": revenue - sum(costs.values()),
        "unplanned_downtime": sum(m["down"] + m["repair"] for m in machines.values()),
    }
    if chain is not None:
        kpis.update(chain["kpis"])
    buffers = {
        name: {"level": ch.level.mean(scenario.horizon), "max_level": float(ch.level.max)}
        for name, ch in model.channels.items() if model.graph.nodes[name]["kind"] == "buffer"
    }
    timelines = None
    if any(m.clock.timeline is not None for m in model.machines.values()):
        timelines = {name: [(t, STATES[s]) for t, s in m.clock.timeline or []]
                     for name, m in model.machines.items()}
    online: dict[str, float] = {}
    if model.decisions is not None:
        d = model.decisions
        watched = list(d.machines)
        alarms = sum(d.alarms.values())
        missed = sum(model.machines[n].failures for n in watched)
        online = {"epochs": float(d.epochs), "windows_scored": float(d.scored),
                  "maintenance_alarms": float(alarms), "failures_not_prevented": float(missed),
                  "prevented_share": alarms / (alarms + missed) if alarms + missed else math.nan}
    result = ReplicationResult(replication, kpis, machines, buffers, costs, timelines, deadlock,
                               online)
    if chain is not None:
        result.warehouses = chain["warehouses"]
        result.customers = chain["customers"]
        result.suppliers = chain["suppliers"]
        result.inventory = chain["inventory"]
        result.profiles = chain["profiles"]
    return result


def find_deadlock(model: Model) -> tuple[float, list[str]] | None:
    """Machines blocked at the end whose parts can never move: each waits for room in a channel
    that only other such machines could empty (a loop of full buffers, say)."""
    stuck = {m for m in model.machines.values() if m.clock.state == BLOCKED}
    consumers: dict[int, list[Machine]] = {}
    for m in model.machines.values():
        consumers.setdefault(id(m.inbox), []).append(m)
    changed = True
    while changed:
        changed = False
        for m in list(stuck):
            if any(c not in stuck for c in consumers.get(id(m.waiting_on), [])):
                stuck.discard(m)
                changed = True
    if not stuck:
        return None
    since = max(m.clock.since for m in stuck)
    return since, sorted(m.name for m in stuck)
